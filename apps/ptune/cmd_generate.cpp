// ptune generate --model DIR [--adapter DIR] [--prompt TEXT] [--speculative mtp] ...: KV-cache
// decoding (greedy at temperature 0, else temperature/top-k/top-p sampling with --seed), optionally
// speculative with the model's MTP heads. Without --prompt: one prompt per stdin line, one
// completion per stdout line (or one JSON record per line with --format jsonl). Stats go to
// stderr.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "load_model.h"
#include "ptune/config/size_limits.h"
#include "ptune/core/context.h"
#include "ptune/core/error.h"
#include "ptune/core/log.h"
#include "ptune/data/tokenizer.h"
#include "ptune/generate/generator.h"
#include "ptune/generate/speculative.h"
#include "ptune/mtp/heads_io.h"
#include "ptune/train/memory_estimate.h"

namespace ptune::cli {

void add_generate(CLI::App& app, const GlobalOptions& g) {
  struct Opts {
    std::string model, adapter, prompt, tokenizer, format = "text", speculative = "none";
    bool has_prompt = false;
    GenerateOptions gen;
    int64_t threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("generate",
                                 "generate text from a model (KV cache; MTP speculative decoding)");
  cmd->add_option(
      "-m,--model", o->model,
      "checkpoint dir (config.json + model.safetensors [+ mtp_heads]); with --adapter, the "
      "base (default: the adapter's base_model_name_or_path)");
  cmd->add_option(
      "--adapter", o->adapter,
      "adapter dir to apply without merging (LoRA, prefix, bottleneck: adapter_config.json + "
      "adapter_model.safetensors [+ mtp_heads])");
  auto* prompt =
      cmd->add_option("-p,--prompt", o->prompt, "prompt text (default: one prompt per stdin line)");
  cmd->add_option(
      "--tokenizer", o->tokenizer,
      "SentencePiece model (default: ADAPTER/tokenizer.model, else MODEL/tokenizer.model)");
  cmd->add_option("--format", o->format, "text | jsonl (records with text, tokens, stats)")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", o->gen.max_new_tokens, "tokens to generate at most")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--temperature", o->gen.sampling.temperature, "0 = greedy")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-k", o->gen.sampling.top_k, "keep the k most likely tokens (0 = off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-p", o->gen.sampling.top_p, "nucleus sampling mass (1 = off)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--seed", o->gen.sampling.seed, "sampling seed")->capture_default_str();
  cmd->add_option("--speculative", o->speculative, "none | mtp (draft with the model's MTP heads)")
      ->check(CLI::IsMember({"none", "mtp"}))
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->callback([o, prompt, &g] {
    start(g);
    apply_threads(static_cast<int>(o->threads));
    if (o->gen.sampling.top_p <= 0) usage_error("generate: --top-p must be in (0, 1], got 0");
    if (o->model.empty() && o->adapter.empty())
      usage_error("generate: pass --model DIR (and/or --adapter DIR)");
    if (o->gen.max_new_tokens > kMaxPositions)
      usage_error("generate: --max-new-tokens must be <= {}, got {}; {}", kMaxPositions,
                  o->gen.max_new_tokens, kMaxPositionsWhy);
    const std::string& adapter = o->adapter;
    LoadedModel loaded = load_model("generate", o->model, adapter, o->tokenizer);
    const std::string& model_dir = loaded.model_dir;
    const Tokenizer& tok = loaded.tok;
    const PeftModel& pm = loaded.pm;
    Transformer model = pm.model;
    check_memory(inference_memory(model->config(), 1, 1, o->gen.max_new_tokens), torch::kCPU,
                 "generate", "lower --max-new-tokens");
    torch::NoGradGuard no_grad;
    MtpHeads heads;
    if (o->speculative == "mtp") {
      // Heads saved beside the adapter (a PEFT run with an mtp: section) or with the weights.
      const std::string heads_dir =
          !adapter.empty() && has_mtp_heads(adapter) ? adapter : model_dir;
      if (!has_mtp_heads(heads_dir))
        usage_error(
            "generate: --speculative mtp needs MTP heads, but '{}' has no mtp_heads.safetensors "
            "+ mtp_config.json (train with an mtp: recipe section)",
            heads_dir);
      heads = load_mtp_heads(heads_dir, model).second;
      PTUNE_INFO("speculative decoding with {} {} MTP heads", heads->n_heads(), heads->style());
    }
    o->gen.eos_id = tok.eos_id();

    GenerateStats total;
    auto run_one = [&](const std::string& text) {
      std::vector<int64_t> ids{tok.bos_id()};
      for (int32_t t : tok.encode(text)) ids.push_back(t);
      GenerateResult r =
          heads ? generate_speculative(model, *heads, ids, o->gen) : generate(model, ids, o->gen);
      std::vector<int32_t> out(r.tokens.begin(), r.tokens.end());
      const std::string completion = tok.decode(out);
      if (o->format == "jsonl") {
        nlohmann::json j = {{"prompt", text},
                            {"text", completion},
                            {"tokens", r.tokens},
                            {"new_tokens", r.stats.new_tokens},
                            {"stopped_at_eos", r.stopped_at_eos},
                            {"seconds", r.stats.seconds},
                            {"tokens_per_s", r.stats.tokens_per_s},
                            {"forward_passes", r.stats.forward_passes}};
        if (heads) {
          j["acceptance"] = r.stats.acceptance_rate;
          j["mean_accepted_length"] = r.stats.mean_accepted_length;
          j["rounds"] = r.stats.rounds;
          j["drafted"] = r.stats.drafted;
          j["accepted"] = r.stats.accepted;
        }
        std::cout << j.dump() << "\n" << std::flush;
      } else {
        std::cout << completion << "\n" << std::flush;
      }
      const auto& s = r.stats;
      PTUNE_INFO("{} tokens in {:.3f}s ({:.1f} tok/s, {} forward passes){}", s.new_tokens,
                 s.seconds, s.tokens_per_s, s.forward_passes,
                 heads ? fmt::format(", acceptance {:.3f}, mean accepted length {:.2f}",
                                     s.acceptance_rate, s.mean_accepted_length)
                       : "");
      total.new_tokens += s.new_tokens;
      total.seconds += s.seconds;
      total.forward_passes += s.forward_passes;
      total.rounds += s.rounds;
      total.drafted += s.drafted;
      total.accepted += s.accepted;
    };
    int64_t n_prompts = 0;
    if (prompt->count() > 0) {
      run_one(o->prompt), ++n_prompts;
    } else {
      for (std::string line; std::getline(std::cin, line);) run_one(line), ++n_prompts;
    }
    if (n_prompts > 1) {
      finish_stats(total);
      PTUNE_INFO("total: {} prompts, {} tokens in {:.3f}s ({:.1f} tok/s){}", n_prompts,
                 total.new_tokens, total.seconds, total.tokens_per_s,
                 heads ? fmt::format(", acceptance {:.3f}, mean accepted length {:.2f}",
                                     total.acceptance_rate, total.mean_accepted_length)
                       : "");
    }
  });
}

}  // namespace ptune::cli
