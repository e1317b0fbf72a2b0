// Flag declaration, parsing and usage text for the dqt binaries (see flags.h).
#include "launch/flags.h"

#include <cstdio>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/check.h"
#include "core/base/status.h"

namespace dqt {
namespace {

const char* KindName(int kind) {
  static const char* const kNames[] = {"string", "int", "double", "bool", "repeated string"};
  return kNames[kind];
}

bool ParseBool(std::string text, bool* out) {
  text = absl::AsciiStrToLower(text);
  if (text == "true" || text == "1" || text == "yes") {
    *out = true;
    return true;
  }
  if (text == "false" || text == "0" || text == "no") {
    *out = false;
    return true;
  }
  return false;
}

}  // namespace

Flags::Flags(std::string program, std::string usage)
    : program_(std::move(program)), usage_(std::move(usage)) {}

void Flags::Add(const char* name, Kind kind, void* target, const char* help,
                std::string default_text) {
  DQT_CHECK(target != nullptr) << "flag --" << name << " has no target";
  DQT_CHECK(Find(name) == nullptr) << "flag --" << name << " declared twice";
  DQT_CHECK(std::string(name) != "help") << "--help is built in";
  flags_.push_back(Flag{name, kind, target, help, std::move(default_text)});
}

void Flags::String(const char* name, std::string* target, const char* help) {
  Add(name, Kind::kString, target, help, absl::StrCat("\"", *target, "\""));
}

void Flags::Int(const char* name, int64_t* target, const char* help) {
  Add(name, Kind::kInt, target, help, absl::StrCat(*target));
}

void Flags::Double(const char* name, double* target, const char* help) {
  Add(name, Kind::kDouble, target, help, absl::StrFormat("%g", *target));
}

void Flags::Bool(const char* name, bool* target, const char* help) {
  Add(name, Kind::kBool, target, help, *target ? "true" : "false");
}

void Flags::Repeated(const char* name, std::vector<std::string>* target, const char* help) {
  Add(name, Kind::kRepeated, target, help, absl::StrCat("[", absl::StrJoin(*target, ", "), "]"));
}

Flags::Flag* Flags::Find(const std::string& name) {
  for (Flag& flag : flags_) {
    if (flag.name == name) return &flag;
  }
  return nullptr;
}

absl::Status Flags::Assign(Flag& flag, const std::string& value) {
  const bool first = !flag.seen;
  flag.seen = true;
  switch (flag.kind) {
    case Kind::kString:
      *static_cast<std::string*>(flag.target) = value;
      return absl::OkStatus();
    case Kind::kInt: {
      int64_t parsed = 0;
      if (!absl::SimpleAtoi(value, &parsed)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag.name, "=", value, ": not an integer"));
      }
      *static_cast<int64_t*>(flag.target) = parsed;
      return absl::OkStatus();
    }
    case Kind::kDouble: {
      double parsed = 0;
      if (!absl::SimpleAtod(value, &parsed)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag.name, "=", value, ": not a number"));
      }
      *static_cast<double*>(flag.target) = parsed;
      return absl::OkStatus();
    }
    case Kind::kBool: {
      bool parsed = false;
      if (!ParseBool(value, &parsed)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag.name, "=", value, ": not a boolean (true|false|1|0|yes|no)"));
      }
      *static_cast<bool*>(flag.target) = parsed;
      return absl::OkStatus();
    }
    case Kind::kRepeated: {
      auto* target = static_cast<std::vector<std::string>*>(flag.target);
      if (first) target->clear();
      target->push_back(value);
      return absl::OkStatus();
    }
  }
  return absl::InternalError("unreachable flag kind");
}

absl::Status Flags::Parse(int argc, char** argv) {
  positional_.clear();
  for (Flag& flag : flags_) flag.seen = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) positional_.push_back(argv[i]);
      break;
    }
    if (arg == "--help" || arg == "-h" || arg == "-help") {
      std::fputs(Usage().c_str(), stdout);
      return absl::CancelledError("help requested");
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    if (arg.size() < 3 || arg[1] != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", arg, " (flags take two dashes: --name)"));
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const bool has_value = eq != std::string::npos;
    Flag* flag = Find(name);
    if (flag == nullptr && !has_value && name.size() > 2 && name.compare(0, 2, "no") == 0) {
      Flag* negated = Find(name.substr(2));
      if (negated != nullptr && negated->kind == Kind::kBool) {
        *static_cast<bool*>(negated->target) = false;
        negated->seen = true;
        continue;
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (has_value) {
      DQT_RETURN_IF_ERROR(Assign(*flag, arg.substr(eq + 1)));
    } else if (flag->kind == Kind::kBool) {
      DQT_RETURN_IF_ERROR(Assign(*flag, "true"));
    } else if (i + 1 < argc) {
      DQT_RETURN_IF_ERROR(Assign(*flag, argv[++i]));
    } else {
      return absl::InvalidArgumentError(absl::StrCat("missing value for flag --", name));
    }
  }
  return absl::OkStatus();
}

std::string Flags::Usage() const {
  std::string text = absl::StrCat("usage: ", program_, " ", usage_, "\n");
  if (flags_.empty()) return text;
  absl::StrAppend(&text, "flags:\n");
  for (const Flag& flag : flags_) {
    absl::StrAppend(&text, "  --", flag.name, " (", KindName(static_cast<int>(flag.kind)),
                    ", default ", flag.default_text, ")\n      ", flag.help, "\n");
  }
  absl::StrAppend(&text, "  --help\n      print this message and exit\n");
  return text;
}

int FailWith(const char* program, const absl::Status& status) {
  if (status.ok() || absl::IsCancelled(status)) return 0;
  std::fprintf(stderr, "%s: %s\n", program, std::string(status.message()).c_str());
  return 1;
}

}  // namespace dqt
