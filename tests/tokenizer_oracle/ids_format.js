// The .ids fixture format (described in make_fixtures.js's header): a writer and a reader.
"use strict";
const fs = require("fs");

const MAGIC = "PTKIDS1\n";
const ADD_SPECIAL = 1;     // flags bit 0: encoded with add_special_tokens=true
const DECODE_DIFFERS = 2;  // flags bit 1: decode(ids) != text; the decoded text follows the ids

class IdsWriter {
  constructor() { this.parts = [Buffer.from(MAGIC, "latin1")]; }
  u32s(values) {
    const b = Buffer.alloc(4 * values.length);
    values.forEach((v, i) => b.writeUInt32LE(v, 4 * i));
    this.parts.push(b);
  }
  record(flags, text, ids, decoded) {
    const bytes = Buffer.from(text, "utf8");
    this.u32s([flags, bytes.length]);
    this.parts.push(bytes);
    this.u32s([ids.length, ...ids]);
    if (flags & DECODE_DIFFERS) {
      const dec = Buffer.from(decoded, "utf8");
      this.u32s([dec.length]);
      this.parts.push(dec);
    }
  }
  save(file) { fs.writeFileSync(file, Buffer.concat(this.parts)); }
}

// Returns [{flags, text, ids, decoded}] (decoded is the text unless flags & DECODE_DIFFERS).
function read_ids(file) {
  const b = fs.readFileSync(file);
  if (b.subarray(0, 8).toString("latin1") !== MAGIC)
    throw new Error(`${file}: not a .ids fixture (expected magic ${JSON.stringify(MAGIC)})`);
  const records = [];
  let p = 8;
  const u32 = () => { const v = b.readUInt32LE(p); p += 4; return v; };
  const str = (n) => { const s = b.toString("utf8", p, p + n); p += n; return s; };
  while (p < b.length) {
    const flags = u32();
    const text = str(u32());
    const n_ids = u32();
    const ids = Array.from({ length: n_ids }, u32);
    const decoded = flags & DECODE_DIFFERS ? str(u32()) : text;
    records.push({ flags, text, ids, decoded });
  }
  return records;
}

module.exports = { IdsWriter, read_ids, ADD_SPECIAL, DECODE_DIFFERS };
