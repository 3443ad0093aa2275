// The c10d process group a distributed run talks through: a TCPStore rendezvous at
// MASTER_ADDR:MASTER_PORT and c10d's own Gloo (or, with a CUDA LibTorch, NCCL) backend over it.
// Every collective blocks at most train.distributed.timeout_s; a failure is a runtime error
// that names this rank, the operation and the peers that stopped answering.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ptune/config/recipe.h"
#include "ptune/dist/launch_env.h"

namespace ptune {

class DistGroup {
 public:
  // Rendezvous and process group. `device`: where the tensors live (auto picks NCCL for CUDA
  // when this LibTorch has it). An unreachable master, a port in use or a peer that does not
  // arrive within timeout_s is an error saying which.
  static std::unique_ptr<DistGroup> connect(const LaunchEnv& env, DistBackend backend,
                                            torch::Device device, double timeout_s);
  ~DistGroup();
  DistGroup(const DistGroup&) = delete;
  DistGroup& operator=(const DistGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  const std::string& backend_name() const { return backend_name_; }
  double timeout_s() const { return timeout_s_; }

  // Blocking collectives; `what` names the operation in errors ("gradient all-reduce at
  // step 12"). Tensors are summed, broadcast or gathered in place, in their own dtype (Gloo
  // has no bf16: callers reduce fp32).
  void all_reduce_sum(std::vector<torch::Tensor>& tensors, const std::string& what);
  void all_reduce_max(std::vector<torch::Tensor>& tensors, const std::string& what);
  void broadcast(std::vector<torch::Tensor>& tensors, int root, const std::string& what);
  // Every rank's copy of `t` (same shape and dtype on every rank), by rank.
  std::vector<torch::Tensor> all_gather(const torch::Tensor& t, const std::string& what);
  void barrier(const std::string& what);
  // Sums of a few numbers (losses, token counts), in fp64.
  std::vector<double> sum(const std::vector<double>& values, const std::string& what);

  // Asynchronous sum, for the gradient buckets: start() returns at once; wait_started() waits
  // for every started one, in order.
  void start_all_reduce_sum(torch::Tensor& t);
  void wait_started(const std::string& what);

 private:
  struct Impl;
  DistGroup() = default;
  [[noreturn]] void fail(const std::string& what, const std::exception& e);
  std::unique_ptr<Impl> impl_;
  int rank_ = 0;
  int size_ = 1;
  double timeout_s_ = 0;
  std::string backend_name_;
};

}  // namespace ptune
