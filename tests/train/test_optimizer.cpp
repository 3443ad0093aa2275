// FusedAdamW (train/fused_adamw.h) against LibTorch's AdamW + clip_grad_norm_: same updates,
// same state (a checkpoint of one loads into the other); the training-state archive.
#include <gtest/gtest.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/torch.h>

#include <torch/version.h>

#include <sstream>

#include "error_helpers.h"
#include "ptune/core/context.h"
#include "ptune/train/fused_adamw.h"
#include "ptune/train/optimizer.h"
#include "ptune/train/train_state.h"
#include "test_util.h"

namespace ptune {
namespace {

std::vector<torch::optim::OptimizerParamGroup> groups_of(
    const std::vector<torch::Tensor>& decay, const std::vector<torch::Tensor>& no_decay) {
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
  std::vector<torch::Tensor> ref = {torch::randn({300, 257}), torch::randn({257}),
                                    torch::randn({40, 30})};
  std::vector<torch::Tensor> fused;
  for (auto& t : ref) {
    t.requires_grad_(true);
    fused.push_back(t.detach().clone().requires_grad_(true));
  }
  torch::optim::AdamW ref_opt(groups_of({ref[0], ref[2]}, {ref[1]}),
                              torch::optim::AdamWOptions(1e-2));
  FusedAdamW fused_opt(groups_of({fused[0], fused[2]}, {fused[1]}),
                       torch::optim::AdamWOptions(1e-2));
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
      EXPECT_LE((ref[i] - fused[i]).abs().max().item<double>(), 1e-6)
          << "step " << step << " param " << i;
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
  torch::optim::AdamW loaded(groups_of({copy[0], copy[2]}, {copy[1]}),
                             torch::optim::AdamWOptions(1e-2));
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

// The training state round-trips (step, data position, moments, RNG); an archive written by a
// LibTorch on the other side of 2.2's change of optimizer-state keys is refused by name.
TEST(TrainState, RoundTripsAndRefusesAnArchiveAcrossTheKeyChange) {
  test::TempDir dir;
  torch::manual_seed(3);
  auto w = torch::randn({4, 3}).requires_grad_(true);
  FusedAdamW opt(groups_of({w}, {}), torch::optim::AdamWOptions(1e-2));
  w.mutable_grad() = torch::randn({4, 3});
  opt.step();
  TrainState s;
  s.step = 7;
  s.data.epoch = 1;
  s.data.cursor = 42;
  s.extra = {65536.0, 3.0};
  RunContext ctx = RunContext::start(1, "cpu", 11);
  s.rng = ctx.rng_state();
  const auto draw = torch::rand({5});  // what the saved stream gives next
  const std::string path = dir / "training_state.pt";
  save_train_state(path, s, opt);

  auto w2 = w.detach().clone().requires_grad_(true);
  FusedAdamW opt2(groups_of({w2}, {}), torch::optim::AdamWOptions(1e-2));
  const TrainState back = load_train_state(path, opt2);
  EXPECT_EQ(back.step, 7);
  EXPECT_EQ(back.data.cursor, 42);
  EXPECT_EQ(back.extra, s.extra);
  ctx.set_rng_state(back.rng);
  EXPECT_TRUE(torch::rand({5}).equal(draw));  // the RNG continues where it was saved
  w.mutable_grad() = torch::ones({4, 3});
  w2.mutable_grad() = torch::ones({4, 3});
  opt.step();
  opt2.step();  // same moments restored: the same update
  EXPECT_TRUE(w.equal(w2));

  // A LibTorch before 2.2 writes hex keys, 2.2 on decimal ones: stamp the other side.
  const bool hex_here =
      TORCH_VERSION_MAJOR < 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR < 2);
  torch::serialize::OutputArchive other;
  other.write("libtorch_version", torch::tensor(hex_here ? int64_t{205} : int64_t{113}));
  const std::string other_path = dir / "other.pt";
  other.save_to(other_path);
  const std::string msg = test::error_of([&] { load_train_state(other_path, opt2); });
  EXPECT_NE(msg.find(hex_here ? "written with LibTorch 2.5" : "written with LibTorch 1.13"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("cannot be resumed exactly"), std::string::npos) << msg;
}

}  // namespace
}  // namespace ptune
