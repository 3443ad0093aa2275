// Data-parallel training over c10d/Gloo on 127.0.0.1: `ptune train --nproc N` and torchrun
// launch the same run; 2 workers match 1 worker with the same global batch; a killed worker
// stops its peers within the timeout and --resume continues exactly; ranks that disagree on
// the model, a port in use and an unreachable master are clear errors.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "ptune/dist/launcher.h"
#include "ptune/io/safetensors.h"
#include "tiny_run.h"

using namespace ptune;
using namespace ptune::test;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The tiny recipe with a distributed timeout the fault tests can wait out.
std::string dist_recipe(const TempDir& t, const std::string& run, int steps = 12,
                        const std::string& extra = "") {
  std::string yaml = tiny_recipe(t / run, steps, extra);
  const std::string train = "\ntrain: {";
  yaml.replace(yaml.find(train), train.size(), "\ntrain: {distributed: {timeout_s: 20}, ");
  return yaml;
}

RunResult train(const TempDir& t, const std::string& yaml_name, const std::string& flags = "") {
  return run_ptune("train --config " + (t / yaml_name) + " " + flags);
}

// Loss at every logged step, by step.
std::map<int64_t, double> losses(const std::string& run_dir, const char* key = "loss") {
  std::map<int64_t, double> out;
  for (const auto& rec : read_metrics(run_dir + "/metrics.jsonl"))
    if (rec.contains(key)) out[rec["step"].get<int64_t>()] = rec[key].get<double>();
  return out;
}

// Every logged `key` of run b within `rel` of run a's; returns the largest relative difference.
double expect_same_losses(const std::string& a, const std::string& b, double rel,
                          const char* key = "loss") {
  const auto la = losses(a, key), lb = losses(b, key);
  EXPECT_FALSE(la.empty()) << a;
  EXPECT_EQ(la.size(), lb.size()) << a << " vs " << b << " (" << key << ")";
  double worst = 0;
  for (const auto& [step, loss] : la) {
    if (!lb.count(step)) {
      ADD_FAILURE() << key << " at step " << step << " is missing from " << b;
      continue;
    }
    worst = std::max(worst, std::abs(loss - lb.at(step)) / std::abs(loss));
    EXPECT_LE(std::abs(loss - lb.at(step)), rel * std::abs(loss))
        << key << " at step " << step << ": " << loss << " vs " << lb.at(step);
  }
  return worst;
}

// Largest relative difference ||a - b|| / ||b|| over the tensors of two safetensors files.
double weights_rel_diff(const std::string& a, const std::string& b) {
  auto fa = SafetensorsFile::open(a), fb = SafetensorsFile::open(b);
  EXPECT_EQ(fa->tensors().size(), fb->tensors().size());
  double worst = 0;
  for (const auto& info : fa->tensors()) {
    const torch::Tensor x = fa->tensor(info.name).to(torch::kFloat64);
    const torch::Tensor y = fb->tensor(info.name).to(torch::kFloat64);
    worst =
        std::max(worst, (x - y).norm().item<double>() / std::max(1e-30, y.norm().item<double>()));
  }
  return worst;
}

// One process and two with the same global batch: fp32 losses and weights agree to 1e-5
// relative. Not bit-exact: each rank sums its rows' loss and gradients in its own order, and
// the all-reduce adds the two halves, where one process sums all rows at once. Weights are
// compared by each tensor's relative L2 difference: AdamW divides by sqrt(v), so a rounding
// difference in a near-zero gradient can move a single element by up to lr.
// The tiny recipe (plus `extra` YAML and `flags`) trained by 1 process into t/one and by
// --nproc 2 into t/two; returns the second run's output.
RunResult train_one_and_two(const TempDir& t, const std::string& extra,
                            const std::string& flags = "") {
  write_text(t / "one.yaml", dist_recipe(t, "one", 12, extra));
  write_text(t / "two.yaml", dist_recipe(t, "two", 12, extra));
  auto one = train(t, "one.yaml", flags);
  EXPECT_EQ(one.exit_code, 0) << one.err;
  auto two = train(t, "two.yaml", flags + " --nproc 2");
  EXPECT_EQ(two.exit_code, 0) << two.err;
  return two;
}

void one_vs_two(const std::string& extra, const std::string& weights_file) {
  TempDir t;
  const RunResult two = train_one_and_two(t, extra);
  ASSERT_EQ(two.exit_code, 0);
  EXPECT_TRUE(contains(two.err, "distributed: 2 processes")) << two.err;
  const double loss = expect_same_losses(t / "one", t / "two", 1e-5);
  const double eval = expect_same_losses(t / "one", t / "two", 1e-5, "eval_loss");
  const double weights =
      weights_rel_diff(t / ("one/final/" + weights_file), t / ("two/final/" + weights_file));
  EXPECT_LE(weights, 1e-5);
  std::printf("[ measured ] 1 vs 2 workers: loss %.1e, eval loss %.1e, weights %.1e (relative)\n",
              loss, eval, weights);
  // One writer: one result line on stdout, rank 0's files only.
  EXPECT_EQ(std::count(two.out.begin(), two.out.end(), '\n'), 1) << two.out;
  EXPECT_EQ(read_metrics(t / "two/metrics.jsonl").size(),
            read_metrics(t / "one/metrics.jsonl").size());
  const auto rec = read_metrics(t / "two/metrics.jsonl").back();
  EXPECT_GT(rec.value("allreduce_mb", 0.0), 0.0) << rec.dump();
}

// Runs run.yaml in `t` with --nproc 2, sends `signal` to rank 1 (the launcher's second child)
// once `checkpoint` is written, and waits for the launcher. Returns its exit code, the
// milliseconds from the signal to its exit, and its stderr.
struct Interrupted {
  int rc = -1, ms = -1;
  std::string err;
};
Interrupted signal_rank1_after(const TempDir& t, const std::string& checkpoint,
                               const std::string& signal) {
  write_text(t / "signal.sh", "cd '" + t.path() + "'\n" + PTUNE_BINARY +
                                  " train --config run.yaml --nproc 2 > out.txt 2> err.txt &\n"
                                  "L=$!; n=0\n"
                                  "while [ ! -d run/" +
                                  checkpoint +
                                  " ] && [ $n -lt 3000 ]; do sleep 0.01; n=$((n+1)); done\n"
                                  "kill -" +
                                  signal +
                                  " $(cut -d' ' -f2 /proc/$L/task/$L/children)\n"
                                  "s=$(date +%s%N); wait $L; rc=$?; e=$(date +%s%N)\n"
                                  "echo \"$rc $(( (e - s) / 1000000 ))\"\n");
  Interrupted out;
  const RunResult r = run_shell("bash " + (t / "signal.sh"));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::sscanf(r.out.c_str(), "%d %d", &out.rc, &out.ms), 2) << r.out;
  out.err = read_text(t / "err.txt");
  return out;
}

}  // namespace

TEST(Distributed, TwoWorkersMatchOneWorkerFullFineTune) {
  one_vs_two("", "model.safetensors");
}

TEST(Distributed, TwoWorkersMatchOneWorkerLora) {
  one_vs_two("method: {type: lora, lora: {r: 4, alpha: 8, targets: [q_proj, v_proj]}}",
             "adapter_model.safetensors");
}

TEST(Distributed, TwoWorkersMatchOneWorkerWithGradAccum) {
  TempDir t;
  // grad_accum 2 of global batches of 4: each rank runs 2 micro-batches of 2 rows per step.
  ASSERT_EQ(train_one_and_two(t, "", "--set train.grad_accum=2").exit_code, 0);
  expect_same_losses(t / "one", t / "two", 1e-5);
  EXPECT_LE(weights_rel_diff(t / "one/final/model.safetensors", t / "two/final/model.safetensors"),
            1e-5);
}

// fp16 with a loss scale that overflows at first: every rank sees the summed (inf) gradients,
// so all skip the same steps as one process does, and the scale moves the same way.
TEST(Distributed, Fp16OverflowSkipsTheSameStepsOnEveryRank) {
  TempDir t;
  const std::string fp16 =
      "precision: {dtype: fp16, loss_scale: {init: 1.0e+9, max_scale: 1.0e+9}}";
  ASSERT_EQ(train_one_and_two(t, fp16).exit_code, 0);
  const auto skipped = losses(t / "two", "skipped_steps");
  ASSERT_FALSE(skipped.empty());
  EXPECT_GT(skipped.rbegin()->second, 0) << "the first steps overflow";
  expect_same_losses(t / "one", t / "two", 0.0, "skipped_steps");
  expect_same_losses(t / "one", t / "two", 0.0, "loss_scale");
  expect_same_losses(t / "one", t / "two", 1e-5);
}

// torchrun (its --no_python launches the binary), on one node or as two nodes, and --nproc give
// the same processes the same environment: the runs are identical.
TEST(Distributed, TorchrunAndNprocGiveTheSameRun) {
  TempDir t;
  write_text(t / "a.yaml", dist_recipe(t, "a"));
  write_text(t / "b.yaml", dist_recipe(t, "b"));
  auto a = train(t, "a.yaml", "--nproc 2");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  // Debian's torchrun (torch 1.13 on Python 3.11) cannot parse its own default --redirects 0 and
  // --tee 0 (Python 3.11's IntFlag no longer lists 0): 2 (stderr) parses.
  const std::string torchrun =
      "/usr/bin/python3 -m torch.distributed.run --no_python "
      "--nproc_per_node 2 --master_port " +
      std::to_string(free_local_port()) + " --redirects 2 --tee 2 " + "--log_dir " + (t / "logs") +
      " " + PTUNE_BINARY + " train --config " + (t / "b.yaml");
  auto b = run_shell(torchrun);
  ASSERT_EQ(b.exit_code, 0) << b.err;
  expect_same_losses(t / "a", t / "b", 0.0);
  EXPECT_EQ(weights_rel_diff(t / "a/final/model.safetensors", t / "b/final/model.safetensors"),
            0.0);

  // Two "machines" of one process each (--nnodes 2, two torchrun agents on this host): the
  // same run again.
  write_text(t / "c.yaml", dist_recipe(t, "c"));
  const std::string nodes =
      "/usr/bin/python3 -m torch.distributed.run --no_python --nnodes 2 "
      "--nproc_per_node 1 --master_addr 127.0.0.1 --master_port " +
      std::to_string(free_local_port()) + " --redirects 2 --tee 2 ";
  const std::string worker = std::string(PTUNE_BINARY) + " train --config " + (t / "c.yaml");
  auto c = run_shell("(" + nodes + "--node_rank 1 --log_dir " + (t / "logs1") + " " + worker +
                     " > " + (t / "node1.txt") + " 2>&1; echo $? > " + (t / "node1.rc") + ") & " +
                     nodes + "--node_rank 0 --log_dir " + (t / "logs0") + " " + worker + "; wait");
  ASSERT_EQ(c.exit_code, 0) << c.err << read_text(t / "node1.txt");
  EXPECT_EQ(read_text(t / "node1.rc"), "0\n") << read_text(t / "node1.txt");
  EXPECT_TRUE(contains(c.err, "distributed: 2 processes (1 on this machine)")) << c.err;
  expect_same_losses(t / "a", t / "c", 0.0);
  EXPECT_EQ(weights_rel_diff(t / "a/final/model.safetensors", t / "c/final/model.safetensors"),
            0.0);
}

// kill -9 of one worker: the other stops within train.distributed.timeout_s, naming the rank
// that stopped answering, and the launcher exits with the killed worker's code. --resume then
// continues from the newest checkpoint and ends as the uninterrupted run does.
TEST(Distributed, KilledWorkerStopsThePeersAndResumeContinuesExactly) {
  TempDir t;
  const int steps = 48;
  write_text(t / "ref.yaml", dist_recipe(t, "ref", steps));
  write_text(t / "run.yaml", dist_recipe(t, "run", steps));
  auto ref = train(t, "ref.yaml", "--nproc 2");
  ASSERT_EQ(ref.exit_code, 0) << ref.err;

  const auto [rc, ms, err] = signal_rank1_after(t, "checkpoint-8", "9");
  EXPECT_EQ(rc, 128 + 9) << err;  // the first failure: the SIGKILLed worker
  EXPECT_LT(ms, 20000) << err;    // within train.distributed.timeout_s
  EXPECT_TRUE(contains(err, "worker rank 1")) << err;
  EXPECT_TRUE(contains(err, "rank 1 stopped answering")) << err;
  EXPECT_FALSE(exists(t / "run/final")) << err;

  auto resumed = train(t, "run.yaml", "--nproc 2 --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(contains(resumed.err, "resuming from")) << resumed.err;
  expect_same_losses(t / "ref", t / "run", 0.0);
  expect_same_losses(t / "ref", t / "run", 0.0, "eval_loss");
  EXPECT_EQ(weights_rel_diff(t / "ref/final/model.safetensors", t / "run/final/model.safetensors"),
            0.0);
}

// A worker that hangs (SIGSTOP): the other times out after train.distributed.timeout_s, names
// it, and the launcher ends the stopped one.
TEST(Distributed, HungWorkerIsNamedAfterTheTimeout) {
  TempDir t;
  std::string yaml = dist_recipe(t, "run", 400);
  yaml.replace(yaml.find("timeout_s: 20"), 13, "timeout_s: 3");
  write_text(t / "run.yaml", yaml);
  const auto [rc, ms, err] = signal_rank1_after(t, "checkpoint-4", "STOP");
  EXPECT_EQ(rc, 1) << err;  // the first failure: rank 0's error
  EXPECT_GE(ms, 2500) << err;
  EXPECT_LT(ms, 20000) << err;  // timeout 3 s, the report 2 s, the launcher's grace 6 s
  EXPECT_TRUE(contains(err, "rank 0 of 2")) << err;
  EXPECT_TRUE(contains(err, "rank 1 stopped answering")) << err;
  EXPECT_FALSE(exists(t / "run/final")) << err;
}

// Resuming on another number of processes continues the same batches: the data position is
// global.
TEST(Distributed, ResumeOnAnotherWorldSizeContinuesTheData) {
  TempDir t;
  write_text(t / "ref.yaml", dist_recipe(t, "ref"));
  write_text(t / "run.yaml", dist_recipe(t, "run"));
  auto ref = train(t, "ref.yaml");
  ASSERT_EQ(ref.exit_code, 0) << ref.err;
  auto first = train(t, "run.yaml", "--nproc 2 --stop-at 6");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto rest = train(t, "run.yaml", "--resume");
  ASSERT_EQ(rest.exit_code, 0) << rest.err;
  EXPECT_TRUE(contains(rest.err, "was saved by 2 processes, this run has 1")) << rest.err;
  expect_same_losses(t / "ref", t / "run", 1e-5);
}

// Two ranks started by hand with different seeds build different models: both stop at the
// start, naming a tensor.
TEST(Distributed, RanksWithDifferentParametersAreDetected) {
  TempDir t;
  write_text(t / "r.yaml", dist_recipe(t, "run"));
  const std::string env = "WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                          std::to_string(free_local_port());
  const std::string cmd = std::string(PTUNE_BINARY) + " train --config " + (t / "r.yaml");
  auto r = run_shell("(" + env + " RANK=1 LOCAL_RANK=1 " + cmd + " --set train.seed=2 2> " +
                     (t / "err1.txt") + "; echo rank1=$? > " + (t / "rc1.txt") + ") & " + env +
                     " RANK=0 LOCAL_RANK=0 " + cmd + " --set train.seed=1; echo rank0=$?; wait");
  const std::string err1 = read_text(t / "err1.txt");
  EXPECT_TRUE(contains(r.out, "rank0=1")) << r.out << r.err;
  EXPECT_TRUE(contains(read_text(t / "rc1.txt"), "rank1=1")) << err1;
  EXPECT_TRUE(contains(r.err, "differs between rank 0 and rank 1 at the start")) << r.err;
  EXPECT_TRUE(contains(err1, "differs between rank 0 and rank 1 at the start")) << err1;
  EXPECT_FALSE(exists(t / "run/final"));
}

TEST(Distributed, PortInUseAndUnreachableMasterAreClearErrors) {
  TempDir t;
  write_text(t / "r.yaml", dist_recipe(t, "run"));
  const std::string cmd = std::string(PTUNE_BINARY) + " train --config " + (t / "r.yaml") +
                          " --set train.distributed.timeout_s=2";
  // A listening socket holds the port (python3 is there for the parity tests).
  const int port = free_local_port();
  auto busy = run_shell(
      "/usr/bin/python3 -c 'import socket,subprocess,sys; s=socket.socket(); "
      "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"0.0.0.0\", " +
      std::to_string(port) +
      ")); s.listen(); sys.exit(subprocess.call(sys.argv[1], shell=True))' "
      "'RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
      std::to_string(port) + " " + cmd + "'");
  EXPECT_EQ(busy.exit_code, 1) << busy.err;
  EXPECT_TRUE(contains(busy.err,
                       "rank 0 cannot serve the rendezvous store on port " + std::to_string(port)))
      << busy.err;
  const auto t0 = std::chrono::steady_clock::now();
  auto lost = run_shell("RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" +
                        std::to_string(free_local_port()) + " " + cmd);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(lost.exit_code, 1) << lost.err;
  EXPECT_TRUE(contains(lost.err, "rank 1 cannot reach the rendezvous store at 127.0.0.1:"))
      << lost.err;
  EXPECT_LT(s, 30) << lost.err;
}

TEST(Distributed, LaunchMistakesAreUsageErrors) {
  TempDir t;
  write_text(t / "r.yaml", dist_recipe(t, "run"));
  auto small = train(t, "r.yaml", "--nproc 2 --set train.batch_size=1");
  EXPECT_EQ(small.exit_code, 2) << small.err;
  EXPECT_TRUE(contains(small.err, "train.batch_size is 1 but the run has 2 processes"))
      << small.err;
  auto twice =
      run_shell("RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=1 " +
                std::string(PTUNE_BINARY) + " train --config " + (t / "r.yaml") + " --nproc 2");
  EXPECT_EQ(twice.exit_code, 2) << twice.err;
  EXPECT_TRUE(contains(twice.err, "already rank 0 of 2")) << twice.err;
  auto bad = run_shell("RANK=2 WORLD_SIZE=2 " + std::string(PTUNE_BINARY) + " train --config " +
                       (t / "r.yaml"));
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_TRUE(contains(bad.err, "RANK='2' is not an integer in [0, 1]")) << bad.err;
}
