#!/usr/bin/env python3
"""Checks that herald's modules depend on each other one way (ARCHITECTURE.md, "Invariant:
dependencies point down").

A unit is a folder under src/ (engine, recovery, journal, domain, machinery, store) or a
file at src/'s root (the base: ids, clock, config, message, error, sink, loom). A unit
depends on another when one of its files names it in a `use crate::...` or an inline
`crate::...` path outside comments; a name lib.rs re-exports (`crate::Engine`) counts for the
unit it comes from. The check fails when a unit names a unit in a layer above its own, or
when the base files form a cycle, and prints the offending lines.
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

# Highest first. A unit may depend on units of its own layer's lower neighbours only.
LAYERS = [
    ["recovery"],
    ["engine"],
    ["journal"],
    ["domain"],
    ["machinery"],
    ["store"],
    ["BASE"],  # every file at src/'s root but lib.rs
]

SRC = Path(__file__).resolve().parent.parent / "src"


def unit_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def rank(unit: str, base: set) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer or (layer == ["BASE"] and unit in base):
            return i
    raise SystemExit(f"layers: unit {unit!r} is in no layer; add it to .ci/layers.py")


def code_lines(text: str):
    """Lines with comments removed (line comments and doc comments; block comments are not
    used in this crate)."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("//", 1)[0] if '"' not in line else line
        if line.lstrip().startswith("//"):
            continue
        yield number, stripped


def reexports(lib: str) -> dict:
    """Name -> unit for every `pub use unit::...` in lib.rs."""
    names = {}
    for statement in re.findall(r"pub use\s+([a-z_]+)::(.*?);", lib, re.S):
        unit, rest = statement
        for name in re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)\b", rest):
            names.setdefault(name, unit)
    return names


def group_heads(body: str):
    """Top-level names of a `{a::b, c, d::{e, f}}` group."""
    depth, current, heads = 0, "", []
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth == 0 and ch == ",":
            heads.append(current)
            current = ""
        elif depth >= 0:
            current += ch
    heads.append(current)
    out = []
    for h in heads:
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", h)
        if m:
            out.append(m.group(1))
    return out


def main() -> int:
    files = sorted(p for p in SRC.rglob("*.rs") if p.name != "lib.rs")
    units = {unit_of(p) for p in files}
    base = {u for u in units if (SRC / f"{u}.rs").exists()}
    names = reexports((SRC / "lib.rs").read_text())
    edges = defaultdict(list)  # (from, to) -> [where]
    for path in files:
        here = unit_of(path)
        text = "\n".join(line for _, line in code_lines(path.read_text()))
        mentions = []
        for m in re.finditer(r"crate::\{(.*?)\};", text, re.S):
            mentions += group_heads(m.group(1))
        mentions += re.findall(r"crate::([A-Za-z_][A-Za-z0-9_]*)", text)
        for name in mentions:
            target = name if name in units else names.get(name)
            if target is None or target == here:
                continue
            edges[(here, target)].append(f"{path.relative_to(SRC.parent)}: crate::{name}")
    bad = []
    for (a, b), where in sorted(edges.items()):
        if rank(a, base) > rank(b, base):
            bad.append(f"{a} -> {b} points up:\n    " + "\n    ".join(sorted(set(where))))
    # The base files may use each other, without a cycle.
    graph = defaultdict(set)
    for (a, b) in edges:
        if a in base and b in base:
            graph[a].add(b)
    state = {}

    def visit(u, stack):
        state[u] = 1
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycle = stack[stack.index(v):] + [v]
                bad.append("cycle among the base files: " + " -> ".join(cycle))
            elif v not in state:
                visit(v, stack + [v])
        state[u] = 2

    for u in sorted(base):
        if u not in state:
            visit(u, [u])
    if bad:
        print("layers: dependencies must point down (ARCHITECTURE.md):", file=sys.stderr)
        for line in bad:
            print("  " + line, file=sys.stderr)
        return 1
    summary = ", ".join(f"{a}->{b}" for (a, b) in sorted(edges) if a not in base)
    print(f"layers: {len(files)} files, {len(units)} units, every dependency points down")
    if "-v" in sys.argv:
        print("  " + summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
