// Value checks for a loaded recipe (see recipe_checks.h). Messages say what was expected and
// what was given: "must be > 0, got 0", "expected one of full, lora, got 'lora2'".
#include "ptune/config/recipe_checks.h"

#include <algorithm>
#include <initializer_list>
#include <limits>

#include <spdlog/fmt/fmt.h>

#include "ptune/config/size_limits.h"

namespace ptune {
namespace {

class Checker {
 public:
  explicit Checker(Problems& p) : p_(p) {}

  template <class T>
  void above(const std::string& path, T v, T lo) {
    if (!(v > lo)) p_.add(path, fmt::format("must be > {}, got {}", lo, v));
  }
  template <class T>
  void at_least(const std::string& path, T v, T lo) {
    if (!(v >= lo)) p_.add(path, fmt::format("must be >= {}, got {}", lo, v));
  }
  // v in [lo, hi) or [lo, hi]; `open_lo` makes it (lo, ...
  void in_range(const std::string& path, double v, double lo, double hi, bool open_lo,
                bool closed_hi) {
    bool ok = (open_lo ? v > lo : v >= lo) && (closed_hi ? v <= hi : v < hi);
    if (!ok)
      p_.add(path, fmt::format("must be in {}{}, {}{}, got {}", open_lo ? "(" : "[", lo, hi,
                               closed_hi ? "]" : ")", v));
  }
  void one_of(const std::string& path, const std::string& v,
              std::initializer_list<const char*> allowed, bool empty_ok = false) {
    if (empty_ok && v.empty()) return;
    if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return;
    p_.add(path, fmt::format("expected one of {}{}, got '{}'", fmt::join(allowed, ", "),
                             empty_ok ? " (or empty)" : "", v));
  }
  void each_one_of(const std::string& path, const std::vector<std::string>& v,
                   std::initializer_list<const char*> allowed) {
    if (v.empty())
      p_.add(path, fmt::format("must list at least one of {}", fmt::join(allowed, ", ")));
    for (size_t i = 0; i < v.size(); ++i) one_of(fmt::format("{}[{}]", path, i), v[i], allowed);
  }
  void required(const std::string& path, const std::string& v, const char* what) {
    if (v.empty()) p_.add(path, fmt::format("required: {}", what));
  }
  // v <= hi, where `why` says what sets the limit: "must be <= 10, got 11 (r.yaml:3); why".
  void at_most(const std::string& path, int64_t v, int64_t hi, const std::string& why) {
    if (v > hi) p_.add(path, fmt::format("must be <= {}, got {}", hi, v), why);
  }
  void add(const std::string& path, const std::string& message, const std::string& hint = "") {
    p_.add(path, message, hint);
  }

 private:
  Problems& p_;
};

void check_model(Checker& c, const Recipe& r) {
  if (r.model.path.empty() && !r.model.has_arch)
    c.add("model",
          "needs path (a checkpoint directory) or arch (to train from scratch), got neither");
  if (!r.model.has_arch) return;
  for (const auto& p : config_problems(r.model.arch, /*vocab_from_tokenizer=*/true)) {
    // "vocab_size must be > 0, got -1" reads "model.arch.vocab_size: must be > 0, got -1".
    std::string msg = p.message;
    if (msg.rfind(p.field + " ", 0) == 0) msg = msg.substr(p.field.size() + 1);
    c.add("model.arch." + p.field, msg, p.why);
  }
  const auto& rs = r.model.arch.rope_scaling;
  c.above("model.arch.rope_scaling.factor", rs.factor, 0.0);
}

void check_data(Checker& c, const Recipe& r) {
  if (r.model.path.empty())  // otherwise the model dir's tokenizer
    c.required("tokenizer.path", r.tokenizer.path,
               "a tokenizer.json, a SentencePiece .model or a model directory");
  c.above<int64_t>("tokenizer.vocab_size", r.tokenizer.vocab_size, 0);
  c.required("data.train.path", r.data.train.path, "the training data file");
  c.above<int64_t>("data.seq_len", r.data.seq_len, 1);
}

void check_method(Checker& c, const Recipe& r) {
  const auto& m = r.method;
  c.above<int64_t>("method.lora.r", m.lora.r, 0);
  c.above("method.lora.alpha", m.lora.alpha, 0.0);
  c.in_range("method.lora.dropout", m.lora.dropout, 0, 1, false, false);
  c.each_one_of(
      "method.lora.targets", m.lora.targets,
      {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "all-linear"});
  c.one_of("method.lora.init", m.lora.init, {"kaiming", "gaussian"});
  if (m.lora.base_dtype == DType::kFp16)
    c.add("method.lora.base_dtype", "expected one of fp32, bf16, got 'fp16'");
  for (size_t i = 0; i < m.lora.modules_to_save.size(); ++i)
    c.one_of(fmt::format("method.lora.modules_to_save[{}]", i), m.lora.modules_to_save[i],
             {"lm_head", "embed_tokens"});
  for (size_t i = 0; i < m.lora.layers.size(); ++i)
    c.at_least<int64_t>(fmt::format("method.lora.layers[{}]", i), m.lora.layers[i], 0);
  c.above<int64_t>("method.adapter.bottleneck", m.adapter.bottleneck, 0);
  c.each_one_of("method.adapter.placement", m.adapter.placement, {"attn", "mlp"});
  c.one_of("method.adapter.activation", m.adapter.activation, {"silu", "relu", "gelu", "tanh"});
  c.in_range("method.adapter.dropout", m.adapter.dropout, 0, 1, false, false);
  c.at_least<int64_t>("method.prefix.virtual_tokens", m.prefix.virtual_tokens, 0);
  c.above<int64_t>("method.prefix.projection_hidden", m.prefix.projection_hidden, 0);

  c.above<int64_t>("mtp.heads", r.mtp.heads, 0);
  c.at_least("mtp.loss_weight", r.mtp.loss_weight, 0.0);
  c.in_range("mtp.head_decay", r.mtp.head_decay, 0, 1, true, true);
}

void check_precision(Checker& c, const Recipe& r) {
  const auto& ls = r.precision.loss_scale;
  const std::string at = "precision.loss_scale.";
  c.above(at + "init", ls.init, 0.0);
  c.above(at + "growth_factor", ls.growth_factor, 1.0);
  c.in_range(at + "backoff_factor", ls.backoff_factor, 0, 1, true, false);
  c.above<int64_t>(at + "growth_interval", ls.growth_interval, 0);
  c.at_least<int64_t>(at + "hysteresis", ls.hysteresis, 1);
  c.above(at + "min_scale", ls.min_scale, 0.0);
  c.above(at + "max_scale", ls.max_scale, 0.0);
  if (ls.min_scale > ls.max_scale)
    c.add(at + "min_scale",
          fmt::format("must be <= max_scale ({}), got {}", ls.max_scale, ls.min_scale));
  else if (ls.init < ls.min_scale || ls.init > ls.max_scale)
    c.add(at + "init", fmt::format("must be between min_scale ({}) and max_scale ({}), got {}",
                                   ls.min_scale, ls.max_scale, ls.init));
}

void check_training(Checker& c, const Recipe& r) {
  c.above("optim.lr", r.optim.lr, 0.0);
  c.at_least("optim.weight_decay", r.optim.weight_decay, 0.0);
  c.in_range("optim.betas[0]", r.optim.beta1, 0, 1, false, false);
  c.in_range("optim.betas[1]", r.optim.beta2, 0, 1, false, false);
  c.above("optim.eps", r.optim.eps, 0.0);
  c.at_least("optim.grad_clip", r.optim.grad_clip, 0.0);

  c.at_least<int64_t>("schedule.warmup_steps", r.schedule.warmup_steps, 0);
  c.in_range("schedule.min_lr_ratio", r.schedule.min_lr_ratio, 0, 1, false, true);

  const auto& t = r.train;
  c.above<int64_t>("train.steps", t.steps, 0);
  c.above<int64_t>("train.batch_size", t.batch_size, 0);
  c.above<int64_t>("train.grad_accum", t.grad_accum, 0);
  c.at_least<int64_t>("train.eval_every", t.eval_every, 0);
  c.at_least<int64_t>("train.eval_batches", t.eval_batches, 0);
  c.at_least<int64_t>("train.save_every", t.save_every, 0);
  c.at_least<int64_t>("train.keep_last", t.keep_last, 1);
  c.above<int64_t>("train.log_every", t.log_every, 0);
  c.at_least<int64_t>("train.threads", t.threads, 0);
  c.at_least<int64_t>("train.loss_chunk", t.loss_chunk, 0);
  c.at_least<int64_t>("train.activation_checkpointing", t.activation_checkpointing, 0);
  c.one_of("train.device", t.device, {"cpu", "cuda", "auto"});
  c.in_range("train.distributed.timeout_s", t.distributed.timeout_s, 0, 86400, true, true);
  c.in_range("train.distributed.bucket_mb", t.distributed.bucket_mb, 0, 4096, true, true);

  c.required("output.dir", r.output.dir, "the run's output directory");
}

// Sizes beyond what ptune can index (config/size_limits.h; model.arch is checked with the
// model config). Each is checked once its lower bound above holds, so a value gets one problem.
void check_sizes(Checker& c, const Recipe& r) {
  c.at_most("tokenizer.vocab_size", r.tokenizer.vocab_size, kMaxVocab, kMaxVocabWhy);
  const int64_t seq = r.data.seq_len;
  c.at_most("data.seq_len", seq, kMaxPositions, kMaxPositionsWhy);
  const bool seq_ok = seq > 1 && seq <= kMaxPositions;

  const auto& m = r.method;
  c.at_most("method.lora.r", m.lora.r, kMaxGemmDim, kMaxGemmDimWhy);
  c.at_most("method.adapter.bottleneck", m.adapter.bottleneck, kMaxGemmDim, kMaxGemmDimWhy);
  c.at_most("method.prefix.projection_hidden", m.prefix.projection_hidden, kMaxGemmDim,
            kMaxGemmDimWhy);
  if (m.type == MethodType::kPrefix &&
      seq_ok)  // virtual tokens take positions [0, P), the sequence [P, P + seq_len)
    c.at_most(
        "method.prefix.virtual_tokens", m.prefix.virtual_tokens, kMaxPositions - seq,
        fmt::format("the sequence's data.seq_len ({}) positions follow the virtual tokens', and {}",
                    seq, kMaxPositionsWhy));
  else
    c.at_most("method.prefix.virtual_tokens", m.prefix.virtual_tokens, kMaxPositions,
              kMaxPositionsWhy);
  // Head k predicts the token k + 1 places ahead: in a window of seq_len targets, heads
  // k >= seq_len have none.
  if (r.mtp.style != MtpStyle::kNone && seq_ok && r.mtp.heads > 0)
    c.at_most("mtp.heads", r.mtp.heads, seq - 1,
              fmt::format("head k predicts the token k + 1 places ahead, which a window of "
                          "data.seq_len ({}) tokens holds only for k < {}",
                          seq, seq));

  const auto& t = r.train;
  if (seq_ok && t.batch_size > 0) {
    const int64_t max_batch = kMaxGemmDim / seq;
    c.at_most(
        "train.batch_size", t.batch_size, max_batch,
        fmt::format("batch_size * data.seq_len ({}) tokens are the rows of every projection's "
                    "GEMM, which BLAS counts in a 32-bit int",
                    seq));
    if (t.batch_size <= max_batch && t.grad_accum > 0 && t.steps > 0) {
      const int64_t batch_tokens = t.batch_size * seq;
      const std::string counted =
          "tokens seen, steps * grad_accum * batch_size * data.seq_len, are counted in an int64";
      if (saturating_mul(t.grad_accum, batch_tokens) == kMaxCount)
        c.at_most("train.grad_accum", t.grad_accum, kMaxCount / batch_tokens, counted);
      else
        c.at_most("train.steps", t.steps, kMaxCount / (t.grad_accum * batch_tokens), counted);
    }
  }
  // apply_threads takes an int: a larger value would wrap around (to 0 = all cores, say).
  c.at_most("train.threads", t.threads, std::numeric_limits<int>::max(),
            "the thread count is an int");
}

}  // namespace

void check_recipe(const Recipe& r, Problems& problems) {
  Checker c(problems);
  check_model(c, r);
  check_data(c, r);
  check_method(c, r);
  check_precision(c, r);
  check_training(c, r);
  check_sizes(c, r);
}

}  // namespace ptune
