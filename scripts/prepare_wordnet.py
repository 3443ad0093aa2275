#!/usr/bin/python3
"""Builds ptune's shipped training data from WordNet 3.0 (Debian package wordnet-base).

Reads /usr/share/wordnet/data.{noun,verb,adj,adv} (format: wndb(5WN)) and writes
  corpus_train.txt / corpus_eval.txt       one document per line (format: text)
  instruct_train.jsonl / instruct_eval.jsonl {"prompt", "response"} (format: instruct)
  chat_train.jsonl / chat_eval.jsonl       {"messages": [user, assistant]} (format: chat)
The eval split is chosen by synset (hash of pos+offset), so no synset is in both splits.
Output is deterministic. Run with /usr/bin/python3; standard library only.

  /usr/bin/python3 scripts/prepare_wordnet.py                 # the small committed sample
  /usr/bin/python3 scripts/prepare_wordnet.py --out data/wordnet-full --full
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import sys

POS_NAME = {"n": "noun", "v": "verb", "a": "adjective", "s": "adjective", "r": "adverb"}
FILES = ["noun", "verb", "adj", "adv"]
ADJ_MARKER = re.compile(r"\((?:a|p|ip)\)$")  # syntactic markers on adjectives: able(a)


def split_gloss(gloss):
    """'def; "ex one"; "ex two" - Author' -> ('def', ['ex one', 'ex two'])."""
    gloss = gloss.replace("`", "'")  # WordNet quotes words as `word'
    parts, cur, in_quote = [], [], False
    for ch in gloss:
        if ch == '"':
            in_quote = not in_quote
        if ch == ";" and not in_quote:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    definition, examples = [], []
    for p in parts:
        if not p:
            continue
        if p.startswith('"') and p.count('"') >= 2:
            examples.append(p[1 : p.rindex('"')].strip())
        elif not examples:  # definition text comes before the examples
            definition.append(p)
    return "; ".join(definition), [e for e in examples if e]


def parse_data_file(path, file_pos):
    """Yields synsets as dicts: key, pos, words, definition, examples."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("  ") or not line.strip():  # licence header
                continue
            fields, _, gloss = line.rstrip("\n").partition(" | ")
            tok = fields.split()
            offset, ss_type, w_cnt = tok[0], tok[2], int(tok[3], 16)
            words = []
            for i in range(w_cnt):
                w = ADJ_MARKER.sub("", tok[4 + 2 * i]).replace("_", " ")
                if w not in words:
                    words.append(w)
            definition, examples = split_gloss(gloss.strip())
            if not definition:
                continue
            yield {
                "key": file_pos + offset,  # offsets are unique within one data file
                "pos": POS_NAME[ss_type],
                "words": words,
                "definition": definition,
                "examples": examples,
            }


def digest(text):
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def sentence(text):
    """Capitalised, ending in punctuation."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def corpus_line(s):
    line = f"{s['words'][0]} ({s['pos']}): {s['definition']}."
    if len(s["words"]) > 1:
        line += " Synonyms: " + ", ".join(s["words"][1:]) + "."
    for e in s["examples"]:
        line += " " + sentence(e)
    return line


def instruct_records(s, per_synset):
    for w in s["words"][:per_synset]:
        yield {
            "prompt": f'Define the word "{w}" ({s["pos"]}).',
            "response": s["definition"] + ".",
        }


def chat_records(s, per_synset):
    """"What does X mean?" -> the definition, as an OpenAI-style conversation."""
    for w in s["words"][:per_synset]:
        yield {"messages": [
            {"role": "user", "content": f'What does "{w}" ({s["pos"]}) mean?'},
            {"role": "assistant", "content": s["definition"][:1].upper() + s["definition"][1:] + "."},
        ]}


class CappedWriter:
    """Writes lines until the next one would exceed max_bytes (None = no cap)."""

    def __init__(self, path, max_bytes):
        self.f = open(path, "w", encoding="utf-8", newline="\n")
        self.max_bytes, self.size, self.lines, self.full = max_bytes, 0, 0, False

    def write(self, line):
        data = line + "\n"
        n = len(data.encode("utf-8"))
        if self.full or (self.max_bytes is not None and self.size + n > self.max_bytes):
            self.full = True
            return
        self.f.write(data)
        self.size += n
        self.lines += 1

    def close(self):
        self.f.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wordnet-dir", default="/usr/share/wordnet")
    ap.add_argument("--licence", default="/usr/share/doc/wordnet-base/copyright")
    ap.add_argument("--out", default="data/wordnet")
    ap.add_argument("--full", action="store_true", help="no size caps: the whole of WordNet")
    ap.add_argument("--eval-percent", type=float, default=5.0, help="share of synsets held out")
    ap.add_argument("--per-synset", type=int, default=2, help="instruct records per synset (lemmas)")
    ap.add_argument("--max-corpus-train-bytes", type=int, default=1_500_000)
    ap.add_argument("--max-corpus-eval-bytes", type=int, default=80_000)
    ap.add_argument("--max-instruct-train-bytes", type=int, default=800_000)
    ap.add_argument("--max-instruct-eval-bytes", type=int, default=50_000)
    ap.add_argument("--max-chat-train-bytes", type=int, default=1_200_000)
    ap.add_argument("--max-chat-eval-bytes", type=int, default=75_000)
    args = ap.parse_args()

    synsets = []
    for name in FILES:
        path = os.path.join(args.wordnet_dir, "data." + name)
        if not os.path.exists(path):
            sys.exit(f"prepare_wordnet: {path} not found (install Debian's wordnet-base)")
        synsets.extend(parse_data_file(path, name[0]))
    # A fixed pseudo-random order, so a capped sample covers all of WordNet evenly.
    synsets.sort(key=lambda s: digest("order:" + s["key"]))

    os.makedirs(args.out, exist_ok=True)
    cap = (lambda n: None) if args.full else (lambda n: n)
    w = {
        "corpus_train": CappedWriter(os.path.join(args.out, "corpus_train.txt"), cap(args.max_corpus_train_bytes)),
        "corpus_eval": CappedWriter(os.path.join(args.out, "corpus_eval.txt"), cap(args.max_corpus_eval_bytes)),
        "instruct_train": CappedWriter(os.path.join(args.out, "instruct_train.jsonl"), cap(args.max_instruct_train_bytes)),
        "instruct_eval": CappedWriter(os.path.join(args.out, "instruct_eval.jsonl"), cap(args.max_instruct_eval_bytes)),
        "chat_train": CappedWriter(os.path.join(args.out, "chat_train.jsonl"), cap(args.max_chat_train_bytes)),
        "chat_eval": CappedWriter(os.path.join(args.out, "chat_eval.jsonl"), cap(args.max_chat_eval_bytes)),
    }
    threshold = args.eval_percent / 100.0
    for s in synsets:
        split = "eval" if digest("split:" + s["key"]) % 10000 < threshold * 10000 else "train"
        w["corpus_" + split].write(corpus_line(s))
        for r in instruct_records(s, args.per_synset):
            w["instruct_" + split].write(json.dumps(r, ensure_ascii=False))
        for r in chat_records(s, args.per_synset):
            w["chat_" + split].write(json.dumps(r, ensure_ascii=False))
    for name, wr in w.items():
        wr.close()
        print(f"{name}: {wr.lines} lines, {wr.size} bytes", file=sys.stderr)

    if os.path.exists(args.licence):
        with open(args.licence, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r"License: WordNet3\.0\n(.*?)(?:\n\n|\Z)", text, re.S)
        if m:
            body = "\n".join("" if l.strip() == "." else l[1:] for l in m.group(1).splitlines())
            with open(os.path.join(args.out, "LICENSE"), "w", encoding="utf-8") as f:
                f.write("WordNet 3.0 licence (from Debian's wordnet-base copyright file)\n\n" + body + "\n")
    print(f"wrote {args.out} from {len(synsets)} synsets", file=sys.stderr)


if __name__ == "__main__":
    main()
