// safetensors writer (F32) and validating reader; see safetensors.h for the layout.
#include "launch/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "launch/file_io.h"
#include "launch/json.h"

namespace dqt {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors is little-endian; this writer copies host floats as they are");

// The reference loader refuses larger headers.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr char kMetadataKey[] = "__metadata__";

int DtypeBytes(std::string_view dtype) {
  static const std::pair<const char*, int> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
      {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  for (const auto& [name, bytes] : kSizes) {
    if (dtype == name) return bytes;
  }
  return 0;
}

std::string ShapeText(std::span<const int64_t> shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// One tensor's header entry, from the JSON value under its name.
absl::Status ParseEntry(const JsonValue& v, SafetensorsEntry* e) {
  const JsonValue* dtype = v.Find("dtype");
  const JsonValue* shape = v.Find("shape");
  const JsonValue* offsets = v.Find("data_offsets");
  if (dtype == nullptr || dtype->type != JsonValue::Type::kString || shape == nullptr ||
      shape->type != JsonValue::Type::kArray || offsets == nullptr ||
      offsets->type != JsonValue::Type::kArray || offsets->items.size() != 2 ||
      v.members.size() != 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor \"", e->name, "\": expected exactly {dtype, shape, data_offsets: [begin, end]}"));
  }
  e->dtype = dtype->text;
  const int element = DtypeBytes(e->dtype);
  if (element == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor \"", e->name, "\": unknown dtype \"", e->dtype, "\""));
  }
  uint64_t bytes = static_cast<uint64_t>(element);
  for (const JsonValue& dim : shape->items) {
    uint64_t n = 0;
    if (!dim.AsUint64(&n) || n > static_cast<uint64_t>(INT64_MAX) ||
        __builtin_mul_overflow(bytes, n, &bytes)) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor \"", e->name, "\": bad shape dimension ", dim.text));
    }
    e->shape.push_back(static_cast<int64_t>(n));
  }
  if (!offsets->items[0].AsUint64(&e->begin) || !offsets->items[1].AsUint64(&e->end) ||
      e->end < e->begin) {
    return absl::InvalidArgumentError(absl::StrCat("tensor \"", e->name, "\": bad data_offsets"));
  }
  if (e->end - e->begin != bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tensor \"", e->name, "\": data_offsets [", e->begin, ", ", e->end, ") hold ",
        e->end - e->begin, " bytes but ", e->dtype, " ", ShapeText(e->shape), " needs ", bytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteSafetensors(const std::string& path, std::span<const SafetensorsTensor> tensors,
                              const std::vector<std::pair<std::string, std::string>>& metadata) {
  std::string header = absl::StrCat("{", JsonQuote(kMetadataKey), ":{");
  for (size_t i = 0; i < metadata.size(); ++i) {
    absl::StrAppend(&header, i ? "," : "", JsonQuote(metadata[i].first), ":",
                    JsonQuote(metadata[i].second));
  }
  header += "}";
  std::set<std::string_view> names;
  uint64_t offset = 0;
  for (const SafetensorsTensor& t : tensors) {
    if (t.name.empty() || t.name == kMetadataKey || !names.insert(t.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors: empty, reserved or repeated tensor name \"", t.name, "\""));
    }
    int64_t numel = 1;
    for (const int64_t d : t.shape) numel *= d;
    if (numel < 0 || static_cast<size_t>(numel) != t.values.size()) {
      return absl::InvalidArgumentError(absl::StrCat("safetensors: tensor \"", t.name, "\" has ",
                                                     t.values.size(), " values for shape ",
                                                     ShapeText(t.shape)));
    }
    const uint64_t bytes = t.values.size_bytes();
    absl::StrAppend(&header, ",", JsonQuote(t.name),
                    ":{\"dtype\":\"F32\",\"shape\":", ShapeText(t.shape), ",\"data_offsets\":[",
                    offset, ",", offset + bytes, "]}");
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  unsigned char length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(header.size() >> (8 * i));
  std::vector<std::string_view> parts = {
      std::string_view(reinterpret_cast<const char*>(length), sizeof(length)), header};
  for (const SafetensorsTensor& t : tensors) {
    parts.emplace_back(reinterpret_cast<const char*>(t.values.data()), t.values.size_bytes());
  }
  return WriteFileAtomically(path, parts);
}

const SafetensorsEntry* SafetensorsFile::Find(std::string_view name) const {
  for (const SafetensorsEntry& e : tensors) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

absl::StatusOr<std::vector<float>> SafetensorsFile::Float32(std::string_view name) const {
  const SafetensorsEntry* e = Find(name);
  if (e == nullptr)
    return absl::NotFoundError(absl::StrCat("no tensor \"", std::string(name), "\""));
  if (e->dtype != "F32") {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor \"", std::string(name), "\" is ", e->dtype, ", not F32"));
  }
  std::vector<float> values((e->end - e->begin) / sizeof(float));
  // An empty tensor has no buffer to copy into (memcpy of a null pointer is undefined).
  if (!values.empty()) std::memcpy(values.data(), data.data() + e->begin, e->end - e->begin);
  return values;
}

absl::StatusOr<SafetensorsFile> ReadSafetensors(const std::string& path) {
  DQT_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path, "safetensors file"));
  return ParseSafetensors(std::move(bytes), path);
}

absl::StatusOr<SafetensorsFile> ParseSafetensors(std::string bytes, const std::string& path) {
  auto bad = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(path, " is not a valid safetensors file: ", why));
  };
  if (bytes.size() < 8) return bad("shorter than the 8-byte header length");
  SafetensorsFile file;
  for (int i = 7; i >= 0; --i) {
    file.header_bytes = (file.header_bytes << 8) | static_cast<unsigned char>(bytes[i]);
  }
  if (file.header_bytes > kMaxHeaderBytes || file.header_bytes > bytes.size() - 8) {
    return bad(absl::StrCat("header length ", file.header_bytes, " exceeds the file"));
  }
  const std::string_view header_text(bytes.data() + 8, file.header_bytes);
  absl::StatusOr<JsonValue> header = ParseJson(header_text);
  if (!header.ok()) return bad(header.status().message());
  if (header->type != JsonValue::Type::kObject) return bad("header is not a JSON object");
  std::set<std::string> names;
  for (const auto& [name, value] : header->members) {
    if (!names.insert(name).second) return bad(absl::StrCat("repeated key \"", name, "\""));
    if (name == kMetadataKey) {
      if (value.type != JsonValue::Type::kObject) return bad("__metadata__ is not an object");
      for (const auto& [key, text] : value.members) {
        if (text.type != JsonValue::Type::kString)
          return bad("__metadata__ values must be strings");
        file.metadata.emplace_back(key, text.text);
      }
      continue;
    }
    SafetensorsEntry e;
    e.name = name;
    if (absl::Status s = ParseEntry(value, &e); !s.ok()) return bad(s.message());
    file.tensors.push_back(std::move(e));
  }
  file.data = bytes.substr(8 + file.header_bytes);
  std::vector<const SafetensorsEntry*> by_offset;
  for (const SafetensorsEntry& e : file.tensors) by_offset.push_back(&e);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
              return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
            });
  uint64_t next = 0;
  for (const SafetensorsEntry* e : by_offset) {
    if (e->begin != next) {
      return bad(absl::StrCat("tensor \"", e->name, "\" starts at byte ", e->begin, ", expected ",
                              next, " (gap or overlap)"));
    }
    next = e->end;
  }
  if (next != file.data.size()) {
    return bad(
        absl::StrCat("tensors cover ", next, " bytes but the data holds ", file.data.size()));
  }
  return file;
}

}  // namespace dqt
