"""The sandbox's own mechanics: bounded capture, stdin, limits narrowing, the runner client's errors."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from runbook_runtime.runner import (
    RunnerClient,
    RunnerUnavailable,
    _authorized,
    create_runner_app,
    read_token_sha256,
    runner_token_digest,
)
from runbook_runtime.sandbox import BoundedCapture, Limits, Sandbox
from runbook_runtime.settings import SandboxSettings


def test_bounded_capture_keeps_head_and_tail_and_hashes_everything() -> None:
    cap = BoundedCapture(head=4, tail=3)
    data = b"".join(bytes([65 + i % 26]) * 5 for i in range(100))
    for i in range(0, len(data), 7):
        cap.feed(data[i : i + 7])
    assert cap.total == len(data) and cap.sha256 == hashlib.sha256(data).hexdigest()
    assert cap.truncated and bytes(cap.head) == data[:4] and bytes(cap.tail) == data[-3:]
    assert cap.text() == f"AAAA\n[... {len(data) - 7} bytes of output not kept ...]\nVVV"
    small = BoundedCapture(head=4, tail=3)
    small.feed(b"abc\x00def")
    assert not small.truncated and small.text() == "abc\ufffddef"


def test_limits_are_only_ever_narrowed() -> None:
    base = Limits(memory_bytes=1 << 30, open_files=256, processes=None, file_bytes=10, head_bytes=8, tail_bytes=8)
    got = base.narrowed({"memory_bytes": 2 << 30, "open_files": 64, "processes": 9, "head_bytes": 4})
    assert got == Limits(memory_bytes=1 << 30, open_files=64, processes=9, file_bytes=10, head_bytes=4, tail_bytes=8)


@pytest.mark.parametrize("local", [True, False])
def test_a_megabyte_of_stdin_round_trips_without_a_deadlock(local: bool) -> None:
    cat = shutil.which("cat")
    assert cat
    text = os.urandom(512 * 1024).hex()  # 1 MiB through stdin while stdout is read
    t = Sandbox(Limits(head_bytes=10, tail_bytes=10), local=local).run(
        ["cat"], executable=cat, stdin=text, timeout=30, env={}
    )
    assert t.exit_code == 0 and t.stdout_bytes == len(text) and t.truncated
    assert t.stdout_sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert t.stdout.startswith(text[:10]) and t.stdout.endswith(text[-10:])


def test_a_step_that_reads_no_stdin_and_exits_is_not_an_error() -> None:
    true = shutil.which("true")
    assert true
    t = Sandbox(bwrap="off").run(["true"], executable=true, stdin="x" * (1 << 20), timeout=10, env={})
    assert t.exit_code == 0 and not t.timed_out


def test_an_unreachable_runner_fails_the_step_as_one_that_could_not_start(tmp_path) -> None:
    token = tmp_path / "token"
    token.write_text("t" * 32)
    client = RunnerClient("http://127.0.0.1:9", token)
    with pytest.raises(RunnerUnavailable, match="cannot be reached"):
        client(["id"], executable="/usr/bin/id", stdin=None, timeout=1, env={})
    assert issubclass(RunnerUnavailable, OSError)  # the engine's "exec" failure, retryable
    token.write_text("short")
    with pytest.raises(ValueError, match="shorter than 16"):
        RunnerClient("http://127.0.0.1:9", token)


def test_the_runner_checks_the_tokens_digest_and_refuses_the_digest_itself(tmp_path) -> None:
    token = "runner-token-" + "x" * 40
    hexdigest = hashlib.sha256(token.encode()).hexdigest()
    # what make-secrets.sh writes: the digest of the token without its trailing newline
    (tmp_path / "token").write_text(token + "\n")
    (tmp_path / "sha256").write_text(hexdigest.upper() + "\n")
    expected = read_token_sha256(tmp_path / "sha256")
    assert expected == hashlib.sha256(token.encode()).digest()
    assert runner_token_digest(SandboxSettings(runner_token_sha256_file=tmp_path / "sha256")) == expected
    assert runner_token_digest(SandboxSettings(runner_token_file=tmp_path / "token")) == expected
    assert _authorized(f"Bearer {token}", expected)
    for refused in (f"Bearer {hexdigest}", f"Bearer {hexdigest.upper()}", token, f"Basic {token}", f"Bearer {token}x",
                    "Bearer ", ""):  # fmt: skip
        assert not _authorized(refused, expected), refused
    with pytest.raises(ValueError, match="not both"):
        runner_token_digest(
            SandboxSettings(runner_token_file=tmp_path / "token", runner_token_sha256_file=tmp_path / "sha256")
        )
    with pytest.raises(ValueError, match="32 bytes"):
        create_runner_app(SandboxSettings(sandbox_bwrap="off"), token.encode())


@pytest.mark.parametrize(
    "content", ["", "abc", "g" * 64, "a" * 63, "a" * 65, f"{'a' * 64}  -", "sha256:" + "a" * 64, "runner-token-x" * 5]
)
def test_a_malformed_digest_file_is_refused_with_what_it_should_hold(tmp_path, content: str) -> None:
    (tmp_path / "sha256").write_text(content)
    with pytest.raises(ValueError, match="64 hex digits"):
        read_token_sha256(tmp_path / "sha256")
