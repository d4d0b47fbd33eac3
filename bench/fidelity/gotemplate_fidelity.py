"""runbook-runtime's Go-template subset against Go's own text/template, on generated templates.

    python bench/fidelity/gotemplate_fidelity.py --oracle /path/to/cli_replay_oracle [--n 3000] [--seed 7]

Builds ``--n`` response templates from pieces written here (fields, missing keys, captures,
literals, pipelines, the builtins, if/else/with, trim markers, comments, and constructs the
subset leaves out or that do not parse), renders each with runbook_runtime.gotemplate and with
cli-replay's renderer (the oracle, which calls Go's text/template), and prints:
how many render the same text, how many both refuse, how many only this runtime refuses
(constructs outside the subset: safe, and said at load), and every case where the output differs
or Go refuses what this runtime renders (fidelity bugs: there should be none).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path

sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from runbook_runtime.gotemplate import Template, TemplateError, render_data  # noqa: E402

TEXT = ["abc", " ", "\n", "x=", "}}", "{", "-", "  \n ", "é", "%d"]
ACTIONS = [
    "{{ .v1 }}",
    "{{.v2}}",
    "{{ .missing }}",
    "{{ .capture.c1 }}",
    "{{ .capture.none }}",
    "{{ . }}",
    "{{ .capture }}",
    '{{ "lit" }}',
    "{{ `raw` }}",
    "{{ 42 }}",
    "{{ -3 }}",
    "{{ 1.5 }}",
    "{{ true }}",
    '{{ printf "%s-%d" .v1 7 }}',
    '{{ printf "%5s|%-4s|" .v1 .v2 }}',
    '{{ printf "%q" .v1 }}',
    '{{ printf "%v" .missing }}',
    '{{ printf "%x" 255 }}',
    '{{ printf "%05d" 42 }}',
    '{{ printf "%.2f" 3.14159 }}',
    '{{ printf "%t" true }}',
    '{{ printf "%%" }}',
    "{{ print .v1 .v2 }}",
    "{{ print 1 2 }}",
    '{{ print "a" 1 2 "b" }}',
    "{{ println .v1 }}",
    "{{ len .v1 }}",
    "{{ len .capture }}",
    '{{ index .capture "c1" }}',
    '{{ index .capture "zz" }}',
    '{{ index . "v1" }}',
    '{{ eq .v1 "one" }}',
    '{{ eq .v1 "x" "one" }}',
    "{{ ne .v1 .v2 }}",
    "{{ lt 1 2 }}",
    '{{ ge "b" "a" }}',
    "{{ not .missing }}",
    "{{ not .v1 }}",
    "{{ and .v1 .v2 }}",
    "{{ or .missing .v2 }}",
    "{{ or .capture.none .v1 }}",
    '{{ .v1 | printf "%s!" }}',
    "{{ .v1 | len }}",
    "{{ (print .v1) }}",
    '{{ (printf "%s" .v2) | len }}',
    "{{- .v1 -}}",
    '{{- " " }}',
    "{{/* c */}}",
    "{{- /* c */ -}}",
    "{{ /* c */ }}",
    "{{/* c */ }}",
    "{{/* c */\t-}}",
    "{{/* }} */}}",
    "{{ .v1.x }}",
    "{{ .missing.x }}",
    "{{ .capture.c1.y }}",
    "{{ if .v1 }}T{{ else }}F{{ end }}",
    "{{ if .missing }}T{{ else if .v2 }}E{{ else }}N{{ end }}",
    "{{ with .capture.c1 }}[{{ . }}]{{ end }}",
    "{{ with .missing }}x{{ else }}y{{ end }}",
    '{{ if eq .v1 "one" }}1{{ end }}',
    '{{ "{{" }}',
    '{{"{{"}} .x }}',
    '{{ printf "%d" .v1 }}',
    '{{ printf "%s" 3 }}',
    '{{ printf "%s %s" .v1 }}',
    '{{ printf "%s" .v1 .v2 }}',
    '{{ eq 1 "a" }}',
    "{{ 0x1F }}",
    "{{ 1e3 }}",
    '{{ "\\t\\u00e9" }}',
    "{{ nil }}",
    "{{ .v1 .v2 }}",
    "{{ range .capture }}x{{ end }}",
    "{{ $x := 1 }}",
    "{{ html .v1 }}",
    "{{ unknownfn }}",
    "{{",
    "{{ .v1 ",
    "{{ end }}",
    "{{ if .v1 }}",
    "{{ else }}",
    '{{ define "x" }}y{{ end }}',
    "{{ .v1 | }}",
    "{{ ( .v1 }}",
    "{{ 'a' }}",
]
VALUES = ["one", "", "two words", "0", "<b>", "false", "é"]


def corpus(n: int, seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        pieces = [rng.choice(ACTIONS if rng.random() < 0.6 else TEXT) for _ in range(rng.randint(1, 4))]
        out.append(
            {
                "template": "".join(pieces),
                "vars": {"v1": rng.choice(VALUES), "v2": rng.choice(VALUES)},
                "captures": {"c1": rng.choice(VALUES)} if rng.random() < 0.7 else {},
            }
        )
    return out


def ours(case: dict[str, object]) -> tuple[str | None, str | None, str]:
    """(output, error, where): where is "parse" or "render" for an error."""
    try:
        template = Template(str(case["template"]))
    except TemplateError as exc:
        return None, str(exc), "parse"
    try:
        text, _ = template.render(render_data(case["vars"], case["captures"]))  # type: ignore[arg-type]
    except TemplateError as exc:
        return None, str(exc), "render"
    return text, None, ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle", required=True)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    cases = corpus(args.n, args.seed)
    done = subprocess.run(
        [args.oracle], input=json.dumps({"templates": cases}), capture_output=True, text=True, check=True, timeout=300
    )
    theirs = json.loads(done.stdout)
    same = both_refuse = only_ours_refuse = 0
    bugs = []
    for case, go in zip(cases, theirs, strict=True):
        text, err, _ = ours(case)
        if err is None and not go.get("error"):
            if text == go["output"]:
                same += 1
            else:
                bugs.append((case, f"output {text!r} vs Go {go['output']!r}"))
        elif err is not None and go.get("error"):
            both_refuse += 1
        elif err is not None:
            only_ours_refuse += 1
        else:
            bugs.append((case, f"Go refuses ({go['error']}) what this runtime renders as {text!r}"))
    for case, why in bugs[:20]:
        sys.stdout.write(f"DIFF {case['template']!r} vars={case['vars']} captures={case['captures']}: {why}\n")
    sys.stdout.write(
        f"\n{len(cases)} templates: {same} render the same text, {both_refuse} refused by both, "
        f"{only_ours_refuse} refused here only (outside the subset), {len(bugs)} differ\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
