"""A full disk, for real: a small tmpfs mounted (as root, like every podman test here) and filled to its
last block, so that every write there fails with ENOSPC; then room again."""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Disk:
    def __init__(self, mount: Path) -> None:
        self.mount, self.filler = mount, mount / ".filler"

    def fill(self) -> None:
        """Write until the disk refuses: what is there stays, nothing more fits."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@contextmanager
def small_disk(mount: Path, size: str = "4m") -> Iterator[Disk]:
    """A ``size`` tmpfs on ``mount`` (created), unmounted at the end."""
    mount.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mount)], check=True)
    try:
        yield Disk(mount)
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)
