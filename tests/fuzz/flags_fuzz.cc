// Fuzz target: the command-line flag parser (launch/flags.cc). Input: NUL-separated arguments,
// parsed by a Flags object that declares one flag of every kind.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "launch/flags.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args = absl::StrSplit(input, '\0');
  args.insert(args.begin(), "dqt_fuzz");
  // --help prints the usage to stdout; keep the fuzzer's output readable.
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") return 0;
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::string cfg = "run.pbtxt";
  int64_t steps = 10;
  double lr = 3e-4;
  bool json = false;
  std::vector<std::string> sets;
  dqt::Flags flags("dqt_fuzz", "[flags] files...");
  flags.String("cfg", &cfg, "run config");
  flags.Int("steps", &steps, "steps");
  flags.Double("lr", &lr, "learning rate");
  flags.Bool("json", &json, "JSON output");
  flags.Repeated("set", &sets, "overrides");
  const absl::Status status = flags.Parse(static_cast<int>(args.size()), argv.data());
  if (status.ok() && flags.positional().size() >= args.size()) {
    dqt::fuzz::Fail("more positional arguments than arguments");
  }
  (void)flags.Usage();
  return 0;
}
