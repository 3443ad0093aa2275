// CLI tier for PEFT adapters: `ptune merge-lora` (ptune's and PEFT-written adapters, every
// rejection with its message and exit code, inputs never touched) and `--adapter` for
// `ptune eval` and `ptune info`.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "ptune/io/adapter_config.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/weights.h"
#include "ptune/peft/method.h"
#include "tiny_run.h"

namespace fs = std::filesystem;
using namespace ptune;
using namespace ptune::test;

namespace {

ModelConfig tiny_config(int64_t hidden = 32, int64_t layers = 2) {
  ModelConfig c = tiny_model_config(kTinyVocab);
  c.hidden_size = hidden;
  c.num_hidden_layers = layers;
  return c;
}

// A random base at `base` (with the tiny tokenizer) and a LoRA adapter for it at `adapter`.
void make_base_and_adapter(const std::string& base, const std::string& adapter,
                           const ModelConfig& c,
                           std::vector<std::string> targets = {"q_proj", "v_proj"}) {
  torch::manual_seed(5);
  Transformer m0(c);
  save_checkpoint_dir(base, c, model_state(*m0),
                      {{tiny_assets() + "/tok.model", "tokenizer.model"}});
  MethodConfig mc;
  mc.type = MethodType::kLora;
  mc.lora.r = 4;
  mc.lora.targets = std::move(targets);
  auto method = make_method(mc, c);
  Transformer m(c, method->builder());
  load_weights(*m, CheckpointWeights::open(base), true, method->own_params(m));
  method->attach(m);
  torch::NoGradGuard g;
  for (auto& [_, p] : method->trainable(m)) p.normal_(0.0, 0.2);
  fs::create_directories(adapter);
  method->export_adapter(m, adapter, base);
}

// Rewrites the adapter's tensors through `edit` (rename, drop, replace).
void edit_adapter(const std::string& adapter, const std::function<void(NamedTensors&)>& edit) {
  auto st = SafetensorsFile::open(adapter + "/" + kAdapterWeightsFile);
  NamedTensors t;
  for (const auto& info : st->tensors()) t.emplace_back(info.name, st->tensor(info.name).clone());
  st.reset();
  edit(t);
  save_safetensors(adapter + "/" + kAdapterWeightsFile, t);
}

class MergeLora : public ::testing::Test {
 protected:
  void SetUp() override { make_base_and_adapter(base, adapter, tiny_config()); }
  RunResult merge(const std::string& extra = "") {
    return run_ptune("--quiet merge-lora --base " + base + " --adapter " + adapter + " --out " +
                     out + " " + extra);
  }
  TempDir t;
  std::string base = t / "base", adapter = t / "adapter", out = t / "merged";
  const std::string q0A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
};

double eval_loss(const std::string& args) {
  RunResult r =
      run_ptune("--quiet eval " + args + " --data " + tiny_assets() + "/eval.txt --seq-len 32");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? nlohmann::json::parse(r.out)["loss"].get<double>() : -1;
}

}  // namespace

TEST_F(MergeLora, MergesAndEvalMatchesTheUnmergedAdapter) {
  const std::string before =
      read_text(adapter + "/" + kAdapterWeightsFile) + read_text(base + "/model.safetensors");
  RunResult r = merge("--dtype fp32");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text(adapter + "/" + kAdapterWeightsFile) + read_text(base + "/model.safetensors"),
            before);
  EXPECT_TRUE(exists(out + "/config.json") && exists(out + "/tokenizer.model"));
  const double merged = eval_loss("--model " + out);
  EXPECT_NEAR(eval_loss("--model " + base + " --adapter " + adapter), merged, 1e-5);
  EXPECT_NEAR(eval_loss("--adapter " + adapter), merged, 1e-5);  // base from adapter_config.json
  EXPECT_GT(std::abs(eval_loss("--model " + base) - merged), 1e-4);

  ASSERT_EQ(merge("--dtype fp16").exit_code, 0);
  EXPECT_EQ(CheckpointWeights::open(out).info("model.norm.weight").dtype, torch::kHalf);
}

TEST_F(MergeLora, GenerateWithTheAdapterEqualsTheMergedModel) {
  ASSERT_EQ(merge("--dtype fp32").exit_code, 0);
  auto tokens = [](const std::string& args) {
    RunResult r = run_ptune("-q generate " + args +
                            " --prompt \"the bank\" --max-new-tokens 12 --format jsonl");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.exit_code == 0 ? nlohmann::json::parse(r.out.substr(0, r.out.find('\n')))["tokens"]
                            : nlohmann::json();
  };
  const auto unmerged = tokens("--model " + base + " --adapter " + adapter);
  EXPECT_EQ(unmerged.size(), 12u);
  EXPECT_EQ(unmerged, tokens("--model " + out));
  EXPECT_EQ(unmerged, tokens("--adapter " + adapter));  // base from base_model_name_or_path
  EXPECT_NE(unmerged, tokens("--model " + base));       // the adapter changes the output
}

TEST_F(MergeLora, ReadsPeftWrittenAdapters) {
  ASSERT_EQ(merge().exit_code, 0);
  auto ref = CheckpointWeights::open(out);
  // PEFT's in-memory names (".default"), target_modules as a regex string, nulls, extra fields.
  edit_adapter(adapter, [](NamedTensors& t) {
    for (auto& [k, _] : t) k.replace(k.rfind(".weight"), 7, ".default.weight");
  });
  auto j = nlohmann::json::parse(read_text(adapter + "/adapter_config.json"));
  j["target_modules"] = ".*\\.(q_proj|v_proj)";
  j["layers_to_transform"] = nullptr;
  j["rank_pattern"] = nlohmann::json::object();
  j["megatron_config"] = nullptr;
  write_text(adapter + "/adapter_config.json", j.dump());
  out = t / "merged2";
  RunResult r = merge();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = CheckpointWeights::open(out);
  for (const auto& k : ref.keys()) EXPECT_TRUE(torch::equal(ref.get(k), got.get(k))) << k;
}

TEST_F(MergeLora, RejectsAWrongShape) {
  make_base_and_adapter(t / "base48", adapter, tiny_config(48));
  RunResult r = merge();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "error: adapter key '" + q0A +
                       "' has shape [4, 48]; the base q_proj expects [r, 32]\n");
  EXPECT_FALSE(exists(out));
}

TEST_F(MergeLora, RejectsAWrongBase) {
  make_base_and_adapter(t / "base3", adapter, tiny_config(32, 3));
  RunResult r = merge();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "error: adapter key 'base_model.model.model.layers.2.self_attn.q_proj.lora_A.weight' "
            "names module 'model.layers.2.self_attn.q_proj', which the base '" +
                base + "' does not have\n");
}

TEST_F(MergeLora, RejectsAMissingKey) {
  const std::string v1B = "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight";
  edit_adapter(adapter, [&](NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [&](auto& kv) { return kv.first == v1B; }), t.end());
  });
  RunResult r = merge();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(
      r.err,
      "error: adapter is missing key '" + v1B +
          "' ('base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight' is present)\n");
  // A whole targeted module missing.
  edit_adapter(adapter, [&](NamedTensors& t) {
    t.erase(std::remove_if(t.begin(), t.end(),
                           [&](auto& kv) {
                             return kv.first.find("layers.1.self_attn.v_proj") != std::string::npos;
                           }),
            t.end());
  });
  r = merge();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "error: adapter is missing key "
            "'base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight' "
            "(target_modules selects model.layers.1.self_attn.v_proj of the base '" +
                base + "')\n");
}

TEST_F(MergeLora, RejectsACorruptFileAndOverwritingAnInput) {
  const std::string file = adapter + "/" + kAdapterWeightsFile;
  const std::string bytes = read_text(file);
  write_text(file, bytes.substr(0, bytes.size() - 10));
  RunResult r = merge();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
  write_text(file, bytes);
  write_text(adapter + "/adapter_config.json", "{\"peft_type\": \"LORA\", ");
  r = merge();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err.rfind("error: " + adapter + "/adapter_config.json: not valid JSON", 0), 0u)
      << r.err;
  out = base;
  r = merge();
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "error: merge-lora: --out '" + base + "' is the input '" + base +
                       "'; choose a new directory\n");
}

TEST_F(MergeLora, InfoCountsAdapterParameters) {
  RunResult r = run_ptune("--quiet info --model " + base + " --adapter " + adapter + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  // q_proj: A 4x32 + B 32x4; v_proj: A 4x32 + B 16x4; 2 layers.
  const int64_t lora = 2 * (4 * 32 + 32 * 4 + 4 * 32 + 16 * 4);
  EXPECT_EQ(j["trainable_parameters"], lora);
  RunResult plain = run_ptune("--quiet info --model " + base + " --json");
  EXPECT_EQ(j["parameters"], nlohmann::json::parse(plain.out)["parameters"].get<int64_t>() + lora);
  EXPECT_EQ(j["peft_type"], "LORA");
}

// An existing --out is replaced only by a complete merge: a merge that fails (a corrupt
// adapter) leaves the previous one byte-identical, and a later good one replaces it whole.
TEST_F(MergeLora, AFailedMergeLeavesTheExistingOutputByteIdentical) {
  ASSERT_EQ(merge().exit_code, 0);
  const std::string weights = read_text(out + "/model.safetensors");
  const std::string config = read_text(out + "/config.json");
  const std::string file = adapter + "/" + kAdapterWeightsFile;
  const std::string bytes = read_text(file);
  write_text(file, bytes.substr(0, bytes.size() - 10));
  EXPECT_EQ(merge().exit_code, 1);
  EXPECT_EQ(read_text(out + "/model.safetensors"), weights);
  EXPECT_EQ(read_text(out + "/config.json"), config);
  write_text(file, bytes);
  ASSERT_EQ(merge("--dtype bf16").exit_code, 0);
  EXPECT_NE(read_text(out + "/model.safetensors"), weights);  // the new merge, whole
  EXPECT_EQ(run_ptune("--quiet info --model " + out).exit_code, 0);
}
