"""The panel blocks (22, 23, 40-44: igdscope/schemas/vbtblocks/lfp.py): parity with intel_vbt_decode
(igt 1.27.1) on every VBT, ROM and OpRegion of the shared corpus, field by field, and unit tests on
blocks built here (version gates, block 41 missing, hostile pointers and counts). Block 58, whose
DTDs block 42's match, is dtd.py's: tests/test_parity_dtd.py.

Every difference from igt is either fixed or listed in KNOWN with its reason; the parity tests fail
on any other. igt 1.27.1 prints only the panel block 40 selects; when the installed binary is
there, the same comparison also runs on its --all-panels output (all 16 panels).
"""

from __future__ import annotations

import random
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from igdscope.decode.firmware import vbt_decode
from igdscope.binary import DecodeError, build, decode
from igdscope.schemas import vbt as V  # the registry first: it loads the vbtblocks modules
from igdscope.schemas.vbtblocks import dtd as D
from igdscope.schemas.vbtblocks import lfp as L
from tests.support import igt_text
from tests.support.igt_compare import IGT, Ours, corpus_pairs, igt_all_panels, igt_version
from tests.support.shared import CORPUS, need
from tests.support.vbt_build import PANEL_1366

PARITY_BLOCKS = (22, 23, 40, 41, 42, 43, 44)  # the blocks of vbtblocks/lfp.py
CORPUS_COMPARED = (22, 23, 40, 41, 42, 43, 44)  # compared with the reference decodes of the corpus (compare_file)

# Differences from igt 1.27.1 that are understood; the parity tests count them and fail on others.
KNOWN = {
    "pfit_past_fp_timing": (
        "igt prints fp_timing->pfit_reg_val (offset 0x28) whatever the table's size; the fp_timing tables of "
        "gen5 and later VBTs are 38 bytes (0xFFFF terminator at 0x24), so igt prints bytes 2-5 of the DTD that "
        "follows. igdscope shows pfit_reg/pfit_reg_val only when the table holds them (46-byte tables); the "
        "test checks igt's value is those DTD bytes"),
    "black_border_bottom": "igt prints black_border[i].top on its 'Bottom' line (a typo in igt); compared against top",
    "not_valid_for_bdb": (
        "igt prints some fields outside the BDB versions that define them (block 44 features byte from 228 on, "
        "block 43 min_brightness and level from 234 on, block 44 dpst and block 40 blt_control_type_bits past "
        "their last version...); igdscope moves them to not_valid_for_bdb, where they are compared"),
    "absent_reads_zero": (
        "a field the version defines but a short block does not hold: igt prints the 0 of its zero-filled copy, "
        "igdscope leaves the field out with a finding; compared as 0"),
    "generated_block41_section": (
        "with block 41 missing igt 1.27.1 still prints a block 41 section (the pointers it generated); igdscope "
        "reports generated pointers with block 42 (lfp_data_ptrs.source = 'generated'); compared with those"),
    "ssc_frequency_mhz": "the SSC MHz depend on the PCI device id (igt --devid); only the bit is compared",
    "panel_type_not_an_index": (
        "block 40 panel_type 0xFF (match the EDID PnP ID) or another value over 15: igt 1.27.1 marks the panel "
        "whose index equals panel_type, so none; igdscope marks i915's fallback, panel 0, and says so in a finding. "
        "Compared as: igt marks none, igdscope marks panel 0"),
    "dtd_vsync_shift": (
        "igt 1.27.1's print_detail_timing_data() (block 23) shifts the vsync offset/width high bits by 8, not 4; "
        "compared against that formula when the high bits are set (none in the corpus)"),
}


def need_corpus() -> Path:
    return need(CORPUS)


# -- reading our side --------------------------------------------------------------------------


def get(d: dict, name: str, stats: Counter | None = None, default=0):
    """A field of a decoded dict; from not_valid_for_bdb if the version does not define it, 0 when
    absent (a short block) -- counting those two cases in ``stats``."""
    if name in d:
        return d[name]
    odd = d.get("not_valid_for_bdb") or {}
    if name in odd:
        if stats is not None:
            stats["not_valid_for_bdb"] += 1
        return odd[name]
    if stats is not None:
        stats["absent_reads_zero"] += 1
    return default


def val(x) -> int:
    return x["value"] if isinstance(x, dict) else int(x)


def yesno(b) -> str:
    return "yes" if b else "no"


# -- reading igt's side ------------------------------------------------------------------------

PANEL = re.compile(r"^Panel (\d+)( \*)?$")


def panel_groups(section: igt_text.Section) -> tuple[list[tuple[int, str]], dict[int, dict]]:
    """(lines before the first 'Panel N' line, {panel: {"selected", "lines": [(depth, text)]}})."""
    head, groups, cur = [], {}, None
    for depth, text in section.lines:
        m = PANEL.match(text) if depth == 1 else None
        if m:
            cur = {"selected": bool(m.group(2)), "lines": []}
            groups[int(m.group(1))] = cur
        elif cur is not None and depth >= 2:
            cur["lines"].append((depth, text))
        else:
            cur = None
            head.append((depth, text))
    return head, groups


def kv(lines) -> list[tuple[str, str]]:
    return [p for p in (igt_text.split_kv(t) for _, t in lines) if p]


def hexnum(s: str) -> int:
    m = re.search(r"\(0x([0-9a-f]+)\)", s)
    return int(m.group(1), 16)


class Compare:
    def __init__(self, name: str):
        self.name = name
        self.stats: Counter = Counter()
        self.compared = 0
        self.problems: list[str] = []

    def eq(self, where: str, igt, ours) -> None:
        self.compared += 1
        if igt != ours:
            self.problems.append(f"{self.name}: {where}: igt {igt!r}, igdscope {ours!r}")


# -- the comparisons, one per block ------------------------------------------------------------


def compare_block22(c: Compare, sec, f) -> None:
    names = {"backlight": "panel_backlight", "h40 type": "h40_set_panel_type", "type": "panel_type",
             "ssc_clk_freq": "ssc_clk_freq", "als_low_trip": "als_low_trip", "als_high_trip": "als_high_trip"}
    for k, v in sec.pairs():
        if k in names:
            c.eq(f"22 {k}", int(v), f[names[k]])
        elif k.startswith("misc["):
            c.eq(f"22 {k}", int(v, 16), f[f"panel_misc_bits_{int(k[5]) + 1}"])


def compare_dtd_text(c: Compare, where: str, lines, d: dict, buggy_vsync: bool) -> None:
    """igt's print_detail_timing_data() lines against a decoded DTD."""
    m = d["mode"]
    vs_start, vs_end = m["vsync_start"], m["vsync_end"]
    if buggy_vsync and (d["vsync_off"] >= 16 or d["vsync_pulse_width"] >= 16):
        c.stats["dtd_vsync_shift"] += 1
        vs_start = m["vdisplay"] + (d["vsync_off"] >> 4 << 8) + (d["vsync_off"] & 15)
        vs_end = vs_start + (d["vsync_pulse_width"] >> 4 << 8) + (d["vsync_pulse_width"] & 15)
    want = {
        "hdisplay": str(m["hdisplay"]),
        "hsync": f"[{m['hsync_start']}, {m['hsync_end']}] {'+sync' if d['hsync_positive'] else '-sync'}",
        "htotal": str(m["htotal"]),
        "vdisplay": str(m["vdisplay"]),
        "vsync": f"[{vs_start}, {vs_end}] {'+sync' if d['vsync_positive'] else '-sync'}",
        "vtotal": str(m["vtotal"]),
        "clock": str(m["clock"]),
    }
    got = {}
    for _, text in lines:
        kvp = igt_text.split_kv(text)
        if kvp:
            got[kvp[0]] = kvp[1]
        elif text.startswith(("hsync [", "vsync [")):
            got[text[:5]] = text[6:]
    for k, v in want.items():
        c.eq(f"{where} {k}", got.get(k), v)


def compare_block23(c: Compare, igt: igt_text.IgtDecode, f) -> None:
    idx = next(i for i, s in enumerate(igt.sections) if s.block_id == 23)
    groups = []
    for s in igt.sections[idx + 1 :]:
        if not s.title.isdigit():
            break
        groups.append(s)
    c.eq("23 DTD count", len(groups), len(f["dtd"]))
    for s, d in zip(groups, f["dtd"]):
        compare_dtd_text(c, f"23 DTD {s.title}", s.lines, d, buggy_vsync=True)


def check_star(c: Compare, where: str, index: int, igt_star: bool, ours_selected: bool, panel_type: int) -> None:
    """igt's '*' on a panel heading against igdscope's selection (see KNOWN panel_type_not_an_index)."""
    if panel_type > 15:
        c.stats["panel_type_not_an_index"] += 1
        c.eq(where, (igt_star, ours_selected), (False, index == 0))
    else:
        c.eq(where, igt_star, ours_selected)


def compare_block40(c: Compare, sec, f, sel_igt: int) -> None:
    top = dict(sec.pairs(1))
    c.eq("40 Panel type", int(top["Panel type"]), f["panel_type"])
    if "Panel type 2" in top:
        c.eq("40 Panel type 2", int(top["Panel type 2"]), get(f, "panel_type2", c.stats))
    for label, name in (("LVDS EDID available", "lvds_edid"), ("Pixel dither", "pixel_dither"), ("PFIT auto ratio", "pfit_ratio_auto"),
                        ("PFIT enhanced graphics mode", "pfit_gfx_mode_enhanced"), ("PFIT enhanced text mode", "pfit_text_mode_enhanced")):
        c.eq(f"40 {label}", top[label], yesno(get(f, name, c.stats)))
    c.eq("40 PFIT mode", int(top["PFIT mode"]), f["pfit_mode"])
    _, groups = panel_groups(sec)
    for i, g in groups.items():
        p = f["panels"][i]
        check_star(c, f"40 panel {i} selected", i, g["selected"], p["selected"], f["panel_type"])
        for k, v in kv(g["lines"]):
            name = {"Channel type": "lvds_panel_channel_bits", "SSC frequency": "ssc_freq", "Panel color depth": "panel_color_depth",
                    "DPS type": "dps_panel_type_bits", "Backlight type": "blt_control_type_bits", "Panel rotation": "rotation",
                    "Panel position": "position"}.get(k)
            if name:
                if k == "SSC frequency":
                    c.stats["ssc_frequency_mhz"] += 1
                c.eq(f"40 panel {i} {k}", hexnum(v), val(get(p, name, c.stats)))
                continue
            name = {"SSC": "ssc_bits", "Disable SSC in dual display twin": "ssc_ddt", "LCDVCC on during S0 state": "lcdvcc_s0_enable"}[k]
            c.eq(f"40 panel {i} {k}", v, yesno(get(p, name, c.stats)))
    if groups and f["panel_type"] > 15:
        c.eq("40 selected panel", (sel_igt, 0), (None, f["selected_panel"]))
    elif groups:
        c.eq("40 selected panel", sel_igt, f["selected_panel"])


def compare_ptrs(c: Compare, sec, ptr: list, name: dict, num_entries: int) -> None:
    head, groups = panel_groups(sec)
    top = dict(kv(head))
    c.eq("41 Number of entries", int(top["Number of entries"]), num_entries)
    for i, g in groups.items():
        got = dict(kv(g["lines"]))
        for label, t in (("FP timing", "fp_timing"), ("DVO timing", "dvo_timing"), ("Panel PnP ID", "panel_pnp_id")):
            c.eq(f"41 panel {i} {label} offset", int(got[f"{label} offset"]), ptr[i][t]["data_offset"])
            c.eq(f"41 panel {i} {label} table size", int(got[f"{label} table size"]), ptr[i][t]["table_size"])
    if "Panel name offset" in top:
        c.eq("41 Panel name offset", int(top["Panel name offset"]), name["data_offset"])
        c.eq("41 Panel name table size", int(top["Panel name table size"]), name["table_size"])
    else:
        c.eq("41 no panel names", 0, name["table_size"])


def compare_block42(c: Compare, sec, f, ours: Ours) -> None:
    _, groups = panel_groups(sec)
    res = L.lfp_data_ptrs(ours.context, ours.version)
    for i, g in groups.items():
        p = f["panels"][i]
        fp, d, pnp = p["fp_timing"], p["dvo_timing"], p["pnp_id"]
        m = d["mode"]
        lines = [t for _, t in g["lines"]]
        c.eq(f"42 panel {i} header", lines[0], f"{fp['x_res']}x{fp['y_res']} clock {d['clock'] * 10000}")
        got = dict(kv(g["lines"][1:]))
        for label, name in (("LVDS", "lvds_reg_val"), ("PP_ON_DELAYS", "pp_on_reg_val"), ("PP_OFF_DELAYS", "pp_off_reg_val"),
                            ("PP_DIVISOR", "pp_cycle_reg_val")):
            c.eq(f"42 panel {i} {label}", int(got[label], 16), fp[name])
        if "pfit_reg_val" in fp:
            c.eq(f"42 panel {i} PFIT", int(got["PFIT"], 16), fp["pfit_reg_val"])
        else:  # igt reads past the table: bytes 0x28-0x2B of the entry, inside the DTD behind it
            c.stats["pfit_past_fp_timing"] += 1
            at = res["ptr"][i]["fp_timing"]["data_offset"] + 0x28
            c.eq(f"42 panel {i} PFIT (past the table)", int(got["PFIT"], 16), int.from_bytes(ours.context[42][at : at + 4], "little"))
        bad = m["hsync_end"] > m["htotal"] or m["vsync_end"] > m["vtotal"]
        c.eq(f"42 panel {i} timings", got["timings"],
             f"{m['hdisplay']} {m['hsync_start']} {m['hsync_end']} {m['htotal']} {m['vdisplay']} {m['vsync_start']} "
             f"{m['vsync_end']} {m['vtotal']} {m['clock']:.2f} ({'BAD!' if bad else 'good'})")
        c.eq(f"42 panel {i} Mfg name", got["Mfg name"], f"{pnp['mfg_id']} ({pnp['mfg_name']:#x})")
        c.eq(f"42 panel {i} Product code", int(got["Product code"]), pnp["product_code"])
        c.eq(f"42 panel {i} Serial", int(got["Serial"]), pnp["serial"])
        c.eq(f"42 panel {i} Mfg week", int(got["Mfg week"]), pnp["mfg_week"])
        c.eq(f"42 panel {i} Mfg year", int(got["Mfg year"]), pnp["year"])
        if "Panel name" in got:
            c.eq(f"42 panel {i} Panel name", got["Panel name"], p["panel_name"].split("\0")[0].strip())
        for label, name in (("Scaling enable", "scaling_enable"), ("Dual LFP port sync enable", "dual_lfp_port_sync_enable"),
                            ("GPU dithering for banding artifacts", "gpu_dithering_for_banding_artifacts")):
            if label in got:
                c.eq(f"42 panel {i} {label}", got[label], yesno(get(p, name, c.stats)))
        for label, name in (("Seamless DRRS min refresh rate", "seamless_drrs_min_refresh_rate"), ("Pixel overlap count", "pixel_overlap_count")):
            if label in got:
                c.eq(f"42 panel {i} {label}", int(got[label]), get(p, name, c.stats))
        if "Top" in got:
            border = get(p, "black_border", c.stats, default={})
            c.stats["black_border_bottom"] += 1
            for label, name in (("Top", "top"), ("Bottom", "top"), ("Left", "left"), ("Right", "right")):
                c.eq(f"42 panel {i} black border {label}", int(got[label]), get(border, name, c.stats))
        check_star(c, f"42 panel {i} selected", i, g["selected"], p["selected"], ours.context[40][0] if ours.context.get(40) else 0)


def compare_block43(c: Compare, sec, f) -> None:
    head, groups = panel_groups(sec)
    if any("struct sizes don't match" in t for _, t in head):
        c.eq("43 entry size", True, f["entry_size"] != L.LFP_BACKLIGHT_ENTRY_SIZE)
        return
    for i, g in groups.items():
        p = f["panels"][i]
        got = dict(kv(g["lines"]))
        ctl = get(p, "backlight_control", c.stats, default={"type": 0, "controller": 0})
        for label, ours in (("Inverter type", val(p["type"])), ("Active low", int(p["active_low_pwm"])), ("PWM freq", p["pwm_freq_hz"]),
                            ("Minimum brightness", get(p, "min_brightness", c.stats)), ("Level", get(p, "level", c.stats)),
                            ("Control type", val(ctl["type"])), ("Controller", ctl["controller"])):
            c.eq(f"43 panel {i} {label}", int(got[label]), ours)


def compare_block44(c: Compare, sec, f) -> None:
    head, groups = panel_groups(sec)
    top = kv(head)
    feats = get(f, "features", c.stats, default={})
    als = [x for x in top if x[0].startswith("ALS") and x[0] != "ALS enable"]
    for label, value in top:
        if label == "ALS enable":
            c.eq("44 ALS enable", value, yesno(get(feats, "als_enable", c.stats)))
        elif label == "Display LACE support":
            c.eq("44 LACE support", value, yesno(get(feats, "lace_support", c.stats)))
        elif label == "Default Display LACE enabled status":
            c.eq("44 LACE enabled", value, yesno(get(feats, "lace_enabled_status", c.stats)))
        elif label == "Power conservation preference level":
            c.eq("44 power conservation pref", int(value), get(feats, "power_conservation_pref", c.stats))
        elif label == "Display LACE aggressiveness profile":
            c.eq("44 LACE aggressiveness profile", int(value), get(f, "lace_aggressiveness_profile", c.stats))
    for j in range(5):
        c.eq(f"44 ALS {j} backlight adjust", int(als[2 * j][1]), f["als"][j]["backlight_adjust"])
        c.eq(f"44 ALS {j} lux", int(als[2 * j + 1][1]), f["als"][j]["lux"])
    labels = {
        "Display Power Saving Technology (DPST)": "dpst", "Panel Self Refresh (PSR)": "psr",
        "Dynamic Refresh Rate Switching (DRRS)": "drrs", "Display LACE support": "lace_support",
        "Assertive Display Technology (ADT)": "adt", "Dynamic Media Refresh Rate Switching (DMRRS)": "dmrrs",
        "Automatic Display Brightness (ADB)": "adb", "Default Display LACE enabled": "lace_enabled_status",
        "EDP 4k/2k HOBL feature": "hobl", "Variable Refresh Rate (VRR)": "vrr_feature_enabled", "ELP": "elp", "OPST": "opst",
    }
    numbers = {"LACE Aggressiveness": "lace_aggressiveness", "DPST Aggressiveness": "dpst_aggressiveness",
               "ELP Aggressiveness": "elp_aggressiveness", "OPST Aggrgessiveness": "opst_aggressiveness"}
    for i, g in groups.items():
        p = f["panels"][i]
        for label, value in kv(g["lines"]):
            if label in labels:
                c.eq(f"44 panel {i} {label}", value, yesno(get(p, labels[label], c.stats)))
            else:
                c.eq(f"44 panel {i} {label}", int(value), get(p, numbers[label], c.stats))


def compare_file(name: str, igt: igt_text.IgtDecode, ours: Ours) -> Compare:
    c = Compare(name)
    blocks = igt.blocks
    sel_igt = next((int(m.group(1)) for s in blocks.values() for _, t in s.lines if (m := PANEL.match(t)) and m.group(2)), None)
    present = set(ours.fields)
    for bid in CORPUS_COMPARED:
        if bid == 41 and 41 not in present and 41 in blocks:
            continue  # generated: compared below
        c.eq(f"block {bid} present", bid in blocks, bid in present)
    if 22 in blocks:
        compare_block22(c, blocks[22], ours.fields[22])
    if 23 in blocks:
        compare_block23(c, igt, ours.fields[23])
    if 40 in blocks:
        compare_block40(c, blocks[40], ours.fields[40], sel_igt)
    if 41 in blocks:
        if 41 in ours.fields:
            f = ours.fields[41]
            compare_ptrs(c, blocks[41], f["ptr"], f["panel_name"], f["num_entries"])
            # with block 42's true position (from the walk) i915 would agree
            exact = L.lfp_data_ptrs(ours.context, ours.version, block42_offset=ours.offsets[42])
            c.eq("41 valid with the walked block 42 offset", exact["valid"], f["valid"])
        else:
            c.stats["generated_block41_section"] += 1
            res = L.lfp_data_ptrs(ours.context, ours.version)
            c.eq("42 pointers generated", ours.fields[42]["lfp_data_ptrs"]["source"], "generated")
            compare_ptrs(c, blocks[41], res["ptr"], res["panel_name"], res["num_entries"])
    if 42 in blocks:
        compare_block42(c, blocks[42], ours.fields[42], ours)
    if 43 in blocks:
        compare_block43(c, blocks[43], ours.fields[43])
    if 44 in blocks:
        compare_block44(c, blocks[44], ours.fields[44])
    return c


# -- the parity tests --------------------------------------------------------------------------

RESULTS: dict[str, Compare] = {}


@pytest.mark.parametrize("name,reference", corpus_pairs() or [("(corpus absent)", "")])
def test_panel_blocks_match_igt(name, reference):
    corpus = need_corpus()
    ours = Ours((corpus / name).read_bytes())
    igt = igt_text.load(corpus / reference)
    c = compare_file(name, igt, ours)
    RESULTS[name] = c
    assert not c.problems, "\n".join(c.problems[:30])
    assert set(c.stats) <= set(KNOWN)
    assert c.compared >= 10


@pytest.mark.igt
@pytest.mark.skipif(IGT is None, reason="intel_vbt_decode (intel-gpu-tools) is not installed")
@pytest.mark.parametrize("name,reference", corpus_pairs() or [("(corpus absent)", "")])
def test_all_16_panels_match_installed_igt(name, reference):
    corpus = need_corpus()
    if not igt_version().startswith("1.27"):
        pytest.skip("the installed intel_vbt_decode is not igt 1.27.x, whose output these comparisons read")
    igt = igt_all_panels(corpus / name)
    c = compare_file(name, igt, Ours((corpus / name).read_bytes()))
    assert not c.problems, "\n".join(c.problems[:30])
    assert set(c.stats) <= set(KNOWN)


def test_parity_summary():
    """The totals over the corpus (run with -s to see them): files, blocks, fields, known differences."""
    cases = corpus_pairs()
    if not cases:
        pytest.skip(f"the shared corpus ({CORPUS}) is absent")
    blocks = Counter()
    total = Counter()
    fields = 0
    for name, reference in cases:
        ours = Ours((CORPUS / name).read_bytes())
        igt = igt_text.load(CORPUS / reference)
        c = RESULTS.get(name) or compare_file(name, igt, ours)
        assert not c.problems
        fields += c.compared
        total.update(c.stats)
        for bid in CORPUS_COMPARED:
            if bid in igt.blocks:
                blocks[bid] += 1
    print(f"\npanel-block parity with igt 1.27.1: {len(cases)} files, blocks compared {dict(sorted(blocks.items()))}, "
          f"{fields} field comparisons; known differences: {dict(total)}")
    assert len(cases) == 40 and blocks[40] >= 30 and blocks[42] >= 30 and fields > 3500
    assert set(total) <= set(KNOWN)


# -- unit tests: blocks built here ---------------------------------------------------------------



def test_struct_sizes_match_the_kernel():
    assert D.EdidDtd.sizeof() == 18 and D.GenericDtdEntry.sizeof() == 28
    assert L.LfpOptions.sizeof() == 34 and L.LfpDataPtrs.sizeof() == 148 and L.FpTiming.sizeof() == 46
    assert L.PnpId.sizeof() == 10 and L.LfpDataTail.sizeof() == 310
    assert L.LfpBacklight.sizeof() == 305 and L.LfpPower.sizeof() == 136
    assert L.SdvoLvdsOptions.sizeof() == 22 and L.SdvoLvdsDtd.sizeof() == 72
    off = L.LFP_POWER_OFFSETS
    assert off["psr"][0] == 0x18 and off["drrs"][0] == 0x1A and off["aggressiveness"][0] == 0x26 and off["hobl"][0] == 0x36
    assert off["vrr_feature_enabled"][0] == 0x38 and off["panel_identification"][0] == 0x62 and off["tcon_backlight_xpst_coexistence"][0] == 0x86
    off = L.LFP_BACKLIGHT_OFFSETS
    assert (off["level"][0], off["backlight_control"][0], off["brightness_level"][0], off["brightness_min_level"][0],
            off["brightness_precision_bits"][0], off["hdr_dpcd_refresh_timeout"][0]) == (0x61, 0x71, 0x81, 0xC1, 0x101, 0x111)
    off = L.LFP_DATA_TAIL_OFFSETS
    assert (off["scaling_enable"][0], off["seamless_drrs_min_refresh_rate"][0], off["pixel_overlap_count"][0], off["black_border"][0],
            off["dual_lfp_port_sync_enable"][0], off["gpu_dithering_for_banding_artifacts"][0]) == (0xD0, 0xD2, 0xE2, 0xF2, 0x132, 0x134)
    off = L.LFP_OPTIONS_OFFSETS
    assert (off["lvds_panel_channel_bits"][0], off["dps_panel_type_bits"][0], off["lcdvcc_s0_enable"][0], off["rotation"][0],
            off["position"][0]) == (4, 0x10, 0x18, 0x1A, 0x1E)



def lfp_vbt(version: int, *, panel_type: int = 1, with_ptrs: bool = False, fp_size: int = 38, extra: list | None = None,
            lfp2: int | None = None) -> bytes:
    entries = [{"fp_timing": {"x_res": 640 + i, "y_res": 768, "lvds_reg_val": 0x300 + i}, "dvo_timing": D.build_dtd(**{**PANEL_1366, "hactive": 640 + i}),
                "pnp_id": {"mfg_name": 0xAE30, "product_code": 0x4000 + i, "serial": i, "mfg_year": 20}} for i in range(16)]
    tail = {"panel_name": [f"PANEL{i}" for i in range(16)], "scaling_enable": 0x0002, "seamless_drrs_min_refresh_rate": [40 + i for i in range(16)],
            "black_border": [{"top": 1, "bottom": 2, "left": 3, "right": 4}] * 16, "gpu_dithering_for_banding_artifacts": 0x0002}
    data42 = L.build_lfp_data(entries, fp_timing_size=fp_size, tail=tail)
    options = L.build_raw(40, {"panel_type": panel_type, "panel_type2": lfp2 or 0, "dps_panel_type_bits": 2 << 2, "rotation": 2 << 2})
    blocks = [(40, options)]
    if lfp2 is not None:
        child = bytes([0x80, 0x00, 0x22, 0x10]) + bytes(35)
        blocks.insert(0, (2, bytes([0, 0, 0, 0, 39]) + child))
    if with_ptrs:
        at = 22 + sum(3 + len(b) for _, b in blocks) + 3 + 148 + 3  # block 42's data, behind block 41
        blocks.append((41, L.build_lfp_data_ptrs(at, fp_timing_size=fp_size - 6)))
    blocks.append((42, data42))
    blocks += extra or []
    return V.build_vbt(version, blocks)


def decode_all(vbt: bytes) -> dict:
    res = vbt_decode(vbt)
    out = {}
    for b in res["blocks"]:
        assert "error" not in b, b
        assert list(b) == ["id", "name", "offset", "size", "fields", "findings"]  # the JSON shape of a block
        out[b["id"]] = {**b["fields"], "findings": b["findings"]}
    return out


def test_block41_missing_pointers_are_generated():
    blocks = decode_all(lfp_vbt(240))
    assert 41 not in blocks
    b42 = blocks[42]
    assert b42["lfp_data_ptrs"] == {"source": "generated", "valid": True, "fp_timing_size": 38, "entry_size": 66, "panel_name_offset": 1056}
    p = b42["panels"][1]
    assert p["selected"] and b42["selected_panel"] == 1 and not b42["panels"][0]["selected"]
    assert p["fp_timing"]["x_res"] == 641 and p["fp_timing"]["lvds_reg_val"] == 0x301 and p["fp_timing"]["terminator"] == 0xFFFF
    assert "pfit_reg_val" not in p["fp_timing"]
    assert p["dvo_timing"]["mode"]["hdisplay"] == 641 and p["pnp_id"]["mfg_id"] == "LEN" and p["pnp_id"]["year"] == 2010
    assert p["panel_name"] == "PANEL1" and p["scaling_enable"] is True and p["seamless_drrs_min_refresh_rate"] == 41
    assert p["black_border"] == {"top": 1, "bottom": 2, "left": 3, "right": 4} and "gpu_dithering_for_banding_artifacts" not in p
    assert b42["findings"] == []
    # the same through the public helper
    res = L.lfp_data_ptrs({42: L.build_lfp_data([], tail={})}, 240)
    assert res["source"] == "generated" and res["ptr"][15]["panel_pnp_id"] == {"data_offset": 15 * 66 + 56, "table_size": 10}


def test_block41_missing_before_bdb155_means_no_panels():
    blocks = decode_all(lfp_vbt(154))
    assert blocks[42]["lfp_data_ptrs"]["source"] is None and blocks[42]["panels"] == []
    assert any("only from BDB 155" in f for f in blocks[42]["findings"])


def test_block41_present_converted_and_validated():
    vbt = lfp_vbt(165, with_ptrs=True, fp_size=46)
    blocks = decode_all(vbt)
    b41 = blocks[41]
    assert b41["valid"] and b41["fp_timing_size"] == 46 and b41["entry_size"] == 74
    assert b41["ptr"][1]["fp_timing"]["data_offset"] == 74 and b41["ptr"][1]["fp_timing"]["table_size"] == 40
    assert b41["panel_name"]["data_offset"] == 16 * 74 and b41["ptr"][1]["selected"]
    w = V.walk_blocks(vbt)
    at = next(b["offset"] for b in w["blocks"] if b["id"] == 42) + 3 - 48
    assert b41["ptr"][0]["fp_timing"]["offset"] == at
    p = blocks[42]["panels"][1]
    assert p["fp_timing"]["pfit_reg_val"] == 0 and p["fp_timing"]["terminator"] == 0xFFFF  # 46-byte table holds pfit
    assert blocks[42]["lfp_data_ptrs"]["source"] == "block 41"


def test_block41_hostile_pointers():
    good = lfp_vbt(200, with_ptrs=True)
    ctx = {b["id"]: b["raw"] for b in V.walk_blocks(good)["blocks"]}
    raw41 = bytearray(ctx[41])
    # panel 5's DTD pointer far beyond block 42, panel 0 fine
    off = 1 + 9 * 5 + 3
    raw41[off : off + 2] = (0xFFF0).to_bytes(2, "little")
    d41 = V.decode_block(41, bytes(raw41), 200, {**ctx, 41: bytes(raw41)})
    assert not d41["valid"] and any("panel 5 dvo_timing is not" in f for f in d41["findings"])
    d42 = V.decode_block(42, ctx[42], 200, {**ctx, 41: bytes(raw41)})
    assert not d42["lfp_data_ptrs"]["valid"] and "dvo_timing" not in d42["panels"][5]
    assert any("panel(s) 5" in f for f in d42["findings"])
    # a pointer before block 42, wrong entry count, tiny table sizes, garbage everywhere
    for patch in ((1, (3).to_bytes(2, "little")), (0, b"\x07"), (3, b"\x01"), (1, b"\x00\x00")):
        bad = bytearray(ctx[41])
        bad[patch[0] : patch[0] + len(patch[1])] = patch[1]
        res = L.lfp_data_ptrs({**ctx, 41: bytes(bad)}, 200)
        assert not res["valid"] and res["reason"]
        V.decode_block(42, ctx[42], 200, {**ctx, 41: bytes(bad)})
    # the walked offset of block 42 (given) disagrees with the pointers: i915 rejects them
    assert not L.lfp_data_ptrs(ctx, 200, block42_offset=ctx[41][1] + 256 * ctx[41][2] + 2)["valid"]
    rng = random.Random(41)
    for _ in range(300):
        bad = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 3, 60, 145, 148, 200])))
        V.decode_block(41, bad, 200, {**ctx, 41: bad})
        V.decode_block(42, ctx[42], 200, {**ctx, 41: bad})


def test_block42_hostile_sizes():
    for n in (0, 1, 65, 66 * 16 - 1, 66 * 16, 66 * 16 + 12, 2000):
        data = bytes(n)
        d = V.decode_block(42, data, 240, {42: data})
        assert isinstance(d["findings"], list)
    # terminators missing: generated pointers rejected, panels read for diagnosis
    data = bytes(66 * 16)
    d = V.decode_block(42, data, 240, {42: data})
    assert not d["lfp_data_ptrs"]["valid"] and "0xFFFF terminator" in d["lfp_data_ptrs"]["reason"] and len(d["panels"]) == 16


def test_block40_gates_and_sizes():
    full = L.build_raw(40, {"panel_type": 3, "panel_type2": 5, "lvds_edid": True, "blt_control_type_bits": 1 << 6,
                            "lcdvcc_s0_enable": 1 << 3, "rotation": 3 << 6, "position": 1 << 6, "panel_color_depth": 1 << 3})
    new = V.decode_block(40, full, 250, {})
    assert "lvds_edid" not in new and new["not_valid_for_bdb"] == {"lvds_edid": True} and new["panel_type2"] == 5
    p3 = new["panels"][3]
    assert p3["selected"] and p3["rotation"] == {"value": 3, "name": "270 degrees"} and p3["position"]["name"] == "outside_shell"
    assert p3["lcdvcc_s0_enable"] and p3["panel_color_depth"]["name"] == "24bpp"
    assert "blt_control_type_bits" not in p3 and p3["not_valid_for_bdb"]["blt_control_type_bits"]["name"] == "ccfl"
    old = V.decode_block(40, full[:16], 150, {})
    assert "panel_type2" not in old and old["not_valid_for_bdb"] == {"panel_type2": 5}
    assert set(old["panels"][3]) == {"panel", "selected", "lvds_panel_channel_bits", "ssc_bits", "ssc_freq", "ssc_ddt", "panel_color_depth"}
    assert any("dps_panel_type_bits, blt_control_type_bits" in f for f in old["findings"])
    tiny = V.decode_block(40, full[:4], 150, {})
    assert tiny["panels"][0] == {"panel": 0, "selected": False} and any("under 16" in f for f in tiny["findings"])
    for b in (b"", b"\x07", b"\xff" * 40):
        V.decode_block(40, b, 240, {})


def test_panel_type_selection():
    assert L.panel_selection({40: b"\x05"}, 240)["lfp1"] == 5
    sel = L.panel_selection({40: b"\xff"}, 240)
    assert sel["lfp1"] == 0 and sel["source"] == "pnpid" and "EDID" in sel["findings"][0]
    sel = L.panel_selection({40: b"\x20"}, 240)
    assert sel["lfp1"] == 0 and sel["source"] == "fallback" and "invalid" in sel["findings"][0]
    assert L.panel_selection({}, 240)["source"] == "fallback"
    blocks = decode_all(lfp_vbt(240, panel_type=2, lfp2=7))
    assert blocks[40]["selected_panel"] == 2 and blocks[40]["selected_panel2"] == 7
    assert blocks[42]["panels"][7]["selected_lfp2"] and not blocks[42]["panels"][7]["selected"]
    assert "selected_panel2" not in decode_all(lfp_vbt(240, panel_type=2))[40]


def test_block43_versions_and_i915_view():
    values = {"entry_size": 6, "data": [{"type": 2, "pwm_freq_hz": 200 + i, "min_brightness": 10, "active_low_pwm": i == 1} for i in range(16)],
              "level": [255] * 16, "backlight_control": [{"type": 7, "controller": 1}] * 16,
              "brightness_level": [{"level": 65535}] * 16, "brightness_min_level": [{"level": 2550}] * 16,
              "brightness_precision_bits": [16] * 16, "hdr_dpcd_refresh_timeout": [3001] * 16}
    raw = L.build_raw(43, values)
    ctx = {40: L.build_raw(40, {"panel_type": 1})}
    new = V.decode_block(43, raw, 240, ctx)
    p = new["panels"][1]
    assert p["pwm_freq_hz"] == 201 and p["active_low_pwm"] and p["brightness_level"] == 65535 and p["hdr_dpcd_refresh_timeout"] == 3001
    assert "min_brightness" not in p and p["not_valid_for_bdb"] == {"min_brightness": 10, "level": 255}
    assert new["i915"] == {"present": True, "pwm_freq_hz": 201, "active_low_pwm": True, "type": {"value": 7, "name": "display_engine_pwm_custom_edp_aux"},
                           "controller": 1, "min_brightness": 10, "level": 65535, "brightness_precision_bits": 16, "hdr_dpcd_refresh_timeout_ms": 31}
    old = V.decode_block(43, raw[: 1 + 96 + 16], 180, ctx)
    assert old["panels"][1]["level"] == 255 and "backlight_control" not in old["panels"][1]
    assert old["i915"]["min_brightness"] == 10 and old["i915"]["level"] == 255 and old["i915"]["type"]["name"] == "display_ddi"
    v191 = V.decode_block(43, raw[: 1 + 96 + 16], 200, ctx)
    assert any("backlight_control" in f for f in v191["findings"])
    wrong = V.decode_block(43, b"\x05" + raw[1:], 240, ctx)
    assert "panels" not in wrong and "not 6" in wrong["findings"][0]
    assert V.decode_block(43, b"", 240, ctx)["findings"]


def test_block44_versions():
    values = {"features": {"als_enable": True, "lace_support": True, "power_conservation_pref": 5, "dpst_support": True},
              "als": [{"backlight_adjust": 70, "lux": 0}] * 5, "lace_aggressiveness_profile": 3, "dpst": 0xFFFF, "psr": 0x0004,
              "drrs": 0x0004, "vrr_feature_enabled": 0x0004, "hobl": 0x0004, "aggressiveness": [{"dpst_aggressiveness": 6, "lace_aggressiveness": 2}] * 16,
              "panel_identification": [{"panel_technology": 3}] * 16, "xpst_support": 0x0004}
    raw = L.build_raw(44, values)
    ctx = {40: b"\x02"}
    old = V.decode_block(44, raw[:22], 215, ctx)
    assert old["features"] == {"als_enable": True, "lace_support": True, "lace_enabled_status": False, "power_conservation_pref": 5,
                               "not_valid_for_bdb": {"dpst_support": True}}
    assert old["lace_aggressiveness_profile"] == 3 and old["panels"][2] == {"panel": 2, "selected": True}
    assert old["i915"]["vrr"] is True
    new = V.decode_block(44, raw, 261, ctx)
    p = new["panels"][2]
    assert "features" not in new and new["not_valid_for_bdb"]["features"]["als_enable"] is True
    assert p["psr"] and p["drrs"] and p["vrr_feature_enabled"] and p["hobl"] and p["panel_technology"] == 3 and p["xpst_support"]
    assert "dpst" not in p and p["not_valid_for_bdb"]["dpst"] is True and p["not_valid_for_bdb"]["dpst_aggressiveness"] == 6
    assert new["i915"] == {"psr": True, "drrs": True, "dmrrs": False, "hobl": True, "vrr": True}
    short = V.decode_block(44, raw[:56], 240, ctx)
    assert "vrr_feature_enabled" not in short["panels"][2] and any("vrr_feature_enabled" in f for f in short["findings"])


def test_sdvo_blocks():
    opts = L.build_raw(22, {"panel_type": 2, "ssc_clk_freq": 7, "panel_misc_bits_1": 0x30}) + b"\x00"
    dtds = b"".join(D.build_dtd(**{**PANEL_1366, "hactive": 1000 + i}) for i in range(4))
    blocks = decode_all(V.build_vbt(160, [(22, opts), (23, dtds)]))
    assert blocks[22]["panel_type"] == 2 and blocks[22]["panel_misc_bits_1"] == 0x30 and blocks[22]["unparsed"] == "00"
    assert [d["selected"] for d in blocks[23]["dtd"]] == [False, False, True, False] and blocks[23]["selected_dtd"] == 2
    assert blocks[23]["dtd"][3]["mode"]["hdisplay"] == 1003 and blocks[23]["findings"] == []
    bad = V.decode_block(22, L.build_raw(22, {"panel_type": 9}), 160, {})
    assert "past block 23" in bad["findings"][0]
    short = V.decode_block(23, dtds[:40], 160, {})
    assert len(short["dtd"]) == 2 and len(short["findings"]) == 3
    big = V.decode_block(23, dtds + dtds, 160, {22: opts})
    assert len(big["dtd"]) == 8 and any("beyond the 4" in f for f in big["findings"])



def built_vbts() -> dict[str, bytes]:
    """VBTs built here that exercise what the corpus does not: a 6-bit vsync offset (igt's block 23
    shift), 46-byte fp_timing tables behind a block 41, an LFP2 child, new backlight/power fields."""
    dtd = D.build_dtd(**{**PANEL_1366, "vsync_off": 35, "vsync_pulse_width": 18, "vblank": 80})
    backlight = L.build_raw(43, {"entry_size": 6, "data": [{"type": 2, "pwm_freq_hz": 1000 + i, "min_brightness": i} for i in range(16)],
                                 "level": list(range(100, 116)), "backlight_control": [{"type": 2, "controller": i % 4} for i in range(16)]})
    power = L.build_raw(44, {"features": {"als_enable": True, "power_conservation_pref": 3}, "psr": 0x5555, "drrs": 0x00FF, "hobl": 0xF0F0,
                             "vrr_feature_enabled": 0x1234, "aggressiveness": [{"dpst_aggressiveness": i % 8, "lace_aggressiveness": 7 - i % 8} for i in range(16)]})
    return {
        "bdb240-generated-vsync35": lfp_vbt(240, panel_type=3, extra=[(22, L.build_raw(22, {"panel_type": 1})), (23, dtd * 4), (43, backlight), (44, power)]),
        "bdb165-block41-fp46": lfp_vbt(165, panel_type=4, with_ptrs=True, fp_size=46, extra=[(43, backlight[:113]), (44, power[:22])]),
        "bdb236-lfp2": lfp_vbt(236, panel_type=5, lfp2=6, extra=[(43, backlight), (44, power[:58])]),
        "bdb250-panel-type-ff": lfp_vbt(250, panel_type=0xFF, extra=[(43, backlight), (44, power)]),
        "bdb250-panel-type-32": lfp_vbt(250, panel_type=32, extra=[(43, backlight)]),
    }


@pytest.mark.igt
@pytest.mark.skipif(IGT is None, reason="intel_vbt_decode (intel-gpu-tools) is not installed")
@pytest.mark.parametrize("label", sorted(built_vbts()))
def test_built_vbts_match_installed_igt(label, tmp_path):
    if not igt_version().startswith("1.27"):
        pytest.skip("the installed intel_vbt_decode is not igt 1.27.x, whose output these comparisons read")
    path = tmp_path / f"{label}.vbt"
    path.write_bytes(built_vbts()[label])
    proc = subprocess.run([IGT, f"--file={path}", "--all-panels"], capture_output=True, text=True, timeout=60)
    igt = igt_text.parse(proc.stdout)
    c = compare_file(label, igt, Ours(path.read_bytes()))
    assert not c.problems, "\n".join(c.problems[:30])
    assert set(c.stats) <= set(KNOWN) and c.compared > 400
    if label.startswith("bdb240"):
        assert c.stats["dtd_vsync_shift"] == 4  # igt's block 23 printer, confirmed on the binary
    assert (c.stats["panel_type_not_an_index"] > 0) == ("panel-type" in label)


RANDOM_BLOCK_IDS = (22, 23, 40, 41, 42, 43, 44, 58)  # with dtd.py's block 58, which block 42 shares its DTDs with


def test_random_panel_blocks_never_raise_other_errors():
    rng = random.Random(0x1F)
    for _ in range(400):
        bid = rng.choice(RANDOM_BLOCK_IDS)
        n = rng.choice([0, 1, 2, 5, 18, 22, 34, 72, 145, 148, 305, 1300, 4000])
        raw = bytes(rng.getrandbits(8) for _ in range(n))
        ctx = {k: bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 40, 148, 1366]))) for k in rng.sample([2, 22, 40, 41, 42], 3)}
        ctx[bid] = raw
        try:
            V.decode_block(bid, raw, rng.choice([100, 155, 200, 229, 240, 256, 263]), ctx)
        except DecodeError:
            pass


def test_blocks_round_trip_through_construct():
    for bid, struct in L.STRUCTS.items():
        rng = random.Random(bid)
        raw = bytes(rng.getrandbits(8) for _ in range(struct.sizeof()))
        assert build(struct, decode(struct, raw, "x"), "x") == raw, bid
    entry = bytes(random.Random(58).getrandbits(8) for _ in range(28))
    assert build(D.GenericDtdEntry, decode(D.GenericDtdEntry, entry, "x"), "x") == entry
