// Parity of ptune's adapter files with tests/reference/peft_ref.py, which applies them by
// PEFT's formulas on llama_ref.py's LLaMA: a LoRA adapter (unmerged in Python) against the
// C++ merged checkpoint from merge_lora, and prefix tuning (prompt_embeddings as
// past_key_values, no RoPE on the prefix, positions offset by P) against the C++ forward,
// plus the prefix encoder's MLP recomputed from its weights.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "ptune/core/text.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/weights.h"
#include "ptune/model/pretrained.h"
#include "ptune/peft/lora_file.h"
#include "ptune/peft/method.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ptune {
namespace {

ModelConfig tiny_config() {
  return test::parity_model_config();
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct PeftRun {
  test::TempDir dir;
  ModelConfig c = tiny_config();
  std::shared_ptr<Method> method;
  Transformer model{nullptr};
  torch::Tensor ids;

  explicit PeftRun(const MethodConfig& mc, ModelConfig config = tiny_config()) : c(config) {
    torch::manual_seed(11);
    Transformer base(c);
    {
      torch::NoGradGuard g;  // biases (Qwen2's q/k/v) start at zero: make them matter
      for (auto& p : base->named_parameters())
        if (ends_with(p.key(), ".bias")) p.value().normal_(0.0, 0.5);
    }
    save_checkpoint_dir(dir / "base", c, model_state(*base));
    method = make_method(mc, c);
    model = Transformer(c, method->builder());
    load_weights(*model, CheckpointWeights::open(dir / "base"), true, method->own_params(model));
    method->attach(model);
    torch::NoGradGuard g;
    for (auto& [_, p] : method->trainable(model)) p.normal_(0.0, 0.2);
    model->eval();
    std::filesystem::create_directories(dir / "adapter");
    method->export_adapter(model, dir / "adapter", dir / "base");
    ids = torch::randint(c.vocab_size, {2, 10}, torch::kLong);
  }

  // Runs peft_ref.py on base + adapter; `extra` goes into IN.pt beside input_ids.
  c10::impl::GenericDict reference(
      const std::vector<std::pair<std::string, torch::Tensor>>& extra = {}) {
    c10::Dict<std::string, torch::Tensor> in;
    in.insert("input_ids", ids);
    for (const auto& [k, v] : extra) in.insert(k, v.detach());
    auto bytes = torch::pickle_save(c10::IValue(in));
    std::ofstream(dir / "in.pt", std::ios::binary).write(bytes.data(), bytes.size());
    auto r = test::run_shell(std::string(PTUNE_PYTHON) + " " + PTUNE_SOURCE_DIR +
                             "/tests/reference/peft_ref.py " + (dir / "base") + " " +
                             (dir / "adapter") + " " + (dir / "in.pt") + " " + (dir / "out.pt"));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return torch::pickle_load(read_bytes(dir / "out.pt")).toGenericDict();
  }
};

TEST(PeftParity, LoraAdapterByPeftFormulasMatchesMergedCheckpoint) {
  for (bool rslora : {false, true}) {
    MethodConfig mc;
    mc.type = MethodType::kLora;
    mc.lora.r = 4;
    mc.lora.alpha = 16;
    mc.lora.rslora = rslora;
    mc.lora.targets = {"all-linear"};
    PeftRun s(mc);
    auto ref = s.reference().at("logits").toTensor();
    MergeLoraOptions o{s.dir / "base", s.dir / "adapter", s.dir / "merged", std::nullopt};
    merge_lora(o);
    Transformer merged = load_pretrained(s.dir / "merged");
    torch::NoGradGuard g;
    EXPECT_LE(test::max_abs_diff(merged->forward(s.ids), ref), 1e-4) << "rslora " << rslora;
    EXPECT_LE(test::max_abs_diff(s.model->forward(s.ids), ref), 1e-4) << "rslora " << rslora;
  }
}

TEST(PeftParity, LoraOnQwen2BiasedProjectionsMatchesPeft) {
  MethodConfig mc;
  mc.type = MethodType::kLora;
  mc.lora.r = 4;
  mc.lora.alpha = 8;
  mc.lora.targets = {"all-linear"};
  ModelConfig c = tiny_config();
  c.model_type = "qwen2";
  c.tie_word_embeddings = true;
  PeftRun s(mc, c);
  auto ref = s.reference().at("logits").toTensor();
  MergeLoraOptions o{s.dir / "base", s.dir / "adapter", s.dir / "merged", std::nullopt};
  merge_lora(o);
  Transformer merged = load_pretrained(s.dir / "merged");
  EXPECT_TRUE(merged->named_parameters().contains("model.layers.0.self_attn.k_proj.bias"));
  EXPECT_FALSE(merged->named_parameters().contains("model.layers.0.self_attn.o_proj.bias"));
  torch::NoGradGuard g;
  EXPECT_LE(test::max_abs_diff(merged->forward(s.ids), ref), 1e-4);
  EXPECT_LE(test::max_abs_diff(s.model->forward(s.ids), ref), 1e-4);
}

TEST(PeftParity, PrefixTuningMatchesPeftPastKeyValues) {
  MethodConfig mc;
  mc.type = MethodType::kPrefix;
  mc.prefix.virtual_tokens = 4;
  mc.prefix.projection = true;
  mc.prefix.projection_hidden = 20;
  PeftRun s(mc);
  std::vector<std::pair<std::string, torch::Tensor>> enc;
  for (auto& [name, p] : s.method->trainable(s.model))
    enc.emplace_back("encoder." + name.substr(std::string("prefix_encoder.").size()), p);
  auto out = s.reference(enc);
  torch::NoGradGuard g;
  auto logits = s.model->forward(s.ids);
  EXPECT_LE(test::max_abs_diff(logits, out.at("logits").toTensor()), 1e-4);
  auto prompt = SafetensorsFile::open(s.dir / "adapter/adapter_model.safetensors")
                    ->tensor("prompt_embeddings");
  EXPECT_LE(test::max_abs_diff(prompt, out.at("prompt_from_encoder").toTensor()), 1e-5);
}

}  // namespace
}  // namespace ptune
