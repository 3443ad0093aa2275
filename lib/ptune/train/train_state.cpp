// Training-state archive and checkpoint discovery.
#include "ptune/train/train_state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/serialize.h>

#include <algorithm>
#include <filesystem>
#include <regex>

#include "ptune/core/error.h"

namespace fs = std::filesystem;

namespace ptune {

void save_train_state(const std::string& path, const TrainState& s, torch::optim::Optimizer& opt) {
  torch::serialize::OutputArchive a;
  torch::serialize::OutputArchive opt_archive;
  opt.save(opt_archive);
  a.write("optimizer", opt_archive);
  a.write("step", torch::tensor(s.step, torch::kInt64));
  a.write("data_epoch", torch::tensor(s.data.epoch, torch::kInt64));
  a.write("data_cursor", torch::tensor(s.data.cursor, torch::kInt64));
  a.write("tokens_seen", torch::tensor(s.tokens_seen, torch::kInt64));
  a.write("extra", torch::tensor(s.extra.empty() ? std::vector<double>{0.0} : s.extra,
                                 torch::kFloat64));
  a.write("extra_len", torch::tensor(static_cast<int64_t>(s.extra.size()), torch::kInt64));
  a.write("rng", at::detail::getDefaultCPUGenerator().get_state());
  a.save_to(path);
}

TrainState load_train_state(const std::string& path, torch::optim::Optimizer& opt) {
  if (!fs::exists(path)) runtime_error("resume: '{}' is missing; the checkpoint is incomplete", path);
  TrainState s;
  try {
    torch::serialize::InputArchive a;
    a.load_from(path);
    torch::serialize::InputArchive opt_archive;
    a.read("optimizer", opt_archive);
    opt.load(opt_archive);
    torch::Tensor t;
    a.read("step", t);
    s.step = t.item<int64_t>();
    a.read("data_epoch", t);
    s.data.epoch = t.item<int64_t>();
    a.read("data_cursor", t);
    s.data.cursor = t.item<int64_t>();
    a.read("tokens_seen", t);
    s.tokens_seen = t.item<int64_t>();
    torch::Tensor extra, n;
    a.read("extra", extra);
    a.read("extra_len", n);
    for (int64_t i = 0; i < n.item<int64_t>(); ++i) s.extra.push_back(extra[i].item<double>());
    a.read("rng", t);
    at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle to the global one
    gen.set_state(t);
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
