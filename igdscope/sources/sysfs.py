"""A root-overridable view of a Linux machine's sysfs, procfs, debugfs and /dev.

Nothing in igdscope hard-codes ``/sys``: every live read goes through :class:`Root`, so tests,
rescue shells and chroots point ``--root`` at another tree. Reads are binary, bounded, and never
follow the assumption that a file is small.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

PCI_DEVICES = "sys/bus/pci/devices"


class Root:
    def __init__(self, root: str | os.PathLike = "/"):
        self.root = Path(root)

    @property
    def is_live(self) -> bool:
        return self.root.resolve() == Path("/")

    def path(self, p: str) -> Path:
        return self.root / p.lstrip("/")

    def exists(self, p: str) -> bool:
        return self.path(p).exists()

    def read_bytes(self, p: str, limit: int, offset: int = 0) -> bytes:
        """At most ``limit`` bytes of ``p`` from ``offset``; raises OSError."""
        with open(self.path(p), "rb", buffering=0) as fh:
            if offset:
                fh.seek(offset)
            chunks = []
            left = limit
            while left > 0:
                b = fh.read(min(left, 1 << 20))
                if not b:
                    break
                chunks.append(b)
                left -= len(b)
            return b"".join(chunks)

    def read_text(self, p: str, limit: int = 64 * 1024) -> str:
        return self.read_bytes(p, limit).decode("utf-8", "replace")

    def read_attr(self, p: str) -> str | None:
        """A small text attribute, stripped; None when it does not exist or cannot be read."""
        try:
            return self.read_text(p, 4096).strip()
        except OSError:
            return None

    def read_int(self, p: str, base: int = 0) -> int | None:
        v = self.read_attr(p)
        if v is None:
            return None
        try:
            return int(v, base)
        except ValueError:
            return None

    def readlink_name(self, p: str) -> str | None:
        try:
            return os.path.basename(os.readlink(self.path(p)))
        except OSError:
            return None

    def listdir(self, p: str) -> list[str]:
        try:
            return sorted(os.listdir(self.path(p)))
        except OSError:
            return []

    def size(self, p: str) -> int | None:
        try:
            return self.path(p).stat().st_size
        except OSError:
            return None

    def write_text(self, p: str, value: str) -> None:
        """The one sysfs write a read path makes: enabling/disabling a ``rom`` file."""
        with open(self.path(p), "w") as fh:
            fh.write(value)


def os_reason(exc: OSError) -> str:
    """A short human reason for an OSError, with what usually fixes it."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (run as root)"
    if exc.errno == errno.ENOENT:
        return "does not exist"
    if exc.errno == errno.EBUSY:
        return "busy"
    if exc.errno == errno.EINVAL:
        return "the kernel refused the read (EINVAL)"
    if exc.errno == errno.EIO:
        return "I/O error (the device may be powered down or the ROM disabled)"
    return exc.strerror or str(exc)
