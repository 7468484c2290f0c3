"""Every file igdscope writes: dump -o, extract -o, the TUI's export and GGTT backups go through
igdscope.outfile. Never through a symlink, never onto the input, a device node, a FIFO or a
directory; a full or read-only disk is one line and a documented exit code with nothing left
behind; an existing backup is never replaced."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from igdscope import outfile
from igdscope.errors import EXIT_BAD_INPUT, EXIT_PERMISSION, EXIT_REFUSED
from igdscope.sources import demo

REPO = Path(__file__).resolve().parent.parent


def _igdscope(*args, stdin=None, timeout=60, module="igdscope"):
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, input=stdin, timeout=timeout, cwd=REPO)


def _one_line_error(r, code: int, words: str) -> None:
    assert r.returncode == code, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and words in r.stderr and "Traceback" not in r.stderr, r.stderr


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if "igdscope-tmp" in p.name]


@pytest.fixture(scope="module")
def rom_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("rom") / "vbios.rom"
    p.write_bytes(demo.option_rom())
    return p


# -- the module ---------------------------------------------------------------------------------------


def test_write_replace_and_new(tmp_path):
    p = tmp_path / "out.bin"
    outfile.write_file(p, b"one")
    outfile.write_file(p, b"two")  # an output file may be replaced (atomically)
    assert p.read_bytes() == b"two"
    with pytest.raises(outfile.WriteRefused):
        outfile.write_file(p, b"three", replace=False)
    assert p.read_bytes() == b"two" and not _leftovers(tmp_path)
    q = outfile.write_file(tmp_path / "new.bin", "text", replace=False, mode=0o600)
    assert q.read_text() == "text" and q.stat().st_mode & 0o777 == 0o600


def test_a_name_taken_between_check_and_link_is_not_replaced(tmp_path, monkeypatch):
    """The link that puts a backup in place fails when the name appeared meanwhile."""
    p = tmp_path / "b.json"
    real = outfile.check_target
    calls = []

    def check(path, inputs=(), replace=True):
        calls.append(1)
        real(path, inputs, replace)
        if len(calls) == 2:  # after the data is written, just before the link: someone takes the name
            p.write_text("theirs")

    monkeypatch.setattr(outfile, "check_target", check)
    with pytest.raises(outfile.WriteRefused):
        outfile.write_file(p, b"mine", replace=False)
    assert p.read_text() == "theirs" and not _leftovers(tmp_path)


def test_rename_noreplace_fallback(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("a")
    b.write_text("b")
    with pytest.raises(OSError) as e:
        outfile._rename_noreplace(a, b)
    assert e.value.errno == errno.EEXIST and b.read_text() == "b"
    outfile._rename_noreplace(a, tmp_path / "c")
    assert (tmp_path / "c").read_text() == "a" and not a.exists()


# -- dump -o, extract -o: what is refused ----------------------------------------------------------


@pytest.mark.parametrize("make, words", [
    (lambda d: ((d / "victim").write_text("precious"), (d / "out").symlink_to(d / "victim")), "symbolic link"),
    (lambda d: (d / "out").symlink_to(d / "nowhere"), "symbolic link"),  # a dangling one too: it would create its target
    (lambda d: os.mkfifo(d / "out"), "FIFO"),
    (lambda d: (d / "out").mkdir(), "directory"),
])
def test_dump_output_refuses_what_is_not_a_regular_file(tmp_path, make, words):
    make(tmp_path)
    r = _igdscope("dump", "--demo", "-o", tmp_path / "out", timeout=30)  # a FIFO must not hang it
    _one_line_error(r, EXIT_REFUSED, words)
    if (tmp_path / "victim").exists():
        assert (tmp_path / "victim").read_text() == "precious"
    assert not (tmp_path / "nowhere").exists() and not _leftovers(tmp_path)


def test_dump_output_refuses_a_device_node():
    r = _igdscope("dump", "--demo", "-o", "/dev/null")
    _one_line_error(r, EXIT_REFUSED, "character device")


def test_extract_onto_its_own_input_is_refused(rom_file):
    before = rom_file.read_bytes()
    r = _igdscope("extract", "vbt", rom_file, "-o", rom_file)
    _one_line_error(r, EXIT_REFUSED, "it is the input file")
    assert rom_file.read_bytes() == before
    link = rom_file.with_name("hardlink.rom")
    os.link(rom_file, link)
    r = _igdscope("extract", "vbt", link, "-o", rom_file)
    _one_line_error(r, EXIT_REFUSED, "it is the input file")
    with open(rom_file, "rb") as fh:  # standard input is the output file
        r = subprocess.run([sys.executable, "-m", "igdscope", "extract", "vbt", "-", "-o", str(rom_file)], stdin=fh, capture_output=True, text=True, cwd=REPO)
    _one_line_error(r, EXIT_REFUSED, "it is the input file")
    assert rom_file.read_bytes() == before
    r = _igdscope("extract", "vbt", rom_file, "-o", rom_file.with_name("vbt.bin"))
    assert r.returncode == 0 and rom_file.with_name("vbt.bin").read_bytes()[:4] == b"$VBT"


@pytest.mark.parametrize("where, code, words", [
    ("missing/out.json", EXIT_BAD_INPUT, "the directory does not exist"),
    ("file/out.json", EXIT_BAD_INPUT, "not a directory"),
])
def test_dump_output_in_a_place_that_cannot_hold_it(tmp_path, where, code, words):
    (tmp_path / "file").write_text("x")
    r = _igdscope("dump", "--demo", "-o", tmp_path / where)
    _one_line_error(r, code, words)


def test_an_existing_output_file_is_replaced_whole(tmp_path):
    out = tmp_path / "cap.json"
    out.write_text("x" * (4 << 20))  # longer than the capture: nothing of it may remain
    r = _igdscope("dump", "--demo", "-o", out)
    assert r.returncode == 0 and out.read_text().startswith("{") and out.read_text().rstrip().endswith("}")
    assert not _leftovers(tmp_path)


@pytest.mark.parametrize("err, code, words", [
    (errno.ENOSPC, EXIT_BAD_INPUT, "no space left on the device"),
    (errno.EROFS, EXIT_BAD_INPUT, "read-only file system"),
    (errno.EACCES, EXIT_PERMISSION, "permission denied"),
])
def test_dump_output_errors_are_one_line(tmp_path, monkeypatch, capsys, err, code, words):
    from igdscope.cli.main import main

    def fail(fd, raw):
        os.write(fd, raw[:100])
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(outfile, "_write_all", fail)
    assert main(["dump", "--demo", "-o", str(tmp_path / "cap.json")]) == code
    e = capsys.readouterr().err
    assert e.startswith("igdscope: cannot write") and words in e and len(e.splitlines()) == 1
    assert os.listdir(tmp_path) == []


# -- real full and read-only disks, in a mount namespace of their own --------------------------------


def _in_small_tmpfs(tmp_path: Path, script: str, options: str = "size=64k") -> subprocess.CompletedProcess:
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here ({probe.stderr.decode().strip()[:80]}); the injected-error tests cover this")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    full = f"mount -t tmpfs -o {options} tmpfs {mnt} || exit 99\n{script}\necho LEFT=$(ls -A {mnt} | tr '\\n' ' ')\necho USED=$(df -k --output=used {mnt} | tail -1)"
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", full], capture_output=True, text=True, cwd=REPO, timeout=120,
                       env={**os.environ, "MNT": str(mnt), "PY": sys.executable})
    if r.returncode == 99:
        pytest.skip("mounting a tmpfs is not permitted here; the injected-error tests cover this")
    return r


def test_a_full_disk_for_dump(tmp_path):
    r = _in_small_tmpfs(tmp_path, '"$PY" -m igdscope dump --demo -o "$MNT/cap.json"; echo CODE=$?')
    assert "CODE=3" in r.stdout and "no space left on the device" in r.stderr, (r.stdout, r.stderr)
    assert "LEFT= " in r.stdout or r.stdout.split("LEFT=")[1].split("\n")[0].strip() == ""  # nothing left behind
    assert int(r.stdout.split("USED=")[1].split()[0]) == 0  # and the disk is not kept full


def test_a_read_only_disk_for_dump(tmp_path):
    r = _in_small_tmpfs(tmp_path, '"$PY" -m igdscope dump --demo -o "$MNT/cap.json"; echo CODE=$?', "size=1m,ro")
    assert "CODE=3" in r.stdout and "read-only file system" in r.stderr, (r.stdout, r.stderr)


def test_a_full_disk_for_a_gtt_backup(tmp_path):
    from tests.support.fakesys import build_tree

    tree = build_tree(demo.host_capture(), tmp_path / "root")
    with open(tree / "sys/devices/pci0000:00/0000:00:02.0/resource0", "rb") as fh:
        fh.seek(8 << 20)
        before = fh.read(8 << 20)
    r = _in_small_tmpfs(tmp_path, f'"$PY" -m tests.support.fake_cli gtt invalidate --root {tree} --yes --backup "$MNT/b.json"; echo CODE=$?', "size=16k")
    assert "CODE=3" in r.stdout and "no space left on the device" in r.stderr, (r.stdout, r.stderr)
    assert r.stdout.split("LEFT=")[1].split("\n")[0].strip() == ""
    with open(tree / "sys/devices/pci0000:00/0000:00:02.0/resource0", "rb") as fh:
        fh.seek(8 << 20)
        assert fh.read(8 << 20) == before  # no backup, no write
