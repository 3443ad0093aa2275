#!/usr/bin/env node
// Checks a fixture directory from make_fixtures.js against the npm library: each
// NAME.tokenizer.json loads, re-encoding each record gives its ids and decoding them its
// decoded text; lists the records whose decode(encode(x)) != x. Usage: node check_fixtures.js DIR
"use strict";
const fs = require("fs");
const path = require("path");
const tk = require("tokenizers");
const { read_ids, ADD_SPECIAL, DECODE_DIFFERS } = require("./ids_format.js");

// Where two strings first differ, with a few characters of context.
function first_difference(a, b) {
  const x = [...a], y = [...b];
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  const around = (s) => JSON.stringify(s.slice(Math.max(0, i - 12), i + 12).join(""));
  return `at character ${i}: text ${around(x)}, decoded ${around(y)}`;
}

// The corpus source or the section a record belongs to.
function origin(manifest, info, i) {
  const chunk = i - info.sections.corpus[0];
  const inside = ([first, end], k) => k >= first && k < end;
  const src = manifest.corpus.sources.find((s) => inside(s.chunk_range, chunk));
  return src ? src.name : Object.keys(info.sections).find((k) => inside(info.sections[k], i));
}

async function main() {
  const dir = process.argv[2];
  if (!dir) throw new Error("usage: node check_fixtures.js FIXTURE_DIR");
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, "manifest.json"), "utf8"));
  let failures = 0;
  for (const [name, info] of Object.entries(manifest.tokenizers)) {
    const tokenizer = tk.Tokenizer.fromFile(path.join(dir, info.tokenizer_json));
    const records = read_ids(path.join(dir, info.ids));
    let bytes = 0, tokens = 0;
    const differs = [];
    for (const [i, r] of records.entries()) {
      const add_special = (r.flags & ADD_SPECIAL) !== 0;
      const enc = await tokenizer.encode(r.text, null, { addSpecialTokens: add_special });
      const ids = enc.getIds();
      if (ids.join() !== r.ids.join()) {
        console.log(`${name}: record ${i}: the ids differ from the fixture's`);
        failures++;
      }
      if ((await tokenizer.decode(ids, false)) !== r.decoded) {
        console.log(`${name}: record ${i}: the decoded text differs from the fixture's`);
        failures++;
      }
      if (r.flags & DECODE_DIFFERS)
        differs.push(`  record ${i} (${origin(manifest, info, i)}): ` +
                     first_difference(r.text, r.decoded));
      bytes += Buffer.byteLength(r.text);
      tokens += r.ids.length;
    }
    console.log(`${name}: ${records.length} records, ${bytes} bytes, ${tokens} tokens ` +
                `(${(bytes / tokens).toFixed(2)} bytes/token); decode(encode(x)) != x in ` +
                `${differs.length}`);
    for (const d of differs) console.log(d);
  }
  if (failures) throw new Error(`${failures} records differ from the library`);
}

main().catch((e) => { console.error(`check_fixtures: ${e.message}`); process.exit(1); });
