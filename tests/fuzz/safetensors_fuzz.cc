// Fuzz target: the safetensors reader (launch/safetensors.cc). Input: a whole file. A file that
// reads back has byte ranges inside its data; every F32 tensor's values are read.
#include <cstdint>
#include <string>

#include "launch/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<dqt::SafetensorsFile> file =
      dqt::ParseSafetensors(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
  if (!file.ok()) return 0;
  for (const dqt::SafetensorsEntry& e : file->tensors) {
    if (e.begin > e.end || e.end > file->data.size()) dqt::fuzz::Fail("tensor outside the data");
    if (file->Find(e.name) == nullptr) dqt::fuzz::Fail("a read tensor is not found by name");
    if (e.dtype == "F32") {
      absl::StatusOr<std::vector<float>> values = file->Float32(e.name);
      if (values.ok() && values->size() * 4 != e.end - e.begin) {
        dqt::fuzz::Fail("F32 values disagree with the byte range");
      }
    }
  }
  return 0;
}
