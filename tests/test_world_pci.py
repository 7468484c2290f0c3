"""Real machines' registers: every lspci dump in ../shared/world/pci decodes, with the values
worked out by hand from the register tables (GGC layouts, stolen sizes, base registers).

The dumps are third-party text read in place; nothing of them is copied here but the numbers a
person derives from them.
"""

from __future__ import annotations

import pytest

from igdscope import platforms
from igdscope.decode.files import decode_file

MiB = 1 << 20

# file -> {role: {summary key: expected}}; plus expected platform code and QEMU gens (A, B, C)
EXPECTED = {
    "gen4-gm45_acer-extensa-5630.txt": {
        "platform": "GM45", "qemu": (-1, -1, -1),
        "host_bridge": {"ggc": 0x0380, "gms": 0x8, "dsm_bytes": 128 * MiB, "ggms": 0x3, "gsm_bytes": 2 * MiB, "gtt_entries": 2 * MiB // 4, "tolud": 0xC0000000},
        "igd": {"bdsm": 0xB8000000, "asls": 0xB7B71020},
    },
    "gen5-ilk_gigabyte-h55m-s2.txt": {
        "platform": "ILK", "qemu": (-1, -1, -1),
        "host_bridge": {"ggc": 0x0370, "gms": 0x7, "dsm_bytes": 64 * MiB, "ggms": 0x3, "gsm_bytes": 2 * MiB, "bdsm": 0xDC000000, "bgsm": 0xDBE00000, "tsegmb": 0xD7800000, "tolud": 0xE0000000},
        "igd": {"bdsm": 0xDC000000, "asls": 0xD77E0800},
    },
    "gen6-snb_gigabyte-h61m-ds2.txt": {
        "platform": "SNB", "qemu": (6, 6, 6),
        "host_bridge": {"ggc": 0x0210, "gms": 2, "dsm_bytes": 64 * MiB, "ggms": 2, "gsm_bytes": 2 * MiB, "gtt_entries": 512 * 1024, "bdsm": 0xDBA00000, "bgsm": 0xDB800000, "tsegmb": 0xDB000000, "tolud": 0xDFA00000, "ivd": False},
        "igd": {"ggc": 0x0210, "dsm_bytes": 64 * MiB, "bdsm": 0xDBA00000, "asls": 0xDAFB0800},
    },
    "gen7-ivb_dell-latitude-e6430.txt": {
        "platform": "IVB", "qemu": (6, 6, 6),
        "host_bridge": {"ggc": 0x0209, "gms": 1, "dsm_bytes": 32 * MiB, "ggms": 2, "gsm_bytes": 2 * MiB, "bdsm": 0xCDA00000, "bgsm": 0xCD800000, "tsegmb": 0xCD000000, "tolud": 0xCFA00000},
        "igd": {"ggc": 0x0209, "bdsm": 0xCDA00000, "asls": 0xCA7D7018},
    },
    "gen7-ivb_intel-dh77df.txt": {
        "platform": "IVB", "qemu": (6, 6, 6),
        "host_bridge": {"ggc": 0x0211, "gms": 2, "dsm_bytes": 64 * MiB, "ggms": 2, "bdsm": 0xDBA00000, "bgsm": 0xDB800000, "tsegmb": 0xDB000000, "tolud": 0xDFA00000},
        "igd": {"ggc": 0x0211, "bdsm": 0xDBA00000, "asls": 0xDA3BD018},
    },
    "gen7.5-hsw_dell-latitude-e6540.txt": {
        "platform": "HSW", "qemu": (6, 6, 7),
        "host_bridge": {"ggc": 0x0209, "gms": 1, "dsm_bytes": 32 * MiB, "ggms": 2, "bdsm": 0xCD200000, "bgsm": 0xCD000000, "tsegmb": 0xCC000000, "tolud": 0xCF200000},
        "igd": {"ggc": 0x0209, "bdsm": 0xCD200000, "asls": 0xCA7F9018},
    },
    "gen12-adls_gigabyte-1458-igd-partial.txt": {
        "platform": "ADL-S", "qemu": (8, -1, 12),
        "igd": {"ggc": 0xFEC1, "gms": 0xFE, "dsm_bytes": 60 * MiB, "ggms": 3, "gsm_bytes": 8 * MiB, "gtt_entries": 1024 * 1024, "bdsm": 0x3C800000, "ivd": False},
    },
}


@pytest.fixture
def world_pci(shared_dir):
    d = shared_dir / "world" / "pci"
    if not d.is_dir():
        pytest.skip(f"{d} is absent")
    return d


def _decode(path, platform=None):
    return decode_file(path.read_bytes(), "lspci", platforms.by_name(platform) if platform else None, path.name)


def _by_role(res):
    return {dec["role"]: dec for dec in res["devices"].values()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_world_dump_decodes_to_hand_checked_values(world_pci, name):
    exp = EXPECTED[name]
    res = _decode(world_pci / name)
    assert res["platform"]["platform"] == exp["platform"]
    q = res["platform"]["qemu_gen"]
    assert (q["A"], q["B"], q["C"]) == exp["qemu"]
    roles = _by_role(res)
    for role in ("host_bridge", "igd"):
        for key, value in exp.get(role, {}).items():
            assert roles[role]["summary"].get(key) == value, (role, key)
    # host bridge and IGD of one machine agree with each other
    assert not [f for f in res["findings"] if "differs" in f]


def test_every_world_dump_is_read(world_pci):
    """No dump in the folder is left without a decode (a new file there needs expectations)."""
    names = {p.name for p in world_pci.glob("*.txt") if p.name != "README.md"}
    covered = set(EXPECTED) | {"gen9-skl-server_supermicro-15d9-0884-host-64byte.txt", "gen9.5-cfl_ecs-h310ch5-m2-no-igd.txt"}
    assert names <= covered, names - covered
    for p in sorted(world_pci.glob("*.txt")):
        res = _decode(p)
        assert res["devices"], p.name
        for dec in res["devices"].values():
            assert "identity" in dec and dec["identity"]["vendor"] == 0x8086


def test_partial_adls_dump_reports_truncation(world_pci):
    res = _decode(world_pci / "gen12-adls_gigabyte-1458-igd-partial.txt")
    igd = _by_role(res)["igd"]
    assert igd["bytes"] == 224
    assert any("truncated: 224 of 256" in f for f in igd["findings"])
    asls = next(r for r in igd["registers"] if r["name"] == "ASLS")
    assert asls["raw"] is None and "224 bytes" in asls["missing"]
    bdsm = next(r for r in igd["registers"] if r["name"] == "BDSM")
    assert bdsm["offset"] == 0xC0 and bdsm["size"] == 8  # gen 11+: 64-bit BDSM at 0xC0


def test_host_bridge_of_64_bytes(world_pci):
    res = _decode(world_pci / "gen9-skl-server_supermicro-15d9-0884-host-64byte.txt", "SKL")
    hb = _by_role(res)["host_bridge"]
    assert hb["identity"]["device"] == 0x1918 and hb["identity"]["subsystem_vendor"] == 0x15D9
    assert any("64 of 256" in f for f in hb["findings"])
    ggc = next(r for r in hb["registers"] if r["name"] == "GGC")
    assert ggc["raw"] is None  # not captured, said so, no crash


def test_coffee_lake_host_without_igd(world_pci):
    path = world_pci / "gen9.5-cfl_ecs-h310ch5-m2-no-igd.txt"
    # the host bridge ID 0x3ec4 names the platform: the same decode with and without --platform
    res = _decode(path)
    assert res["platform"]["platform"] == "CFL"
    assert any("host bridge ID 0x3ec4" in f for f in res["findings"])
    assert _by_role(res)["host_bridge"]["summary"] == _by_role(_decode(path, "CFL"))["host_bridge"]["summary"]
    hb = _by_role(_decode(path, "CFL"))["host_bridge"]
    s = hb["summary"]
    assert s["ggc"] == 0x0003 and s["dsm_bytes"] == 0 and s["gsm_bytes"] == 0 and s["ivd"] is True
    assert s["tolud"] == 0xC0000000 and s["tsegmb"] == 0xBF800000
    deven = next(r for r in hb["registers"] if r["name"] == "DEVEN")
    assert deven["raw"] == 0x8029 and next(f for f in deven["fields"] if f["name"] == "D2EN")["value"] == 0
    assert any("D2EN" in f for f in hb["findings"])
    # CAPID0_A 0x62012079: bit 11 (IGD) clear, so this CPU has graphics that firmware disabled
    assert s["igd_fused_off"] is False and s["igd_enabled"] is False
    assert not any("no integrated graphics" in f for f in hb["findings"])


# host bridge 0x60 PCIEXBAR (raw, ECAM base, window) and 0xE4 CAPID0_A as read from each dump
HOST_FACTS = {
    "gen6-snb_gigabyte-h61m-ds2.txt": (0xF4000005, 0xF4000000, 64 * MiB, 0xE280C096),
    "gen7-ivb_dell-latitude-e6430.txt": (0xF8000005, 0xF8000000, 64 * MiB, 0xE200619B),
    "gen7-ivb_intel-dh77df.txt": (0xF8000005, 0xF8000000, 64 * MiB, 0xE2808092),
    "gen7.5-hsw_dell-latitude-e6540.txt": (0xF8000005, 0xF8000000, 64 * MiB, 0x62002169),
    "gen9.5-cfl_ecs-h310ch5-m2-no-igd.txt": (0xE0000001, 0xE0000000, 256 * MiB, 0x62012079),
}


@pytest.mark.parametrize("name", sorted(HOST_FACTS))
def test_pciexbar_window_and_capid0_of_real_host_bridges(world_pci, name):
    raw, base, size, capid = HOST_FACTS[name]
    hb = _by_role(_decode(world_pci / name))["host_bridge"]
    regs = {r["name"]: r for r in hb["registers"]}
    assert regs["PCIEXBAR"]["raw"] == raw and regs["CAPID0_A"]["raw"] == capid
    assert (hb["summary"]["pciexbar"], hb["summary"]["pciexbar_bytes"], hb["summary"]["pciexbar_enabled"]) == (base, size, True)
    assert next(f for f in regs["PCIEXBAR"]["fields"] if f["name"] == "base")["value"] == base
    # every one of these CPUs has graphics: CAPID0_A bit 11 (IGD) is clear
    assert hb["summary"]["igd_fused_off"] is False


def test_skylake_server_host_bridge_names_its_platform(world_pci):
    res = _decode(world_pci / "gen9-skl-server_supermicro-15d9-0884-host-64byte.txt")
    assert res["platform"]["platform"] == "SKL"
    assert any("host bridge ID 0x1918" in f for f in res["findings"])
    hb = _by_role(res)["host_bridge"]
    assert {r["name"] for r in hb["registers"]} >= {"GGC", "PCIEXBAR", "TOLUD"}
    assert all(r["raw"] is None for r in hb["registers"])  # 64 bytes: none of them captured, and no crash
