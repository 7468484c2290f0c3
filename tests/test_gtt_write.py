"""The one device write: GGTT invalidation and restore, on fake trees that stand for sysfs
(tests.support.fakesys.FakeRoot). Identity before every write, backups that are never replaced, a restore
that validates the whole backup before touching the device, and a fault-injection matrix:
signals at every stage, a full or read-only disk, a second writer. In every case either nothing
was written, or a restore of the first backup gives the original GGTT byte for byte."""

from __future__ import annotations

import argparse
import base64
import errno
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest

from igdscope.analysis import invalidate as gw
from igdscope import outfile
from igdscope.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_PERMISSION, EXIT_REFUSED
from igdscope.sources import demo
from igdscope.sources.sysfs import Root
from tests.support.fakesys import FAKE_BOOT_ID, FakeRoot, build_tree

REPO = Path(__file__).resolve().parent.parent
IGD = "sys/devices/pci0000:00/0000:00:02.0"
GTT_AT, GTT_BYTES = 8 << 20, 8 << 20
ENTRIES = GTT_BYTES // 8


def _gtt(tree: Path) -> bytes:
    with open(tree / IGD / "resource0", "rb") as fh:
        fh.seek(GTT_AT)
        return fh.read(GTT_BYTES)


def _mmio_flush(tree: Path) -> int:
    with open(tree / IGD / "resource0", "rb") as fh:
        fh.seek(gw.GFX_FLSH_CNTL)
        return int.from_bytes(fh.read(4), "little")


def _args(root, **kw):
    base = {"root": root, "device": "0000:00:02.0", "method": "mmio", "ignore_open": False, "json": True, "yes": False, "backup": None, "allow_other_boot": False}
    base.update(kw)
    return argparse.Namespace(**base)


@pytest.fixture
def tree(tmp_path):
    return build_tree(demo.host_capture(), tmp_path / "root")


@pytest.fixture
def root(tree):
    return FakeRoot(tree)


def _invalidate(root, backup, **kw):
    from igdscope.cli import gtt

    return gtt.cmd_invalidate(_args(root, yes=True, backup=str(backup), **kw))


def _restore(root, backup, **kw):
    from igdscope.cli import gtt

    args = _args(root, backup_file=str(backup), **kw)
    args.device = kw.get("device")
    return gtt.cmd_restore(args)


def _set_identity(tree: Path, vendor: int | None = None, device: int | None = None, cls: int | None = None, driver: str | None = None, config: bool = True):
    """Change the fake device: sysfs attributes and (with ``config``) its config space."""
    d = tree / IGD
    cfg = bytearray((d / "config").read_bytes())
    if vendor is not None:
        (d / "vendor").write_text(f"0x{vendor:04x}\n")
        if config:
            cfg[0:2] = vendor.to_bytes(2, "little")
    if device is not None:
        (d / "device").write_text(f"0x{device:04x}\n")
        if config:
            cfg[2:4] = device.to_bytes(2, "little")
    if cls is not None:
        (d / "class").write_text(f"0x{cls:06x}\n")
        if config:
            cfg[9:12] = cls.to_bytes(3, "little")
    (d / "config").write_bytes(bytes(cfg))
    if driver is not None:
        (d / "driver").unlink()
        (tree / f"sys/bus/pci/drivers/{driver}").mkdir(parents=True, exist_ok=True)
        os.symlink(f"../../../bus/pci/drivers/{driver}", d / "driver")


class EmulatedPortIO:
    """BAR4's index/data window emulated over the fake resource0 file, behind the same interface
    the real sysfs resource4 port I/O uses."""

    def __init__(self, path: Path, gtt_offset: int):
        self.fh = open(path, "r+b")
        self.gtt_offset = gtt_offset
        self.index = 0
        self.calls = 0

    def _where(self):
        region = self.gtt_offset if self.index & 1 else 0
        return region + (self.index & ~3)

    def outl(self, offset, value):
        self.calls += 1
        if offset == 0:
            self.index = value
        else:
            self.fh.seek(self._where())
            self.fh.write(value.to_bytes(4, "little"))

    def inl(self, offset):
        self.calls += 1
        self.fh.seek(self._where())
        return int.from_bytes(self.fh.read(4), "little")

    def close(self):
        self.fh.close()


# -- the plain path -------------------------------------------------------------------------------


def test_dry_run_writes_nothing(root, tree, tmp_path, capsys):
    from igdscope.cli import gtt

    before = _gtt(tree)
    assert gtt.cmd_invalidate(_args(root, backup=str(tmp_path / "b.json"))) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] and plan["entries"] == ENTRIES and plan["value"] == 0 and plan["id"] == "8086:3e92" and "GFX_FLSH_CNTL" in plan["tlb_flush"]
    assert _gtt(tree) == before and not (tmp_path / "b.json").exists() and _mmio_flush(tree) == 0


def test_invalidate_then_restore_byte_exact(root, tree, tmp_path, capsys):
    before = _gtt(tree)
    backup = tmp_path / "backup.json"
    assert _invalidate(root, backup) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {**out, "written": ENTRIES, "verified": ENTRIES, "mismatch_count": 0, "tlb_flushed": True, "interrupted": None, "backup": str(backup)}
    assert _gtt(tree) == bytes(GTT_BYTES) and _mmio_flush(tree) == 1  # the TLB flush register was written
    assert backup.stat().st_mode & 0o777 == 0o600
    doc, data = gw.read_backup(backup)
    assert data == before and doc["device"] == "0000:00:02.0" and doc["pte_format"] == "gen8" and doc["boot_id"] == FAKE_BOOT_ID
    assert (doc["vendor_id"], doc["device_id"], doc["revision"], doc["class_code"]) == (0x8086, 0x3E92, 0, 0x030000)
    assert _restore(root, backup) == 0
    assert _gtt(tree) == before
    assert [p.name for p in tmp_path.iterdir()] == ["root", "backup.json"] or sorted(p.name for p in tmp_path.iterdir()) == ["backup.json", "root"]


def test_an_all_zero_table_is_left_alone_without_a_backup(root, tree, tmp_path, capsys):
    assert _invalidate(root, tmp_path / "b1.json") == 0
    capsys.readouterr()
    assert _invalidate(root, tmp_path / "b2.json") == 0
    assert json.loads(capsys.readouterr().out)["nothing_to_do"] is True
    assert not (tmp_path / "b2.json").exists()


def test_bar4_method(root, tree):
    t = gw.target(root, "0000:00:02.0")
    t.entries = 2048  # a smaller table keeps the per-dword window quick
    io = EmulatedPortIO(tree / IGD / "resource0", t.gtt_offset)
    win = gw.open_window(root, t, "bar4", io)
    before = win.read(0, t.entries)
    whole = _gtt(tree)
    assert before == whole[: 2048 * 8]
    out = gw.write_entries(win, bytes(len(before)))
    assert out.written == out.verified == 2048 and not out.mismatches and out.flushed
    assert _gtt(tree)[: 2048 * 8] == bytes(2048 * 8) and _gtt(tree)[2048 * 8 :] == whole[2048 * 8 :]
    assert _mmio_flush(tree) == 1  # the flush went through the MMIO half
    gw.write_entries(win, before)
    assert _gtt(tree)[: 2048 * 8] == before
    # the window refuses anything past the table it was opened for, before the first dword
    calls = io.calls
    with pytest.raises(gw.Refused):
        win.write(2040, bytes(16 * 8))
    with pytest.raises(gw.Refused):
        gw.write_entries(win, bytes(4096 * 8))
    assert io.calls == calls and _gtt(tree)[2048 * 8 :] == whole[2048 * 8 :]
    win.close()


def test_verification_catches_dropped_writes(root):
    t = gw.target(root, "0000:00:02.0")
    win = gw.open_window(root, t, "mmio")
    real_write = win.write

    def lossy(first, data):  # the hardware drops one entry of the first chunk
        real_write(first, data)
        if first == 0:
            real_write(7, (0xDEAD000 | 1).to_bytes(8, "little"))

    win.write = lossy
    out = gw.write_entries(win, bytes(t.entries * 8))
    win.close()
    assert out.mismatches == [7]


def test_a_plain_tree_is_never_written(tree, tmp_path):
    """--root on a copied tree: resource0 is a plain file, not a device; nothing is written."""
    before = _gtt(tree)
    r = subprocess.run([sys.executable, "-m", "igdscope", "gtt", "invalidate", "--root", str(tree), "--yes", "--backup", str(tmp_path / "b.json")],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == EXIT_REFUSED and "not a sysfs attribute" in r.stderr and len(r.stderr.splitlines()) == 1
    assert _gtt(tree) == before and not (tmp_path / "b.json").exists()


def test_the_command_line_round_trip(tree, tmp_path):
    before = _gtt(tree)
    run = lambda *a: subprocess.run([sys.executable, "-m", "tests.support.fake_cli", "gtt", *a], capture_output=True, text=True, timeout=120, cwd=REPO)  # noqa: E731
    r = run("invalidate", "--root", str(tree))
    assert r.returncode == 0 and "dry run: nothing written" in r.stdout and "1048576" in r.stdout and "boot5b0c1e9a" in r.stdout
    backup = tmp_path / "b.json"
    r = run("invalidate", "--root", str(tree), "--yes", "--backup", str(backup))
    assert r.returncode == 0, r.stderr
    assert "wrote and verified 1048576 entries" in r.stdout and _gtt(tree) == bytes(GTT_BYTES)
    r = run("restore", str(backup), "--root", str(tree))
    assert r.returncode == 0 and _gtt(tree) == before and "from " + str(backup) in r.stdout


# -- finding 3: a second invalidate must not destroy the only good backup ------------------------


def test_an_existing_backup_is_never_replaced(root, tree, tmp_path, capsys):
    before = _gtt(tree)
    backup = tmp_path / "b.json"
    assert _invalidate(root, backup) == 0
    kept = backup.read_bytes()
    with open(tree / IGD / "resource0", "r+b") as fh:  # the next VM leaves entries behind again
        fh.seek(GTT_AT)
        fh.write(before[:4096])
    now = _gtt(tree)
    with pytest.raises(outfile.WriteRefused) as e:
        _invalidate(root, backup)
    assert e.value.exit_code == EXIT_REFUSED and "never replaces" in str(e.value)
    assert backup.read_bytes() == kept and _gtt(tree) == now  # refused before anything was written
    assert _restore(root, backup) == 0 and _gtt(tree) == before
    # the dry run says it would be refused
    from igdscope.cli import gtt

    capsys.readouterr()
    assert gtt.cmd_invalidate(_args(root, backup=str(backup))) == EXIT_REFUSED
    assert "never replaces" in json.loads(capsys.readouterr().out)["refused"]


def test_default_backup_names_are_unique(root, tmp_path):
    t = gw.target(root, "0000:00:02.0")
    first = gw.default_backup(t, tmp_path)
    assert "0000_00_02.0" in first.name and "boot5b0c1e9a" in first.name and first.suffix == ".json"
    first.write_text("{}")
    second = gw.default_backup(t, tmp_path)
    assert second != first and not second.exists()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    os.rename(tmp_path / "dangling", second)  # even a dangling symlink holds the name
    assert gw.default_backup(t, tmp_path) not in (first, second)


# -- finding 4: identity before writing --------------------------------------------------------------


@pytest.mark.parametrize("change, words", [
    ({"vendor": 0x10DE}, "not an Intel"),
    ({"vendor": 0x1002, "device": 0x1636, "driver": "amdgpu"}, "not an Intel"),  # 0x1636 is also a Broadwell ID
    ({"vendor": 0x10DE, "config": False}, "sysfs says vendor 0x10de, its config space 0x8086"),
    ({"device": 0x1234}, "not an IGD whose GGTT format"),
    ({"cls": 0x020000}, "not a display controller"),
    ({"driver": "nouveau"}, "nouveau is bound"),
    ({"driver": "i915"}, "i915 is bound"),
])
def test_identity_is_confirmed_before_any_write(root, tree, tmp_path, capsys, change, words):
    from igdscope.cli import gtt

    _set_identity(tree, **change)
    before = (tree / IGD / "resource0").read_bytes()
    with pytest.raises(gw.Refused) as e:
        _invalidate(root, tmp_path / "b.json")
    assert words in str(e.value) and e.value.exit_code == EXIT_REFUSED
    try:  # the dry run does not pass either
        code = gtt.cmd_invalidate(_args(root, backup=str(tmp_path / "b.json")))
        assert code == EXIT_REFUSED and words in json.loads(capsys.readouterr().out)["refused"]
    except gw.Refused as exc:  # identity itself failed: no plan at all
        assert words in str(exc)
    assert (tree / IGD / "resource0").read_bytes() == before and not (tmp_path / "b.json").exists()


def test_bar0_must_have_its_generations_size(root, tree, tmp_path):
    res = tree / IGD / "resource"
    lines = res.read_text().splitlines()
    start = int(lines[0].split()[0], 16)
    lines[0] = f"0x{start:016x} 0x{start + (32 << 20) - 1:016x} 0x0000000000140204"
    res.write_text("\n".join(lines) + "\n")
    before = _gtt(tree)
    with pytest.raises(gw.Refused) as e:
        _invalidate(root, tmp_path / "b.json")
    assert "BAR0 is 0x2000000 bytes" in str(e.value) and "0x1000000" in str(e.value)
    assert _gtt(tree) == before


def test_a_device_address_is_validated(root):
    for bad in ("../../../etc", "0000:00:02.0/../../x", "zz", "", "0000:00:02.8"):
        with pytest.raises(gw.BadInput):
            gw.target(root, bad)
    assert gw.pci_address("00:02.0") == "0000:00:02.0"


# -- finding 5: symlinks -------------------------------------------------------------------------------


def test_a_symlink_at_the_backup_path_is_refused(root, tree, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "b.json").symlink_to(victim)
    before = _gtt(tree)
    with pytest.raises(outfile.WriteRefused) as e:
        _invalidate(root, tmp_path / "b.json")
    assert "symbolic link" in str(e.value) and victim.read_text() == "precious" and _gtt(tree) == before


def test_a_symlink_at_the_old_partial_name_is_not_followed(root, tree, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    (tmp_path / "b.json.partial").symlink_to(victim)
    assert _invalidate(root, tmp_path / "b.json") == 0
    assert victim.read_text() == "precious" and gw.read_backup(tmp_path / "b.json")[1] != bytes(GTT_BYTES)


# -- finding 6: restore trusts nothing --------------------------------------------------------------


def _backup_with(path: Path, data: bytes, **changes) -> Path:
    doc, _ = gw.read_backup(path)
    doc.update(data=base64.b64encode(zlib.compress(data)).decode(), size=len(data), sha256=hashlib.sha256(data).hexdigest())
    doc.update(changes)
    out = path.with_name("edited-" + path.name + f"-{len(list(path.parent.iterdir()))}")
    out.write_text(json.dumps({k: v for k, v in doc.items() if v is not _DROP}))
    return out


_DROP = object()


@pytest.fixture
def invalidated(root, tree, tmp_path, capsys):
    before = _gtt(tree)
    backup = tmp_path / "b.json"
    assert _invalidate(root, backup) == 0
    capsys.readouterr()
    return before, backup


@pytest.mark.parametrize("edit, code, words", [
    (lambda b, d: _backup_with(b, d[: len(d) // 2]), EXIT_BAD_INPUT, "does not fit its size"),  # smaller: was a silent partial restore
    (lambda b, d: _backup_with(b, d + d[:8 * 4096], entries=ENTRIES + 4096), EXIT_BAD_INPUT, "at most"),  # larger
    (lambda b, d: _backup_with(b, d, device=_DROP), EXIT_BAD_INPUT, "no 'device'"),  # was a KeyError traceback
    (lambda b, d: _backup_with(b, d, device="../../../../tmp/x"), EXIT_BAD_INPUT, "not a PCI address"),
    (lambda b, d: _backup_with(b, d, entries="1048576"), EXIT_BAD_INPUT, "wrong type"),
    (lambda b, d: _backup_with(b, d, version=1), EXIT_BAD_INPUT, "earlier igdscope"),
    (lambda b, d: _backup_with(b, d, sha256="0" * 64), EXIT_BAD_INPUT, "sha256"),
    (lambda b, d: _backup_with(b, d, device_id=0x3E91), EXIT_REFUSED, "device_id 3e91"),
    (lambda b, d: _backup_with(b, d, revision=2), EXIT_REFUSED, "revision 02"),
    (lambda b, d: _backup_with(b, d, boot_id="0e7d7c6c-0000-4000-8000-000000000000"), EXIT_REFUSED, "another boot"),
])
def test_restore_refuses_a_backup_that_does_not_hold(root, tree, invalidated, edit, code, words):
    before, backup = invalidated
    bad = edit(backup, gw.read_backup(backup)[1])
    with pytest.raises(gw.IgdscopeError) as e:
        _restore(root, bad)
    assert e.value.exit_code == code and words in str(e.value), str(e.value)
    assert _gtt(tree) == bytes(GTT_BYTES) and _mmio_flush(tree) == 1  # nothing written (not even a flush)
    assert _restore(root, backup) == 0 and _gtt(tree) == before


def test_a_tampered_entry_is_caught_by_the_checksum(root, tree, invalidated):
    before, backup = invalidated
    doc = json.loads(backup.read_text())
    data = bytearray(zlib.decompress(base64.b64decode(doc["data"])))
    data[8 * 5] ^= 0x40
    doc["data"] = base64.b64encode(zlib.compress(bytes(data))).decode()
    bad = backup.with_name("tampered.json")
    bad.write_text(json.dumps(doc))
    with pytest.raises(gw.BadInput) as e:
        _restore(root, bad)
    assert "does not match its sha256" in str(e.value) and _gtt(tree) == bytes(GTT_BYTES)


def test_a_backup_from_another_boot_needs_to_be_asked_for(root, tree, invalidated):
    before, backup = invalidated
    (tree / "proc/sys/kernel/random/boot_id").write_text("0e7d7c6c-0000-4000-8000-000000000000\n")
    with pytest.raises(gw.Refused):
        _restore(root, backup)
    assert _gtt(tree) == bytes(GTT_BYTES)
    assert _restore(root, backup, allow_other_boot=True) == 0 and _gtt(tree) == before


def test_a_backup_of_another_device_is_refused(root, tree, invalidated, tmp_path):
    before, backup = invalidated
    with pytest.raises(gw.Refused) as e:
        _restore(root, backup, device="0000:00:1f.0")  # the LPC bridge of the same tree
    assert "not an Intel" in str(e.value) or "not a display controller" in str(e.value)
    assert _gtt(tree) == bytes(GTT_BYTES)


# -- finding 8: the backup cannot be written -----------------------------------------------------------


def _no_leftovers(directory: Path) -> None:
    assert not [p for p in directory.iterdir() if "igdscope-tmp" in p.name or p.name.endswith(".partial")]


@pytest.mark.parametrize("err, code, words", [
    (errno.ENOSPC, EXIT_BAD_INPUT, "no space left"),
    (errno.EDQUOT, EXIT_BAD_INPUT, "quota"),
    (errno.EIO, EXIT_BAD_INPUT, "I/O error"),
])
def test_a_backup_write_that_fails_midway(root, tree, tmp_path, monkeypatch, err, code, words):
    real = outfile._write_all

    def half_then_fail(fd, raw):
        os.write(fd, raw[: len(raw) // 2])
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(outfile, "_write_all", half_then_fail)
    before = _gtt(tree)
    with pytest.raises(gw.IgdscopeError) as e:
        _invalidate(root, tmp_path / "b.json")
    assert e.value.exit_code == code and words in str(e.value) and "\n" not in str(e.value)
    assert _gtt(tree) == before and not (tmp_path / "b.json").exists()
    _no_leftovers(tmp_path)
    monkeypatch.setattr(outfile, "_write_all", real)


@pytest.mark.parametrize("err, code, words", [
    (errno.EROFS, EXIT_BAD_INPUT, "read-only file system"),
    (errno.EACCES, EXIT_PERMISSION, "permission denied"),
])
def test_a_backup_that_cannot_be_created(root, tree, tmp_path, monkeypatch, err, code, words):
    def refuse(path, mode):
        raise OSError(err, os.strerror(err), str(path))

    monkeypatch.setattr(outfile, "_create", refuse)
    before = _gtt(tree)
    with pytest.raises(gw.IgdscopeError) as e:
        _invalidate(root, tmp_path / "b.json")
    assert e.value.exit_code == code and words in str(e.value)
    assert _gtt(tree) == before
    _no_leftovers(tmp_path)


@pytest.mark.parametrize("where, words", [
    ("missing/b.json", "the directory does not exist"),
    ("adir", "it is a directory"),
    ("fifo", "it is a FIFO"),
    ("/dev/null", "character device"),
])
def test_a_backup_path_that_is_not_a_new_file(root, tree, tmp_path, where, words):
    (tmp_path / "adir").mkdir()
    os.mkfifo(tmp_path / "fifo")
    before = _gtt(tree)
    with pytest.raises(gw.IgdscopeError) as e:
        _invalidate(root, tmp_path / where)
    assert words in str(e.value) and _gtt(tree) == before
    _no_leftovers(tmp_path)


# -- the fault-injection matrix: signals -----------------------------------------------------------------

STAGES_FAST = ["reading", "backup", "after-backup", "chunk-1", "chunk-2", "chunk-128", "chunk-255", "done"]
SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"]


def _inject_at(stage: str, sig: int, monkeypatch):
    """Send ``sig`` to this process at ``stage`` of an invalidation."""
    kill = lambda: os.kill(os.getpid(), sig)  # noqa: E731
    if stage == "reading":
        real = gw.Bar0Window.read

        def read(self, first, count):
            if count == ENTRIES:
                kill()
            return real(self, first, count)

        monkeypatch.setattr(gw.Bar0Window, "read", read)
    elif stage == "backup":
        real_w = outfile._write_all

        def write_all(fd, raw):
            os.write(fd, raw[:4096])
            kill()
            real_w(fd, raw[4096:])

        monkeypatch.setattr(outfile, "_write_all", write_all)
    elif stage == "after-backup":
        real_b = gw.write_backup

        def write_backup(*a, **k):
            doc = real_b(*a, **k)
            kill()
            return doc

        monkeypatch.setattr(gw, "write_backup", write_backup)
    elif stage.startswith("chunk-"):
        k = int(stage.split("-")[1])
        real_wr = gw.Bar0Window.write

        def write(self, first, data):
            real_wr(self, first, data)
            if first == (k - 1) * gw.CHUNK:
                kill()  # arrives between chunk k and chunk k + 1

        monkeypatch.setattr(gw.Bar0Window, "write", write)
    elif stage == "done":
        real_e = gw.write_entries

        def write_entries(*a, **k):
            out = real_e(*a, **k)
            kill()
            return out

        monkeypatch.setattr(gw, "write_entries", write_entries)


def _fault_case(root, tree, tmp_path, monkeypatch, stage, name):
    before = _gtt(tree)
    backup = tmp_path / "b.json"
    with monkeypatch.context() as m:
        _inject_at(stage, getattr(signal, name), m)
        code = _invalidate(root, backup)
    outfile.unsettle()
    now = _gtt(tree)
    if stage in ("reading", "backup", "after-backup"):
        assert code == EXIT_INTERRUPTED and now == before  # nothing written to the GGTT
    elif stage == "done":
        assert code == 0 and now == bytes(GTT_BYTES)  # the signal came after the work: it changes nothing
    else:
        k = int(stage.split("-")[1]) * gw.CHUNK
        stopped = k < ENTRIES
        assert code == (EXIT_INTERRUPTED if stopped else 0)
        assert now[: k * 8] == bytes(k * 8) and now[k * 8 :] == before[k * 8 :]
        assert _mmio_flush(tree) == 1  # what was written is flushed
    _no_leftovers(tmp_path)
    if backup.exists():
        assert gw.read_backup(backup)[1] == before
        assert _restore(root, backup) == 0
    assert _gtt(tree) == before  # either untouched, or restored byte for byte


@pytest.mark.parametrize("name", SIGNALS)
@pytest.mark.parametrize("stage", STAGES_FAST)
def test_fault_matrix_signals(root, tree, tmp_path, monkeypatch, capsys, stage, name):
    _fault_case(root, tree, tmp_path, monkeypatch, stage, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SIGNALS[:3])
@pytest.mark.parametrize("k", range(1, ENTRIES // gw.CHUNK + 1))
def test_fault_matrix_every_chunk_boundary(tmp_path, monkeypatch, capsys, name, k):
    tree = build_tree(demo.host_capture(), tmp_path / "root")
    _fault_case(FakeRoot(tree), tree, tmp_path, monkeypatch, f"chunk-{k}", name)


# -- in a process of its own: the exit status a shell sees ---------------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    from igdscope.analysis import invalidate as gw
    from igdscope.sources import sysfs
    from tests.support.fakesys import FakeRoot
    sysfs.Root = FakeRoot
    from igdscope.cli import gtt
    real = gtt._report
    def report(*a, **k):
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
            os.kill(os.getpid(), s)  # the write is complete: these must not change the exit status
        return real(*a, **k)
    if {after!r}:
        gtt._report = report
    if {chunk!r}:
        real_w = gw.Bar0Window.write
        def write(self, first, data):
            real_w(self, first, data)
            if first == gw.CHUNK:
                os.kill(os.getpid(), getattr(signal, {sig!r}))
        gw.Bar0Window.write = write
    from igdscope.cli.main import main
    raise SystemExit(main({argv!r}))
""")


def _child(tree, backup, *, after=False, chunk=False, sig="SIGTERM"):
    argv = ["gtt", "invalidate", "--root", str(tree), "--yes", "--backup", str(backup)]
    code = CHILD.format(repo=str(REPO), after=after, chunk=chunk, sig=sig, argv=argv)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_signals_after_the_write_completed_do_not_change_the_exit_status(tree, tmp_path):
    r = _child(tree, tmp_path / "b.json", after=True)
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert "wrote and verified 1048576 entries" in r.stdout and _gtt(tree) == bytes(GTT_BYTES)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_mid_write_in_a_real_process(tree, tmp_path, sig):
    before = _gtt(tree)
    r = _child(tree, tmp_path / "b.json", chunk=True, sig=sig)
    assert r.returncode == EXIT_INTERRUPTED, (r.returncode, r.stderr)
    assert f"interrupted by {sig} after {2 * gw.CHUNK} of 1048576 entries" in r.stdout and "igdscope gtt restore" in r.stdout
    assert _gtt(tree)[: 2 * gw.CHUNK * 8] == bytes(2 * gw.CHUNK * 8) and _gtt(tree)[2 * gw.CHUNK * 8 :] == before[2 * gw.CHUNK * 8 :]
    r = subprocess.run([sys.executable, "-m", "tests.support.fake_cli", "gtt", "restore", str(tmp_path / "b.json"), "--root", str(tree)],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0 and _gtt(tree) == before


# -- a second writer -----------------------------------------------------------------------------------


def _locked(tree: Path) -> int:
    fd = os.open(tree / IGD / "resource0", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another igdscope is writing the device
    return fd


def test_a_concurrent_second_invalidate_is_refused(root, tree, tmp_path):
    before = _gtt(tree)
    fd = _locked(tree)
    try:
        with pytest.raises(gw.Refused) as e:
            _invalidate(root, tmp_path / "b.json")
    finally:
        os.close(fd)
    assert "another igdscope is writing" in str(e.value) and e.value.exit_code == EXIT_REFUSED
    assert _gtt(tree) == before and not (tmp_path / "b.json").exists()


def test_a_restore_while_another_writes_is_refused(root, tree, invalidated):
    before, backup = invalidated
    fd = _locked(tree)
    try:
        with pytest.raises(gw.Refused):
            _restore(root, backup)
    finally:
        os.close(fd)
    assert _gtt(tree) == bytes(GTT_BYTES)
    assert _restore(root, backup) == 0 and _gtt(tree) == before


def test_two_invalidates_racing(tree, tmp_path):
    """Two processes started together: one writes, the other is refused (lock or existing
    backup) or finds nothing to do; the backup that exists restores the original."""
    before = _gtt(tree)
    cmd = lambda b: [sys.executable, "-m", "tests.support.fake_cli", "gtt", "invalidate", "--root", str(tree), "--yes", "--json", "--backup", str(b)]  # noqa: E731
    a = subprocess.Popen(cmd(tmp_path / "a.json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    b = subprocess.Popen(cmd(tmp_path / "b.json"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    (_, ea), (_, eb) = a.communicate(timeout=120), b.communicate(timeout=120)
    codes = sorted((a.returncode, b.returncode))
    assert codes in ([0, 0], [0, EXIT_REFUSED]), (a.returncode, ea, b.returncode, eb)
    backups = [p for p in (tmp_path / "a.json", tmp_path / "b.json") if p.exists()]
    good = [p for p in backups if gw.read_backup(p)[1] == before]
    assert len(good) == 1  # exactly one backup of the original table; a later one (if any) found nothing to do
    assert _gtt(tree) == bytes(GTT_BYTES)
    assert _restore(FakeRoot(tree), good[0]) == 0 and _gtt(tree) == before


def test_a_plain_root_is_what_the_command_line_uses(tree):
    """The real Root sees the fake tree for what it is: plain files, no sysfs."""
    fd = os.open(tree / IGD / "resource0", os.O_RDONLY)
    try:
        assert Root(tree).on_sysfs(fd) is False
    finally:
        os.close(fd)
