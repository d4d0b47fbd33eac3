"""runbook-runtime's replay engine against cli-replay's, on generated scenarios and call sequences.

    python bench/fidelity/cli_replay_engine_fuzz.py --oracle /path/to/cli_replay_oracle [--n 2000] [--seed 3]

Generates ``--n`` scenarios (ordered steps and unordered groups over a few commands, random
``calls`` bounds, stdin on some steps, captures and templates referring to them) and a random
call sequence for each (mostly the scenario's own commands, in and out of order, some with a
different stdin), runs both engines through them (cli-replay's through the oracle)
and prints how many agree on the load verdict, every answer (refusal, or exit/stdout/stderr) and
the verify verdict, and the first disagreements.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

# bench/runbook_runtime.py shares its name with the package measured: keep bench/ off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
_spec = importlib.util.spec_from_file_location("cli_replay_compat", Path(__file__).with_name("cli_replay_compat.py"))
assert _spec is not None and _spec.loader is not None
compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compat)

COMMANDS = [["kubectl", "get", "pods"], ["kubectl", "apply"], ["az", "show"], ["git", "status"], ["helm", "ls"]]


def gen_step(rng: random.Random, captures: list[str], index: int) -> dict[str, Any]:
    argv = list(rng.choice(COMMANDS))
    if rng.random() < 0.2:
        argv[-1] = '{{ .regex "^[a-z]+$" }}' if rng.random() < 0.5 else "{{ .any }}"
    step: dict[str, Any] = {"match": {"argv": argv}, "respond": {"exit": rng.choice([0, 0, 1, 3])}}
    if rng.random() < 0.2:
        step["match"]["stdin"] = rng.choice(["a\n", "a\nb\n", "x"])
    if rng.random() < 0.4:
        low = rng.choice([0, 1, 1, 2])
        step["calls"] = {"min": low, "max": low + rng.choice([0, 1, 2])} if low or rng.random() < 0.7 else {"max": 2}
        if step["calls"].get("max") == 0 and rng.random() < 0.9:
            step["calls"]["max"] = 1
    out = f"out{index}"
    if captures and rng.random() < 0.4:
        out += " {{ .capture." + rng.choice(captures) + " }}"
    if rng.random() < 0.3:
        out += " {{ .region }}"
    step["respond"]["stdout"] = out
    if rng.random() < 0.03:
        out += " {{ .capture.c" + str(index + 1) + " }}"  # maybe a forward reference
    if rng.random() < 0.3:
        name = "region" if rng.random() < 0.05 else f"c{index}"  # "region" is a meta var
        step["respond"]["capture"] = {name: f"v{index}"}
        if name != "region":
            captures.append(name)
    return step


def gen_scenario(rng: random.Random) -> dict[str, Any]:
    captures: list[str] = []
    steps: list[Any] = []
    index = 0
    for _ in range(rng.randint(1, 5)):
        if rng.random() < 0.25:
            members = []
            for _ in range(rng.randint(1, 3)):
                members.append(gen_step(rng, captures, index))
                index += 1
            steps.append({"group": {"mode": "unordered", "steps": members}})
        else:
            steps.append(gen_step(rng, captures, index))
            index += 1
    return {"meta": {"name": "fuzz", "vars": {"region": "eu"}}, "steps": steps}


def gen_calls(rng: random.Random, doc: dict[str, Any]) -> list[dict[str, Any]]:
    flat = []
    for entry in doc["steps"]:
        flat += entry["group"]["steps"] if "group" in entry else [entry]
    calls = []
    for _ in range(rng.randint(1, 8)):
        step = rng.choice(flat) if rng.random() < 0.85 else {"match": {"argv": rng.choice(COMMANDS)}}
        argv = [("abc" if "{{" in a else a) for a in step["match"]["argv"]]
        stdin = step["match"].get("stdin", "")
        if stdin and rng.random() < 0.3:
            stdin = "other"
        elif stdin and rng.random() < 0.5:
            stdin = stdin.replace("\n", "\r\n") + "\n"
        calls.append({"argv": argv, "stdin": stdin})
    return calls


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for i in range(args.n):
            doc = gen_scenario(rng)
            path = Path(tmp) / f"s{i}.yaml"
            path.write_text(yaml.safe_dump(doc))
            cases.append({"name": f"s{i}", "file": str(path), "env": {}, "calls": gen_calls(rng, doc)})
        done = subprocess.run(
            [args.oracle], input=json.dumps(cases), capture_output=True, text=True, check=True, timeout=600
        )
        theirs = json.loads(done.stdout)
        agree, refused, shown = 0, 0, 0
        for case, go in zip(cases, theirs, strict=True):
            ok, why = compat.same(compat.runtime_outcome(case), go)
            agree += ok
            refused += not go["loaded"]
            if not ok and shown < 10:
                shown += 1
                sys.stdout.write(f"DIFF {case['name']}: {why}\n{Path(case['file']).read_text()}{case['calls']}\n\n")
    sys.stdout.write(f"{agree} of {len(cases)} generated scenarios agree ({refused} refused by cli-replay)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
