// The test corpus for the tokenizer.json engine: real UTF-8 text that Debian 12 ships, picked
// deterministically (a source's files come from `dpkg-query -L PACKAGE`, sorted by path, whole
// files taken until the source's byte cap, the last one cut at a line end), then cut into
// chunks of whole lines ("\n" kept). The same Debian package versions give the same bytes.
"use strict";
const fs = require("fs");
const { execFileSync } = require("child_process");

// Each source: the Debian package that owns its files, which of them (a regex on the path), at
// most how many bytes (in all, or per file), and how a file's text is extracted.
const SOURCES = [
  { name: "wordnet", pkg: "wordnet-base", cap_per_file: 520_000, extract: wordnet_glosses,
    files: /^\/usr\/share\/wordnet\/data\.(adj|adv|noun|verb)$/ },
  { name: "licenses", pkg: "base-files", cap: 400_000,
    files: /^\/usr\/share\/common-licenses\/[^/]+$/ },
  // MIME type names in ~60 languages: Arabic, CJK, Cyrillic, Greek, Hebrew, Georgian, ...
  { name: "mime-l10n", pkg: "shared-mime-info", cap: 1_000_000, extract: mime_comments,
    files: /^\/usr\/share\/mime\/packages\/freedesktop\.org\.xml$/ },
  // GnuPG's help texts: prose in ja, zh_CN, zh_TW, ru and Latin-script languages.
  { name: "gnupg-l10n", pkg: "gnupg-l10n", cap: 400_000,
    files: /^\/usr\/share\/gnupg\/help\.[^/]*txt$/ },
  // X11's compose table: symbols, emoji, letters of many scripts, with their Unicode names.
  { name: "x11-compose", pkg: "libx11-data", cap: 600_000,
    files: /^\/usr\/share\/X11\/locale\/en_US\.UTF-8\/Compose$/ },
  { name: "c-headers", pkg: "libc6-dev", cap: 800_000, files: /^\/usr\/include\/[^/]+\.h$/ },
  { name: "python", pkg: "libpython3.11-stdlib", cap: 900_000,
    files: /^\/usr\/lib\/python3\.11\/[^/]+\.py$/ },
  // Perl's pragmas; feature.pm has emoji in its documentation.
  { name: "perl", pkg: "perl-modules-5.36", cap: 500_000,
    files: /^\/usr\/share\/perl\/5\.36\.0\/[a-z][^/]*\.pm$/ },
];

const utf8 = new TextDecoder("utf-8", { fatal: true });

// data.* lines are "offset lex_filenum ss_type w_cnt word lex_id ... | gloss" (wndb(5WN)); the
// licence header's lines start with two spaces. One line per synset: "word (pos): gloss".
function wordnet_glosses(text, path) {
  const pos = path.split(".").pop();
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("  ")) continue;
    const bar = line.indexOf(" | ");
    if (bar < 0) continue;
    const word = line.split(" ")[4].replace(/_/g, " ").replace(/\((a|p|ip)\)$/, "");
    out.push(`${word} (${pos}): ${line.slice(bar + 3).trim()}\n`);
  }
  return out.join("");
}

// One paragraph per MIME type: "type: English comment", then "lang: comment" lines.
function mime_comments(text) {
  const entity = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };
  const unescape = (s) =>
    s.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, e) =>
      entity[e] ?? String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : +e.slice(1)));
  const out = [];
  for (const m of text.matchAll(/<mime-type type="([^"]+)">([\s\S]*?)<\/mime-type>/g)) {
    const lines = [];
    for (const c of m[2].matchAll(/<comment(?: xml:lang="([^"]+)")?>([^<]*)<\/comment>/g))
      lines.push(`${c[1] ?? m[1]}: ${unescape(c[2])}\n`);
    if (lines.length) out.push(lines.join("") + "\n");
  }
  return out.join("");
}

function package_files(src) {
  let listing;
  try {
    listing = execFileSync("dpkg-query", ["-L", src.pkg],
                           { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch {
    throw new Error(`corpus source '${src.name}' needs the Debian package ${src.pkg}, which is ` +
                    `not installed (apt-get install ${src.pkg}; scripts/setup.sh lists it)`);
  }
  const paths = listing.split("\n").filter((p) => src.files.test(p)).sort();
  // Regular files only: the symlinks (common-licenses/GPL -> GPL-3) would repeat a file.
  const files = paths.filter((p) => fs.existsSync(p) && fs.lstatSync(p).isFile());
  if (!files.length)
    throw new Error(`corpus source '${src.name}': ${src.pkg} has no file matching ${src.files}`);
  return files;
}

// The text up to `cap` bytes, cut after the last "\n" that fits.
function cut_at_line(text, cap) {
  const bytes = Buffer.from(text, "utf8");
  if (bytes.length <= cap) return text;
  const end = bytes.lastIndexOf(0x0a, cap - 1);
  return end < 0 ? "" : bytes.subarray(0, end + 1).toString("utf8");
}

// Returns [{name, pkg, text, files: [{path, bytes_read, bytes_used, skipped?}]}]; a file that
// is not UTF-8 or repeats an earlier file is listed with bytes_used 0 and the reason.
function assemble_corpus() {
  const seen = new Set();
  return SOURCES.map((src) => {
    let text = "";
    const files = [];
    for (const path of package_files(src)) {
      const raw = fs.readFileSync(path);
      const rec = { path, bytes_read: raw.length, bytes_used: 0 };
      files.push(rec);
      const key = raw.toString("base64");
      if (seen.has(key)) { rec.skipped = "same bytes as an earlier file"; continue; }
      seen.add(key);
      let s;
      try { s = utf8.decode(raw); } catch { rec.skipped = "not UTF-8"; continue; }
      if (src.extract) s = src.extract(s, path);
      if (s && !s.endsWith("\n")) s += "\n";
      if (src.cap_per_file) s = cut_at_line(s, src.cap_per_file);
      if (src.cap) s = cut_at_line(s, src.cap - Buffer.byteLength(text));
      rec.bytes_used = Buffer.byteLength(s);
      text += s;
      if (src.cap && Buffer.byteLength(text) >= src.cap - 4096) break;
    }
    return { name: src.name, pkg: src.pkg, text, files };
  });
}

// Whole lines ("\n" kept), joined while the chunk stays <= max_bytes; a longer line is a
// chunk of its own.
function chunk_lines(text, max_bytes) {
  const chunks = [];
  let cur = "", cur_bytes = 0;
  for (const line of text.split(/(?<=\n)/)) {
    const n = Buffer.byteLength(line);
    if (cur && cur_bytes + n > max_bytes) { chunks.push(cur); cur = ""; cur_bytes = 0; }
    cur += line;
    cur_bytes += n;
  }
  if (cur) chunks.push(cur);
  return chunks;
}

module.exports = { SOURCES, assemble_corpus, chunk_lines };
