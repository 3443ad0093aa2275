// ptune eval --model DIR [--adapter DIR] --data FILE [--format F] | --config recipe.yaml
// Prints one JSON object on stdout (loss, perplexity, accuracy, tokens; mtp_loss_k and
// mtp_accuracy_k per head when the model or adapter dir has MTP heads), or one JSON line per
// example with --per-example.
#include <iostream>

#include "commands.h"
#include "ptune/core/context.h"
#include "ptune/core/log.h"
#include "ptune/eval/run_eval.h"
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
    EvalCommand c;
    int64_t threads = 0;
    bool per_example = false;
  };
  auto o = std::make_shared<Opts>();
  EvalCommand& c = o->c;
  auto* cmd = app.add_subcommand(
      "eval", "loss, perplexity and accuracy of a model on data (JSON on stdout)");
  cmd->add_option("-m,--model", c.model, "checkpoint dir (config.json + model.safetensors)");
  cmd->add_option("--adapter", c.adapter,
                  "adapter dir to apply without merging (LoRA, prefix, bottleneck); --model is "
                  "then the base (default: the adapter's base_model_name_or_path)");
  cmd->add_option("-d,--data", c.data, "data file ('-' = stdin)");
  add_choice<DataFormat>(cmd, "--format", c.format, "data format (default text)");
  add_choice<ChatTemplate>(cmd, "--chat-template", c.chat_template,
                           "chat format: the template family (default auto: the tokenizer's)");
  cmd->add_option("--tokenizer", c.tokenizer,
                  "tokenizer.json or SentencePiece .model (default: the adapter's, else "
                  "the model's: tokenizer.json, else tokenizer.model)");
  cmd->add_option("-c,--config", c.config, "take data.eval and output.dir/final from this recipe");
  cmd->add_option("--set", c.overrides, "recipe override, with --config");
  cmd->add_option("--seq-len", c.seq_len,
                  "tokens per sequence (default: recipe's, else max_position_embeddings)");
  cmd->add_option("--batch-size", c.batch_size, "sequences per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--per-example", o->per_example, "one JSON line per example instead of the total");
  cmd->callback([o, &g] {
    start(g);
    apply_threads(static_cast<int>(o->threads));
    if (o->per_example)
      o->c.per_example = [](int64_t i, const EvalResult& e) {
        MetricRecord rec = to_record(e);
        rec.erase("examples");
        rec["index"] = i;
        std::cout << metric_json(rec) << "\n";
      };
    const EvalReport report = run_eval(o->c);
    if (o->per_example) return;
    MetricRecord rec = to_record(report.result);
    for (const HeadEval& h : report.heads) {
      rec[fmt::format("mtp_loss_{}", h.head)] = h.loss;
      rec[fmt::format("mtp_accuracy_{}", h.head)] = h.accuracy;
    }
    std::cout << metric_json(rec) << "\n";
  });
}

}  // namespace ptune::cli
