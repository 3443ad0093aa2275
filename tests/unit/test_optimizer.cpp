// FusedAdamW (train/fused_adamw.h) against LibTorch's AdamW + clip_grad_norm_: same updates,
// same state (a checkpoint of one loads into the other).
#include <gtest/gtest.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/torch.h>

#include <sstream>

#include "ptune/precision/precision.h"
#include "ptune/train/fused_adamw.h"

namespace ptune {
namespace {

std::vector<torch::optim::OptimizerParamGroup> groups_of(const std::vector<torch::Tensor>& decay,
                                                         const std::vector<torch::Tensor>& no_decay) {
  auto opts = torch::optim::AdamWOptions(1e-2).betas({0.9, 0.95}).eps(1e-8);
  std::vector<torch::optim::OptimizerParamGroup> g;
  g.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(
                            torch::optim::AdamWOptions(opts).weight_decay(0.1)));
  g.emplace_back(no_decay, std::make_unique<torch::optim::AdamWOptions>(
                               torch::optim::AdamWOptions(opts).weight_decay(0.0)));
  return g;
}

TEST(FusedAdamW, MatchesLibTorchAdamWWithClipping) {
  torch::manual_seed(0);
  // A large matrix (the one-pass path, split across threads), a vector without decay, and a
  // matrix whose gradient is non-contiguous (the tensor-op path).
  std::vector<torch::Tensor> ref = {torch::randn({300, 257}), torch::randn({257}), torch::randn({40, 30})};
  std::vector<torch::Tensor> fused;
  for (auto& t : ref) {
    t.requires_grad_(true);
    fused.push_back(t.detach().clone().requires_grad_(true));
  }
  torch::optim::AdamW ref_opt(groups_of({ref[0], ref[2]}, {ref[1]}), torch::optim::AdamWOptions(1e-2));
  FusedAdamW fused_opt(groups_of({fused[0], fused[2]}, {fused[1]}), torch::optim::AdamWOptions(1e-2));
  for (int step = 0; step < 6; ++step) {
    // Steps 0-2 clip (norm > 1), steps 3-5 do not.
    const double g_scale = step < 3 ? 1.0 : 1e-4;
    for (size_t i = 0; i < ref.size(); ++i) {
      auto g = torch::randn(ref[i].sizes()) * g_scale;
      ref[i].mutable_grad() = g.clone();
      fused[i].mutable_grad() = i == 2 ? g.t().contiguous().t() : g.clone();
    }
    ASSERT_FALSE(fused[2].grad().is_contiguous());
    const double ref_norm = torch::nn::utils::clip_grad_norm_(ref, 1.0);
    ref_opt.step();
    const StepOutcome out = clip_and_step(fused_opt, fused, 1.0, nullptr);
    EXPECT_NEAR(out.grad_norm, ref_norm, 1e-6 * ref_norm);
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_LE((ref[i] - fused[i]).abs().max().item<double>(), 1e-6) << "step " << step << " param " << i;
  }
  // The state is LibTorch's: save the fused optimizer, load it into a plain AdamW.
  std::stringstream buf;
  {
    torch::serialize::OutputArchive a;
    fused_opt.save(a);
    a.save_to(buf);
  }
  std::vector<torch::Tensor> copy;
  for (auto& t : fused) copy.push_back(t.detach().clone().requires_grad_(true));
  torch::optim::AdamW loaded(groups_of({copy[0], copy[2]}, {copy[1]}), torch::optim::AdamWOptions(1e-2));
  {
    torch::serialize::InputArchive a;
    a.load_from(buf);
    loaded.load(a);
  }
  for (size_t i = 0; i < fused.size(); ++i) {
    auto g = torch::randn(fused[i].sizes()) * 1e-4;
    fused[i].mutable_grad() = g.clone();
    copy[i].mutable_grad() = g.clone();
  }
  fused_opt.step();
  loaded.step();
  for (size_t i = 0; i < fused.size(); ++i)
    EXPECT_LE((fused[i] - copy[i]).abs().max().item<double>(), 1e-6) << "after reload, param " << i;
}

}  // namespace
}  // namespace ptune
