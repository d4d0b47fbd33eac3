"""Runs one already-approved argv where the platform's secrets are not: the layers, in order.

- another user (``nobody`` by default) when this process is root, with no supplementary groups;
- its own session and process group, killed as a whole (SIGKILL to the group) when the step
  ends, times out or is cancelled, so no grandchild outlives its step;
- resource limits (CPU time from the timeout, address space, open files, processes, file size,
  no core dumps) set in the child between fork and exec;
- no inherited descriptor but 0, 1 and 2; stdin from the step or /dev/null; a fresh private
  working directory, removed afterwards; the scrubbed environment it is given;
- bubblewrap namespaces where ``bwrap`` works here: a read-only view of the system folders, a
  private /tmp, a new /proc that shows only the step's own processes, no host IPC or UTS.

Output is read incrementally into a bounded buffer (head and tail kept, sha256 and size of the
whole stream recorded), so a step's output never costs more memory than the buffer.
``docs/security.md`` (its isolation section) says what each layer gives and what it does not.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import os
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .executor import Transcript

log = logging.getLogger(__name__)

READ_CHUNK = 64 * 1024
TRUSTED_PATH = "/usr/bin:/bin:/usr/local/bin"
# After the step's first process exits, its group is killed; a process that left the group
# (setsid) could still hold the pipes open: read at most this much longer.
DRAIN_GRACE_S = 0.5
# Host folders a step may read under bubblewrap; /etc only in the parts programs need to
# resolve users, hosts and certificates (never the whole of it: config and secrets live there).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_PATHS = (
    "/etc/passwd",
    "/etc/group",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/host.conf",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/mime.types",
)
# bwrap 0.8 has no --argv0: a fixed bash line execs the resolved program under the argv[0] as
# written, so a multi-call binary dispatches on the name the policy approved. Arguments are
# positional parameters, never interpolated.
EXEC_AS = 'exec -a "$0" "$@"'


@dataclass(frozen=True)
class Limits:
    """Per-step ceilings; ``None`` leaves a limit as the process has it."""

    memory_bytes: int | None = 4 << 30
    open_files: int | None = 256
    processes: int | None = 128
    file_bytes: int | None = 64 << 20
    head_bytes: int = 64 * 1024
    tail_bytes: int = 64 * 1024

    def narrowed(self, other: Mapping[str, Any] | None) -> Limits:
        """These limits, lowered (never raised) by ``other``'s values."""
        if not other:
            return self
        values = {}
        for name, mine in self.__dict__.items():
            theirs = other.get(name)
            if theirs is None:
                values[name] = mine
            else:
                values[name] = int(theirs) if mine is None else min(mine, int(theirs))
        return Limits(**values)


class BoundedCapture:
    """One output stream: its first and last bytes, and the size and sha256 of all of it."""

    def __init__(self, head: int, tail: int) -> None:
        self.head_limit, self.tail_limit = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._sha = hashlib.sha256()

    def feed(self, data: bytes) -> None:
        self._sha.update(data)
        self.total += len(data)
        room = self.head_limit - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data and self.tail_limit:
            self.tail += data[-self.tail_limit :]
            excess = len(self.tail) - self.tail_limit
            if excess > 0:
                del self.tail[:excess]  # bytearray drops its front in place

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()

    def text(self) -> str:
        """What is kept, decoded; NUL becomes U+FFFD (PostgreSQL's text and JSON cannot hold it)."""
        if not self.truncated:
            text = (bytes(self.head) + bytes(self.tail)).decode(errors="replace")
        else:
            omitted = self.total - len(self.head) - len(self.tail)
            text = (
                self.head.decode(errors="replace")
                + f"\n[... {omitted} bytes of output not kept ...]\n"
                + self.tail.decode(errors="replace")
            )
        return text.replace("\x00", "\ufffd")


@dataclass
class Layers:
    """Which isolation layers this process can apply (detected once, at start)."""

    user: tuple[int, int] | None
    bwrap: str | None
    bash: str | None
    notes: list[str] = field(default_factory=list)
    rlimits: bool = True

    def describe(self) -> str:
        parts = [f"user {self.user[0]}:{self.user[1]}" if self.user else "same user"]
        parts += ["bwrap" if self.bwrap else "no namespaces", "process group"]
        parts += ["rlimits", "no inherited fds"] if self.rlimits else ["no inherited fds"]
        return ", ".join(parts)


def _probe_bwrap(bwrap: str, bash: str, user: tuple[int, int] | None) -> str | None:
    """None when a trivial sandboxed command runs, else why not."""
    argv = [bwrap, *_bwrap_args(tempfile.gettempdir(), bash, network=False, binds=())]
    argv += ["--", bash, "-c", EXEC_AS, "true", "/bin/true"]
    kw: dict[str, Any] = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False, env={}, cwd="/", **kw)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.decode(errors="replace").strip()[:300] or "failed"


@functools.lru_cache(maxsize=8)
def detect_layers(uid: int = 65534, gid: int = 65534, bwrap_mode: str = "auto") -> Layers:
    """What this process can apply: the user switch needs root, namespaces need a working bwrap."""
    notes: list[str] = []
    user: tuple[int, int] | None = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        user = (uid, gid)
    else:
        notes.append("not root: steps run as this process's own user (the other layers still apply)")
    # from the system's folders only: the service's PATH must not choose the sandbox's own programs
    bwrap = shutil.which("bwrap", path=TRUSTED_PATH) if bwrap_mode != "off" else None
    bash = shutil.which("bash", path=TRUSTED_PATH)
    if not bash:
        notes.append("no bash: limits are set by a preexec_fn (a full fork per step)")
    if bwrap and not bash:
        notes.append("bwrap found but no bash to exec under argv[0]: no namespaces")
        bwrap = None
    if bwrap and bash:
        why = _probe_bwrap(bwrap, bash, user)
        if why:
            notes.append(f"bwrap does not work here ({why}): no namespaces")
            bwrap = None
    elif bwrap_mode == "auto":
        notes.append("bwrap not installed: no namespaces")
    if bwrap_mode == "require" and not bwrap:
        raise RuntimeError("sandbox_bwrap=require but bubblewrap cannot run here: " + "; ".join(notes))
    layers = Layers(user=user, bwrap=bwrap, bash=bash, notes=notes)
    log.info("step sandbox", extra={"layers": layers.describe(), "notes": notes})
    return layers


def _bwrap_args(workdir: str, bash: str, *, network: bool, binds: Sequence[str]) -> list[str]:
    args = ["--unshare-all", *(["--share-net"] if network else []), "--die-with-parent", "--new-session"]
    for d in SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    for p in (*ETC_PATHS, *binds):
        args += ["--ro-bind-try", p, p]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/run"]
    args += ["--bind", workdir, workdir, "--chdir", workdir]
    if not bash.startswith(("/usr/", "/bin/")):
        args += ["--ro-bind", bash, bash]
    return args


def _rlimits(limits: Limits, timeout: float, *, own_user: bool) -> list[tuple[int, int]]:
    """(resource, value) pairs, each no higher than this process's own hard limit (lowering never fails)."""
    pairs = [(resource.RLIMIT_CPU, math.ceil(timeout) + 1), (resource.RLIMIT_CORE, 0)]
    if limits.memory_bytes:
        pairs.append((resource.RLIMIT_AS, limits.memory_bytes))
    if limits.open_files:
        pairs.append((resource.RLIMIT_NOFILE, limits.open_files))
    if limits.file_bytes is not None:
        pairs.append((resource.RLIMIT_FSIZE, limits.file_bytes))
    # RLIMIT_NPROC counts every process of the real user: only meaningful for a user of the step's own
    if limits.processes and own_user:
        pairs.append((resource.RLIMIT_NPROC, limits.processes))
    capped = []
    for res, value in pairs:
        hard = resource.getrlimit(res)[1]
        capped.append((res, value if hard == resource.RLIM_INFINITY else min(value, hard)))
    return capped


# bash's ulimit option and unit for each limit (bash -c is not in POSIX mode: -f and -c count KiB)
_ULIMIT = {
    resource.RLIMIT_CPU: ("-t", 1),
    resource.RLIMIT_CORE: ("-c", 1024),
    resource.RLIMIT_AS: ("-v", 1024),
    resource.RLIMIT_NOFILE: ("-n", 1),
    resource.RLIMIT_FSIZE: ("-f", 1024),
    resource.RLIMIT_NPROC: ("-u", 1),
}


def _launcher(pairs: list[tuple[int, int]]) -> str:
    """The bash line that sets soft and hard limits, then execs the program under argv[0] as written.

    A fixed script with numbers only: the program and its arguments stay positional parameters. It
    replaces a ``preexec_fn`` (Python between fork and exec: not safe beside threads, and it costs a
    full fork of the service where a plain spawn takes a vfork). A failed ``ulimit`` fails the step.
    """
    opts = " ".join(f"{_ULIMIT[res][0]} {value // _ULIMIT[res][1]}" for res, value in pairs)
    return f"ulimit {opts} && {EXEC_AS}"


def _set_limits(pairs: list[tuple[int, int]]) -> Callable[[], None]:
    """Fallback where there is no bash: setrlimit calls between fork and exec, nothing else."""

    def apply() -> None:
        for res, value in pairs:
            resource.setrlimit(res, (value, value))

    return apply


class Sandbox:
    """Executes one approved argv with the layers this process can apply; thread-safe."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        uid: int = 65534,
        gid: int = 65534,
        bwrap: str = "auto",
        network: bool = True,
        ro_binds: Sequence[str] = (),
        local: bool = False,
    ) -> None:
        self.limits = limits or Limits()
        # local: the person's own CLI run, as them, in their folder, no rlimits (group, fds, bounds still apply)
        self.local = local
        self.layers = (
            Layers(user=None, bwrap=None, bash=None, notes=["local run"]) if local else detect_layers(uid, gid, bwrap)
        )
        self.network = network
        self.ro_binds = tuple(ro_binds)
        self._running: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, *, local: bool = False) -> Sandbox:
        limits = Limits(
            memory_bytes=settings.sandbox_memory_bytes,
            open_files=settings.sandbox_open_files,
            processes=settings.sandbox_processes,
            file_bytes=settings.sandbox_file_bytes,
            head_bytes=settings.output_head_bytes,
            tail_bytes=settings.output_tail_bytes,
        )
        return cls(
            limits,
            uid=settings.runner_uid,
            gid=settings.runner_gid,
            bwrap=settings.sandbox_bwrap,
            network=settings.sandbox_network,
            ro_binds=settings.sandbox_ro_binds,
            local=local,
        )

    def kill_all(self) -> None:
        """Cancel every running step (service shutdown): their whole process groups."""
        with self._lock:
            pgids = list(self._running)
        for pgid in pgids:
            _killpg(pgid)

    def run(
        self,
        argv: Sequence[str],
        *,
        executable: str,
        stdin: str | None,
        timeout: float,
        env: Mapping[str, str],
        limits: Mapping[str, Any] | None = None,
        cwd: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        """Run ``executable`` with ``argv`` (argv[0] as written); OSError when it cannot start."""
        lim = self.limits.narrowed(limits)
        layers = self.layers
        with self._workdir(cwd) as workdir:
            child_env = dict(env)
            if layers.user or layers.bwrap:  # the service's home is neither readable nor mounted there
                child_env.update(HOME=workdir, TMPDIR=workdir)
            pairs = [] if self.local else _rlimits(lim, timeout, own_user=layers.user is not None)
            args, program, preexec = self._spawn(argv, executable, workdir, pairs)
            kw: dict[str, Any] = {}
            if layers.user:
                kw = {"user": layers.user[0], "group": layers.user[1], "extra_groups": []}
            proc = subprocess.Popen(
                args,
                executable=program,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=child_env,
                cwd=workdir,
                close_fds=True,
                start_new_session=True,
                umask=0o077,
                preexec_fn=preexec,
                **kw,
            )
            with self._lock:
                self._running[proc.pid] = proc
            try:
                out = BoundedCapture(lim.head_bytes, lim.tail_bytes)
                err = BoundedCapture(lim.head_bytes, lim.tail_bytes)
                ended = _pump(proc, (stdin or "").encode(), time.monotonic() + timeout, cancel, out, err)
            finally:
                _killpg(proc.pid)
                proc.wait()
                with self._lock:
                    self._running.pop(proc.pid, None)
        return self._transcript(ended, proc.returncode, out, err, timeout)

    def _spawn(
        self, argv: Sequence[str], executable: str, workdir: str, pairs: list[tuple[int, int]]
    ) -> tuple[list[str], str, Callable[[], None] | None]:
        """(args, program, preexec) for the layers in force: bubblewrap and bash with the limits, bash
        alone, limits set before exec, or (local) a plain spawn."""
        layers = self.layers
        if self.local:  # the person's own run: a plain spawn, argv[0] as written
            return list(argv), executable, None
        if layers.bwrap and layers.bash:
            binds = list(self.ro_binds)
            if not executable.startswith(("/usr/", "/bin/", "/sbin/", "/lib")):
                binds.append(executable)
            args = [layers.bwrap, *_bwrap_args(workdir, layers.bash, network=self.network, binds=binds)]
            args += ["--", layers.bash, "-c", _launcher(pairs), argv[0], executable, *argv[1:]]
            return args, layers.bwrap, None
        if layers.bash:
            return [layers.bash, "-c", _launcher(pairs), argv[0], executable, *argv[1:]], layers.bash, None
        return list(argv), executable, _set_limits(pairs)

    def _transcript(
        self, ended: str, returncode: int, out: BoundedCapture, err: BoundedCapture, timeout: float
    ) -> Transcript:
        stderr = err.text()
        if ended != "exited":
            stderr += ("\n" if stderr and not stderr.endswith("\n") else "") + (
                f"timed out after {timeout:g}s" if ended == "timeout" else "cancelled"
            )
        return Transcript(
            exit_code=-1 if ended != "exited" else returncode,
            stdout=out.text(),
            stderr=stderr,
            timed_out=ended == "timeout",
            stdout_bytes=out.total,
            stdout_sha256=out.sha256,
            stderr_bytes=err.total,
            stderr_sha256=err.sha256,
            truncated=out.truncated or err.truncated,
            isolation=self.layers.describe(),
        )

    @contextlib.contextmanager
    def _workdir(self, cwd: str | None) -> Iterator[str]:
        if cwd is not None or self.local:
            yield cwd or os.getcwd()
            return
        path = tempfile.mkdtemp(prefix="playbooks-step-")
        try:
            if self.layers.user:
                os.chown(path, *self.layers.user)
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _pump(
    proc: subprocess.Popen[bytes],
    stdin: bytes,
    deadline: float,
    cancel: threading.Event | None,
    out: BoundedCapture,
    err: BoundedCapture,
) -> str:
    """Feed stdin and read both streams until the first process exits: 'exited', 'timeout' or 'cancelled'."""
    sel = selectors.DefaultSelector()
    streams = {proc.stdout: out, proc.stderr: err}
    pending = memoryview(stdin)
    pidfd = _register(sel, proc, streams)
    ended: str | None = None
    drain_until: float | None = None
    try:
        while sel.get_map():
            now = time.monotonic()
            if ended is None:
                if cancel is not None and cancel.is_set():
                    ended = "cancelled"
                elif now >= deadline:
                    ended = "timeout"
                elif pidfd is None and proc.poll() is not None:
                    ended = "exited"
                if ended is not None:
                    # the first process ended or must: its whole group goes, grandchildren included
                    _killpg(proc.pid)
                    drain_until = now + DRAIN_GRACE_S
                    _stop_writing(sel, proc)
            if drain_until is not None and now >= drain_until:
                break
            wait = (drain_until if drain_until is not None else deadline) - now
            if cancel is not None or pidfd is None:
                wait = min(wait, 0.1)
            for key, _ in sel.select(max(wait, 0)):
                if key.fileobj == pidfd:
                    sel.unregister(pidfd)
                    if ended is None:
                        ended = "exited"
                        _killpg(proc.pid)
                        drain_until = time.monotonic() + DRAIN_GRACE_S
                        _stop_writing(sel, proc)
                elif key.fileobj is proc.stdin:
                    if not proc.stdin.closed:
                        pending = _write_some(sel, proc, pending)
                else:
                    _read_some(sel, key, streams)
        if ended is None:  # every stream closed before the exit was seen
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0))
                ended = "exited"
            except subprocess.TimeoutExpired:
                ended = "timeout"
        return ended
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _register(
    sel: selectors.BaseSelector, proc: subprocess.Popen[bytes], streams: dict[Any, BoundedCapture]
) -> int | None:
    """Non-blocking pipes in ``sel``: both output streams, stdin, and the process's pidfd where there is one."""
    for stream in streams:
        assert stream is not None
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ)
    if proc.stdin is not None:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(proc.pid)  # readable once the process exits: no polling
        sel.register(pidfd, selectors.EVENT_READ)
    return pidfd


def _write_some(sel: selectors.BaseSelector, proc: subprocess.Popen[bytes], pending: memoryview) -> memoryview:
    """One chunk of stdin written; what is left (nothing once the process stops reading)."""
    assert proc.stdin is not None
    try:
        n = os.write(proc.stdin.fileno(), pending[:READ_CHUNK])
        pending = pending[n:]
    except (BrokenPipeError, BlockingIOError):
        pending = pending[:0]
    if not pending:
        _stop_writing(sel, proc)
    return pending


def _read_some(sel: selectors.BaseSelector, key: selectors.SelectorKey, streams: dict[Any, BoundedCapture]) -> None:
    """One chunk of an output stream into its capture; a closed stream leaves the selector."""
    fd = key.fileobj.fileno()  # type: ignore[union-attr]
    try:
        data = os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return
    if data:
        streams[key.fileobj].feed(data)
    else:
        sel.unregister(key.fileobj)


def _stop_writing(sel: selectors.BaseSelector, proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None and not proc.stdin.closed:
        sel.unregister(proc.stdin)
        with contextlib.suppress(OSError):
            proc.stdin.close()


# The executor real steps go through in this process: set at start-up from the settings (the
# service's lifespan, the runner's main). Without it (the local CLI), a local sandbox: the person's
# own user and folder, with the process group, limits, descriptors and output bounds.
Executor = Callable[..., Transcript]
_executor: Executor | None = None
_default_lock = threading.Lock()


def configure(executor: Executor | None) -> None:
    global _executor
    _executor = executor


def current() -> Executor:
    global _executor
    with _default_lock:
        if _executor is None:
            from .settings import SandboxSettings

            _executor = Sandbox.from_settings(SandboxSettings(), local=True).run
        return _executor
