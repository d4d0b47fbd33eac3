"""The source designs' own names and shapes (``../shared/seeds``), accepted beside the platform's.

Clients were written against those designs before this platform existed: they send ``step_order`` on
each step, a ``tenant_id`` in bodies, a ``cloud_provider`` string, ``based_on_escher`` and an
``s3_path``. The contracts accept those names (folding them into the native ones here, in one place)
instead of answering 422 ``extra_forbidden``. Two rules keep that safe:

* a seed name and its native name given together must agree; different values are a 422 that names
  both (pydantic's ``AliasChoices`` would silently keep one of them);
* a tenant named in a body is a claim, never a choice: the routes check it equals the token's org
  (:func:`claimed_tenant_error`), so a body cannot reach another tenant's data.

Answers: where the designs renamed a field (``use_case``, ``time_based``, ``scripts.X.code``), the
platform's answer carries both names, so clients of either kind read it unchanged. Where they differ
in shape (``parameters`` as an object keyed by name, not a list) one answer cannot serve both: a
client asks for the designs' shape with ``Accept: application/vnd.playbooks.seed+json`` (content
negotiation, the answer says ``Vary: Accept``), and everyone else keeps the platform's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The media type of an answer in the source designs' shape (a vendor type whose body is JSON).
SEED_MEDIA_TYPE = "application/vnd.playbooks.seed+json"

_MISSING = object()


class AliasCollision(ValueError):
    """A seed name and its native name given with different values."""


def fold_aliases(data: Any, renames: Mapping[str, str], *, where: str = "") -> Any:
    """``data`` (a raw JSON object) with every seed name in ``renames`` (seed -> native) moved to its
    native name; both given with equal values is fine, with different values an :class:`AliasCollision`.
    Anything but a dict is returned as it is, for the model's own validation to refuse."""
    if not isinstance(data, dict) or not any(seed in data for seed in renames):
        return data
    out = dict(data)
    for seed, native in renames.items():
        value = out.pop(seed, _MISSING)
        if value is _MISSING:
            continue
        if native in out and out[native] != value:
            raise AliasCollision(
                f"{where}{seed!r} (the source design's name) and {native!r} (this API's name) are the same field "
                f"but were given different values ({_short(value)} and {_short(out[native])}): give one of them"
            )
        out[native] = value
    return out


def as_list(value: Any) -> Any:
    """A single string where a list of them is expected (``"cloud_provider": "aws"``) becomes ``[value]``."""
    return [value] if isinstance(value, str) else value


def claimed_tenant_error(token_org: str, claimed: str | None, *, where: str = "tenant_id") -> str | None:
    """Why a body's ``tenant_id`` is refused (None when absent or the token's own org)."""
    if claimed is None or claimed == token_org:
        return None
    return (
        f"{where} {claimed!r} is not the org of your token ({token_org!r}): a body may repeat the caller's own "
        "tenant (the source designs send it) but never name another; leave it out or send your own"
    )


def wants_seed_shape(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for the source designs' shape (a q=0 entry declines it)."""
    if not accept:
        return False
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != SEED_MEDIA_TYPE:
            continue
        q = next((p.split("=", 1)[1] for p in params if p.lower().startswith("q=")), "1")
        try:
            return float(q) > 0
        except ValueError:
            return False
    return False


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_order_is_position(orders: list[int | None], *, field: str = "step_order", items: str = "steps") -> None:
    """Seed 001 numbers each step (``step_order`` 1, 2, 3...); here the order is the position in the list.
    A number that disagrees with its position is the same field given two values: refuse it, never reorder."""
    for position, order in enumerate(orders, start=1):
        if order is not None and order != position:
            raise AliasCollision(
                f"{items}[{position - 1}].{field} is {order} but it is step {position} in the list: the order of "
                f"the steps is their position (seed 001's {field} must agree with it); list the steps in order, "
                f"or leave {field} out"
            )
