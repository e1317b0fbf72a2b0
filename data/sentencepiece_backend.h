// The only code that includes libsentencepiece's headers, which declare their own
// absl::string_view and so cannot share a translation unit with Abseil: plain C++ here, errors as
// strings (empty = ok). Used by sentencepiece_tokenizer.cc.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dqt::spm {

class Processor {
 public:
  Processor();
  ~Processor();
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;
  std::string LoadSerialized(std::string_view model);  // error text, empty when loaded
  std::vector<int> Encode(std::string_view text) const;
  std::string Decode(const std::vector<int>& ids) const;
  int size() const;
  int bos() const;
  int eos() const;
  std::string piece(int id) const;

 private:
  void* impl_;  // sentencepiece::SentencePieceProcessor
};

// SentencePieceTrainer::Train with a flag string; error text, empty on success.
std::string Train(const std::string& args);

}  // namespace dqt::spm
