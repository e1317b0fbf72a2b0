// dqt_report: writes a self-contained HTML page (inline SVG plots, no scripts) of a run
// directory: loss and held-out loss, learning rate, gradient norm, tokens/s, code health per
// layer type, memory by kind, and the run's facts. Works while the run is still writing.
//   dqt_report RUN_DIR [--out RUN_DIR/report.html] [--log TRAIN.jsonl]
#include <cstdio>
#include <ctime>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "launch/file_io.h"
#include "launch/flags.h"
#include "launch/report_data.h"
#include "launch/report_html.h"

namespace {

std::string LocalTimeNow() {
  const std::time_t now = std::time(nullptr);
  std::tm local = {};
  localtime_r(&now, &local);
  char text[40] = {};
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S %Z", &local);
  return text;
}

absl::Status Main(const std::string& dir, std::string out, const std::string& log) {
  DQT_ASSIGN_OR_RETURN(const dqt::RunRecord run, dqt::ReadRunRecord(dir, log));
  if (out.empty()) out = dir + "/report.html";
  const std::string page = dqt::RenderReport(run, LocalTimeNow());
  const std::string_view parts[] = {page};
  DQT_RETURN_IF_ERROR(dqt::WriteFileAtomically(out, parts));
  std::printf("dqt_report: %s (%zu logged steps, %zu launches)\n", out.c_str(), run.steps.size(),
              run.launches.size());
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  std::string out, log;
  dqt::Flags flags("dqt_report", "RUN_DIR [--out report.html] [--log train.jsonl]");
  flags.String("out", &out, "the HTML file to write (default RUN_DIR/report.html)");
  flags.String("log", &log,
               "the training log (default: the one RUN_DIR/launches.jsonl names, else "
               "RUN_DIR/train.jsonl)");
  if (absl::Status s = flags.Parse(argc, argv); !s.ok()) return dqt::FailWith("dqt_report", s);
  if (flags.positional().size() != 1) {
    return dqt::FailWith(
        "dqt_report", absl::InvalidArgumentError("expected one RUN_DIR (a run's checkpoint.dir)"));
  }
  return dqt::FailWith("dqt_report", Main(flags.positional()[0], out, log));
}
