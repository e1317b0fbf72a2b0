// Test helper: token files in the foreign formats dqt reads as they are, nanoGPT's header-less
// uint16 ids and llm.c's GPT-2 files, written as those projects write them.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "data/token_shard.h"

namespace dqt::testing {

inline void AppendUint16(std::ofstream& out, const std::vector<int32_t>& tokens) {
  for (int32_t t : tokens) {
    const uint16_t v = static_cast<uint16_t>(t);
    out.write(reinterpret_cast<const char*>(&v), 2);
  }
}

// nanoGPT's prepare.py: np.array(ids, dtype=np.uint16).tofile(path), little-endian, no header.
inline void WriteNanoGptFile(const std::string& path, const std::vector<int32_t>& tokens) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  AppendUint16(out, tokens);
}

// llm.c's dev/data/data_common.py: int32 header[256] = {20240520, 1, count}, then uint16 ids.
inline void WriteLlmcGpt2File(const std::string& path, const std::vector<int32_t>& tokens) {
  std::vector<int32_t> header(256, 0);
  header[0] = static_cast<int32_t>(kLlmcMagicGpt2);
  header[1] = 1;
  header[2] = static_cast<int32_t>(tokens.size());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(header.data()), 1024);
  AppendUint16(out, tokens);
}

}  // namespace dqt::testing
