#!/usr/bin/env node
// The byte-level BPE tokenizer ptune ships in data/wordnet-bpe/: SmolLM2's shape (GPT-2's
// pre-tokenizer, <|endoftext|> <|im_start|> <|im_end|> as ids 0-2, no BOS) with 4096 tokens,
// trained by HF's tokenizers (npm) on the WordNet glosses, plus the tokenizer_config.json
// (ChatML template) and generation_config.json that transformers reads beside it.
// Usage: node make_wordnet_bpe.js CORPUS.txt OUT_DIR
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const { FAMILIES, train, rebuild_model, tokenizer_json } = require("./make_fixtures.js");

const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + " +
  "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}" +
  "{{ '<|im_start|>assistant\\n' }}{% endif %}";

function main() {
  const [corpus, out_dir] = process.argv.slice(2);
  if (!corpus || !out_dir) throw new Error("usage: node make_wordnet_bpe.js CORPUS.txt OUT_DIR");
  const fam = { ...FAMILIES.find((f) => f.name === "gpt2"), name: "wordnet-bpe", vocab_size: 4096 };
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "wordnet-bpe-"));
  try {
    const text = fs.readFileSync(corpus, "utf8");
    const { trained, pre_tokenizer } = train(fam, corpus, work);
    const model = rebuild_model(fam, trained, text, pre_tokenizer);
    fs.mkdirSync(out_dir, { recursive: true });
    fs.writeFileSync(path.join(out_dir, "tokenizer.json"), tokenizer_json(fam, model));
    const config = {
      add_bos_token: false, add_eos_token: false, bos_token: null,
      eos_token: "<|endoftext|>", pad_token: "<|endoftext|>", unk_token: null,
      model_max_length: 512, tokenizer_class: "GPT2Tokenizer", clean_up_tokenization_spaces: false,
      chat_template: CHATML,
    };
    fs.writeFileSync(path.join(out_dir, "tokenizer_config.json"),
                     JSON.stringify(config, null, 2) + "\n");
    // Generation stops at the end of a document and at the end of an assistant turn.
    fs.writeFileSync(path.join(out_dir, "generation_config.json"),
                     JSON.stringify({ eos_token_id: [0, 2], pad_token_id: 0 }, null, 2) + "\n");
    console.log(`wrote ${out_dir}: ${model.vocab.length} tokens, ${model.merges.length} merges`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main();
