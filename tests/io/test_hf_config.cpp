// HF config.json <-> ModelConfig: round trip, both RoPE forms, HF defaults, and errors
// that name the file and field.
#include <gtest/gtest.h>

#include "error_helpers.h"
#include "ptune/io/hf_config.h"
#include "test_util.h"

namespace ptune {
namespace {

using nlohmann::json;
using test::error_of;

ModelConfig from_text(const std::string& text) {
  return model_config_from_json(json::parse(text), "config.json");
}

TEST(HfConfig, RoundTripsThroughConfigJson) {
  ModelConfig c;
  c.vocab_size = 4096;
  c.hidden_size = 256;
  c.intermediate_size = 688;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 8;
  c.num_key_value_heads = 4;
  c.max_position_embeddings = 512;
  c.rope_theta = 500000;
  c.rope_scaling = {RopeType::kLlama3, 32.0, 1.0, 4.0, 8192};
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  c.bos_token_id = 3;
  c.eos_token_id = 4;
  c.pad_token_id = -1;
  c.torch_dtype = "bfloat16";
  test::TempDir dir;
  write_hf_config(dir / "config.json", c);

  json j = json::parse(test::read_text(dir / "config.json"));
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["architectures"], json({"LlamaForCausalLM"}));
  EXPECT_EQ(j["hidden_act"], "silu");
  EXPECT_EQ(j["attention_bias"], false);
  EXPECT_EQ(j["mlp_bias"], false);
  EXPECT_EQ(j["head_dim"], 32);
  EXPECT_TRUE(j["pad_token_id"].is_null());
  EXPECT_EQ(j["rope_scaling"],
            json::parse(R"({"rope_type":"llama3","factor":32.0,"low_freq_factor":1.0,
                                   "high_freq_factor":4.0,"original_max_position_embeddings":8192})"));

  ModelConfig r = read_hf_config(dir / "config.json");
  EXPECT_EQ(r.vocab_size, 4096);
  EXPECT_EQ(r.hidden_size, 256);
  EXPECT_EQ(r.intermediate_size, 688);
  EXPECT_EQ(r.num_hidden_layers, 4);
  EXPECT_EQ(r.num_attention_heads, 8);
  EXPECT_EQ(r.num_key_value_heads, 4);
  EXPECT_EQ(r.resolved_head_dim(), 32);
  EXPECT_EQ(r.max_position_embeddings, 512);
  EXPECT_EQ(r.rope_theta, 500000);
  EXPECT_EQ(r.rope_scaling.type, RopeType::kLlama3);
  EXPECT_EQ(r.rope_scaling.factor, 32.0);
  EXPECT_EQ(r.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(r.rms_norm_eps, 1e-5);
  EXPECT_TRUE(r.tie_word_embeddings);
  EXPECT_EQ(r.bos_token_id, 3);
  EXPECT_EQ(r.eos_token_id, 4);
  EXPECT_EQ(r.pad_token_id, -1);
  EXPECT_EQ(r.torch_dtype, "bfloat16");
}

TEST(HfConfig, DefaultRopeIsWrittenAsNull) {
  ModelConfig c;
  EXPECT_TRUE(model_config_to_json(c)["rope_scaling"].is_null());
}

const char* kDims = R"("vocab_size": 128256, "hidden_size": 2048, "intermediate_size": 8192,
                      "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8)";

TEST(HfConfig, ReadsOldRopeScalingFormAndEosList) {
  ModelConfig c = from_text(std::string("{") + kDims + R"(, "rope_theta": 500000.0,
      "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                       "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
      "eos_token_id": [128001, 128008, 128009], "bos_token_id": 128000, "torch_dtype": "bfloat16"})");
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeType::kLlama3);
  EXPECT_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c.eos_token_id, 128001);
  EXPECT_EQ(c.bos_token_id, 128000);
  EXPECT_EQ(c.num_key_value_heads, 8);

  ModelConfig linear = from_text(std::string("{") + kDims +
                                 R"(, "rope_scaling": {"type": "linear", "factor": 4.0}})");
  EXPECT_EQ(linear.rope_scaling.type, RopeType::kLinear);
  EXPECT_EQ(linear.rope_scaling.factor, 4.0);
  EXPECT_EQ(linear.rope_theta, 10000.0);
}

TEST(HfConfig, ReadsTransformers5RopeParameters) {
  ModelConfig c =
      from_text(std::string("{") + kDims + R"(, "rope_parameters": {"rope_type": "llama3",
      "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192}, "dtype": "float16"})");
  EXPECT_EQ(c.rope_theta, 500000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeType::kLlama3);
  EXPECT_EQ(c.rope_scaling.factor, 8.0);
  EXPECT_EQ(c.torch_dtype, "float16");

  ModelConfig plain =
      from_text(std::string("{") + kDims +
                R"(, "rope_parameters": {"rope_type": "default", "rope_theta": 1000.0}})");
  EXPECT_EQ(plain.rope_scaling.type, RopeType::kDefault);
  EXPECT_EQ(plain.rope_theta, 1000.0);
}

TEST(HfConfig, MissingOptionalFieldsTakeHfDefaults) {
  ModelConfig c = from_text(R"({"vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
                                "num_hidden_layers": 2, "num_attention_heads": 4, "pad_token_id": null})");
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.resolved_head_dim(), 16);
  EXPECT_EQ(c.max_position_embeddings, 2048);
  EXPECT_EQ(c.rms_norm_eps, 1e-6);
  EXPECT_EQ(c.rope_theta, 10000.0);
  EXPECT_EQ(c.rope_scaling.type, RopeType::kDefault);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_id, 2);
  EXPECT_EQ(c.pad_token_id, -1);
  EXPECT_EQ(c.torch_dtype, "float32");
}

// Qwen2ForCausalLM: q/k/v biases (no attention_bias field), none on o_proj; written back as
// Qwen2 so that transformers builds the same modules. LlamaConfig's attention_bias: all four.
TEST(HfConfig, Qwen2AndAttentionBiasRoundTrip) {
  ModelConfig q = from_text(std::string("{") + kDims +
                            R"(, "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"],
                                "use_sliding_window": false, "sliding_window": 32768})");
  EXPECT_EQ(q.model_type, "qwen2");
  EXPECT_TRUE(q.qkv_bias());
  EXPECT_FALSE(q.o_bias());
  json jq = model_config_to_json(q);
  EXPECT_EQ(jq["architectures"], json({"Qwen2ForCausalLM"}));
  EXPECT_EQ(jq["model_type"], "qwen2");
  EXPECT_EQ(jq["use_sliding_window"], false);
  EXPECT_FALSE(jq.contains("attention_bias"));
  EXPECT_TRUE(model_config_from_json(jq, "x").qkv_bias());

  ModelConfig l = from_text(std::string("{") + kDims + R"(, "attention_bias": true})");
  EXPECT_EQ(l.model_type, "llama");
  EXPECT_TRUE(l.qkv_bias());
  EXPECT_TRUE(l.o_bias());
  EXPECT_EQ(model_config_to_json(l)["attention_bias"], true);
  ModelConfig m = from_text(std::string("{") + kDims + R"(, "model_type": "mistral",
                                                            "sliding_window": null})");
  EXPECT_EQ(m.model_type, "llama");
  EXPECT_FALSE(m.qkv_bias());
  EXPECT_DOUBLE_EQ(
      parameter_count(q) - parameter_count(m),
      q.num_hidden_layers * (q.hidden_size + 2.0 * q.num_key_value_heads * q.resolved_head_dim()));
}

TEST(HfConfig, ErrorsNameFileFieldExpectedAndGot) {
  // A field of the wrong type is a corrupt file (exit 1); a value ptune cannot run, a usage
  // error (exit 2).
  auto corrupt = [](const std::string& extra) {
    return error_of([&] { from_text(std::string("{") + kDims + extra + "}"); }, ErrorKind::Runtime);
  };
  auto err = [](const std::string& extra) {
    return error_of([&] { from_text(std::string("{") + kDims + extra + "}"); }, ErrorKind::Usage);
  };
  EXPECT_EQ(error_of(
                [] {
                  from_text(R"({"vocab_size": 1, "hidden_size": 8, "intermediate_size": 8,
                                        "num_hidden_layers": 1, "num_attention_heads": "eight"})");
                },
                ErrorKind::Runtime),
            "config.json: num_attention_heads must be an integer, got \"eight\"");
  EXPECT_EQ(error_of([] { from_text(R"({"vocab_size": 1})"); }, ErrorKind::Runtime),
            "config.json: missing required field hidden_size (an integer)");
  EXPECT_EQ(corrupt(R"(, "rms_norm_eps": "tiny")"),
            "config.json: rms_norm_eps must be a number, got \"tiny\"");
  EXPECT_EQ(err(R"(, "rope_scaling": {"rope_type": "longrope"})"),
            "config.json: rope_scaling.rope_type must be one of default, linear, dynamic, llama3, "
            "yarn, got \"longrope\"");
  EXPECT_EQ(corrupt(R"(, "rope_scaling": {"rope_type": "linear", "factor": "x"})"),
            "config.json: rope_scaling.factor must be a number, got \"x\"");
  EXPECT_EQ(corrupt(R"(, "eos_token_id": [])"),
            "config.json: eos_token_id must be an integer or a non-empty list of integers, got []");
  EXPECT_EQ(err(R"(, "hidden_act": "gelu")"),
            "config.json: hidden_act must be \"silu\" (SwiGLU), got \"gelu\"");
  EXPECT_EQ(err(R"(, "mlp_bias": true)"),
            "config.json: mlp_bias = true is not supported; expected false");
  EXPECT_EQ(err(R"(, "model_type": "gemma")"),
            "config.json: model_type \"gemma\" is not supported; expected \"llama\", "
            "\"mistral\" or \"qwen2\"");
  EXPECT_EQ(err(R"(, "model_type": "qwen2", "use_sliding_window": true)"),
            "config.json: use_sliding_window = true is not supported (Qwen2 sliding-window "
            "attention); expected false");
  EXPECT_EQ(err(R"(, "model_type": "mistral", "sliding_window": 1024)"),
            "config.json: sliding_window = 1024 is not supported (sliding-window attention); "
            "expected null or >= max_position_embeddings (2048)");
  EXPECT_EQ(err(R"(, "num_key_value_heads": 3)"),
            "config.json: model config: num_attention_heads (32) must be a multiple of "
            "num_key_value_heads (3)");

  test::TempDir dir;
  test::write_text(dir / "config.json", "{ not json");
  EXPECT_CONTAINS(error_of([&] { read_hf_config(dir / "config.json"); }, ErrorKind::Runtime),
                  dir / "config.json: not valid JSON");
  test::write_text(dir / "config.json", "{\"vocab_size\": " + std::string(1 << 20, '[') + "}");
  EXPECT_CONTAINS(error_of([&] { read_hf_config(dir / "config.json"); }, ErrorKind::Runtime),
                  dir / "config.json: not valid JSON: arrays and objects nested deeper than 128");
  EXPECT_CONTAINS(error_of([&] { read_hf_config(dir / "none.json"); }),
                  dir / "none.json: cannot read");
}

// Sizes that cannot be indexed stop at load, naming the file, before anything is allocated.
TEST(HfConfig, AbsurdSizesAreErrorsNamingTheFile) {
  test::TempDir dir;
  auto err = [&](const std::string& sizes) {
    test::write_text(dir / "config.json", "{" + sizes + "}");
    return error_of([&] { read_hf_config(dir / "config.json"); }, ErrorKind::Usage);
  };
  const std::string dims =
      R"("hidden_size": 2048, "intermediate_size": 8192, "num_attention_heads": 32,
                              "num_key_value_heads": 8)";
  EXPECT_EQ(
      err(dims + R"(, "vocab_size": 4294967296, "num_hidden_layers": 16)"),
      dir /
          "config.json: model config: vocab_size must be <= 2147483647, got 4294967296; token ids "
          "are int32");
  EXPECT_EQ(err(dims + R"(, "vocab_size": 128256, "num_hidden_layers": 1000000000000)"),
            dir /
                "config.json: model config: num_hidden_layers must be <= 151646562971, got "
                "1000000000000; "
                "the parameter count must fit an int64");
  EXPECT_EQ(
      err(dims +
          R"(, "vocab_size": 128256, "num_hidden_layers": 16, "max_position_embeddings": 1099511627776)"),
      dir /
          "config.json: model config: max_position_embeddings must be <= 16777216, got "
          "1099511627776; "
          "RoPE positions are fp32, whose integers are exact only up to 2^24");
  EXPECT_EQ(
      err(dims + R"(, "vocab_size": 128256, "num_hidden_layers": 16, "head_dim": 1073741824)"),
      dir /
          "config.json: model config: head_dim must be <= 67108863, got 1073741824; "
          "num_attention_heads (32) * head_dim is q_proj's output width, and it is a GEMM "
          "dimension, which BLAS takes as a 32-bit int");
}

}  // namespace
}  // namespace ptune
