#!/usr/bin/env node
// Encode throughput of the npm tokenizers library (Hugging Face's Rust tokenizers), one thread:
// each corpus chunk of a fixture directory (make_fixtures.js) encoded by a sequential
// `await tokenizer.encode(chunk)` (add_special_tokens=false), ids fetched; file reading and
// loading excluded. Prints one JSON line per tokenizer; mb_per_s counts 10^6 bytes of UTF-8 text.
//   node bench.js FIXTURE_DIR [REPEATS (3; best is kept)] [--batch: also time encodeBatch]
// Each call of encode crosses from JS to a libuv worker thread and back; --batch shows the
// library without that per-call cost (encodeBatch of all chunks, RAYON_NUM_THREADS=1).
"use strict";
process.env.RAYON_NUM_THREADS ??= "1";  // read when the library first starts its thread pool
process.env.TOKENIZERS_PARALLELISM ??= "false";
const fs = require("fs");
const path = require("path");
const tk = require("tokenizers");
const { read_ids } = require("./ids_format.js");

async function time_encode(tokenizer, texts) {
  let tokens = 0;
  const t0 = process.hrtime.bigint();
  for (const text of texts) {
    const enc = await tokenizer.encode(text, null, { addSpecialTokens: false });
    tokens += enc.getIds().length;
  }
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, tokens };
}

async function time_encode_batch(tokenizer, texts) {
  const t0 = process.hrtime.bigint();
  const encs = await tokenizer.encodeBatch(texts, { addSpecialTokens: false });
  const tokens = encs.reduce((n, e) => n + e.getIds().length, 0);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, tokens };
}

async function main() {
  const args = process.argv.slice(2);
  const batch = args.includes("--batch");
  const [dir, repeats_arg] = args.filter((a) => a !== "--batch");
  if (!dir) throw new Error("usage: node bench.js FIXTURE_DIR [REPEATS] [--batch]");
  const repeats = Number(repeats_arg ?? 3);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  for (const [name, info] of Object.entries(manifest.tokenizers)) {
    const tokenizer = tk.Tokenizer.fromFile(path.join(dir, info.tokenizer_json));
    const [first, end] = info.sections.corpus;
    const records = read_ids(path.join(dir, info.ids)).slice(first, end);
    const texts = records.map((r) => r.text);
    const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
    const expected = records.reduce((n, r) => n + r.ids.length, 0);
    const modes = [["encode", time_encode]];
    if (batch) modes.push(["encodeBatch", time_encode_batch]);
    for (const [mode, fn] of modes) {
      await fn(tokenizer, texts.slice(0, 200));  // warm-up: thread pool, allocator
      let best = null;
      for (let r = 0; r < repeats; r++) {
        const run = await fn(tokenizer, texts);
        if (run.tokens !== expected)
          throw new Error(`${name}: ${run.tokens} tokens, the fixture has ${expected}`);
        if (!best || run.seconds < best.seconds) best = run;
      }
      console.log(JSON.stringify({
        tokenizer: name, engine: manifest.library, mode, threads: 1, chunks: texts.length, bytes,
        tokens: best.tokens, seconds: +best.seconds.toFixed(4),
        mb_per_s: +(bytes / 1e6 / best.seconds).toFixed(2),
        tokens_per_s: Math.round(best.tokens / best.seconds),
      }));
    }
  }
}

main().catch((e) => { console.error(`bench: ${e.message}`); process.exit(1); });
