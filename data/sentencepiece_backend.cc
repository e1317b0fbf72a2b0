// libsentencepiece behind a header without Abseil (see sentencepiece_backend.h).
#include "data/sentencepiece_backend.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace dqt::spm {
namespace {
sentencepiece::SentencePieceProcessor* P(void* p) {
  return static_cast<sentencepiece::SentencePieceProcessor*>(p);
}
}  // namespace

Processor::Processor() : impl_(new sentencepiece::SentencePieceProcessor()) {}
Processor::~Processor() { delete P(impl_); }

std::string Processor::LoadSerialized(std::string_view model) {
  const auto status = P(impl_)->LoadFromSerializedProto(model);
  return status.ok() ? "" : status.ToString();
}

std::vector<int> Processor::Encode(std::string_view text) const {
  std::vector<int> ids;
  P(impl_)->Encode(text, &ids).IgnoreError();
  return ids;
}

std::string Processor::Decode(const std::vector<int>& ids) const {
  std::string text;
  P(impl_)->Decode(ids, &text).IgnoreError();
  return text;
}

int Processor::size() const { return P(impl_)->GetPieceSize(); }
int Processor::bos() const { return P(impl_)->bos_id(); }
int Processor::eos() const { return P(impl_)->eos_id(); }
std::string Processor::piece(int id) const { return P(impl_)->IdToPiece(id); }

std::string Train(const std::string& args) {
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  return status.ok() ? "" : status.ToString();
}

}  // namespace dqt::spm
