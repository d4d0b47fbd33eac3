"""Compiler over the golden set: command recall, invented commands, schema-valid share, ms per TSG (rules)."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from playbooks_platform.figures import Figures

# Run as `python bench/compiler.py`, this file's folder comes first on sys.path and its name would
# shadow the `compiler` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.modules.pop("compiler", None)
goldens = importlib.import_module("compiler.goldens")


def main(rounds: int = 20) -> None:
    cases = goldens.cases()
    sources = {c: goldens.source(c) for c in cases}
    results = {c: goldens.compile_case(c) for c in cases}  # warm-up: imports, ontology, parser
    started = time.perf_counter()
    for _ in range(rounds):
        results = {c: goldens.compile_case(c) for c in cases}
    wall_ms = (time.perf_counter() - started) * 1000 / (rounds * len(cases))
    m = goldens.measure(results)
    size = sum(len(s) for s in sources.values()) / len(sources)
    print(f"golden set: {m.tsgs} TSGs, {m.commands} source commands, mean {size:.0f} chars per TSG")
    print(f"command recall:       {m.recall:.1%} ({m.found}/{m.commands})")
    print(f"invented commands:    {m.invented} (must be 0)")
    print(f"schema-valid share:   {m.valid / m.tsgs:.0%} ({m.valid}/{m.tsgs}, must be 100%)")
    print(f"ms per TSG (rules):   {wall_ms:.2f} (aim: under 50), over {rounds} rounds")
    drift = [c for c in cases if goldens.diff(c, results[c])]
    print(f"golden diffs:         {len(drift)} of {len(cases)}" + (f" ({', '.join(drift)})" if drift else ""))
    figures = Figures()
    figures.update(
        {
            "golden.tsgs": m.tsgs,
            "golden.command_recall": m.recall,
            "golden.invented_commands": m.invented,
            "golden.schema_valid_share": m.valid / m.tsgs,
            "golden.ms_per_tsg": wall_ms,
            "golden.diffs": len(drift),
        }
    )
    figures.write()


if __name__ == "__main__":
    main()
