"""``igdscope diff``: host versus guest on the demo pair and mutations of it (one per expected and
unexpected class), QEMU-version rules, same-role captures, two files of each kind, the JSON shape,
exit codes and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from igdscope.analysis import diff
from igdscope.capture import Blob, Capture, CaptureBuilder
from igdscope.errors import EXIT_FINDINGS, EXIT_OK, BadInput
from igdscope.schemas import opregion as op
from igdscope.schemas import rom as rommod
from igdscope.schemas import vbt as vbtmod
from igdscope.sources import demo
from igdscope.cli import diff as diffcli
from tests.support.vbt_build import vbt_with_port


def host() -> Capture:
    return demo.host_capture()


def guest() -> Capture:
    return demo.guest_capture()


def set_cfg(cap: CaptureBuilder, role: str, off: int, data: bytes) -> None:
    d = cap.device(role)
    raw = bytearray(cap.blobs[d.config_blob].data)
    raw[off : off + len(data)] = data
    cap.blobs[d.config_blob] = Blob(bytes(raw), "test")


def u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


def by_path(res: dict, path: str) -> dict | None:
    return next((d for d in res["differences"] if d["path"] == path), None)


def labels(res: dict, label: str) -> list[str]:
    return [d["path"] for d in res["differences"] if d["label"] == label]


@pytest.fixture(scope="module")
def demo_res() -> dict:
    return diff.diff(host(), guest())


# -- the demo pair ------------------------------------------------------------------------------------------


def test_demo_pair_has_nothing_unexpected(demo_res):
    assert demo_res["mode"] == "host-guest"
    assert labels(demo_res, "unexpected") == []
    assert diffcli.exit_code(demo_res) == EXIT_OK
    s = demo_res["summary"]
    assert s["qemu_version"] == "9.0" and s["qemu_version_from"] == "the host capture" and s["qemu_rules"] == "2016-9.1"
    assert s["platform"] == "CFL"


@pytest.mark.parametrize("path, a, b, why", [
    ("igd.registers.GGC.GMS", 2, 0, "GMS cleared"),  # QEMU <= 9.1 clears GMS
    ("igd.registers.BDSM.base", demo.BDSM, demo.GUEST_BDSM, "emulates BDSM at 0x5C"),
    ("igd.registers.ASLS.base", demo.ASLS, demo.GUEST_ASLS, "emulates ASLS"),
    ("igd.bars.BAR0.address", demo.HOST_BAR0, demo.GUEST_BAR0, "guest-physical BAR addresses"),
    ("igd.bars.BAR2.address", demo.HOST_BAR2, demo.GUEST_BAR2, "guest-physical BAR addresses"),
    ("host_bridge.identity.device", demo.HB_DID, 0x1237, "i440FX"),
    ("igd.capabilities.PCI_Express", "PCI Express at 0x70", None, "conventional PCI"),
    ("igd.config[0x41:0x42]", "70", "ac", "relinks the capability list"),
])
def test_demo_pair_expected_differences(demo_res, path, a, b, why):
    d = by_path(demo_res, path)
    assert d is not None, path
    assert d["label"] == "expected" and (d["a"], d["b"]) == (a, b) and why in d["why"]
    assert "breaks" not in d


def test_demo_pair_decoded_context_and_checked(demo_res):
    gms = by_path(demo_res, "igd.registers.GGC.GMS")
    assert gms["context"] == {"a": "data stolen memory 64 MiB", "b": "data stolen memory 0"}
    ext = next(d for d in demo_res["differences"] if d["path"].startswith("igd.config[0x100:"))
    assert ext["label"] == "expected" and "Process Address Space ID" in ext["a"] and ext["b"] is None
    assert by_path(demo_res, "gtt.entries")["label"] == "expected"
    checked = {c["path"]: c for c in demo_res["checked"]}
    assert set(checked) == {"host_bridge.identity", "lpc.identity", "opregion", "vbt"}
    assert checked["lpc.identity"]["value"]["device"] == demo.LPC_DID
    assert "igd.capabilities.PCI_Express" in demo_res["missing_in_b"]


def test_flipped_order_swaps_sides():
    res = diff.diff(guest(), host())
    assert res["mode"] == "host-guest" and labels(res, "unexpected") == []
    gms = by_path(res, "igd.registers.GGC.GMS")
    assert (gms["a"], gms["b"]) == (0, 2)
    assert res["a"]["machine"] == "guest"
    assert "igd.capabilities.PCI_Express" in res["missing_in_a"] and res["missing_in_b"] == []


# -- things missing or wrong in the guest ------------------------------------------------------------------


def test_asls_zero_in_guest():
    g = guest().builder()
    set_cfg(g, "igd", 0xFC, u32(0))
    res = diff.diff(host(), g.build())
    d = by_path(res, "igd.registers.ASLS.base")
    assert d["label"] == "unexpected" and d["b"] == 0 and d["a"] == demo.ASLS
    assert "no OpRegion" in d["why"] and "VBT" in d["breaks"]
    assert "igd.registers.ASLS.base" in res["missing_in_b"]
    assert diffcli.exit_code(res) == EXIT_FINDINGS


def test_asls_still_the_hosts():
    g = guest().builder()
    set_cfg(g, "igd", 0xFC, u32(demo.ASLS))
    d = by_path(diff.diff(host(), g.build()), "igd.registers.ASLS.base")
    assert d["label"] == "unexpected" and "did not emulate" in d["why"]


def test_no_opregion_blob_in_guest():
    g = guest().builder()
    del g.blobs["opregion"]
    g.sources["opregion"] = {"used": None, "tried": [{"source": "debugfs", "result": "i915 not loaded"}]}
    res = diff.diff(host(), g.build())
    d = by_path(res, "opregion")
    assert d["label"] == "unexpected" and d["b"] is None
    assert f"at ASLS {demo.GUEST_ASLS:#x}" in d["why"] and "i915 not loaded" in d["why"]
    assert "opregion" in res["missing_in_b"]


def test_garbage_at_guest_asls():
    g = guest().builder()
    g.blobs["opregion"] = Blob(bytes(8192), "devmem")
    d = by_path(diff.diff(host(), g.build()), "opregion.header.signature")
    assert d["label"] == "unexpected" and "no OpRegion at ASLS" in d["why"]


def test_bdsm_zero_in_guest():
    g = guest().builder()
    set_cfg(g, "igd", 0x5C, u32(0))
    res = diff.diff(host(), g.build())
    d = by_path(res, "igd.registers.BDSM.base")
    assert d["label"] == "unexpected" and d["b"] == 0
    assert "reserved no stolen memory" in d["why"] and "Code 43" in d["breaks"]
    assert "igd.registers.BDSM.base" in res["missing_in_b"]


def test_bdsm_still_the_hosts():
    g = guest().builder()
    set_cfg(g, "igd", 0x5C, u32(demo.BDSM))
    d = by_path(diff.diff(host(), g.build()), "igd.registers.BDSM.base")
    assert d["label"] == "unexpected" and "host-physical" in d["why"]


def test_wrong_lpc_device_id():
    g = guest().builder()
    set_cfg(g, "lpc", 0x02, (0xA30E).to_bytes(2, "little"))
    d = by_path(diff.diff(host(), g.build()), "lpc.identity.device")
    assert d["label"] == "unexpected" and (d["a"], d["b"]) == (demo.LPC_DID, 0xA30E)
    assert "wrong identity at 00:1f.0" in d["why"] and "Code 43" in d["breaks"]


def test_ich9_lpc_in_guest():
    g = guest().builder()
    set_cfg(g, "lpc", 0x02, (0x2918).to_bytes(2, "little"))
    d = by_path(diff.diff(host(), g.build()), "lpc.identity.device")
    assert d["label"] == "unexpected" and "ICH9" in d["why"]


def test_lpc_missing_in_guest():
    g = guest().builder()
    g.devices = [d for d in g.devices if d.role != "lpc"]
    res = diff.diff(host(), g.build())
    assert by_path(res, "lpc")["label"] == "unexpected" and "lpc" in res["missing_in_b"]


def test_lpc_subsystem_not_copied():
    g = guest().builder()
    set_cfg(g, "lpc", 0x2C, u32(0x11001AF4))
    res = diff.diff(host(), g.build())
    for f in ("subsystem_vendor", "subsystem_device"):
        d = by_path(res, f"lpc.identity.{f}")
        assert d["label"] == "unexpected" and "not copied" in d["why"]
    assert not any(c["path"] == "lpc.identity" for c in res["checked"])


def test_wrong_host_bridge_identity():
    g = guest().builder()
    set_cfg(g, "host_bridge", 0x02, (0x9999).to_bytes(2, "little"))
    d = by_path(diff.diff(host(), g.build()), "host_bridge.identity.device")
    assert d["label"] == "unexpected" and "wrong identity at 00:00.0" in d["why"]


def test_host_bridge_revision_not_copied():
    g = guest().builder()
    set_cfg(g, "host_bridge", 0x08, bytes([0x02]))
    d = by_path(diff.diff(host(), g.build()), "host_bridge.identity.revision")
    assert d["label"] == "unexpected" and (d["a"], d["b"]) == (0x07, 0x02)


def test_igd_device_id_changed():
    g = guest().builder()
    set_cfg(g, "igd", 0x02, (0x3E91).to_bytes(2, "little"))
    d = by_path(diff.diff(host(), g.build()), "igd.identity.device")
    assert d["label"] == "unexpected" and "platform detection" in d["breaks"]


def test_igd_not_at_02_0():
    g = guest().builder()
    g.replace_device("igd", role="display", bdf="0000:00:05.0")
    res = diff.diff(host(), g.build())
    d = by_path(res, "igd.bdf")
    assert d["label"] == "unexpected" and "00:05.0" in d["why"]


def test_igd_class_changed():
    g = guest().builder()
    set_cfg(g, "igd", 0x0A, (0x0380).to_bytes(2, "little"))
    d = by_path(diff.diff(host(), g.build()), "igd.identity.class")
    assert d["label"] == "unexpected" and "0x0300" in d["breaks"]


# -- the GGTT ------------------------------------------------------------------------------------------------


def test_guest_gtt_entries_in_host_stolen_memory():
    g = guest().builder()
    ptes = np.frombuffer(g.blob("gtt"), dtype="<u8").copy()
    ptes[100000:100050] = np.arange(demo.BDSM | 1, (demo.BDSM | 1) + 50 * 4096, 4096, dtype=np.uint64)
    g.blobs["gtt"] = Blob(ptes.tobytes(), "test")
    res = diff.diff(host(), g.build())
    d = by_path(res, "gtt.host_stolen_entries")
    assert d["label"] == "unexpected"
    assert d["b"]["entries"] == 50 and d["b"]["first_index"] == 100000 and d["b"]["first_address"] == demo.BDSM
    assert "host-physical" in d["why"] and "DMAR" in d["breaks"]
    assert by_path(res, "gtt.host_entries") is None  # different indices than the host's: not stale copies


def test_guest_gtt_still_holds_host_entries():
    g = guest().builder()
    gt = bytearray(g.blob("gtt"))
    gt[: 4096 * 8] = demo.gtt()[: 4096 * 8]
    g.blobs["gtt"] = Blob(bytes(gt), "test")
    res = diff.diff(host(), g.build())
    stale = by_path(res, "gtt.host_entries")
    assert stale["label"] == "unexpected" and stale["b"]["entries"] == 4096 and stale["b"]["first_index"] == 0
    assert by_path(res, "gtt.host_stolen_entries")["b"]["entries"] == 1920 * 1080 * 4 // 4096 + 1  # the host framebuffer


def test_guest_ram_over_host_stolen_range_is_only_info():
    g = guest().builder()
    ptes = np.frombuffer(g.blob("gtt"), dtype="<u8").copy()
    ptes[100000:100010] = np.arange(demo.BDSM | 1, (demo.BDSM | 1) + 10 * 4096, 4096, dtype=np.uint64)
    g.blobs["gtt"] = Blob(ptes.tobytes(), "test")
    g.host["iomem"] = ["00100000-bfffffff : System RAM", *g.host["iomem"]]
    d = by_path(diff.diff(host(), g.build()), "gtt.host_stolen_entries")
    assert d["label"] == "info" and "System RAM" in d["why"]


# -- the OpRegion and VBT ------------------------------------------------------------------------------------


def _extended_pair() -> tuple[CaptureBuilder, CaptureBuilder]:
    """A host with an OpRegion 2.0 whose VBT is an extended VBT at an absolute RVDA, and the guest
    QEMU gives it: vfio-pci's view (2.1, RVDA 0x2000) copied by the guest firmware."""
    ext = demo.vbt()
    raw = op.build_opregion({
        "header": {"over": {"major": 2, "minor": 0, "revision": 0}, "mboxes": {"acpi": True, "swsci": True, "asle": True}},
        "mailboxes": {"acpi": {"drdy": 1}, "asle": {"ardy": 1, "rvda": 0x8A0E0000, "rvds": len(ext)}},
    })
    h = host().builder()
    h.blobs["opregion"] = Blob(raw, "devmem", "/dev/mem@0x8a0dc018")
    h.blobs["opregion/rvda"] = Blob(ext, "devmem", "/dev/mem@0x8a0e0000")
    g = guest().builder()
    g.blobs["opregion"] = Blob(op.vfio_view(raw, ext)[: op.OPREGION_SIZE], "debugfs")
    return h, g


def test_opregion_20_to_21_vfio_rewrite_is_expected():
    h, g = _extended_pair()
    res = diff.diff(h.build(), g.build())
    ver = by_path(res, "opregion.header.version")
    assert ver["label"] == "expected" and (ver["a"], ver["b"]) == ("2.0.0", "2.1.0") and "vfio-pci" in ver["why"]
    rvda = by_path(res, "opregion.mailboxes.asle.rvda")
    assert rvda["label"] == "expected" and (rvda["a"], rvda["b"]) == (0x8A0E0000, 0x2000)
    assert labels(res, "unexpected") == []
    assert any(c["path"] == "opregion" for c in res["checked"])


def test_opregion_wrong_rvda_is_unexpected():
    h, g = _extended_pair()
    bad = bytearray(g.blob("opregion"))
    bad[op.RVDA_OFFSET : op.RVDA_OFFSET + 8] = (0x3000).to_bytes(8, "little")
    g.blobs["opregion"] = Blob(bytes(bad), "debugfs")
    d = by_path(diff.diff(h.build(), g.build()), "opregion.mailboxes.asle.rvda")
    assert d["label"] == "unexpected" and "0x2000" in d["why"] and "no VBT in the guest" in d["breaks"]


def test_opregion_version_kept_at_20_is_unexpected():
    h, g = _extended_pair()
    bad = bytearray(g.blob("opregion"))
    bad[0x16] = 0
    g.blobs["opregion"] = Blob(bytes(bad), "debugfs")
    d = by_path(diff.diff(h.build(), g.build()), "opregion.header.version")
    assert d["label"] == "unexpected" and (d["a"], d["b"]) == ("2.0.0", "2.0.0") and "should read 2.1" in d["why"]


def test_opregion_runtime_field_expected_static_field_unexpected():
    g = guest().builder()
    raw = bytearray(g.blob("opregion"))
    raw[0x310:0x314] = u32(0x80000080)  # ASLE BCLP: the guest driver's backlight request
    raw[0x31C:0x31E] = (0x8A40).to_bytes(2, "little")  # BCLM[0]: firmware's backlight table
    raw[0x58:0x5C] = u32(0x1F)  # MBOX: now claims mailbox 5 too
    g.blobs["opregion"] = Blob(bytes(raw), "debugfs")
    res = diff.diff(host(), g.build())
    assert by_path(res, "opregion.mailboxes.asle.bclp.level")["label"] == "expected"
    bclm = by_path(res, "opregion.mailboxes.asle.bclm[0].percent")
    assert bclm["label"] == "unexpected" and (bclm["a"], bclm["b"]) == (0, 10) and "0x31c" in bclm["why"]
    assert by_path(res, "opregion.header.mboxes.asle_ext")["label"] == "unexpected"
    assert not any(c["path"] == "opregion" for c in res["checked"])


def test_guest_vbt_child_device_differs():
    g = guest().builder()
    g.blobs["vbt/debugfs"] = Blob(vbt_with_port("hdmic"), "debugfs")
    res = diff.diff(host(), g.build())
    d = by_path(res, "vbt.block2.child[0].dvo_port")
    assert d["label"] == "unexpected"
    assert d["a"] == {"value": 1, "name": "hdmib"} and d["b"] == {"value": 2, "name": "hdmic"}
    assert d["context"] == {"a": "HDMI-B", "b": "HDMI-C"}
    assert "black screen" in d["breaks"]


def test_guest_without_any_vbt():
    g = guest().builder()
    for k in ("vbt/debugfs", "opregion", "rom"):
        del g.blobs[k]
    res = diff.diff(host(), g.build())
    assert by_path(res, "vbt")["label"] == "unexpected" and "vbt" in res["missing_in_b"]


# -- QEMU version rules --------------------------------------------------------------------------------------


@pytest.mark.parametrize("version, label", [("9.0", "expected"), ("9.1.2", "expected"), ("9.2", "unexpected"), ("10.0", "unexpected"), ("10.1", "unexpected")])
def test_gms_cleared_by_version(version, label):
    res = diff.diff(host(), guest(), qemu_version=version)
    assert by_path(res, "igd.registers.GGC.GMS")["label"] == label
    assert res["summary"]["qemu_version_from"] == "given"


@pytest.mark.parametrize("version, gms, label", [("9.0", 0x01, "expected"), ("9.0", 0x20, "unexpected"), ("10.0", 0x01, "expected"),
                                                  ("10.1", 0xF1, "expected"), ("10.0", 0xF1, "unexpected"), ("9.2", 0x01, "unexpected")])
def test_x_igd_gms_ranges(version, gms, label):
    g = guest().builder()
    set_cfg(g, "igd", 0x50, ((gms << 8) | (demo.GGC & 0xFF)).to_bytes(2, "little"))
    d = by_path(diff.diff(host(), g.build(), qemu_version=version), "igd.registers.GGC.GMS")
    assert d["label"] == label, d


def test_ggms_change_is_unexpected():
    g = guest().builder()
    set_cfg(g, "igd", 0x50, (demo.GUEST_GGC & ~0xC0 | 0x40).to_bytes(2, "little"))
    d = by_path(diff.diff(host(), g.build()), "igd.registers.GGC.GGMS")
    assert d["label"] == "unexpected" and "GGTT" in d["breaks"]


def _tgl_pair(guest_c0: int) -> tuple[CaptureBuilder, CaptureBuilder]:
    """The demo pair as a Tiger Lake (BDSM is the 64-bit register at 0xC0)."""
    h, g = host().builder(), guest().builder()
    for cap in (h, g):
        set_cfg(cap, "igd", 0x02, (0x9A49).to_bytes(2, "little"))
        cap.replace_device("igd", device=0x9A49)
    set_cfg(h, "igd", 0xC0, (demo.BDSM | 1).to_bytes(8, "little"))
    set_cfg(g, "igd", 0xC0, guest_c0.to_bytes(8, "little"))
    return h, g


def test_bdsm_at_c0_not_emulated_before_92():
    h, g = _tgl_pair(demo.BDSM | 1)  # passed through: the guest reads the host's 64-bit BDSM
    res = diff.diff(h.build(), g.build(), qemu_version="9.1")
    d = by_path(res, "igd.registers.BDSM.base")
    assert d["label"] == "unexpected" and "0xC0" in d["why"] and "only the 32-bit BDSM at 0x5C" in d["why"]


def test_bdsm_at_c0_emulated_from_92():
    h, g = _tgl_pair(demo.GUEST_BDSM)
    d = by_path(diff.diff(h.build(), g.build(), qemu_version="9.2"), "igd.registers.BDSM.base")
    assert d["label"] == "expected" and "0xC0 (64-bit)" in d["why"]


def test_unknown_qemu_version_is_judged_loosely():
    h = host().builder()
    h.host["qemu_version"] = None
    res = diff.diff(h.build(), guest())
    assert res["summary"]["qemu_version"] is None and res["summary"]["qemu_version_from"] == "unknown"
    assert by_path(res, "igd.registers.GGC.GMS")["label"] == "expected"
    assert "QEMU version unknown" in diffcli.render(res)


def test_bad_qemu_version():
    with pytest.raises(BadInput, match="not X.Y"):
        diff.diff(host(), guest(), qemu_version="nine")
    with pytest.raises(BadInput, match="not X.Y"):  # too long for int(): not a version either
        diff.diff(host(), guest(), qemu_version="9" * 5000 + ".2")
    h = host().builder()
    h.host["qemu_version"] = "9" * 5000 + ".2"
    assert diff.diff(h.build(), guest())["summary"]["qemu_version"] is None


# -- same role: two hosts, two moments ------------------------------------------------------------------------


def test_same_capture_twice():
    res = diff.diff(host(), host())
    assert res["mode"] == "same-role" and res["differences"] == [] and diffcli.exit_code(res) == EXIT_OK
    assert res["summary"]["verdict"] == "no differences"


def test_two_moments_info_and_losses():
    b = host().builder()
    b.host["kernel_release"] = "6.11.0-1-pve"
    b.replace_device("igd", driver="i915")
    set_cfg(b, "igd", 0xFC, u32(0))
    del b.blobs["opregion"]
    res = diff.diff(host(), b.build())
    assert by_path(res, "host.kernel_release")["label"] == "info"
    assert by_path(res, "igd.driver")["label"] == "info"
    assert by_path(res, "igd.registers.ASLS.base")["label"] == "unexpected"
    assert by_path(res, "opregion")["label"] == "unexpected" and "opregion" in res["missing_in_b"]
    assert diffcli.exit_code(res) == EXIT_FINDINGS


def test_two_moments_gtt_changed():
    b = host().builder()
    gt = bytearray(b.blob("gtt"))
    gt[8 * 16384 : 8 * 16390] = bytes(8 * 6)
    b.blobs["gtt"] = Blob(bytes(gt), "test")
    d = by_path(diff.diff(host(), b.build()), "gtt.changed")
    assert d["label"] == "info" and d["b"]["changed"] == 6


# -- two files of one kind -----------------------------------------------------------------------------------


def test_files_vbt():
    res = diff.diff_files(demo.vbt(), vbt_with_port("hdmic"), "vbt")
    assert res["mode"] == "vbt"
    d = by_path(res, "vbt.block2.child[0].dvo_port")
    assert d["label"] == "info" and d["context"] == {"a": "HDMI-B", "b": "HDMI-C"}
    assert by_path(res, "vbt.block2.child[1].device_type")["a"] == 0x68C6
    assert diffcli.exit_code(res) == EXIT_OK


def test_files_vbt_lost_block():
    only1 = vbtmod.build_vbt(vbtmod.DEMO_BDB_VERSION, [(1, vbtmod.build_block(1, {}, vbtmod.DEMO_BDB_VERSION, size=5))])
    res = diff.diff_files(demo.vbt(), only1, "vbt")
    assert by_path(res, "vbt.block2")["label"] == "unexpected" and "vbt.block2" in res["missing_in_b"]
    assert diffcli.exit_code(res) == EXIT_FINDINGS


def test_files_vbt_undecoded_block_falls_back_to_bytes():
    v = vbtmod.DEMO_BDB_VERSION
    a = vbtmod.build_vbt(v, [(254, bytes(range(16)))])
    b = vbtmod.build_vbt(v, [(254, bytes(range(8)) + b"\xff" + bytes(range(9, 16)))])
    d = next(d for d in diff.diff_files(a, b, "vbt")["differences"] if d["path"].startswith("vbt.block254.bytes"))
    assert d["path"] == "vbt.block254.bytes[0x8:0x9]" and (d["a"], d["b"]) == ("08", "ff") and "block 254" in d["why"]


def test_files_vbt_later_copies_of_a_block_compare_as_bytes():
    # i915 reads only the first block of an id; later copies are raw, keyed block27#2, #3, ...
    # 21,000 copies (a hostile 64 KiB file) are keyed in one pass over the blocks
    v = vbtmod.DEMO_BDB_VERSION
    n = 21000
    a = vbtmod.build_vbt(v, [(27, b"")] * n + [(27, b"\x01"), (1, bytes(7))])
    b = vbtmod.build_vbt(v, [(27, b"")] * n + [(27, b"\x02"), (1, bytes(7))])
    res = diff.diff_files(a, b, "vbt")
    d = by_path(res, f"vbt.block27#{n + 1}.bytes[0x0:0x1]")
    assert (d["a"], d["b"], d["label"]) == ("01", "02", "info")
    assert "a later copy of the block, which i915 and igt do not read" in d["why"]
    assert [x["path"] for x in res["differences"] if "block27" in x["path"]] == [d["path"]]


def test_files_opregion():
    o = demo.opregion()
    b = bytearray(o)
    b[0x310:0x314] = u32(0x80000080)
    b[0x1C04:0x1C08] = b"\x00\xff\xff\xff"
    res = diff.diff_files(o, bytes(b), "opregion")
    assert by_path(res, "opregion.mailboxes.asle.bclp.level")["b"] == 0x80
    assert res["mode"] == "opregion" and labels(res, "unexpected") == []


def test_files_opregion_vfio_view_is_expected():
    ext = demo.vbt()
    raw = op.build_opregion({"header": {"over": {"major": 2, "minor": 0, "revision": 0}, "mboxes": {"asle": True}},
                             "mailboxes": {"asle": {"rvda": 0x8A0E0000, "rvds": len(ext)}}})
    res = diff.diff_files(raw, op.vfio_view(raw, ext), "opregion")
    assert by_path(res, "opregion.header.version")["label"] == "expected"
    assert by_path(res, "opregion.mailboxes.asle.rvda")["label"] == "expected"
    assert by_path(res, "opregion.size") is not None


def test_files_opregion_mailbox4_vbt_fields():
    o = demo.opregion()
    b = bytearray(o)
    new = vbt_with_port("hdmic")
    b[0x400 : 0x400 + len(new)] = new
    d = by_path(diff.diff_files(o, bytes(b), "opregion"), "opregion.mailboxes.vbt.block2.child[0].dvo_port")
    assert d is not None and d["b"]["name"] == "hdmic"


def test_files_rom():
    r = demo.option_rom()
    b = bytearray(r)
    b[0x100] ^= 0xFF
    res = diff.diff_files(r, bytes(b), "rom")
    assert by_path(res, "rom.images[0].checksum_ok")["b"] is False
    raw = by_path(res, "rom.bytes[0x100:0x101]")
    assert raw is not None and "image 0 (legacy) body" in raw["why"]
    other = rommod.build_legacy_image(0x8086, 0x3E92, b"x" * 40 + vbt_with_port("hdmic"))
    res = diff.diff_files(r, other, "rom")
    assert by_path(res, "rom.images[0].pcir.device_id")["b"] == 0x3E92
    assert by_path(res, "rom.vbt.block2.child[0].dvo_port")["b"]["name"] == "hdmic"


def test_files_config():
    c = demo.igd_config()
    b = bytearray(c)
    b[0xFC:0x100] = u32(0)
    b[0x50:0x52] = (0x0141).to_bytes(2, "little")
    b[0xF0] = 0x5A  # a byte no decoder names
    res = diff.diff_files(c, bytes(b), "config")
    assert by_path(res, "config.registers.ASLS.base")["label"] == "unexpected"
    gms = by_path(res, "config.registers.GGC.GMS")
    assert gms["label"] == "info" and gms["context"]["b"] == "data stolen memory 32 MiB"
    assert by_path(res, "config.config[0xf0:0xf1]")["label"] == "info"
    assert res["a"]["device"] == "8086:3e92"


def _lspci(cfgs: dict[str, bytes]) -> bytes:
    lines = []
    for bdf, cfg in cfgs.items():
        lines.append(f"{bdf} VGA compatible controller: Intel Corporation Device")
        for off in range(0, len(cfg), 16):
            lines.append(f"{off:02x}: " + " ".join(f"{x:02x}" for x in cfg[off : off + 16]))
        lines.append("")
    return "\n".join(lines).encode()


def test_files_lspci():
    a = _lspci({"00:02.0": demo.igd_config(True), "00:1f.0": demo.lpc_config()})
    b = _lspci({"00:02.0": demo.igd_config(True)[:0xFC] + bytes(4)})
    res = diff.diff_files(a, b, "lspci")
    assert by_path(res, "0000:00:02.0.registers.ASLS.base")["label"] == "unexpected"
    assert "0000:00:1f.0" in res["missing_in_b"]


def test_files_bad_input():
    with pytest.raises(BadInput):
        diff.diff_files(b"\x55\xaa" + bytes(100), b"nope", "rom")
    with pytest.raises(BadInput):
        diff.diff_files(b"IntelGraphicsMem", demo.opregion(), "opregion")
    with pytest.raises(BadInput):
        diff.diff_files(b"x", b"y", "elf")


# -- JSON, text, exit codes, the command ---------------------------------------------------------------------


def test_json_shape(demo_res):
    doc = json.loads(json.dumps(demo_res))
    assert set(doc) == {"mode", "a", "b", "differences", "missing_in_b", "missing_in_a", "checked", "summary"}
    for d in doc["differences"]:
        assert {"path", "a", "b", "label", "why"} <= set(d)
        assert d["label"] in ("expected", "unexpected", "info")
        assert ("breaks" in d) == (d["label"] == "unexpected")
    assert {"unexpected", "expected", "info", "differences", "verdict"} <= set(doc["summary"])


@pytest.fixture()
def files(tmp_path):
    def write(name: str, data: bytes | str) -> str:
        p = tmp_path / name
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return str(p)
    return write


def test_run_exit_codes_and_outputs(files, capsys):
    h = files("host.json", host().to_json())
    g = files("guest.json", guest().to_json())
    assert diffcli.run(h, g, as_json=False, qemu_version=None) == EXIT_OK
    text = capsys.readouterr().out
    assert "EXPECTED" in text and "UNEXPECTED" not in text and "nothing unexpected differs" in text
    bad = guest().builder()
    set_cfg(bad, "igd", 0xFC, u32(0))
    b = files("bad.json", bad.build().to_json())
    assert diffcli.run(h, b, as_json=False, qemu_version=None) == EXIT_FINDINGS
    text = capsys.readouterr().out
    assert text.index("UNEXPECTED") < text.index("EXPECTED") and "breaks:" in text
    assert diffcli.run(h, b, as_json=True, qemu_version="9.0") == EXIT_FINDINGS
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["unexpected"] == 1 and doc["a"]["file"] == h and doc["b"]["file"] == b


def test_run_two_files(files, capsys):
    a = files("a.vbt", demo.vbt())
    b = files("b.vbt", vbt_with_port("hdmic"))
    assert diffcli.run(a, b, as_json=True, qemu_version=None) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "vbt" and by_path(doc, "vbt.block2.child[0].dvo_port")


@pytest.mark.parametrize("case, match", [
    ("missing", "cannot read"),
    ("empty", "empty"),
    ("kinds", "diff compares two captures or two files of one kind"),
    ("unknown", "unknown kind"),
    ("corrupt", "not valid JSON"),
    ("version", "not X.Y"),
])
def test_run_bad_input(files, case, match):
    good = files("good.vbt", demo.vbt())
    other = {
        "missing": str(files("x", b"x")) + ".nope",
        "empty": files("empty", b""),
        "kinds": files("rom.bin", demo.option_rom()),
        "unknown": files("junk", b"\x00\x01junk" * 10),
        "corrupt": files("c.json", '{"format": "igdscope-capture", "version": 1,'),
    }.get(case, files("v.vbt", demo.vbt()))
    first = files("h.json", host().to_json()) if case == "corrupt" else good
    with pytest.raises(BadInput, match=match) as exc:
        diffcli.run(first, other, as_json=False, qemu_version="X" if case == "version" else None)
    assert "\n" not in str(exc.value)


def test_run_refuses_two_stdins():
    with pytest.raises(BadInput, match="standard input"):
        diffcli.run("-", "-", as_json=False, qemu_version=None)


def test_run_bad_file_is_named_by_its_path(files):
    """Errors about either raw file name it by the path given, not as 'a' or 'b'."""
    good = files("good.vbt", demo.vbt())
    cut = files("cut.vbt", demo.vbt()[:40])
    with pytest.raises(BadInput) as exc:
        diffcli.run(good, cut, as_json=False, qemu_version=None)
    assert str(exc.value) == f"{cut}: the '$VBT' at 0x0 of the file is cut inside its 48-byte header (40 bytes present)"
    op = files("op.bin", b"IntelGraphicsMem" + bytes(300))
    short = files("short.bin", b"IntelGraphicsMem" + bytes(100))
    with pytest.raises(BadInput) as exc:
        diffcli.run(op, short, as_json=False, qemu_version=None)
    assert str(exc.value) == f"{short}: 116 bytes is too short for an OpRegion header (256 bytes)"
