"""A root-overridable view of a Linux machine's sysfs, procfs, debugfs and /dev.

Nothing in igdscope hard-codes ``/sys``: every live read goes through :class:`Root`, so tests,
rescue shells and chroots point ``--root`` at another tree. Reads are binary, bounded, and never
follow the assumption that a file is small. The one write a read makes, the option ROM switch,
is here too (:func:`read_rom`), and it is made only on a real sysfs attribute.
"""

from __future__ import annotations

import atexit
import errno
import os
import signal
import threading
from pathlib import Path
from typing import Protocol

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

    def on_sysfs(self, fd: int) -> bool:
        """Whether an open file is a real sysfs attribute (a device), not a copy in a tree."""
        return fs_type(fd) == SYSFS_MAGIC

    def open_rom(self, p: str) -> RomAttr:
        """The ``rom`` attribute ``p``, opened for reading (raises OSError)."""
        return SysfsRom(self.path(p))


# -- the option ROM switch ---------------------------------------------------------------------
#
# The kernel reads a device's ROM through sysfs only after "enabling" the ``rom`` attribute, and
# its pci_write_rom() (drivers/pci/pci-sysfs.c) is strict about what switches it off again: a
# write at offset 0, of exactly 2 bytes, whose first byte is '0' ("0\n", what `echo 0` writes).
# Anything else, a bare "0" included, switches it on. (A later form parses the write with
# kstrtobool; "1\n" and "0\n" mean on and off under both.) So igdscope writes exactly "1\n",
# reads, and writes exactly "0\n", with every signal that could end the process in between
# held, and only on a real sysfs attribute: a copied tree (--root) is a plain file, read as it
# is and never written.

SYSFS_MAGIC = 0x62656572  # include/uapi/linux/magic.h
ROM_ON = b"1\n"
ROM_OFF = b"0\n"


_fstatfs = None


def fs_type(fd: int) -> int | None:
    """The file system magic of an open file (fstatfs's f_type), None when it cannot be had."""
    global _fstatfs
    try:
        if _fstatfs is None:
            _fstatfs = _load_fstatfs()
        return _fstatfs(fd)
    except (AttributeError, OSError):
        return None


def _load_fstatfs():
    import ctypes
    import platform

    class Statfs(ctypes.Structure):
        # f_type is the first member of struct statfs on every Linux ABI; its width is the ABI's
        # __fsword_t (a long), except on s390x (an unsigned int)
        _fields_ = [("f_type", ctypes.c_uint if platform.machine() == "s390x" else ctypes.c_long), ("rest", ctypes.c_byte * 160)]

    fstatfs = ctypes.CDLL(None, use_errno=True).fstatfs  # the C library the interpreter runs on

    def f_type(fd: int) -> int | None:
        buf = Statfs()
        return buf.f_type & 0xFFFFFFFF if fstatfs(fd, ctypes.byref(buf)) == 0 else None

    return f_type


class RomAttr(Protocol):
    """An opened ``rom`` attribute: whether it is sysfs's own, reads, and the switch."""

    sysfs: bool

    def pread(self, n: int, offset: int) -> bytes: ...

    def switch(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class SysfsRom:
    """A ``rom`` file: sysfs's attribute (switched) or a plain file of a copied tree (read only)."""

    def __init__(self, path: Path):
        self.path = path
        self.fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        self.sysfs = fs_type(self.fd) == SYSFS_MAGIC
        self._wfd = -1

    def pread(self, n: int, offset: int) -> bytes:
        return os.pread(self.fd, n, offset)

    def switch(self, data: bytes) -> None:
        if not self.sysfs:
            raise OSError(errno.EPERM, f"{self.path} is not a sysfs attribute; igdscope does not write it")
        if self._wfd < 0:  # never created, never truncated: the attribute exists or this fails
            self._wfd = os.open(self.path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        if os.pwrite(self._wfd, data, 0) != len(data):
            raise OSError(errno.EIO, f"short write to {self.path}")

    def close(self) -> None:
        for fd in (self.fd, self._wfd):
            if fd >= 0:
                os.close(fd)
        self.fd = self._wfd = -1


# the attributes switched on right now: a fatal signal or the interpreter's exit switches them off
_armed: set = set()
_armed_lock = threading.Lock()
# every signal that ends a process by default and can be caught; the ones raised by a faulting
# instruction (SEGV, BUS, FPE, ILL, TRAP, SYS) cannot be held without killing the process
_HELD = frozenset(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE,
                                              signal.SIGILL, signal.SIGTRAP, signal.SIGSYS, signal.SIGABRT}
_FATAL = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)


def read_rom(attr: RomAttr, limit: int) -> bytes:
    """All of a ROM (at most ``limit`` bytes). On sysfs: "1\n", the read, "0\n", with every
    catchable signal held in this thread for the window (one that arrived is delivered after
    the switch is off again). Elsewhere: the file as it is, nothing written."""
    if not attr.sysfs:
        return _read_all(attr, limit)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        with _armed_lock:
            _armed.add(attr)
        try:
            attr.switch(ROM_ON)
            return _read_all(attr, limit)
        finally:
            try:
                attr.switch(ROM_OFF)
            finally:
                with _armed_lock:
                    _armed.discard(attr)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _read_all(attr: RomAttr, limit: int) -> bytes:
    chunks, off = [], 0
    while off < limit:
        b = attr.pread(min(limit - off, 1 << 20), off)
        if not b:
            break
        chunks.append(b)
        off += len(b)
    return b"".join(chunks)


def switch_off_armed() -> None:
    """Switch off every ``rom`` attribute a read has switched on (another thread's included)."""
    with _armed_lock:
        armed = list(_armed)
    for attr in armed:
        try:
            attr.switch(ROM_OFF)
        except OSError:
            pass


_guarded = False


def guard_process() -> None:
    """For processes that read the ROM off the main thread (the TUI's workers): signals are held
    only in the reading thread, so a signal that would end the process by default is caught in
    the main thread, every switched-on ``rom`` is switched off, and the signal then does what it
    would have done. Also at the interpreter's exit. Call from the main thread; idempotent."""
    global _guarded
    if _guarded or threading.current_thread() is not threading.main_thread():
        return
    _guarded = True
    atexit.register(switch_off_armed)
    for sig in _FATAL:
        prev = signal.getsignal(sig)
        if prev in (signal.SIG_DFL, None) or (sig == signal.SIGINT and prev is signal.default_int_handler):
            signal.signal(sig, _make_guard(sig, prev))


def _make_guard(sig: int, prev):
    def on_signal(signum, frame):
        switch_off_armed()
        if prev is signal.default_int_handler:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    return on_signal


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
