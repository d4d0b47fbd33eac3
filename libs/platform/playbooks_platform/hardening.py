"""Process hardening every service applies at start."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3


def set_not_dumpable() -> bool:
    """Make this process non-dumpable (Linux): its /proc entries (environ, mem, fd) become root's and no
    process of the same user can read or ptrace them, so a command a service runs cannot read the
    service's secrets from /proc. Inherited by threads, reset by exec. False where it cannot apply."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 and libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False
