// TernaryLLM in the model: the DLT forward (kernel form) equals an fp model holding W_hat; the
// OFF loss's and the logit distillation (KD) term's gradients through the whole model match central
// differences; a teacher equal to the student adds nothing to either.
#include <cmath>
#include <string>
#include <vector>

#include "core/model/llama.h"
#include "gtest/gtest.h"
#include "kernels/feature_distill.h"
#include "kernels/logit_distill.h"
#include "tests/testing/tiny_model.h"

namespace dqt {
namespace {

using testing::TinyModel;

const std::vector<int32_t> kInputs = {1, 5, 7, 2, 11, 3, 0, 9};
const std::vector<int32_t> kTargets = {5, 7, 2, 11, 3, 0, 9, 4};

TEST(TernaryLlmModel, DltForwardEqualsAnFpModelHoldingWHat) {
  for (int group : {0, 8}) {
    LlamaConfig c = TinyModel();
    c.init_std = 0.2f;
    c.quant.optimizer = OptimizerKind::kTernaryLlm;
    c.quant.dlt_group = group;
    LlamaModel dlt(c);
    ASSERT_TRUE(dlt.params().Init().ok());
    // Non-trivial shifts: gamma = 0.01 * (index % 5 - 2).
    for (const ParamTensor& t : dlt.params().tensors()) {
      if (t.name.find("dlt_gamma") == std::string::npos) continue;
      float* g = dlt.params().values().data() + t.value_offset;
      for (int64_t i = 0; i < t.numel; ++i) g[i] = 0.01f * static_cast<float>(i % 5 - 2);
    }
    LlamaConfig fp_config = c;
    fp_config.quant = QuantConfig{};
    LlamaModel fp(fp_config);
    std::vector<float> values(dlt.params().numel());
    dlt.params().LogicalValues(values.data());  // W_hat for DLT weights; a prefix is fp's layout
    fp.params().SetLogicalValues(values.data());
    int64_t count = 0;
    const double want = fp.ForwardLoss(kInputs.data(), kTargets.data(), 2, 4, &count);
    const double got = dlt.ForwardLoss(kInputs.data(), kTargets.data(), 2, 4, &count);
    // The kernel form sums alpha (T x) + gamma sum(x) instead of W_hat x: f32 reassociation.
    EXPECT_NEAR(got, want, 1e-4 * std::fabs(want)) << "group " << group;
  }
}

// sum of token losses + weight * OFF sum for model `m` (teacher features already computed).
double TotalLoss(LlamaModel& m, LlamaModel& teacher, const std::vector<int>& layers, float weight) {
  int64_t count = 0;
  double total = m.ForwardLoss(kInputs.data(), kTargets.data(), 2, 4, &count);
  std::vector<double> off = {0.0};
  for (int l : layers) {
    FeatureDistillForward(m.context(), {.student = m.BlockOutput(l),
                                        .teacher = teacher.BlockOutput(l),
                                        .loss = RefOf(off.data(), Device::kCpu, {1})});
  }
  return total + weight * off[0];
}

TEST(TernaryLlmModel, OffGradientMatchesFiniteDifferencesThroughTheModel) {
  LlamaConfig c = TinyModel();
  c.init_std = 0.3f;
  LlamaModel student(c);
  ASSERT_TRUE(student.params().Init().ok());
  c.seed = 99;  // another model as the teacher
  LlamaModel teacher(c, nullptr, ExecContext::Cpu(), DType::kF32, Recompute::kNo,
                     GradientStorage::kFrozen);
  ASSERT_TRUE(teacher.params().Init().ok());
  teacher.ForwardBlocks(kInputs.data(), 2, 4);
  const std::vector<int> layers = {0, 1};
  const float weight = 20.0f;  // OFF dominates the gradient of the gains checked below
  student.SetFeatureDistillation(&teacher, layers, weight);
  int64_t count = 0;
  student.ForwardBackward(kInputs.data(), kTargets.data(), 2, 4, 1.0f, &count);
  EXPECT_GT(student.off_loss_sum(), 0.1);
  std::vector<float> with_off(student.params().grads().data(),
                              student.params().grads().data() + student.params().grads().size());
  student.SetFeatureDistillation(nullptr, {}, 0.0f);
  student.params().grads().Zero();
  student.ForwardBackward(kInputs.data(), kTargets.data(), 2, 4, 1.0f, &count);
  // Central differences (f32 model, h = 1e-2) on the gains of block 0's input norm and on some
  // weights of block 1's down projection (before layer 1's output, after layer 0's).
  double max_off_part = 0;
  for (const std::string name :
       {"model.layers.0.input_layernorm.weight", "model.layers.1.mlp.down_proj.weight"}) {
    const ParamTensor* t = nullptr;
    for (const ParamTensor& p : student.params().tensors()) {
      if (p.name == name) t = &p;
    }
    ASSERT_NE(t, nullptr);
    for (int64_t i = 0; i < std::min<int64_t>(t->numel, 12); ++i) {
      float& w = student.params().values().data()[t->value_offset + i];
      const float saved = w, h = 1e-2f;
      w = saved + h;
      const double plus = TotalLoss(student, teacher, layers, weight);
      w = saved - h;
      const double minus = TotalLoss(student, teacher, layers, weight);
      w = saved;
      const double numeric = (plus - minus) / (2 * h);
      const double analytic = with_off[t->offset + i];
      // f32 forward: the difference quotient carries ~1e-3 absolute noise and O(h^2) curvature.
      EXPECT_NEAR(analytic, numeric, 0.03 * std::fabs(numeric) + 5e-3) << name << " " << i;
      max_off_part = std::max<double>(
          max_off_part, std::fabs(analytic - student.params().grads().data()[t->offset + i]));
    }
  }
  EXPECT_GT(max_off_part, 0.05);  // OFF contributed a sizable part of what was checked
}

TEST(TernaryLlmModel, TeacherEqualToTheStudentAddsNothing) {
  LlamaConfig c = TinyModel();
  LlamaModel student(c);
  ASSERT_TRUE(student.params().Init().ok());
  LlamaModel teacher(c, nullptr, ExecContext::Cpu(), DType::kF32, Recompute::kNo,
                     GradientStorage::kFrozen);
  ASSERT_TRUE(teacher.params().Init().ok());
  teacher.ForwardBlocks(kInputs.data(), 2, 4);
  int64_t count = 0;
  student.ForwardBackward(kInputs.data(), kTargets.data(), 2, 4, 1.0f, &count);
  const std::vector<float> plain(student.params().grads().data(),
                                 student.params().grads().data() + student.params().grads().size());
  student.params().grads().Zero();
  student.SetFeatureDistillation(&teacher, {0, 1}, 3.0f);
  student.ForwardBackward(kInputs.data(), kTargets.data(), 2, 4, 1.0f, &count);
  EXPECT_NEAR(student.off_loss_sum(), 0.0, 1e-5);
  for (size_t i = 0; i < plain.size(); ++i) {
    ASSERT_NEAR(student.params().grads().data()[i], plain[i], 1e-5 + 1e-4 * std::fabs(plain[i]))
        << i;
  }
}

// sum of token losses + weight * KL(teacher || student) summed over tokens (the teacher's logits
// already computed).
double TotalKdLoss(LlamaModel& m, const LlamaModel& teacher, float weight) {
  int64_t count = 0;
  const double total = m.ForwardLoss(kInputs.data(), kTargets.data(), 2, 4, &count);
  m.ForwardLogits(kInputs.data(), 2, 4);
  std::vector<double> kd = {0.0};
  LogitDistill(m.context(), {.student = m.Logits(),
                             .teacher = teacher.Logits(),
                             .loss = RefOf(kd.data(), Device::kCpu, {1}),
                             .scale = 1.0f,
                             .dstudent = {}});
  return total + weight * kd[0];
}

TEST(TernaryLlmModel, KdGradientMatchesFiniteDifferencesThroughTheModel) {
  LlamaConfig c = TinyModel();
  c.init_std = 0.3f;
  LlamaModel student(c);
  ASSERT_TRUE(student.params().Init().ok());
  c.seed = 99;  // another model as the teacher
  LlamaModel teacher(c, nullptr, ExecContext::Cpu(), DType::kF32, Recompute::kNo,
                     GradientStorage::kFrozen);
  ASSERT_TRUE(teacher.params().Init().ok());
  teacher.ForwardLogits(kInputs.data(), 2, 4);
  const float weight = 5.0f;  // KD dominates the gradient of what is checked below
  student.SetLogitDistillation(&teacher, weight);
  int64_t count = 0;
  student.ForwardBackward(kInputs.data(), kTargets.data(), 2, 4, 1.0f, &count);
  EXPECT_GT(student.kd_loss_sum(), 0.01);
  std::vector<float> with_kd(student.params().grads().data(),
                             student.params().grads().data() + student.params().grads().size());
  student.SetLogitDistillation(nullptr, 0.0f);
  student.params().grads().Zero();
  student.ForwardBackward(kInputs.data(), kTargets.data(), 2, 4, 1.0f, &count);
  // Central differences (f32 model, h = 1e-2) on the final norm's gains, block 0's input norm's
  // gains and some weights of block 1's down projection.
  double max_kd_part = 0;
  for (const std::string name : {"model.norm.weight", "model.layers.0.input_layernorm.weight",
                                 "model.layers.1.mlp.down_proj.weight"}) {
    const ParamTensor* t = nullptr;
    for (const ParamTensor& p : student.params().tensors()) {
      if (p.name == name) t = &p;
    }
    ASSERT_NE(t, nullptr) << name;
    for (int64_t i = 0; i < std::min<int64_t>(t->numel, 12); ++i) {
      float& w = student.params().values().data()[t->value_offset + i];
      const float saved = w, h = 1e-2f;
      w = saved + h;
      const double plus = TotalKdLoss(student, teacher, weight);
      w = saved - h;
      const double minus = TotalKdLoss(student, teacher, weight);
      w = saved;
      const double numeric = (plus - minus) / (2 * h);
      const double analytic = with_kd[t->offset + i];
      // f32 forward: the difference quotient carries ~1e-3 absolute noise and O(h^2) curvature.
      EXPECT_NEAR(analytic, numeric, 0.03 * std::fabs(numeric) + 5e-3) << name << " " << i;
      max_kd_part = std::max<double>(
          max_kd_part, std::fabs(analytic - student.params().grads().data()[t->offset + i]));
    }
  }
  EXPECT_GT(max_kd_part, 0.05);  // KD contributed a sizable part of what was checked
}

TEST(TernaryLlmModel, KdTeacherEqualToTheStudentAddsZeroLossAndZeroGradient) {
  LlamaConfig c = TinyModel();
  LlamaModel student(c);
  ASSERT_TRUE(student.params().Init().ok());
  LlamaModel teacher(c, nullptr, ExecContext::Cpu(), DType::kF32, Recompute::kNo,
                     GradientStorage::kFrozen);
  ASSERT_TRUE(teacher.params().Init().ok());
  teacher.ForwardLogits(kInputs.data(), 2, 4);
  int64_t count = 0;
  const double plain_loss =
      student.ForwardBackward(kInputs.data(), kTargets.data(), 2, 4, 1.0f, &count);
  const std::vector<float> plain(student.params().grads().data(),
                                 student.params().grads().data() + student.params().grads().size());
  student.params().grads().Zero();
  student.SetLogitDistillation(&teacher, 3.0f);
  const double kd_loss =
      student.ForwardBackward(kInputs.data(), kTargets.data(), 2, 4, 1.0f, &count);
  EXPECT_EQ(kd_loss, plain_loss);  // the returned cross-entropy sum is untouched
  EXPECT_NEAR(student.kd_loss_sum(), 0.0, 1e-6);
  for (size_t i = 0; i < plain.size(); ++i) {
    ASSERT_NEAR(student.params().grads().data()[i], plain[i], 1e-6 + 1e-5 * std::fabs(plain[i]))
        << i;
  }
}

}  // namespace
}  // namespace dqt
