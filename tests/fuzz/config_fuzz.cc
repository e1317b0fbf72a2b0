// Fuzz target: the run config's text format and --set overrides (launch/config.cc). Input: the
// config text, then NUL-separated overrides ("optimizer.lr=3e-4"). Whatever parses is validated;
// whatever validates converts to the trainer's structs and its text reloads to the same config.
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/message_differencer.h"
#include "launch/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts = absl::StrSplit(input, '\0');
  const std::string text = parts[0];
  parts.erase(parts.begin());
  absl::StatusOr<dqt::proto::RunProto> run = dqt::ParseRunProto(text, "fuzz.pbtxt", parts);
  if (!run.ok()) return 0;
  if (!dqt::ValidateRunProto(*run).ok()) return 0;
  (void)dqt::ToRunConfig(*run);
  absl::StatusOr<dqt::proto::RunProto> again =
      dqt::ParseRunProto(dqt::RunProtoToText(*run), "again.pbtxt", {});
  if (!again.ok()) dqt::fuzz::Fail("RunProtoToText of a valid config does not parse");
  if (!google::protobuf::util::MessageDifferencer::Equals(*run, *again)) {
    dqt::fuzz::Fail("RunProtoToText of a valid config reloads to a different config");
  }
  return 0;
}
