"""Blocks 1 (general features) and 2 (general definitions, the child devices): the module
igdscope/schemas/vbtblocks/general.py. Their parity with intel_vbt_decode (igt 1.27.1) field by
field on every VBT of the shared corpus, with every difference either absent or listed in KNOWN
with its reason, and on VBTs built here run through the installed igt (tests/support/igt_compare.py
runs the comparison and compares the child device entries block 11 shares); their meanings; the
corpus blocks and blocks built here build back."""

from __future__ import annotations

import pytest

from igdscope.schemas import vbt as V
from igdscope.schemas.vbtblocks import general
from tests.support import igt_text
from tests.support.igt_compare import (IGT, Checker, Diff, Known, classify, compare_children, compare_file, compare_flat, corpus_dir,
                                       corpus_pairs, field, h2, known_aux_low_nibble, known_dp_rate_masked, known_handle_high_byte,
                                       known_handle_unknown, known_hdmi_rate_before_249, known_pre155_dvo_port, panel_type_checks,
                                       synthetic_checks, yn)
from tests.support.shared import CORPUS

PARITY_BLOCKS = (1, 2)
CORPUS_COMPARED = (1, 2)  # compared with the reference decodes of the corpus (COMPARERS)


# -- what igt 1.27.1 would print, from igdscope's decode ---------------------------------------------

FEATURE_YESNO = {
    "Flexaim": "flexaim", "Message": "msg_enable", "DVO color flip required": "color_flip", "External VBT": "download_ext_vbt",
    "LVDS SSC Enable": "enable_ssc", "LFP on override": "enable_lfp_on_override", "Disable SSC on clone": "disable_ssc_ddt",
    "Underscan support for VGA timings": "underscan_vga_timings", "Dynamic CD clock": "display_clock_mode",
    "Hotplug support in VBIOS": "vbios_hotplug_support", "Disable smooth vision": "disable_smooth_vision",
    "Single DVI for CRT/DVI": "single_dvi", "Enable 180 degree rotation": "rotate_180",
    "Inverted FDI Rx polarity": "fdi_rx_polarity_inverted", "Extended VBIOS mode": "vbios_extended_mode",
    "Copy iLFP DTD to SDVO LVDS DTD": "copy_ilfp_dtd_to_sdvo_lvds_dtd", "Best fit panel timing algorithm": "panel_best_fit_timing",
    "Ignore strap state": "ignore_strap_state", "Legacy monitor detect": "legacy_monitor_detect",
    "Integrated CRT": "int_crt_support", "Integrated TV": "int_tv_support", "Integrated EFP": "int_efp_support",
    "DP SSC enable": "dp_ssc_enable", "DP SSC dongle supported": "dp_ssc_dongle_supported",
}



def compare_block1(ck: Checker, section: igt_text.Section, d: dict) -> None:
    gen_key = ck.gen_key
    m = d["meaning"]
    expect = {label: yn(field(d, name)) for label, name in FEATURE_YESNO.items()}
    expect["Panel fitting"] = f"{m['panel_fitting']['name']} (0x{d['panel_fitting']:x})"
    expect["Clear screen"] = str(d["clear_screen"])
    expect["LVDS SSC frequency"] = f"{m['ssc_freq']['khz_by_gen'][gen_key] // 1000} MHz (0x{int(d['ssc_freq']):x})"
    expect["DP SSC frequency"] = f"{m['dp_ssc_freq']['khz_by_gen'][gen_key] // 1000} MHz (0x{int(d['dp_ssc_freq']):x})"
    compare_flat(ck, 1, section, expect)


def compare_block2(ck: Checker, section: igt_text.Section, d: dict) -> None:
    expect = {
        "CRT DDC GMBUS addr": h2(d["crt_ddc_gmbus_pin"]),
        "Use DPMS on AIM devices": yn(d["dpms_aim"]),
        "Skip CRT detect at boot": yn(d["skip_boot_crt_detect"]),
        "Use Non ACPI DPMS CRT power states": yn(d["dpms_non_acpi"]),
        "Boot display type": f"0x{d['boot_display'][1]:02x}{d['boot_display'][0]:02x}",
        "Child device size": str(d["child_dev_size"]),
        "Child device count": str(len(d["devices"])),
    }
    compare_flat(ck, 2, section, expect, depth=1, allow={"Child device info"})
    compare_children(ck, 2, section, d["devices"])


COMPARERS = {1: compare_block1, 2: compare_block2}


def comparers() -> dict:
    """The comparers of CORPUS_COMPARED's blocks (a block listed there without one fails here)."""
    return {bid: COMPARERS[bid] for bid in CORPUS_COMPARED}


# -- the known, explained differences -----------------------------------------------------------------


def _crt_is_efp6(d: Diff) -> bool:
    return d.version >= 217 and d.igt == "0x0001 (CRT)" and d.ours == "0x0001 (EFP6)"


def _signature_nul(d: Diff) -> bool:
    return d.ours.split("\x00")[0] == d.igt


KNOWN: list[Known] = [  # all seen in the corpus
    known_handle_unknown(2),
    Known(2, "Device handle",
          "0x0001 is CRT up to BDB 216 and EFP6 from 217 (intel_vbt_defs.h); igt 1.27.1 has no BDB range for it",
          _crt_is_efp6),
    known_pre155_dvo_port(2, "DVO2 Port"),
    Known(2, "Signature",
          "igt prints the 10-byte device_id with %.*s, which stops at the first NUL; igdscope keeps all ten "
          "bytes (trailing NULs dropped) so the entry builds back", _signature_nul),
]
KNOWN_SYNTHETIC: list[Known] = [  # igt bugs the corpus lacks, seen on VBTs built here and on other real VBTs
    known_aux_low_nibble(2),
    known_handle_high_byte(2),
    known_pre155_dvo_port(2, "DVO Port"),
    known_hdmi_rate_before_249(2),
    known_dp_rate_masked(2),
]


# -- the corpus against its reference decodes --------------------------------------------------------


@pytest.mark.parametrize(("name", "txt"), corpus_pairs() or [("(corpus absent)", "")])
def test_corpus_parity_with_igt(name, txt):
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    ck = compare_file(name, txt, comparers())
    unexplained = [d for d in ck.diffs if classify(d, KNOWN + KNOWN_SYNTHETIC) is None]
    assert not unexplained, "\n".join(str(d) for d in unexplained[:60])
    assert ck.compared > 20


def test_known_differences_all_occur():
    """Every listed difference is seen in the corpus (the list does not rot), and the totals."""
    pairs = corpus_pairs()
    if not pairs:
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    hits = {id(k): 0 for k in KNOWN}
    compared = 0
    for name, txt in pairs:
        ck = compare_file(name, txt, comparers())
        compared += ck.compared
        for d in ck.diffs:
            k = classify(d, KNOWN + KNOWN_SYNTHETIC)
            if k is not None and id(k) in hits:
                hits[id(k)] += 1
    assert [k.reason for k in KNOWN if not hits[id(k)]] == []
    assert compared > 5000


@pytest.mark.parametrize(("name", "txt"), corpus_pairs() or [("(corpus absent)", "")])
def test_corpus_blocks_build_back(name, txt):
    if name == "(corpus absent)":
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    data = (corpus_dir() / name).read_bytes()
    w = V.walk_blocks(data, V.find_vbt(data))
    ctx = {b["id"]: b["raw"] for b in w["blocks"]}
    done = 0
    for b in w["blocks"]:
        if b["id"] in PARITY_BLOCKS:
            fields = V.decode_block(b["id"], b["raw"], w["bdb_version"], ctx)
            assert V.build_block(b["id"], fields, w["bdb_version"], size=len(b["raw"])) == b["raw"], b["id"]
            done += 1
    assert done >= 2  # blocks 1 and 2 are in every corpus VBT


# -- igt 1.27.1 itself on VBTs built here (random field values exercise every bit) -----------------------


@pytest.mark.igt
@pytest.mark.skipif(IGT is None, reason="intel_vbt_decode (Debian intel-gpu-tools) is not installed")
def test_igt_on_synthetic_vbts():
    hits = {id(k): 0 for k in KNOWN_SYNTHETIC}
    unexplained: list[Diff] = []
    compared = 0
    for ck in synthetic_checks(comparers()):
        compared += ck.compared
        for d in ck.diffs:
            k = classify(d, KNOWN + KNOWN_SYNTHETIC)
            if k is None:
                unexplained.append(d)
            elif id(k) in hits:
                hits[id(k)] += 1
    assert not unexplained, "\n".join(str(d) for d in unexplained[:60])
    assert [k.reason for k in KNOWN_SYNTHETIC if not hits[id(k)]] == []
    assert compared > 10000


@pytest.mark.igt
@pytest.mark.skipif(IGT is None, reason="intel_vbt_decode (Debian intel-gpu-tools) is not installed")
@pytest.mark.parametrize("panel_type", [0xFF, 32])
def test_igt_panel_type_not_an_index(panel_type):
    """Block 40 panel_type 0xFF or over 15 changes nothing in blocks 1 and 2: no difference left unexplained."""
    for ck in panel_type_checks(comparers(), panel_type):
        unexplained = [d for d in ck.diffs if classify(d, KNOWN + KNOWN_SYNTHETIC) is None]
        assert not unexplained, "\n".join(str(d) for d in unexplained[:20])
        assert ck.compared > 100


def test_classify_knows_the_differences_the_corpus_lacks():
    """Real VBTs outside the corpus show igt bugs only the synthetic VBTs showed before (a G41 board's
    BDB 148 block 2 child on DVO-B, which igt calls HDMI-B): classify() explains them too."""
    known = KNOWN + KNOWN_SYNTHETIC
    d = Diff("g41", 2, "child 0", "DVO Port", "HDMI-B (0x01)", "DVO-B (SDVO-B) (0x01)", 148)
    assert classify(d, known) in KNOWN_SYNTHETIC and "BDB 155" in classify(d, known).reason
    assert classify(Diff("g41", 2, "child 0", "DVO Port", "HDMI-B (0x01)", "DVO-B (SDVO-B) (0x01)", 155), known) is None


# -- meanings ---------------------------------------------------------------------------------------------

def test_child_device_meanings():
    assert general.dvo_port_meaning(13, 247)["port"]["display 13+ (ADL-P and later)"] == "TC1"
    assert general.dvo_port_meaning(13, 247)["port"]["default"] == "F"
    assert general.dvo_port_meaning(7, 247)["port"]["ADL-S"] == "TC1" and general.dvo_port_meaning(8, 230)["port"]["RKL/DG1"] == "TC1"
    assert general.dvo_port_meaning(6, 200)["port"]["default"] == "E"  # CRT counts as port E
    assert general.dvo_port_meaning(23, 230)["port"] == {"DSI": "B on display 11+, C before"}
    assert general.dvo_port_meaning(15, 216)["note"] == "DP-G is defined from BDB 217"
    assert general.dvo_port_meaning(1, 150)["name"] == "DVO-B (SDVO-B)" and general.dvo_port_meaning(4, 150)["name"] == "LVDS"
    assert general.aux_channel_meaning(0x40)["name"] == "AUX-A" and general.aux_channel_meaning(0x41)["name"] is None
    assert general.aux_channel_meaning(0x60)["remapped"] == {"display 13+ (ADL-P and later)": "USBC1"}
    assert general.aux_channel_meaning(0x20)["remapped"] == {"RKL/DG1": "USBC1", "ADL-S": "USBC2"}
    ddc = general.ddc_pin_meaning(3)
    assert ddc["name"] is None and ddc["by_platform"]["CNP PCH"] == "DDI D" and ddc["by_platform"]["ADL-P, MTL PCH and later"] == "TC1"
    assert ddc["by_platform"]["GMBUS pin (before CNP, Atom, DG1+)"].startswith("panel") and "caveat" in ddc
    assert general.ddc_pin_meaning(0)["name"] == "none"
    assert general.dp_max_link_rate_meaning(0, 229)["name"] == "HBR3 (8.1 Gbps)"
    assert general.dp_max_link_rate_meaning(0, 230)["name"] == "platform default"
    assert general.dp_max_link_rate_meaning(5, 230)["name"] == "UHBR10 (10 Gbps)"
    assert general.handle_meaning(1, 216)["name"] == "CRT" and general.handle_meaning(1, 217)["name"] == "EFP6"
    assert general.handle_meaning(0x0030, 150)["name"] == "EFP4+EFP3" and general.handle_meaning(0x8000, 240)["name"] == "unknown(0x8000)"
    t = general.device_type_meaning(0x78C6)
    assert t["name"] == "eDP" and t["supports"]["edp"] and not t["supports"]["hdmi"] and "not_hdmi_output" in t["bits"]
    assert general.device_type_meaning(0x60D6)["supports"]["hdmi"] and general.device_type_meaning(0x1234)["name"] is None
    child = {"handle": 8, "device_type": 0x78C6, "hdmi_max_data_rate": 3, "dp_max_lane_count": 1, "mipi_bridge_type": 2,
             "iboost": True, "dp_iboost_level": 2, "hdmi_iboost_level": 5, "edp_data_rate_override": 0b100000001001,
             "i2c_speed": 2, "dvo_port": 10, "aux_channel": 0x40}
    m248 = general.child_device_meaning(child, 248)
    assert m248["hdmi_max_data_rate"] == {"value": 3, "name": None, "note": "defined from BDB 249"}
    assert m248["dp_iboost_level"] == {"value": 2, "name": "boost level 7", "used": True}
    assert m248["hdmi_iboost_level"]["note"] == "i915 rejects this value" and "edp_data_rate_override" not in m248
    m263 = general.child_device_meaning(child, 263)
    assert m263["hdmi_max_data_rate"]["name"] == "594 MHz" and m263["dp_max_lane_count"]["name"] == "x2"
    assert m263["edp_data_rate_override"]["rejected_gbps"] == ["1.62", "2.7", "20"]
    assert m263["mipi_bridge_type"]["name"] == "Toshiba" and m263["i2c_speed"]["name"] == "400 kHz"
    assert "i2c_speed" not in general.child_device_meaning(child, 151) and "aux_channel" not in general.child_device_meaning(child, 154)


def test_block1_and_block2_meanings_and_build():
    f = V.decode_block(1, V.build_block(1, {"panel_fitting": 1, "ssc_freq": True, "display_clock_mode": True,
                                            "afc_startup_config": 2}, 250), 250)
    assert f["meaning"]["panel_fitting"]["name"] == "text only"
    assert f["meaning"]["ssc_freq"]["khz_by_gen"] == {"gen2": 66667, "gen3-4": 100000, "gen5+": 100000}
    assert f["meaning"]["display_clock_mode"]["name"] == "dynamic CD clock"
    assert f["meaning"]["afc_startup_config"]["name"] == "i915 programs AFC startup 7"
    old = V.decode_block(1, V.build_block(1, {"display_clock_mode": True}, 170), 170)
    assert old["meaning"]["display_clock_mode"]["name"].startswith("reference clock: BTM") and "afc_startup_config" not in old["meaning"]
    assert V.build_block(1, f, 250) == V.build_block(1, {"panel_fitting": 1, "ssc_freq": True, "display_clock_mode": True, "afc_startup_config": 2}, 250)
    raw = V.build_block(2, {"devices": [{"handle": 8, "device_type": 0x78C6, "dvo_port": "dpa", "aux_channel": "aux_a"}, {}]}, 240)
    d = V.decode_block(2, raw, 240)
    assert d["devices"][0]["meaning"]["dvo_port"]["name"] == "DP-A" and "meaning" not in d["devices"][1]
    assert V.build_block(2, d, 240) == raw
