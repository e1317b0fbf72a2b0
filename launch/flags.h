// Command-line flags for the dqt binaries: every flag is declared once, with its target, its
// default (the target's initial value) and its help text, in the spirit of gemma.cpp's args.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace dqt {

// Usage:
//   std::string cfg;
//   std::vector<std::string> sets;
//   Flags flags("dqt_worker", "--cfg run.pbtxt [--set path=value ...]");
//   flags.String("cfg", &cfg, "run config, protobuf text format");
//   flags.Repeated("set", &sets, "config override path.to.field=value (repeatable)");
//   if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return FailWith("dqt_worker", s);
//
// Accepted forms: `--name value`, `--name=value`; booleans take `--name`, `--noname` or
// `--name=true|false|1|0|yes|no` (never a separate value argument). A lone `--` ends the flags;
// every other argument not starting with `-` is positional. `--help` / `-h` prints Usage() to
// stdout and makes Parse return CancelledError. Targets must outlive the Flags object; they are
// written only by Parse. A Repeated flag's first occurrence replaces the target's initial
// contents, later occurrences append.
class Flags {
 public:
  Flags(std::string program, std::string usage);
  Flags(const Flags&) = delete;
  Flags& operator=(const Flags&) = delete;

  // Declaring the same name twice, or declaring "help", is a programming error and aborts.
  void String(const char* name, std::string* target, const char* help);
  void Int(const char* name, int64_t* target, const char* help);
  void Double(const char* name, double* target, const char* help);
  void Bool(const char* name, bool* target, const char* help);
  void Repeated(const char* name, std::vector<std::string>* target, const char* help);

  // InvalidArgument naming the flag for an unknown flag, a missing value or a bad value;
  // CancelledError after printing the usage for --help.
  [[nodiscard]] absl::Status Parse(int argc, char** argv);

  // Arguments that are not flags, in order (filled by Parse).
  const std::vector<std::string>& positional() const { return positional_; }

  // "usage: program usage" followed by every flag with its type, default and help.
  std::string Usage() const;

 private:
  enum class Kind { kString, kInt, kDouble, kBool, kRepeated };
  struct Flag {
    std::string name;
    Kind kind;
    void* target;
    std::string help;
    std::string default_text;
    bool seen = false;
  };

  void Add(const char* name, Kind kind, void* target, const char* help, std::string default_text);
  Flag* Find(const std::string& name);
  absl::Status Assign(Flag& flag, const std::string& value);

  std::string program_;
  std::string usage_;
  std::vector<Flag> flags_;
  std::vector<std::string> positional_;
};

// Reports a failed Parse (or any other startup error) as "program: message" on stderr and
// returns the process exit code: 1, or 0 for OK and for the CancelledError of --help.
int FailWith(const char* program, const absl::Status& status);

}  // namespace dqt
