// ptune eval as a library call (see run_eval.h).
#include "ptune/eval/run_eval.h"

#include <filesystem>

#include "ptune/config/recipe_loader.h"
#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/data/dataset.h"
#include "ptune/io/adapter_config.h"
#include "ptune/load/load_model.h"
#include "ptune/load/memory_estimate.h"

namespace ptune {

namespace {

// What to evaluate: flags first, then the recipe's run.
struct Target {
  std::string model_dir, adapter;
  DataSource data;
  int64_t seq_len = 0;
  bool add_bos = true;
  Packing packing = Packing::kDocuments;
};

Target resolve(const EvalCommand& c) {
  Target t{c.model, c.adapter, {}, c.seq_len, true, Packing::kDocuments};
  t.data.path = c.data;
  t.data.format = c.format;
  t.data.chat.chat_template = c.chat_template;
  if (!c.config.empty()) {
    const Recipe r = load_recipe(c.config, c.overrides);
    if (r.data.eval.path.empty() && c.data.empty())
      usage_error("eval: recipe '{}' has no data.eval.path; pass --data", c.config);
    if (c.data.empty()) t.data = r.data.eval;
    const std::string final_dir = r.output.dir + "/final";
    if (t.model_dir.empty() && t.adapter.empty() &&
        std::filesystem::exists(final_dir + "/" + kAdapterConfigFile)) {
      t.adapter = final_dir;  // a PEFT run: its adapter on the recipe's base
      t.model_dir = r.model.path;
    }
    if (t.model_dir.empty() && t.adapter.empty()) t.model_dir = final_dir;
    if (t.seq_len <= 0) t.seq_len = r.data.seq_len;
    t.add_bos = r.data.add_bos;
    t.packing = r.data.packing;
  }
  if (t.model_dir.empty() && t.adapter.empty())
    usage_error("eval: pass --model DIR (or --config recipe.yaml)");
  if (t.data.path.empty()) usage_error("eval: pass --data FILE (or --config recipe.yaml)");
  return t;
}

}  // namespace

EvalReport run_eval(const EvalCommand& c) {
  Target t = resolve(c);
  LoadedModel m = load_model("eval", t.model_dir, t.adapter, c.tokenizer);
  Transformer model = m.pm.model;
  if (t.seq_len <= 0) t.seq_len = model->config().max_position_embeddings;
  Dataset data = Dataset::load(t.data, &m.tok, t.seq_len, t.add_bos, "data", t.packing);
  const int64_t batch = std::min<int64_t>(c.batch_size, static_cast<int64_t>(data.size()));
  check_memory(inference_memory(model->config(), batch, t.seq_len), torch::kCPU, "eval",
               "lower --batch-size or --seq-len");
  EvalOptions eo;
  eo.batch_size = c.batch_size;
  eo.per_example = c.per_example;
  EvalReport out;
  out.result = evaluate(model, data, m.tok.pad_id(), eo);
  const EvalResult& e = out.result;
  PTUNE_INFO("eval {}: loss {:.4f}, perplexity {:.2f}, accuracy {:.4f} over {} tokens", t.data.path,
             e.loss, e.perplexity, e.accuracy, e.tokens);
  if (c.per_example || m.heads_dir.empty()) return out;
  MtpHeads heads = load_heads(m);
  out.heads = evaluate_heads(model, *heads, data, m.tok.pad_id(), eo);
  for (const HeadEval& h : out.heads)
    PTUNE_INFO("MTP head {} (token t+{}): loss {:.4f}, accuracy {:.4f}", h.head, h.head + 1, h.loss,
               h.accuracy);
  return out;
}

}  // namespace ptune
