// Tiny test assets (see tiny_run.h).
#include "tiny_run.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <sstream>

#include "ptune/config/recipe_loader.h"
#include "ptune/data/tokenizer.h"

namespace ptune::test {

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return max_abs_diff(a, b) / b.to(torch::kFloat).abs().max().item<double>();
}

const std::string& tiny_assets() {
  static TempDir dir;
  static bool ready = false;
  if (!ready) {
    std::ifstream in(std::string(PTUNE_SOURCE_DIR) + "/data/wordnet/corpus_train.txt");
    std::ostringstream train, eval;
    std::string line;
    for (int i = 0; i < 1200 && std::getline(in, line); ++i)
      (i % 10 == 9 ? eval : train) << line << "\n";
    write_text(dir / "train.txt", train.str());
    write_text(dir / "eval.txt", eval.str());
    TokenizerTrainOptions o;
    o.input = dir / "train.txt";
    o.out = dir / "tok.model";
    o.vocab_size = kTinyVocab;
    train_tokenizer(o);
    ready = true;
  }
  return dir.path();
}

ModelConfig tiny_model_config(int64_t vocab_size) {
  ModelConfig c;
  c.vocab_size = vocab_size;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.max_position_embeddings = 64;
  return c;
}

ModelConfig parity_model_config() {
  ModelConfig c = tiny_model_config(96);
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_attention_heads = 6;
  c.rms_norm_eps = 1e-5;
  return c;
}

std::string tiny_recipe(const std::string& out_dir, int steps, const std::string& extra) {
  const std::string a = tiny_assets();
  return fmt::format(R"(model:
  arch: {{hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
         num_key_value_heads: 2, max_position_embeddings: 64, rms_norm_eps: 1.0e-5}}
tokenizer: {{path: {a}/tok.model}}
data:
  train: {{path: {a}/train.txt, format: text}}
  eval: {{path: {a}/eval.txt, format: text}}
  seq_len: 32
optim: {{lr: 3.0e-3, weight_decay: 0.01}}
schedule: {{kind: cosine, warmup_steps: 2}}
train: {{steps: {steps}, batch_size: 4, eval_every: 4, eval_batches: 2, save_every: 4, keep_last: 2, log_every: 2, threads: 1}}
output: {{dir: {out}}}
{extra}
)",
                     fmt::arg("a", a), fmt::arg("steps", steps), fmt::arg("out", out_dir),
                     fmt::arg("extra", extra));
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

TrainSummary train_text(const std::string& yaml, const TrainOptions& o,
                        const std::vector<std::string>& sets) {
  return run_training(load_recipe_text(yaml, "test.yaml", sets), o);
}

}  // namespace ptune::test
