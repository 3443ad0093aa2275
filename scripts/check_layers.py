#!/usr/bin/env python3
"""Checks that #include lines in lib/ptune and apps/ follow the layer order.

A file in one layer may include headers of its own folder and of lower layers only:

  core  <-  config  <-  io, data  <-  ops  <-  model  <-  peft, mtp  <-  load  <-  precision,
  eval, generate, report, dist  <-  train  <-  apps

Folders on one line of the same layer do not include each other. Prints each offending
include as FILE:LINE and exits 1; exits 0 when there is none.
"""
import pathlib
import re
import sys

LAYERS = [
    ["core"],
    ["config"],
    ["io", "data"],
    ["ops"],
    ["model"],
    ["peft", "mtp"],
    ["load"],
    ["precision", "eval", "generate", "report", "dist"],
    ["train"],
    ["apps"],
]
RANK = {folder: rank for rank, layer in enumerate(LAYERS) for folder in layer}
INCLUDE = re.compile(r'^\s*#\s*include\s+"ptune/([a-z_]+)/[^"]+"')


def folder_of(path: pathlib.Path, root: pathlib.Path) -> str:
    rel = path.relative_to(root).parts
    return "apps" if rel[0] == "apps" else rel[2]  # lib/ptune/<folder>/...


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    files = sorted((root / "lib" / "ptune").rglob("*.[ch]*")) + sorted((root / "apps").rglob("*.[ch]*"))
    problems = []
    for path in files:
        if path.suffix not in (".h", ".cpp"):
            continue
        src = folder_of(path, root)
        if src not in RANK:
            problems.append(f"{path.relative_to(root)}: folder '{src}' has no layer; add it to "
                            f"scripts/check_layers.py")
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            dst = m.group(1)
            if dst == src:
                continue
            if dst not in RANK:
                problems.append(f"{path.relative_to(root)}:{n}: includes folder '{dst}', which "
                                f"has no layer")
            elif RANK[dst] >= RANK[src]:
                how = "the same layer" if RANK[dst] == RANK[src] else "a higher layer"
                problems.append(f"{path.relative_to(root)}:{n}: {src}/ includes {dst}/ "
                                f"({how}): {line.strip()}")
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} include(s) against the layer order "
              f"(see scripts/check_layers.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
