"""Compiler over the golden set: command recall, invented commands, schema-valid share, ms per TSG (rules),
and the fidelity figures of issue #20 (typed commands in a step, destructive cli steps, imperative
sentences accounted for, output taken for commands, proposed assertions).

``--real DIR`` prints the same fidelity figures on public guides: DIR holds their texts, named as
``--materialize`` writes them (the list, with repositories and commits, is
bench/compiler_real_guides.json; the texts themselves are never stored in this repository).
``--materialize MIRRORS DIR`` writes them from local git copies (``MIRRORS/<owner>+<name>/repo``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

from playbooks_platform.figures import Figures

# Run as `python bench/compiler.py`, this file's folder comes first on sys.path and its name would
# shadow the `compiler` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.modules.pop("compiler", None)
goldens = importlib.import_module("compiler.goldens")
fidelity = importlib.import_module("compiler.fidelity")
pipeline = importlib.import_module("compiler.pipeline")
LIST = Path(__file__).resolve().parent / "compiler_real_guides.json"


def text_name(repo: str, path: str) -> str:
    return "texts_" + f"{repo}/{path}".replace("/", "_")


def materialize(mirrors: Path, out: Path) -> None:
    """Write each listed guide, at its listed commit, from local git copies of its repository."""
    out.mkdir(parents=True, exist_ok=True)
    for g in json.loads(LIST.read_text())["guides"]:
        repo = mirrors / g["repo"].replace("/", "+") / "repo"
        if not repo.exists():
            print(f"no copy of {g['repo']}: {g['path']} skipped")
            continue
        for rev in (g["commit"], "HEAD"):
            done = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{g['path']}"], capture_output=True)
            if done.returncode == 0:
                (out / text_name(g["repo"], g["path"])).write_bytes(done.stdout)
                break


def real(folder: Path, verbose: bool) -> None:
    listed = json.loads(LIST.read_text())
    total = fidelity.Figures()
    for g in listed["guides"]:
        path = folder / text_name(g["repo"], g["path"])
        if not path.exists():
            continue
        md = path.read_text()
        total.add(fidelity.figures(md, pipeline.compile_rules(md, source_name=path.name), path.name))
    repos = len({g["repo"] for g in listed["guides"] if (folder / text_name(g["repo"], g["path"])).exists()})
    print(f"public guides: {total.guides} of {len(listed['guides'])} listed, from {repos} repositories")
    print("\n".join(total.lines()))
    before = listed["totals"]["before"]
    print(
        f"(main before this work, same texts: schema-valid {before['schema_valid_share']:.3f}, typed commands in a "
        f"step {before['typed_in_step_share']:.3f}, imperatives {before['imperatives_accounted_share']:.3f}, "
        f"output taken for commands {before['output_as_command']})"
    )
    if verbose:
        print("\n".join(total.missed))


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
    total = fidelity.Figures()
    for c in cases:
        total.add(fidelity.figures(sources[c], results[c], c))
    print("fidelity on the golden set (written here, reproducing the public guides' patterns):")
    print("\n".join("  " + line for line in total.lines()))
    figures = Figures()
    figures.update(
        {
            "golden.tsgs": m.tsgs,
            "golden.command_recall": m.recall,
            "golden.invented_commands": m.invented,
            "golden.schema_valid_share": m.valid / m.tsgs,
            "golden.ms_per_tsg": wall_ms,
            "golden.diffs": len(drift),
            "golden.destructive_cli_steps": total.destructive_cli,
            "golden.typed_in_step_share": total.typed_in_step / total.typed if total.typed else 1.0,
            "golden.imperatives_accounted_share": (
                total.imperatives_accounted / total.imperatives if total.imperatives else 1.0
            ),
            "golden.output_as_command": total.output_as_command,
            "golden.proposed_assertions": total.assertions,
        }
    )
    figures.write()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, help="folder with the public guides' texts")
    parser.add_argument("--materialize", nargs=2, type=Path, metavar=("MIRRORS", "DIR"))
    parser.add_argument("-v", "--verbose", action="store_true", help="list what the figures count as missed")
    args = parser.parse_args()
    if args.materialize:
        materialize(*args.materialize)
    elif args.real:
        real(args.real, args.verbose)
    else:
        main()
