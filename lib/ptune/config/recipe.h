// A training recipe: plain structs, filled once from YAML by recipe_loader and validated
// there (unknown keys, wrong types, out-of-range values all reported together with YAML path
// and line). Modules never see YAML. Key paths match the README's recipe reference.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ptune/config/model_config.h"

namespace ptune {

struct DataSource {
  std::string path;             // file or "-" (stdin); empty = none
  std::string format = "text";  // text | instruct | tokens
  // instruct only: JSONL field names and the prompt template ({prompt} is replaced).
  std::string prompt_field = "prompt";
  std::string response_field = "response";
  std::string template_ = "{prompt}\n";  // YAML key: template
};

struct DataConfig {
  DataSource train;
  DataSource eval;        // optional: path empty = no eval
  int64_t seq_len = 256;  // tokens per training sequence
  bool add_bos = true;    // BOS at the start of each document/example
  bool shuffle = true;
};

struct LoraConfig {
  int64_t r = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  std::vector<std::string> targets = {"q_proj", "v_proj"};  // or {"all-linear"}
  bool rslora = false;                       // scale alpha/sqrt(r) instead of alpha/r
  std::string init = "kaiming";              // kaiming | gaussian
  std::vector<int64_t> layers;               // empty = all layers
  std::vector<std::string> modules_to_save;  // e.g. {"lm_head"}
  std::string base_dtype = "fp32";           // fp32 | bf16: storage of the frozen base projections
};

struct AdapterConfig {
  int64_t bottleneck = 64;
  std::vector<std::string> placement = {"attn", "mlp"};  // attn | mlp
  std::string activation = "silu";                       // silu | relu | gelu | tanh
  double dropout = 0.0;
};

struct PrefixConfig {
  int64_t virtual_tokens = 16;
  bool projection = true;
  int64_t projection_hidden = 256;
};

struct MethodConfig {
  std::string type = "full";  // full | lora | adapter | prefix
  LoraConfig lora;
  AdapterConfig adapter;
  PrefixConfig prefix;
};

struct MtpConfig {
  std::string style = "none";  // none | parallel | sequential
  int64_t heads = 3;
  double loss_weight = 0.3;
  double head_decay = 0.8;
  bool train_base = true;
};

struct LossScaleConfig {
  bool dynamic = true;
  double init = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  int64_t hysteresis = 1;
  double min_scale = 1.0;
  double max_scale = 16777216.0;
};

struct PrecisionConfig {
  // auto | fp32 | bf16 | fp16. auto: bf16 where the device computes it natively (a CPU with
  // AVX512_BF16 or AMX-BF16; CUDA), else fp32; resolved when the recipe loads. The default
  // stays fp32 so that a recipe without the key trains the same numbers on every machine.
  std::string dtype = "fp32";
  bool dtype_was_auto = false;  // dtype was resolved from auto (not a recipe key)
  LossScaleConfig loss_scale;
};

struct OptimConfig {
  double lr = 3e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.95;  // YAML: betas: [0.9, 0.95]
  double eps = 1e-8;
  double grad_clip = 1.0;  // 0 = off
  bool decay_norms_and_embeddings = false;
};

struct ScheduleConfig {
  std::string kind = "cosine";  // cosine | linear | constant
  int64_t warmup_steps = 10;
  double min_lr_ratio = 0.1;
};

struct TrainConfig {
  int64_t steps = 200;
  int64_t batch_size = 8;
  int64_t grad_accum = 1;
  int64_t eval_every = 50;   // 0 = only at the end
  int64_t eval_batches = 0;  // 0 = whole eval set
  int64_t save_every = 100;  // 0 = only final
  int64_t keep_last = 2;
  int64_t log_every = 10;
  uint64_t seed = 0;
  int64_t threads = 0;         // 0 = all cores
  std::string device = "cpu";  // cpu | cuda | auto
};

struct OutputConfig {
  std::string dir = "out/run";
  std::string export_ = "";  // YAML key: export. merged | adapter | both; "" = by method
  std::string dtype = "";    // dtype of exported weights; "" = fp32 / as trained
};

struct ModelSource {
  std::string path;  // HF-layout checkpoint dir; empty = from arch
  ModelConfig arch;  // used when path is empty
  bool has_arch = false;
};

struct TokenizerConfig {
  std::string path;           // SentencePiece .model
  int64_t vocab_size = 4096;  // when the tokenizer is trained first (quickstart)
  std::string train_from;     // corpus to train it from if `path` is missing
};

struct Recipe {
  ModelSource model;
  TokenizerConfig tokenizer;
  DataConfig data;
  MethodConfig method;
  MtpConfig mtp;
  PrecisionConfig precision;
  OptimConfig optim;
  ScheduleConfig schedule;
  TrainConfig train;
  OutputConfig output;
  std::string source;  // recipe file path, for messages
};

}  // namespace ptune
