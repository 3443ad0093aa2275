// Replica check and broadcast (see replicas.h).
#include "ptune/dist/replicas.h"

#include <ATen/Parallel.h>

#include <cstring>

#include "ptune/core/error.h"

namespace ptune {

namespace {

uint64_t mix(uint64_t h, uint64_t v) {  // splitmix64-style step
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ULL;
  return h ^ (h >> 29);
}

uint64_t hash_bytes(const uint8_t* p, int64_t n, uint64_t seed) {
  uint64_t h = seed;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = mix(h, w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, static_cast<size_t>(n - i));
  return mix(h, tail ^ static_cast<uint64_t>(n));
}

}  // namespace

int64_t fingerprint(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().cpu().contiguous();
  uint64_t h = mix(static_cast<uint64_t>(c.scalar_type()), static_cast<uint64_t>(c.dim()));
  for (int64_t s : c.sizes()) h = mix(h, static_cast<uint64_t>(s));
  const auto* bytes = static_cast<const uint8_t*>(c.data_ptr());
  const int64_t n = c.numel() * static_cast<int64_t>(c.element_size());
  constexpr int64_t kChunk = 1 << 20;  // chunks hashed in parallel, combined in order
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<uint64_t> part(static_cast<size_t>(chunks));
  at::parallel_for(0, chunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k)
      part[k] = hash_bytes(bytes + k * kChunk, std::min(kChunk, n - k * kChunk), k);
  });
  for (uint64_t x : part) h = mix(h, x);
  return static_cast<int64_t>(h);
}

void check_replicas(DistGroup& g, const NamedTensors& tensors) {
  std::vector<int64_t> mine;
  for (const auto& [_, t] : tensors) mine.push_back(fingerprint(t));
  mine.push_back(static_cast<int64_t>(tensors.size()));
  const torch::Tensor local = torch::tensor(mine, torch::kInt64);
  // Tensor counts first: all_gather needs one shape on every rank.
  std::vector<torch::Tensor> count{torch::tensor({static_cast<int64_t>(mine.size())})};
  std::vector<torch::Tensor> count_max{count[0].clone()};
  g.all_reduce_max(count_max, "the model check at start");
  if (count_max[0].item<int64_t>() != count[0].item<int64_t>())
    runtime_error(
        "distributed: rank {} has {} model tensors but another rank has {}: every rank must "
        "train the same model with the same recipe",
        g.rank(), tensors.size(), count_max[0].item<int64_t>() - 1);
  const std::vector<torch::Tensor> all = g.all_gather(local, "the model check at start");
  const int64_t* ref = all[0].data_ptr<int64_t>();
  for (size_t i = 0; i < tensors.size(); ++i) {
    std::vector<int> differ;
    for (int r = 1; r < g.size(); ++r)
      if (all[r].data_ptr<int64_t>()[i] != ref[i]) differ.push_back(r);
    if (!differ.empty())
      runtime_error(
          "distributed: tensor '{}' differs between rank 0 and rank{} {} at the start: every "
          "rank must load the same weights and recipe (model.path, method, train.seed{})",
          tensors[i].first, differ.size() > 1 ? "s" : "", fmt::join(differ, ", "),
          g.rank() == 0 ? "" : "; this is rank " + std::to_string(g.rank()));
  }
}

void broadcast_from_rank0(DistGroup& g, NamedTensors& tensors) {
  std::vector<torch::Tensor> wire;
  for (auto& [_, t] : tensors) wire.push_back(t.detach().to(torch::kFloat32).contiguous());
  g.broadcast(wire, 0, "the broadcast of the trainable parameters from rank 0");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < tensors.size(); ++i) tensors[i].second.copy_(wire[i]);
}

}  // namespace ptune
