// A tiny end-to-end setup shared by the recipe and CLI tests: a small tokenizer trained once
// per test binary on the head of the shipped WordNet corpus, and recipe text for a 2-layer
// model that trains in about a second; the tests' model configs and tensor comparisons.
#pragma once

#include <torch/types.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ptune/train/trainer.h"

#include "test_util.h"

namespace ptune::test {

// The tiny LLaMA the unit and CLI tests build by hand: hidden 32, SwiGLU 48, 2 layers, 4 query
// heads over 2 K/V heads (GQA), 64 positions; tests change what they need.
ModelConfig tiny_model_config(int64_t vocab_size);

// The parity tests' model: vocab 96, hidden 48,
// SwiGLU 80, 2 layers, 6 heads over 2 K/V heads, rms_norm_eps 1e-5.
ModelConfig parity_model_config();

// Largest |a - b|, compared in fp32; differing sizes fail the calling test.
double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b);
// max_abs_diff relative to the largest |b|.
double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b);

// The tiny tokenizer's vocabulary: 4 special and 256 byte pieces, then ~70 characters and
// ~240 learned pieces.
constexpr int64_t kTinyVocab = 576;

// Directory holding tok.model (kTinyVocab pieces), train.txt and eval.txt (created on first
// use, then reused).
const std::string& tiny_assets();

// Recipe YAML for a tiny full fine-tune writing to `out_dir`. `extra` is appended (YAML
// lines overriding nothing already present, e.g. "mtp: {...}").
std::string tiny_recipe(const std::string& out_dir, int steps = 12, const std::string& extra = "");

// metrics.jsonl as JSON objects, one per line.
std::vector<nlohmann::json> read_metrics(const std::string& path);

// Loads recipe YAML text (with --set style overrides) and trains it.
TrainSummary train_text(const std::string& yaml, const TrainOptions& o = {},
                        const std::vector<std::string>& sets = {});

}  // namespace ptune::test
