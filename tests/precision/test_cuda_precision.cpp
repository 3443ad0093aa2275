// gpu tier (label gpu, not in the default run): fp16 training on CUDA with ptune's loss
// scaler and fused AdamW; a tiny model memorises one batch. Skipped without a CUDA device.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "ptune/model/loss.h"
#include "ptune/model/transformer.h"
#include "ptune/precision/loss_scaler.h"
#include "ptune/train/optimizer.h"

using namespace ptune;

TEST(PrecisionCuda, Fp16TrainingSmoke) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  torch::manual_seed(0);
  ModelConfig c;
  c.vocab_size = 64, c.hidden_size = 64, c.intermediate_size = 128, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.max_position_embeddings = 32;
  Transformer m(c);
  m->to(torch::kCUDA);
  m->set_compute_dtype(torch::kHalf);
  std::vector<torch::Tensor> ps = m->parameters();
  FusedAdamW opt(ps, torch::optim::AdamWOptions(3e-3));
  LossScaler s(LossScaleConfig{});
  auto ids =
      torch::randint(64, {4, 17}, torch::TensorOptions().dtype(torch::kInt64).device(torch::kCUDA));
  auto in = ids.slice(1, 0, 16), tgt = ids.slice(1, 1, 17);
  double first = 0, last = 0;
  for (int i = 0; i < 60; ++i) {
    opt.zero_grad();
    auto loss = lm_loss(m->forward(in), tgt);
    s.scale(loss).backward();
    for (const auto& p : ps) ASSERT_EQ(p.grad().scalar_type(), torch::kFloat);
    clip_and_step(opt, ps, 1.0, &s);
    (i == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_LT(last, 0.5 * first);
}
