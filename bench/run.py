"""``make bench``: every benchmark in turn, each as its own process, with a progress bar at a terminal.

The benchmarks' own output (their figures) goes to stdout as they print it; the bar (which bench,
how many done, time so far) is drawn on stderr and only at a terminal, so a log or CI sees the
figures alone. Exits with the first failing benchmark's code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

HERE = Path(__file__).resolve().parent
SKIP = {"run.py", "soak.py"}  # soak runs for as long as it is told: `make soak`


def benches(names: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name not in SKIP)
    return [p for p in found if not names or p.stem in names]


def main(argv: list[str]) -> int:
    todo = benches(argv)
    out = Console(highlight=False, soft_wrap=True)
    with Progress(
        TextColumn("bench {task.fields[current]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not Console(stderr=True).is_terminal,
    ) as bar:
        task = bar.add_task("benches", total=len(todo), current="")
        for path in todo:
            bar.update(task, current=path.stem)
            out.print(f"== bench/{path.name}", markup=False)
            env = dict(os.environ)
            if os.environ.get("BENCH_JSON_DIR"):  # one file per bench: a shared path would keep only the last
                env["BENCH_JSON"] = str(Path(os.environ["BENCH_JSON_DIR"]) / f"{path.stem}.json")
            proc = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, bufsize=1, env=env)
            assert proc.stdout is not None
            for line in proc.stdout:  # through rich, so the bar stays below the figures
                out.print(line.rstrip("\n"), markup=False)
            if proc.wait() != 0:
                out.print(f"bench/{path.name} failed with exit code {proc.returncode}", markup=False)
                return proc.returncode
            bar.advance(task)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
