// Bucketed, overlapped gradient all-reduce (see grad_reducer.h). The hooks are post-hooks of
// each parameter's AccumulateGrad node (what c10d's Reducer uses): they run once the
// backward has added this pass's gradient into param.grad.
#include "ptune/dist/grad_reducer.h"

#include <torch/csrc/autograd/functions/accumulate_grad.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>

#include <chrono>

#include "ptune/core/error.h"
#include "ptune/dist/process_group.h"

namespace ptune {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

struct GradReducer::HookTarget {
  GradReducer* self = nullptr;
};

GradReducer::GradReducer(DistGroup& group, std::vector<torch::Tensor> params, double bucket_mb,
                         bool overlap)
    : group_(group), params_(std::move(params)), overlap_(overlap) {
  const size_t n = params_.size();
  bucket_of_.assign(n, 0);
  arrivals_.assign(n, 0);
  const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * 1024 * 1024 / 4));
  Bucket cur;
  int64_t elems = 0;
  auto close = [&] {
    if (cur.params.empty()) return;
    const int64_t flags = static_cast<int64_t>(cur.params.size());
    cur.flat = torch::zeros({elems + flags},
                            torch::dtype(torch::kFloat32).device(params_[cur.params[0]].device()));
    bytes_per_step_ += (elems + flags) * 4;
    for (size_t j : cur.params) bucket_of_[j] = buckets_.size();
    buckets_.push_back(std::move(cur));
    cur = Bucket();
    elems = 0;
  };
  for (size_t i = n; i-- > 0;) {  // last parameters first: the backward reaches them first
    cur.params.push_back(i);
    cur.offset.push_back(elems);
    elems += params_[i].numel();
    if (elems >= cap) close();
  }
  close();
  reset();
  if (!overlap_) return;
  target_ = std::make_shared<HookTarget>();
  target_->self = this;
  for (size_t i = 0; i < n; ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
    PTUNE_CHECK(acc != nullptr, "parameter {} is not a leaf that requires grad", i);
    std::shared_ptr<HookTarget> target = target_;
    acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
        [target, i](const torch::autograd::variable_list& outputs,
                    const torch::autograd::variable_list&) {
          if (target->self) target->self->on_grad_ready(i);
          return outputs;
        }));
    accumulators_.push_back(std::move(acc));
  }
}

GradReducer::~GradReducer() {
  if (target_) target_->self = nullptr;
}

void GradReducer::reset() {
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int64_t>(b.params.size());
    b.started = false;
  }
  std::fill(arrivals_.begin(), arrivals_.end(), 0);
  next_ = 0;
  armed_ = false;
  twice_ = false;
  hook_s_ = 0;
  hook_starts_ = 0;
}

void GradReducer::arm() {
  reset();
  armed_ = overlap_;
}

void GradReducer::on_grad_ready(size_t param) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;
  const auto t0 = Clock::now();
  if (++arrivals_[param] > 1) {
    twice_ = true;
    return;
  }
  if (--buckets_[bucket_of_[param]].pending == 0)
    while (next_ < buckets_.size() && buckets_[next_].pending == 0) {
      start(buckets_[next_++]);
      ++hook_starts_;
    }
  hook_s_ += seconds_since(t0);
}

void GradReducer::start(Bucket& b) {
  const int64_t flags_at = b.flat.numel() - static_cast<int64_t>(b.params.size());
  for (size_t k = 0; k < b.params.size(); ++k) {
    const torch::Tensor& g = params_[b.params[k]].grad();
    const int64_t numel = params_[b.params[k]].numel();
    if (g.defined()) {
      b.flat.narrow(0, b.offset[k], numel).copy_(g.reshape({-1}));
      b.flat[flags_at + static_cast<int64_t>(k)].fill_(1.0);
    } else {
      b.flat.narrow(0, b.offset[k], numel).zero_();
      b.flat[flags_at + static_cast<int64_t>(k)].fill_(0.0);
    }
  }
  group_.start_all_reduce_sum(b.flat);
  b.started = true;
}

void GradReducer::finish(int64_t step) {
  const auto t0 = Clock::now();
  PTUNE_CHECK(!twice_, "a gradient reached the all-reduce twice in the backward of step {}", step);
  for (; next_ < buckets_.size(); ++next_) start(buckets_[next_]);
  group_.wait_started(fmt::format("gradient all-reduce at step {}", step));
  for (Bucket& b : buckets_) {
    const int64_t n_flags = static_cast<int64_t>(b.params.size());
    const torch::Tensor flags = b.flat.narrow(0, b.flat.numel() - n_flags, n_flags).cpu();
    const float* f = flags.data_ptr<float>();
    for (size_t k = 0; k < b.params.size(); ++k) {
      if (f[k] == 0.0f) continue;  // no rank has a gradient for it: it keeps none
      torch::Tensor& p = params_[b.params[k]];
      const torch::Tensor sum = b.flat.narrow(0, b.offset[k], p.numel()).view(p.sizes());
      if (p.grad().defined())
        p.mutable_grad().copy_(sum);
      else
        p.mutable_grad() = sum.to(p.dtype(), false, true);
    }
  }
  exposed_s_ = hook_s_ + seconds_since(t0);
  started_in_backward_ = hook_starts_;
  reset();
}

}  // namespace ptune
