// ptune generate --model DIR [--adapter DIR] [--prompt TEXT] [--speculative mtp] ...: KV-cache
// decoding (greedy at temperature 0, else temperature/top-k/top-p sampling with --seed), optionally
// speculative with the model's MTP heads. Without --prompt: one prompt per stdin line, one
// completion per stdout line (or one JSON record per line with --format jsonl). Stats go to
// stderr.
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "ptune/core/context.h"
#include "ptune/core/log.h"
#include "ptune/core/progress.h"
#include "ptune/generate/session.h"

namespace ptune::cli {

namespace {

// Speculative decoding's counts, in a record of one prompt or of the run's totals.
void add_drafting(nlohmann::json& j, const GenerateStats& s) {
  j["acceptance"] = s.acceptance_rate;
  j["mean_accepted_length"] = s.mean_accepted_length;
  j["rounds"] = s.rounds;
  j["drafted"] = s.drafted;
  j["accepted"] = s.accepted;
}

}  // namespace

void add_generate(CLI::App& app, const GlobalOptions& g) {
  struct Opts {
    GenerateCommand c;
    std::string prompt, format = "text", speculative = "none";
    int64_t threads = 0;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("generate",
                                 "generate text from a model (KV cache; MTP speculative decoding)");
  cmd->add_option(
      "-m,--model", o->c.model,
      "checkpoint dir (config.json + model.safetensors [+ mtp_heads]); with --adapter, the "
      "base (default: the adapter's base_model_name_or_path)");
  cmd->add_option(
      "--adapter", o->c.adapter,
      "adapter dir to apply without merging (LoRA, prefix, bottleneck: adapter_config.json + "
      "adapter_model.safetensors [+ mtp_heads])");
  auto* prompt =
      cmd->add_option("-p,--prompt", o->prompt, "prompt text (default: one prompt per stdin line)");
  cmd->add_option(
      "--tokenizer", o->c.tokenizer,
      "tokenizer.json or SentencePiece .model (default: the adapter's, else the model's: "
      "tokenizer.json, else tokenizer.model)");
  cmd->add_flag("--chat", o->c.chat,
                "each prompt is a user message, or a JSON {\"messages\": [...]} line, rendered "
                "by the chat template; stops at the end of the assistant turn");
  add_choice<ChatTemplate>(cmd, "--chat-template", o->c.chat_template,
                           "with --chat: the template family (default auto: the tokenizer's)");
  cmd->add_option("--format", o->format, "text | jsonl (records with text, tokens, stats)")
      ->check(CLI::IsMember({"text", "jsonl"}))
      ->capture_default_str();
  cmd->add_option("--max-new-tokens", o->c.gen.max_new_tokens, "tokens to generate at most")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--temperature", o->c.gen.sampling.temperature, "0 = greedy")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-k", o->c.gen.sampling.top_k, "keep the k most likely tokens (0 = off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--top-p", o->c.gen.sampling.top_p, "nucleus sampling mass (1 = off)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--seed", o->c.gen.sampling.seed, "sampling seed")->capture_default_str();
  cmd->add_option("--speculative", o->speculative, "none | mtp (draft with the model's MTP heads)")
      ->check(CLI::IsMember({"none", "mtp"}))
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0 = all cores)")->capture_default_str();
  cmd->callback([o, prompt, &g] {
    start(g);
    apply_threads(static_cast<int>(o->threads));
    o->c.speculative = o->speculative == "mtp";
    GenerateSession session(o->c);
    auto log_stats = [&](const GenerateStats& s, const char* what) {
      PTUNE_INFO("{}{} tokens in {:.3f}s ({:.1f} tok/s, {} forward passes){}", what, s.new_tokens,
                 s.seconds, s.tokens_per_s, s.forward_passes,
                 session.speculative()
                     ? fmt::format(", acceptance {:.3f}, mean accepted length {:.2f}",
                                   s.acceptance_rate, s.mean_accepted_length)
                     : "");
    };
    auto run_one = [&](const std::string& text) {
      const Completion r = session.complete(text);
      const GenerateStats& s = r.result.stats;
      if (o->format == "jsonl") {
        nlohmann::json j = {{"prompt", text},
                            {"text", r.text},
                            {"tokens", r.result.tokens},
                            {"new_tokens", s.new_tokens},
                            {"stopped_at_eos", r.result.stopped_at_eos},
                            {"seconds", s.seconds},
                            {"tokens_per_s", s.tokens_per_s},
                            {"forward_passes", s.forward_passes}};
        if (session.speculative()) add_drafting(j, s);
        std::cout << j.dump() << "\n" << std::flush;
      } else {
        std::cout << r.text << "\n" << std::flush;
      }
      log_stats(s, "");
    };
    if (prompt->count() > 0) {
      run_one(o->prompt);
    } else {
      ProgressLine progress("prompt", 0);  // stdin's count is unknown: a count and a rate
      for (std::string line; std::getline(std::cin, line);) {
        run_one(line);
        const GenerateStats t = session.total();
        progress.update(session.prompts(),
                        fmt::format("{} tokens | {:.1f} tok/s", t.new_tokens, t.tokens_per_s));
      }
    }
    if (session.prompts() > 1)
      log_stats(session.total(), fmt::format("total: {} prompts, ", session.prompts()).c_str());
    if (o->format == "jsonl") {  // the last record: the run's totals, so scripts need not sum
      const GenerateStats s = session.total();
      nlohmann::json j = {{"summary", true},
                          {"prompts", session.prompts()},
                          {"new_tokens", s.new_tokens},
                          {"seconds", s.seconds},
                          {"tokens_per_s", s.tokens_per_s},
                          {"forward_passes", s.forward_passes}};
      if (session.speculative()) add_drafting(j, s);
      std::cout << j.dump() << "\n" << std::flush;
    }
  });
}

}  // namespace ptune::cli
