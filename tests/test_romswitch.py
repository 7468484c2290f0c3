"""The one write a live read makes: the sysfs ``rom`` switch.

The fake attribute (tests.support.fakesys.FakeSysfsRom) switches off exactly as the kernel's
pci_write_rom does (offset 0, count 2, first byte '0'), so writing a bare "0" leaves it on here
as it does on a real machine. Signals are sent for real, in child processes where they would end
the process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from igdscope.sources import demo, live, sysfs
from tests.support.fakesys import FakeRoot, FakeSysfsRom, build_tree, rom_state, rom_writes, tree_digest

ROM = "sys/devices/pci0000:00/0000:00:02.0/rom"
REPO = Path(__file__).resolve().parent.parent


def test_the_switch_writes_what_the_kernel_needs_and_leaves_it_off(tmp_path):
    root = FakeRoot(build_tree(demo.host_capture(), tmp_path))
    states = []
    root.on_rom_read = lambda attr: states.append(rom_state(attr.path))
    cap = live.collect(root, use_udev=False)
    assert cap.blobs["rom"].data == demo.option_rom()
    assert rom_writes(root.path(ROM)) == [(0, b"1\n"), (0, b"0\n")]
    assert set(states) == {"1"}  # on while it was read
    assert root.rom_state(ROM) == "0"


def test_the_fake_attribute_is_as_strict_as_the_kernel(tmp_path):
    p = tmp_path / "rom"
    p.write_bytes(b"\x55\xaa" + bytes(510))
    attr = FakeSysfsRom(p)
    for data, offset, state in ((b"1\n", 0, "1"), (b"0", 0, "1"), (b"0\n", 0, "0"), (b"1", 0, "1"), (b"0\n", 1, "1"), (b"00\n", 0, "1"), (b"0\n", 0, "0")):
        attr.pwrite(data, offset)
        assert rom_state(p) == state, (data, offset)
    with pytest.raises(OSError):  # off: the kernel refuses the read
        attr.pread(2, 0)


def test_a_copied_tree_is_read_as_it_is_and_never_written(tmp_path):
    """--root on a plain tree: the rom file is data, not a switch."""
    tree = build_tree(demo.host_capture(), tmp_path)
    before = tree_digest(tree)
    cap = live.collect(sysfs.Root(tree), gtt=True, use_udev=False)
    assert cap.blobs["rom"].data == demo.option_rom()  # the whole ROM, not one byte
    assert "not sysfs" in cap.blobs["rom"].note
    assert "rom" not in {e["source"] for e in cap.errors}
    assert tree_digest(tree) == before


def test_plain_files_are_never_switched(tmp_path):
    p = tmp_path / "rom"
    p.write_bytes(b"\x55\xaa\x01\x02")
    attr = sysfs.SysfsRom(p)
    try:
        assert attr.sysfs is False
        assert sysfs.read_rom(attr, 1 << 20) == b"\x55\xaa\x01\x02"
        with pytest.raises(OSError):
            attr.switch(b"1\n")
    finally:
        attr.close()
    assert p.read_bytes() == b"\x55\xaa\x01\x02"


def test_a_symlink_at_the_rom_path_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"\x55\xaa")
    (tmp_path / "rom").symlink_to(target)
    with pytest.raises(OSError):
        sysfs.SysfsRom(tmp_path / "rom")


@pytest.mark.skipif(not os.path.isdir("/sys/bus/pci/devices") or not os.listdir("/sys/bus/pci/devices"), reason="no PCI functions in this machine's /sys")
def test_sysfs_is_recognised_by_its_magic():
    dev = sorted(os.listdir("/sys/bus/pci/devices"))[0]
    fd = os.open(f"/sys/bus/pci/devices/{dev}/vendor", os.O_RDONLY)
    try:
        assert sysfs.fs_type(fd) == sysfs.SYSFS_MAGIC
    finally:
        os.close(fd)
    fd = os.open(__file__, os.O_RDONLY)
    try:
        assert sysfs.fs_type(fd) not in (None, sysfs.SYSFS_MAGIC)
    finally:
        os.close(fd)


# -- signals: in a child, where a default action ends the process -------------------------------

CHILD = textwrap.dedent("""
    import os, resource, signal, sys, threading, time
    sys.path.insert(0, {repo!r})
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    from igdscope.sources import live, sysfs
    from tests.support.fakesys import FakeRoot
    root = FakeRoot({tree!r})
    sigs = [getattr(signal, n) for n in {signals!r}]
    sent = []

    def on_read(attr):
        if not sent:
            sent.append(1)
            for s in sigs:
                os.kill(os.getpid(), s)
            time.sleep(0.05)  # a signal delivered now would end the read with the ROM on

    root.on_rom_read = on_read
    if {second_on_switch!r}:
        from tests.support import fakesys
        real = fakesys.FakeSysfsRom.pwrite
        def pwrite(self, data, offset):
            if data == b"0\\n":
                os.kill(os.getpid(), signal.SIGTERM)  # a second SIGTERM while switching back
            return real(self, data, offset)
        fakesys.FakeSysfsRom.pwrite = pwrite
    if {thread!r}:
        sysfs.guard_process()
        started = threading.Event()
        def work():
            live.collect(root, use_udev=False)
        root.on_rom_read = lambda attr: (started.set(), time.sleep(1.0))
        t = threading.Thread(target=work)
        t.start()
        started.wait(10)
        os.kill(os.getpid(), sigs[0])
        t.join()
        print("survived")
    else:
        live.collect(root, use_udev=False)
        print("survived")
""")


def _child(tmp_path, signals, *, thread=False, second_on_switch=False):
    tree = build_tree(demo.host_capture(), tmp_path / "tree")
    code = CHILD.format(repo=str(REPO), tree=str(tree), signals=signals, thread=thread, second_on_switch=second_on_switch)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return r, tree / ROM


@pytest.mark.parametrize("name", ["SIGHUP", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGALRM"])
def test_a_signal_during_the_read_ends_the_process_only_after_the_switch_is_off(tmp_path, name):
    r, rom = _child(tmp_path, [name])
    assert r.returncode == -getattr(signal, name), r.stderr
    assert "survived" not in r.stdout
    assert rom_writes(rom) == [(0, b"1\n"), (0, b"0\n")] and rom_state(rom) == "0"


def test_sigint_during_the_read_is_an_interrupt_after_the_switch_is_off(tmp_path):
    r, rom = _child(tmp_path, ["SIGINT"])
    assert r.returncode == -signal.SIGINT and "KeyboardInterrupt" in r.stderr  # Python ends by SIGINT
    assert rom_writes(rom) == [(0, b"1\n"), (0, b"0\n")] and rom_state(rom) == "0"


def test_a_second_sigterm_while_switching_back(tmp_path):
    r, rom = _child(tmp_path, ["SIGTERM"], second_on_switch=True)
    assert r.returncode == -signal.SIGTERM, r.stderr
    assert rom_writes(rom) == [(0, b"1\n"), (0, b"0\n")] and rom_state(rom) == "0"


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_a_signal_to_the_main_thread_while_a_worker_reads(tmp_path, name):
    """The TUI reads in a worker thread: the guard in the main thread switches the ROM off before
    the signal ends the process."""
    r, rom = _child(tmp_path, [name], thread=True)
    assert r.returncode == -getattr(signal, name), r.stderr
    assert rom_writes(rom)[0] == (0, b"1\n") and rom_writes(rom)[-1] == (0, b"0\n") and rom_state(rom) == "0"
