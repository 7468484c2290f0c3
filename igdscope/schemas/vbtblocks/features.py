"""VBT blocks 9 (PSR; before BDB 165 the ALM dot-clock override table), 12 (driver features),
27 (eDP) and 56 (DSC compression parameters).

Struct and member names follow the kernel's ``intel_vbt_defs.h`` (``struct bdb_psr``,
``psr_table``, ``bdb_driver_features``, ``bdb_edp``, ``edp_*``, ``bdb_compression_parameters``,
``dsc_compression_parameters_entry``); meanings follow ``intel_bios.c`` (parse_psr, parse_edp,
parse_driver_features, parse_compression_parameters, fill_dsc).

Decoded output keeps the raw struct members (so a block builds back byte for byte) and adds:

- ``panels`` (blocks 9 and 27): one entry per panel index 0-15 with every per-panel value unpacked
  (``(field >> panel * bits) & mask`` for the packed ones) and coded values as
  ``{"value": int, "name": str, ...}``;
- ``entries`` (block 56): the 16 DSC parameter sets with their meanings and the child devices
  that select each one (``compression_structure_index`` of a child with ``compression_enable``);
- ``selected_panel`` (blocks 9 and 27): the panel index i915 uses, an int, and ``selected_panel2``
  when a child device with handle LFP2 selects a second panel; in ``panels`` the entry of the
  first has ``selected: true``, the second ``selected_lfp2: true``. The rule and the shape are
  those of every per-panel block (:mod:`igdscope.schemas.vbtblocks.panel`, vbt.md section 6);
- ``findings``: size mismatches, values i915 rejects;
- ``not_valid_for_bdb``: non-zero members the BDB version does not define (zero ones are dropped).
"""

from __future__ import annotations

import io
import struct
from functools import lru_cache
from typing import Any

import construct as cs
from construct import this

from igdscope.binary import DecodeError, build, to_plain
from igdscope.binary.plainparse import Unsupported, Val
from igdscope.schemas.common import Raw, merge_values, zero_value
from igdscope.schemas.vbtblocks.general import DP_PREEMPH_NAMES, DP_VSWING_NAMES, MAX_CHILD_DEVICES, handle_meaning
from igdscope.schemas.vbtblocks.base import BlockSpec, EnumIn, FlatStruct, ZeroFilled, coded, gate, ungate
from igdscope.schemas.vbtblocks.panel import PANELS as NUM_PANELS
from igdscope.schemas.vbtblocks.panel import (
    panel_marks,
    panel_selection,
    selection_fields,
)

# -- shared helpers ---------------------------------------------------------------------------------


def expected_size(ends: list[tuple[int, int]], version: int) -> int:
    """The bytes the members defined at ``version`` take: the largest end offset among
    ``(end, since_bdb)`` pairs with ``since_bdb <= version``."""
    return max((end for end, since in ends if version >= since), default=0)


def size_findings(raw: bytes, version: int, ends: list[tuple[int, int]], full: int, what: str) -> list[str]:
    """Findings about a fixed-struct block's size: shorter than the members its BDB version
    defines (they read as zero, as in i915), or longer than the newest struct."""
    n = len(raw)
    want = expected_size(ends, version)
    out = []
    if n < want:
        out.append(f"{what} is {n} bytes, the members BDB {version} defines take {want}: bytes {n}-{want - 1} read as zero (i915 zero-fills)")
    if n > full:
        out.append(f"{what} is {n} bytes, {n - full} more than the newest known struct ({full}): kept as unparsed")
    return out


def panel_bits(value: int, panel: int, bits: int) -> int:
    """One panel's field of a packed per-panel integer (i915 panel_bits)."""
    return (int(value) >> (panel * bits)) & ((1 << bits) - 1)


def _build_fixed(schema: cs.Construct, full_size: int, values: dict[str, Any], bdb_version: int, size: int | None, what: str) -> bytes:
    """Build a fixed-struct block (zero-filled ``ZeroFilled`` layout) from plain values."""
    template = zero_value(schema, full_size, bdb_version=bdb_version, block_size=full_size)
    values = ungate(values or {})
    full = merge_values(template, values)
    tail = values.get("unparsed") or b""
    tail_len = len(tail) // 2 if isinstance(tail, str) else len(tail)
    n = size if size is not None else full_size + tail_len
    return build(schema, full, what, bdb_version=bdb_version, block_size=n)


# -- block 9: PSR (BDB 165+), ALM dot clock override before -------------------------------------------

LinesToWait = EnumIn(
    cs.BitsInteger(3),
    psr_0_lines_to_wait=0, psr_1_line_to_wait=1, psr_4_lines_to_wait=2, psr_8_lines_to_wait=3,
)
LINES_TO_WAIT = {0: 0, 1: 1, 2: 4, 3: 8}

PsrTable = FlatStruct(
    cs.BitStruct(
        "feature_bits_rsvd" / cs.BitsInteger(6),
        "require_aux_to_wakeup" / cs.Flag,
        "full_link" / cs.Flag,
    ),
    cs.BitStruct(
        "wait_times_rsvd" / cs.Flag,
        "lines_to_wait" / LinesToWait,
        "idle_frames" / cs.BitsInteger(4),
    ),
    "tp1_wakeup_time" / cs.Int16ul * "0-3 code (BDB 205+, display 9+ but BXT) or x 100 us",
    "tp2_tp3_wakeup_time" / cs.Int16ul,
)

Psr = cs.Struct(
    "psr_table" / cs.Array(NUM_PANELS, PsrTable),
    "psr2_tp2_tp3_wakeup_time" / cs.Int32ul * "226+: 2 bits per panel",
)

DotClockOverrideEntryGen2 = FlatStruct(
    "dotclock" / cs.Int32ul,
    "n" / cs.Int8ul,
    "m1" / cs.Int8ul,
    "m2" / cs.Int8ul,
    cs.BitStruct(
        "p2_div_by_4" / cs.Flag,
        "reserved" / cs.Flag,
        "p1_div_by_2" / cs.Flag,
        "p1" / cs.BitsInteger(5),
    ),
)

DotClockOverrideAlm = cs.Struct(
    "t" / cs.GreedyRange(DotClockOverrideEntryGen2),
    "unparsed" / Raw(),
)

_v = this._params.bdb_version

Block9 = cs.IfThenElse(_v >= 165, ZeroFilled(this._params.block_size, Psr), DotClockOverrideAlm)

PSR_SIZE = 100
PSR_ENDS = [(96, 165), (100, 226)]
PSR_GATES = {"psr2_tp2_tp3_wakeup_time": (226, None)}
PSR2_WAKEUP_US = {0: 500, 1: 100, 2: 2500, 3: 50}  # i915; igt's table says 5 us for code 3


PSR1_WAKEUP_US = {0: 500, 1: 100, 2: 2500, 3: 0}  # i915 from BDB 205, display 9+ but Broxton; other codes 2500 us
LINES_TO_WAIT_NAMES = {value: f"{lines} lines" for value, lines in LINES_TO_WAIT.items()}
PSR2_WAKEUP_NAMES = {code: f"{us} us" for code, us in PSR2_WAKEUP_US.items()}
PSR2_NOT_IN_BDB = "not in this BDB version: i915 reuses the PSR1 TP2/TP3 time"


@lru_cache(maxsize=256)
def _coded_wakeup_name(code: int) -> str:
    """The ``name`` of a PSR1 TP wakeup time from BDB 205 (see :func:`_wakeup`)."""
    return f"{PSR1_WAKEUP_US.get(code, 2500)} us (display 9+ except Broxton); {code * 100} us on older platforms and Broxton"


def _wakeup(code: int, bdb_version: int) -> dict[str, Any]:
    """A PSR1 TP wakeup time. i915: from BDB 205 on display 9+ (not Broxton) a code (0 500 us,
    1 100 us, 2 2500 us, 3 0 us; others 2500 us), otherwise (and always in igt) code x 100 us."""
    as_100us = code * 100
    if bdb_version < 205:
        return {"value": code, "name": f"{as_100us} us", "us": as_100us}
    return {"value": code, "name": _coded_wakeup_name(code),
            "us_by_platform": {"display 9+ except Broxton": PSR1_WAKEUP_US.get(code, 2500), "older platforms, Broxton": as_100us}}


def _psr_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    if bdb_version < 165:
        plain["findings"] = ["BDB before 165: block 9 is the ALM dot clock override table, not PSR (i915 does not read it)"]
        rest = plain.get("unparsed")
        if rest:
            plain["findings"].append(f"{len(rest) // 2} byte(s) after the last whole 8-byte entry")
        return plain
    sel = panel_selection(context, bdb_version)
    panels = []
    packed2 = int(plain.get("psr2_tp2_tp3_wakeup_time") or 0)
    has_psr2 = bdb_version >= 226
    lines_name = LINES_TO_WAIT_NAMES.get
    for i, t in enumerate(plain.get("psr_table") or []):
        lines = t["lines_to_wait"]
        value = lines["value"] if isinstance(lines, dict) else int(lines)
        p: dict[str, Any] = panel_marks(i, sel)
        p["full_link"] = t["full_link"]
        p["require_aux_to_wakeup"] = t["require_aux_to_wakeup"]
        p["idle_frames"] = t["idle_frames"]
        p["lines_to_wait"] = {"value": value, "name": lines_name(value)}
        p["tp1_wakeup_time"] = _wakeup(t["tp1_wakeup_time"], bdb_version)
        p["tp2_tp3_wakeup_time"] = _wakeup(t["tp2_tp3_wakeup_time"], bdb_version)
        if has_psr2:
            code = packed2 >> 2 * i & 3
            p["psr2_tp2_tp3_wakeup_time"] = {"value": code, "name": PSR2_WAKEUP_NAMES[code], "us": PSR2_WAKEUP_US[code]}
        else:
            p["psr2_tp2_tp3_wakeup_time"] = {"value": None, "name": PSR2_NOT_IN_BDB}
        panels.append(p)
    gate(plain, PSR_GATES, bdb_version)
    findings = size_findings(raw, bdb_version, PSR_ENDS, PSR_SIZE, "block 9 (PSR)")
    selection_fields(plain, sel, findings)
    plain["panels"] = panels
    plain["notes"] = ["the PSR enable itself is in block 12 (psr_enabled) before BDB 228 and in block 44 (lfp_power, per panel) from 228"]
    plain["findings"] = findings
    return plain


# -- block 12: driver features -----------------------------------------------------------------------

LvdsConfig = EnumIn(
    cs.BitsInteger(2),
    no_lvds=0, int_lvds=1, sdvo_lvds=2, int_sdvo_lvds=3,  # BDB_DRIVER_FEATURE_*; 3 means eDP in practice
)

DriverFeatures = cs.BitStruct(
    # byte 0, high bit first
    "primary_lfp_id" / cs.Flag,
    "sprite_in_clone" / cs.Flag,
    "int15h_hook" / cs.Flag,
    "dual_view_zoom" / cs.Flag,
    "hotplug_dvo" / cs.Flag,
    "allow_display_switch_dos" / cs.Flag,
    "allow_display_switch_dvd" / cs.Flag,
    "boot_dev_algorithm" / EnumIn(cs.BitsInteger(1), os_default=0, driver_default=1),
    # bytes 1-6
    "boot_mode_x" / cs.BitsInteger(16, swapped=True),
    "boot_mode_y" / cs.BitsInteger(16, swapped=True),
    "boot_mode_bpp" / cs.BitsInteger(8),
    "boot_mode_refresh" / cs.BitsInteger(8),
    # byte 7
    "cui_aspect_scaling" / cs.Flag,
    "sprite_display_assign" / EnumIn(cs.BitsInteger(1), secondary=0, primary=1),
    "power_scheme_ui" / EnumIn(cs.BitsInteger(1), cui=0, third_party=1),
    "nt_clone_support" / cs.Flag,
    "render_clock_freq" / EnumIn(cs.BitsInteger(1), high=0, low=1),
    "dual_frequency" / cs.Flag,
    "selective_mode_pruning" / cs.Flag,
    "enable_lfp_primary" / cs.Flag,
    # byte 8
    "hdmi_config" / cs.BitsInteger(2),
    "tv_hotplug" / cs.Flag,
    "lvds_config" / LvdsConfig,
    "crt_hotplug" / cs.Flag,
    "sdvo_device_power_down" / cs.Flag,
    "preserve_aspect_ratio" / cs.Flag,
    # byte 9
    "reserved0" / cs.BitsInteger(5),
    "display_subsystem_enable" / cs.Flag,
    "embedded_platform" / cs.Flag,
    "static_display" / cs.Flag,
    # bytes 10-14
    "legacy_crt_max_x" / cs.BitsInteger(16, swapped=True),
    "legacy_crt_max_y" / cs.BitsInteger(16, swapped=True),
    "legacy_crt_max_refresh" / cs.BitsInteger(8),
    # byte 15
    "reserved1" / cs.BitsInteger(5),
    "self_refresh_enable" / cs.Flag,
    "cea861d_hdmi_support" / cs.Flag,
    "hdmi_termination" / cs.Flag,
    # byte 16
    "custom_vbt_version" / cs.BitsInteger(8),
    # bytes 17-18: driver feature flags (u16, bit 0 = rmpm_enabled)
    "gpmt_enabled" / cs.Flag,
    "grs_enabled" / cs.Flag,
    "drrs_enabled" / cs.Flag,
    "adb_enabled" / cs.Flag,
    "bltclt_enabled" / cs.Flag,
    "dpst_enabled" / cs.Flag,
    "s2ddt_enabled" / cs.Flag,
    "rmpm_enabled" / cs.Flag,
    "pc_feature_valid" / cs.Flag,
    "hpd_wake" / cs.Flag,
    "adt_enabled" / cs.Flag,
    "dmrrs_enabled" / cs.Flag,
    "dfps_enabled" / cs.Flag,
    "ips_enabled" / cs.Flag,
    "psr_enabled" / cs.Flag,
    "tbt_enabled" / cs.Flag,
)

DRIVER_FEATURES_SIZE = 19
Block12 = ZeroFilled(this._params.block_size, DriverFeatures)

DRIVER_FEATURES_GATES: dict[str, tuple[int, int | None]] = {
    "static_display": (163, None),
    "embedded_platform": (163, None),
    "display_subsystem_enable": (163, None),
    "custom_vbt_version": (155, None),
    "rmpm_enabled": (159, None),
    "s2ddt_enabled": (159, None),
    "dpst_enabled": (159, 227),
    "bltclt_enabled": (159, None),
    "adb_enabled": (159, 227),
    "drrs_enabled": (159, 227),
    "grs_enabled": (159, None),
    "gpmt_enabled": (159, None),
    "tbt_enabled": (159, None),
    "psr_enabled": (165, 227),
    "ips_enabled": (165, None),
    "dfps_enabled": (165, None),
    "dmrrs_enabled": (174, 227),
    "adt_enabled": (0, 228),
    "hpd_wake": (201, 240),
    "pc_feature_valid": (159, None),
}
DRIVER_FEATURES_ENDS = [(15, 0), (17, 155), (19, 159)]


LVDS_CONFIG_NAMES = {0: "no LVDS", 1: "integrated LVDS", 2: "SDVO LVDS", 3: "integrated SDVO LVDS (eDP in practice)"}


def _driver_features_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    lvds = plain.get("lvds_config") or {}
    value = lvds.get("value", 0) if isinstance(lvds, dict) else int(lvds)
    meaning: dict[str, Any] = {
        "lvds_config": coded(value, LVDS_CONFIG_NAMES[value],
                             i915="an integrated LVDS panel" if value == 1 else
                             "no integrated LVDS on display 5+ (gen4 and older from BDB 134: only 1 and 3 mean LVDS)"),
    }
    if bdb_version < 228:
        meaning["psr_and_drrs"] = "i915 reads psr_enabled and drrs_enabled (with dmrrs_enabled) from this block"
    else:
        meaning["psr_and_drrs"] = "from BDB 228 i915 reads PSR and DRRS per panel from block 44 (lfp_power)"
    plain["meaning"] = meaning
    plain["findings"] = size_findings(raw, bdb_version, DRIVER_FEATURES_ENDS, DRIVER_FEATURES_SIZE, "block 12 (driver features)")
    return plain


# -- block 27: eDP ------------------------------------------------------------------------------------

EdpPowerSeq = cs.Struct(
    "t1_t3" / cs.Int16ul,
    "t8" / cs.Int16ul,
    "t9" / cs.Int16ul,
    "t10" / cs.Int16ul,
    "t11_t12" / cs.Int16ul,
)

EdpFastLinkParams = cs.BitStruct(
    "lanes" / cs.BitsInteger(4),
    "rate" / cs.BitsInteger(4) * "up to BDB 223",
    "vswing" / cs.BitsInteger(4),
    "preemphasis" / cs.BitsInteger(4),
)

EdpPwmDelays = cs.Struct(
    "pwm_on_to_backlight_enable" / cs.Int16ul,
    "backlight_disable_to_pwm_off" / cs.Int16ul,
)

EdpFullLinkParams = cs.BitStruct(
    "vswing" / cs.BitsInteger(4),
    "preemphasis" / cs.BitsInteger(4),
)

EdpApicalParams = cs.Struct(
    "panel_oui" / cs.Int32ul,
    "dpcd_base_address" / cs.Int32ul,
    "dpcd_idridix_control_0" / cs.Int32ul,
    "dpcd_option_select" / cs.Int32ul,
    "dpcd_backlight" / cs.Int32ul,
    "ambient_light" / cs.Int32ul,
    "backlight_scale" / cs.Int32ul,
)

Edp = cs.Struct(
    "power_seqs" / cs.Array(NUM_PANELS, EdpPowerSeq),  # 0x000
    "color_depth" / cs.Int32ul * "2 bits per panel",  # 0x0a0
    "fast_link_params" / cs.Array(NUM_PANELS, EdpFastLinkParams),  # 0x0a4
    "sdrrs_msa_timing_delay" / cs.Int32ul * "2 bits per panel",  # 0x0c4
    "edp_s3d_feature" / cs.Int16ul,  # 0x0c8 162+
    "edp_t3_optimization" / cs.Int16ul,  # 0x0ca 165+
    "edp_vswing_preemph" / cs.Int64ul * "4 bits per panel",  # 0x0cc 173+
    "fast_link_training" / cs.Int16ul,  # 0x0d4 182+
    "dpcd_600h_write_required" / cs.Int16ul,  # 0x0d6 185+
    "pwm_delays" / cs.Array(NUM_PANELS, EdpPwmDelays),  # 0x0d8 186+
    "full_link_params_provided" / cs.Int16ul,  # 0x118 199+
    "full_link_params" / cs.Array(NUM_PANELS, EdpFullLinkParams),  # 0x11a 199+
    "apical_enable" / cs.Int16ul,  # 0x12a 203+
    "apical_params" / cs.Array(NUM_PANELS, EdpApicalParams),  # 0x12c 203+
    "edp_fast_link_training_rate" / cs.Array(NUM_PANELS, cs.Int16ul) * "200 kbit/s units",  # 0x2ec 224+
    "edp_max_port_link_rate" / cs.Array(NUM_PANELS, cs.Int16ul),  # 0x30c 244+
    "edp_dsc_disable" / cs.Int16ul,  # 0x32c 251+
    "t6_delay_support" / cs.Int16ul,  # 0x32e 260+
    "link_idle_time" / cs.Array(NUM_PANELS, cs.Int16ul),  # 0x330 260+
    "pipe_joiner_enable" / cs.Int16ul,  # 0x350 261+
)

EDP_SIZE = 850
Block27 = ZeroFilled(this._params.block_size, Edp)

EDP_GATES: dict[str, tuple[int, int | None]] = {
    "edp_s3d_feature": (162, None),
    "edp_t3_optimization": (165, None),
    "edp_vswing_preemph": (173, None),
    "fast_link_training": (182, None),
    "dpcd_600h_write_required": (185, None),
    "pwm_delays": (186, None),
    "full_link_params_provided": (199, None),
    "full_link_params": (199, None),
    "apical_enable": (203, None),
    "apical_params": (203, None),
    "edp_fast_link_training_rate": (224, None),
    "edp_max_port_link_rate": (244, None),
    "edp_dsc_disable": (251, None),
    "t6_delay_support": (260, None),
    "link_idle_time": (260, None),
    "pipe_joiner_enable": (261, None),
}
EDP_ENDS = [(0x0C8, 0), (0x0CA, 162), (0x0CC, 165), (0x0D4, 173), (0x0D6, 182), (0x0D8, 185), (0x118, 186),
            (0x12A, 199), (0x2EC, 203), (0x30C, 224), (0x32C, 244), (0x32E, 251), (0x350, 260), (0x352, 261)]

EDP_BPP = {0: "18 bpp", 1: "24 bpp", 2: "30 bpp"}
EDP_RATE = {0: "1.62 Gbps", 1: "2.7 Gbps", 2: "5.4 Gbps"}
EDP_LANES = {0: "x1", 1: "x2", 3: "x4"}
EDP_VSWING_TABLE = {0: "low power (200 mV)", 1: "default (400 mV)"}


@lru_cache(maxsize=256)
def _gbps(rate: int) -> str:
    """An eDP link rate in i915's 200 kbit/s VBT units (x 20 = kHz link clock) as Gbps."""
    return f"{rate / 5000:g} Gbps"


EDP_RATE_KHZ = {0: 162000, 1: 270000, 2: 540000}  # i915 parse_edp before BDB 224: the fast_link_params rate


def _edp_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    v = bdb_version
    rate_note = None if v <= 223 else "not used from BDB 224: see edp_fast_link_training_rate"
    # the packed per-panel members (2, 1 or 4 bits per panel); panel i's field is (word >> i * bits) & mask
    color_depth, msa_delay = int(plain["color_depth"]), int(plain["sdrrs_msa_timing_delay"])
    s3d, t3, vswing_table = int(plain["edp_s3d_feature"]), int(plain["edp_t3_optimization"]), int(plain["edp_vswing_preemph"])
    flt, dpcd_600h, full_provided = int(plain["fast_link_training"]), int(plain["dpcd_600h_write_required"]), int(plain["full_link_params_provided"])
    apical, dsc_disable, t6, joiner = int(plain["apical_enable"]), int(plain["edp_dsc_disable"]), int(plain["t6_delay_support"]), int(plain["pipe_joiner_enable"])
    # the per-panel arrays
    power_seqs, fast_link_params, pwm_delays = plain["power_seqs"], plain["fast_link_params"], plain["pwm_delays"]
    full_link_params, apical_params, link_idle_time = plain["full_link_params"], plain["apical_params"], plain["link_idle_time"]
    flt_rates, max_rates = plain["edp_fast_link_training_rate"], plain["edp_max_port_link_rate"]
    bpp_name, rate_name, lanes_name, table_name = EDP_BPP.get, EDP_RATE.get, EDP_LANES.get, EDP_VSWING_TABLE.get
    preemph_name, vswing_name = DP_PREEMPH_NAMES.get, DP_VSWING_NAMES.get
    sel = panel_selection(context, v)
    panels = []
    for i in range(NUM_PANELS):
        seq, flp = power_seqs[i], fast_link_params[i]
        t1_t3, t8, t9, t10, t11_t12 = seq["t1_t3"], seq["t8"], seq["t9"], seq["t10"], seq["t11_t12"]
        bpp = color_depth >> 2 * i & 3
        rate, lanes, pre, swing = flp["rate"], flp["lanes"], flp["preemphasis"], flp["vswing"]
        rate_coded = {"value": rate, "name": rate_name(rate)}
        if rate_note:
            rate_coded["note"] = rate_note
        p: dict[str, Any] = panel_marks(i, sel)
        p["power_seq"] = {"t1_t3": t1_t3, "t8": t8, "t9": t9, "t10": t10, "t11_t12": t11_t12, "unit": "100 us",
                          "ms": {"t1_t3": t1_t3 / 10, "t8": t8 / 10, "t9": t9 / 10, "t10": t10 / 10, "t11_t12": t11_t12 / 10}}
        p["color_depth"] = {"value": bpp, "name": bpp_name(bpp)}
        p["sdrrs_msa_timing_delay"] = msa_delay >> 2 * i & 3
        p["fast_link_params"] = {
            "rate": rate_coded,
            "lanes": {"value": lanes, "name": lanes_name(lanes)},
            "preemphasis": {"value": pre, "name": preemph_name(pre)},
            "vswing": {"value": swing, "name": vswing_name(swing)},
        }
        if v >= 162:
            p["edp_s3d_feature"] = bool(s3d >> i & 1)
        if v >= 165:
            p["edp_t3_optimization"] = bool(t3 >> i & 1)
        if v >= 173:
            table = vswing_table >> 4 * i & 15
            p["edp_vswing_preemph"] = {"value": table, "name": table_name(table), "i915_low_vswing": table == 0}
        if v >= 182:
            p["fast_link_training"] = bool(flt >> i & 1)
        if v >= 185:
            p["dpcd_600h_write_required"] = bool(dpcd_600h >> i & 1)
        if v >= 186:
            p["pwm_delays"] = pwm_delays[i].copy()
        if v >= 199:
            full = full_link_params[i]
            pre, swing = full["preemphasis"], full["vswing"]
            p["full_link_params_provided"] = bool(full_provided >> i & 1)
            p["full_link_params"] = {
                "preemphasis": {"value": pre, "name": preemph_name(pre)},
                "vswing": {"value": swing, "name": vswing_name(swing)},
            }
        if v >= 203:
            p["apical_enable"] = bool(apical >> i & 1)
            p["apical_params"] = apical_params[i].copy()
        if v >= 224:
            rate = flt_rates[i]
            p["edp_fast_link_training_rate"] = {"value": rate, "name": _gbps(rate), "khz": rate * 20}
        if v >= 244:
            rate = max_rates[i]
            p["edp_max_port_link_rate"] = {"value": rate, "name": _gbps(rate), "khz": rate * 20}
        if v >= 251:
            p["edp_dsc_disable"] = bool(dsc_disable >> i & 1)
        if v >= 260:
            p["t6_delay_support"] = bool(t6 >> i & 1)
            p["link_idle_time"] = link_idle_time[i]
        if v >= 261:
            p["pipe_joiner_enable"] = bool(joiner >> i & 1)
        # what i915 parse_edp takes as the link rate
        p["i915_link_rate_khz"] = flt_rates[i] * 20 if v >= 224 else EDP_RATE_KHZ.get(flp["rate"])
        panels.append(p)
    gate(plain, EDP_GATES, v)
    findings = size_findings(raw, v, EDP_ENDS, EDP_SIZE, "block 27 (eDP)")
    selection_fields(plain, sel, findings)
    plain["panels"] = panels
    plain["findings"] = findings
    return plain


# -- block 56: compression parameters -------------------------------------------------------------------

DscCompressionParametersEntry = FlatStruct(
    cs.BitStruct(
        "version_minor" / cs.BitsInteger(4),
        "version_major" / cs.BitsInteger(4),
    ),
    cs.BitStruct(
        "reserved1" / cs.BitsInteger(6),
        "rc_buffer_block_size" / EnumIn(cs.BitsInteger(2), rc_buffer_block_size_1kb=0, rc_buffer_block_size_4kb=1,
                                        rc_buffer_block_size_16kb=2, rc_buffer_block_size_64kb=3),
    ),
    "rc_buffer_size" / cs.Int8ul * "buffer = block size x (value + 1)",
    "slices_per_line" / cs.Int32ul * "bit 0/1/2: 1/2/4 slices",
    cs.BitStruct(
        "reserved2" / cs.BitsInteger(4),
        "line_buffer_depth" / cs.BitsInteger(4) * "+ 8 bits",
    ),
    cs.BitStruct(
        "reserved3" / cs.BitsInteger(7),
        "block_prediction_enable" / cs.Flag,
    ),
    "max_bpp" / cs.Int8ul * "6 + 2 x value bpp",
    cs.BitStruct(
        "reserved5" / cs.BitsInteger(4),
        "support_12bpc" / cs.Flag,
        "support_10bpc" / cs.Flag,
        "support_8bpc" / cs.Flag,
        "reserved4" / cs.Flag,
    ),
    "slice_height" / cs.Int16ul,
)

DSC_ENTRY_SIZE = 13
DSC_ENTRIES = 16
COMPRESSION_PARAMETERS_SIZE = 2 + DSC_ENTRIES * DSC_ENTRY_SIZE  # 210


class DscEntries(cs.Construct):
    """The 16 ``data`` entries of block 56, each ``entry_size`` bytes (13 when the field says less),
    read into a zero-filled 13-byte entry; bytes beyond 13 in an entry are kept as its ``unparsed``.
    At most 16 entries, and only as many as the bytes present hold."""

    def _stride(self, context: Any) -> int:
        size = int(context.entry_size)
        return size if size >= DSC_ENTRY_SIZE else DSC_ENTRY_SIZE

    def _parse(self, stream, context, path):
        stride = self._stride(context)
        start = cs.stream_tell(stream, path)
        end = stream.seek(0, io.SEEK_END)
        stream.seek(start)
        count = min(DSC_ENTRIES, (end - start) // stride)
        out = cs.ListContainer()
        for _ in range(count):
            data = cs.stream_read(stream, stride, path)
            entry = DscCompressionParametersEntry._parsereport(io.BytesIO(data[:DSC_ENTRY_SIZE]), context, path)
            if stride > DSC_ENTRY_SIZE:
                entry["unparsed"] = data[DSC_ENTRY_SIZE:]
            out.append(entry)
        return out

    def _build(self, obj, stream, context, path):
        stride = self._stride(context)
        for entry in obj or []:
            sub = io.BytesIO()
            DscCompressionParametersEntry._build(entry, sub, context, path)
            data = sub.getvalue()
            tail = entry.get("unparsed") if isinstance(entry, dict) else None
            if tail:
                data += bytes.fromhex(tail) if isinstance(tail, str) else bytes(tail)
            cs.stream_write(stream, data[:stride].ljust(stride, b"\0"), stride, path)
        return obj

    def _sizeof(self, context, path):
        raise cs.SizeofError("block 56 entries depend on the bytes present", path=path)

    _plainchildren = property(lambda self: (DscCompressionParametersEntry,))

    def _emitplain(self, gen, st, scope):
        """Generated plain parser (igdscope.plainparse): the same count and stride, each entry
        unpacked in place."""
        lay = gen.layout(DscCompressionParametersEntry)
        if lay is None or lay.size != DSC_ENTRY_SIZE:
            raise Unsupported("DSC entry layout")
        stride, count, out, start = gen.tmp("w"), gen.tmp("n"), gen.tmp("a"), gen.tmp("s")
        gen.line(f"{stride} = int({gen.expr(this.entry_size, scope)})")
        gen.line(f"if {stride} < {DSC_ENTRY_SIZE}: {stride} = {DSC_ENTRY_SIZE}")
        gen.line(f"{count} = min({DSC_ENTRIES}, (len({st.buf}) - {st.pos}) // {stride})")
        gen.line(f"{out} = []")
        unpack = gen.const(struct.Struct("<" + lay.fmt).unpack_from, "S")
        with gen.block(f"for _ in range({count}):"):
            tv = gen.tmp("t")
            gen.line(f"{start} = {st.pos}")
            gen.line(f"{st.pos} += {stride}")
            gen.line(f"{tv} = {unpack}({st.buf}, {start})")
            val = lay.build(tv, 0, scope)
            item = gen.assign(val.plain, "e")
            gen.line(f"if {stride} > {DSC_ENTRY_SIZE}: {item}['unparsed'] = {st.buf}[{start} + {DSC_ENTRY_SIZE}:{st.pos}].hex()")
            gen.line(f"{out}.append({item})")
        return Val(out)


CompressionParameters = cs.Struct(
    "entry_size" / cs.Int16ul * "must be 13, else i915 ignores the block",
    "data" / DscEntries(),
    "unparsed" / Raw(),
)

RC_BLOCK_KIB = {0: 1, 1: 4, 2: 16, 3: 64}
RC_BLOCK_NAMES = {code: f"{kib} KiB" for code, kib in RC_BLOCK_KIB.items()}
# by the low 3 bits of slices_per_line: (name, the slice counts whose bits are set); i915 takes
# the largest of 4, 2 and 1 whose bit is set, 1 when none is
SLICES_PER_LINE = tuple((f"{n} slice{'s' if n > 1 else ''} (i915's pick)", tuple(c for b, c in ((0, 1), (1, 2), (2, 4)) if low >> b & 1))
                        for low in range(8) for n in [4 if low & 4 else 2 if low & 2 else 1])
# by support_8bpc | support_10bpc << 1 | support_12bpc << 2: the bits per component supported
BPC_SUPPORTED = tuple(tuple(bpc for b, bpc in ((0, 8), (1, 10), (2, 12)) if mask >> b & 1) for mask in range(8))
LINE_BUFFER_DEPTH_NAMES = tuple(f"{depth + 8} bits" for depth in range(16))

# where block 2 holds, for BDB 198+, the child fields _used_by reads: handle (u16 at 0), device_type
# (u16 at 2), byte 10 (compression_method_cps bit 2, compression_enable bit 1) and byte 11
# (compression_structure_index, bits 3:0) -- see ChildDevice in igdscope.schemas.vbt
CHILD_COMPRESSION_FIELDS = struct.Struct("<HH6xBB")
GENERAL_DEFINITIONS_HEADER_SIZE = 5


def _used_by(context: dict[int, bytes], bdb_version: int) -> dict[int, list[str]]:
    """Which child devices (block 2) select each entry: compression_enable set and
    compression_structure_index pointing at it (i915 parse_compression_parameters).

    The few child fields needed are read from block 2's bytes, not from its whole decode, with
    the entries its schema (``GeneralDefinitions``) decodes: after the 5-byte header (a shorter
    block decodes no children), whole ``child_dev_size``-byte entries (zeros past the end of an
    entry shorter than the fields), at most ``MAX_CHILD_DEVICES``."""
    out: dict[int, list[str]] = {}
    raw = context.get(2)
    if raw is None or bdb_version < 198:
        return out
    raw = bytes(raw)
    need = CHILD_COMPRESSION_FIELDS.size
    if len(raw) < GENERAL_DEFINITIONS_HEADER_SIZE:
        return out
    child_size = raw[GENERAL_DEFINITIONS_HEADER_SIZE - 1]
    if not child_size:
        return out
    count = min(MAX_CHILD_DEVICES, (len(raw) - GENERAL_DEFINITIONS_HEADER_SIZE) // child_size)
    for n in range(count):
        start = GENERAL_DEFINITIONS_HEADER_SIZE + n * child_size
        fields = raw[start : start + min(child_size, need)]
        handle, device_type, flags, index = CHILD_COMPRESSION_FIELDS.unpack(fields.ljust(need, b"\0"))
        if not device_type or not flags & 0x02:  # compression_enable
            continue
        name = handle_meaning(handle, bdb_version)["name"]
        if flags & 0x04:  # compression_method_cps
            name += " (CPS: i915 does not support it)"
        out.setdefault(index & 0x0F, []).append(name)
    return out


def _compression_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    findings = []
    size = plain.get("entry_size", 0)
    if size != DSC_ENTRY_SIZE:
        findings.append(f"entry_size is {size}, not {DSC_ENTRY_SIZE}: i915 ignores the block"
                        + (f" (entries read {DSC_ENTRY_SIZE} bytes apart)" if size < DSC_ENTRY_SIZE else f" (entries read {size} bytes apart)"))
    if len(raw) < COMPRESSION_PARAMETERS_SIZE:
        findings.append(f"block is {len(raw)} bytes, less than the {COMPRESSION_PARAMETERS_SIZE} of 16 entries: i915 ignores the block")
    if plain.get("unparsed"):
        findings.append(f"{len(plain['unparsed']) // 2} byte(s) after the 16 entries")
    if bdb_version < 198:
        findings.append(f"i915 reads compression parameters only from BDB 198 (this VBT is {bdb_version})")
    used = _used_by(context, bdb_version)
    entries = []
    for i, e in enumerate(plain.get("data") or []):
        block = e["rc_buffer_block_size"]
        block_v = block["value"] if isinstance(block, dict) else int(block)
        spl = int(e["slices_per_line"])
        slices_name, slice_bits = SLICES_PER_LINE[spl & 7]
        depth, max_bpp, buffer_size = e["line_buffer_depth"], e["max_bpp"], e["rc_buffer_size"]
        entry: dict[str, Any] = {
            "index": i,
            "dsc_version": f"{e['version_major']}.{e['version_minor']}",
            "rc_buffer_block_size": {"value": block_v, "name": RC_BLOCK_NAMES[block_v]},
            "rc_buffer_size": buffer_size,
            "rc_buffer_bytes": RC_BLOCK_KIB[block_v] * 1024 * (buffer_size + 1),
            "slices_per_line": {"value": spl, "name": slices_name, "bits": list(slice_bits)},
            "line_buffer_depth": {"value": depth, "name": LINE_BUFFER_DEPTH_NAMES[depth]},
            "block_prediction_enable": e["block_prediction_enable"],
            "max_bpp": {"value": max_bpp, "name": f"{6 + 2 * max_bpp} bpp"},
            "bpc_supported": list(BPC_SUPPORTED[e["support_8bpc"] | e["support_10bpc"] << 1 | e["support_12bpc"] << 2]),
            "slice_height": e["slice_height"],
        }
        if not spl & 7:
            entry["slices_per_line"]["note"] = "no 1/2/4 slice bit set: i915 uses 1 slice"
        if i in used:
            entry["used_by"] = used[i]
        entries.append(entry)
    for idx in sorted(set(used) - set(range(len(entries)))):
        findings.append(f"child device(s) {', '.join(used[idx])} select entry {idx}, which the block does not hold")
    plain["entries"] = entries
    plain["notes"] = ["i915 gives each child device with compression_enable the entry at its compression_structure_index "
                      "(see used_by); igt 1.27.1 instead shows the entry at the LFP panel type"]
    plain["findings"] = findings
    return plain


# -- building (the inverse of decode_block for these blocks) ---------------------------------------------


def build_features_block(block_id: int, values: dict[str, Any], bdb_version: int, size: int | None = None) -> bytes:
    """Block 9, 12, 27 or 56 data bytes (no id/size header) from plain values, zeros for anything
    not given. Fixed-struct blocks default to the full struct size (plus ``unparsed``); ``size``
    gives an older, shorter block and refuses to drop non-zero members. Block 56: ``data`` entries
    (16 zero entries when not given) at ``entry_size`` (default 13) bytes apart."""
    what = f"BDB block {block_id} ({SPECS[block_id].name if block_id in SPECS else '?'})"
    if block_id == 9 and bdb_version >= 165:
        return _build_fixed(Block9, PSR_SIZE, values, bdb_version, size, what)
    if block_id == 9:
        values = ungate(values or {})
        template = to_plain(DotClockOverrideEntryGen2.parse(bytes(8)))
        entries = [merge_values(template, e) for e in values.get("t") or []]
        return build(Block9, {"t": entries, "unparsed": values.get("unparsed") or b""}, what, bdb_version=bdb_version, block_size=0)
    if block_id == 12:
        return _build_fixed(Block12, DRIVER_FEATURES_SIZE, values, bdb_version, size, what)
    if block_id == 27:
        return _build_fixed(Block27, EDP_SIZE, values, bdb_version, size, what)
    if block_id == 56:
        values = ungate(values or {})
        entry_size = values.get("entry_size", DSC_ENTRY_SIZE)
        template = to_plain(DscCompressionParametersEntry.parse(bytes(DSC_ENTRY_SIZE)))
        given = values.get("data")
        data = [merge_values(template, e) for e in (given if given is not None else [{}] * DSC_ENTRIES)]
        out = build(CompressionParameters, {"entry_size": entry_size, "data": data, "unparsed": values.get("unparsed") or b""},
                    what, bdb_version=bdb_version, block_size=0)
        if size is not None and size != len(out):
            raise DecodeError(what, f"cannot build: values make {len(out)} bytes, size {size} was asked for")
        return out
    raise ValueError(f"no builder for BDB block {block_id} here")


def _builder(block_id: int):
    def build_block(values: dict[str, Any], bdb_version: int, size: int | None = None) -> bytes:
        return build_features_block(block_id, values, bdb_version, size)

    return build_block


SPECS = {
    9: BlockSpec("psr", Block9, full_size=PSR_SIZE, post=_psr_post, builder=_builder(9)),
    12: BlockSpec("driver_features", Block12, full_size=DRIVER_FEATURES_SIZE, gates=DRIVER_FEATURES_GATES, post=_driver_features_post, builder=_builder(12)),
    27: BlockSpec("edp", Block27, full_size=EDP_SIZE, post=_edp_post, builder=_builder(27)),
    56: BlockSpec("compression_parameters", CompressionParameters, full_size=COMPRESSION_PARAMETERS_SIZE, post=_compression_post, builder=_builder(56)),
}
