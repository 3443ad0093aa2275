// ptune eval --model DIR [--adapter DIR] --data FILE [--format F] | --config recipe.yaml
// Prints one JSON object on stdout (loss, perplexity, accuracy, tokens; mtp_loss_k and
// mtp_accuracy_k per head when the model or adapter dir has MTP heads), or one JSON line per
// example with --per-example.
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "load_model.h"
#include "ptune/config/recipe_loader.h"
#include "ptune/core/context.h"
#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/data/dataset.h"
#include "ptune/data/tokenizer.h"
#include "ptune/eval/evaluator.h"
#include "ptune/eval/mtp_eval.h"
#include "ptune/mtp/heads_io.h"
#include "ptune/peft/peft_model.h"
#include "ptune/train/memory_estimate.h"
#include "ptune/train/metrics.h"

namespace ptune::cli {

namespace {

MetricRecord to_record(const EvalResult& e) {
  return {{"loss", e.loss},
          {"perplexity", e.perplexity},
          {"accuracy", e.accuracy},
          {"tokens", e.tokens},
          {"examples", e.examples}};
}

}  // namespace

void add_eval(CLI::App& app, const GlobalOptions& g) {
  struct Opts {
    std::string model, adapter, data, format = "text", tokenizer, config;
    std::vector<std::string> overrides;
    int64_t seq_len = 0, batch_size = 8, threads = 0;
    bool per_example = false;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "eval", "loss, perplexity and accuracy of a model on data (JSON on stdout)");
  cmd->add_option("-m,--model", o->model, "checkpoint dir (config.json + model.safetensors)");
  cmd->add_option("--adapter", o->adapter,
                  "adapter dir to apply without merging (LoRA, prefix, bottleneck); --model is "
                  "then the base (default: the adapter's base_model_name_or_path)");
  cmd->add_option("-d,--data", o->data, "data file ('-' = stdin)");
  cmd->add_option("--format", o->format, "text | instruct | tokens")
      ->check(CLI::IsMember({"text", "instruct", "tokens"}))
      ->capture_default_str();
  cmd->add_option("--tokenizer", o->tokenizer,
                  "SentencePiece model (default: MODEL/tokenizer.model)");
  cmd->add_option("-c,--config", o->config, "take data.eval and output.dir/final from this recipe");
  cmd->add_option("--set", o->overrides, "recipe override, with --config");
  cmd->add_option("--seq-len", o->seq_len,
                  "tokens per sequence (default: recipe's, else max_position_embeddings)");
  cmd->add_option("--batch-size", o->batch_size, "sequences per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--per-example", o->per_example, "one JSON line per example instead of the total");
  cmd->callback([o, &g] {
    start(g);
    apply_threads(static_cast<int>(o->threads));
    DataSource src;
    src.path = o->data;
    src.format = o->format;
    std::string model_dir = o->model;
    std::string adapter = o->adapter;
    int64_t seq_len = o->seq_len;
    bool add_bos = true;
    if (!o->config.empty()) {
      Recipe r = load_recipe(o->config, o->overrides);
      if (r.data.eval.path.empty() && o->data.empty())
        usage_error("eval: recipe '{}' has no data.eval.path; pass --data", o->config);
      if (o->data.empty()) src = r.data.eval;
      const std::string final_dir = r.output.dir + "/final";
      if (model_dir.empty() && adapter.empty() &&
          std::filesystem::exists(final_dir + "/" + kAdapterConfigFile)) {
        adapter = final_dir;  // a PEFT run: its adapter on the recipe's base
        model_dir = r.model.path;
      }
      if (model_dir.empty() && adapter.empty()) model_dir = final_dir;
      if (seq_len <= 0) seq_len = r.data.seq_len;
      add_bos = r.data.add_bos;
    }
    if (model_dir.empty() && adapter.empty())
      usage_error("eval: pass --model DIR (or --config recipe.yaml)");
    if (src.path.empty()) usage_error("eval: pass --data FILE (or --config recipe.yaml)");
    LoadedModel loaded = load_model("eval", model_dir, adapter, o->tokenizer);
    model_dir = loaded.model_dir;
    const Tokenizer& tok = loaded.tok;
    const PeftModel& pm = loaded.pm;
    Transformer model = pm.model;
    if (seq_len <= 0) seq_len = model->config().max_position_embeddings;
    Dataset data = Dataset::load(src, &tok, seq_len, add_bos);
    const int64_t batch = std::min<int64_t>(o->batch_size, static_cast<int64_t>(data.size()));
    check_memory(inference_memory(model->config(), batch, seq_len), torch::kCPU, "eval",
                 "lower --batch-size or --seq-len");
    EvalOptions eo;
    eo.batch_size = o->batch_size;
    if (o->per_example)
      eo.per_example = [](int64_t i, const EvalResult& e) {
        MetricRecord rec = to_record(e);
        rec.erase("examples");
        rec["index"] = i;
        std::cout << metric_json(rec) << "\n";
      };
    auto method = pm.method;
    EvalResult e = evaluate([&](const torch::Tensor& ids) { return model->forward(ids); }, data,
                            tok.pad_id(), eo);
    PTUNE_INFO("eval {}: loss {:.4f}, perplexity {:.2f}, accuracy {:.4f} over {} tokens", src.path,
               e.loss, e.perplexity, e.accuracy, e.tokens);
    if (o->per_example) return;
    MetricRecord rec = to_record(e);
    // Per-head loss / top-1 accuracy of MTP heads, saved beside the adapter or the weights.
    const std::string heads_dir = !adapter.empty() && has_mtp_heads(adapter) ? adapter : model_dir;
    if (has_mtp_heads(heads_dir)) {
      MtpHeads heads = load_mtp_heads(heads_dir, model).second;
      for (const HeadEval& h : evaluate_heads(model, *heads, data, tok.pad_id(), eo)) {
        rec[fmt::format("mtp_loss_{}", h.head)] = h.loss;
        rec[fmt::format("mtp_accuracy_{}", h.head)] = h.accuracy;
        PTUNE_INFO("MTP head {} (token t+{}): loss {:.4f}, accuracy {:.4f}", h.head, h.head + 1,
                   h.loss, h.accuracy);
      }
    }
    std::cout << metric_json(rec) << "\n";
  });
}

}  // namespace ptune::cli
