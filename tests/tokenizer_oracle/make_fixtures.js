#!/usr/bin/env node
// Reference ids for ptune's tokenizer.json engine from Hugging Face's tokenizers (its npm
// binding; a test oracle, never used at run time). Trains four small BPE tokenizers shaped like
// Llama-3, GPT-2, Qwen2 and Llama-2 (SentencePiece-derived), then encodes ~6 MB of real text
// Debian ships (corpus.js) with each. Usage: node make_fixtures.js OUT_DIR
//
// OUT_DIR gets, per tokenizer NAME in llama3 gpt2 qwen2 spm:
//   NAME.tokenizer.json  the tokenizer: the exact file the library encoded with (fromFile)
//   NAME.ids             reference encodings (ids_format.js), little endian, no padding:
//     magic "PTKIDS1\n" (8 bytes), then records up to the end of the file, each:
//       u32 flags     bit 0: encoded with add_special_tokens=true (else false)
//                     bit 1: decode(ids) != text, and the decoded text follows the ids
//       u32 n_bytes   then n_bytes of UTF-8 text
//       u32 n_ids     then n_ids u32 token ids
//       (if flags & 2) u32 n_dec, then n_dec bytes: decode(ids, skip_special_tokens=false)
// and, shared: corpus.txt (the corpus chunks, concatenated) and manifest.json (sources, files,
// bytes used; which records are which; per tokenizer counts; the library's version).
// Record order: hand-written edge cases, special-token cases, add_special_tokens=true cases,
// then the corpus chunks (whole lines, at most 2048 bytes unless one line is longer).
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const tk = require("tokenizers");
const { assemble_corpus, chunk_lines } = require("./corpus.js");
const { IdsWriter, ADD_SPECIAL, DECODE_DIFFERS } = require("./ids_format.js");

const CHUNK_BYTES = 2048;
const MIN_CORPUS_BYTES = 5 * 1024 * 1024;
const TRAIN_EVERY = 4;  // train on every 4th corpus chunk (~1.5 MB): a second or two each

// ---- The four families as tokenizer.json parts. The npm binding cannot build them all: its
// splitPreTokenizer stores the pattern as a literal ({"String": ...}), it has no ByteLevel
// decoder, and train() uses the model's default BpeTrainer (30000 tokens, every character
// seen, no special tokens), so the trained model is rebuilt below (rebuild_model).
const LLAMA3_REGEX = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2_REGEX = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

const byte_level = (add_prefix_space, trim_offsets, use_regex) =>
  ({ type: "ByteLevel", add_prefix_space, trim_offsets, use_regex });
const split_isolated = (regex) =>
  ({ type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false });
const bpe = (options) => ({
  type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null,
  end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false,
  ...options, vocab: {}, merges: [],
});
const template = (bos, bos_id) => ({
  type: "TemplateProcessing",
  single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
  pair: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
         { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
  special_tokens: { [bos]: { id: bos, ids: [bos_id], tokens: [bos] } },
});
const chatml_cases = [
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  "one document<|endoftext|>the next one <|im_end|>\n",
  "not special: <|im_start <|IM_START|> < |im_end|> <|im_end|<|im_end|>|>\n",
];

// Each family: vocab_size (the model's, special tokens included when they come first),
// whether merges are written "a b" (older hub files) or ["a", "b"] (tokenizers >= 0.20), the
// special tokens and whether they take the first ids (in the model vocab) or follow it.
const FAMILIES = [
  { name: "llama3",  // Meta-Llama-3 / Llama-3.2
    vocab_size: 4096, merges_as_strings: true, byte_level: true, specials_first: false,
    // Frequent whole pre-tokens put in the vocab with no merge that makes them: only
    // ignore_merges (a pre-token found in the vocab is one id) can produce them.
    whole_words: 64,
    specials: ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
               "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
               "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
               "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"],
    normalizer: null,
    pre_tokenizer: { type: "Sequence", pretokenizers: [split_isolated(LLAMA3_REGEX),
                                                       byte_level(false, true, false)] },
    model: bpe({ ignore_merges: true }),
    decoder: byte_level(true, true, true),
    post_processor: (id) => ({
      type: "Sequence",
      processors: [byte_level(true, false, true),
                   template("<|begin_of_text|>", id("<|begin_of_text|>"))],
    }),
    special_cases: [
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
        "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n" +
        "What is a lantern?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
      "one document<|end_of_text|>the next one <|eot_id|>\n",
      "not special: <|eot_id <|EOT_ID|> < |eot_id|> <|eot_id|<|eot_id|>|>\n",
    ] },
  { name: "gpt2",  // GPT-2's pre-tokenizer; the special tokens first, where SmolLM2 has them
    vocab_size: 4000, merges_as_strings: false, byte_level: true, specials_first: true,
    specials: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    normalizer: null,
    pre_tokenizer: byte_level(false, true, true),
    model: bpe({}),
    decoder: byte_level(true, true, true),
    post_processor: () => byte_level(true, false, true),
    special_cases: chatml_cases },
  { name: "qwen2",  // Qwen2 / Qwen2.5: NFC, one digit per pre-token, no BOS
    vocab_size: 3072, merges_as_strings: false, byte_level: true, specials_first: false,
    specials: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    normalizer: { type: "NFC" },
    pre_tokenizer: { type: "Sequence", pretokenizers: [split_isolated(QWEN2_REGEX),
                                                       byte_level(false, false, false)] },
    model: bpe({}),
    decoder: byte_level(false, false, false),
    post_processor: () => byte_level(false, false, false),
    special_cases: chatml_cases },
  { name: "spm",  // Llama-2 / TinyLlama: a SentencePiece BPE model converted to tokenizer.json
    vocab_size: 4000, merges_as_strings: true, byte_level: false, specials_first: true,
    specials: ["<unk>", "<s>", "</s>"],
    // Llama-2's form: no pre-tokenizer; the normalizer turns spaces into "▁".
    normalizer: { type: "Sequence",
                  normalizers: [{ type: "Prepend", prepend: "▁" },
                                { type: "Replace", pattern: { String: " " }, content: "▁" }] },
    pre_tokenizer: null,
    // Trained with Metaspace, so merges stay inside words as SentencePiece's pieces do.
    train_pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "first",
                           split: true },
    model: bpe({ unk_token: "<unk>", fuse_unk: true, byte_fallback: true }),
    decoder: { type: "Sequence",
               decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " },
                          { type: "ByteFallback" }, { type: "Fuse" },
                          { type: "Strip", content: " ", start: 1, stop: 0 }] },
    post_processor: (id) => template("<s>", id("<s>")),
    special_cases: [
      "<s>[INST] What is a lantern? [/INST] A light in a case.</s>\n",
      "hi <s> there</s> and <unk> too\n",
      "not special: <s <S> < s> </s\n",
    ] },
];

// Hand-written cases for the corners of the pre-tokenizers, normalizers and decoders.
const EDGE_CASES = [
  "", " ", "  ", "\n", "\n\n\n", "\r\n", "a\r\nb\r\n", "\t\tindented\n", "trailing spaces   \n",
  "   leading", "x", "Hello world", " Hello world", "Hello  world   ",
  "multiple\n\n\nblank lines\n \n  \n",
  "I'm sure you'll see they've said it's OK, we'd done it. " +
    "I'M SURE YOU'LL SEE THEY'VE SAID IT'S OK\n",
  "numbers: 1 12 123 1234 12345 3.14159 1,000,000 0x7fff 2024-06-01\n",
  "punctuation!!! ... ??? --- ((())) <<<>>> \"quoted\" 'single' `back` ~@#$%^&*_+=|\\/\n",
  "def f(x):\n    return x ** 2  # square\n\nif __name__ == \"__main__\":\n\tprint(f(3))\n",
  "int main(void) {\n  printf(\"%d\\n\", 42);\n  return 0;\n}\n",
  "Ünïcödé façade naïve café résumé Straße Øre Łódź İstanbul\n",
  "Cyrillic: Съешь же ещё этих мягких французских булок. " +
    "Greek: Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.\n",
  "日本語のテキスト、中文文本，한국어 텍스트。\n",
  "العربية: هذا نص تجريبي. עברית: זהו טקסט לדוגמה.\n",
  "emoji: 😀 👍🏽 👩‍👩‍👧 🇩🇪 ❤️ ✅ 🤖\n",
  "NFC: e\u0301 a\u0308 n\u0303 \u00e9 \u1e9b\u0323 \u212b \uac00 \u1100\u1161\n",
  "zero width: a\u200bb\u200dc\ufeffd \u00a0nbsp\u2003em\u3000ideographic\n",
  "controls: \u0000\u0001\u001f\u007f\u0085 end\n",
  "astral: \u{10348} \u{1d11e} \u{20000} \u{e0041} \u{10ffff}\n",
  "▁already▁has▁metaspace ▁ ▁▁\n",
  "a".repeat(3000) + "\n",
  "word ".repeat(400) + "\n",
];

// GPT-2's byte -> printable character table, in the order of ids 0..255.
function bytes_to_unicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  return bs.map((b, i) => [b, String.fromCodePoint(cs[i])]);
}

// The characters SentencePiece would keep (character_coverage 0.9995, no control characters);
// the others are encoded as <0xNN> byte tokens.
function spm_alphabet(train_text) {
  const counts = new Map();
  for (const c of train_text.replace(/ /g, "▁")) counts.set(c, (counts.get(c) ?? 0) + 1);
  const chars = [...counts].filter(([c]) => !/\p{Cc}/u.test(c))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const total = chars.reduce((s, [, n]) => s + n, 0);
  const keep = [];
  let covered = 0;
  for (const [c, n] of chars) {
    if (covered / total >= 0.9995) break;
    keep.push(c);
    covered += n;
  }
  return keep;
}

// Rebuilds a trained BPE model on a fixed base (the 256 byte characters; or SentencePiece's
// <0xNN> bytes and kept characters), then the trained merges in order while both sides are in
// the vocab, up to vocab_size (less fam.whole_words).
// Returns {vocab: [token, ...] (index = id), merges: [[a, b], ...]}.
function rebuild_model(fam, trained, train_text, pre_tokenizer) {
  const vocab = [];
  const ids = new Map();
  const add = (t) => { if (!ids.has(t)) { ids.set(t, vocab.length); vocab.push(t); } };
  if (fam.specials_first) fam.specials.forEach(add);
  if (fam.byte_level) {
    for (const [, ch] of bytes_to_unicode()) add(ch);
  } else {
    for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    spm_alphabet(train_text).forEach(add);
  }
  const n_merged = fam.vocab_size - (fam.whole_words ?? 0);
  const merges = [];
  for (const m of trained.model.merges) {
    const [a, b] = Array.isArray(m) ? m : m.split(" ");
    if (!ids.has(a) || !ids.has(b)) continue;
    if (!ids.has(a + b) && vocab.length >= n_merged) break;
    add(a + b);
    merges.push([a, b]);
  }
  if (fam.whole_words) {
    const counts = new Map();
    for (const [piece] of pre_tokenizer.preTokenizeString(train_text))
      counts.set(piece, (counts.get(piece) ?? 0) + 1);
    [...counts].filter(([p]) => !ids.has(p) && [...p].length > 1)
      .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1))
      .slice(0, fam.whole_words).forEach(([p]) => add(p));
  }
  if (vocab.length < fam.vocab_size)
    throw new Error(`${fam.name}: training gave ${vocab.length} tokens, expected ` +
                    `${fam.vocab_size}; train on more text (TRAIN_EVERY)`);
  return { vocab, merges };
}

const added_token = (id, content) => ({ id, content, single_word: false, lstrip: false,
                                        rstrip: false, normalized: false, special: true });

// The tokenizer.json text, its vocab in id order (JSON.stringify would put integer-like keys
// such as "0" first).
function tokenizer_json(fam, model) {
  const model_id = new Map(model.vocab.map((t, i) => [t, i]));
  const added = fam.specials.map((t, i) =>
    added_token(fam.specials_first ? model_id.get(t) : model.vocab.length + i, t));
  const special_id = (t) => added.find((a) => a.content === t).id;
  const merges = fam.merges_as_strings ? model.merges.map(([a, b]) => `${a} ${b}`) : model.merges;
  const obj = {
    version: "1.0", truncation: null, padding: null, added_tokens: added,
    normalizer: fam.normalizer, pre_tokenizer: fam.pre_tokenizer,
    post_processor: fam.post_processor(special_id), decoder: fam.decoder,
    model: { ...fam.model, vocab: "@VOCAB@", merges },
  };
  const vocab = "{\n" + model.vocab.map((t, i) => `      ${JSON.stringify(t)}: ${i}`).join(",\n") +
                "\n    }";
  return JSON.stringify(obj, null, 2).replace('"@VOCAB@"', () => vocab) + "\n";  // no $& expansion
}

// Trains with the library's own trainer; returns the trained tokenizer.json and pre-tokenizer.
function train(fam, train_file, work_dir) {
  const config = {
    version: "1.0", truncation: null, padding: null, added_tokens: [],
    normalizer: fam.normalizer, pre_tokenizer: fam.train_pre_tokenizer ?? fam.pre_tokenizer,
    post_processor: null, decoder: fam.decoder, model: fam.model,
  };
  const tokenizer = tk.Tokenizer.fromString(JSON.stringify(config));
  tokenizer.train([train_file]);  // reads the file line by line: no merge spans a "\n"
  const out = path.join(work_dir, `${fam.name}.trained.json`);
  tokenizer.save(out, false);
  return { trained: JSON.parse(fs.readFileSync(out, "utf8")),
           pre_tokenizer: tokenizer.getPreTokenizer() };
}

async function encode_all(tokenizer, cases) {
  const writer = new IdsWriter();
  const stats = { records: 0, tokens: 0, decode_differs: 0, decode_differs_corpus: 0 };
  for (const { text, add_special, corpus } of cases) {
    const ids = (await tokenizer.encode(text, null, { addSpecialTokens: add_special })).getIds();
    const decoded = await tokenizer.decode(ids, false);
    const differs = decoded !== text;
    writer.record((add_special ? ADD_SPECIAL : 0) | (differs ? DECODE_DIFFERS : 0),
                  text, ids, decoded);
    stats.records++;
    stats.tokens += ids.length;
    if (differs) { stats.decode_differs++; if (corpus) stats.decode_differs_corpus++; }
  }
  return { writer, stats };
}

async function main() {
  const out_dir = process.argv[2];
  if (!out_dir) throw new Error("usage: node make_fixtures.js OUT_DIR");
  fs.mkdirSync(out_dir, { recursive: true });
  const t_start = Date.now();
  const seconds = (t0) => ((Date.now() - t0) / 1000).toFixed(1);

  const sources = assemble_corpus();
  const chunks = [];
  const manifest_sources = [];
  for (const s of sources) {
    const c = chunk_lines(s.text, CHUNK_BYTES);
    // chunk_range: corpus chunks [first, end); record = sections.corpus[0] + chunk index.
    manifest_sources.push({ name: s.name, package: s.pkg, bytes: Buffer.byteLength(s.text),
                            chunks: c.length,
                            chunk_range: [chunks.length, chunks.length + c.length],
                            files: s.files });
    chunks.push(...c);
  }
  const corpus = chunks.join("");
  const corpus_bytes = Buffer.byteLength(corpus);
  if (corpus_bytes < MIN_CORPUS_BYTES)
    throw new Error(`the corpus is ${corpus_bytes} bytes, expected at least ${MIN_CORPUS_BYTES}; ` +
                    `raise the caps in corpus.js`);
  fs.writeFileSync(path.join(out_dir, "corpus.txt"), corpus);
  const train_text = chunks.filter((_, i) => i % TRAIN_EVERY === 0).join("");
  console.log(`corpus: ${corpus_bytes} bytes in ${chunks.length} chunks from ${sources.length} ` +
              `sources; training on ${Buffer.byteLength(train_text)} bytes`);

  const manifest = {
    generator: "tests/tokenizer_oracle/make_fixtures.js",
    library: `tokenizers ${require("tokenizers/package.json").version} (npm)`,
    format: "NAME.ids: see the header of make_fixtures.js",
    corpus: { file: "corpus.txt", bytes: corpus_bytes, chunks: chunks.length,
              chunk_bytes_max: CHUNK_BYTES, sources: manifest_sources },
    tokenizers: {},
  };
  const work_dir = fs.mkdtempSync(path.join(os.tmpdir(), "ptune-tokfix-"));
  try {
    const train_file = path.join(work_dir, "train.txt");
    fs.writeFileSync(train_file, train_text);
    for (const fam of FAMILIES) {
      const t0 = Date.now();
      const { trained, pre_tokenizer } = train(fam, train_file, work_dir);
      const model = rebuild_model(fam, trained, train_text, pre_tokenizer);
      const json_file = path.join(out_dir, `${fam.name}.tokenizer.json`);
      fs.writeFileSync(json_file, tokenizer_json(fam, model));
      const tokenizer = tk.Tokenizer.fromFile(json_file);  // the ids come from this exact file
      const t_train = seconds(t0);

      const t1 = Date.now();
      const cases = [];
      const sections = {};  // name -> [first record, end)
      const section = (name, texts, add_special, corpus) => {
        sections[name] = [cases.length, cases.length + texts.length];
        cases.push(...texts.map((text) => ({ text, add_special, corpus })));
      };
      section("edge", EDGE_CASES, false, false);
      section("special", fam.special_cases, false, false);
      section("add_special_tokens", ["Hello world\n", "", fam.special_cases[0]], true, false);
      section("corpus", chunks, false, true);
      const { writer, stats } = await encode_all(tokenizer, cases);
      writer.save(path.join(out_dir, `${fam.name}.ids`));
      manifest.tokenizers[fam.name] = {
        tokenizer_json: `${fam.name}.tokenizer.json`, ids: `${fam.name}.ids`,
        vocab_size: tokenizer.getVocabSize(true), model_vocab_size: model.vocab.length,
        merges: model.merges.length, specials: fam.specials, ...stats, sections,
      };
      console.log(`${fam.name}: vocab ${tokenizer.getVocabSize(true)} (${model.merges.length} ` +
                  `merges), ${stats.records} records, ${stats.tokens} tokens, decode != text in ` +
                  `${stats.decode_differs} (${stats.decode_differs_corpus} corpus chunks); ` +
                  `trained in ${t_train} s, encoded in ${seconds(t1)} s`);
    }
  } finally {
    fs.rmSync(work_dir, { recursive: true, force: true });
  }
  fs.writeFileSync(path.join(out_dir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  console.log(`wrote ${out_dir} in ${seconds(t_start)} s`);
}

if (require.main === module)
  main().catch((e) => { console.error(`make_fixtures: ${e.message}`); process.exit(1); });
module.exports = { FAMILIES, train, rebuild_model, tokenizer_json };
