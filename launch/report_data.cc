// Reading a run directory for dqt_report (see report_data.h).
#include "launch/report_data.h"

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/base/status.h"
#include "launch/config.h"
#include "launch/file_io.h"

namespace dqt {
namespace {

namespace fs = std::filesystem;

double NumberOr(const JsonValue& object, std::string_view key, double fallback = 0) {
  const JsonValue* v = object.Find(key);
  return v != nullptr && v->type == JsonValue::Type::kNumber ? v->number : fallback;
}

// Calls `use` with each line of `path` that parses as JSON; counts the others.
template <typename Use>
absl::Status ForEachJsonLine(const std::string& path, const std::string& what, int* skipped,
                             Use use) {
  DQT_ASSIGN_OR_RETURN(const std::string text, ReadWholeFile(path, what));
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    absl::StatusOr<JsonValue> v = ParseJson(std::string_view(line.data(), line.size()));
    if (!v.ok() || v->type != JsonValue::Type::kObject) {
      ++*skipped;
      continue;
    }
    use(*v);
  }
  return absl::OkStatus();
}

void AddLogLine(const JsonValue& v, RunRecord* r) {
  const JsonValue* event = v.Find("event");
  if (event == nullptr) {
    const JsonValue* step = v.Find("step");
    if (step == nullptr || step->type != JsonValue::Type::kNumber) return;
    StepRecord rec;
    rec.loss = NumberOr(v, "loss");
    rec.lr = NumberOr(v, "lr");
    rec.grad_norm = NumberOr(v, "grad_norm");
    rec.tokens_per_s = NumberOr(v, "tokens_per_s");
    rec.elapsed_s = NumberOr(v, "elapsed_s");
    if (const JsonValue* health = v.Find("health"); health != nullptr) {
      for (const auto& [type, h] : health->members) {
        rec.health[type] = {NumberOr(h, "flip"), NumberOr(h, "zero"), NumberOr(h, "clip")};
      }
    }
    r->steps[static_cast<int>(step->number)] = std::move(rec);
    return;
  }
  const std::string& kind = event->text;
  const int step = static_cast<int>(NumberOr(v, "step"));
  if (kind == "eval") {
    const JsonValue* whole = v.Find("whole_shard");
    if (whole != nullptr && whole->boolean) {
      r->final_eval_loss = NumberOr(v, "loss");
      if (const JsonValue* bpb = v.Find("bits_per_byte");
          bpb != nullptr && bpb->type == JsonValue::Type::kNumber) {
        r->final_bits_per_byte = bpb->number;
      }
    } else {
      r->eval_loss[step] = NumberOr(v, "loss");
    }
  } else if (kind == "memory") {
    if (const JsonValue* bytes = v.Find("bytes"); bytes != nullptr) {
      for (const auto& [name, b] : bytes->members) r->memory_bytes[name] = b.number;
    }
  } else if (kind == "stopped") {
    r->stopped_at = step;
  } else if (kind == "resume") {
    r->stopped_at.reset();
    ++r->resumes;
  }
}

}  // namespace

absl::StatusOr<RunRecord> ReadRunRecord(const std::string& dir, const std::string& log_override) {
  RunRecord r;
  r.dir = dir;
  const std::string launches = dir + "/launches.jsonl";
  if (fs::exists(launches)) {
    int ignored = 0;
    DQT_RETURN_IF_ERROR(ForEachJsonLine(launches, "launch record", &ignored,
                                        [&](const JsonValue& v) { r.launches.push_back(v); }));
  }
  if (absl::StatusOr<std::string> text = ReadWholeFile(dir + "/config.pbtxt", "config");
      text.ok()) {
    r.config_text = *text;
    if (absl::StatusOr<proto::RunProto> run = LoadRunProto(dir + "/config.pbtxt", {}); run.ok()) {
      r.planned_steps = run->train().steps();
    }
  }
  r.log_path = log_override;
  if (r.log_path.empty() && !r.launches.empty()) {
    if (const JsonValue* log = r.launches.back().Find("log"); log != nullptr)
      r.log_path = log->text;
  }
  if (r.log_path.empty() && fs::exists(dir + "/train.jsonl")) r.log_path = dir + "/train.jsonl";
  if (r.log_path.empty()) {
    return absl::NotFoundError(
        absl::StrCat(dir,
                     " has no launches.jsonl naming a training log (dqt_worker writes one into "
                     "checkpoint.dir); pass the log with --log"));
  }
  DQT_RETURN_IF_ERROR(ForEachJsonLine(r.log_path, "training log", &r.skipped_lines,
                                      [&](const JsonValue& v) { AddLogLine(v, &r); }));
  std::error_code error;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, error)) {
    const std::string name = e.path().filename().string();
    int step = 0;
    if (name.rfind("step_", 0) == 0 && absl::SimpleAtoi(name.substr(5), &step) &&
        fs::exists(e.path() / "manifest.txt")) {
      r.checkpoints.push_back(step);
    }
  }
  std::sort(r.checkpoints.begin(), r.checkpoints.end());
  return r;
}

}  // namespace dqt
