// A training recipe: plain structs, filled once from YAML by recipe_loader and validated
// there (unknown keys, wrong types, out-of-range values all reported together with YAML path
// and line). Modules never see YAML. Key paths match the README's recipe reference.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ptune/config/chat_format.h"
#include "ptune/config/model_config.h"
#include "ptune/core/choice.h"
#include "ptune/core/dtype.h"

namespace ptune {

// The recipe's choices, each with its one table of names (core/choice.h).
// How text documents fill training windows: `documents` packs them into shared windows, each
// attending only within itself with positions from 0 (torchtune's and axolotl's packed
// modes); `none` gives each document windows of its own, padded; `stream` packs them as one
// token stream that attends across documents (HF run_clm's group_texts).
enum class Packing { kDocuments, kNone, kStream };
inline constexpr Choice<Packing> kPackingNames[] = {
    {Packing::kDocuments, "documents"}, {Packing::kNone, "none"}, {Packing::kStream, "stream"}};
constexpr const auto& choices(Packing) {
  return kPackingNames;
}

enum class DataFormat { kText, kInstruct, kTokens, kChat };
inline constexpr Choice<DataFormat> kDataFormatNames[] = {{DataFormat::kText, "text"},
                                                          {DataFormat::kInstruct, "instruct"},
                                                          {DataFormat::kTokens, "tokens"},
                                                          {DataFormat::kChat, "chat"}};
constexpr const auto& choices(DataFormat) {
  return kDataFormatNames;
}

enum class MethodType { kFull, kLora, kAdapter, kPrefix };
inline constexpr Choice<MethodType> kMethodTypeNames[] = {{MethodType::kFull, "full"},
                                                          {MethodType::kLora, "lora"},
                                                          {MethodType::kAdapter, "adapter"},
                                                          {MethodType::kPrefix, "prefix"}};
constexpr const auto& choices(MethodType) {
  return kMethodTypeNames;
}

enum class MtpStyle { kNone, kParallel, kSequential };
inline constexpr Choice<MtpStyle> kMtpStyleNames[] = {{MtpStyle::kNone, "none"},
                                                      {MtpStyle::kParallel, "parallel"},
                                                      {MtpStyle::kSequential, "sequential"}};
constexpr const auto& choices(MtpStyle) {
  return kMtpStyleNames;
}

enum class ScheduleKind { kCosine, kLinear, kConstant };
inline constexpr Choice<ScheduleKind> kScheduleKindNames[] = {
    {ScheduleKind::kCosine, "cosine"},
    {ScheduleKind::kLinear, "linear"},
    {ScheduleKind::kConstant, "constant"}};
constexpr const auto& choices(ScheduleKind) {
  return kScheduleKindNames;
}

// What a run exports into final/; kByMethod (empty in YAML): adapter for PEFT methods,
// merged for full.
enum class ExportMode { kByMethod, kMerged, kAdapter, kBoth };
inline constexpr Choice<ExportMode> kExportModeNames[] = {{ExportMode::kByMethod, ""},
                                                          {ExportMode::kMerged, "merged"},
                                                          {ExportMode::kAdapter, "adapter"},
                                                          {ExportMode::kBoth, "both"}};
constexpr const auto& choices(ExportMode) {
  return kExportModeNames;
}

struct DataSource {
  std::string path;  // file or "-" (stdin); empty = none
  DataFormat format = DataFormat::kText;
  // instruct only: JSONL field names and the prompt template ({prompt} is replaced).
  std::string prompt_field = "prompt";
  std::string response_field = "response";
  std::string template_ = "{prompt}\n";  // YAML key: template
  ChatOptions chat;  // chat only: data.chat_template / data.train_on, copied in by the loader
};

struct DataConfig {
  DataSource train;
  DataSource eval;                        // optional: path empty = no eval
  int64_t seq_len = 256;                  // tokens per training sequence
  bool add_bos = true;                    // BOS at the start of each document/example
  Packing packing = Packing::kDocuments;  // text format only
  bool shuffle = true;
  ChatOptions chat;  // chat format: chat_template (auto | chatml | ...) and train_on
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
  DType base_dtype = DType::kFp32;           // fp32 | bf16: storage of the frozen base projections
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
  MethodType type = MethodType::kFull;
  LoraConfig lora;
  AdapterConfig adapter;
  PrefixConfig prefix;
};

struct MtpConfig {
  MtpStyle style = MtpStyle::kNone;
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
  DType dtype = DType::kFp32;
  bool dtype_was_auto = false;  // YAML said auto; dtype is what it resolved to
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
  ScheduleKind kind = ScheduleKind::kCosine;
  int64_t warmup_steps = 10;
  double min_lr_ratio = 0.1;
};

// The c10d backend of a run with more than one process; kAuto: NCCL for CUDA devices when the
// LibTorch has it, else Gloo.
enum class DistBackend { kAuto, kGloo, kNccl };
inline constexpr Choice<DistBackend> kDistBackendNames[] = {
    {DistBackend::kAuto, "auto"}, {DistBackend::kGloo, "gloo"}, {DistBackend::kNccl, "nccl"}};
constexpr const auto& choices(DistBackend) {
  return kDistBackendNames;
}

// train.distributed: used when the process is one of several (torchrun's environment or
// ptune train --nproc); a one-process run ignores it.
struct DistributedConfig {
  DistBackend backend = DistBackend::kAuto;
  double timeout_s = 300;  // longest wait for a peer: rendezvous, each collective
  double bucket_mb = 25;   // gradient all-reduce bucket size (fp32 MiB), as DDP's bucket_cap_mb
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
  int64_t loss_chunk = 1024;   // positions per chunk of the LM loss's logits; 0 = all at once
  int64_t activation_checkpointing = 0;  // recompute every Nth block in the backward; 0 = off
  bool report = true;                    // write output.dir/report.html at each eval and at the end
  DistributedConfig distributed;
};

struct OutputConfig {
  std::string dir = "out/run";
  ExportMode export_ = ExportMode::kByMethod;  // YAML key: export
  std::optional<DType> dtype;                  // of merged weights; none = as trained
};

struct ModelSource {
  std::string path;  // HF-layout checkpoint dir; empty = from arch
  ModelConfig arch;  // used when path is empty
  bool has_arch = false;
};

struct TokenizerConfig {
  std::string path;  // tokenizer.json, SentencePiece .model or a model dir; "" = model.path
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
