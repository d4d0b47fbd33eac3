"""One redaction for every sink of a run: the runbook's rules and the values of its secret vars.

A run's text leaves the process through many doors (the run body, snapshots, the trace, step
results and the messages built from them, recorded scenarios, error strings, logs). Each door
calls the same :class:`Redactor`, built once per run, instead of each doing its own replace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from playbooks_contracts.patterns import PatternError, compile_pattern
from playbooks_contracts.runbook import Redaction, Runbook

from .governance import GovernanceError

SECRET_MASK = "<secret>"
T = TypeVar("T")


class Redactor:
    """Masks secret values first (so a rule cannot leave half of one), then applies the rules (RE2)."""

    def __init__(self, rules: Iterable[Redaction] = (), secrets: Iterable[str] = ()) -> None:
        try:
            self._rules = [(compile_pattern(r.pattern), r.replace) for r in rules]
        except PatternError as exc:
            raise GovernanceError(f"redaction rule: {exc}") from None
        # longest first: a secret containing another is masked whole
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    @classmethod
    def for_run(cls, runbook: Runbook, vars_: Mapping[str, str]) -> Redactor:
        """The runbook's rules and the run's values of the vars it declares ``secret: true``."""
        secret = runbook.meta.secret_vars()
        return cls(runbook.meta.governance.redact, (v for k, v in vars_.items() if k in secret))

    def __call__(self, text: str) -> str:
        for value in self._secrets:
            text = text.replace(value, SECRET_MASK)
        for pattern, replace in self._rules:
            text = str(pattern.sub(replace, text))
        return text

    def changes(self, text: str) -> bool:
        return self(text) != text

    def tree(self, value: T) -> T:
        """Every string inside dicts and lists (values only; keys are names, not data)."""
        if isinstance(value, str):
            return self(value)  # type: ignore[return-value]
        if isinstance(value, dict):
            return {k: self.tree(v) for k, v in value.items()}  # type: ignore[return-value]
        if isinstance(value, list | tuple):
            return [self.tree(v) for v in value]  # type: ignore[return-value]
        return value

    def model(self, obj: Any) -> Any:
        """A pydantic model with every string redacted (a new instance; the original is untouched)."""
        return type(obj).model_validate(self.tree(obj.model_dump(mode="json")))
