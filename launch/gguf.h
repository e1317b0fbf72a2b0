// GGUF (version 3) files as llama.cpp reads them, written from the published specification
// (ggml/docs/gguf.md): a key-value metadata section, tensor infos, then 32-byte-aligned tensor
// data. Also the ggml block formats this project writes: Q8_0, TQ1_0, TQ2_0 and F16.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"

namespace dqt {

// ggml_type values (the numbers are part of the file format).
enum class GgmlType : uint32_t { kF32 = 0, kF16 = 1, kQ8_0 = 8, kTQ1_0 = 34, kTQ2_0 = 35 };

const char* GgmlTypeName(GgmlType type);
// Elements per block and bytes per block of `type`.
int64_t GgmlBlockSize(GgmlType type);
int64_t GgmlBlockBytes(GgmlType type);

// IEEE binary16 from binary32, round to nearest even (overflow -> inf), and back (exact).
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t half);

// Packs `row` (n elements, n a multiple of the block size) into ggml blocks appended to `out`.
// Q8_0: per 32-element block d = max|x| / 127 as fp16, q = round(x / d).
void QuantizeQ8_0(std::span<const float> row, std::vector<uint8_t>* out);
// Exact Q8_0 from integer codes: value = d * code with one fp16 `d` for every block; codes in
// [-128, 127] (ggml's int8; -128 dequantizes as it is).
void PackQ8_0(std::span<const int8_t> codes, uint16_t d, std::vector<uint8_t>* out);
// Ternary codes in {-1, 0, 1}, value = d * code, 256-element blocks (QK_K).
void PackTQ2_0(std::span<const int8_t> codes, uint16_t d, std::vector<uint8_t>* out);
// The same in base 3 (1.6875 bits per weight): 54-byte blocks of 256.
void PackTQ1_0(std::span<const int8_t> codes, uint16_t d, std::vector<uint8_t>* out);
// The inverses (for tests and read-back checks): one value per element.
std::vector<float> DequantizeBlocks(GgmlType type, std::span<const uint8_t> data, int64_t n);

// One metadata value: the scalar and array types dqt writes.
using GgufValue = std::variant<uint32_t, int32_t, float, bool, std::string, uint64_t,
                               std::vector<std::string>, std::vector<int32_t>, std::vector<float>>;

struct GgufTensor {
  std::string name;
  std::vector<int64_t> ne;  // ggml dims, innermost first: a (rows, cols) matrix is {cols, rows}
  GgmlType type = GgmlType::kF32;
  std::vector<uint8_t> data;  // already in `type`'s encoding
};

class GgufWriter {
 public:
  void Add(std::string key, GgufValue value) { kv_.emplace_back(std::move(key), std::move(value)); }
  void AddTensor(GgufTensor tensor) { tensors_.push_back(std::move(tensor)); }
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // Checks every tensor's byte count against its dims and type, then writes `path` atomically.
  [[nodiscard]] absl::Status Write(const std::string& path) const;

 private:
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensor> tensors_;
};

}  // namespace dqt
