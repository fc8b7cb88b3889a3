"""One daemon per state directory: an exclusive ``flock`` on ``vigil.lock`` in it, held while `vigil run` lives.

Two daemons on one state directory would log every event twice under different ids, write one outbox
from two processes, and (with one MQTT client id) kick each other off the broker. The kernel releases a
flock when its holder dies, however it dies, so a crash leaves no stale lock to clean up; the file
itself stays (deleting it would let a third process lock a new file while the second still holds the
old one). The file holds the holder's pid, for the refusal message only.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from edge.errors import ConfigError

LOCK_FILE = "vigil.lock"


class StateDirLock:
    """The exclusive lock of one state directory; `acquire()` raises a ConfigError naming the directory and
    the holder's pid when another process holds it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.path = state_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> StateDirLock:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(f"state directory {self.state_dir}: cannot create {LOCK_FILE} ({exc.strerror}; "
                              "expected a writable folder)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(f"state directory {self.state_dir}: another vigil run holds it (pid {holder}); "
                              "expected one daemon per state directory (stop it, or give this one "
                              "another gateway.state_dir)") from None
        try:  # the pid is for messages only: a full disk must not stop the daemon that holds the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
