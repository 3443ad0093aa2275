// Training-state archive and checkpoint discovery.
#include "ptune/train/train_state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>
#include <torch/version.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "ptune/core/error.h"

namespace fs = std::filesystem;

namespace ptune {

namespace {

// LibTorch keys an optimizer's saved per-parameter state by the parameter's address: written
// as a hex string up to 2.1, read back as a decimal integer from 2.2 on, so an archive from
// one side of 2.2 loads wrongly on the other (every state on one key). Archives record the
// LibTorch that wrote them; one without the record was written by 1.13.
constexpr int64_t kTorchVersion = TORCH_VERSION_MAJOR * 100 + TORCH_VERSION_MINOR;
bool hex_state_keys(int64_t version) {
  return version < 202;
}

std::string version_name(int64_t v) {
  return std::to_string(v / 100) + "." + std::to_string(v % 100);
}

}  // namespace

void save_train_state(const std::string& path, const TrainState& s, torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive a;
  torch::serialize::OutputArchive opt_archive;
  opt.save(opt_archive);
  a.write("optimizer", opt_archive);
  a.write("step", torch::tensor(s.step, torch::kInt64));
  a.write("data_epoch", torch::tensor(s.data.epoch, torch::kInt64));
  a.write("data_cursor", torch::tensor(s.data.cursor, torch::kInt64));
  a.write("tokens_seen", torch::tensor(s.tokens_seen, torch::kInt64));
  a.write("extra",
          torch::tensor(s.extra.empty() ? std::vector<double>{0.0} : s.extra, torch::kFloat64));
  a.write("extra_len", torch::tensor(static_cast<int64_t>(s.extra.size()), torch::kInt64));
  PTUNE_CHECK(s.rng.defined(), "save_train_state: no RNG state");
  a.write("rng", s.rng);
  a.write("world_size", torch::tensor(s.world_size, torch::kInt64));
  if (!s.rank_rng.empty()) a.write("rank_rng", torch::stack(s.rank_rng));
  a.write("libtorch_version", torch::tensor(kTorchVersion, torch::kInt64));
  a.save_to(path);
}

TrainState load_train_state(const std::string& path, torch::optim::Optimizer& opt) {
  if (!fs::exists(path))
    runtime_error("resume: '{}' is missing; the checkpoint is incomplete", path);
  TrainState s;
  try {
    torch::serialize::InputArchive a;
    a.load_from(path);
    torch::Tensor written_by;
    const int64_t version =
        a.try_read("libtorch_version", written_by) ? written_by.item<int64_t>() : 113;
    if (hex_state_keys(version) != hex_state_keys(kTorchVersion))
      runtime_error(
          "resume: '{}' was written with LibTorch {}, this ptune is built with {}: their "
          "optimizer states are keyed differently (LibTorch 2.2 changed it), so it cannot "
          "be resumed exactly; resume with a ptune built like the one that wrote it, or "
          "start a new run from the checkpoint's weights",
          path, version_name(version), version_name(kTorchVersion));
    torch::serialize::InputArchive opt_archive;
    a.read("optimizer", opt_archive);
    opt.load(opt_archive);
    // InputArchive::read set_()s into a defined tensor: read each value into a fresh one.
    auto read_int = [&](const char* key) {
      torch::Tensor t;
      a.read(key, t);
      return t.item<int64_t>();
    };
    s.step = read_int("step");
    s.data.epoch = read_int("data_epoch");
    s.data.cursor = read_int("data_cursor");
    s.tokens_seen = read_int("tokens_seen");
    const int64_t n_extra = read_int("extra_len");
    torch::Tensor extra;
    a.read("extra", extra);
    for (int64_t i = 0; i < n_extra; ++i) s.extra.push_back(extra[i].item<double>());
    a.read("rng", s.rng);
    torch::Tensor world, ranks;
    if (a.try_read("world_size", world)) s.world_size = world.item<int64_t>();
    if (a.try_read("rank_rng", ranks))
      for (int64_t i = 0; i < ranks.size(0); ++i) s.rank_rng.push_back(ranks[i].clone());
  } catch (const c10::Error& e) {
    runtime_error("resume: cannot read training state '{}': {}", path, e.what_without_backtrace());
  }
  return s;
}

std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  if (!fs::is_directory(run_dir)) return out;
  static const std::regex re("checkpoint-([0-9]+)");
  for (const auto& e : fs::directory_iterator(run_dir)) {
    std::smatch m;
    const std::string name = e.path().filename().string();
    if (e.is_directory() && std::regex_match(name, m, re))
      out.emplace_back(std::stoll(m[1].str()), e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace ptune
