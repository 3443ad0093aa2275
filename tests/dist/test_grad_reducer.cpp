// The gradient all-reduce and the replica check, with two ranks as two threads of this
// process (each its own DistGroup over 127.0.0.1).
#include "ptune/dist/grad_reducer.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "ptune/core/error.h"
#include "ptune/data/batch.h"
#include "ptune/dist/launch_env.h"
#include "ptune/dist/launcher.h"
#include "ptune/dist/process_group.h"
#include "ptune/dist/replicas.h"

using namespace ptune;

namespace {

LaunchEnv env_of(int rank, int port) {
  LaunchEnv e;
  e.rank = rank;
  e.world_size = 2;
  e.local_rank = rank;
  e.local_world_size = 2;
  e.master_addr = "127.0.0.1";
  e.master_port = port;
  return e;
}

// Runs body(rank, group) on two ranks at once; returns what each threw ("" = nothing).
std::vector<std::string> on_two_ranks(const std::function<void(int, DistGroup&)>& body) {
  const int port = free_local_port();
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank)
    threads.emplace_back([&, rank] {
      try {
        auto g = DistGroup::connect(env_of(rank, port), DistBackend::kGloo, torch::kCPU, 20);
        body(rank, *g);
      } catch (const std::exception& e) {
        errors[rank] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

// Gradients of three parameters on one rank: `w` from every input, `b` only on rank 0,
// `unused` never. Buckets go last parameter first: b, w, then unused.
struct Params {
  torch::Tensor w = torch::arange(12, torch::kFloat32).reshape({3, 4}).div(10).requires_grad_();
  torch::Tensor b = torch::ones({3}).requires_grad_();
  torch::Tensor unused = torch::zeros({2}).requires_grad_();
  std::vector<torch::Tensor> list() { return {unused, w, b}; }
};

torch::Tensor input_of(int rank, int micro) {
  return torch::arange(8, torch::kFloat32).reshape({2, 4}).add(rank * 3 + micro).sin();
}

void backward(Params& p, int rank, int micro) {
  torch::Tensor y = torch::matmul(input_of(rank, micro), p.w.t());
  if (rank == 0) y = y + p.b;
  y.pow(2).sum().backward();
}

}  // namespace

// With overlap and without, over 2 micro-batches and buckets of a few elements (one bucket per
// parameter): every rank ends with the sum of both ranks' accumulated gradients, and with
// overlap the buckets whose gradients are all in go out during the backward.
TEST(GradReducer, SumsAccumulatedGradientsOverRanks) {
  for (bool overlap : {true, false}) {
    // Expected: both ranks' gradients computed here, in one process.
    torch::Tensor want_w = torch::zeros({3, 4}), want_b = torch::zeros({3});
    for (int rank = 0; rank < 2; ++rank) {
      Params p;
      for (int micro = 0; micro < 2; ++micro) backward(p, rank, micro);
      want_w += p.w.grad();
      if (rank == 0) want_b += p.b.grad();
    }
    std::vector<Params> got(2);
    const auto errors = on_two_ranks([&](int rank, DistGroup& g) {
      Params& p = got[rank];
      GradReducer reducer(g, p.list(), /*bucket_mb=*/1e-5, overlap);
      EXPECT_EQ(reducer.buckets(), 3);
      EXPECT_EQ(reducer.bytes_per_step(), (12 + 3 + 2 + 3) * 4);
      backward(p, rank, 0);
      reducer.arm();  // the last micro-batch
      backward(p, rank, 1);
      reducer.finish(1);
      // Rank 0's backward finishes b's and w's buckets; rank 1 has no b: its buckets wait.
      EXPECT_EQ(reducer.started_in_backward(), overlap && rank == 0 ? 2 : 0) << rank;
    });
    ASSERT_EQ(errors, std::vector<std::string>(2)) << "overlap " << overlap;
    for (int rank = 0; rank < 2; ++rank) {
      EXPECT_TRUE(torch::allclose(got[rank].w.grad(), want_w, 1e-6, 1e-6)) << rank << overlap;
      ASSERT_TRUE(got[rank].b.grad().defined()) << "rank 1 gets rank 0's gradient of b";
      EXPECT_TRUE(torch::allclose(got[rank].b.grad(), want_b, 1e-6, 1e-6)) << rank << overlap;
      EXPECT_FALSE(got[rank].unused.grad().defined()) << "no rank had one: it keeps none";
    }
  }
}

TEST(Replicas, ADifferentTensorIsNamedOnEveryRank) {
  const auto errors = on_two_ranks([](int rank, DistGroup& g) {
    NamedTensors t{{"same", torch::ones({4})}, {"layer.1.w", torch::full({2, 2}, 1.0 + rank)}};
    check_replicas(g, t);
  });
  for (int rank = 0; rank < 2; ++rank)
    EXPECT_NE(errors[rank].find("tensor 'layer.1.w' differs between rank 0 and rank 1"),
              std::string::npos)
        << errors[rank];
}

TEST(Replicas, BroadcastGivesRankZerosValues) {
  std::vector<torch::Tensor> got(2);
  const auto errors = on_two_ranks([&](int rank, DistGroup& g) {
    NamedTensors t{{"w", torch::full({3}, 1.0 + rank)}};
    broadcast_from_rank0(g, t);
    check_replicas(g, t);
    got[rank] = t[0].second;
  });
  ASSERT_EQ(errors, std::vector<std::string>(2));
  EXPECT_TRUE(torch::equal(got[1], torch::ones({3})));
}

TEST(Replicas, FingerprintSeesOneBit) {
  torch::Tensor a = torch::randn({1000, 1000});
  torch::Tensor b = a.clone();
  EXPECT_EQ(fingerprint(a), fingerprint(b));
  b.view(torch::kInt32)[999][999].add_(1);  // the last mantissa bit of the last element
  EXPECT_NE(fingerprint(a), fingerprint(b));
  EXPECT_NE(fingerprint(a), fingerprint(a.reshape({1000000})));  // the shape counts
}

TEST(BatchRows, ShardsCoverTheBatchAndKeepTheirCounts) {
  using Rows = std::pair<int64_t, int64_t>;
  EXPECT_EQ(shard_rows(5, 0, 2), Rows(0, 2));
  EXPECT_EQ(shard_rows(5, 1, 2), Rows(2, 5));
  EXPECT_EQ(shard_rows(1, 0, 2), Rows(0, 0));
  Example a{{1, 2, 3}, {2, 3, kIgnoreIndex}}, b{{4, 5}, {5, 6}}, c{{7}, {kIgnoreIndex}};
  const Batch all = collate({&a, &b, &c}, 0);
  const Batch tail = batch_rows(all, 1, 3);
  EXPECT_EQ(tail.input_ids.size(0), 2);
  EXPECT_EQ(tail.n_targets, 2);
  EXPECT_EQ(tail.n_tokens, 3);
  EXPECT_EQ(batch_rows(all, 0, 1).n_targets + tail.n_targets, all.n_targets);
}

TEST(LaunchEnv, ReadsTorchrunsVariablesAndNamesABadOne) {
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "3", 1);
  setenv("LOCAL_WORLD_SIZE", "2", 1);
  setenv("LOCAL_RANK", "1", 1);
  setenv("MASTER_ADDR", "node0", 1);
  setenv("MASTER_PORT", "29511", 1);
  setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  LaunchEnv e = launch_env();
  EXPECT_EQ(e.rank, 3);
  EXPECT_EQ(e.world_size, 4);
  EXPECT_EQ(e.local_rank, 1);
  EXPECT_EQ(e.local_world_size, 2);
  EXPECT_EQ(e.master_addr, "node0");
  EXPECT_EQ(e.master_port, 29511);
  EXPECT_TRUE(e.agent_store);
  setenv("MASTER_PORT", "70000", 1);
  try {
    launch_env();
    ADD_FAILURE() << "MASTER_PORT=70000 accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.exit_code(), 2);
    EXPECT_NE(std::string(err.what()).find("MASTER_PORT='70000'"), std::string::npos) << err.what();
  }
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                        "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE"})
    unsetenv(v);
  EXPECT_FALSE(launch_env().distributed());
}
