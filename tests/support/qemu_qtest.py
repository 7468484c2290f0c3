"""Read real QEMU chipset config spaces through QEMU's qtest protocol (test helper).

``qemu-system-x86_64 -machine pc|q35 -accel tcg -qtest stdio -qtest-log none -display none
-nodefaults -S`` starts a paused machine whose stdin/stdout speak qtest: ``outl 0xcf8 <address>``
then ``inl 0xcfc`` reads one config dword through the legacy configuration mechanism #1, each
command answered by one line (``OK`` / ``OK 0x…``; ``FAIL …`` or ``ERR …`` on errors). Debian's
QEMU 7.2 has no qtest accelerator, but TCG on a machine that never runs (``-S``) is enough.

Bounded and tidy: the only channel is the child's stdin/stdout (no sockets, no loopback), every
read has a deadline, at most a fixed number of dwords is asked for, and the process is killed
and reaped whatever happens (QEMU does not exit on its own when stdin closes).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import tempfile
import time
import json
from dataclasses import dataclass, field
from pathlib import Path

QEMU = "qemu-system-x86_64"
CONFIG_BYTES = 256  # the conventional config space: what mechanism #1 reaches
MAX_BDFS = 32
MAX_LINE = 4096
_BDF = re.compile(r"^(?:[0-9a-fA-F]{4}:)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")


class QtestError(Exception):
    """QEMU did not start, answered something unexpected, or ran out of time."""


def qemu_binary() -> str | None:
    return shutil.which(QEMU)


# -- the QEMU binaries side by side, one per version ------------------------------------------------------

TOOLS = Path(__file__).resolve().parents[1] / ".tools"  # filled by tests/install-tools.sh, gitignored


@dataclass(frozen=True)
class Slot:
    """Where one QEMU version's binary comes from: an environment override, else its usual place."""

    version: str  # "7.2": the major.minor this slot's binary must report
    env: str
    where: str  # said in the skip reason
    skip_file: Path | None = None  # install-tools.sh's reason when its fetch failed

    def binary(self) -> str | None:
        override = os.environ.get(self.env)
        if override:
            return override if os.access(override, os.X_OK) else None
        if self.version == "7.2":
            return shutil.which(QEMU) or (f"/usr/bin/{QEMU}" if os.access(f"/usr/bin/{QEMU}", os.X_OK) else None)
        path = TOOLS / f"qemu-{self.version}" / QEMU
        return str(path) if os.access(path, os.X_OK) else None

    def missing_reason(self) -> str:
        why = ""
        if self.skip_file is not None and self.skip_file.is_file():
            why = ": " + self.skip_file.read_text(errors="replace").strip().splitlines()[0][:300]
        override = os.environ.get(self.env)
        if override:
            return f"QEMU {self.version}: ${self.env}={override} is not an executable"
        return f"QEMU {self.version} not found ({self.where}; or set ${self.env}){why}"


SLOTS = (
    Slot("7.2", "IGDSCOPE_QEMU_7_2", f"{QEMU} on PATH or /usr/bin, Debian bookworm's qemu-system-x86"),
    Slot("10.0", "IGDSCOPE_QEMU_10_0", "tests/.tools/qemu-10.0, fetched from bookworm-backports by tests/install-tools.sh",
         TOOLS / "qemu-10.0.skip"),
)


def qemu_version(binary: str | None = None, timeout: float = 10.0) -> str | None:
    """``"7.2.22"`` from ``qemu-system-x86_64 --version``, or None."""
    binary = binary or qemu_binary()
    if binary is None:
        return None
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=timeout, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out)
    return m.group(1) if m else None


def major_minor(text: str) -> tuple[int, int]:
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


def _help_default(text: str) -> bool | int | str:
    """QEMU's help prints bool defaults as ``false``/``true`` (7.2) or ``off``/``on`` (10.0)."""
    t = text.strip().strip('"')
    if t in ("on", "true"):
        return True
    if t in ("off", "false"):
        return False
    return int(t, 0) if re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", t) else t


_PROP = re.compile(r"^\s*([A-Za-z0-9_.-]+)=<([^>]+)>(.*)$")


def device_properties(binary: str, device: str, timeout: float = 20.0) -> dict[str, tuple[str, bool | int | str | None]]:
    """``{property: (type, default)}`` from ``-device DEVICE,help`` (default None where none is printed)."""
    try:
        run = subprocess.run([binary, "-device", f"{device},help"], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QtestError(f"{binary} -device {device},help: {exc}") from None
    props = {}
    for line in run.stdout.splitlines():
        m = _PROP.match(line)
        if not m:
            continue
        d = re.search(r"\(default: (.*)\)\s*$", m.group(3))
        props[m.group(1)] = (m.group(2), _help_default(d.group(1)) if d else None)
    if not props:
        raise QtestError(f"{binary} -device {device},help listed no properties: {(run.stderr or run.stdout).strip()[:300]}")
    return props


def qmp(binary: str, machine: str, commands: list[dict], timeout: float = 30.0) -> list:
    """The ``return`` of each QMP command, asked of a paused ``machine`` over stdio (``-qmp stdio -S``).

    All commands are written at once followed by ``quit``; QEMU answers them in order and exits.
    Bounded: the run is killed at ``timeout``."""
    lines = [{"execute": "qmp_capabilities"}, *commands, {"execute": "quit"}]
    text = "".join(json.dumps(c) + "\n" for c in lines)
    argv = [binary, "-machine", machine, "-accel", "tcg", "-display", "none", "-nodefaults", "-S", "-qmp", "stdio"]
    try:
        run = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QtestError(f"QMP with {binary} ({machine}): {exc}") from None
    answers = []
    for line in run.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "return" in msg or "error" in msg:
            answers.append(msg)
    if len(answers) < len(lines) - 1:  # quit may close before its own answer
        raise QtestError(f"QMP with {binary} ({machine}) answered {len(answers)} of {len(lines)} commands: "
                         f"{run.stderr.strip()[:300] or 'no message'}")
    errors = [a["error"] for a in answers[: len(commands) + 1] if "error" in a]
    if errors:
        raise QtestError(f"QMP error: {errors[0]}")
    return [a["return"] for a in answers[1 : len(commands) + 1]]


def pci_functions(query_pci: list) -> dict[str, dict]:
    """``{"00:1f.0": {"vendor", "device", "class"}}`` from a QMP ``query-pci`` answer (bus 0 and below)."""
    out = {}
    for bus in query_pci:
        for d in bus.get("devices", []):
            bdf = f"{d['bus']:02x}:{d['slot']:02x}.{d['function']}"
            out[bdf] = {"vendor": d["id"]["vendor"], "device": d["id"]["device"], "class": d["class_info"]["class"]}
    return out


_QTREE_DEV = re.compile(r"^(\s*)dev: ([^,]+), id")
_QTREE_ADDR = re.compile(r"^\s*addr = ([0-9a-f]{2})\.([0-7])\b")


def qtree_types(qtree: str) -> dict[str, str]:
    """``{"00:1f.0": QOM type}`` of the PCI functions on bus 0 in ``info qtree`` text."""
    out, dev = {}, None
    for line in qtree.splitlines():
        m = _QTREE_DEV.match(line)
        if m:
            dev = m.group(2).strip()
            continue
        a = _QTREE_ADDR.match(line)
        if a and dev is not None:
            out.setdefault(f"00:{a.group(1)}.{a.group(2)}", dev)
            dev = None
    return out


def parse_bdf(bdf: str) -> tuple[int, int, int]:
    m = _BDF.match(bdf.strip())
    if not m:
        raise ValueError(f"not a bus:device.function address: {bdf!r}")
    bus, dev, fn = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3))
    if dev > 0x1F:
        raise ValueError(f"device number {dev:#x} is above 0x1f: {bdf!r}")
    return bus, dev, fn


def cf8_address(bus: int, dev: int, fn: int, offset: int) -> int:
    """The CONFIG_ADDRESS value of configuration mechanism #1 for one dword."""
    return 0x80000000 | bus << 16 | dev << 11 | fn << 8 | (offset & 0xFC)


@dataclass
class Qtest:
    """One paused QEMU under qtest. Use as a context manager; :meth:`close` always kills it."""

    machine: str
    devices: list[str] = field(default_factory=list)
    binary: str | None = None
    timeout: float = 20.0  # for the whole session: start, every answer, shutdown
    proc: subprocess.Popen | None = None
    _buf: bytes = b""
    _deadline: float = 0.0
    _err: object = None

    def __enter__(self) -> Qtest:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        binary = self.binary or qemu_binary()
        if binary is None:
            raise QtestError(f"{QEMU} is not installed")
        argv = [binary, "-machine", self.machine, "-accel", "tcg", "-qtest", "stdio", "-qtest-log", "none",
                "-display", "none", "-nodefaults", "-S"]
        for dev in self.devices:
            argv += ["-device", dev]
        self._err = tempfile.TemporaryFile()
        self._deadline = time.monotonic() + self.timeout
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, start_new_session=True)
        except OSError as exc:
            self._err.close()
            raise QtestError(f"cannot start {binary}: {exc}") from None

    def stderr_text(self) -> str:
        if self._err is None or self._err.closed:
            return ""
        self._err.seek(0)
        return self._err.read(MAX_LINE).decode("utf-8", "replace").strip()

    def _readline(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise QtestError(f"QEMU ({self.machine}) did not answer within {self.timeout:g} s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                self.proc.poll()
                time.sleep(0.05)
                raise QtestError(f"QEMU ({self.machine}) closed its output: {self.stderr_text() or 'no message'}")
            self._buf += chunk
            if len(self._buf) > 1 << 20:
                raise QtestError("QEMU sent more than 1 MiB without a newline")
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("ascii", "replace").strip()

    def command(self, text: str) -> str:
        """Send one qtest command and return its answer line (asynchronous IRQ lines skipped)."""
        if self.proc is None or self.proc.stdin is None:
            raise QtestError("QEMU is not running")
        try:
            self.proc.stdin.write(text.encode("ascii") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise QtestError(f"QEMU ({self.machine}) exited: {self.stderr_text() or 'no message'}") from None
        while True:
            line = self._readline()
            if line.startswith("IRQ"):
                continue
            if not line.startswith("OK"):
                raise QtestError(f"qtest answered {line[:200]!r} to {text!r}")
            return line

    def config_dword(self, bus: int, dev: int, fn: int, offset: int) -> int:
        self.command(f"outl 0xcf8 {cf8_address(bus, dev, fn, offset):#x}")
        answer = self.command("inl 0xcfc")
        parts = answer.split()
        if len(parts) != 2:
            raise QtestError(f"qtest answered {answer!r} to inl")
        return int(parts[1], 16) & 0xFFFFFFFF

    def config_space(self, bdf: str) -> bytes:
        """The 256-byte config space at ``bdf``; all 0xFF when no function answers there."""
        bus, dev, fn = parse_bdf(bdf)
        first = self.config_dword(bus, dev, fn, 0)
        if first == 0xFFFFFFFF:
            return b"\xff" * CONFIG_BYTES
        out = bytearray(first.to_bytes(4, "little"))
        for off in range(4, CONFIG_BYTES, 4):
            out += self.config_dword(bus, dev, fn, off).to_bytes(4, "little")
        return bytes(out)

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
            if proc.poll() is None:
                proc.kill()  # this process only, by its own handle
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover - a kill that does not land
                pass
            if proc.stdout is not None:
                proc.stdout.close()
            self.last_returncode = proc.returncode
        if self._err is not None and not self._err.closed:
            self._err.close()


def read_config_spaces(machine: str, bdfs: list[str], devices: list[str] | None = None, *, binary: str | None = None, timeout: float = 20.0) -> dict[str, bytes]:
    """``{bdf: 256 bytes}`` as a paused ``machine`` with ``devices`` (``-device`` arguments) shows them."""
    if not bdfs or len(bdfs) > MAX_BDFS:
        raise ValueError(f"ask for 1 to {MAX_BDFS} addresses")
    with Qtest(machine, list(devices or []), binary, timeout) as qt:
        return {bdf: qt.config_space(bdf) for bdf in bdfs}
