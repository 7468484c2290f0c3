"""VBT blocks 1 (general features) and 2 (general definitions with its child devices).

Decoded blocks 1 and 2 keep the raw struct members and add a ``meaning`` dict (per child device
for block 2) with ``{"value": int, "name": str, ...}`` for every coded field at the BDB version:
device handle and type bits, DVO port and the driver port per platform family, AUX channel, DDC
pin per PCH family, I2C speed, HDMI/DP rates, vswing and pre-emphasis (see
:func:`child_device_meaning`). Building ignores ``meaning``.

Names follow the Linux kernel's ``intel_vbt_defs.h`` (``bdb_general_features``,
``child_device_config``, ``bdb_general_definitions``). Where a layout changes with the version (the
child device's bytes 0x04-0x0D before BDB 152, 0x17-0x1A before 155, 0x1D before 171) the schema
switches with ``IfThenElse``; fields a version merely does not define yet are in the gates tables.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import construct as cs
from construct import this

from igdscope.binary import DecodeError, build
from igdscope.schemas.common import Raw, Text, merge_values, zero_value
from igdscope.schemas.vbtblocks.base import BlockSpec, BoundedRange, EnumIn, FlatStruct, ZeroFilled, coded, gate_all, int_of, ungate

GENERAL_FEATURES_GATES: dict[str, tuple[int, int | None]] = {
    "vbios_extended_mode": (160, None),
    "copy_ilfp_dtd_to_sdvo_lvds_dtd": (160, None),
    "panel_best_fit_timing": (160, None),
    "ignore_strap_state": (160, None),
    "rotate_180": (181, None),
    "tc_hpd_retry_timeout": (242, None),
    "afc_startup_config": (249, None),
}

# Fields a BDB version does not define yet (or any more). The unions are handled in the schema.
CHILD_DEVICE_GATES: dict[str, tuple[int, int | None]] = {
    "dp_onboard_redriver_preemph": (158, None),
    "dp_onboard_redriver_vswing": (158, None),
    "dp_onboard_redriver_present": (158, None),
    "dp_ondock_redriver_preemph": (158, None),
    "dp_ondock_redriver_vswing": (158, None),
    "dp_ondock_redriver_present": (158, None),
    "hdmi_level_shifter_value": (158, None),
    "hdmi_max_data_rate": (204, None),
    "dtd_buf_ptr": (161, None),
    "edidless_efp": (161, None),
    "compression_enable": (198, None),
    "compression_method_cps": (198, None),
    "ganged_edp": (202, None),
    "lttpr_non_transparent": (235, None),
    "disable_compression_for_ext_disp": (251, None),
    "compression_structure_index": (198, None),
    "hdmi_max_frl_rate": (237, None),
    "hdmi_max_frl_rate_valid": (237, None),
    "efp_routed": (158, None),
    "lane_reversal": (184, None),
    "lspcon": (192, None),
    "iboost": (196, None),
    "hpd_invert": (196, None),
    "use_vbt_vswing": (218, None),
    "dp_max_lane_count": (244, None),
    "hdmi_support": (158, None),
    "dp_support": (158, None),
    "tmds_support": (158, None),
    "sdvo_stall": (158, None),
    "dp_usb_type_c": (195, None),
    "tbt": (209, None),
    "dedicated_external": (264, None),  # proposed (2025-12 patch series), merge unverified
    "dyn_port_over_tc": (264, None),
    "dp_port_trace_length": (209, None),
    "dp_gpio_index": (195, None),
    "dp_gpio_pin_num": (195, None),
    "dp_iboost_level": (196, None),
    "hdmi_iboost_level": (196, None),
    "dp_max_link_rate": (216, None),
    "dp_max_link_rate_reserved": (216, None),
    "efp_index": (256, None),
    "edp_data_rate_override": (263, None),
    "edp_data_rate_override_reserved": (263, None),
}

DEVICE_HANDLES: dict[int, tuple[str, int, int | None]] = {  # handle bit -> (name, min BDB, max BDB)
    0x0001: ("crt", 0, 216),
    0x0002: ("tv", 0, 214),
    0x0004: ("efp1", 0, None),
    0x0008: ("lfp1", 0, None),
    0x0010: ("efp4", 0, None),
    0x0020: ("efp3", 0, None),
    0x0040: ("efp2", 0, None),
    0x0080: ("lfp2", 0, None),
    0x0100: ("efp7", 217, None),
    0x0200: ("efp8", 217, None),
}

DEVICE_HANDLES_LATE: dict[int, tuple[str, int, int | None]] = {
    0x0001: ("efp6", 217, None),
    0x0002: ("efp5", 215, None),
}

# composite device types (DEVICE_TYPE_* in intel_vbt_defs.h; 0x68D6 / 0x68D2 / 0x7CC2 are igt's)
DEVICE_TYPE_NAMES: dict[int, str] = {
    0x0000: "none",
    0x0001: "CRT (pre-915)", 0x0009: "TV (pre-915)", 0x0012: "EFP (pre-915)", 0x0022: "LFP (pre-915)",
    0x6001: "CRT (DPMS)", 0x4001: "CRT (DPMS, hotplug)",
    0x0209: "TV composite / SCART", 0x0289: "TV macrovision", 0x020C: "TV RF composite",
    0x0609: "TV S-Video composite", 0x6009: "TV codec (hotplug, power)",
    0x6012: "EFP (hotplug, power)", 0x6052: "DVI (hotplug, power)", 0x6053: "DVI-I",
    0x6152: "dual-link DVI-D", 0x60D2: "HDMI / DVI-D with HDCP", 0x6062: "OpenLDI (hotplug, power)",
    0x6162: "OpenLDI dual pixel", 0x5012: "PanelLink LFP", 0x5042: "CMOS LFP", 0x5062: "LVDS",
    0x5162: "dual-channel LVDS", 0x51E2: "dual-channel LVDS with HDCP",
    0x1022: "internal LFP (LVDS)", 0x1009: "internal TV",
    0x68C6: "DisplayPort", 0x60D6: "DisplayPort dual mode (DP++: DP/HDMI/DVI)", 0x78C6: "eDP",
    0x68D6: "DisplayPort/DVI", 0x68D2: "DVI", 0x7CC2: "MIPI DSI",
}

# dvo_port (BDB 155+): name, minimum BDB, driver port letter with the default mapping
DVO_PORT_NAMES: dict[int, tuple[str, int]] = {
    0: ("HDMI-A", 155), 1: ("HDMI-B", 155), 2: ("HDMI-C", 155), 3: ("HDMI-D", 155), 4: ("LVDS", 155), 5: ("TV", 155),
    6: ("CRT", 155), 7: ("DP-B", 155), 8: ("DP-C", 155), 9: ("DP-D", 155), 10: ("DP-A", 155),
    11: ("DP-E", 193), 12: ("HDMI-E", 193), 13: ("DP-F", 155), 14: ("HDMI-F", 155),
    15: ("DP-G", 217), 16: ("HDMI-G", 217), 17: ("DP-H", 217), 18: ("HDMI-H", 217), 19: ("DP-I", 217), 20: ("HDMI-I", 217),
    21: ("MIPI-A", 171), 22: ("MIPI-B", 171), 23: ("MIPI-C", 171), 24: ("MIPI-D", 171),
}

# ddc_pin: on CNP and later PCHs a VBT-specific code that i915 maps to a GMBUS pin (map_ddc_pin);
# before, and on DG1 and later discrete parts, the GMBUS pin number itself (intel_gmbus.h).
DDC_PIN_BY_PCH: dict[str, dict[int, str]] = {
    "CNP PCH": {1: "DDI B", 2: "DDI C", 3: "DDI D", 4: "DDI F"},
    "ICP/TGP PCH (ICL, TGL, JSL/EHL)": {1: "DDI A", 2: "DDI B", 3: "DDI C (TGL)", 4: "TC1", 5: "TC2", 6: "TC3", 7: "TC4", 8: "TC5", 9: "TC6"},
    "RKL with TGP PCH": {1: "DDI A", 2: "DDI B", 3: "DDI D", 4: "DDI E"},
    "gen9 (SKL-class) with TGP PCH": {1: "DDI B", 2: "DDI C", 3: "DDI D"},
    "ADL-S": {1: "DDI A", 2: "TC1", 3: "TC2", 4: "TC3", 5: "TC4"},
    "ADL-P, MTL PCH and later": {1: "DDI A", 2: "DDI B", 3: "TC1", 4: "TC2", 5: "TC3", 6: "TC4"},
}

LEGACY_CHILD_DEVICE_CONFIG_SIZE = 33


# One BitStruct over the 7 bytes; within each byte the fields are listed high bit first.
GeneralFeatures = cs.BitStruct(
    # byte 0
    "color_flip" / cs.Flag,
    "clear_screen" / cs.BitsInteger(3),
    "msg_enable" / cs.Flag,
    "flexaim" / cs.Flag,
    "panel_fitting" / cs.BitsInteger(2) * "0 off, 1 text, 2 graphics, 3 both",
    # byte 1
    "vbios_hotplug_support" / cs.Flag,
    "display_clock_mode" / cs.Flag * "< 183: reference clock mode; >= 183: dynamic CD clock (igt)",
    "underscan_vga_timings" / cs.Flag,
    "disable_ssc_ddt" / cs.Flag,
    "enable_lfp_on_override" / cs.Flag,
    "ssc_freq" / cs.Flag * "0 default / 1 alternate; MHz depend on the generation",
    "enable_ssc" / cs.Flag,
    "download_ext_vbt" / cs.Flag,
    # byte 2
    "ignore_strap_state" / cs.Flag,
    "panel_best_fit_timing" / cs.Flag,
    "copy_ilfp_dtd_to_sdvo_lvds_dtd" / cs.Flag,
    "vbios_extended_mode" / cs.Flag,
    "fdi_rx_polarity_inverted" / cs.Flag,
    "rotate_180" / cs.Flag,
    "single_dvi" / cs.Flag,
    "disable_smooth_vision" / cs.Flag,
    # byte 3
    "legacy_monitor_detect" / cs.BitsInteger(8),
    # byte 4
    "rsvd11" / cs.BitsInteger(2),
    "dp_ssc_dongle_supported" / cs.Flag,
    "dp_ssc_freq" / cs.Flag,
    "dp_ssc_enable" / cs.Flag,
    "int_efp_support" / cs.Flag,
    "int_tv_support" / cs.Flag,
    "int_crt_support" / cs.Flag,
    # byte 5
    "rsvd12" / cs.Flag,
    "tc_hpd_retry_timeout" / cs.BitsInteger(7),
    # byte 6
    "rsvd13" / cs.BitsInteger(6),
    "afc_startup_config" / cs.BitsInteger(2),
)


Block1 = ZeroFilled(this._params.block_size, GeneralFeatures)


DvoPort = EnumIn(
    cs.Int8ul,
    hdmia=0, hdmib=1, hdmic=2, hdmid=3, lvds=4, tv=5, crt=6, dpb=7, dpc=8, dpd=9, dpa=10,
    dpe=11, hdmie=12,  # 193+
    dpf=13, hdmif=14,
    dpg=15, hdmig=16, dph=17, hdmih=18, dpi=19, hdmii=20,  # 217+
    mipia=21, mipib=22, mipic=23, mipid=24,  # 171+
)


AuxChannel = EnumIn(
    cs.Int8ul,
    none=0x00, aux_a=0x40, aux_b=0x10, aux_c=0x20, aux_d=0x30, aux_e=0x50, aux_f=0x60,
    aux_g=0x70, aux_h=0x80, aux_i=0x90,
)


# device_type bits (DEVICE_TYPE_*); bit 7 has no kernel name, igt calls it content protection.
DeviceTypeFlags = cs.FlagsEnum(
    cs.Int16ul,
    analog_output=1 << 0,
    digital_output=1 << 1,
    displayport_output=1 << 2,
    video_signaling=1 << 3,
    tmds_dvi_signaling=1 << 4,
    lvds_signaling=1 << 5,
    high_speed_link=1 << 6,
    content_protection=1 << 7,
    dual_channel=1 << 8,
    composite_output=1 << 9,
    mipi_output=1 << 10,
    not_hdmi_output=1 << 11,
    internal_connector=1 << 12,
    hotplug_signaling=1 << 13,
    power_management=1 << 14,
    class_extension=1 << 15,
)


_HANDLE_BITS = sorted(set(DEVICE_HANDLES) | set(DEVICE_HANDLES_LATE))


_v = this._params.bdb_version


ChildDevice = FlatStruct(
    "handle" / cs.Int16ul * "DEVICE_HANDLE_* bits (LFP1 0x08, EFP1 0x04, EFP2 0x40 ...)",
    "device_type" / cs.Int16ul * "DEVICE_TYPE_* bits, see DeviceTypeFlags (0x78C6 eDP, 0x68C6 DP, 0x60D6 DP++)",
    # 0x04-0x0D: an ASCII id before BDB 152 (igt's reading), fields from 152
    cs.IfThenElse(
        _v >= 152,
        FlatStruct(
            "i2c_speed" / cs.Int8ul,
            cs.BitStruct(
                "reserved0" / cs.Flag,
                "dp_onboard_redriver_present" / cs.Flag,
                "dp_onboard_redriver_vswing" / cs.BitsInteger(3),
                "dp_onboard_redriver_preemph" / cs.BitsInteger(3),
            ),
            cs.BitStruct(
                "reserved1" / cs.Flag,
                "dp_ondock_redriver_present" / cs.Flag,
                "dp_ondock_redriver_vswing" / cs.BitsInteger(3),
                "dp_ondock_redriver_preemph" / cs.BitsInteger(3),
            ),
            cs.BitStruct(
                "hdmi_max_data_rate" / cs.BitsInteger(3),
                "hdmi_level_shifter_value" / cs.BitsInteger(5),
            ),
            "dtd_buf_ptr" / cs.Int16ul,
            cs.BitStruct(
                "reserved2" / cs.BitsInteger(2),
                "disable_compression_for_ext_disp" / cs.Flag,
                "lttpr_non_transparent" / cs.Flag,
                "ganged_edp" / cs.Flag,
                "compression_method_cps" / cs.Flag,
                "compression_enable" / cs.Flag,
                "edidless_efp" / cs.Flag,
            ),
            cs.BitStruct(
                "reserved3" / cs.BitsInteger(4),
                "compression_structure_index" / cs.BitsInteger(4),
            ),
            cs.BitStruct(
                "reserved4" / cs.BitsInteger(3),
                "hdmi_max_frl_rate_valid" / cs.Flag,
                "hdmi_max_frl_rate" / cs.BitsInteger(4),
            ),
            "reserved5" / cs.Int8ul,
        ),
        FlatStruct("device_id" / Text(10)),
    ),
    "addin_offset" / cs.Int16ul,
    "dvo_port" / cs.IfThenElse(_v >= 155, DvoPort, cs.Int8ul) * "before 155: DVO-A/B/C numbering",
    "i2c_pin" / cs.Int8ul,
    "target_addr" / cs.Int8ul * "formerly slave_addr",
    "ddc_pin" / cs.Int8ul * "PCH-specific mapping to ports",
    "edid_ptr" / cs.Int16ul,
    "dvo_cfg" / cs.Int8ul,
    # 0x17-0x1A: a second DVO before BDB 155, flags + AUX + dongle from 155
    cs.IfThenElse(
        _v >= 155,
        FlatStruct(
            cs.BitStruct(
                "dp_max_lane_count" / cs.BitsInteger(2) * "lanes = value + 1",
                "use_vbt_vswing" / cs.Flag,
                "hpd_invert" / cs.Flag,
                "iboost" / cs.Flag,
                "lspcon" / cs.Flag,
                "lane_reversal" / cs.Flag,
                "efp_routed" / cs.Flag,
            ),
            cs.BitStruct(
                "support_reserved" / cs.BitsInteger(5),
                "tmds_support" / cs.Flag,
                "dp_support" / cs.Flag,
                "hdmi_support" / cs.Flag,
            ),
            "aux_channel" / AuxChannel * "AUX-A is 0x40, not 0",
            "dongle_detect" / cs.Int8ul,
        ),
        FlatStruct(
            "dvo2_port" / cs.Int8ul,
            "i2c2_pin" / cs.Int8ul,
            "target2_addr" / cs.Int8ul,
            "ddc2_pin" / cs.Int8ul,
        ),
    ),
    cs.BitStruct(
        "capabilities_reserved" / cs.BitsInteger(2),
        "integrated_encoder" / cs.Flag,
        "hpd_status" / cs.BitsInteger(2),
        "sdvo_stall" / cs.Flag,
        "pipe_cap" / cs.BitsInteger(2),
    ),
    "dvo_wiring" / cs.Int8ul,
    cs.IfThenElse(_v >= 171, FlatStruct("mipi_bridge_type" / cs.Int8ul), FlatStruct("dvo2_wiring" / cs.Int8ul)),
    "extended_type" / cs.Int16ul,
    "dvo_function" / cs.Int8ul,
    cs.BitStruct(
        "dp_port_trace_length" / cs.BitsInteger(4),
        "dyn_port_over_tc" / cs.Flag,
        "dedicated_external" / cs.Flag,
        "tbt" / cs.Flag,
        "dp_usb_type_c" / cs.Flag,
    ),
    "dp_gpio_index" / cs.Int8ul,
    "dp_gpio_pin_num" / cs.Int16ul,
    cs.BitStruct(
        "hdmi_iboost_level" / cs.BitsInteger(4),
        "dp_iboost_level" / cs.BitsInteger(4),
    ),
    cs.BitStruct(
        "dp_max_link_rate_reserved" / cs.BitsInteger(5),
        "dp_max_link_rate" / cs.BitsInteger(3) * "216-229: 0 = HBR3 (max); 230+: 0 = platform default",
    ),
    "efp_index" / cs.Int8ul,
    cs.ByteSwapped(cs.BitStruct(
        "edp_data_rate_override_reserved" / cs.BitsInteger(20),
        "edp_data_rate_override" / cs.BitsInteger(12) * "bitmask of eDP link rates to reject",
    )),
)


CHILD_DEVICE_CONFIG_SIZE = 44  # sizeof(struct child_device_config) in the newest kernel


MAX_CHILD_DEVICES = 255  # entries decoded per table at most (igt counts them in a u8 too); the rest stays unparsed


GeneralDefinitionsHeader = cs.BitStruct(
    "crt_ddc_gmbus_pin" / cs.BitsInteger(8),
    "rsvd1" / cs.BitsInteger(5),
    "dpms_aim" / cs.Flag,
    "skip_boot_crt_detect" / cs.Flag,
    "dpms_non_acpi" / cs.Flag * "older headers: dpms_acpi",
    "boot_display" / cs.Array(2, cs.BitsInteger(8)),
    "child_dev_size" / cs.BitsInteger(8) * "bytes per child entry",
)


GeneralDefinitions = FlatStruct(
    cs.Check(_v >= 0),  # fail loudly without the bdb_version parse parameter
    GeneralDefinitionsHeader,
    # entries of child_dev_size bytes, each read into a zero-filled full-size child; a trailing
    # partial entry stops the range and is kept in "unparsed"
    "devices" / cs.If(this.child_dev_size > 0, BoundedRange(ZeroFilled(this.child_dev_size, ChildDevice), MAX_CHILD_DEVICES)),
    "unparsed" / Raw(),
)


def child_device_expected_size(bdb_version: int) -> int:
    """The child entry size i915 expects for a BDB version (newest struct size when unknown)."""
    if bdb_version < 106:
        return 22
    if bdb_version < 111:
        return 27
    if bdb_version < 195:
        return LEGACY_CHILD_DEVICE_CONFIG_SIZE
    if bdb_version == 195:
        return 37
    if bdb_version < 216:
        return 38
    if bdb_version < 256:
        return 39
    if bdb_version < 263:
        return 40
    return CHILD_DEVICE_CONFIG_SIZE


def device_handle_names(handle: int, bdb_version: int) -> list[str]:
    """Names of the bits in a child's ``handle`` at a BDB version (``unknown(0x..)`` for the rest)."""
    return list(_device_handle_names(handle, bdb_version))


@lru_cache(maxsize=4096)
def _device_handle_names(handle: int, bdb_version: int) -> tuple[str, ...]:
    names, rest = [], handle
    for bit in _HANDLE_BITS:
        if not handle & bit:
            continue
        for table in (DEVICE_HANDLES, DEVICE_HANDLES_LATE):
            name, lo, hi = table.get(bit, (None, 0, None))
            if name and bdb_version >= lo and (hi is None or bdb_version <= hi):
                names.append(name)
                rest &= ~bit
                break
    if rest:
        names.append(f"unknown({rest:#x})")
    return tuple(names)


PANEL_FITTING_NAMES = {0: "disabled", 1: "text only", 2: "graphics only", 3: "text & graphics"}


def _ssc_meaning(value: Any) -> dict[str, Any]:
    alternate = bool(int_of(value))
    # kHz by display version (i915 intel_bios_ssc_frequency; igt decode_ssc_freq prints MHz, 66 for 66667)
    return coded(value, "alternate" if alternate else "default",
                 khz_by_gen={"gen2": 66667 if alternate else 48000, "gen3-4": 100000 if alternate else 96000,
                             "gen5+": 100000 if alternate else 120000})


def general_features_meaning(fields: dict[str, Any], bdb_version: int) -> dict[str, Any]:
    """Meanings of block 1's coded fields at ``bdb_version``."""
    out: dict[str, Any] = {
        "panel_fitting": coded(fields.get("panel_fitting"), PANEL_FITTING_NAMES.get(int_of(fields.get("panel_fitting")))),
        "ssc_freq": _ssc_meaning(fields.get("ssc_freq")),
        "dp_ssc_freq": _ssc_meaning(fields.get("dp_ssc_freq")),
    }
    mode = int_of(fields.get("display_clock_mode"))
    if bdb_version >= 183:
        out["display_clock_mode"] = coded(mode, "dynamic CD clock" if mode else "no dynamic CD clock")
    else:
        out["display_clock_mode"] = coded(mode, "reference clock: BTM (legacy buffer through mode)" if mode
                                          else "reference clock: DCI (display clock integration)")
    if "afc_startup_config" in fields:  # 249+; i915 programs 0 for 1 and 7 for any other non-zero value
        afc = int_of(fields["afc_startup_config"])
        out["afc_startup_config"] = coded(afc, "default" if afc == 0 else f"i915 programs AFC startup {0 if afc == 1 else 7}")
    return out


def _general_features_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    plain["meaning"] = general_features_meaning(plain, bdb_version)
    return plain


def device_type_meaning(value: int) -> dict[str, Any]:
    """A child's ``device_type``: composite name (if a known one), the bits by name, and what i915
    makes of it (CRT = analog; DVI = TMDS; HDMI = TMDS and not NOT_HDMI; DP; eDP = DP and internal;
    DSI = MIPI). i915 also drops DVI/HDMI on port A before display version 12."""
    value = int_of(value)
    bits = list(_device_type_bits(value))
    dvi = bool(value & 1 << 4)
    dp = bool(value & 1 << 2)
    return {"value": value, "name": DEVICE_TYPE_NAMES.get(value), "bits": bits, "supports": {
        "crt": bool(value & 1 << 0), "dvi": dvi, "hdmi": dvi and not value & 1 << 11, "dp": dp,
        "edp": dp and bool(value & 1 << 12), "dsi": bool(value & 1 << 10)}}


@lru_cache(maxsize=1024)
def _device_type_bits(value: int) -> tuple[str, ...]:
    return tuple(name for name, mask in DeviceTypeFlags.flags.items() if value & mask)


def handle_meaning(value: int, bdb_version: int) -> dict[str, Any]:
    value = int_of(value)
    name, names = _handle_name(value, bdb_version)
    return {"value": value, "name": name, "bits": list(names)}


@lru_cache(maxsize=4096)
def _handle_name(handle: int, bdb_version: int) -> tuple[str, tuple[str, ...]]:
    names = _device_handle_names(handle, bdb_version)
    return "none" if handle == 0 else "+".join(n if n.startswith("unknown") else n.upper() for n in names), names


DVO_PORT_NAMES_PRE155 = {0: "DVO-A", 1: "DVO-B (SDVO-B)", 2: "DVO-C (SDVO-C)"}  # DEVICE_PORT_DVO*


def _dvo_letter(value: int) -> str | None:
    name = DVO_PORT_NAMES.get(value, ("", 0))[0]
    if name.startswith(("HDMI-", "DP-")):
        return name[-1]
    return "E" if value == 6 else None  # i915 maps the CRT code to port E


def dvo_port_meaning(value: Any, bdb_version: int) -> dict[str, Any]:
    """A child's ``dvo_port``: the VBT name and the driver port per platform family (i915
    dvo_port_to_port: default by letter; RKL/DG1 C,D -> TC1,TC2; ADL-S B-E -> TC1-TC4; display
    version 13+ F-I -> TC1-TC4; DSI: MIPI-A -> A, MIPI-C -> B on display 11+, else C)."""
    value = int_of(value)
    if bdb_version < 155:
        name = DVO_PORT_NAMES_PRE155.get(value) or DVO_PORT_NAMES.get(value, (None, 0))[0]
        return {"value": value, "name": name}
    name, since = DVO_PORT_NAMES.get(value, (None, 0))
    out = {"value": value, "name": name}
    if name and bdb_version < since:
        out["note"] = f"{name} is defined from BDB {since}"
    port = _dvo_driver_port(value)
    if port is not None:
        out["port"] = dict(port)
    return out


@lru_cache(maxsize=256)
def _dvo_driver_port(value: int) -> tuple[tuple[str, str | None], ...] | None:
    """The ``port`` entries of :func:`dvo_port_meaning` for a BDB 155+ code, or None."""
    letter = _dvo_letter(value)
    if letter:
        tc = "ABCDEFGHI".index(letter)
        return (
            ("default", letter),
            ("RKL/DG1", {"C": "TC1", "D": "TC2"}.get(letter, letter if letter in "AB" else None)),
            ("ADL-S", {"A": "A", "B": "TC1", "C": "TC2", "D": "TC3", "E": "TC4"}.get(letter)),
            ("display 13+ (ADL-P and later)", letter if tc < 5 else f"TC{tc - 4}"),
        )
    name = DVO_PORT_NAMES.get(value, (None, 0))[0]
    if name in ("MIPI-A", "MIPI-C"):
        return (("DSI", "A" if name == "MIPI-A" else "B on display 11+, C before"),)
    return None


AUX_CHANNEL_NAMES = {0x00: "none", 0x40: "AUX-A", 0x10: "AUX-B", 0x20: "AUX-C", 0x30: "AUX-D", 0x50: "AUX-E",
                     0x60: "AUX-F", 0x70: "AUX-G", 0x80: "AUX-H", 0x90: "AUX-I"}


def aux_channel_meaning(value: Any) -> dict[str, Any]:
    """A child's ``aux_channel`` (AUX-A is 0x40) and the USB-C AUX it becomes where i915 remaps
    (display 13+: F-I -> USBC1-4; ADL-S: B-E -> USBC1-4; RKL/DG1: C, D -> USBC1, USBC2)."""
    value = int_of(value)
    out = {"value": value, "name": AUX_CHANNEL_NAMES.get(value)}
    remap = _aux_remap(value)
    if remap:
        out["remapped"] = dict(remap)
    return out


@lru_cache(maxsize=256)
def _aux_remap(value: int) -> tuple[tuple[str, str], ...]:
    """The ``remapped`` entries of :func:`aux_channel_meaning` (platform family, USB-C AUX)."""
    name = AUX_CHANNEL_NAMES.get(value)
    if not name or name == "none":
        return ()
    letter = name[-1]
    remap = {
        "RKL/DG1": {"C": "USBC1", "D": "USBC2"}.get(letter),
        "ADL-S": {"B": "USBC1", "C": "USBC2", "D": "USBC3", "E": "USBC4"}.get(letter),
        "display 13+ (ADL-P and later)": {"F": "USBC1", "G": "USBC2", "H": "USBC3", "I": "USBC4"}.get(letter),
    }
    return tuple((k, v) for k, v in remap.items() if v)


GMBUS_PIN_NAMES = {0: "disabled", 1: "SSC (BXT+: pin 1)", 2: "VGA DDC (BXT+: pin 2)", 3: "panel (CHV: DPD; BXT+: pin 3)",
                   4: "DPC (HDMI-C)", 5: "DPB (SDVO, HDMI-B)", 6: "DPD (HDMI-D)", 7: "reserved"}


def ddc_pin_meaning(value: Any) -> dict[str, Any]:
    """A child's ``ddc_pin``. The VBT alone does not say which PCH it is for, so every reading is
    given: the GMBUS pin (PCHs before CNP, Atom parts, DG1+ discrete) and the port per PCH family."""
    value = int_of(value)
    return {"value": value, "name": None if value else "none", "by_platform": dict(_ddc_readings(value)),
            "caveat": "the meaning depends on the PCH, which the VBT does not record"}


@lru_cache(maxsize=256)
def _ddc_readings(value: int) -> tuple[tuple[str, str], ...]:
    """The ``by_platform`` entries of :func:`ddc_pin_meaning` (reading, pin or port)."""
    readings = {"GMBUS pin (before CNP, Atom, DG1+)": GMBUS_PIN_NAMES.get(value)}
    for pch, table in DDC_PIN_BY_PCH.items():
        readings[pch] = table.get(value)
    return tuple((k, v) for k, v in readings.items() if v)


I2C_SPEED_NAMES = {0: "100 kHz", 1: "50 kHz", 2: "400 kHz", 3: "1 MHz"}


HDMI_MAX_DATA_RATE_NAMES = {0: ("platform max", 204), 1: ("297 MHz", 204), 2: ("165 MHz", 204),
                            3: ("594 MHz", 249), 4: ("340 MHz", 249), 5: ("300 MHz", 249)}


HDMI_FRL_RATE_NAMES = {0: "FRL not supported", 1: "3 GT/s", 2: "6 GT/s", 3: "8 GT/s", 4: "10 GT/s", 5: "12 GT/s"}


DP_VSWING_NAMES = {0: "0.4 V", 1: "0.6 V", 2: "0.8 V", 3: "1.2 V"}


DP_PREEMPH_NAMES = {0: "0 dB", 1: "3.5 dB", 2: "6 dB", 3: "9.5 dB"}


MIPI_BRIDGE_TYPE_NAMES = {1: "ASUS", 2: "Toshiba", 3: "Renesas"}  # igt; 0 = no bridge


DP_MAX_LINK_RATE_216 = {0: "HBR3 (8.1 Gbps)", 1: "HBR2 (5.4 Gbps)", 2: "HBR (2.7 Gbps)", 3: "RBR (1.62 Gbps)"}


DP_MAX_LINK_RATE_230 = {0: "platform default", 1: "RBR (1.62 Gbps)", 2: "HBR (2.7 Gbps)", 3: "HBR2 (5.4 Gbps)",
                        4: "HBR3 (8.1 Gbps)", 5: "UHBR10 (10 Gbps)", 6: "UHBR13.5 (13.5 Gbps)", 7: "UHBR20 (20 Gbps)"}


EDP_RATE_OVERRIDE_BITS = ["1.62", "2.16", "2.43", "2.7", "3.24", "4.32", "5.4", "6.75", "8.1", "10", "13.5", "20"]  # Gbps


IBOOST_LEVELS = {0: 1, 1: 3, 2: 7}  # i915 translate_iboost


def dp_max_link_rate_meaning(value: Any, bdb_version: int) -> dict[str, Any]:
    """216-229: 0 = HBR3 (the maximum) .. 3 = RBR (i915 treats unknown codes as HBR3);
    230+: 0 = platform default, 1 = RBR .. 7 = UHBR20."""
    value = int_of(value)
    if bdb_version >= 230:
        return coded(value, DP_MAX_LINK_RATE_230.get(value))
    return coded(value, DP_MAX_LINK_RATE_216.get(value, "HBR3 (8.1 Gbps) (unknown code, i915 default)"))


def child_device_meaning(child: dict[str, Any], bdb_version: int) -> dict[str, Any]:
    """Meanings of one child device's coded fields at ``bdb_version`` (fields the version does not
    define are left out)."""
    v = bdb_version
    get = child.get
    out: dict[str, Any] = {
        "handle": handle_meaning(get("handle"), v),
        "device_type": device_type_meaning(get("device_type")),
    }
    if v >= 152 and "i2c_speed" in child:
        speed = int_of(child["i2c_speed"])
        out["i2c_speed"] = {"value": speed, "name": I2C_SPEED_NAMES.get(speed)}
    if v >= 158:
        for vs_key, pe_key in _REDRIVER_KEYS:
            vs, pe = int_of(get(vs_key)), int_of(get(pe_key))
            out[vs_key] = {"value": vs, "name": DP_VSWING_NAMES.get(vs)}
            out[pe_key] = {"value": pe, "name": DP_PREEMPH_NAMES.get(pe)}
    if v >= 204:
        rate = int_of(get("hdmi_max_data_rate"))
        name, since = HDMI_MAX_DATA_RATE_NAMES.get(rate, (None, 0))
        out["hdmi_max_data_rate"] = {"value": rate, "name": name if v >= since else None}
        if name and v < since:
            out["hdmi_max_data_rate"]["note"] = f"defined from BDB {since}"
    if v >= 237:
        frl = int_of(get("hdmi_max_frl_rate"))
        out["hdmi_max_frl_rate"] = {"value": frl, "name": HDMI_FRL_RATE_NAMES.get(frl)}
    out["dvo_port"] = dvo_port_meaning(get("dvo_port"), v)
    out["ddc_pin"] = ddc_pin_meaning(get("ddc_pin"))
    if v >= 155:
        out["aux_channel"] = aux_channel_meaning(get("aux_channel"))
    else:
        out["dvo2_port"] = dvo_port_meaning(get("dvo2_port"), v)
    if v >= 244:
        lanes = int_of(get("dp_max_lane_count"))
        out["dp_max_lane_count"] = {"value": lanes, "name": f"x{lanes + 1}"}
    if v >= 171:
        mipi = int_of(get("mipi_bridge_type"))
        out["mipi_bridge_type"] = {"value": mipi, "name": MIPI_BRIDGE_TYPE_NAMES.get(mipi)}
    if v >= 196:
        used = bool(get("iboost"))
        for key in ("dp_iboost_level", "hdmi_iboost_level"):
            level = int_of(get(key))
            boost = IBOOST_LEVELS.get(level)
            if boost:
                out[key] = {"value": level, "name": f"boost level {boost}", "used": used}
            else:
                out[key] = {"value": level, "name": None, "used": used, "note": "i915 rejects this value"}
    if v >= 216:
        out["dp_max_link_rate"] = dp_max_link_rate_meaning(get("dp_max_link_rate"), v)
    if v >= 263:
        mask = int_of(get("edp_data_rate_override"))
        out["edp_data_rate_override"] = {"value": mask, "name": None,
                                         "rejected_gbps": [r for i, r in enumerate(EDP_RATE_OVERRIDE_BITS) if mask >> i & 1]}
    return out


_REDRIVER_KEYS = (("dp_onboard_redriver_vswing", "dp_onboard_redriver_preemph"),
                  ("dp_ondock_redriver_vswing", "dp_ondock_redriver_preemph"))


def _general_definitions_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    devices = plain.get("devices") or []
    findings = []
    if len(devices) >= MAX_CHILD_DEVICES and plain.get("unparsed"):
        findings.append(f"only the first {MAX_CHILD_DEVICES} child entries are decoded; the rest is kept as unparsed")
    for dev in devices:
        if isinstance(dev, dict) and dev.get("device_type"):  # empty entries (type 0) are skipped, as i915 does
            dev["meaning"] = child_device_meaning(dev, bdb_version)
    if len(raw) < 5:
        findings.append(f"block is {len(raw)} bytes, shorter than its 5-byte header (i915 ignores it)")
    size = plain["child_dev_size"]
    expected = child_device_expected_size(bdb_version)
    if size != expected:
        findings.append(f"child_dev_size {size} differs from the {expected} i915 expects at BDB {bdb_version} (it logs an error and copies min(size, {CHILD_DEVICE_CONFIG_SIZE}) bytes)")
    if size < LEGACY_CHILD_DEVICE_CONFIG_SIZE:
        findings.append(f"child_dev_size {size} is below {LEGACY_CHILD_DEVICE_CONFIG_SIZE}: i915 ignores the child devices")
    plain["devices"] = gate_all(devices, CHILD_DEVICE_GATES, bdb_version)
    if plain.get("unparsed") and len(plain["devices"]) < MAX_CHILD_DEVICES:
        findings.append(f"{len(plain['unparsed']) // 2} bytes after the last whole child entry")
    plain["findings"] = findings
    return plain


def build_general_features(values: dict[str, Any], bdb_version: int, size: int | None = None) -> bytes:
    """Block 1's data from plain values, zeros for anything not given. ``size`` defaults to the
    7-byte struct (plus any ``unparsed`` bytes); a smaller size gives an older, shorter block and
    refuses to drop non-zero fields."""
    values = ungate(values or {})
    template = zero_value(Block1, 7, bdb_version=bdb_version, block_size=7)
    full = merge_values(template, values)
    tail = values.get("unparsed") or b""
    tail_len = len(tail) // 2 if isinstance(tail, str) else len(tail)
    n = size if size is not None else 7 + tail_len
    return build(Block1, full, "BDB block 1 (general_features)", bdb_version=bdb_version, block_size=n)


def build_general_definitions(values: dict[str, Any], bdb_version: int, size: int | None = None) -> bytes:
    """Block 2's data: ``devices`` is a list of child dicts; ``child_dev_size`` defaults to the
    size i915 expects at ``bdb_version``."""
    values = ungate(values or {})
    what = "BDB block 2 (general_definitions)"
    child_size = values.get("child_dev_size")
    if child_size is None:
        child_size = child_device_expected_size(bdb_version)
    header = merge_values(zero_value(GeneralDefinitionsHeader, 5), {k: v for k, v in values.items() if k not in ("devices", "unparsed")})
    header["child_dev_size"] = child_size
    child_template = zero_value(ChildDevice, CHILD_DEVICE_CONFIG_SIZE, bdb_version=bdb_version)
    devices = [merge_values(child_template, ungate(dev)) for dev in values.get("devices") or []]
    full = cs.Container(header)
    full["devices"] = devices
    full["unparsed"] = values.get("unparsed") or b""
    data = build(GeneralDefinitions, full, what, bdb_version=bdb_version, block_size=0)
    if size is not None and size != len(data):
        raise DecodeError(what, f"cannot build: values make {len(data)} bytes, size {size} was asked for")
    return data


SPECS = {
    1: BlockSpec("general_features", Block1, full_size=7, gates=GENERAL_FEATURES_GATES, post=_general_features_post, builder=build_general_features),
    2: BlockSpec("general_definitions", GeneralDefinitions, post=_general_definitions_post, builder=build_general_definitions),
}














