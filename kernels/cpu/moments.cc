// Host moment storage: block load/store for the fp32, bf16 and block-quantized 8-bit formats.
#include "kernels/moments.h"

#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/base/check.h"

namespace dqt {

void LoadMomentBlock(const MomentsView& view, int64_t block, float* m, float* v) {
  const int64_t first = block * kMomentBlock;
  const int count = view.BlockSize(block);
  switch (view.format) {
    case MomentFormat::kFp32:
      std::memcpy(m, static_cast<const float*>(view.m) + first, count * sizeof(float));
      std::memcpy(v, static_cast<const float*>(view.v) + first, count * sizeof(float));
      return;
    case MomentFormat::kBf16: {
      const uint16_t* mb = static_cast<const uint16_t*>(view.m) + first;
      const uint16_t* vb = static_cast<const uint16_t*>(view.v) + first;
      for (int i = 0; i < count; ++i) m[i] = Bf16ToFloat(mb[i]);
      for (int i = 0; i < count; ++i) v[i] = Bf16ToFloat(vb[i]);
      return;
    }
    case MomentFormat::kBlock8: {
      const int8_t* mq = static_cast<const int8_t*>(view.m) + first;
      const uint8_t* vq = static_cast<const uint8_t*>(view.v) + first;
      const float absmax = view.m_absmax[block];
      const float vmax = view.v_max[block];
      for (int i = 0; i < count; ++i) m[i] = DequantizeFirstMoment(mq[i], absmax);
      for (int i = 0; i < count; ++i) v[i] = DequantizeSecondMoment(vq[i], vmax);
      return;
    }
  }
  DQT_CHECK(false) << "unknown moment format " << static_cast<int>(view.format);
}

void StoreMomentBlock(const MomentsView& view, int64_t block, const float* m, const float* v) {
  const int64_t first = block * kMomentBlock;
  const int count = view.BlockSize(block);
  switch (view.format) {
    case MomentFormat::kFp32:
      std::memcpy(static_cast<float*>(view.m) + first, m, count * sizeof(float));
      std::memcpy(static_cast<float*>(view.v) + first, v, count * sizeof(float));
      return;
    case MomentFormat::kBf16: {
      uint16_t* mb = static_cast<uint16_t*>(view.m) + first;
      uint16_t* vb = static_cast<uint16_t*>(view.v) + first;
      for (int i = 0; i < count; ++i) mb[i] = FloatToBf16(m[i]);
      for (int i = 0; i < count; ++i) vb[i] = FloatToBf16(v[i]);
      return;
    }
    case MomentFormat::kBlock8: {
      // fmax ignores NaN the way the device's fmaxf does, so both twins pick the same scales.
      float absmax = 0.0f, vmax = 0.0f;
      for (int i = 0; i < count; ++i) absmax = std::fmax(absmax, std::fabs(m[i]));
      for (int i = 0; i < count; ++i) vmax = std::fmax(vmax, v[i]);
      int8_t* mq = static_cast<int8_t*>(view.m) + first;
      uint8_t* vq = static_cast<uint8_t*>(view.v) + first;
      for (int i = 0; i < count; ++i) mq[i] = QuantizeFirstMoment(m[i], absmax);
      for (int i = 0; i < count; ++i) vq[i] = QuantizeSecondMoment(v[i], vmax);
      view.m_absmax[block] = absmax;
      view.v_max[block] = vmax;
      return;
    }
  }
  DQT_CHECK(false) << "unknown moment format " << static_cast<int>(view.format);
}

void MomentStore::CopyFrom(const MomentStore& other) {
  DQT_CHECK(other.format_ == format_ && other.n_ == n_ && other.global_offset_ == global_offset_)
      << "MomentStore::CopyFrom: a different store";
  auto copy = [](auto& dst, const auto& src) { CopyElements(dst, 0, src, 0, dst.size()); };
  copy(m_f32_, other.m_f32_);
  copy(v_f32_, other.v_f32_);
  copy(m_bf16_, other.m_bf16_);
  copy(v_bf16_, other.v_bf16_);
  copy(m_q8_, other.m_q8_);
  copy(v_q8_, other.v_q8_);
  copy(m_absmax_, other.m_absmax_);
  copy(v_max_, other.v_max_);
}

MomentStore::MomentStore(MomentFormat format, int64_t n, uint64_t global_offset, Device device)
    : format_(format), n_(n), global_offset_(global_offset) {
  DQT_CHECK(n >= 0);
  const size_t count = static_cast<size_t>(n);
  switch (format) {
    case MomentFormat::kFp32:
      m_f32_ = Buffer<float>(count, MemoryKind::kOptimizer, device);
      v_f32_ = Buffer<float>(count, MemoryKind::kOptimizer, device);
      return;
    case MomentFormat::kBf16:
      m_bf16_ = Buffer<uint16_t>(count, MemoryKind::kOptimizer, device);
      v_bf16_ = Buffer<uint16_t>(count, MemoryKind::kOptimizer, device);
      return;
    case MomentFormat::kBlock8:
      DQT_CHECK(global_offset % kMomentBlock == 0)
          << "block8 moments need a slice offset that is a multiple of " << kMomentBlock << ", got "
          << global_offset;
      m_q8_ = Buffer<int8_t>(count, MemoryKind::kOptimizer, device);
      v_q8_ = Buffer<uint8_t>(count, MemoryKind::kOptimizer, device);
      m_absmax_ = Buffer<float>(static_cast<size_t>(blocks()), MemoryKind::kOptimizer, device);
      v_max_ = Buffer<float>(static_cast<size_t>(blocks()), MemoryKind::kOptimizer, device);
      return;
  }
  DQT_CHECK(false) << "unknown moment format " << static_cast<int>(format);
}

double MomentStore::LedgerBytes(MomentFormat format, double n) {
  switch (format) {
    case MomentFormat::kFp32:
      return 2 * Buffer<float>::LedgerBytes(n);
    case MomentFormat::kBf16:
      return 2 * Buffer<uint16_t>::LedgerBytes(n);
    case MomentFormat::kBlock8:
      return Buffer<int8_t>::LedgerBytes(n) + Buffer<uint8_t>::LedgerBytes(n) +
             2 * Buffer<float>::LedgerBytes(std::ceil(n / kMomentBlock));
  }
  return 0;
}

int64_t MomentStore::bytes() const {
  auto size = [](const auto& buffer) { return static_cast<int64_t>(buffer.bytes()); };
  return size(m_f32_) + size(v_f32_) + size(m_bf16_) + size(v_bf16_) + size(m_q8_) + size(v_q8_) +
         size(m_absmax_) + size(v_max_);
}

MomentsView MomentStore::view() {
  MomentsView view{format_, n_, global_offset_, nullptr, nullptr, nullptr, nullptr};
  switch (format_) {
    case MomentFormat::kFp32:
      view.m = m_f32_.data();
      view.v = v_f32_.data();
      break;
    case MomentFormat::kBf16:
      view.m = m_bf16_.data();
      view.v = v_bf16_.data();
      break;
    case MomentFormat::kBlock8:
      view.m = m_q8_.data();
      view.v = v_q8_.data();
      view.m_absmax = m_absmax_.data();
      view.v_max = v_max_.data();
      break;
  }
  return view;
}

// Load only reads through the view, so handing out mutable pointers from a const store is safe.
MomentsView MomentStore::ConstView() const { return const_cast<MomentStore*>(this)->view(); }

void MomentStore::Load(int64_t block, float* m, float* v) const {
  DQT_CHECK(block >= 0 && block < blocks());
  LoadMomentBlock(ConstView(), block, m, v);
}

void MomentStore::Store(int64_t block, const float* m, const float* v) {
  DQT_CHECK(block >= 0 && block < blocks());
  StoreMomentBlock(view(), block, m, v);
}

}  // namespace dqt
