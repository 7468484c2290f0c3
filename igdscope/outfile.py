"""Every file igdscope writes (``dump -o``, ``extract -o``, the TUI's export, GGTT backups).

One way to write: a temporary file created beside the target with ``O_CREAT|O_EXCL|O_NOFOLLOW``
(never an existing file, never through a symlink), written whole and fsync'ed, then put in place
by a rename (which replaces the directory entry, never what a planted symlink points to) or, for
files that must never replace anything (backups), by a link that fails when the name exists.
The target is checked first: a symlink, a device node, a FIFO, a socket or a directory at the path
is refused, and so is the file the data was read from. On any failure the temporary file is
removed and the error is one line with the exit code the README documents.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import stat
import threading
from pathlib import Path

from igdscope.errors import EXIT_BAD_INPUT, EXIT_PERMISSION, EXIT_REFUSED, IgdscopeError


class CannotWrite(IgdscopeError):
    """The file system said no: no space, read-only, missing directory, I/O error (exit 3), or no
    permission (exit 5)."""

    exit_code = EXIT_BAD_INPUT


class WriteRefused(IgdscopeError):
    """igdscope will not write there: a symlink, device node, FIFO or directory at the path, the
    input itself, or an existing file that must not be replaced (exit 6)."""

    exit_code = EXIT_REFUSED


_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "the directory does not exist",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EISDIR: "it is a directory",
    errno.EIO: "I/O error",
    errno.EFBIG: "file too large for the file system",
    errno.ENAMETOOLONG: "file name too long",
}


def os_error(path: str | os.PathLike, exc: OSError, doing: str = "write") -> IgdscopeError:
    """The one-line error for an OSError while doing ``doing`` to ``path``."""
    if exc.errno in (errno.EACCES, errno.EPERM):
        err: IgdscopeError = CannotWrite(f"cannot {doing} {path}: permission denied")
        err.exit_code = EXIT_PERMISSION
        return err
    return CannotWrite(f"cannot {doing} {path}: {_REASONS.get(exc.errno or 0, exc.strerror or str(exc))}")


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in a word (None for a regular file)."""
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def check_target(path: str | os.PathLike, inputs: tuple[os.stat_result, ...] = (), replace: bool = True) -> None:
    """Refuse a target igdscope must not write: anything but a regular file (a planted symlink
    included), one of ``inputs`` (stat results of the files read), or, with ``replace=False``,
    any existing name."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise os_error(path, exc) from None
    kind = _kind(st.st_mode)
    if kind is not None:
        raise WriteRefused(f"refusing to write {path}: it is {kind} (give the path of a regular file)")
    if any((st.st_dev, st.st_ino) == (i.st_dev, i.st_ino) for i in inputs):
        raise WriteRefused(f"refusing to write {path}: it is the input file (give another output path)")
    if not replace:
        raise WriteRefused(f"refusing to write {path}: it exists, and igdscope never replaces it (give a new name)")


def input_stat(name: str) -> os.stat_result | None:
    """The stat of an input named on the command line ('-': standard input), for
    :func:`check_target`; None when it cannot be had."""
    try:
        return os.fstat(0) if name == "-" else os.stat(name)
    except OSError:
        return None


def write_file(path: str | os.PathLike, data: bytes | str, *, inputs: tuple[os.stat_result | None, ...] = (), replace: bool = True, mode: int = 0o644) -> Path:
    """Write ``data`` to ``path`` safely (see the module). ``replace=False``: an existing name is
    refused before anything is written, and the name is taken by a link that cannot replace one
    made meanwhile. Raises :class:`WriteRefused` or :class:`CannotWrite`."""
    target = Path(path)
    known = tuple(i for i in inputs if i is not None)
    check_target(target, known, replace)
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    directory = target.parent
    tmp = directory / f".{target.name}.{secrets.token_hex(4)}.igdscope-tmp"
    fd = -1
    try:
        fd = _create(tmp, mode)
        _write_all(fd, raw)
        os.close(fd)
        fd = -1
        check_target(target, known, replace)  # again: something may have been planted meanwhile
        if replace:
            os.rename(tmp, target)
        else:
            _place_new(tmp, target)
        _fsync_dir(directory)
    except OSError as exc:
        raise (WriteRefused(f"refusing to write {target}: it exists, and igdscope never replaces it (give a new name)")
               if exc.errno == errno.EEXIST and not replace else os_error(target, exc)) from None
    finally:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass  # gone (renamed or linked into place), or the directory went read-only meanwhile
    return target


def _create(path: Path, mode: int) -> int:
    """A new file, never an existing one, never through a symlink."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)


def _write_all(fd: int, raw: bytes) -> None:
    view = memoryview(raw)
    while view:
        n = os.write(fd, view)
        view = view[n:]
    os.fsync(fd)


def _place_new(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` only if that name does not exist (atomically)."""
    try:
        os.link(tmp, target, follow_symlinks=False)
        return
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK):
            raise
    _rename_noreplace(tmp, target)  # file systems without hard links (vfat, some FUSE)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100


def _rename_noreplace(src: Path, dst: Path) -> None:
    import ctypes

    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)  # glibc 2.28+, musl 1.2.2+
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available")
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    # the temporary name is gone now; unlinking it in write_file's finally finds nothing


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass  # some file systems do not fsync directories; the rename itself is done
    finally:
        os.close(dfd)


# the signals a user sends to stop a command (SIGPIPE is ignored by Python already)
SETTLE_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
_settled: dict[int, object] = {}


def settle(previous: dict[int, object] | None = None) -> None:
    """The work is done and on disk: from now on, the signals a user sends to stop a command no
    longer change its exit status (they are dropped). Main thread only, where the commands run;
    :func:`unsettle` gives the handlers back (``previous``: the ones to give back where the
    caller had replaced them for a while)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SETTLE_SIGNALS:
        old = signal.signal(sig, _dropped)
        _settled.setdefault(sig, (previous or {}).get(sig, old))


def _dropped(signum, frame) -> None:
    pass


def unsettle() -> None:
    """Undo :func:`settle` (for a process that goes on after a command, such as a test)."""
    while _settled:
        sig, handler = _settled.popitem()
        signal.signal(sig, handler)  # type: ignore[arg-type]
