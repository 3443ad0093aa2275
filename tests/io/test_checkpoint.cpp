// Checkpoint directories (single file and sharded), atomic directory/file writes, and
// load_weights into HF-named parameters.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "error_helpers.h"
#include "ptune/io/checkpoint.h"
#include "ptune/io/fs.h"
#include "ptune/io/weights.h"
#include "test_util.h"

namespace ptune {
namespace {

using test::error_of;
namespace fs = std::filesystem;

ModelConfig tiny_config() {
  ModelConfig c;
  c.vocab_size = 16;
  c.hidden_size = 8;
  c.intermediate_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  return c;
}

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Checkpoint, SavesAndReopensADirectory) {
  test::TempDir tmp;
  test::write_text(tmp / "tokenizer.model", "sentencepiece bytes");
  NamedTensors w = {{"model.norm.weight", torch::randn({8}).to(torch::kBFloat16)},
                    {"model.embed_tokens.weight", torch::randn({16, 8}).to(torch::kBFloat16)}};
  ModelConfig c = tiny_config();
  c.torch_dtype = "float32";
  save_checkpoint_dir(tmp / "out/ckpt", c, w,
                      {{tmp / "tokenizer.model", "tokenizer.model"}});  // creates out/

  EXPECT_EQ(entries(tmp / "out"), std::vector<std::string>{"ckpt"});
  EXPECT_EQ(entries(tmp / "out/ckpt"),
            (std::vector<std::string>{"config.json", "model.safetensors", "tokenizer.model"}));
  EXPECT_EQ(test::read_text(tmp / "out/ckpt/tokenizer.model"), "sentencepiece bytes");
  ModelConfig r = read_checkpoint_config(tmp / "out/ckpt");
  EXPECT_EQ(r.torch_dtype, "bfloat16");  // follows the weights
  EXPECT_EQ(r.hidden_size, 8);

  auto ck = CheckpointWeights::open(tmp / "out/ckpt");
  EXPECT_EQ(ck.keys(),
            (std::vector<std::string>{"model.embed_tokens.weight", "model.norm.weight"}));
  EXPECT_TRUE(torch::equal(ck.get("model.norm.weight"), w[0].second));
  EXPECT_EQ(ck.info("model.embed_tokens.weight").shape, (std::vector<int64_t>{16, 8}));
  EXPECT_CONTAINS(error_of([&] { ck.get("lm_head.weight"); }),
                  "checkpoint has no tensor 'lm_head.weight'");
}

TEST(Checkpoint, OpensShardsThroughTheIndexAndSkipsInvFreq) {
  test::TempDir dir;
  auto a = torch::randn({4, 4}), b = torch::randn({4}), inv = torch::ones({2});
  save_safetensors(dir / "model-00001-of-00002.safetensors",
                   {{"model.layers.0.mlp.up_proj.weight", a},
                    {"model.layers.0.self_attn.rotary_emb.inv_freq", inv}});
  save_safetensors(dir / "model-00002-of-00002.safetensors", {{"model.norm.weight", b}});
  test::write_text(dir / "model.safetensors.index.json",
                   R"({"metadata": {"total_size": 88}, "weight_map": {
      "model.layers.0.mlp.up_proj.weight": "model-00001-of-00002.safetensors",
      "model.layers.0.self_attn.rotary_emb.inv_freq": "model-00001-of-00002.safetensors",
      "model.norm.weight": "model-00002-of-00002.safetensors"}})");
  auto ck = CheckpointWeights::open(dir.path());
  EXPECT_EQ(ck.keys(),
            (std::vector<std::string>{"model.layers.0.mlp.up_proj.weight", "model.norm.weight"}));
  EXPECT_TRUE(torch::equal(ck.get("model.layers.0.mlp.up_proj.weight"), a));
  EXPECT_TRUE(torch::equal(ck.get("model.norm.weight"), b));
  EXPECT_EQ(ck.file_of("model.norm.weight"), dir / "model-00002-of-00002.safetensors");
  EXPECT_FALSE(ck.contains("model.layers.0.self_attn.rotary_emb.inv_freq"));

  test::write_text(dir / "model.safetensors.index.json",
                   R"({"weight_map": {"model.extra": "model-00002-of-00002.safetensors"}})");
  EXPECT_EQ(error_of([&] { CheckpointWeights::open(dir.path()); }),
            dir /
                "model.safetensors.index.json: weight_map puts 'model.extra' in "
                "model-00002-of-00002.safetensors, but that file has no such tensor");
}

TEST(Checkpoint, MissingPiecesAreNamed) {
  test::TempDir dir;
  EXPECT_EQ(error_of([&] { CheckpointWeights::open(dir.path()); }),
            dir.path() + ": no model.safetensors or model.safetensors.index.json");
  EXPECT_EQ(error_of([&] { CheckpointWeights::open(dir / "nope"); }),
            dir /
                "nope: no such directory; expected a checkpoint directory with config.json and "
                "model.safetensors");
  EXPECT_EQ(error_of([&] { read_checkpoint_config(dir.path()); }),
            dir.path() +
                ": no config.json; expected a checkpoint directory with config.json and "
                "model.safetensors");
}

TEST(Fs, WriteDirAtomicKeepsTheOldDirWhenFillThrows) {
  test::TempDir dir;
  fs::create_directory(dir / "ckpt");
  test::write_text(dir / "ckpt/old.txt", "old");
  EXPECT_THROW(write_dir_atomic(dir / "ckpt",
                                [](const std::string& tmp) {
                                  test::write_text(tmp + "/half.txt", "half");
                                  throw std::runtime_error("disk full");
                                }),
               std::runtime_error);
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"ckpt"});  // no temporaries left
  EXPECT_EQ(entries(dir / "ckpt"), std::vector<std::string>{"old.txt"});

  write_dir_atomic(dir / "ckpt/",
                   [](const std::string& tmp) { test::write_text(tmp + "/new.txt", "new"); });
  EXPECT_EQ(entries(dir.path()), std::vector<std::string>{"ckpt"});  // old one removed
  EXPECT_EQ(entries(dir / "ckpt"), std::vector<std::string>{"new.txt"});
  EXPECT_EQ(test::read_text(dir / "ckpt/new.txt"), "new");
}

TEST(Fs, WriteFileAtomicReplacesAndCleansUp) {
  test::TempDir dir;
  write_file_atomic(dir / "a/b.txt", "one");
  write_file_atomic(dir / "a/b.txt", "two");
  EXPECT_EQ(read_file(dir / "a/b.txt"), "two");
  EXPECT_THROW(write_file_atomic_stream(dir / "a/b.txt",
                                        [](std::ostream& out) {
                                          out << "partial";
                                          throw std::runtime_error("interrupted");
                                        }),
               std::runtime_error);
  EXPECT_EQ(read_file(dir / "a/b.txt"), "two");
  EXPECT_EQ(entries(dir / "a"), std::vector<std::string>{"b.txt"});
  EXPECT_EQ(error_of([&] { read_file(dir / "none"); }),
            dir / "none: cannot read: No such file or directory");
}

// A module tree whose parameter names are the given dotted HF names.
std::shared_ptr<torch::nn::Module> module_with(
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& params) {
  auto root = std::make_shared<torch::nn::Module>();
  for (const auto& [name, shape] : params) {
    torch::nn::Module* m = root.get();
    size_t start = 0, dot;
    while ((dot = name.find('.', start)) != std::string::npos) {
      std::string part = name.substr(start, dot - start);
      auto children = m->named_children();
      m = children.contains(part)
              ? children[part].get()
              : m->register_module(part, std::make_shared<torch::nn::Module>()).get();
      start = dot + 1;
    }
    m->register_parameter(name.substr(start), torch::zeros(shape));
  }
  return root;
}

TEST(LoadWeights, CopiesCastsAndReports) {
  test::TempDir dir;
  auto q = torch::randn({4, 8});
  save_checkpoint_dir(dir / "ck", tiny_config(),
                      {{"model.layers.0.self_attn.q_proj.weight", q.to(torch::kBFloat16)},
                       {"lm_head.weight", torch::randn({16, 8})}});
  auto m =
      module_with({{"model.layers.0.self_attn.q_proj.weight", {4, 8}}, {"model.norm.weight", {8}}});
  auto ck = CheckpointWeights::open(dir / "ck");
  LoadReport r = load_weights(*m, ck, /*strict=*/false);
  auto p = m->named_parameters()["model.layers.0.self_attn.q_proj.weight"];
  EXPECT_EQ(p.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(p, q.to(torch::kBFloat16).to(torch::kFloat)));
  EXPECT_TRUE(p.requires_grad());
  EXPECT_EQ(r.missing, std::vector<std::string>{"model.norm.weight"});
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"lm_head.weight"});

  EXPECT_EQ(error_of([&] { load_weights(*m, ck, /*strict=*/true); }),
            dir / "ck: checkpoint is missing 1 parameter(s) the model needs: model.norm.weight");
  EXPECT_NO_THROW(load_weights(*m, ck, /*strict=*/true, {"model.norm."}));
}

TEST(LoadWeights, WrongShapeNamesTensorShapesAndFile) {
  test::TempDir dir;
  save_checkpoint_dir(dir / "ck", tiny_config(),
                      {{"model.layers.0.self_attn.q_proj.weight", torch::zeros({32, 64})}});
  auto m = module_with({{"model.layers.0.self_attn.q_proj.weight", {64, 64}}});
  auto ck = CheckpointWeights::open(dir / "ck");
  EXPECT_EQ(error_of([&] { load_weights(*m, ck, true); }),
            "tensor 'model.layers.0.self_attn.q_proj.weight' has wrong shape; expected [64, 64], "
            "got [32, 64] (in " +
                (dir / "ck/model.safetensors") + ")");
}

}  // namespace
}  // namespace ptune
