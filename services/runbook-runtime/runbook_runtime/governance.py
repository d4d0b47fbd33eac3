"""Governance of CLI steps: the command policy on this machine, templates, environment (redaction: redaction.py)."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence

from playbooks_contracts.command_policy import CommandPolicy, Layer, Resolved, Resolver, layers_for
from playbooks_contracts.command_policy import render_argv as policy_render
from playbooks_contracts.runbook import (
    ANY_TEMPLATE,
    CliStep,
    Governance,
    Meta,
    Runbook,
    is_template,
    iter_leaves,
    render_text,
)
from playbooks_contracts.templating import MISSING, lookup

# The child environment starts from these, never from the whole parent environment.
SAFE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TERM", "USER", "TMPDIR")
PREVIEW_CHARS = 200


class GovernanceError(Exception):
    """A command or template the runbook's governance refuses; nothing was executed."""


def which(program: str, path: str | None) -> str | None:
    """The path an executable program is found at (after PATH lookup, before symlinks), or None."""
    found = program if os.sep in program else shutil.which(program, path=path)
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        return None
    return os.path.abspath(found)


def fs_resolver(path: str | None = None) -> Resolver:
    """Finds programs on this machine (``path``: the search path, None for the service's own)."""

    def resolve(program: str) -> Resolved | None:
        found = which(program, path)
        return Resolved(found, os.path.realpath(found)) if found else None

    return resolve


def command_policy(
    layers: Sequence[Layer] | Governance, *, mode: str = "real", path: str | None = None
) -> CommandPolicy:
    """The one command policy over ``layers`` as a run in ``mode`` applies it.

    Real runs find argv[0] on the child's PATH and refuse what is not there; list entries resolve
    against the service's own PATH, so a directory put in front of a command's search path cannot
    redefine what "ls" means, and a program is compared as its real binary, so ``/usr/bin/rm`` or a
    symlink named ``ls`` pointing to ``rm`` matches no allowed entry. Offline (replay, dry-run,
    validation) a program that exists here is judged the same way, one that does not by its name.
    """
    stack = layers_for(layers) if isinstance(layers, Governance) else list(layers)
    entries = fs_resolver(None)
    if mode == "real":
        return CommandPolicy(stack, resolve_program=fs_resolver(path), resolve_entry=entries, require_found=True)
    return CommandPolicy(stack, resolve_program=entries, resolve_entry=entries)


def resolve_command(program: str, governance: Governance, *, path: str | None = None) -> str:
    """The real path of ``program`` if the policy admits it (as a whole argv of one word), else an error."""
    decision = command_policy(governance, path=path).decide([program])
    if not decision.allowed or decision.executable is None:
        raise GovernanceError(decision.reason())
    return decision.executable


def render_argv(args: Sequence[str], values: Mapping[str, str], meta: Meta) -> tuple[list[str], list[bool]]:
    """The rendered argv and which items hold template values; a value that would become an option
    (leading '-') is refused unless its var is declared ``flag: true``."""
    for arg in args:
        render(arg, values, meta.governance)  # unsupported templates and denied names, with their messages
    flag_vars = {name for name in meta.vars if meta.spec(name).flag}
    argv, tainted, problems = policy_render(args, values, flag_vars=flag_vars)
    if problems:
        raise GovernanceError("; ".join(problems))
    return argv, tainted


def resolve_vars(
    defaults: Mapping[str, str], overrides: Mapping[str, str], governance: Governance, env: Mapping[str, str]
) -> dict[str, str]:
    """Run vars: defaults, then the environment (never a denied variable), then explicit overrides."""
    out = dict(defaults)
    for name in defaults:
        if name in env and not governance.env_denied(name):
            out[name] = env[name]
    for name, value in overrides.items():
        if governance.env_denied(name) and name not in defaults:
            raise GovernanceError(f"var {name!r} matches deny_env_vars and cannot be set")
        out[name] = value
    return out


def render(text: str, values: Mapping[str, str], governance: Governance) -> str:
    """Substitute ``{{ .name }}`` from vars and captures; a missing or denied name is an error."""
    if "{{" not in text:
        return text  # no template and no escape: most argv words, rendered every step
    for match in ANY_TEMPLATE.findall(text):
        if not is_template(match):
            raise GovernanceError(f"unsupported template {match!r}")

    def sub(name: str) -> str:
        found = lookup(values, (name,))
        if found is MISSING:
            if governance.env_denied(name):
                raise GovernanceError(f"{{{{ .{name} }}}} names a denied environment variable")
            raise GovernanceError(f"{{{{ .{name} }}}} is not a var or an earlier capture")
        return found

    return render_text(text, sub)


def child_env(governance: Governance, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A scrubbed environment: a few safe variables, minus anything the deny patterns name."""
    env = os.environ if env is None else env
    return {k: env[k] for k in SAFE_ENV if k in env and not governance.env_denied(k)}


def digest(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def summarise(text: str, *, full: bool) -> str:
    """What the trace keeps of an (already redacted) output: the text, or its hash and a preview."""
    if full:
        return text
    preview = text[:PREVIEW_CHARS] + ("…" if len(text) > PREVIEW_CHARS else "")
    return f"{digest(text)} {preview!r}"


def refused_commands(runbook: Runbook, layers: Sequence[Layer] | None = None) -> list[tuple[str, str]]:
    """(location, reason) for every cli step the policy would refuse, judged before a run: vars take
    their defaults (a default that would become an option is reported), captures a placeholder word;
    the rendered argv is judged again when the step runs."""
    policy = command_policy(layers if layers is not None else layers_for(runbook.meta.governance), mode="validate")
    flag_vars = {name for name in runbook.meta.vars if runbook.meta.spec(name).flag}
    values = dict(runbook.meta.defaults())
    out = []
    for loc, step in iter_leaves(runbook):
        if isinstance(step, CliStep):
            argv, tainted, problems = policy_render(step.with_.argv, values, flag_vars=flag_vars)
            out += [(f"{loc}.with.argv", problem) for problem in problems]
            out += [(f"{loc}.with.argv", problem) for problem in policy.decide(argv, tainted).problems]
            values |= {name: f"<{name}>" for name in step.capture}
    return out
