// Parity of the C++ LLaMA with tests/reference/llama_ref.py, a PyTorch reference written from
// the HF definition: logits, mean CE loss and every gradient in fp32 on random weights
// (untied, tied, GQA, llama3 RoPE scaling, position offset, PEFT-style K/V prefixes, Qwen2's
// q/k/v biases and LLaMA's attention_bias).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "ptune/core/text.h"
#include "ptune/model/loss.h"
#include "ptune/model/transformer.h"
#include "test_util.h"
#include "tiny_run.h"

namespace ptune {
namespace {

ModelConfig tiny_config() {
  return test::parity_model_config();
}

nlohmann::json to_json(const ModelConfig& c) {
  nlohmann::json j = {{"vocab_size", c.vocab_size},
                      {"hidden_size", c.hidden_size},
                      {"intermediate_size", c.intermediate_size},
                      {"num_hidden_layers", c.num_hidden_layers},
                      {"num_attention_heads", c.num_attention_heads},
                      {"num_key_value_heads", c.num_key_value_heads},
                      {"rope_theta", c.rope_theta},
                      {"rms_norm_eps", c.rms_norm_eps},
                      {"tie_word_embeddings", c.tie_word_embeddings},
                      {"model_type", c.model_type},
                      {"attention_bias", c.attention_bias}};
  if (c.pad_token_id >= 0) j["pad_token_id"] = c.pad_token_id;
  if (c.rope_scaling.type != RopeType::kDefault)
    j["rope_scaling"] = {
        {"rope_type", name_of(c.rope_scaling.type)},
        {"factor", c.rope_scaling.factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  return j;
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A key/value prefix of fixed tensors (prefix tuning's keys without an encoder).
struct FixedPrefixImpl : KVPrefixImpl {
  explicit FixedPrefixImpl(std::vector<LayerKV> kv) : kv(std::move(kv)) {}
  std::vector<LayerKV> forward() override { return kv; }
  std::vector<LayerKV> kv;
};

// Runs C++ and Python on the same random weights and batch; compares everything.
// n_prefix > 0: per-layer K/V prefixes of that length, with pos_offset = P as PEFT does.
void check_parity(const ModelConfig& c, int64_t pos_offset, int64_t n_prefix = 0) {
  torch::manual_seed(42);
  const int64_t B = 2, T = 11, KV = c.num_key_value_heads, D = c.resolved_head_dim();
  std::vector<LayerKV> prefix;
  for (int64_t l = 0; n_prefix > 0 && l < c.num_hidden_layers; ++l)
    prefix.push_back({torch::randn({B, KV, n_prefix, D}).requires_grad_(),
                      torch::randn({B, KV, n_prefix, D}).requires_grad_()});
  ModelBuilder builder;
  if (n_prefix > 0)
    builder.kv_prefix = [&](const ModelConfig&) {
      return std::pair<std::string, KVPrefix>{"prefix", std::make_shared<FixedPrefixImpl>(prefix)};
    };
  Transformer m(c, builder);
  {
    torch::NoGradGuard no_grad;  // norms away from 1 so their gradients matter
    for (auto& p : m->named_parameters()) {
      if (p.key().find("norm") != std::string::npos) p.value().uniform_(0.5, 1.5);
      if (ends_with(p.key(), ".bias")) p.value().normal_(0.0, 0.5);  // zero-initialised
    }
  }
  auto ids = torch::randint(c.vocab_size, {B, T}, torch::kLong);
  auto targets = torch::randint(c.vocab_size, {B, T}, torch::kLong);
  targets.index_put_({0, torch::indexing::Slice(0, 3)}, -100);
  if (c.pad_token_id >= 0) ids[1][T - 1] = c.pad_token_id;

  c10::Dict<std::string, torch::Tensor> in;
  for (const auto& [name, value] : model_state(*m)) in.insert(name, value.detach());
  in.insert("input_ids", ids);
  in.insert("targets", targets);
  for (size_t l = 0; l < prefix.size(); ++l) {
    in.insert("prefix." + std::to_string(l) + ".k", prefix[l].k.detach());
    in.insert("prefix." + std::to_string(l) + ".v", prefix[l].v.detach());
  }

  test::TempDir dir;
  write_bytes(dir / "in.pt", torch::pickle_save(c10::IValue(in)));
  auto cfg = to_json(c);
  cfg["pos_offset"] = n_prefix > 0 ? 0 : pos_offset;  // with a prefix Python offsets by P itself
  cfg["num_prefix_layers"] = n_prefix > 0 ? c.num_hidden_layers : 0;
  test::write_text(dir / "config.json", cfg.dump());
  auto r = test::run_shell(std::string(PTUNE_PYTHON) + " " + PTUNE_SOURCE_DIR +
                           "/tests/reference/llama_ref.py " + (dir / "config.json") + " " +
                           (dir / "in.pt") + " " + (dir / "out.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // With a prefix the model places the tokens after it (positions P..) by itself.
  auto logits = m->forward(ids, {nullptr, n_prefix > 0 ? -1 : pos_offset});
  auto loss = lm_loss(logits, targets);
  loss.backward();

  auto out = torch::pickle_load(read_bytes(dir / "out.pt")).toGenericDict();
  auto ref = [&](const std::string& key) { return out.at(key).toTensor(); };
  EXPECT_LE(test::max_abs_diff(logits, ref("logits")), 1e-4);
  EXPECT_NEAR(loss.item<double>(), ref("loss").item<double>(), 1e-5);
  size_t n_grads = 0;
  for (const auto& [name, value] : model_state(*m)) {
    ASSERT_TRUE(out.contains("grad." + name)) << name;
    EXPECT_LE(test::max_abs_diff(value.grad(), ref("grad." + name)), 1e-4) << name;
    ++n_grads;
  }
  const size_t per_layer = 9 + (c.qkv_bias() ? 3 : 0) + (c.o_bias() ? 1 : 0);
  EXPECT_EQ(n_grads, (c.tie_word_embeddings ? 2 : 3) + per_layer * 2);
  for (size_t l = 0; l < prefix.size(); ++l) {
    EXPECT_LE(
        test::max_abs_diff(prefix[l].k.grad(), ref("grad.prefix." + std::to_string(l) + ".k")),
        1e-4);
    EXPECT_LE(
        test::max_abs_diff(prefix[l].v.grad(), ref("grad.prefix." + std::to_string(l) + ".v")),
        1e-4);
  }
}

TEST(Parity, UntiedGqa) {
  check_parity(tiny_config(), 0);
}

TEST(Parity, Qwen2QkvBiasesTied) {
  ModelConfig c = tiny_config();
  c.model_type = "qwen2";  // SmolLM2/Qwen2.5-0.5B shape: biased q/k/v, tied embeddings
  c.tie_word_embeddings = true;
  check_parity(c, 0);
}

TEST(Parity, LlamaAttentionBias) {
  ModelConfig c = tiny_config();
  c.attention_bias = true;
  check_parity(c, 3);
}

TEST(Parity, TiedWithPadRow) {
  ModelConfig c = tiny_config();
  c.tie_word_embeddings = true;
  c.pad_token_id = 0;  // HF padding_idx: the pad row gets no gradient
  check_parity(c, 0);
}

TEST(Parity, PositionOffset) {
  check_parity(tiny_config(), 9);
}

TEST(Parity, Llama3RopeScaling) {
  ModelConfig c = tiny_config();
  c.rope_theta = 500000.0;
  c.rope_scaling.type = RopeType::kLlama3;
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 16;  // small, so all three bands occur
  check_parity(c, 5);
}

TEST(Parity, LinearRopeScaling) {
  ModelConfig c = tiny_config();
  c.rope_scaling.type = RopeType::kLinear;
  c.rope_scaling.factor = 2.0;
  check_parity(c, 3);
}

TEST(Parity, PrefixKeysAndValues) {
  check_parity(tiny_config(), 0, /*n_prefix=*/4);
}

TEST(Parity, MultiHeadAttention) {
  ModelConfig c = tiny_config();
  c.num_key_value_heads = c.num_attention_heads;
  check_parity(c, 0);
}

}  // namespace
}  // namespace ptune
