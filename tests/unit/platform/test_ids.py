"""Pooled random ids, as UUIDs or as text, are ordinary version-4 UUIDs, distinct, and not shared
with a forked child."""

from __future__ import annotations

import os
import uuid

from playbooks_platform.messages import new_id, new_id_text


def test_new_ids_are_version_4_uuids_that_behave_like_any_other() -> None:
    ids = [new_id() for _ in range(20_000)]  # several pool refills
    assert len(set(ids)) == len(ids)
    for ident in ids[:50]:
        assert ident.version == 4 and ident.variant == uuid.RFC_4122
        assert uuid.UUID(str(ident)) == ident and hash(uuid.UUID(str(ident))) == hash(ident)
        assert ident.is_safe is uuid.SafeUUID.unknown and isinstance(ident, uuid.UUID)


def test_a_forked_child_draws_fresh_random_bytes() -> None:
    new_id()  # the parent's pool now holds unused bytes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_id().bytes)
        os._exit(0)
    os.waitpid(pid, 0)
    child = uuid.UUID(bytes=os.read(read, 16))
    assert child != new_id()


def test_text_ids_are_the_text_of_version_4_uuids() -> None:
    ids = [new_id_text() for _ in range(20_000)]  # several pool refills
    assert len(set(ids)) == len(ids)
    variants = set()
    for text in ids:
        ident = uuid.UUID(text)
        assert str(ident) == text and ident.version == 4 and ident.variant == uuid.RFC_4122
        variants.add(text[19])
    assert variants == set("89ab")  # all four variant digits: the nibble's low bits stay random


def test_a_forked_child_draws_fresh_random_text_ids() -> None:
    new_id_text()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, new_id_text().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 36).decode() != new_id_text()
