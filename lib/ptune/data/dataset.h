// Training/eval datasets and batching. Three formats (recipe data.*.format):
//  text     - one document per non-empty line; tokenized as [BOS] + doc + [EOS] (BOS only
//             with add_bos), cut into windows of seq_len+1 tokens with stride seq_len: input
//             = w[0:L-1], targets = w[1:L]; the last, shorter window is kept if it has >= 2
//             tokens. By data.packing:
//               documents: all documents in one stream, each attending only within itself
//                          (Example::positions restart at 0 per document); a document's
//                          last token predicts nothing. The default.
//               none:      each document windowed on its own (the batch pads them).
//               stream:    one stream in which every position predicts and attends across
//                          document boundaries, as HF run_clm's group_texts.
//  instruct - JSONL {prompt, response} (field names configurable); tokens = [BOS] +
//             encode(template with {prompt} replaced) + encode(response) + [EOS], truncated
//             to seq_len+1; input = tokens[:-1], targets = tokens[1:] with every target that
//             is a prompt token set to kIgnoreIndex: only response tokens and EOS are learned.
//  tokens   - JSONL {"input_ids": [...]} taken as is (no BOS added), truncated to seq_len+1
//             tokens s[0..n); input = s[0:n-1]. Targets, by the optional second field:
//               none:        targets[t] = s[t+1]                 (every position predicts)
//               "labels":    targets[t] = labels[t+1]            (HF convention: labels
//                            same length as input_ids, -100 = ignore, shifted here)
//               "loss_mask": targets[t] = s[t+1] if loss_mask[t+1] else -100 (1 = token
//                            t+1 is a prediction target; loss_mask[0] is unused)
//  chat     - JSONL {"messages": [{"role", "content"}]} (OpenAI) or {"conversations":
//             [{"from", "value"}]} (ShareGPT), rendered by data.chat_template (auto: the
//             tokenizer's own template, recognised) and tokenized turn by turn (chat_data.h);
//             no BOS beyond what the template writes. Targets by data.train_on: every
//             assistant turn (content and end-of-turn token), every token, or the last
//             assistant turn. Truncated to seq_len+1 tokens.
// instruct/tokens/chat examples without any target are dropped (with a warning).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "ptune/config/recipe.h"
#include "ptune/data/batch.h"

namespace ptune {

class Tokenizer;

class Dataset {
 public:
  // `tok` may be null for the tokens format. Usage errors name `key` (the recipe path, e.g.
  // "data.train"), the file and the line: "data.train: f.jsonl:3: field 'response' missing".
  // Path "-" reads stdin. An empty dataset is an error.
  static Dataset load(const DataSource& src, const Tokenizer* tok, int64_t seq_len, bool add_bos,
                      const std::string& key = "data", Packing packing = Packing::kDocuments);
  static Dataset from_examples(std::vector<Example> examples);
  size_t size() const { return examples_.size(); }
  const Example& operator[](size_t i) const { return examples_[i]; }
  int64_t total_targets() const;

 private:
  std::vector<Example> examples_;
};

}  // namespace ptune
