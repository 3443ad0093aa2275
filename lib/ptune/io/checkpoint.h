// HF-layout checkpoint directories: config.json + model.safetensors (or sharded with
// model.safetensors.index.json) + tokenizer.model. A ptune checkpoint and an HF LLaMA
// checkpoint are interchangeable in both directions.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ptune/config/model_config.h"
#include "ptune/io/safetensors.h"

namespace ptune {

// The weights of a checkpoint dir, opened lazily: tensors are zero-copy views of the
// memory-mapped shard files. Keys are HF names ("model.layers.0.self_attn.q_proj.weight").
class CheckpointWeights {
 public:
  static CheckpointWeights open(const std::string& dir);  // single file or sharded index
  std::vector<std::string> keys() const;                  // sorted, skips rotary_emb.inv_freq
  bool contains(const std::string& key) const;
  torch::Tensor get(const std::string& key) const;  // Runtime error if missing
  const TensorInfo& info(const std::string& key) const;
  const std::string& file_of(const std::string& key) const;  // the shard holding `key`
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // key -> index in files_
};

// Files copied into a checkpoint dir: (source path, file name there), e.g. the tokenizer's.
using FileCopies = std::vector<std::pair<std::string, std::string>>;

// The tokenizer files of a model dir (tokenizer.json, tokenizer.model, tokenizer_config.json,
// special_tokens_map.json, generation_config.json, chat_template.jinja) that exist.
FileCopies tokenizer_files_in(const std::string& dir);

// Writes config.json + model.safetensors (+ copies of `files`) into an existing directory that
// is being built (the temporary of write_dir_atomic). Callers add their own files (training
// state) beside.
void write_model_files(const std::string& dir, const ModelConfig& config,
                       const NamedTensors& weights, const FileCopies& files = {});
void copy_files_into(const std::string& dir, const FileCopies& files);

// write_dir_atomic + write_model_files.
void save_checkpoint_dir(const std::string& dir, const ModelConfig& config,
                         const NamedTensors& weights, const FileCopies& files = {});

// Reads config.json of a checkpoint dir.
ModelConfig read_checkpoint_config(const std::string& dir);

}  // namespace ptune
