"""PCI header, capability and register schemas: decode, build, round trip, hostile input."""

from __future__ import annotations

import construct as cs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from igdscope import platforms
from igdscope.decode.devices import decode_config
from igdscope.errors import BadInput
from igdscope.schemas import pci

MiB = 1 << 20


def _hdr(**over) -> bytes:
    v = {
        "vendor_id": 0x8086, "device_id": 0x3E92, "command": {"memory_space": True}, "status": {"capabilities_list": True},
        "revision_id": 2, "prog_if": 0, "subclass": 0, "base_class": 3, "cache_line_size": 0, "latency_timer": 0,
        "header_type": 0, "bist": 0, "bar": [0xF6000004, 0, 0xC000000C, 0, 0xF001, 0], "cardbus_cis": 0,
        "subsystem_vendor_id": 0x1458, "subsystem_id": 0xD000, "expansion_rom": 0, "capabilities_pointer": 0x40,
        "reserved": bytes(7), "interrupt_line": 11, "interrupt_pin": 1, "min_grant": 0, "max_latency": 0,
    }
    v.update(over)
    return pci.build_type0_header(v)


def test_type0_header_round_trip_and_offsets():
    raw = _hdr()
    assert len(raw) == 64 and pci.Type0Header.sizeof() == 64 and pci.Type1Header.sizeof() == 64
    h = pci.parse_header(raw)
    assert (h.vendor_id, h.device_id, h.base_class, h.revision_id) == (0x8086, 0x3E92, 3, 2)
    assert raw[0x2C:0x30] == bytes.fromhex("5814") + bytes.fromhex("00d0")
    assert h.capabilities_pointer == 0x40 and raw[0x34] == 0x40
    assert h.command.memory_space and not h.command.io_space
    bars = pci.decode_bars(list(h.bar))
    assert bars[0] == {"bar": 0, "kind": "mem64", "prefetchable": False, "address": 0xF6000000, "raw": 0xF6000004}
    assert bars[1]["kind"] == "mem64" and bars[1]["prefetchable"] and bars[1]["address"] == 0xC0000000
    assert bars[2] == {"bar": 4, "kind": "io", "address": 0xF000, "raw": 0xF001}


def test_type1_header_is_selected_by_header_type():
    raw = bytearray(64)
    raw[0:4] = bytes.fromhex("86800101")
    raw[0x0E] = 0x01  # PCI-to-PCI bridge layout
    raw[0x18:0x1B] = bytes([0, 1, 3])
    h = pci.parse_header(bytes(raw))
    assert (h.primary_bus, h.secondary_bus, h.subordinate_bus) == (0, 1, 3)


def test_capability_walk_follows_chain_and_stops_loops():
    cfg = bytearray(256)
    cfg[0x40:0x43] = bytes([0x09, 0x70, 0x0C])
    cfg[0x70:0x72] = bytes([0x10, 0xAC])
    cfg[0xAC:0xAE] = bytes([0x05, 0x40])  # points back to 0x40: a loop
    caps, findings = pci.walk_capabilities(bytes(cfg), 0x40)
    assert [c["id"] for c in caps] == [0x09, 0x10, 0x05]
    assert caps[0]["name"] == "Vendor Specific" and caps[0]["length"] == 0x0C
    assert any("loops" in f for f in findings)


def test_capability_pointer_outside_area_and_truncated():
    cfg = bytearray(64)
    caps, findings = pci.walk_capabilities(bytes(cfg), 0x40)
    assert caps == [] and "beyond the 64 bytes captured" in findings[0]
    caps, findings = pci.walk_capabilities(bytes(256), 0x10)
    assert caps == [] and "outside" in findings[0]


def test_extended_capabilities():
    cfg = bytearray(4096)
    cfg[0x100:0x104] = pci.ExtCapabilityHeaderLE.build({"next": 0x200, "version": 1, "id": 0x1B})
    cfg[0x200:0x204] = pci.ExtCapabilityHeaderLE.build({"next": 0x100, "version": 1, "id": 0x10})
    caps, findings = pci.walk_ext_capabilities(bytes(cfg))
    assert [(c["offset"], c["name"]) for c in caps] == [(0x100, "Process Address Space ID"), (0x200, "SR-IOV")]
    assert "loops" in findings[0]
    assert int.from_bytes(cfg[0x100:0x104], "little") == (0x200 << 20) | (1 << 16) | 0x1B


@pytest.mark.parametrize(
    "layout,raw,gms,dsm,ggms,gsm",
    [
        ("snb", 0x0210, 2, 64 * MiB, 2, 2 * MiB),
        ("snb", 0x01F8, 0x1F, 0x1F * 32 * MiB, 1, 1 * MiB),
        ("bdw", 0x02C1, 2, 64 * MiB, 3, 8 * MiB),
        ("bdw", 0xF0C1, 0xF0, 4 * MiB, 3, 8 * MiB),
        ("bdw", 0xFEC1, 0xFE, 60 * MiB, 3, 8 * MiB),
        ("bdw", 0x0000, 0, 0, 0, 0),
        ("chv", 0x0088 | (1 << 8), 0x11, 8 * MiB, 1, 2 * MiB),
        ("chv", 0x00B8 | (2 << 8), 0x17, 36 * MiB, 2, 4 * MiB),
        ("mtl", 0x04C1, 4, 128 * MiB, 3, 8 * MiB),
        ("mtl", 0xF3C1, 0xF3, 16 * MiB, 3, 8 * MiB),
        ("g4x", 0x0370, 7, 64 * MiB, 3, 2 * MiB),
        ("g4x", 0x0B50, 5, 32 * MiB, 0xB, 4 * MiB),
    ],
)
def test_ggc_layouts(layout, raw, gms, dsm, ggms, gsm):
    g = pci.decode_ggc(layout, raw, 9)
    assert (g.gms, g.dsm_bytes, g.ggms, g.gsm_bytes) == (gms, dsm, ggms, gsm)


def test_ggc_invalid_values_are_findings():
    assert pci.decode_ggc("mtl", 0x10C1).dsm_bytes is None
    assert "not a valid" in pci.decode_ggc("mtl", 0x10C1).notes[0]
    assert "must be 3" in pci.decode_ggc("mtl", 0x0241).notes[0]
    assert pci.decode_ggc("bdw", 0xF0C1, gen=8).dsm_bytes == 0xF0 * 32 * MiB  # Broadwell: no 4 MiB steps
    g = pci.decode_ggc("g4x", 0x0A00)
    assert (g.gsm_bytes, g.gtt_bytes) == (3 * MiB, 1536 << 10)  # VT-d code: 1.5 MiB GTT in 3 MiB


def test_register_build_round_trip_and_overflow():
    reg = pci.ggc_register("bdw")
    raw = reg.build({"GMS": 2, "GGMS": 3, "lock": 1})
    assert raw == (0x02C1).to_bytes(2, "little")
    dec = pci.decode_register(reg, bytes(0x50) + raw)
    assert {f["name"]: f["value"] for f in dec["fields"]} == {"GMS": 2, "GGMS": 3, "VAMEN": 0, "IVD": 0, "lock": 1}
    with pytest.raises(ValueError):
        reg.build({"GGMS": 4})
    with pytest.raises(ValueError):
        reg.build({"nonsense": 1})
    tolud = pci.HOST_TOLUD16
    assert tolud.build({"base": 0xE0000000}) == (0xE000).to_bytes(2, "little")


@given(st.binary(min_size=0, max_size=4096))
@settings(max_examples=300, deadline=None)
def test_decode_config_never_crashes(data):
    try:
        dec = decode_config(data)
    except BadInput as exc:
        assert len(data) < 16 and "too short" in str(exc)
    else:
        assert dec["bytes"] == len(data)


def test_platform_table_is_consistent():
    t = platforms.table()
    assert len(t) > 300
    for p in t.values():
        assert p.ggc_layout in pci.GGC_FIELDS, p
        assert p.bdsm in ("0x5c", "0xc0", "none"), p
    assert t[0x3E92].platform == "CFL" and t[0x3E92].gen == 9
    assert t[0x0416].platform == "HSW" and t[0x0F31].platform == "VLV"
    assert t[0x4680].bdsm == "0xc0" and t[0x0102].bdsm == "0x5c"


@pytest.mark.parametrize(
    "did,a,b,c",
    [
        (0x0102, 6, 6, 6),  # SNB
        (0x0416, 6, 6, 7),  # HSW
        (0x1912, 8, 8, 9),  # SKL
        (0x5A85, 8, -1, 9),  # BXT: 9.2 did not know 0x5A85
        (0x3E92, 8, 9, 9),  # CFL
        (0x9BC5, 8, -1, 9),  # CML
        (0x87C0, 8, -1, -1),  # AML
        (0x8A52, 8, -1, 11),  # ICL
        (0x4E61, 8, -1, 11),  # JSL
        (0x9A49, 8, 12, 12),  # TGL
        (0xA780, 8, -1, 12),  # RPL-S
        (0x7D55, 8, -1, -1),  # MTL
        (0x0042, -1, -1, -1),  # ILK
        (0x2A42, -1, -1, -1),  # GM45: high byte 0x2A
    ],
)
def test_qemu_generation_rules(did, a, b, c):
    assert (platforms.qemu_gen(did, "A"), platforms.qemu_gen(did, "B"), platforms.qemu_gen(did, "C")) == (a, b, c)


def test_construct_errors_become_decode_errors():
    from igdscope.binary import DecodeError, decode

    with pytest.raises(DecodeError) as e:
        decode(cs.Struct("a" / cs.Int16ul, "b" / cs.Struct("c" / cs.Int32ul)), b"\x01\x02\x03", "thing")
    assert "thing: truncated (3 bytes) at b.c" == str(e.value)


# -- host bridge: PCIEXBAR by its LENGTH, CAPID0_A.IGD, platform from the host bridge ID --------------


def _host(device_id: int = 0x3EC2, **regs: dict) -> bytes:
    """A 256-byte host bridge config space with the given core registers built from their fields."""
    cfg = bytearray(_hdr(device_id=device_id, base_class=6, subclass=0, capabilities_pointer=0, status={}) + bytes(192))
    table = {r.name: r for r in pci.HOST_BRIDGE_CORE}
    for name, values in regs.items():
        r = table[name]
        cfg[r.offset : r.offset + r.size] = r.build(values)
    return bytes(cfg)


@pytest.mark.parametrize("raw, base, size", [
    (0xF4000005, 0xF4000000, 64 * MiB),  # SNB H61M-DS2: 64 MiB window
    (0xF8000005, 0xF8000000, 64 * MiB),
    (0xE0000001, 0xE0000000, 256 * MiB),
    (0xEC000003, 0xE8000000, 128 * MiB),  # bit 26 is address mask in a 128 MiB window
    (0x7F_FC000001, 0x7F_F0000000, 256 * MiB),  # bits 27:26 masked, bit 38 kept
])
def test_pciexbar_window_follows_length(raw, base, size):
    assert pci.pciexbar_window(raw) == (base, size)
    dec = decode_config(_host(PCIEXBAR={"base": raw & pci.PCIEXBAR_BASE_MASK, "length": (raw >> 1) & 3, "enable": raw & 1}), plat=platforms.by_name("CFL"))
    assert (dec["summary"]["pciexbar"], dec["summary"]["pciexbar_bytes"]) == (base, size)
    reg = next(r for r in dec["registers"] if r["name"] == "PCIEXBAR")
    fields = {f["name"]: f for f in reg["fields"]}
    assert reg["raw"] == raw and fields["base"]["value"] == base and fields["length"]["meaning"].startswith(f"{size // MiB} MiB window")


def test_pciexbar_reserved_length_is_a_finding():
    assert pci.pciexbar_window(0xE0000007) == (None, None)
    dec = decode_config(_host(PCIEXBAR={"base": 0xE0000000, "length": 3, "enable": 1}), plat=platforms.by_name("CFL"))
    assert "pciexbar" not in dec["summary"] and dec["summary"]["pciexbar_enabled"] is True
    assert any("length code 3 is reserved" in f for f in dec["findings"])


def test_capid0_igd_fused_off_replaces_the_firmware_advice():
    fused = decode_config(_host(DEVEN={"D2EN": 0}, CAPID0_A={"IGD": 1}), plat=platforms.by_name("CFL"))
    assert fused["summary"]["igd_fused_off"] is True and fused["summary"]["igd_enabled"] is False
    assert any("no integrated graphics" in f for f in fused["findings"])
    assert not any("enable the iGPU" in f for f in fused["findings"])
    off = decode_config(_host(DEVEN={"D2EN": 0}, CAPID0_A={"IGD": 0}), plat=platforms.by_name("CFL"))
    assert off["summary"]["igd_fused_off"] is False and any("enable the iGPU in the firmware setup" in f for f in off["findings"])
    on = decode_config(_host(DEVEN={"D2EN": 1}, CAPID0_A={"IGD": 0, "VTDD": 1}), plat=platforms.by_name("CFL"))
    capid = next(r for r in on["registers"] if r["name"] == "CAPID0_A")
    assert capid["raw"] == 1 << 23 and {f["name"]: f["value"] for f in capid["fields"]} == {"VTDD": 1, "IGD": 0}
    assert not any("D2EN" in f or "integrated graphics" in f for f in on["findings"])


def test_host_bridge_id_names_the_platform():
    table = platforms.host_bridges()
    assert all(platforms.by_name(code) is not None for code in table.values()), "every code is a platforms.tsv code"
    assert 0x29C0 not in table and 0x1237 not in table  # QEMU's host bridges
    assert {table[i] for i in (0x0100, 0x0154, 0x0C04, 0x1918, 0x3EC4, 0x9B33, 0x9A14, 0x4660, 0xA700, 0xA706)} == {
        "SNB", "IVB", "HSW", "SKL", "CFL", "CML", "TGL", "ADL-S", "RPL-S", "RPL-P"}
    dec = decode_config(_host(0x0C04, TOLUD={"base": 0xCF200000, "lock": 1}))  # no platform given
    assert dec["platform"]["platform"] == "HSW" and dec["summary"]["tolud"] == 0xCF200000
    assert any("host bridge ID 0x0c04" in f for f in dec["findings"])
    unknown = decode_config(_host(0x0001))
    assert unknown["platform"] is None and unknown["registers"] == [] and any("platform unknown" in f for f in unknown["findings"])


def test_nova_lake_p_ids():
    ids = [0xD750, 0xD751, 0xD752, 0xD753, 0xD75F, 0xD754, 0xD755, 0xD756, 0xD757]
    for did in ids:
        p = platforms.lookup(did)
        assert p is not None and p.platform == "NVL-P" and p.ggc_layout == "mtl", hex(did)
        assert (p.qemu_gen("B"), p.qemu_gen("C")) == (-1, -1)
