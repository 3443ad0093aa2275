// HF checkpoint directories: config.json + model.safetensors, or shards listed in
// model.safetensors.index.json {"weight_map": {tensor: file}} (as transformers and
// huggingface_hub write them). Writing goes through write_dir_atomic.
#include "ptune/io/checkpoint.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ptune/core/error.h"
#include "ptune/core/json.h"
#include "ptune/io/fs.h"
#include "ptune/io/hf_config.h"

namespace fs = std::filesystem;

namespace ptune {
namespace {

constexpr const char* kWeightsFile = "model.safetensors";
constexpr const char* kIndexFile = "model.safetensors.index.json";

// Old HF checkpoints store RoPE's inv_freq as a buffer; it is derived, never loaded.
bool is_derived(const std::string& key) {
  const std::string suffix = ".rotary_emb.inv_freq";
  return key.size() >= suffix.size() &&
         key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string dtype_config_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat:
      return "float32";
    case torch::kBFloat16:
      return "bfloat16";
    case torch::kHalf:
      return "float16";
    case torch::kDouble:
      return "float64";
    default:
      return "";
  }
}

}  // namespace

CheckpointWeights CheckpointWeights::open(const std::string& dir) {
  if (!fs::is_directory(dir))
    runtime_error("{}: no such directory; expected a checkpoint directory with config.json and {}",
                  dir, kWeightsFile);
  CheckpointWeights w;
  w.dir_ = dir;
  const std::string single = dir + "/" + kWeightsFile, index = dir + "/" + kIndexFile;
  if (fs::exists(single)) {
    w.files_.push_back(SafetensorsFile::open(single));
    for (const auto& info : w.files_[0]->tensors())
      if (!is_derived(info.name)) w.where_[info.name] = 0;
    return w;
  }
  if (!fs::exists(index)) runtime_error("{}: no {} or {}", dir, kWeightsFile, kIndexFile);

  nlohmann::json j;
  try {
    j = parse_json(read_file(index));
  } catch (const nlohmann::json::exception& e) {
    runtime_error("{}: not valid JSON: {}", index, e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    runtime_error("{}: expected an object with \"weight_map\": {{tensor name: shard file}}", index);
  std::map<std::string, size_t> shard_index;  // file name -> index in files_, each opened once
  for (const auto& [key, file] : j["weight_map"].items()) {
    if (!file.is_string())
      runtime_error("{}: weight_map[\"{}\"] must be a file name, got {}", index, key, file.dump());
    std::string name = file.get<std::string>();
    auto it = shard_index.find(name);
    if (it == shard_index.end()) {
      it = shard_index.emplace(name, w.files_.size()).first;
      w.files_.push_back(SafetensorsFile::open(dir + "/" + name));
    }
    if (!w.files_[it->second]->contains(key))
      runtime_error("{}: weight_map puts '{}' in {}, but that file has no such tensor", index, key,
                    name);
    if (!is_derived(key)) w.where_[key] = it->second;
  }
  return w;
}

std::vector<std::string> CheckpointWeights::keys() const {
  std::vector<std::string> out;
  for (const auto& [key, _] : where_) out.push_back(key);
  return out;
}

bool CheckpointWeights::contains(const std::string& key) const {
  return where_.count(key) > 0;
}

const std::string& CheckpointWeights::file_of(const std::string& key) const {
  auto it = where_.find(key);
  if (it == where_.end()) runtime_error("{}: checkpoint has no tensor '{}'", dir_, key);
  return files_[it->second]->path();
}

torch::Tensor CheckpointWeights::get(const std::string& key) const {
  file_of(key);  // throws when missing
  return files_[where_.at(key)]->tensor(key);
}

const TensorInfo& CheckpointWeights::info(const std::string& key) const {
  file_of(key);
  return files_[where_.at(key)]->info(key);
}

FileCopies tokenizer_files_in(const std::string& dir) {
  FileCopies out;
  std::error_code ec;
  for (const char* name :
       {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
        "generation_config.json", "chat_template.jinja"})
    if (std::filesystem::is_regular_file(dir + "/" + name, ec))
      out.emplace_back(dir + "/" + name, name);
  return out;
}

void copy_files_into(const std::string& dir, const FileCopies& files) {
  for (const auto& [src, name] : files) write_file_atomic(dir + "/" + name, read_file(src));
}

void write_model_files(const std::string& dir, const ModelConfig& config,
                       const NamedTensors& weights, const FileCopies& files) {
  ModelConfig c = config;
  for (const auto& [_, t] : weights) {  // config.json's torch_dtype says what the file holds
    std::string name = dtype_config_name(t.scalar_type());
    if (!name.empty()) {
      c.torch_dtype = name;
      break;
    }
  }
  write_hf_config(dir + "/config.json", c);
  save_safetensors(dir + "/" + kWeightsFile, weights);
  copy_files_into(dir, files);
}

void save_checkpoint_dir(const std::string& dir, const ModelConfig& config,
                         const NamedTensors& weights, const FileCopies& files) {
  write_dir_atomic(dir,
                   [&](const std::string& tmp) { write_model_files(tmp, config, weights, files); });
}

ModelConfig read_checkpoint_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  if (!fs::exists(path))
    runtime_error("{}: no config.json; expected a checkpoint directory with config.json and {}",
                  dir, kWeightsFile);
  return read_hf_config(path);
}

}  // namespace ptune
