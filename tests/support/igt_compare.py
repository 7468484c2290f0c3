"""Comparing igdscope's decode of the VBT blocks i915 reads with what intel_vbt_decode (igt 1.27.1)
prints for them, field by field: the parts the parity files share. Each parity file
(tests/test_parity_<module>.py) holds the comparers of its own blocks and the known differences
for them, and runs them on the corpus and on VBTs built here with :func:`compare_decoded`.

A comparer computes, for every line igt prints in its block, the line igt would print from
igdscope's decoded values (raw fields and derived ``meaning`` / ``panels`` / ``entries``) and
compares the two through a :class:`Checker`; a line it cannot predict is itself a difference, so
nothing igt prints is silently skipped. Every difference is either absent or explained by a
:class:`Known` entry of the parity file."""

from __future__ import annotations

import functools
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from igdscope import platforms
from igdscope.decode.files import sniff
from igdscope.decode.firmware import vbt_decode
from igdscope.schemas import vbt as V
from igdscope.schemas.vbtblocks import general
from tests.support import igt_text
from tests.support.shared import CORPUS, need

IGT = shutil.which("intel_vbt_decode")
IGT_NEW = os.environ.get("IGDSCOPE_IGT_VBT_DECODE")  # a newer intel_vbt_decode, one that decodes the misc blocks


def corpus_dir() -> Path:
    return need(CORPUS)


def corpus_pairs() -> list[tuple[str, str]]:
    """(binary, reference decode) for every corpus file holding a VBT."""
    if not CORPUS.is_dir():
        return []
    out = []
    for p in sorted(CORPUS.iterdir()):
        if p.suffix in (".vbt", ".rom"):
            out.append((p.name, p.name + ".igt.txt"))
        elif p.suffix == ".opregion":
            out.append((p.name, p.name + ".igt-vbt.txt"))  # intel_vbt_decode on the OpRegion
    return out


def yn(value) -> str:
    return "yes" if value else "no"


def val(x) -> int:
    return int(x["value"]) if isinstance(x, dict) else int(x or 0)


def field(d: dict, name: str):
    """A decoded field whether or not the BDB version defines it (gated values live aside; zero
    ones are dropped) -- igt 1.27.1 prints some fields regardless of the version."""
    if name in d:
        return d[name]
    return (d.get("not_valid_for_bdb") or {}).get(name, 0)


def nm(meaning_entry: dict, unknown: str = "unknown") -> str:
    name = meaning_entry.get("name")
    return unknown if name is None else name


# -- what igt 1.27.1 would print, from igdscope's decode ---------------------------------------------

IGT_HANDLES = {  # igt 1.27.1 child_device_handles[] (exact match on the low byte)
    "crt": "CRT", "efp1": "EFP 1 (HDMI/DVI/DP)", "efp2": "EFP 2 (HDMI/DVI/DP)", "efp3": "EFP 3 (HDMI/DVI/DP)",
    "efp4": "EFP 4 (HDMI/DVI/DP)", "lfp1": "LFP 1 (eDP)", "lfp2": "LFP 2 (eDP)",
}
IGT_TYPE_BITS = {  # igt's bit labels -> DeviceTypeFlags names ("HDMI output" = NOT_HDMI bit clear)
    "Class extension": "class_extension", "Power management": "power_management", "Hotplug signaling": "hotplug_signaling",
    "Internal connector": "internal_connector", "MIPI output": "mipi_output", "Composite output": "composite_output",
    "Dual channel": "dual_channel", "Content protection": "content_protection", "High speed link": "high_speed_link",
    "LVDS signaling": "lvds_signaling", "TMDS/DVI signaling": "tmds_dvi_signaling", "Video signaling": "video_signaling",
    "DisplayPort output": "displayport_output", "Digital output": "digital_output", "Analog output": "analog_output",
}


def igt_vswing(m: dict) -> str:
    return f"{nm(m, '<unknown>').replace(' ', '')} (0x{m['value']:x})"


def _igt_gbps_of(name: str | None) -> str | None:
    m = re.search(r"\(([\d.]+) Gbps\)", name or "")
    return f"{float(m.group(1)):g}" if m else None


def _igt_dp_max_link_rate(m: dict) -> str:
    gbps = _igt_gbps_of(m["name"])
    return f"{gbps} Gbps (0x{m['value']:02x})" if gbps else f"<platform max> (0x{m['value']:02x})"


def _igt_hdmi_rate(m: dict) -> str:
    if m["value"] == 0:
        return "<platform max> (0x00)"
    return f"{nm(m, '<unknown>')} (0x{m['value']:02x})"


def _igt_handle(c: dict, m: dict) -> str:
    bits = m["handle"]["bits"]
    if m["handle"]["value"] == 0:
        name = "none"
    elif len(bits) == 1 and bits[0] in IGT_HANDLES:
        name = IGT_HANDLES[bits[0]]
    else:
        name = m["handle"]["name"]
    return f"0x{c['handle']:04x} ({name})"


def h2(x) -> str:
    return f"0x{val(x):02x}"


# label -> what igt prints for a child (c: decoded child, m: its meaning)
CHILD_LINES: dict[str, Callable[[dict, dict], str]] = {
    "Device handle": _igt_handle,
    "Device type": lambda c, m: f"0x{c['device_type']:04x}",  # the composite name is compared by value only
    "Signature": lambda c, m: c["device_id"],
    "I2C speed": lambda c, m: f"{nm(m['i2c_speed'], '<unknown>')} (0x{c['i2c_speed']:02x})",
    "HDMI max data rate": lambda c, m: _igt_hdmi_rate(m["hdmi_max_data_rate"]),
    "HDMI level shifter value": lambda c, m: h2(field(c, "hdmi_level_shifter_value")),
    "Offset to DTD buffer for edidless CHILD": lambda c, m: h2(field(c, "dtd_buf_ptr")),
    "Disable compression for external DP/HDMI": lambda c, m: yn(field(c, "disable_compression_for_ext_disp")),
    "LTTPR Mode": lambda c, m: ("non-" if field(c, "lttpr_non_transparent") else "") + "transparent",
    "Dual pipe ganged eDP": lambda c, m: yn(field(c, "ganged_edp")),
    "Compression method CPS": lambda c, m: yn(field(c, "compression_method_cps")),
    "Compression enable": lambda c, m: yn(field(c, "compression_enable")),
    "Edidless EFP": lambda c, m: yn(field(c, "edidless_efp")),
    "Compression structure index": lambda c, m: str(field(c, "compression_structure_index")),
    "HDMI Max FRL rate valid": lambda c, m: yn(field(c, "hdmi_max_frl_rate_valid")),
    "HDMI Max FRL rate": lambda c, m: f"{nm(m['hdmi_max_frl_rate'], '<unknown>')} (0x{m['hdmi_max_frl_rate']['value']:x})",
    "AIM offset": lambda c, m: str(c["addin_offset"]),
    "DVO Port": lambda c, m: f"{nm(m['dvo_port'])} (0x{val(c['dvo_port']):02x})",
    "AIM I2C pin": lambda c, m: h2(c["i2c_pin"]),
    "AIM Slave address": lambda c, m: h2(c["target_addr"]),
    "DDC pin": lambda c, m: h2(c["ddc_pin"]),
    "EDID buffer ptr": lambda c, m: h2(c["edid_ptr"]),
    "DVO config": lambda c, m: h2(c["dvo_cfg"]),
    "DVO2 Port": lambda c, m: f"0x{val(c['dvo2_port']):02x} ({nm(m['dvo2_port'])})",
    "I2C2 pin": lambda c, m: h2(c["i2c2_pin"]),
    "Slave2 address": lambda c, m: h2(c["target2_addr"]),
    "DDC2 pin": lambda c, m: h2(c["ddc2_pin"]),
    "eDP/DP max lane count": lambda c, m: m["dp_max_lane_count"]["name"].upper(),
    "Use VBT vswing/premph table": lambda c, m: yn(field(c, "use_vbt_vswing")),
    "HPD sense invert": lambda c, m: yn(field(c, "hpd_invert")),
    "Iboost enable": lambda c, m: yn(field(c, "iboost")),
    "Onboard LSPCON": lambda c, m: yn(field(c, "lspcon")),
    "Lane reversal": lambda c, m: yn(field(c, "lane_reversal")),
    "EFP routed through dock": lambda c, m: yn(field(c, "efp_routed")),
    "Aux channel": lambda c, m: f"{nm(m['aux_channel'])} (0x{val(c['aux_channel']):02x})",
    "Dongle detect": lambda c, m: h2(c["dongle_detect"]),
    "Integrated encoder instead of SDVO": lambda c, m: yn(c["integrated_encoder"]),
    "Hotplug connect status": lambda c, m: h2(c["hpd_status"]),
    "SDVO stall signal available": lambda c, m: yn(field(c, "sdvo_stall")),
    "Pipe capabilities": lambda c, m: h2(c["pipe_cap"]),
    "DVO wiring": lambda c, m: h2(c["dvo_wiring"]),
    "DVO2 wiring": lambda c, m: h2(c["dvo2_wiring"]),
    "MIPI bridge type": lambda c, m: f"{c['mipi_bridge_type']:02x} ({nm(m['mipi_bridge_type'])})",
    "Device class extension": lambda c, m: h2(c["extended_type"]),
    "DVO function": lambda c, m: h2(c["dvo_function"]),
    "DP port trace length": lambda c, m: f"0x{field(c, 'dp_port_trace_length'):x}",
    "Thunderbolt port": lambda c, m: yn(field(c, "tbt")),
    "DP USB type C support": lambda c, m: yn(field(c, "dp_usb_type_c")),
    "2X DP GPIO index": lambda c, m: h2(field(c, "dp_gpio_index")),
    "2X DP GPIO pin number": lambda c, m: h2(field(c, "dp_gpio_pin_num")),
    "IBoost level for DP/eDP": lambda c, m: h2(field(c, "dp_iboost_level")),
    "IBoost level for HDMI": lambda c, m: h2(field(c, "hdmi_iboost_level")),
    "DP max link rate": lambda c, m: _igt_dp_max_link_rate(m["dp_max_link_rate"]),
}
CHILD_SUB_LINES = {  # "<parent>/<label>" for the depth-3 lines under "DP onboard redriver:" etc.
    "DP onboard redriver/present": lambda c, m: yn(field(c, "dp_onboard_redriver_present")),
    "DP onboard redriver/vswing": lambda c, m: igt_vswing(m["dp_onboard_redriver_vswing"]),
    "DP onboard redriver/pre-emphasis": lambda c, m: igt_vswing(m["dp_onboard_redriver_preemph"]),
    "DP ondock redriver/present": lambda c, m: yn(field(c, "dp_ondock_redriver_present")),
    "DP ondock redriver/vswing": lambda c, m: igt_vswing(m["dp_ondock_redriver_vswing"]),
    "DP ondock redriver/pre-emphasis": lambda c, m: igt_vswing(m["dp_ondock_redriver_preemph"]),
}
CHILD_QUESTIONS = {"TMDS": "tmds_support", "DP": "dp_support", "HDMI": "hdmi_support"}


@dataclass
class Diff:
    file: str
    block: int
    where: str  # "child 3", "panel 2", "" ...
    label: str
    igt: str
    ours: str
    version: int

    def __str__(self) -> str:
        return f"{self.file} block {self.block} {self.where} {self.label!r}: igt {self.igt!r}, igdscope {self.ours!r}"


class Checker:
    def __init__(self, file: str, version: int, all_panels: bool = False):
        self.file, self.version, self.all_panels = file, version, all_panels
        self.panel_type = 0  # igt 1.27.1's: block 40 byte 0 (see raw_panel_type)
        self.gen_key = "gen5+"  # the generation igt used for SSC MHz (see igt_gen_key)
        self.diffs: list[Diff] = []
        self.compared = 0

    def eq(self, block: int, where: str, label: str, igt: str, ours: str) -> None:
        self.compared += 1
        if igt.strip() != ours.strip():
            self.diffs.append(Diff(self.file, block, where, label, igt.strip(), ours.strip(), self.version))

    def unknown_line(self, block: int, where: str, text: str) -> None:
        self.diffs.append(Diff(self.file, block, where, "(line the test cannot predict)", text, "", self.version))


def compare_child(ck: Checker, block: int, where: str, lines: list[tuple[int, str]], child: dict) -> None:
    m = child.get("meaning")
    assert m is not None, f"{where}: no meaning for a non-empty child"
    type_bits: set[str] = set()
    parent = None
    for depth, text in lines:
        kv = igt_text.split_kv(text)
        if depth == 1 and text == "Child device info:":  # the next child's title
            continue
        if depth == 3:
            if parent == "Device type":
                type_bits.add(text)
                continue
            key = f"{parent}/{kv[0] if kv else text}"
            if kv and key in CHILD_SUB_LINES:
                ck.eq(block, where, key, kv[1], CHILD_SUB_LINES[key](child, m))
            else:
                ck.unknown_line(block, where, text)
            continue
        q = re.match(r"(TMDS|DP|HDMI) compatible\? (yes|no)$", text)
        if q:
            ck.eq(block, where, f"{q.group(1)} compatible?", q.group(2), yn(field(child, CHILD_QUESTIONS[q.group(1)])))
            continue
        if not kv:
            ck.unknown_line(block, where, text)
            continue
        label, value = kv
        parent = label
        if label == "Device type":
            ck.eq(block, where, label, value.split()[0], CHILD_LINES[label](child, m))
        elif label in ("DP onboard redriver", "DP ondock redriver") and value == "":
            continue
        elif label in CHILD_LINES:
            try:
                ours = CHILD_LINES[label](child, m)
            except KeyError as exc:  # a meaning the version should have
                ours = f"(missing {exc})"
            ck.eq(block, where, label, value, ours)
        else:
            ck.unknown_line(block, where, text)
    # the device type bits igt lists (it shows "HDMI output" when the NOT_HDMI bit is clear)
    ours_bits = set(m["device_type"]["bits"])
    igt_bits = {IGT_TYPE_BITS[b] for b in type_bits if b in IGT_TYPE_BITS}
    if "HDMI output" in type_bits:
        ck.eq(block, where, "device type bit 11 (NOT_HDMI)", "clear", "set" if "not_hdmi_output" in ours_bits else "clear")
    else:
        ck.eq(block, where, "device type bit 11 (NOT_HDMI)", "set", "set" if "not_hdmi_output" in ours_bits else "clear")
    ck.eq(block, where, "device type bits", ",".join(sorted(igt_bits)), ",".join(sorted(ours_bits - {"not_hdmi_output"})))
    for b in type_bits - set(IGT_TYPE_BITS) - {"HDMI output"}:
        ck.unknown_line(block, where, b)


def compare_children(ck: Checker, block: int, section: igt_text.Section, devices: list[dict]) -> None:
    groups = section.groups("Device handle")
    ours = [d for d in devices if d.get("device_type")]
    ck.eq(block, "", "number of non-empty children", str(len(groups)), str(len(ours)))
    for i, (lines, child) in enumerate(zip(groups, ours)):
        compare_child(ck, block, f"child {i}", lines, child)



def compare_flat(ck: Checker, block: int, section: igt_text.Section, expect: dict[str, str], depth: int = 1,
                  allow: set[str] = frozenset(), where: str = "") -> None:
    for d, text in section.lines:
        if d != depth:
            continue
        kv = igt_text.split_kv(text)
        if kv and kv[0] in expect:
            ck.eq(block, where, kv[0], kv[1], expect[kv[0]])
        elif not (kv and kv[0] in allow):
            ck.unknown_line(block, where, text)



def igt_gen_key(data: bytes, kind: str) -> str:
    """The generation igt used for SSC MHz: the PCIR device id of a ROM, none for a bare VBT."""
    if kind != "rom" or len(data) < 0x1A:
        return "gen5+"
    off = int.from_bytes(data[0x18:0x1A], "little")
    plat = platforms.lookup(int.from_bytes(data[off + 6 : off + 8], "little")) if data[off : off + 4] == b"PCIR" else None
    if plat is None or plat.gen >= 5:
        return "gen5+"
    return "gen2" if plat.gen < 3 else "gen3-4"



def panel_sections(section: igt_text.Section, title: str) -> list[tuple[int, bool, list[tuple[int, str]]]]:
    """igt's per-panel groups: (index, marked with '*', lines below it)."""
    out: list[tuple[int, bool, list[tuple[int, str]]]] = []
    for depth, text in section.lines:
        m = re.fullmatch(rf"{title} (\d+)( \*)?", text)
        if depth == 1 and m:
            out.append((int(m.group(1)), bool(m.group(2)), []))
        elif out:
            out[-1][2].append((depth, text))
    return out


def check_lines(ck: Checker, block: int, where: str, lines: list[tuple[int, str]], expect: dict[str, str], parents: set[str]) -> None:
    parent = None
    for depth, text in lines:
        kv = igt_text.split_kv(text)
        if kv and depth == 2:
            parent = kv[0]
        key = kv[0] if depth == 2 or not kv else f"{parent}/{kv[0]}"
        if kv and key in expect:
            ck.eq(block, where, key, kv[1], expect[key])
        elif not (kv and depth == 2 and kv[0] in parents and kv[1] == ""):
            ck.unknown_line(block, where, text)


def igt_one_panel(ck: Checker, ours: int | None) -> str:
    """The panel igt 1.27.1 shows without --all-panels: the one whose index equals block 40's
    panel_type, so none for 0xFF (match by EDID PnP ID) or any value over 15; else igdscope's
    selection (``ours``), which must be that index."""
    return "" if ck.panel_type > 15 else str(ours)


def compare_star(ck: Checker, block: int, where: str, idx: int, star: bool, selected: bool) -> None:
    """igt's '*' marks the panel whose index equals panel_type. For a panel_type over 15 it marks
    none, and igdscope's LFP1 panel is i915's choice instead: panel 0, the fallback (for 0xFF the
    EDID decides, and without it i915 falls back to panel 0 too)."""
    if ck.panel_type > 15:
        ck.eq(block, where, "selected (*)", yn(star), "no")
        ck.eq(block, where, "LFP1 for a panel_type over 15", yn(idx == 0), yn(selected))
    else:
        ck.eq(block, where, "selected (*)", yn(star), yn(selected))



def raw_panel_type(data: bytes) -> int:
    """igt 1.27.1's panel type: block 40 byte 0, else 0."""
    w = V.walk_blocks(data, V.find_vbt(data))
    b40 = next((b["raw"] for b in w["blocks"] if b["id"] == 40), b"")
    return b40[0] if b40 else 0


# -- the known, explained differences -----------------------------------------------------------------


@dataclass
class Known:
    block: int
    label: str
    reason: str
    match: Callable[[Diff], bool]


def classify(diff: Diff, known: list[Known]) -> Known | None:
    """The entry of ``known`` that explains ``diff``, None when none does."""
    for k in known:
        if k.block == diff.block and k.label == diff.label and k.match(diff):
            return k
    return None


# the child device differences blocks 2 and 11 share (their entries are the same struct)

def _igt_handle_unknown(d: Diff) -> bool:
    return d.igt.endswith("(unknown)") and d.igt.split()[0] == d.ours.split()[0]


def _pre155_dvo_port(d: Diff) -> bool:
    # same code, igt names it with the BDB 155+ table; igdscope with DEVICE_PORT_DVO{A,B,C}
    return d.version < 155 and d.igt.split("(")[-1] == d.ours.split("(")[-1] or (
        d.version < 155 and d.igt.split()[0] == d.ours.split()[0] and "DVO-" in d.ours)


def _aux_low_nibble(d: Diff) -> bool:
    value = int(d.ours.split("(")[-1].rstrip(")"), 16)
    return value & 0x0F != 0 and d.ours.startswith("unknown") and d.igt.split()[-1] == d.ours.split()[-1]


def _handle_high_byte(d: Diff) -> bool:
    return int(d.igt.split()[0], 16) > 0xFF and d.igt.split()[0] == d.ours.split()[0]


def _hdmi_rate_before_249(d: Diff) -> bool:
    return d.version < 249 and d.ours.startswith("<unknown>") and d.igt.split()[-1] in ("(0x03)", "(0x04)", "(0x05)")


def _dp_rate_masked(d: Diff) -> bool:
    return 216 <= d.version < 230 and d.igt.split()[-1] == d.ours.split()[-1] and int(d.ours.split()[-1][1:-1], 16) > 3


def known_handle_unknown(block: int) -> Known:
    return Known(block, "Device handle",
                 "igt 1.27.1 looks the handle up by exact match of its low byte in a table of CRT, EFP1-4 and LFP1-2 "
                 "only; igdscope names every bit of the DEVICE_HANDLE_* mask with its BDB range (0x0002 is EFP5 from "
                 "BDB 215, 0x0030 is EFP3+EFP4)", _igt_handle_unknown)


def known_pre155_dvo_port(block: int, label: str) -> Known:
    return Known(block, label,
                 "before BDB 155 dvo_port holds DEVICE_PORT_DVOA/B/C (0-2, SDVO-B/C for SDVO children); igt 1.27.1 "
                 "names every version's codes with the BDB 155+ table (HDMI-A/B/C)", _pre155_dvo_port)


def known_aux_low_nibble(block: int) -> Known:
    return Known(block, "Aux channel",
                 "igt 1.27.1 names the AUX channel from the high nibble only (0x41 -> AUX-A); i915 matches the whole "
                 "byte against DP_AUX_*, so igdscope gives no name to a value with low bits set", _aux_low_nibble)


def known_handle_high_byte(block: int) -> Known:
    return Known(block, "Device handle",
                 "igt 1.27.1 stores the handle in an unsigned char before looking it up, so bits 8-15 (EFP7/EFP8 from BDB "
                 "217) are ignored", _handle_high_byte)


def known_hdmi_rate_before_249(block: int) -> Known:
    return Known(block, "HDMI max data rate",
                 "codes 3-5 (594/340/300 MHz) are defined from BDB 249 (intel_vbt_defs.h); igt 1.27.1 names them at any "
                 "BDB from 204", _hdmi_rate_before_249)


def known_dp_rate_masked(block: int) -> Known:
    return Known(block, "DP max link rate",
                 "for BDB 216-229 igt 1.27.1 masks the code with 0x3; i915 treats codes above 3 as HBR3 (its default case)",
                 _dp_rate_masked)


# -- running the comparison ----------------------------------------------------------------------------

# a parity file's comparer of one block: (checker, igt's section of the block, igdscope's fields)
Comparer = Callable[[Checker, igt_text.Section, dict], None]


def decode_bytes(data: bytes, label: str, block_ids) -> tuple[int, dict[int, dict]]:
    """The BDB version and the fields of the first copy of each of ``block_ids`` igdscope decodes."""
    dec = vbt_decode(data)
    blocks: dict[int, dict] = {}
    for b in dec["blocks"]:
        if b["id"] in block_ids and b["id"] not in blocks:
            assert "error" not in b, (label, b["id"], b.get("error"))
            blocks[b["id"]] = b["fields"]
    return dec["bdb_version"], blocks


def compare_decoded(label: str, data: bytes, igt: igt_text.IgtDecode, comparers: dict[int, Comparer],
                    gen_key: str = "gen5+", all_panels: bool = False) -> Checker:
    """Compare igdscope's decode of ``data`` with igt's output for the blocks of ``comparers``: a block
    igt shows must be decoded and is compared; one igt does not show must not be decoded (block 9
    before BDB 165, the ALM dot clock table igt does not know, excepted)."""
    version, blocks = decode_bytes(data, label, set(comparers))
    ck = Checker(label, version, all_panels)
    ck.panel_type = raw_panel_type(data)
    ck.gen_key = gen_key
    sections = igt.blocks
    for bid, compare in sorted(comparers.items()):
        sec = sections.get(bid)
        ours = blocks.get(bid)
        if sec is None:
            assert ours is None or (bid == 9 and version < 165), (label, bid, "decoded but igt does not list it")
            continue
        assert ours is not None, (label, bid, "igt decodes it, igdscope has no fields")
        compare(ck, sec, ours)
    return ck


def compare_file(name: str, txt: str, comparers: dict[int, Comparer]) -> Checker:
    """One corpus file against its stored reference decode ``txt``."""
    data = (corpus_dir() / name).read_bytes()
    igt = igt_text.load(corpus_dir() / txt)
    return compare_decoded(name, data, igt, comparers, igt_gen_key(data, sniff(data)))


def corpus_blocks_decoded_by_igt() -> set[int]:
    """The blocks the stored reference decodes of the corpus decode (igt 1.27.1 titles the others
    "Unknown, no decoding available")."""
    out: set[int] = set()
    for _, txt in corpus_pairs():
        for bid, section in igt_text.load(CORPUS / txt).blocks.items():
            if "no decoding available" not in section.name:
                out.add(bid)
    return out


# -- igt 1.27.1 itself on VBTs built here (random field values exercise every bit) -----------------------

SYNTHETIC_VERSIONS = (129, 150, 158, 165, 200, 205, 216, 229, 230, 240, 249, 261)


def _random_child(rng: random.Random, size: int, version: int) -> bytes:
    child = bytearray(rng.getrandbits(8) for _ in range(size))
    child[2:4] = rng.randrange(1, 0x10000).to_bytes(2, "little")  # a non-empty entry
    child[0x10] = rng.choice([*range(30), rng.randrange(256)])  # every defined dvo_port code, and junk
    if version < 152:  # the ASCII device id: printable, NUL-terminated (igt prints it with %s)
        word = "".join(rng.choice("ABCDEFGHIJ-0123456789") for _ in range(rng.randrange(10)))
        child[4:14] = word.encode().ljust(10, b"\0")
    return bytes(child)


def synthetic_vbt(version: int, seed: int, panel_type: int | None = None) -> bytes:
    """A VBT with random blocks 1, 2, 9 (from BDB 165), 11, 12, 27, 40 and 56."""
    rng = random.Random(seed)
    rand = lambda n: bytes(rng.getrandbits(8) for _ in range(n))  # noqa: E731
    size = general.child_device_expected_size(version)
    children = [bytearray(_random_child(rng, size, version)) for _ in range(4)]
    children[0][0x10] = rng.randrange(3)  # HDMI-A/B/C from BDB 155, DVO-A/B/C before
    blocks = [
        (1, rand(7)),
        (2, rand(4) + bytes([size]) + b"".join(children)),
        (11, bytes([33]) + b"".join(_random_child(rng, 33, version) for _ in range(3))),
        (12, rand(19)),
        (27, rand(850)),
        (40, bytes([rng.randrange(16) if panel_type is None else panel_type, rng.randrange(16)]) + rand(32)),
        (56, b"\x0d\x00" + rand(16 * 13)),
    ]
    if version >= 165:
        blocks.append((9, rand(100)))
    return V.build_vbt(version, blocks, signature="$VBT IGDSCOPE-TEST")


@functools.lru_cache(maxsize=256)
def run_igt(data: bytes, all_panels: bool) -> igt_text.IgtDecode:
    """The installed intel_vbt_decode's output for ``data`` (kept: the parity files of several
    modules compare their blocks of the same synthetic VBTs)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "synthetic.vbt"
        path.write_bytes(data)
        args = [IGT, f"--file={path}"] + (["--all-panels"] if all_panels else [])
        out = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=60, check=True)
    return igt_text.parse(out.stdout)


def synthetic_checks(comparers: dict[int, Comparer]) -> Iterator[Checker]:
    """The comparison of ``comparers``' blocks for every synthetic VBT (every version, three seeds),
    with and without --all-panels."""
    for version in SYNTHETIC_VERSIONS:
        for seed in range(3):
            data = synthetic_vbt(version, seed * 1000 + version)
            for all_panels in (False, True):
                yield compare_decoded(f"synthetic BDB {version} seed {seed}", data, run_igt(data, all_panels), comparers,
                                      all_panels=all_panels)


def panel_type_checks(comparers: dict[int, Comparer], panel_type: int) -> Iterator[Checker]:
    """The comparison of ``comparers``' blocks for a synthetic VBT whose block 40 panel_type is
    ``panel_type``, with and without --all-panels."""
    data = synthetic_vbt(250, 7, panel_type=panel_type)
    for all_panels in (False, True):
        yield compare_decoded(f"panel_type {panel_type}", data, run_igt(data, all_panels), comparers, all_panels=all_panels)


# -- one corpus file decoded, and the installed igt on it ------------------------------------------------


class Ours:
    """One corpus file decoded: the walk, the context, and each decoded block's plain fields (its
    first copy)."""

    def __init__(self, data: bytes):
        self.data = data
        off = V.find_vbt(data)
        self.walk = V.walk_blocks(data, off)
        self.version = self.walk["bdb_version"]
        self.context = {}
        self.offsets = {}
        for b in self.walk["blocks"]:
            self.context.setdefault(b["id"], b["raw"])
            self.offsets.setdefault(b["id"], b["offset"] + 3 - self.walk["vbt_header"]["bdb_offset"])
        dec = vbt_decode(data)
        self.fields = {}
        for b in dec["blocks"]:
            assert "error" not in b, b
            if "fields" in b:  # blocks igdscope has no schema for stay raw
                self.fields.setdefault(b["id"], b["fields"])


def igt_version() -> str:
    """The installed intel-gpu-tools package version ("" when unknown)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "intel-gpu-tools"], capture_output=True, text=True, timeout=10)
        return out.stdout
    except (OSError, subprocess.SubprocessError):
        return ""


@functools.lru_cache(maxsize=64)
def igt_all_panels(path: Path) -> igt_text.IgtDecode:
    """The installed intel_vbt_decode's --all-panels output for the file at ``path`` (kept: the parity
    files of several modules read it)."""
    proc = subprocess.run([IGT, f"--file={path}", "--all-panels"], capture_output=True, text=True, timeout=60)
    return igt_text.parse(proc.stdout)



# -- any intel_vbt_decode on VBTs built here; a newer one ----------------------------------------------------


def corpus_names() -> list[str]:
    """Every corpus file holding a VBT (none when the corpus is absent)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".vbt", ".rom", ".opregion"))


def walk(data: bytes) -> dict:
    return V.walk_blocks(data, V.find_vbt(data))


def igt_run(binary: str, vbt: bytes, tmp_path: Path, *args: str) -> str:
    """The output of intel_vbt_decode ``binary`` for the VBT ``vbt``."""
    path = tmp_path / "test.vbt"
    path.write_bytes(vbt)
    res = subprocess.run([binary, f"--file={path}", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def new_igt() -> str:
    """The newer intel_vbt_decode named by IGDSCOPE_IGT_VBT_DECODE, or skip the calling test."""
    import pytest

    if not IGT_NEW:
        pytest.skip("set IGDSCOPE_IGT_VBT_DECODE to an intel_vbt_decode newer than 1.27.1 (one that decodes the misc blocks) to compare them")
    return IGT_NEW
