"""The Intel Video BIOS Table (VBT): the ``$VBT`` header, the BIOS Data Block (BDB) header, the
block walk, and block schemas (so far block 1, general features, and block 2, general
definitions with its child devices).

Names follow the Linux kernel's ``intel_vbt_defs.h`` (``struct vbt_header``, ``bdb_header``,
``bdb_general_features``, ``child_device_config``, ``bdb_general_definitions``) and the block
walk follows ``intel_bios.c`` / igt's ``intel_vbt_decode.c``. Facts and their sources:
``../shared/reference/vbt.md``.

Version gating is data: :data:`BLOCKS` maps a block id to its name, schema and BDB range, and each
block schema is parsed with the BDB version as a parse parameter (``bdb_version=``, read inside
schemas as ``this._params.bdb_version``). Where a layout changes with the version (the child
device's bytes 0x04-0x0D before BDB 152, 0x17-0x1A before 155, 0x1D before 171) the schema switches
with ``IfThenElse``; fields that a version merely does not define yet are listed in per-block
``gates`` tables and moved out of the decoded output by :func:`decode_block`.

Public functions take bytes and return plain data:

- :func:`find_vbt` -- offset of the first ``$VBT`` a header fits behind;
- :func:`walk_blocks` -- headers, checksum, the blocks i915/igt would see, ``findings``;
- :func:`decode_block` / :func:`build_block` -- one block's fields, and back;
- :func:`build_vbt` -- a complete VBT (headers, sizes, checksum) from raw block payloads.
"""

from __future__ import annotations

import io
from typing import Any, NamedTuple

import construct as cs
from construct import this

from igdscope.decode import DecodeError, build, decode, to_plain
from igdscope.schemas.common import Raw, Text, merge_values, zero_value

VBT_SIGNATURE = b"$VBT"
BDB_SIGNATURE = "BIOS_DATA_BLOCK "
VBT_HEADER_SIZE = 48
BDB_HEADER_SIZE = 22
MAX_SCAN = 16 << 20  # find_vbt looks at most this far (a ROM BAR is at most 16 MiB)
BDB_MIPI_SEQUENCE = 53
LEGACY_CHILD_DEVICE_CONFIG_SIZE = 33


# -- construct helpers ------------------------------------------------------------------------


class FlatStruct(cs.Struct):
    """A ``Struct`` whose unnamed members that parse to dicts (``BitStruct`` groups, ``IfThenElse``
    between two ``FlatStruct`` layouts) are merged into it, the way C puts anonymous bit-fields and
    unions in the parent: ``child.lane_reversal``, not ``child.flags_17.lane_reversal``.

    Building hands such a member the whole parent dict; it picks the keys it knows.
    """

    def _parse(self, stream, context, path):
        obj = cs.Container()
        obj._io = stream
        context = cs.Container(_=context, _params=context._params, _root=None, _parsing=context._parsing,
                               _building=context._building, _sizing=context._sizing, _subcons=self._subcons,
                               _io=stream, _index=context.get("_index", None))
        context._root = context._.get("_root", context)
        for sc in self.subcons:
            try:
                subobj = sc._parsereport(stream, context, path)
            except cs.StopFieldError:
                break
            if sc.name:
                obj[sc.name] = subobj
                context[sc.name] = subobj
            elif isinstance(subobj, dict):
                for key, value in subobj.items():
                    if not str(key).startswith("_"):
                        obj[key] = value
                        context[key] = value
        return obj

    def _build(self, obj, stream, context, path):
        if obj is None:
            obj = cs.Container()
        context = cs.Container(_=context, _params=context._params, _root=None, _parsing=context._parsing,
                               _building=context._building, _sizing=context._sizing, _subcons=self._subcons,
                               _io=stream, _index=context.get("_index", None))
        context._root = context._.get("_root", context)
        context.update(obj)
        for sc in self.subcons:
            try:
                if not sc.name:
                    sc._build(obj, stream, context, path)
                    continue
                if sc.flagbuildnone:
                    subobj = obj.get(sc.name, None)
                elif sc.name in obj:
                    subobj = obj[sc.name]
                else:
                    raise cs.ConstructError(f"missing field {sc.name!r}", path=path)
                context[sc.name] = subobj
                context[sc.name] = sc._build(subobj, stream, context, path)
            except cs.StopFieldError:
                break
        return context

    def _emitparse(self, code):  # Struct's emitter would not merge the unnamed members
        raise NotImplementedError

    def _emitbuild(self, code):
        raise NotImplementedError


class ZeroFilled(cs.Subconstruct):
    """Parse ``length`` bytes with a fixed-size struct the way i915 and igt copy a block or child
    entry: into a zero-filled buffer of the struct's full size, so a short entry reads as zeros
    beyond its end. Bytes beyond the struct are kept under ``unparsed``. Building cuts the result
    back to ``length`` bytes and refuses to drop non-zero bytes."""

    def __init__(self, length: Any, subcon: cs.Construct):
        super().__init__(subcon)
        self.length = length

    def _parse(self, stream, context, path):
        n = cs.evaluate(self.length, context)
        full = self.subcon._sizeof(context, path)
        data = cs.stream_read(stream, n, path)
        obj = self.subcon._parsereport(io.BytesIO(data[:full].ljust(full, b"\0")), context, path)
        if n > full:
            obj["unparsed"] = data[full:]
        return obj

    def _build(self, obj, stream, context, path):
        n = cs.evaluate(self.length, context)
        sub = io.BytesIO()
        self.subcon._build(obj, sub, context, path)
        data = sub.getvalue()
        tail = obj.get("unparsed") if isinstance(obj, dict) else None
        if tail:
            data += bytes.fromhex(tail) if isinstance(tail, str) else bytes(tail)
        if len(data) > n and any(data[n:]):
            raise cs.ValidationError(f"values need {len(data.rstrip(bytes(1)))} bytes but the entry has {n}", path=path)
        data = data[:n].ljust(n, b"\0")
        cs.stream_write(stream, data, n, path)
        return obj

    def _sizeof(self, context, path):
        return cs.evaluate(self.length, context)


class EnumIn(cs.Enum):
    """``Enum`` that also builds from the ``{"value": n, "name": ...}`` form of
    :func:`~igdscope.decode.to_plain`, so decoded plain data builds back."""

    def _encode(self, obj, context, path):
        if isinstance(obj, dict) and "value" in obj:
            obj = obj["value"]
        return super()._encode(obj, context, path)

    def _emitbuild(self, code):
        raise NotImplementedError


# -- headers ----------------------------------------------------------------------------------

VbtHeader = cs.Struct(
    "signature" / Text(20) * "'$VBT' then a space-padded platform string; only '$VBT' is checked",
    "version" / cs.Int16ul * "header version x100 (100 = 1.0)",
    "header_size" / cs.Int16ul * "normally 48",
    "vbt_size" / cs.Int16ul * "VBT header + BDB header + blocks",
    "vbt_checksum" / cs.Int8ul * "makes the first vbt_size bytes sum to 0 (nobody enforces it)",
    "reserved0" / cs.Int8ul,
    "bdb_offset" / cs.Int32ul * "offset of the BDB header from the VBT start",
    "aim_offset" / cs.Array(4, cs.Int32ul) * "add-in module data offsets, 0 if none",
)

BdbHeader = cs.Struct(
    "signature" / Text(16) * "'BIOS_DATA_BLOCK ' (one trailing space, no NUL)",
    "version" / cs.Int16ul * "BDB version: drives every version-dependent field",
    "header_size" / cs.Int16ul * "normally 22; blocks start at BDB + header_size",
    "bdb_size" / cs.Int16ul * "BDB header + blocks",
)

BdbBlockHeader = cs.Struct(
    "id" / cs.Int8ul,
    "size" / cs.Int16ul * "data bytes that follow (block 53 v3+: see the u32 inside)",
)

BdbBlock = cs.Struct(
    "id" / cs.Int8ul,
    "size" / cs.Int16ul,
    "data" / Raw(this.size),
)

# The contiguous layout build_vbt writes: header, BDB header right behind it, blocks.
VbtLayout = cs.Struct(
    "header" / VbtHeader,
    "bdb" / BdbHeader,
    "blocks" / cs.GreedyRange(BdbBlock),
)

# -- block ids (intel_vbt_defs.h enum bdb_block_id, igt's dumper table) ------------------------

BLOCK_NAMES: dict[int, str] = {
    1: "general_features",
    2: "general_definitions",
    3: "display_toggle",
    4: "mode_support_list",
    5: "generic_mode_table",
    6: "ext_mmio_regs",  # VBIOS only
    7: "swf_io",  # VBIOS only
    8: "swf_mmio",  # VBIOS only
    9: "psr",  # dot_clock_override_alm up to BDB 164, see block_name()
    10: "mode_removal_table",
    11: "child_device_table",
    12: "driver_features",
    13: "driver_persistence",
    14: "ext_table_ptrs",  # VBIOS only
    15: "dot_clock_override",
    16: "display_select_old",
    17: "sv_test_functions",
    18: "driver_rotation",
    19: "display_remove_old",
    20: "oem_custom",
    21: "efp_list",
    22: "sdvo_lvds_options",
    23: "sdvo_lvds_dtd",
    24: "sdvo_lvds_pnp_id",
    25: "sdvo_lvds_pps",
    26: "tv_options",
    27: "edp",
    28: "efp_dtd",  # 161+
    29: "display_select_ivb",  # 164+
    30: "display_remove_ivb",  # 164+
    31: "display_select_hsw",  # 166+
    32: "display_remove_hsw",  # 166+
    40: "lfp_options",
    41: "lfp_data_ptrs",
    42: "lfp_data",
    43: "lfp_backlight",
    44: "lfp_power",
    45: "edp_bfi",  # 160+
    46: "chromaticity",  # 169+
    50: "mipi",  # 170-172
    51: "fixed_set_mode",  # 172+
    52: "mipi_config",  # 175+
    53: "mipi_sequence",  # 177+
    54: "rgb_palette",  # 180+
    55: "compression_parameters_old",  # 198-212
    56: "compression_parameters",  # 213+
    57: "vswing_preemph",  # 218+
    58: "generic_dtd",  # 229+
    252: "int15_hook",  # VBIOS only
    253: "prd_table",
    254: "skip",  # VBIOS-private data
}


def block_name(block_id: int, bdb_version: int | None = None) -> str | None:
    """The kernel's name for a block id (block 9 is the ALM dot-clock table up to BDB 164)."""
    if block_id == 9 and bdb_version is not None and bdb_version <= 164:
        return "dot_clock_override_alm"
    return BLOCK_NAMES.get(block_id)


# -- block 1: general features ----------------------------------------------------------------

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

GENERAL_FEATURES_GATES: dict[str, tuple[int, int | None]] = {
    "vbios_extended_mode": (160, None),
    "copy_ilfp_dtd_to_sdvo_lvds_dtd": (160, None),
    "panel_best_fit_timing": (160, None),
    "ignore_strap_state": (160, None),
    "rotate_180": (181, None),
    "tc_hpd_retry_timeout": (242, None),
    "afc_startup_config": (249, None),
}

Block1 = ZeroFilled(this._params.block_size, GeneralFeatures)

# -- block 2: general definitions and child devices --------------------------------------------

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
    "devices" / cs.If(this.child_dev_size > 0, cs.GreedyRange(ZeroFilled(this.child_dev_size, ChildDevice))),
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
    names, rest = [], handle
    for bit in sorted(set(DEVICE_HANDLES) | set(DEVICE_HANDLES_LATE)):
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
    return names


# -- the block registry ------------------------------------------------------------------------


class BlockSpec(NamedTuple):
    name: str
    schema: cs.Construct
    min_bdb: int = 0
    max_bdb: int | None = None
    full_size: int | None = None  # the struct's size when the block is one fixed struct
    gates: dict[str, tuple[int, int | None]] = {}
    # post(plain, raw, bdb_version, context) -> plain: derived values and findings after parsing;
    # context holds the other blocks of the same VBT ({id: raw bytes}) for blocks that need them
    post: Any = None


BLOCKS: dict[int, BlockSpec] = {
    1: BlockSpec("general_features", Block1, full_size=7, gates=GENERAL_FEATURES_GATES),
    2: BlockSpec("general_definitions", GeneralDefinitions),
}


def _in_range(version: int, lo: int, hi: int | None) -> bool:
    return version >= lo and (hi is None or version <= hi)


def _gate(fields: dict[str, Any], gates: dict[str, tuple[int, int | None]], version: int) -> dict[str, Any]:
    """Move fields the version does not define out of ``fields``: zero ones are dropped, others go
    to ``not_valid_for_bdb`` (so nothing is lost and the block still builds back)."""
    odd = {}
    for name, (lo, hi) in gates.items():
        if name in fields and not _in_range(version, lo, hi):
            value = fields.pop(name)
            if value:
                odd[name] = value
    if odd:
        fields["not_valid_for_bdb"] = odd
    return fields


def _ungate(fields: dict[str, Any]) -> dict[str, Any]:
    fields = dict(fields)
    fields.update(fields.pop("not_valid_for_bdb", None) or {})
    fields.pop("findings", None)
    return fields


def decode_block(block_id: int, raw: bytes, bdb_version: int, context: dict[int, bytes] | None = None) -> dict[str, Any] | None:
    """Decode one block's data bytes (without the 3-byte id/size header) into plain data, or None
    when no schema covers this id at this BDB version. Short blocks read as zero-filled (i915's
    rule); bytes beyond the struct are returned as ``unparsed``. Block 2 adds ``findings`` about the
    child entry size."""
    spec = BLOCKS.get(block_id)
    if spec is None or not _in_range(bdb_version, spec.min_bdb, spec.max_bdb):
        return None
    raw = bytes(raw)
    parsed = decode(spec.schema, raw, f"BDB block {block_id} ({spec.name})", bdb_version=bdb_version, block_size=len(raw))
    plain = _gate(to_plain(parsed), spec.gates, bdb_version)
    if spec.post is not None:
        plain = spec.post(plain, raw, bdb_version, context or {})
    if block_id == 2:
        findings = []
        if len(raw) < 5:
            findings.append(f"block is {len(raw)} bytes, shorter than its 5-byte header (i915 ignores it)")
        size = plain["child_dev_size"]
        expected = child_device_expected_size(bdb_version)
        if size != expected:
            findings.append(f"child_dev_size {size} differs from the {expected} i915 expects at BDB {bdb_version} (it logs an error and copies min(size, {CHILD_DEVICE_CONFIG_SIZE}) bytes)")
        if size < LEGACY_CHILD_DEVICE_CONFIG_SIZE:
            findings.append(f"child_dev_size {size} is below {LEGACY_CHILD_DEVICE_CONFIG_SIZE}: i915 ignores the child devices")
        plain["devices"] = [_gate(dev, CHILD_DEVICE_GATES, bdb_version) for dev in plain.get("devices") or []]
        if plain.get("unparsed"):
            findings.append(f"{len(plain['unparsed']) // 2} bytes after the last whole child entry")
        plain["findings"] = findings
    return plain


def build_block(block_id: int, values: dict[str, Any], bdb_version: int, size: int | None = None) -> bytes:
    """Build one block's data bytes (no id/size header) from plain values, zeros for anything not
    given -- the inverse of :func:`decode_block`.

    Block 1: ``size`` defaults to the 7-byte struct (plus any ``unparsed`` bytes); a smaller size
    gives an older, shorter block and refuses to drop non-zero fields. Block 2: ``devices`` is a
    list of child dicts; ``child_dev_size`` defaults to the size i915 expects at ``bdb_version``.
    """
    spec = BLOCKS.get(block_id)
    if spec is None:
        raise ValueError(f"no schema for BDB block {block_id}")
    values = _ungate(values or {})
    what = f"BDB block {block_id} ({spec.name})"
    if block_id == 1:
        template = zero_value(spec.schema, spec.full_size, bdb_version=bdb_version, block_size=spec.full_size)
        full = merge_values(template, values)
        tail = values.get("unparsed") or b""
        tail_len = len(tail) // 2 if isinstance(tail, str) else len(tail)
        n = size if size is not None else spec.full_size + tail_len
        return build(spec.schema, full, what, bdb_version=bdb_version, block_size=n)
    # block 2
    child_size = values.get("child_dev_size")
    if child_size is None:
        child_size = child_device_expected_size(bdb_version)
    header = merge_values(zero_value(GeneralDefinitionsHeader, 5), {k: v for k, v in values.items() if k not in ("devices", "unparsed")})
    header["child_dev_size"] = child_size
    child_template = zero_value(ChildDevice, CHILD_DEVICE_CONFIG_SIZE, bdb_version=bdb_version)
    devices = [merge_values(child_template, _ungate(dev)) for dev in values.get("devices") or []]
    full = cs.Container(header)
    full["devices"] = devices
    full["unparsed"] = values.get("unparsed") or b""
    data = build(spec.schema, full, what, bdb_version=bdb_version, block_size=0)
    if size is not None and size != len(data):
        raise DecodeError(what, f"cannot build: values make {len(data)} bytes, size {size} was asked for")
    return data


# -- finding and walking ----------------------------------------------------------------------


def find_vbt(data: bytes, start: int = 0, limit: int = MAX_SCAN) -> int | None:
    """Offset of the first ``$VBT`` (byte-granular, like igt) at or after ``start`` with room for the
    48-byte header behind it, looking at most ``limit`` bytes; None if there is none."""
    data = memoryview(data)
    end = min(len(data), start + limit)
    hay = bytes(data[start:end])
    pos = hay.find(VBT_SIGNATURE)
    while pos != -1:
        if start + pos + VBT_HEADER_SIZE <= len(data):
            return start + pos
        pos = hay.find(VBT_SIGNATURE, pos + 1)
    return None


def _checksum(vbt: bytes, stored: int, vbt_size: int) -> dict[str, Any]:
    body = vbt[:vbt_size]
    computed = (stored - sum(body)) & 0xFF  # the byte that makes the first vbt_size bytes sum to 0
    return {"stored": stored, "computed": computed, "ok": computed == stored and len(body) == vbt_size}


def walk_blocks(data: bytes, vbt_offset: int = 0) -> dict[str, Any]:
    """Walk the VBT at ``vbt_offset`` of ``data``: headers, checksum, blocks, findings.

    Returns ``{"vbt_offset", "vbt_header", "bdb_header", "bdb_version", "checksum": {"stored",
    "computed", "ok"}, "blocks": [{"id", "name", "offset", "size", "raw"}], "ignored_blocks",
    "findings"}``. ``offset`` is where the block's 3-byte id/size header starts, counted from the
    VBT start (the same for a VBT file and its copy in a ROM or OpRegion); ``raw`` is the data
    bytes. The walk is i915's and igt's: blocks from ``bdb_offset + header_size``, a block must
    end inside ``bdb_size`` and inside the data, block 53 v3+ takes its size from the u32 after its
    version byte. A block past ``bdb_size`` that would still fit ``vbt_size`` is reported in
    ``ignored_blocks``. Only data too short for the 48-byte VBT header raises
    :class:`~igdscope.decode.DecodeError`.
    """
    data = bytes(data)
    vbt = data[vbt_offset:]
    if len(vbt) < VBT_HEADER_SIZE:
        raise DecodeError("VBT header", f"truncated ({len(vbt)} bytes at offset {vbt_offset:#x}, the header is 48)")
    header = decode(VbtHeader, vbt[:VBT_HEADER_SIZE], "VBT header")
    findings: list[str] = []
    out: dict[str, Any] = {
        "vbt_offset": vbt_offset,
        "vbt_header": to_plain(header),
        "bdb_header": None,
        "bdb_version": None,
        "checksum": _checksum(vbt, header.vbt_checksum, header.vbt_size),
        "blocks": [],
        "ignored_blocks": [],
        "findings": findings,
    }
    if vbt[:4] != VBT_SIGNATURE:
        findings.append(f"signature starts with {vbt[:4]!r}, not '$VBT' (i915 rejects it)")
    if header.header_size != VBT_HEADER_SIZE:
        findings.append(f"VBT header_size is {header.header_size}, expected 48")
    if header.vbt_size > len(vbt):
        findings.append(f"truncated: vbt_size is {header.vbt_size} but only {len(vbt)} bytes follow the VBT start")
    if not out["checksum"]["ok"] and header.vbt_size <= len(vbt):
        cs_ = out["checksum"]
        findings.append(f"checksum byte is {cs_['stored']:#04x}, {cs_['computed']:#04x} would make the VBT sum to 0 (i915 and igt do not check it)")

    bdb_at = header.bdb_offset
    if bdb_at + BDB_HEADER_SIZE > len(vbt):
        findings.append(f"BDB header at {bdb_at:#x} lies beyond the {len(vbt)} bytes available")
        return out
    bdb = decode(BdbHeader, vbt[bdb_at : bdb_at + BDB_HEADER_SIZE], "BDB header")
    out["bdb_header"] = to_plain(bdb)
    out["bdb_version"] = bdb.version
    if bdb.signature != BDB_SIGNATURE:
        findings.append(f"BDB signature is {vbt[bdb_at:bdb_at + 16]!r}, expected 'BIOS_DATA_BLOCK '")
    if bdb_at + BDB_HEADER_SIZE > header.vbt_size:
        findings.append(f"BDB header (at {bdb_at:#x}) does not fit in vbt_size {header.vbt_size} (i915 rejects the VBT)")
    elif bdb_at + bdb.bdb_size > header.vbt_size:
        findings.append(f"bdb_offset + bdb_size = {bdb_at + bdb.bdb_size} exceeds vbt_size {header.vbt_size} (i915 rejects the VBT)")
    elif bdb_at + bdb.bdb_size != header.vbt_size:
        findings.append(f"vbt_size {header.vbt_size} is {header.vbt_size - bdb_at - bdb.bdb_size} byte(s) more than bdb_offset + bdb_size ({bdb_at + bdb.bdb_size})")
    if bdb.header_size < BDB_HEADER_SIZE:
        findings.append(f"BDB header_size {bdb.header_size} is smaller than the 22-byte header: blocks would overlap it")
    elif bdb.header_size != BDB_HEADER_SIZE:
        findings.append(f"BDB header_size is {bdb.header_size}, expected 22")

    bdb_bytes = vbt[bdb_at:]
    available = len(bdb_bytes)
    bound = min(bdb.bdb_size, available)
    if bdb.bdb_size > available:
        findings.append(f"bdb_size {bdb.bdb_size} runs past the end of the data ({available} bytes from the BDB start): walk cut there")
    seen: dict[int, int] = {}
    i = bdb.header_size
    while i + 3 < bound:
        block_id = bdb_bytes[i]
        size = int.from_bytes(bdb_bytes[i + 1 : i + 3], "little")
        if block_id == BDB_MIPI_SEQUENCE and i + 3 < available and bdb_bytes[i + 3] >= 3:
            if i + 8 > available:
                findings.append(f"block 53 (MIPI sequence v{bdb_bytes[i + 3]}) at {bdb_at + i:#x}: its u32 size is cut off by the end of the data")
                break
            size = int.from_bytes(bdb_bytes[i + 4 : i + 8], "little")
        start = i + 3
        entry = {"id": block_id, "name": block_name(block_id, bdb.version), "offset": bdb_at + i, "size": size}
        if start + size > bound:
            limit = "bdb_size" if bound == bdb.bdb_size else "the data"
            findings.append(f"block {block_id} at {bdb_at + i:#x} ({size} bytes) ends {start + size - bound} byte(s) past {limit}: i915 and igt stop the walk there")
            vbt_room = min(header.vbt_size - bdb_at, available)
            if bound == bdb.bdb_size and start + size <= vbt_room:
                entry["raw"] = bdb_bytes[start : start + size]
                out["ignored_blocks"].append(entry)
            i = bound
            break
        entry["raw"] = bdb_bytes[start : start + size]
        out["blocks"].append(entry)
        seen[block_id] = seen.get(block_id, 0) + 1
        i = start + size
    if i < bound and any(bdb_bytes[i:bound]):
        findings.append(f"{bound - i} non-zero byte(s) at the end of the BDB too short for a block header")
    for block_id, count in seen.items():
        if count > 1:
            findings.append(f"block {block_id} appears {count} times; i915 and igt use the first")
    return out


# -- building a VBT -----------------------------------------------------------------------------


def build_vbt(
    bdb_version: int,
    blocks: list[tuple[int, bytes]],
    *,
    signature: str = "$VBT IGDSCOPE",
    version: int = 100,
    checksum: int | None = None,
) -> bytes:
    """A complete VBT: 48-byte header, BDB header right behind it, then each ``(id, data)`` block
    with its 3-byte header; sizes filled in and the checksum computed so the bytes sum to 0
    (``checksum=`` forces a value instead). The signature is space-padded to 20 bytes.
    Block 53 v3+ data is written as given (its u32 size is the caller's); its u16 size field gets
    the data length capped at 0xFFFF."""
    entries = []
    for block_id, data in blocks:
        data = bytes(data)
        v3_mipi = block_id == BDB_MIPI_SEQUENCE and data[:1] >= b"\x03"
        if len(data) > 0xFFFF and not v3_mipi:
            raise DecodeError("VBT build", f"block {block_id} is {len(data)} bytes, more than a u16 size field holds")
        entries.append({"id": block_id, "size": min(len(data), 0xFFFF), "data": data})
    bdb_size = BDB_HEADER_SIZE + sum(3 + len(e["data"]) for e in entries)
    vbt_size = VBT_HEADER_SIZE + bdb_size
    if vbt_size > 0xFFFF:
        raise DecodeError("VBT build", f"the VBT would be {vbt_size} bytes, more than vbt_size (u16) holds")
    value = {
        "header": {
            "signature": signature.encode("latin-1").ljust(20, b" "),
            "version": version,
            "header_size": VBT_HEADER_SIZE,
            "vbt_size": vbt_size,
            "vbt_checksum": 0,
            "reserved0": 0,
            "bdb_offset": VBT_HEADER_SIZE,
            "aim_offset": [0, 0, 0, 0],
        },
        "bdb": {"signature": BDB_SIGNATURE, "version": bdb_version, "header_size": BDB_HEADER_SIZE, "bdb_size": bdb_size},
        "blocks": entries,
    }
    raw = build(VbtLayout, value, "VBT")
    value["header"]["vbt_checksum"] = (-sum(raw)) & 0xFF if checksum is None else checksum
    return build(VbtLayout, value, "VBT")


# -- the demo machine ---------------------------------------------------------------------------

DEMO_BDB_VERSION = 221


def demo_vbt() -> bytes:
    """The demo machine's VBT: a Coffee Lake desktop (no panel) with HDMI on DDI B, DP on DDI C and
    DP++ on DDI D, built from values by :func:`build_block` / :func:`build_vbt`."""
    v = DEMO_BDB_VERSION
    features = build_block(1, {
        "panel_fitting": 3, "flexaim": True, "msg_enable": True, "display_clock_mode": True,
        "vbios_hotplug_support": True, "legacy_monitor_detect": 1, "int_crt_support": False,
    }, v, size=5)
    ports = [
        # handle, device type, dvo port, ddc pin (CNP PCH: 1 = DDI B), aux channel
        (0x0004, 0x60D2, DvoPort.hdmib, 0x01, 0x00, {"hdmi_support": True, "tmds_support": True}),
        (0x0040, 0x68C6, DvoPort.dpc, 0x02, 0x20, {"dp_support": True}),
        (0x0020, 0x60D6, DvoPort.dpd, 0x03, 0x30, {"dp_support": True, "hdmi_support": True, "tmds_support": True}),
    ]
    devices = [
        {"handle": h, "device_type": t, "dvo_port": str(port), "ddc_pin": ddc, "aux_channel": aux,
         "integrated_encoder": True, "dp_max_link_rate": 0, **extra}
        for h, t, port, ddc, aux, extra in ports
    ]
    devices += [{} for _ in range(5)]  # unused entries, device_type 0, as firmware leaves them
    definitions = build_block(2, {"crt_ddc_gmbus_pin": 2, "devices": devices}, v)
    return build_vbt(v, [(1, features), (2, definitions)], signature="$VBT COFFEELAKE-S")


# Block schemas beyond 1 and 2 live in igdscope.schemas.vbtblocks, one module per family; each
# module's SPECS ({id: BlockSpec}) joins the registry here.
from igdscope.schemas.vbtblocks import load_specs  # noqa: E402  (needs BlockSpec above)

BLOCKS.update(load_specs())
