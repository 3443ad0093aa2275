// load_weights views the mapped file when dtypes match (no copy), and writes into such a
// parameter never reach the file (copy-on-write).
#include <gtest/gtest.h>

#include "ptune/io/checkpoint.h"
#include "ptune/io/weights.h"
#include "test_util.h"

using namespace ptune;

TEST(LoadWeights, SameDtypeViewsTheMappingCopyOnWrite) {
  test::TempDir t;
  ModelConfig c;
  c.vocab_size = 8, c.hidden_size = 4, c.intermediate_size = 8, c.num_hidden_layers = 1;
  c.num_attention_heads = 2, c.num_key_value_heads = 2, c.max_position_embeddings = 8;
  torch::Tensor w = torch::arange(16, torch::kFloat32).reshape({4, 4});
  save_checkpoint_dir(t / "ckpt", c, {{"weight", w}});
  const std::string before = test::read_text(t / "ckpt/model.safetensors");

  torch::nn::Module m;
  torch::Tensor p = m.register_parameter("weight", torch::zeros({4, 4}));
  const void* own = p.data_ptr();
  {
    CheckpointWeights ck = CheckpointWeights::open(t / "ckpt");
    load_weights(m, ck, true);
  }  // the checkpoint object is gone; the parameter keeps the mapping alive
  EXPECT_NE(p.data_ptr(), own) << "expected the parameter to view the file, not a copy";
  EXPECT_TRUE(torch::equal(p, w));
  {
    torch::NoGradGuard g;
    p.add_(1.0);  // an optimizer step writes into the parameter
  }
  EXPECT_TRUE(torch::equal(p, w + 1));
  EXPECT_EQ(test::read_text(t / "ckpt/model.safetensors"), before) << "the file must not change";
}
