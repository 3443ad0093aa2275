// Reading, checking and merging PEFT LoRA adapters (see lora_file.h). Target matching
// follows PEFT's check_target_module_exists: a list matches module paths equal to or
// ending in ".<name>", a string is a full-match regex, "all-linear" is every projection
// but the output layer.
#include "ptune/peft/lora_file.h"

#include <torch/torch.h>

#include <filesystem>
#include <regex>

#include "ptune/core/error.h"
#include "ptune/core/text.h"
#include "ptune/io/checkpoint.h"
#include "ptune/peft/lora.h"
#include "ptune/peft/lora_targets.h"

namespace fs = std::filesystem;

namespace ptune {

namespace {

void erase_all(std::string& s, const std::string& what, const std::string& with) {
  for (size_t i = s.find(what); i != std::string::npos; i = s.find(what, i))
    s.replace(i, what.size(), with);
}

bool is_projection(const std::string& name) {
  for (const char* n :
       {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"})
    if (name == n) return true;
  return false;
}

// Whether PEFT would put LoRA on module `path` under config `c`.
bool selected(const AdapterFileConfig& c, const std::string& path) {
  return LoraTargets{c.target_modules, c.target_regex, c.layers_to_transform}.matches(path);
}

std::string shape_str(const torch::Tensor& t) {
  return c10::str(t.sizes());
}
std::string shape_str(const std::vector<int64_t>& s) {
  return c10::str(c10::IntArrayRef(s));
}

}  // namespace

double LoraAdapter::scale() const {
  return lora_scale(config.lora_alpha, config.r, config.use_rslora);
}

LoraAdapter read_lora_adapter(const std::string& dir) {
  LoraAdapter a;
  a.dir = dir;
  a.config = read_adapter_config(dir);
  const auto& c = a.config;
  const std::string cfg_path = dir + "/" + kAdapterConfigFile;
  if (c.peft_type != "LORA")
    usage_error("{}: peft_type is '{}'; expected a LORA adapter", cfg_path, c.peft_type);
  if (c.use_dora)
    usage_error("{}: use_dora is set; DoRA adapters cannot be applied by ptune", cfg_path);
  if (c.fan_in_fan_out)
    usage_error("{}: fan_in_fan_out is true (Conv1D-style weights); LLaMA projections need false",
                cfg_path);
  if (c.bias != "none")
    usage_error("{}: bias is '{}'; ptune applies LoRA adapters with bias 'none' only", cfg_path,
                c.bias);
  if (!c.unsupported.empty())
    usage_error("{}: {} is set; ptune does not support it", cfg_path, c.unsupported);
  if (c.r <= 0) usage_error("{}: r must be > 0, got {}", cfg_path, c.r);
  if (c.target_modules.empty() && c.target_regex.empty())
    usage_error("{}: target_modules is empty", cfg_path);

  const std::string file = dir + "/" + kAdapterWeightsFile;
  if (!fs::exists(file)) usage_error("{}: no {}", dir, kAdapterWeightsFile);
  auto st = SafetensorsFile::open(file);  // Runtime error for a corrupt file
  for (const auto& info : st->tensors()) {
    const std::string& key = info.name;
    if (key.rfind(kPeftPrefix, 0) != 0)
      usage_error("{}: adapter key '{}' does not start with '{}' (not a PEFT LoRA key)", file, key,
                  kPeftPrefix);
    std::string name = key.substr(kPeftPrefix.size());
    erase_all(name, ".default.", ".");
    erase_all(name, ".modules_to_save.", ".");
    if (ends_with(name, ".lora_A.weight")) {
      auto& p = a.modules[name.substr(0, name.size() - 14)];
      p.key_A = key;
      p.A = st->tensor(key);
    } else if (ends_with(name, ".lora_B.weight")) {
      auto& p = a.modules[name.substr(0, name.size() - 14)];
      p.key_B = key;
      p.B = st->tensor(key);
    } else if (ends_with(name, ".weight") && name.find("lora_") == std::string::npos) {
      a.saved[name] = {key, st->tensor(key)};
    } else {
      usage_error(
          "{}: adapter key '{}' is not a LoRA key (expected <module>.lora_A.weight, "
          "<module>.lora_B.weight or a modules_to_save weight)",
          file, key);
    }
  }
  if (a.modules.empty()) usage_error("{}: holds no lora_A/lora_B tensors", file);
  return a;
}

void check_lora_adapter(const LoraAdapter& a,
                        const std::map<std::string, std::vector<int64_t>>& base,
                        const std::string& base_desc) {
  const int64_t r = a.config.r;
  for (const auto& [path, p] : a.modules) {
    const std::string some_key = p.A.defined() ? p.key_A : p.key_B;
    auto it = base.find(path + ".weight");
    if (it == base.end())
      usage_error("adapter key '{}' names module '{}', which {} does not have", some_key, path,
                  base_desc);
    if (!p.A.defined())
      usage_error("adapter is missing key '{}' ('{}' is present)",
                  kPeftPrefix + path + ".lora_A.weight", p.key_B);
    if (!p.B.defined())
      usage_error("adapter is missing key '{}' ('{}' is present)",
                  kPeftPrefix + path + ".lora_B.weight", p.key_A);
    const auto& w = it->second;  // (out, in)
    const std::string name = module_name(path);
    if (p.A.dim() != 2 || p.A.size(1) != w[1])
      usage_error("adapter key '{}' has shape {}; the base {} expects [r, {}]", p.key_A,
                  shape_str(p.A), name, w[1]);
    if (p.B.dim() != 2 || p.B.size(0) != w[0])
      usage_error("adapter key '{}' has shape {}; the base {} expects [{}, r]", p.key_B,
                  shape_str(p.B), name, w[0]);
    if (p.A.size(0) != r || p.B.size(1) != r)
      usage_error("adapter keys '{}' {} and '{}' {} do not have rank r = {} (adapter_config.json)",
                  p.key_A, shape_str(p.A), p.key_B, shape_str(p.B), r);
  }
  for (const auto& [name, s] : a.saved) {
    auto it = base.find(name);
    if (it == base.end())
      usage_error("adapter key '{}' names '{}', which {} does not have", s.first, name, base_desc);
    if (s.second.sizes().vec() != it->second)
      usage_error("adapter key '{}' has shape {}; the base {} is {}", s.first, shape_str(s.second),
                  name, shape_str(it->second));
  }
  for (const auto& [name, shape] : base) {
    if (!ends_with(name, ".weight") || shape.size() != 2) continue;
    const std::string path = name.substr(0, name.size() - 7);
    if (!is_projection(module_name(path)) || !selected(a.config, path) || a.modules.count(path))
      continue;
    usage_error("adapter is missing key '{}' (target_modules selects {} of {})",
                kPeftPrefix + path + ".lora_A.weight", path, base_desc);
  }
}

void merge_lora(const MergeLoraOptions& o) {
  for (const auto* in : {&o.base, &o.adapter})
    if (fs::exists(o.out) && fs::exists(*in) && fs::equivalent(o.out, *in))
      usage_error("merge-lora: --out '{}' is the input '{}'; choose a new directory", o.out, *in);
  const torch::ScalarType dt = o.dtype ? scalar_type(*o.dtype) : torch::kFloat;
  if (!fs::is_directory(o.base)) usage_error("merge-lora: --base '{}' is not a directory", o.base);
  const ModelConfig cfg = read_checkpoint_config(o.base);
  const CheckpointWeights w = CheckpointWeights::open(o.base);
  const LoraAdapter a = read_lora_adapter(o.adapter);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& k : w.keys()) shapes[k] = w.info(k).shape;
  check_lora_adapter(a, shapes, fmt::format("the base '{}'", o.base));

  const double scale = a.scale();
  NamedTensors merged;
  for (const auto& key : w.keys()) {
    torch::Tensor t = w.get(key);
    const auto out_dtype = o.dtype ? dt : t.scalar_type();
    auto m =
        ends_with(key, ".weight") ? a.modules.find(key.substr(0, key.size() - 7)) : a.modules.end();
    auto s = a.saved.find(key);
    if (m != a.modules.end())
      t = t.to(torch::kFloat) + lora_delta(m->second.A, m->second.B, scale);
    else if (s != a.saved.end())
      t = s->second.second;
    merged.emplace_back(key, t.to(out_dtype));
  }
  // The adapter's tokenizer files when it has them (a run that trained new tokens), else the
  // base's.
  FileCopies tok = tokenizer_files_in(o.adapter);
  if (tok.empty()) tok = tokenizer_files_in(o.base);
  save_checkpoint_dir(o.out, cfg, merged, tok);
}

}  // namespace ptune
