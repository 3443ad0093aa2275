// Memory estimate and check (see memory_estimate.h). With d hidden, I intermediate, q = heads *
// head_dim, kv = kv_heads * head_dim, L layers, V vocab, H heads, B x T tokens per micro-batch,
// s bytes per compute element (4 fp32, 2 bf16/fp16), N parameters, N_t of them trained:
//   weights      4 N + 8 P head_dim             fp32 parameters; RoPE cos/sin for P positions
//   optimizer    12 N_t                          fp32 gradient + AdamW exp_avg, exp_avg_sq
//   activations  L B T (4d + 2q + 2kv + 3I) s    what each layer keeps for backward
//                + L B H T (T/2) s               attention probabilities (causal half)
//                + 8 R V                         fp32 logits and their gradient, R = B T or
//                                                the loss chunk (train.loss_chunk)
//   data         16 B T grad_accum               int64 input ids and targets of a step's batches
// Inference keeps no activations: one layer's temporaries, B T (2d + 3I) s + B H T (T/8) s
// (attention in row chunks), and the logits; its K/V cache is 2 L kv positions s.
#include "ptune/load/memory_estimate.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "ptune/core/error.h"
#include "ptune/peft/lora.h"

namespace ptune {

namespace {

double compute_bytes(DType dtype) {
  return dtype == DType::kFp32 ? 4.0 : 2.0;
}

double rope_table_bytes(const ModelConfig& c) {
  return 8.0 * static_cast<double>(c.max_position_embeddings) * c.resolved_head_dim();
}

// LoRA A (r, in) and B (out, r) on every projection LoraMethod::targets picks, in every
// targeted layer.
double lora_params(const ModelConfig& c, const LoraConfig& lc) {
  const double d = c.hidden_size, I = c.intermediate_size, hd = c.resolved_head_dim();
  const double q = c.num_attention_heads * hd, kv = c.num_key_value_heads * hd;
  struct Proj {
    const char* path;  // in layer 0
    double in, out;
  };
  const Proj projs[] = {{"self_attn.q_proj", d, q},  {"self_attn.k_proj", d, kv},
                        {"self_attn.v_proj", d, kv}, {"self_attn.o_proj", q, d},
                        {"mlp.gate_proj", d, I},     {"mlp.up_proj", d, I},
                        {"mlp.down_proj", I, d}};
  LoraConfig any_layer = lc;  // the layer filter is counted below, without a loop over layers
  any_layer.layers.clear();
  const LoraMethod lora(any_layer);
  double per_layer = 0;
  for (const Proj& p : projs)
    if (lora.targets(std::string("model.layers.0.") + p.path))
      per_layer += static_cast<double>(lc.r) * (p.in + p.out);
  double layers = static_cast<double>(c.num_hidden_layers);
  if (!lc.layers.empty()) {
    std::set<int64_t> in_model;
    for (int64_t l : lc.layers)
      if (l >= 0 && l < c.num_hidden_layers) in_model.insert(l);
    layers = static_cast<double>(in_model.size());
  }
  return layers * per_layer;
}

// Parameters a method adds, and how many of the model's own it trains.
ParamCount method_params(const ModelConfig& c, const MethodConfig& m, double base) {
  const double d = c.hidden_size, L = c.num_hidden_layers;
  if (m.type == MethodType::kLora) {
    const double added = lora_params(c, m.lora);
    double saved = 0;  // modules_to_save train the model's own lm_head / embed_tokens
    for (const auto& name : m.lora.modules_to_save)
      if (name != "lm_head" || !c.tie_word_embeddings)
        saved += static_cast<double>(c.vocab_size) * d;
    return {added, added + saved};
  }
  if (m.type == MethodType::kAdapter) {
    // down (b, d) + bias (b), up (d, b) + bias (d), per placement
    const double b = m.adapter.bottleneck;
    const double added = L * m.adapter.placement.size() * (2 * d * b + b + d);
    return {added, added};
  }
  if (m.type == MethodType::kPrefix) {
    // embedding (P, t), or (P, t) -> Linear(t, h) -> Tanh -> Linear(h, out)
    const double P = m.prefix.virtual_tokens, t = c.num_key_value_heads * c.resolved_head_dim();
    const double out = L * 2 * t, h = m.prefix.projection_hidden;
    const double added = m.prefix.projection ? P * t + t * h + h + h * out + out : P * out;
    return {added, added};
  }
  return {0, base};  // full
}

// Parallel: ResBlock (d, d) + bias and an output projection (V, d) per head. Sequential: enorm,
// hnorm, norm, eh_proj (d, 2d) and one decoder layer per module.
double mtp_params(const ModelConfig& c, const MtpConfig& mtp) {
  if (mtp.style == MtpStyle::kNone) return 0;
  const double d = c.hidden_size, K = mtp.heads;
  if (mtp.style == MtpStyle::kParallel)
    return K * (d * d + d + static_cast<double>(c.vocab_size) * d);
  return K * (3 * d + 2 * d * d + layer_parameter_count(c));
}

// GB as RAM is labelled (2^30 bytes), with as many digits as a reader needs.
constexpr double kGB = 1024.0 * 1024.0 * 1024.0;
std::string gb(double bytes) {
  const double v = bytes / kGB;
  return v >= 100 ? fmt::format("{:.0f}", v)
         : v >= 1 ? fmt::format("{:.1f}", v)
                  : fmt::format("{:.2f}", v);
}

}  // namespace

ParamCount count_training_params(const ModelConfig& c, const MethodConfig& m,
                                 const MtpConfig& mtp) {
  const double base = parameter_count(c);
  const ParamCount method = method_params(c, m, base);
  const double heads = mtp_params(c, mtp);
  ParamCount out;
  out.total = base + method.total + heads;
  // Without train_base the trunk and method are frozen; the heads always train.
  out.trainable = (mtp.style != MtpStyle::kNone && !mtp.train_base ? 0 : method.trainable) + heads;
  return out;
}

MemoryNeeds training_memory(const ModelConfig& c, const MethodConfig& m, const MtpConfig& mtp,
                            int64_t batch, int64_t seq, int64_t grad_accum, DType dtype,
                            int64_t loss_chunk, int64_t checkpoint_every) {
  const ParamCount params = count_training_params(c, m, mtp);
  const double s = compute_bytes(dtype), tokens = static_cast<double>(batch) * seq;
  const double d = c.hidden_size, I = c.intermediate_size, hd = c.resolved_head_dim();
  const double q = c.num_attention_heads * hd, kv = c.num_key_value_heads * hd;
  const double H = c.num_attention_heads;
  // Layers that keep activations: the trunk (unless frozen under mtp.train_base: false) and the
  // sequential MTP modules, each a decoder layer.
  double layers = mtp.style != MtpStyle::kNone && !mtp.train_base ? 0 : c.num_hidden_layers;
  if (mtp.style == MtpStyle::kSequential) layers += mtp.heads;
  // Attention keeps its output and an fp32 log-sum-exp per head and position, not the scores.
  const double per_layer = tokens * (4 * d + 2 * q + 2 * kv + 3 * I) * s + tokens * H * 4;
  // A checkpointed block keeps only its input; one at a time is recomputed in the backward.
  double kept = layers * per_layer;
  if (checkpoint_every > 0 && layers > 0) {
    const double recomputed =
        std::ceil(static_cast<double>(c.num_hidden_layers) / static_cast<double>(checkpoint_every));
    kept -= recomputed * (per_layer - tokens * d * s);
    kept += per_layer;
  }
  MemoryNeeds n;
  n.weights = 4 * params.total + rope_table_bytes(c);
  n.optimizer = 12 * params.trainable;
  // The LM loss's fp32 logits: all positions at once, or one chunk (not with MTP heads, which
  // compute the LM logits whole).
  const double logit_rows = loss_chunk > 0 && mtp.style == MtpStyle::kNone
                                ? std::min<double>(tokens, loss_chunk)
                                : tokens;
  n.activations = kept + 8 * logit_rows * static_cast<double>(c.vocab_size);
  n.data = 16 * tokens * static_cast<double>(grad_accum);
  return n;
}

MemoryNeeds inference_memory(const ModelConfig& c, int64_t batch, int64_t seq,
                             int64_t cache_positions) {
  const double tokens = static_cast<double>(batch) * seq, s = 4;
  const double d = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads;
  const double kv = c.num_key_value_heads * c.resolved_head_dim();
  MemoryNeeds n;
  n.weights = 4 * parameter_count(c) + rope_table_bytes(c);
  n.activations = tokens * (2 * d + 3 * I) * s + tokens * H * 4 +
                  8 * tokens * static_cast<double>(c.vocab_size);
  n.cache = 2.0 * c.num_hidden_layers * kv * static_cast<double>(cache_positions) * s;
  n.data = 16 * tokens;
  return n;
}

std::string memory_problem(const MemoryNeeds& needs, double available) {
  if (needs.total() <= available) return "";
  std::string parts;
  auto part = [&](const char* name, double bytes) {
    if (bytes < 0.005 * kGB) return;  // would read "0.00 GB"
    parts += fmt::format("{}{} {} GB", parts.empty() ? "" : ", ", name, gb(bytes));
  };
  part("weights", needs.weights);
  part("gradients and AdamW moments", needs.optimizer);
  part("activations", needs.activations);
  part("K/V cache", needs.cache);
  part("batches", needs.data);
  return fmt::format("needs about {} GB, this machine has {} GB ({})", gb(needs.total()),
                     gb(available), parts);
}

double machine_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<double>(pages) * static_cast<double>(page) : 0.0;
}

void check_memory(const MemoryNeeds& needs, torch::Device device, const std::string& what,
                  const std::string& hint) {
  const double ram = machine_memory_bytes();
  if (ram <= 0) return;  // unknown: nothing to compare with
  MemoryNeeds in_ram = needs;
  if (device.is_cuda()) in_ram = MemoryNeeds{needs.weights, 0, 0, 0, 0};
  const std::string problem = memory_problem(in_ram, ram);
  if (!problem.empty()) runtime_error("{}: {}; {}", what, problem, hint);
}

}  // namespace ptune
