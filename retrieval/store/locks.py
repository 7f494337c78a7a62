"""One writer at a time per index folder: an advisory lock (``flock``) on ``DIR/LOCK``.

The kernel drops the lock when its holder exits, however it exits (kill -9 included), so a crashed
writer never leaves the folder locked. Re-entrant within a thread: ``add`` holds it across load,
encode and save, and the save inside takes it again."""
from __future__ import annotations

import fcntl
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "LOCK"
WAIT_S = 600.0
_held = threading.local()


class IndexBusy(RuntimeError):
    """Another process kept the index folder's writer lock longer than the wait allowed."""


@contextmanager
def writer_lock(folder: str | Path, wait: float = WAIT_S) -> Iterator[None]:
    """Hold ``folder``'s writer lock; another writer's turn is waited for up to ``wait`` seconds
    (saying so on stderr), then ``IndexBusy`` names the holder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    held = _held.__dict__.setdefault("folders", set())     # this thread's locked folders
    if key in held:
        yield
        return
    with open(folder / LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _wait(fh, folder, wait)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        held.add(key)
        try:
            yield
        finally:
            held.discard(key)
            fcntl.flock(fh, fcntl.LOCK_UN)


def _wait(fh, folder: Path, wait: float) -> None:
    fh.seek(0)
    holder = fh.read().strip() or "unknown"
    print(f"{folder}: another writer (pid {holder}) is changing this index; waiting for it",
          file=sys.stderr)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise IndexBusy(f"{folder}: another writer (pid {holder}) has been changing this "
                                f"index for over {wait:g}s; try again when it has finished") from None
            time.sleep(0.2)
