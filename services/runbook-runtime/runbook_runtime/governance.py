"""Governance of CLI steps: allow-list on the resolved executable, templates, environment (redaction: redaction.py)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Mapping

from playbooks_contracts.runbook import ANY_TEMPLATE, TEMPLATE_REF, Governance

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


def which_real(program: str, path: str | None) -> str | None:
    """The real path of an executable program (after PATH lookup and symlinks), or None."""
    found = which(program, path)
    return os.path.realpath(found) if found else None


def _denied_paths(name: str) -> set[str]:
    """Where a denied command lives. Its real path only when it is that command's own binary:
    ``reboot`` is a link to the multi-call ``systemctl``, and denying it must not deny ``systemctl``."""
    found = which(name, None)
    if found is None:
        return {name}
    real = os.path.realpath(found)
    return {found, real} if os.path.basename(real) == os.path.basename(name) else {found}


class CommandPolicy:
    """The allow- and deny-lists resolved to real paths once per run.

    List entries resolve against the process's own PATH, so a directory put in front of a command's
    search path cannot redefine what "ls" means; the command itself is compared as a real path, so
    ``/usr/bin/rm`` or a symlink named ``ls`` pointing to ``rm`` matches no allowed entry.
    """

    def __init__(self, governance: Governance) -> None:
        self.names = governance.allowed_commands
        self.deny_names = set(governance.deny_commands)
        self.denied = {p for d in governance.deny_commands for p in _denied_paths(d)}
        self.allowed = {p for p in (which_real(a, None) for a in governance.allowed_commands) if p is not None}

    def resolve(self, program: str, *, path: str | None = None) -> str:
        found = which(program, path)
        if found is None:
            raise GovernanceError(f"command {program!r} not found or not executable")
        real = os.path.realpath(found)
        # Denied by any name it goes by: as written, as found on PATH, or as the binary it really is.
        names = {os.path.basename(program), os.path.basename(found), os.path.basename(real)}
        if {found, real} & self.denied or names & self.deny_names:
            raise GovernanceError(f"command {program!r} ({real}) is on the deny list")
        if real not in self.allowed:
            names = ", ".join(self.names) or "nothing"
            raise GovernanceError(f"command {program!r} resolves to {real}, which is not allowed (allowed: {names})")
        return real


def resolve_command(program: str, governance: Governance, *, path: str | None = None) -> str:
    """The real path of ``program`` if the allow-list admits it, else :class:`GovernanceError`."""
    return CommandPolicy(governance).resolve(program, path=path)


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
    for match in ANY_TEMPLATE.findall(text):
        if not TEMPLATE_REF.fullmatch(match):
            raise GovernanceError(f"unsupported template {match!r}")

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in values:
            if governance.env_denied(name):
                raise GovernanceError(f"{{{{ .{name} }}}} names a denied environment variable")
            raise GovernanceError(f"{{{{ .{name} }}}} is not a var or an earlier capture")
        return values[name]

    return TEMPLATE_REF.sub(sub, text)


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
