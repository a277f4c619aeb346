"""Output folders written through a temporary directory, with the permissions a plain mkdir gives.

Why: a2r writes its result folders (score-bag `--out`, `a2r eval --out`, `a2r pybullet mpc --out`,
checkpoints such as a run's `best/` and `last/`, output bags) into a temporary directory next to
the destination and renames it into place, so an interrupted run never leaves half a folder under
the requested name. `tempfile.mkdtemp` creates that directory with mode 0700 whatever the umask
(it is meant for private scratch space), and the rename keeps the mode: the finished folder would
be unreadable to other users and groups, unlike every folder made with `mkdir` (0755 under the
usual umask 022). `staging_dir` makes the temporary directory and gives it the mode `mkdir` would
(0777 minus the process umask), so the renamed result looks like any other folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux says it (/proc/self/status);
    elsewhere set and restored at once under a lock (os.umask is the only portable reader)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def directory_mode() -> int:
    """The mode `mkdir` gives a new directory in this process: 0o777 without the umask's bits."""
    return 0o777 & ~current_umask()


def staging_dir(destination: str | Path, tag: str = "tmp") -> Path:
    """A new, empty temporary directory beside `destination` (same filesystem, so it can be
    renamed onto it), named `.<name>.<tag>-XXXX` and with the mode `mkdir` would give.

    The parent folder is created when missing. The caller fills the directory, renames it (or a
    folder inside it) into place, and removes it on failure.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.{tag}-", dir=destination.parent))
    os.chmod(tmp, directory_mode())
    return tmp


@contextlib.contextmanager
def published_dir(destination: str | Path) -> Iterator[Path]:
    """Fill the yielded staging folder (`staging_dir`); on a clean exit it replaces
    `destination` (which must be absent or an empty folder), on any error it is removed and
    `destination` is left as it was."""
    out = Path(destination)
    tmp = staging_dir(out)
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
