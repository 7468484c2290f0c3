"""The guest side of ``igdscope diff`` (and ``check``) against real QEMU chipsets, not hand-typed IDs.

QEMU cannot emulate the IGD, so each guest capture is the demo guest's IGD with QEMU's real
00:00.0 and 00:1f.0 around it, read over the qtest protocol from a paused ``pc`` or ``q35``
machine (``tests/support/qemu_qtest.py``). What QEMU 7.2 (Debian) answers, recorded when these tests were
written: ``pc`` has 8086:1237 rev 02 at 00:00.0, PIIX3 8086:7000 at 00:01.0 and nothing at
00:1f.0; ``q35`` has 8086:29C0 at 00:00.0 and ICH9's LPC 8086:2918 (ISA bridge) at 00:1f.0; a
``vfio-pci-igd-lpc-bridge`` on ``pc`` is an ISA bridge whose vendor and device IDs stay 0 with no
host to copy from; QEMU's own devices carry subsystem 1AF4:1100.

Per version (the last section): each QEMU binary found side by side — Debian bookworm's 7.2 and
bookworm-backports' 10.0 (``tests/install-tools.sh`` fetches it into ``tests/.tools/``) — against the
model in ``igdscope.analysis.qemu.machine`` for that binary's version: what sits at 00:00.0 and
00:1f.0 of ``pc`` and ``q35`` (QMP ``query-pci``, ``info qtree``), whether the type
``vfio-pci-igd-lpc-bridge`` exists (``qom-list-types``) and the ``vfio-pci`` IGD properties with
their defaults (``-device vfio-pci,help``).

Skipped, with the reason, where ``qemu-system-x86_64`` (or one version's binary) is not found.
"""

from __future__ import annotations

import shlex

import pytest

from igdscope.analysis import diff
from igdscope.capture import Blob, Capture, Device
from igdscope.schemas import pci
from igdscope.sources import demo
from igdscope.cli import diff as diffcli
from igdscope.analysis.qemu import machine
from tests.support import qemu_qtest

QEMU = qemu_qtest.qemu_binary()
needs_qemu = pytest.mark.skipif(QEMU is None, reason="qemu-system-x86_64 is not installed (Debian: apt-get install qemu-system-x86)")

HB, ISA, LPC = "00:00.0", "00:01.0", "00:1f.0"
LPC_BRIDGE = "vfio-pci-igd-lpc-bridge,addr=1f.0"


@pytest.fixture(scope="module")
def qemu_version() -> str:
    v = qemu_qtest.qemu_version(QEMU)
    assert v is not None, "qemu-system-x86_64 --version printed no version"
    return v


@pytest.fixture(scope="module")
def spaces() -> dict[str, dict[str, bytes]]:
    """Config spaces of the three machines, read once."""
    return {
        "pc": qemu_qtest.read_config_spaces("pc", [HB, ISA, LPC]),
        "q35": qemu_qtest.read_config_spaces("q35", [HB, LPC]),
        "pc+lpc-bridge": qemu_qtest.read_config_spaces("pc", [HB, LPC], [LPC_BRIDGE]),
    }


def ident(cfg: bytes) -> dict[str, int]:
    h = pci.parse_header(cfg[:64])
    return {"vendor": h.vendor_id, "device": h.device_id, "revision": h.revision_id,
            "class": h.base_class << 16 | h.subclass << 8 | h.prog_if,
            "subsystem_vendor": h.subsystem_vendor_id, "subsystem_device": h.subsystem_id}


def guest_with(space: dict[str, bytes]) -> Capture:
    """The demo guest (its IGD, OpRegion, VBT, ROM, GGTT) with QEMU's real 00:00.0 and 00:1f.0."""
    cap = demo.guest_capture().builder()
    cap.devices = [d for d in cap.devices if d.role == "igd"]
    for key in [k for k in cap.blobs if k.startswith("config/") and not k.endswith("02.0")]:
        del cap.blobs[key]
    for bdf, role in ((HB, "host_bridge"), (LPC, "lpc")):
        cfg = space.get(bdf)
        if cfg is None or cfg[:4] == b"\xff\xff\xff\xff":
            continue  # nothing answers there
        i = ident(cfg)
        key = f"config/0000:{bdf}"
        cap.blobs[key] = Blob(cfg, "qtest", f"qemu-system-x86_64 qtest, config mechanism #1, {bdf}")
        cap.devices.append(Device(role=role, bdf=f"0000:{bdf}", vendor=i["vendor"], device=i["device"], class_code=i["class"], revision=i["revision"],
                                  subsystem_vendor=i["subsystem_vendor"], subsystem_device=i["subsystem_device"], config_blob=key, config_size=256))
    return cap.build()


def by_path(res: dict, path: str) -> dict | None:
    return next((d for d in res["differences"] if d["path"] == path), None)


def unexpected_under(res: dict, prefix: str) -> list[dict]:
    return [d for d in res["differences"] if d["label"] == "unexpected" and (d["path"] == prefix or d["path"].startswith(prefix + "."))]


# -- what QEMU itself answers ---------------------------------------------------------------------------


@needs_qemu
def test_qtest_reads_pc_chipset(spaces):
    pc = spaces["pc"]
    assert len(pc[HB]) == 256
    assert ident(pc[HB])["vendor"] == 0x8086 and ident(pc[HB])["device"] == 0x1237
    assert ident(pc[HB])["class"] >> 8 == 0x0600
    assert (ident(pc[ISA])["vendor"], ident(pc[ISA])["device"]) == (0x8086, 0x7000)  # PIIX3
    assert pc[LPC] == b"\xff" * 256  # 00:1f.0 is free on pc


@needs_qemu
def test_qtest_reads_q35_chipset(spaces):
    q35 = spaces["q35"]
    assert (ident(q35[HB])["vendor"], ident(q35[HB])["device"]) == (0x8086, 0x29C0)
    lpc = ident(q35[LPC])
    assert (lpc["vendor"], lpc["device"]) == (0x8086, 0x2918)  # ICH9 LPC
    assert lpc["class"] >> 8 == 0x0601  # an ISA bridge


@needs_qemu
def test_qtest_reads_uncopied_lpc_bridge(spaces):
    lpc = ident(spaces["pc+lpc-bridge"][LPC])
    assert lpc["class"] >> 8 == 0x0601
    assert (lpc["vendor"], lpc["device"]) == (0, 0)  # nothing copied from a host


@needs_qemu
def test_qtest_helper_is_bounded_and_kills_qemu():
    qt = qemu_qtest.Qtest("pc", timeout=20)
    with qt:
        proc = qt.proc
        assert proc is not None and proc.poll() is None
        assert qt.config_dword(0, 0, 0, 0) == 0x12378086
        with pytest.raises(qemu_qtest.QtestError, match="FAIL"):
            qt.command("no-such-command")
    assert proc.poll() is not None  # killed and reaped, QEMU does not exit on its own
    assert qt.proc is None


@needs_qemu
def test_qtest_helper_reports_qemu_errors():
    with pytest.raises(qemu_qtest.QtestError, match="machine"):
        qemu_qtest.read_config_spaces("no-such-machine", [HB], timeout=20)
    with pytest.raises(ValueError):
        qemu_qtest.parse_bdf("00:20.0")
    assert qemu_qtest.cf8_address(0, 0x1F, 0, 0x2C) == 0x8000F82C


# -- diff on guests built from them ------------------------------------------------------------------------


@needs_qemu
def test_q35_ich9_lpc_is_an_unexpected_identity(spaces, qemu_version):
    res = diff.diff(demo.host_capture(), guest_with(spaces["q35"]), qemu_version=qemu_version)
    d = by_path(res, "lpc.identity.device")
    assert d is not None and d["label"] == "unexpected"
    assert (d["a"], d["b"]) == (demo.LPC_DID, 0x2918)
    assert "ICH9" in d["why"] and "1f.0" in d["why"]
    assert "Code 43" in d["breaks"]
    hb = by_path(res, "host_bridge.identity.device")
    assert hb["label"] == "expected" and hb["b"] == 0x29C0 and "Q35" in hb["why"]
    assert diffcli.exit_code(res) == 1


@needs_qemu
def test_pc_without_lpc_is_missing_lpc(spaces, qemu_version):
    res = diff.diff(demo.host_capture(), guest_with(spaces["pc"]), qemu_version=qemu_version)
    assert "lpc" in res["missing_in_b"]
    d = by_path(res, "lpc")
    assert d["label"] == "unexpected" and d["b"] is None and "00:1f.0" in d["why"]
    assert diffcli.exit_code(res) == 1


@needs_qemu
def test_uncopied_lpc_bridge_is_unexpected(spaces, qemu_version):
    res = diff.diff(demo.host_capture(), guest_with(spaces["pc+lpc-bridge"]), qemu_version=qemu_version)
    for f, host_value in (("vendor", 0x8086), ("device", demo.LPC_DID)):
        d = by_path(res, f"lpc.identity.{f}")
        assert d["label"] == "unexpected" and (d["a"], d["b"]) == (host_value, 0)
        assert "never copied" in d["why"]
    sub = by_path(res, "lpc.identity.subsystem_vendor")
    assert sub["label"] == "unexpected" and sub["b"] == 0x1AF4  # QEMU's own subsystem vendor, not the host's
    assert "lpc" not in res["missing_in_b"]  # something is there: an ISA bridge, just not the host's
    assert by_path(res, "lpc.identity.class") is None  # ISA bridge class, same prog-if as the host's


@needs_qemu
def test_pc_host_bridge_is_qemus_own_and_copied_fields_are_checked(spaces, qemu_version):
    real = spaces["pc"][HB]
    space = dict(spaces["pc"])
    res = diff.diff(demo.host_capture(), guest_with(space), qemu_version=qemu_version)
    dev = by_path(res, "host_bridge.identity.device")
    assert dev["label"] == "expected" and dev["b"] == 0x1237 and "i440FX" in dev["why"]
    # QEMU running without a host to copy from leaves its own revision and subsystem IDs: unexpected
    rev = by_path(res, "host_bridge.identity.revision")
    assert rev["label"] == "unexpected" and (rev["a"], rev["b"]) == (0x07, real[0x08])
    for f in ("subsystem_vendor", "subsystem_device"):
        assert by_path(res, f"host_bridge.identity.{f}")["label"] == "unexpected"
    assert "Code 43" in rev["breaks"]
    # now the bytes legacy mode copies (0x08-0x09 RID/prog-if, 0x2C-0x2F subsystem IDs) from the host bridge
    host_hb = demo.host_bridge_config()
    patched = bytearray(real)
    for off, n in ((0x08, 2), (0x2C, 4)):
        patched[off : off + n] = host_hb[off : off + n]
    space[HB] = bytes(patched)
    res = diff.diff(demo.host_capture(), guest_with(space), qemu_version=qemu_version)
    assert unexpected_under(res, "host_bridge") == []
    assert by_path(res, "host_bridge.identity.device")["label"] == "expected"
    checked = next(c for c in res["checked"] if c["path"] == "host_bridge.identity")
    assert checked["value"]["revision"] == 0x07 and checked["value"]["subsystem_vendor"] == demo.SUBSYS_VENDOR


@needs_qemu
def test_pc_with_a_filled_lpc_bridge_diffs_clean(spaces, qemu_version):
    """What legacy mode builds: QEMU's real bridges with the host's identity bytes copied in."""
    space = dict(spaces["pc+lpc-bridge"])
    for bdf, host in ((HB, demo.host_bridge_config()), (LPC, demo.lpc_config())):
        cfg = bytearray(space[bdf])
        copies = ((0x08, 2), (0x2C, 4)) if bdf == HB else ((0x00, 4), (0x08, 2), (0x2C, 4))
        for off, n in copies:
            cfg[off : off + n] = host[off : off + n]
        space[bdf] = bytes(cfg)
    res = diff.diff(demo.host_capture(), guest_with(space), qemu_version=qemu_version)
    assert [d["path"] for d in res["differences"] if d["label"] == "unexpected"] == []
    assert diffcli.exit_code(res) == 0
    assert {c["path"] for c in res["checked"]} >= {"host_bridge.identity", "lpc.identity"}


# -- check, where it exists --------------------------------------------------------------------------------


def _check():
    try:
        from igdscope.analysis import check
    except ImportError:
        pytest.skip("igdscope.analysis.check does not exist yet")
    if not hasattr(check, "run_checks"):
        pytest.skip("igdscope.analysis.check has no run_checks yet")
    from igdscope.analysis import vmconfig

    return check, vmconfig


def _rule(result: dict, rid: str) -> dict:
    return next(r for r in result["rules"] if r["id"] == rid)


@needs_qemu
def test_check_q35_fails_legacy_on_the_lpc_qemu_really_has(spaces, qemu_version):
    check, vmconfig = _check()
    # the VM check reasons about is the machine qtest just read: ICH9's LPC really is at 00:1f.0
    assert (ident(spaces["q35"][LPC])["vendor"], ident(spaces["q35"][LPC])["device"]) == (0x8086, 0x2918)
    argv = f"{shlex.quote(QEMU)} -machine q35 -device vfio-pci,host=00:02.0,addr=02.0,romfile=igd.rom"
    res = check.run_checks(demo.host_capture(), vmconfig.parse_qemu_cmdline(argv), qemu_version=qemu_version)
    assert res["verdicts"]["legacy"]["verdict"] == "fails"
    assert "vm.1f0" in res["verdicts"]["legacy"]["failing"]
    assert "ICH9" in _rule(res, "vm.1f0")["evidence"]


@needs_qemu
def test_check_pc_keeps_1f0_free_as_qemu_shows(spaces, qemu_version):
    check, vmconfig = _check()
    assert spaces["pc"][LPC] == b"\xff" * 256
    for extra in ("", f" -device {LPC_BRIDGE}"):
        argv = f"{shlex.quote(QEMU)} -machine pc -device vfio-pci,host=00:02.0,addr=02.0,romfile=igd.rom{extra}"
        res = check.run_checks(demo.host_capture(), vmconfig.parse_qemu_cmdline(argv), qemu_version=qemu_version)
        assert _rule(res, "vm.1f0")["status"] == "pass", (extra, _rule(res, "vm.1f0"))
        assert "vm.1f0" not in res["verdicts"]["legacy"]["failing"]


# -- per QEMU version: the binaries against the model ------------------------------------------------------


def _slot_binary(slot: qemu_qtest.Slot) -> str:
    binary = slot.binary()
    if binary is None:
        pytest.skip(slot.missing_reason())
    return binary


@pytest.fixture(scope="module", params=qemu_qtest.SLOTS, ids=[s.version for s in qemu_qtest.SLOTS])
def qemu_at(request) -> tuple[str, tuple[int, int]]:
    """(binary, (major, minor)) of one version's QEMU; the version it reports must be its slot's."""
    slot = request.param
    binary = _slot_binary(slot)
    reported = qemu_qtest.qemu_version(binary)
    assert reported is not None, f"{binary} -version printed no version"
    assert qemu_qtest.major_minor(reported) == qemu_qtest.major_minor(slot.version), (binary, reported)
    return binary, qemu_qtest.major_minor(reported)


@pytest.fixture(scope="module")
def machine_answers(qemu_at) -> dict[str, list]:
    """query-pci, the device types and ``info qtree`` of a paused pc and q35, one QMP run each."""
    binary, _ = qemu_at
    ask = [{"execute": "query-pci"}, {"execute": "qom-list-types", "arguments": {"implements": "device"}},
           {"execute": "human-monitor-command", "arguments": {"command-line": "info qtree"}}]
    return {m: qemu_qtest.qmp(binary, m, ask) for m in machine.MACHINE_FAMILIES}


@pytest.mark.parametrize("family", machine.MACHINE_FAMILIES)
def test_chipset_slots_match_the_model(qemu_at, machine_answers, family):
    query_pci, _, qtree = machine_answers[family]
    found = qemu_qtest.pci_functions(query_pci)
    types = qemu_qtest.qtree_types(qtree)
    model = machine.chipset(family)
    assert model, family
    for bdf in machine.SLOTS:
        if bdf in model:
            vendor, device, name = model[bdf]
            assert bdf in found, (qemu_at, family, bdf, sorted(found))
            assert (found[bdf]["vendor"], found[bdf]["device"]) == (vendor, device), (qemu_at, family, bdf)
            assert types.get(bdf) == name, (qemu_at, family, bdf, types)
        else:
            assert bdf not in found, (qemu_at, family, bdf, found[bdf] if bdf in found else None)
    assert found["00:00.0"]["class"] == 0x0600  # a host bridge on both
    if "00:1f.0" in model:
        assert found["00:1f.0"]["class"] == 0x0601  # ICH9's LPC is an ISA bridge


def test_igd_lpc_bridge_type_matches_the_model(qemu_at, machine_answers):
    _, version = qemu_at
    for family in machine.MACHINE_FAMILIES:
        names = {t["name"] for t in machine_answers[family][1]}
        assert "vfio-pci" in names  # the list is the real one, not an empty answer
        assert (machine.IGD_LPC_BRIDGE_TYPE in names) == machine.has_igd_lpc_bridge_type(version), (version, family)


def test_vfio_pci_igd_properties_match_the_model(qemu_at):
    binary, version = qemu_at
    props = qemu_qtest.device_properties(binary, "vfio-pci")
    assert "host" in props  # the property list is vfio-pci's
    shown = {name: default for name, (_, default) in props.items() if name.startswith("x-igd-")}
    assert shown == machine.vfio_pci_properties(version), (version, shown)
    kinds = {r.name: r.kind for r in machine.VFIO_PCI_IGD_PROPERTIES}
    for name in shown:
        assert props[name][0] == kinds[name], (version, name, props[name])


# -- what takes guest 00:02.0 before -device devices do -------------------------------------------------

SLOT2_CASES = [
    "-M pc",                                   # the default VGA
    "-M pc -vga none",                         # the default NIC
    "-M pc -vga none -nic user",               # a -nic NIC
    "-M pc -device VGA,addr=0x3",              # a VGA given elsewhere: the default NIC still comes first
    "-M pc -vga none -net none",               # nothing
    "-M pc -nodefaults",                       # nothing
    "-M pc -vga none -netdev user,id=n0",      # a backend alone makes no NIC
    "-M q35",                                  # q35: VGA at 00:01.0, the default NIC (e1000e) at 00:02.0
    "-M q35 -vga none",                        # q35: the NIC at 00:01.0, 00:02.0 free
    "-M q35 -nodefaults",
]


@needs_qemu
@pytest.mark.parametrize("args", SLOT2_CASES)
def test_the_config_reader_knows_what_qemu_puts_at_slot_2(args):
    """vmconfig's default VGA and machine-init NIC against QEMU itself: a device at addr=0x2
    fails to start exactly when the reader says 00:02.0 is given twice."""
    import subprocess

    from igdscope.analysis import vmconfig

    dev = "-device virtio-rng-pci,addr=0x2"
    cfg = vmconfig.parse_qemu_cmdline(f"{args} {dev}", bare_args=True)
    predicted = any("02.0 given to both" in n for n in cfg.notes)
    try:
        r = subprocess.run([QEMU, *args.split(), "-accel", "tcg", "-S", "-display", "none", "-serial", "none", "-monitor", "stdio",
                            *dev.split()], input="quit\n", capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"QEMU did not quit: {args}")
    failed = "not available for virtio-rng-pci" in r.stderr
    assert predicted == failed, (args, cfg.notes)
