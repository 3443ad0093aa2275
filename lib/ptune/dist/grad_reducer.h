// Data-parallel gradient sum over a DistGroup, DDP's way: parameters are grouped into fp32
// buckets of about train.distributed.bucket_mb in reverse order (the order the backward
// produces their gradients), and each bucket's all-reduce starts as soon as the backward has
// accumulated all of its gradients, while the backward goes on through earlier layers. Buckets
// start in one fixed order on every rank (the collectives pair up by order).
//
// Each rank's loss is already normalised by the global number of predicted tokens, so the sum
// is the global gradient; every rank ends with the same gradients and takes the same step.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ptune {

class DistGroup;

class GradReducer {
 public:
  // `overlap`: start buckets from the backward (one backward pass per micro-batch); without
  // it (MTP heads backpropagate head by head) finish() reduces every bucket after the backward.
  GradReducer(DistGroup& group, std::vector<torch::Tensor> params, double bucket_mb, bool overlap);
  ~GradReducer();
  GradReducer(const GradReducer&) = delete;
  GradReducer& operator=(const GradReducer&) = delete;

  // Before the backward of a step's last micro-batch.
  void arm();
  // After it: starts the buckets not started yet, waits for all, writes the sums back into
  // the parameters' gradients (a parameter no rank has a gradient for keeps none).
  void finish(int64_t step);

  int64_t bytes_per_step() const { return bytes_per_step_; }
  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }
  // Seconds the last finish() and the bucket starts inside the backward held the step up.
  double exposed_s() const { return exposed_s_; }
  // Buckets of the last step that started inside the backward (the rest started in finish()).
  int64_t started_in_backward() const { return started_in_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> params;   // indices into params_
    std::vector<int64_t> offset;  // each parameter's first element in `flat`
    torch::Tensor flat;           // fp32: gradients, then one "has a gradient" flag per param
    int64_t pending = 0;          // parameters whose gradient has not arrived yet
    bool started = false;
  };
  void on_grad_ready(size_t param);
  void start(Bucket& b);
  void reset();

  DistGroup& group_;
  std::vector<torch::Tensor> params_;
  std::vector<size_t> bucket_of_;
  std::vector<int> arrivals_;
  std::vector<Bucket> buckets_;
  std::vector<std::shared_ptr<void>> accumulators_;  // kept alive: they hold the hooks
  struct HookTarget;
  std::shared_ptr<HookTarget> target_;  // what the hooks call; cleared when this goes away
  size_t next_ = 0;                     // the next bucket to start, in order
  bool overlap_;
  bool armed_ = false;
  bool twice_ = false;  // a gradient arrived twice in one armed backward
  int64_t bytes_per_step_ = 0;
  double exposed_s_ = 0;
  double hook_s_ = 0;
  int64_t started_in_backward_ = 0, hook_starts_ = 0;
  std::mutex mu_;
};

}  // namespace ptune
