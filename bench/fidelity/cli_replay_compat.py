"""How many of cli-replay's own scenario files runbook-runtime loads, refuses and replays as cli-replay does.

    python bench/fidelity/cli_replay_compat.py --clireplay /path/to/cli-replay [--oracle /path/to/cli_replay_oracle]

Every ``examples/**/*.yaml`` and ``testdata/scenarios/**/*.yaml`` of a cli-replay checkout is
driven the way its docs, companion scripts and tests drive it: each step in order, called
``max(calls.min, 1)`` times, ``{{ .any }}`` and ``{{ .regex }}`` items filled with a value that
matches, ``{{ .var }}`` items with the var's value, stdin sent with CRLF and an extra trailing
newline (cli-replay normalises both). A scenario with ``meta.vars`` is driven a second time with
every var set in the environment (cli-replay's override, which ``deny_env_vars`` blocks).

Each file with more than one call is also driven out of order (reversed), with a stray command
first, and with every call made twice, so refusals are compared as well as answers.

The yardstick is cli-replay's own code: the oracle (a Go program kept out of the repository, built against the
checkout; see docs/decisions/0012-cli-replay-compatibility.md) loads each file with its loader
and answers each call with its replay engine. Its engine compares ``{{ .var }}`` argv items
literally while its README and cookbook write argv that way and expect the value to match, so a
second oracle run renders them first ("as documented"). A file behaves as cli-replay does when
the load verdict, every call's answer (error or exit/stdout/stderr) and the final verify verdict
are the same as the engine's, or, for files where engine and docs disagree, as the docs'.

Without ``--oracle`` the oracle's answers are read from ``--oracle-json`` (a saved run). The
runtime measured is whichever ``runbook_runtime`` is first on PYTHONPATH, so the same command
measures main and a branch. Prints one line per file and the totals; ``--json`` writes details.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# bench/runbook_runtime.py shares its name with the package measured: keep bench/ off the import path
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from playbooks_contracts import patterns  # noqa: E402

# values tried, in order, for a {{ .regex "..." }} item: the first that the pattern finds wins
REGEX_SAMPLES = ["my-api", "prod-web-1", "staging-1", "abc", "a", "0", "x", "id-1", "v1.2.3"]
ANY_SAMPLE = "any-value"


def scenario_files(root: Path) -> list[Path]:
    found = [*root.glob("examples/**/*.yaml"), *root.glob("testdata/scenarios/**/*.yaml")]
    return sorted(found)


def _flat(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for entry in doc.get("steps") or []:
        if isinstance(entry, dict) and isinstance(entry.get("group"), dict):
            out += [s for s in entry["group"].get("steps") or [] if isinstance(s, dict)]
        elif isinstance(entry, dict):
            out.append(entry)
    return out


def _instantiate(item: str, values: dict[str, str]) -> str:
    import re

    text = item.strip()
    if text in ("{{ .any }}", "{{.any}}"):
        return ANY_SAMPLE
    m = re.match(r'^\{\{\s*\.regex\s+"(.+?)"\s*\}\}$', text, re.DOTALL)
    if m:
        for sample in REGEX_SAMPLES:
            try:
                if patterns.search(m.group(1), sample):
                    return sample
            except patterns.PatternError:
                break
        return ANY_SAMPLE
    return re.sub(r"\{\{\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", lambda v: values.get(v.group(1), v.group(0)), item)


def drive(doc: Any, env: dict[str, str]) -> list[dict[str, Any]]:
    """The calls a script written for ``doc`` makes (see the module docstring)."""
    if not isinstance(doc, dict):
        return []
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    values = {str(k): str(v) for k, v in (meta.get("vars") or {}).items()}
    values |= {k: v for k, v in env.items() if k in values and v}
    calls = []
    for step in _flat(doc):
        match = step.get("match") if isinstance(step.get("match"), dict) else {}
        argv = [_instantiate(str(a), values) for a in match.get("argv") or []]
        if not argv:
            continue
        bounds = step.get("calls") if isinstance(step.get("calls"), dict) else None
        times = max(int(bounds.get("min", 0) or 0), 1) if bounds else 1
        stdin = match.get("stdin") or ""
        sent = stdin.replace("\n", "\r\n") + "\n" if stdin else ""
        calls += [{"argv": argv, "stdin": sent}] * times
    return calls


def cases(root: Path) -> list[dict[str, Any]]:
    out = []
    for path in scenario_files(root):
        name = str(path.relative_to(root))
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            doc = None
        out.append({"name": name, "file": str(path), "env": {}, "calls": drive(doc, {})})
        meta = doc.get("meta") if isinstance(doc, dict) and isinstance(doc.get("meta"), dict) else {}
        if meta.get("vars"):
            env = {str(k): f"env-{k}" for k in meta["vars"]}
            out.append({"name": name + " (vars from env)", "file": str(path), "env": env, "calls": drive(doc, env)})
        calls = drive(doc, {})
        if len(calls) > 1:
            # out of order: what each engine refuses, and where it picks up again
            out.append({"name": name + " (reversed)", "file": str(path), "env": {}, "calls": calls[::-1]})
            # a stray command first, then the script: a refusal must not consume a step
            stray = {"argv": [*calls[0]["argv"][:-1], calls[0]["argv"][-1] + "-stray"], "stdin": ""}
            out.append({"name": name + " (stray call)", "file": str(path), "env": {}, "calls": [stray, *calls]})
            # every step once more than the script: past calls.max
            out.append({"name": name + " (repeated)", "file": str(path), "env": {}, "calls": calls + calls})
    return out


def runtime_outcome(case: dict[str, Any]) -> dict[str, Any]:
    """What runbook-runtime does with the case: load (as ``runbook exec --mode replay`` does), replay, verify."""
    from runbook_runtime.scenario import Replayer, ReplayMismatch
    from runbook_runtime.session import load_scenario

    out: dict[str, Any] = {"name": case["name"], "loaded": False, "answers": [], "verified": False}
    path = Path(case["file"])
    try:
        scenario, _ = load_scenario(path)
    except Exception as exc:  # any refusal counts; a crash is told apart below
        out["load_error"] = f"{type(exc).__name__}: {exc}"
        return out
    out["loaded"] = True
    replayer = Replayer(scenario, base_dir=path.parent, vars_=dict(case["env"]))
    for call in case["calls"]:
        try:
            reply = replayer.answer(call["argv"], call["stdin"] or None)
            out["answers"].append({"exit": reply.exit_code, "stdout": reply.stdout, "stderr": reply.stderr})
        except ReplayMismatch as exc:
            out["answers"].append({"error": str(exc), "exit": 0, "stdout": "", "stderr": ""})
        except Exception as exc:  # a crash never matches the oracle
            out["answers"].append({"error": f"crash {type(exc).__name__}: {exc}", "crash": True})
    out["verified"] = all(row["ok"] for row in replayer.report())
    return out


def same(ours: dict[str, Any], theirs: dict[str, Any]) -> tuple[bool, str]:
    if ours["loaded"] != theirs["loaded"]:
        return False, f"load: cli-replay {'accepts' if theirs['loaded'] else 'refuses'}, runtime does not"
    if not ours["loaded"]:
        return True, "refused by both"
    for i, (a, b) in enumerate(zip(ours["answers"], theirs["answers"] or [], strict=False)):
        if a.get("crash"):
            return False, f"call {i}: runtime crashed ({a['error'][:80]})"
        if bool(a.get("error")) != bool(b.get("error")):
            what = "refuses" if b.get("error") else "answers"
            return False, f"call {i}: cli-replay {what}, runtime does not ({(a.get('error') or '')[:60]})"
        if not b.get("error") and (a["exit"], a["stdout"], a["stderr"]) != (b["exit"], b["stdout"], b["stderr"]):
            return False, f"call {i}: different answer: {a['stdout'][:40]!r} vs {b['stdout'][:40]!r}"
    if ours["verified"] != theirs["verified"]:
        return False, "verify verdict differs"
    return True, "same answers"


def oracle(binary: str, payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = subprocess.run([binary], input=json.dumps(payload), capture_output=True, text=True, check=True, timeout=120)
    return json.loads(done.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clireplay", type=Path, required=True)
    ap.add_argument("--oracle", help="the built cli_replay_oracle binary")
    ap.add_argument("--oracle-json", type=Path, help="saved oracle answers (instead of --oracle)")
    ap.add_argument("--save-oracle", type=Path, help="write the oracle's answers here")
    ap.add_argument("--json", type=Path, help="write per-file details here")
    args = ap.parse_args()

    runs = cases(args.clireplay)
    if args.oracle:
        engine = oracle(args.oracle, runs)
        documented = oracle(args.oracle, [r | {"argv_vars": True} for r in runs])
    else:
        saved = json.loads(args.oracle_json.read_text())
        engine, documented = saved["engine"], saved["documented"]
    if args.save_oracle:
        args.save_oracle.write_text(json.dumps({"engine": engine, "documented": documented}, indent=1))

    rows, files_ok, files = [], {}, {}
    for case, e, d in zip(runs, engine, documented, strict=True):
        ours = runtime_outcome(case)
        ok_engine, why_engine = same(ours, e)
        ok_docs, why_docs = same(ours, d)
        disagree = same(e, d)[0] is False
        ok = ok_engine or (disagree and ok_docs)
        why = why_engine if ok_engine or not disagree else f"{why_docs} (as documented)"
        if ok and disagree and not ok_engine:
            why = "as cli-replay's docs say (its engine compares {{ .var }} in argv literally)"
        rows.append({"case": case["name"], "ok": ok, "why": why, "engine_vs_docs_disagree": disagree})
        file = case["name"].split(" (")[0]
        files[file] = files.get(file, True) and ok
        files_ok = {k: v for k, v in files.items() if v}
        sys.stdout.write(f"{'ok  ' if ok else 'DIFF'} {case['name']}: {why}\n")
    sys.stdout.write(
        f"\ncases: {sum(r['ok'] for r in rows)} of {len(rows)} behave as cli-replay; "
        f"files: {len(files_ok)} of {len(files)}\n"
    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
