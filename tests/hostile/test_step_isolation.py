"""A runbook allowed to read files cannot reach the platform's secrets, flood memory, outlive its
timeout or inherit the service's descriptors; the runner refuses callers without its token, and holds
only that token's digest, so a step that reads every file the runner can read finds nothing to call it with.

The service runs in-process (this test process is the service: the canary lives in its
environment), with real PostgreSQL and broker, in three ways: the sandbox without namespaces,
the sandbox with bubblewrap where it works, and a separate ``python -m runbook_runtime.runner``
process. Where the tests do not run as root, steps cannot switch user: the assertions that rest
on the user switch alone (a 0600 file of the service's user) are skipped, the others still hold.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from playbooks_contracts.topics import PLAYBOOK_EXECUTIONS, RUNBOOK_STEP_RESULTS
from playbooks_dev.embedded import free_port
from playbooks_dev.testing import Infra, collect, running_service
from playbooks_platform.hardening import PR_GET_DUMPABLE
from runbook_runtime.runner import create_runner_app, token_sha256
from runbook_runtime.sandbox import Sandbox, detect_layers
from runbook_runtime.settings import SandboxSettings

ROOT = os.geteuid() == 0
BWRAP_WORKS = detect_layers(65534, 65534, "auto").bwrap is not None
CANARY = f"canary-{uuid.uuid4().hex}"
SEQ_N = 25_000_000  # `seq 25000000` writes 213,888,897 bytes: over 200 MB
PAGE = os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def secrets_dir() -> Iterator[Path]:
    """The service's secret and config files, readable only by the service's user; a folder others may enter."""
    folder = Path(tempfile.mkdtemp(prefix="service-secrets-", dir="/tmp"))
    folder.chmod(0o755)
    for name, text in {"jwt_secret": CANARY, "service.env": f"PLAYBOOKS_JWT_SECRET={CANARY}\n"}.items():
        (folder / name).write_text(text)
        (folder / name).chmod(0o600)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("runner") / "token"
    path.write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def runner_secrets(token_file: Path) -> Iterator[Path]:
    """The runner's secrets folder as compose mounts it: only the token's digest, 0644 like every bind-mounted file."""
    folder = Path(tempfile.mkdtemp(prefix="runner-secrets-", dir="/tmp"))
    folder.chmod(0o755)
    digest = folder / "runner_token_sha256"
    digest.write_text(hashlib.sha256(token_file.read_text().strip().encode()).hexdigest() + "\n")
    digest.chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def start_runner(digest_file: Path | None, host: str = "127.0.0.1", **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """The runner in a process of its own, with an environment that holds no platform setting and no token."""
    port = free_port()
    child_env = {"PATH": os.environ["PATH"], "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "PLAYBOOKS_ENV": "test"}
    if digest_file is not None:
        child_env["PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE"] = str(digest_file)
    cmd = [sys.executable, "-m", "runbook_runtime.runner", "--host", host, "--port", str(port)]
    proc = subprocess.Popen(cmd, env=child_env | env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


def wait_ready(proc: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else "runner exited"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("the runner did not start")


@pytest.fixture(scope="module")
def runner(runner_secrets: Path) -> Iterator[str]:
    proc, url = start_runner(runner_secrets / "runner_token_sha256")
    try:
        wait_ready(proc, url)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module", params=["sandbox-no-namespaces", "sandbox", "runner"])
async def rt(request: pytest.FixtureRequest, infra: Infra, secrets_dir: Path, token_file: Path) -> AsyncIterator[Any]:
    """runbook-runtime with the canary in its environment, the operator allowing cat, ls and seq."""
    os.environ["PLAYBOOKS_TEST_CANARY"] = CANARY  # the service's environment is this process's
    settings: dict[str, Any] = {"real_mode_commands": ["cat", "ls", "seq"]}
    if request.param == "sandbox-no-namespaces":
        settings["sandbox_bwrap"] = "off"
    elif request.param == "sandbox" and not BWRAP_WORKS:
        pytest.skip("bubblewrap does not work here")
    elif request.param == "runner":
        settings |= {"runner_url": request.getfixturevalue("runner"), "runner_token_file": token_file}
    try:
        async with running_service("runbook-runtime", infra, **settings) as (client, _runtime, _app):
            yield client, request.param
    finally:
        os.environ.pop("PLAYBOOKS_TEST_CANARY", None)


def runbook(*steps: dict[str, Any], allowed: list[str], full: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "runbook/v0",
        "meta": {
            "name": "hostile",
            "governance": {"allowed_commands": allowed, "evidence": {"store_full_stdout": full}},
        },
        "steps": list(steps),
    }


def cli(step_id: str, *argv: str, **extra: Any) -> dict[str, Any]:
    # whatever the exit code: every read is attempted and everything it printed is recorded
    return {"id": step_id, "type": "cli", "with": {"argv": list(argv)}, "assertions": [{"exit_code": 1}], **extra}


async def run(client: httpx.AsyncClient, infra: Infra, org: str, doc: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/v1/runs", json={"runbook": doc, "mode": "real", "start": True}, headers=infra.auth(org))
    assert r.status_code == 201, r.text
    return r.json()


async def everything_recorded(client: httpx.AsyncClient, infra: Infra, org: str, run_id: str) -> str:
    """The run, its trace, every snapshot and every message it published, as one text."""
    h = infra.auth(org)
    parts = [(await client.get(f"/v1/runs/{run_id}", headers=h)).text]
    parts.append((await client.get(f"/v1/runs/{run_id}/trace", headers=h)).text)
    for name in (await client.get(f"/v1/runs/{run_id}/snapshots", headers=h)).json():
        parts.append((await client.get(f"/v1/runs/{run_id}/snapshots/{name}", headers=h)).text)
    for topic in (RUNBOOK_STEP_RESULTS, PLAYBOOK_EXECUTIONS):
        messages = await collect(infra.kafka_bootstrap, topic.name, where=lambda r: r.value["org_id"] == org)
        assert messages, f"nothing on {topic.name}"
        parts += [str(m.value) for m in messages]
    return "\n".join(parts)


async def test_a_step_allowed_to_cat_reads_no_secret_of_the_service(
    rt: Any, infra: Infra, org: str, secrets_dir: Path
) -> None:
    client, how = rt
    me = os.getpid()  # the service; without namespaces also the step's parent
    files = [str(secrets_dir / "jwt_secret"), str(secrets_dir / "service.env")]
    # the service's own user reads them: the canary is there to find
    assert all(CANARY in Path(f).read_text() for f in files)
    proc_paths = [f"/proc/{me}/environ", f"/proc/{me}/task/{me}/environ", "/proc/1/environ", f"/proc/{me}/status"]
    only_the_user_switch_hides_files = not ROOT and how == "sandbox-no-namespaces"
    paths = proc_paths + ([] if only_the_user_switch_hides_files else files)
    doc = runbook(
        cli("read", "cat", *paths, "/proc/self/status", capture={"out": "stdout", "err": "stderr"}), allowed=["cat"]
    )
    done = await run(client, infra, org, doc)

    [step] = done["history"]
    assert step["status"] == "passed", step
    out = step["evidence"]["stdout"]
    assert "Name:\tcat" in out  # the step ran and printed what it could read
    assert os.environ["PLAYBOOKS_TEST_CANARY"] == CANARY
    recorded = await everything_recorded(client, infra, org, done["run_id"])
    assert CANARY not in recorded
    if ROOT:
        assert "Uid:\t65534\t65534\t65534\t65534" in out and step["evidence"]["isolation"].startswith("user 65534")
    assert "permission denied" in step["evidence"]["stderr"].lower() or how != "sandbox-no-namespaces"


async def test_the_service_process_is_not_dumpable(rt: Any) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    # its /proc entries belong to root now: another process of its own user cannot read them
    assert os.stat(f"/proc/{os.getpid()}/environ").st_uid == 0


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


async def test_200_mb_of_output_is_bounded_and_its_hash_recorded(rt: Any, infra: Infra, org: str) -> None:
    client, _ = rt
    expected = hashlib.sha256()
    with subprocess.Popen(["seq", str(SEQ_N)], stdout=subprocess.PIPE) as p:
        assert p.stdout is not None
        size = 0
        while chunk := p.stdout.read(1 << 20):
            expected.update(chunk)
            size += len(chunk)
    assert size > 200_000_000

    peak, stop = [rss()], threading.Event()
    baseline = peak[0]

    def sample() -> None:
        while not stop.is_set():
            peak.append(rss())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        doc = runbook(cli("flood", "seq", str(SEQ_N), assertions=[{"exit_code": 0}]), allowed=["seq"], full=False)
        done = await run(client, infra, org, doc)
    finally:
        stop.set()
        sampler.join()
    growth = max(peak) - baseline
    [step] = done["history"]
    ev = step["evidence"]
    assert step["status"] == "passed", step
    assert ev["truncated"] is True and ev["stdout_bytes"] == size and ev["stdout_sha256"] == expected.hexdigest()
    sys.stderr.write(f"\n200 MB output ({rt[1]}): service RSS grew {growth / 2**20:.1f} MiB\n")
    assert growth < 32 * 2**20, f"RSS grew {growth / 2**20:.0f} MiB for {size / 2**20:.0f} MiB of output"


async def test_no_descriptor_of_the_service_reaches_a_step(rt: Any, infra: Infra, org: str, secrets_dir: Path) -> None:
    client, _ = rt
    fd = os.open(secrets_dir / "jwt_secret", os.O_RDONLY)
    os.set_inheritable(fd, True)  # even a descriptor marked inheritable stays behind
    try:
        doc = runbook(
            cli("fds", "ls", "-l", "/proc/self/fd", assertions=[{"exit_code": 0}], capture={"fds": "stdout"}),
            cli("leak", "cat", f"/proc/self/fd/{fd}"),
            allowed=["ls", "cat"],
        )
        done = await run(client, infra, org, doc)
    finally:
        os.close(fd)
    fds_step, leak = done["history"]
    lines = [line.split() for line in fds_step["evidence"]["stdout"].splitlines() if "->" in line]
    fds = {parts[-3]: parts[-1] for parts in lines}
    # 0, 1, 2, and the directory ls itself opened to list /proc/self/fd
    assert set(fds) - {"0", "1", "2"} <= {"3"} and fds.get("3", "/proc/x/fd").endswith("/fd"), fds
    assert leak["status"] == "passed" and CANARY not in str(done)


def grandchild_script(marker: Path) -> str:
    return f"(sleep 1.5; echo late > {marker}) & sleep 30"


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder both the test and a step's user can write (visible under bubblewrap at the same path)."""
    folder = Path(tempfile.mkdtemp(prefix="step-shared-", dir="/tmp"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("bwrap", ["off", "auto"])
def test_a_timeout_kills_the_steps_grandchildren(bwrap: str, shared_dir: Path) -> None:
    if bwrap == "auto" and not BWRAP_WORKS:
        pytest.skip("bubblewrap does not work here")
    sh = shutil.which("sh")
    assert sh
    control = shared_dir / "control"
    # without a process group kill, the background grandchild outlives the timeout and writes
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sh, "-c", grandchild_script(control)], timeout=0.3, cwd=shared_dir, start_new_session=True)
    marker = shared_dir / "late"
    started = time.monotonic()
    t = Sandbox(bwrap=bwrap).run(
        ["sh", "-c", grandchild_script(marker)], executable=sh, stdin=None, timeout=0.5, env={}, cwd=str(shared_dir)
    )
    assert t.timed_out and time.monotonic() - started < 2
    time.sleep(2)
    assert control.exists() and not marker.exists()


@pytest.mark.parametrize("bwrap", ["off", "auto"])
def test_cancelling_a_step_kills_its_process_group_and_an_exited_step_leaves_nothing(
    bwrap: str, shared_dir: Path
) -> None:
    if bwrap == "auto" and not BWRAP_WORKS:
        pytest.skip("bubblewrap does not work here")
    sh = shutil.which("sh")
    assert sh
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    sandbox = Sandbox(bwrap=bwrap)
    t = sandbox.run(["sh", "-c", grandchild_script(shared_dir / "a")], executable=sh, stdin=None, timeout=30, env={},
                    cwd=str(shared_dir), cancel=cancel)  # fmt: skip
    assert t.exit_code == -1 and "cancelled" in t.stderr
    # a step that exits at once: what it left in the background goes with it
    quick = sandbox.run(["sh", "-c", f"(sleep 1; echo late > {shared_dir / 'b'}) & echo done"], executable=sh,
                        stdin=None, timeout=30, env={}, cwd=str(shared_dir))  # fmt: skip
    assert quick.stdout == "done\n" and quick.exit_code == 0
    time.sleep(2)
    assert list(shared_dir.iterdir()) == []


def sleepers(tag: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if tag in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.append(int(pid))
        except OSError:
            continue
    return found


async def test_the_runner_refuses_callers_without_its_token_and_holds_no_secret(
    runner: str, token_file: Path, runner_secrets: Path
) -> None:
    body = {"argv": ["id"], "executable": shutil.which("id"), "timeout": 5, "env": {}}
    digest = (runner_secrets / "runner_token_sha256").read_text().strip()
    async with httpx.AsyncClient(base_url=runner, timeout=10) as c:
        for headers in (
            {},
            {"Authorization": "Bearer " + "0" * 64},
            {"Authorization": token_file.read_text()},
            {"Authorization": f"Bearer {digest}"},
        ):
            r = await c.post("/v1/exec", json=body, headers=headers)
            assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
        auth = {"Authorization": f"Bearer {token_file.read_text()}"}
        r = await c.post("/v1/exec", json=body, headers=auth)
        assert r.status_code == 200 and r.json()["exit_code"] == 0
        if ROOT:
            assert r.json()["stdout"].startswith("uid=65534")
        bad = await c.post("/v1/exec", json=body | {"env": {"LD_PRELOAD": "/tmp/x.so"}}, headers=auth)
        assert bad.status_code == 422 and "LD_PRELOAD" in bad.json()["detail"]
        # a caller hanging up cancels its step: the whole group is killed
        tag = "987.654"
        sh = shutil.which("sh")
        hang = body | {"argv": ["sh", "-c", f"sleep {tag} & sleep {tag}"], "executable": sh, "timeout": 60}
        with pytest.raises(httpx.ReadTimeout):
            await c.post("/v1/exec", json=hang, headers=auth, timeout=1.5)
    deadline = time.monotonic() + 5
    while sleepers(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sleepers(tag) == []


def test_the_runner_does_not_start_without_a_token_off_loopback() -> None:
    proc, _ = start_runner(None, host="0.0.0.0")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0 and b"PLAYBOOKS_RUNNER_TOKEN_SHA256_FILE" in out


def test_the_runner_does_not_start_with_a_malformed_digest_file(tmp_path: Path) -> None:
    """Not a digest (a token mounted in its place): refused at start, saying what the file must hold."""
    bad = tmp_path / "runner_token_sha256"
    bad.write_text(f"runner-token-{uuid.uuid4()}\n")
    proc, _ = start_runner(bad, host="0.0.0.0")
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode != 0 and b"64 hex digits" in out and str(bad).encode() in out
    assert bad.read_text().strip().encode() not in out


async def test_a_step_run_through_the_runner_finds_nothing_to_call_the_runner_with(
    infra: Infra, org: str, token_file: Path, runner_secrets: Path
) -> None:
    """The deployments' case: steps run as the runner's own user, without namespaces, and read all it can read."""
    # as root the step runs as 65534 and still reads the 0644 digest, as the runner's own user would in compose
    proc, url = start_runner(runner_secrets / "runner_token_sha256", PLAYBOOKS_SANDBOX_BWRAP="off")
    try:
        wait_ready(proc, url)
        settings = {"real_mode_commands": ["cat", "ls"], "runner_url": url, "runner_token_file": token_file}
        async with running_service("runbook-runtime", infra, **settings) as (client, _runtime, _app):
            files = sorted(str(p) for p in runner_secrets.iterdir())
            doc = runbook(
                cli("list", "ls", "-A", str(runner_secrets), assertions=[{"exit_code": 0}]),
                cli("read", "cat", *files, assertions=[{"exit_code": 0}]),
                allowed=["cat", "ls"],
            )
            done = await run(client, infra, org, doc)
        listed, read = (step["evidence"]["stdout"] for step in done["history"])
        token = token_file.read_text().strip()
        # the step read every file the runner holds: the digest, and nothing else is there
        assert listed.split() == ["runner_token_sha256"]
        assert read.strip() == hashlib.sha256(token.encode()).hexdigest() and token not in read
        body = {"argv": ["id"], "executable": shutil.which("id"), "timeout": 5, "env": {}}
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            for found in {read.strip(), read.strip().upper(), *read.split()}:
                r = await c.post("/v1/exec", json=body, headers={"Authorization": f"Bearer {found}"})
                assert r.status_code == 401, found
            r = await c.post("/v1/exec", json=body, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["exit_code"] == 0
    finally:
        proc.terminate()
        proc.wait(10)


async def test_the_runner_app_takes_only_bounded_well_formed_requests(token_file: Path) -> None:
    app = create_runner_app(SandboxSettings(sandbox_bwrap="off"), token_sha256(token_file.read_text().strip()))
    auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://runner") as c:
        body = {"argv": ["id"], "executable": "id", "timeout": 5}
        r = await c.post("/v1/exec", json=body, headers=auth)
        assert r.status_code == 422 and "absolute path" in r.json()["detail"]
        r = await c.post("/v1/exec", json=body | {"executable": "/usr/bin/id", "timeout": 10**6}, headers=auth)
        assert r.status_code == 422 and "over the runner's limit" in r.json()["detail"]
        r = await c.post(
            "/v1/exec", json=body | {"executable": "/usr/bin/id", "limits": {"open_files": -1}}, headers=auth
        )
        assert r.status_code == 422 and "limits.open_files" in r.json()["detail"]
        r = await c.post("/v1/exec", content=b"x" * (9 << 20), headers=auth)
        assert r.status_code == 413


async def test_a_step_runs_under_its_limits_with_argv0_as_written(rt: Any, infra: Infra, org: str) -> None:
    client, _ = rt
    doc = runbook(
        cli("limits", "cat", "/proc/self/limits", assertions=[{"exit_code": 0}]),
        cli("argv", "cat", "/proc/self/cmdline", assertions=[{"exit_code": 0}]),
        allowed=["cat"],
    )
    done = await run(client, infra, org, doc)
    limits, argv = (step["evidence"]["stdout"] for step in done["history"])
    rows = {" ".join(line.split()[:-3]): line.split()[-3:-1] for line in limits.splitlines()[1:]}
    assert rows["Max cpu time"] == ["61", "61"]  # the default timeout of 60 s, plus one
    assert rows["Max open files"] == ["256", "256"] and rows["Max core file size"] == ["0", "0"]
    assert rows["Max address space"] == [str(4 << 30)] * 2 and rows["Max file size"] == [str(64 << 20)] * 2
    if ROOT:
        assert rows["Max processes"] == ["128", "128"]
    assert argv.split("\ufffd")[:2] == ["cat", "/proc/self/cmdline"]


@pytest.mark.parametrize("dumpable", [True, False])
def test_without_another_user_a_non_dumpable_service_still_hides_its_environment(dumpable: bool) -> None:
    """The layer a non-root service relies on: a process of its own user cannot read its environ."""
    # as root, both sides run as nobody (root reads any /proc entry); the system python carries the helper
    python = "/usr/bin/python3" if ROOT else sys.executable
    as_user: dict[str, Any] = {"user": 65534, "group": 65534, "extra_groups": []} if ROOT else {}
    hide = "import ctypes; ctypes.CDLL(None).prctl(4, 0, 0, 0, 0); " if not dumpable else ""
    code = hide + "import sys, time; print('ready', flush=True); time.sleep(30)"
    service = subprocess.Popen(
        [python, "-c", code], env={"SERVICE_SECRET": CANARY}, stdout=subprocess.PIPE, cwd="/", **as_user
    )
    try:
        assert service.stdout is not None and service.stdout.readline() == b"ready\n"
        cat = subprocess.run(
            ["cat", f"/proc/{service.pid}/environ"], capture_output=True, check=False, cwd="/", **as_user
        )
        assert (CANARY.encode() in cat.stdout) is dumpable
        if not dumpable:
            assert b"Permission denied" in cat.stderr
    finally:
        service.kill()
        service.wait()
