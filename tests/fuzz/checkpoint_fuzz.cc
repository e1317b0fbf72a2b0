// Fuzz target: the sharded checkpoint's manifest parser and reader (core/train/shard_manifest.cc,
// shard_reader.cc). Input: manifest lines, optionally followed by a line "%%" and the bytes of
// shard_00000.bin. The input is parsed as it is (the checksum check), then with its checksum and
// rank 0's shard line (size, xxh64) made to match, so the fuzzer reaches the line parser, the
// validation and ShardReader: a manifest that parses formats back to the same text, and every
// field of every tensor it lists is read whole (or refused with a Status).
#include <xxhash.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/train/shard_manifest.h"
#include "core/train/shard_store.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::string WithChecksum(std::string body) {
  absl::StrAppend(&body, "manifest_xxh64 ",
                  absl::StrFormat("%016x", XXH64(body.data(), body.size(), 0)), "\n");
  return body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  (void)dqt::ParseManifest(input, "raw");

  const size_t cut = input.find("\n%%\n");
  absl::string_view body = input.substr(0, cut == absl::string_view::npos ? input.size() : cut + 1);
  const absl::string_view shard =
      cut == absl::string_view::npos ? absl::string_view() : input.substr(cut + 4);
  std::vector<std::string> lines = absl::StrSplit(body, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  for (std::string& line : lines) {
    if (line.starts_with("shard 0 ")) {
      line = absl::StrFormat("shard 0 %s %d %016x", dqt::ShardFileName(0), shard.size(),
                             XXH64(shard.data(), shard.size(), 0));
    }
  }
  const std::string text = WithChecksum(lines.empty() ? "" : absl::StrJoin(lines, "\n") + "\n");
  absl::StatusOr<dqt::Manifest> manifest = dqt::ParseManifest(text, "fuzz");
  if (!manifest.ok()) return 0;
  const std::string formatted = dqt::FormatManifest(*manifest);
  absl::StatusOr<dqt::Manifest> again = dqt::ParseManifest(formatted, "formatted");
  if (!again.ok()) dqt::fuzz::Fail("FormatManifest's text does not parse");
  if (dqt::FormatManifest(*again) != formatted) dqt::fuzz::Fail("manifest does not round-trip");

  const std::string dir = dqt::fuzz::ScratchDir() + "/step";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  dqt::fuzz::WriteBytes(dir + "/" + dqt::kManifestFileName, text);
  dqt::fuzz::WriteBytes(dir + "/" + dqt::ShardFileName(0), std::string(shard));
  absl::StatusOr<dqt::ShardReader> reader = dqt::ShardReader::Open(dir);
  if (!reader.ok()) dqt::fuzz::Fail("ShardReader refuses a manifest ParseManifest accepted");
  for (const std::string& tensor : reader->Tensors()) {
    for (const std::string& field : reader->Fields(tensor)) {
      absl::StatusOr<dqt::StoredType> type = reader->TypeOf(tensor, field);
      absl::StatusOr<uint64_t> end = reader->ElementEnd(tensor, field);
      if (!type.ok() || !end.ok()) dqt::fuzz::Fail("a listed tensor has no type or end");
      if (*end > (1u << 20)) continue;  // keep each run small; the ranges are checked the same
      std::vector<char> out(*end * dqt::MemoryBytesPerElement(*type));
      (void)reader->Read(tensor, field, 0, static_cast<int64_t>(*end), out.data());
      if (*end > 1) (void)reader->Read(tensor, field, *end / 2, 1, out.data());
    }
  }
  return 0;
}
