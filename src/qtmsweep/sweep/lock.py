"""The advisory lock a run holds on ``<store>.lock`` for its whole duration.

The lock is a ``flock`` on the file; the kernel releases it if the process dies, so a
left-over lock file never blocks a rerun.  The run removes the file when it ends.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from .layout import StoreError, _now


class StoreLock:
    """Exclusive advisory lock on ``<store>.lock`` (``fcntl.flock``; released when the process dies).

    Raises
    ------
    StoreError
        If another process holds it (the message says which, from the lock file).
    """

    def __init__(self, store: str | Path):
        # the real path: a symlink to the store locks the same file as the store's own path
        self.path = Path(str(Path(store).resolve()) + ".lock")
        self._fd: int | None = None

    def acquire(self) -> "StoreLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    holder = os.read(fd, 4096).decode(errors="replace").strip() or "unknown process"
                finally:
                    os.close(fd)
                raise StoreError(f"store {str(self.path)[:-5]!r} is being written by another run ({holder}); "
                                 "wait for it to finish") from None
            # the holder before us may have removed the file after we opened it: lock the file on disk
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {_now()}\n".encode())
        self._fd = fd
        return self

    def release(self, remove: bool = False) -> None:
        """Unlock; with ``remove``, delete the lock file first (while still holding it)."""
        if self._fd is not None:
            try:
                if remove:
                    try:
                        os.unlink(self.path)
                    except FileNotFoundError:
                        pass
                else:
                    os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "StoreLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
