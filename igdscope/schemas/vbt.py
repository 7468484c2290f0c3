"""The Intel Video BIOS Table (VBT): the ``$VBT`` header, the BIOS Data Block (BDB) header, the
block walk, and the schemas of block 1 (general features) and block 2 (general definitions with
its child devices); the other blocks live in :mod:`igdscope.schemas.vbtblocks`.

Decoded blocks 1 and 2 keep the raw struct members and add a ``meaning`` dict (per child device
for block 2) with ``{"value": int, "name": str, ...}`` for every coded field at the BDB version:
device handle and type bits, DVO port and the driver port per platform family, AUX channel, DDC
pin per PCH family, I2C speed, HDMI/DP rates, vswing and pre-emphasis (see
:func:`child_device_meaning`). Building ignores ``meaning``.

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

- :func:`find_vbt` -- offset of the first ``$VBT`` a header fits behind (:func:`no_vbt_reason` says why
  there is none);
- :func:`walk_blocks` -- headers, checksum, the blocks i915/igt would see, ``findings``;
- :func:`decode_block` / :func:`build_block` -- one block's fields, and back;
- :func:`build_vbt` -- a complete VBT (headers, sizes, checksum) from raw block payloads.
"""

from __future__ import annotations

import io
import struct
from functools import lru_cache
from typing import Any, NamedTuple

import construct as cs
from construct import this

from igdscope.binary import DecodeError, build, decode_plain
from igdscope.binary.plainparse import Unsupported, Val, enum_value
from igdscope.schemas.common import Raw, Text, byte_sum, merge_values, zero_value

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

    # the generated plain-data parser (igdscope.plainparse) merges the same way
    def _plainlayout(self, gen):
        return gen.struct_layout(self, flat=True)

    def _emitplain(self, gen, st, scope):
        return gen.struct(self, st, scope, flat=True)


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

    def _emitplain(self, gen, st, scope):
        """Generated plain parser: unpack the struct from the entry in place when it is at least
        the struct's size, else from the entry padded with zeros."""
        alternatives = gen.fixed_alternatives(self.subcon, scope)
        n = gen.assign(gen.expr(self.length, scope), "n")
        start, res = gen.tmp("s"), gen.tmp("r")
        gen.line(f"if {n} < 0 or {st.pos} + {n} > len({st.buf}): raise _Short")
        gen.line(f"{start} = {st.pos}")
        gen.line(f"{st.pos} += {n}")
        for lay in gen.if_chain(alternatives):
            full = lay.size
            unpack = gen.const(struct.Struct("<" + lay.fmt).unpack_from, "S")
            tv = gen.tmp("t")
            gen.line(f"if {n} >= {full}: {tv} = {unpack}({st.buf}, {start})")
            gen.line(f"else: {tv} = {unpack}({st.buf}[{start}:{st.pos}] + bytes({full} - {n}))")
            val = lay.build(tv, 0, scope)
            if not val.is_dict:
                raise Unsupported("ZeroFilled of a value that is not a struct")
            gen.line(f"{res} = {val.plain}")
            gen.line(f"if {n} > {full}: {res}['unparsed'] = {st.buf}[{start} + {full}:{st.pos}].hex()")
        return Val(res, None, True)


class EnumIn(cs.Enum):
    """``Enum`` that also builds from the ``{"value": n, "name": ...}`` form of
    :func:`~igdscope.decode.to_plain`, so decoded plain data builds back."""

    def _encode(self, obj, context, path):
        if isinstance(obj, dict) and "value" in obj:
            obj = obj["value"]
        return super()._encode(obj, context, path)

    def _emitbuild(self, code):
        raise NotImplementedError

    def _emitplainvalue(self, gen, sub, scope):  # parses exactly as Enum
        return enum_value(self)(gen, sub, scope)


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

MAX_CHILD_DEVICES = 255  # entries decoded per table at most (igt counts them in a u8 too); the rest stays unparsed


class BoundedRange(cs.Subconstruct):
    """``GreedyRange`` that stops after ``max_count`` items: entries are parsed while whole ones
    remain, so the count is bounded by the bytes present and by ``max_count`` (a 1-byte child size
    in a 64 KiB block would otherwise mean 65535 child structs)."""

    def __init__(self, subcon: cs.Construct, max_count: int):
        super().__init__(subcon)
        self.max_count = max_count

    def _parse(self, stream, context, path):
        out = cs.ListContainer()
        for i in range(self.max_count):
            fallback = cs.stream_tell(stream, path)
            try:
                context._index = i
                out.append(self.subcon._parsereport(stream, context, path))
            except cs.StopFieldError:
                break
            except cs.ExplicitError:
                raise
            except cs.ConstructError:
                cs.stream_seek(stream, fallback, 0, path)
                break
        return out

    def _build(self, obj, stream, context, path):
        for i, item in enumerate(obj or []):
            context._index = i
            self.subcon._build(item, stream, context, path)
        return obj

    def _sizeof(self, context, path):
        raise cs.SizeofError("the number of entries depends on the bytes present", path=path)

    def _emitplain(self, gen, st, scope):
        """Generated plain parser: a short entry ends the range (other errors leave the block
        to the interpreted parser)."""
        out, start = gen.tmp("a"), gen.tmp("s")
        gen.line(f"{out} = []")
        with gen.block(f"for _ in range({int(self.max_count)}):"):
            gen.line(f"{start} = {st.pos}")
            item = gen.loop_item(self.subcon, st, scope, start)
            gen.line(f"{out}.append({item})")
        return Val(out)


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


# -- what the coded values mean (derived entries; the raw fields stay as parsed) -----------------
#
# Each decoded block 1 and each child device (blocks 2 and 11) gets a ``meaning`` dict: one
# ``{"value": int, "name": str | None, ...}`` entry per coded field, computed for the BDB version
# (and, where the meaning depends on the platform, listed per platform). Building ignores it.


def _int(value: Any) -> int:
    """The integer of a parsed field (an enum's ``{"value", "name"}`` form or a plain int/bool)."""
    if value.__class__ is int:
        return value
    if isinstance(value, dict):
        value = value.get("value", 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def coded(value: Any, name: str | None, **extra: Any) -> dict[str, Any]:
    """The ``{"value", "name"}`` form of a coded field, with any extra keys after them."""
    return {"value": _int(value), "name": name, **extra}


PANEL_FITTING_NAMES = {0: "disabled", 1: "text only", 2: "graphics only", 3: "text & graphics"}


def _ssc_meaning(value: Any) -> dict[str, Any]:
    alternate = bool(_int(value))
    # kHz by display version (i915 intel_bios_ssc_frequency; igt decode_ssc_freq prints MHz, 66 for 66667)
    return coded(value, "alternate" if alternate else "default",
                 khz_by_gen={"gen2": 66667 if alternate else 48000, "gen3-4": 100000 if alternate else 96000,
                             "gen5+": 100000 if alternate else 120000})


def general_features_meaning(fields: dict[str, Any], bdb_version: int) -> dict[str, Any]:
    """Meanings of block 1's coded fields at ``bdb_version``."""
    out: dict[str, Any] = {
        "panel_fitting": coded(fields.get("panel_fitting"), PANEL_FITTING_NAMES.get(_int(fields.get("panel_fitting")))),
        "ssc_freq": _ssc_meaning(fields.get("ssc_freq")),
        "dp_ssc_freq": _ssc_meaning(fields.get("dp_ssc_freq")),
    }
    mode = _int(fields.get("display_clock_mode"))
    if bdb_version >= 183:
        out["display_clock_mode"] = coded(mode, "dynamic CD clock" if mode else "no dynamic CD clock")
    else:
        out["display_clock_mode"] = coded(mode, "reference clock: BTM (legacy buffer through mode)" if mode
                                          else "reference clock: DCI (display clock integration)")
    if "afc_startup_config" in fields:  # 249+; i915 programs 0 for 1 and 7 for any other non-zero value
        afc = _int(fields["afc_startup_config"])
        out["afc_startup_config"] = coded(afc, "default" if afc == 0 else f"i915 programs AFC startup {0 if afc == 1 else 7}")
    return out


def _general_features_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    plain["meaning"] = general_features_meaning(plain, bdb_version)
    return plain


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


def device_type_meaning(value: int) -> dict[str, Any]:
    """A child's ``device_type``: composite name (if a known one), the bits by name, and what i915
    makes of it (CRT = analog; DVI = TMDS; HDMI = TMDS and not NOT_HDMI; DP; eDP = DP and internal;
    DSI = MIPI). i915 also drops DVI/HDMI on port A before display version 12."""
    value = _int(value)
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
    value = _int(value)
    name, names = _handle_name(value, bdb_version)
    return {"value": value, "name": name, "bits": list(names)}


@lru_cache(maxsize=4096)
def _handle_name(handle: int, bdb_version: int) -> tuple[str, tuple[str, ...]]:
    names = _device_handle_names(handle, bdb_version)
    return "none" if handle == 0 else "+".join(n if n.startswith("unknown") else n.upper() for n in names), names


# dvo_port (BDB 155+): name, minimum BDB, driver port letter with the default mapping
DVO_PORT_NAMES: dict[int, tuple[str, int]] = {
    0: ("HDMI-A", 155), 1: ("HDMI-B", 155), 2: ("HDMI-C", 155), 3: ("HDMI-D", 155), 4: ("LVDS", 155), 5: ("TV", 155),
    6: ("CRT", 155), 7: ("DP-B", 155), 8: ("DP-C", 155), 9: ("DP-D", 155), 10: ("DP-A", 155),
    11: ("DP-E", 193), 12: ("HDMI-E", 193), 13: ("DP-F", 155), 14: ("HDMI-F", 155),
    15: ("DP-G", 217), 16: ("HDMI-G", 217), 17: ("DP-H", 217), 18: ("HDMI-H", 217), 19: ("DP-I", 217), 20: ("HDMI-I", 217),
    21: ("MIPI-A", 171), 22: ("MIPI-B", 171), 23: ("MIPI-C", 171), 24: ("MIPI-D", 171),
}
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
    value = _int(value)
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
    value = _int(value)
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
GMBUS_PIN_NAMES = {0: "disabled", 1: "SSC (BXT+: pin 1)", 2: "VGA DDC (BXT+: pin 2)", 3: "panel (CHV: DPD; BXT+: pin 3)",
                   4: "DPC (HDMI-C)", 5: "DPB (SDVO, HDMI-B)", 6: "DPD (HDMI-D)", 7: "reserved"}


def ddc_pin_meaning(value: Any) -> dict[str, Any]:
    """A child's ``ddc_pin``. The VBT alone does not say which PCH it is for, so every reading is
    given: the GMBUS pin (PCHs before CNP, Atom parts, DG1+ discrete) and the port per PCH family."""
    value = _int(value)
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
    value = _int(value)
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
        speed = _int(child["i2c_speed"])
        out["i2c_speed"] = {"value": speed, "name": I2C_SPEED_NAMES.get(speed)}
    if v >= 158:
        for vs_key, pe_key in _REDRIVER_KEYS:
            vs, pe = _int(get(vs_key)), _int(get(pe_key))
            out[vs_key] = {"value": vs, "name": DP_VSWING_NAMES.get(vs)}
            out[pe_key] = {"value": pe, "name": DP_PREEMPH_NAMES.get(pe)}
    if v >= 204:
        rate = _int(get("hdmi_max_data_rate"))
        name, since = HDMI_MAX_DATA_RATE_NAMES.get(rate, (None, 0))
        out["hdmi_max_data_rate"] = {"value": rate, "name": name if v >= since else None}
        if name and v < since:
            out["hdmi_max_data_rate"]["note"] = f"defined from BDB {since}"
    if v >= 237:
        frl = _int(get("hdmi_max_frl_rate"))
        out["hdmi_max_frl_rate"] = {"value": frl, "name": HDMI_FRL_RATE_NAMES.get(frl)}
    out["dvo_port"] = dvo_port_meaning(get("dvo_port"), v)
    out["ddc_pin"] = ddc_pin_meaning(get("ddc_pin"))
    if v >= 155:
        out["aux_channel"] = aux_channel_meaning(get("aux_channel"))
    else:
        out["dvo2_port"] = dvo_port_meaning(get("dvo2_port"), v)
    if v >= 244:
        lanes = _int(get("dp_max_lane_count"))
        out["dp_max_lane_count"] = {"value": lanes, "name": f"x{lanes + 1}"}
    if v >= 171:
        mipi = _int(get("mipi_bridge_type"))
        out["mipi_bridge_type"] = {"value": mipi, "name": MIPI_BRIDGE_TYPE_NAMES.get(mipi)}
    if v >= 196:
        used = bool(get("iboost"))
        for key in ("dp_iboost_level", "hdmi_iboost_level"):
            level = _int(get(key))
            boost = IBOOST_LEVELS.get(level)
            if boost:
                out[key] = {"value": level, "name": f"boost level {boost}", "used": used}
            else:
                out[key] = {"value": level, "name": None, "used": used, "note": "i915 rejects this value"}
    if v >= 216:
        out["dp_max_link_rate"] = dp_max_link_rate_meaning(get("dp_max_link_rate"), v)
    if v >= 263:
        mask = _int(get("edp_data_rate_override"))
        out["edp_data_rate_override"] = {"value": mask, "name": None,
                                         "rejected_gbps": [r for i, r in enumerate(EDP_RATE_OVERRIDE_BITS) if mask >> i & 1]}
    return out


_REDRIVER_KEYS = (("dp_onboard_redriver_vswing", "dp_onboard_redriver_preemph"),
                  ("dp_ondock_redriver_vswing", "dp_ondock_redriver_preemph"))


def _general_definitions_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    devices = plain.get("devices") or []
    if len(devices) >= MAX_CHILD_DEVICES and plain.get("unparsed"):
        plain["findings"] = [f"only the first {MAX_CHILD_DEVICES} child entries are decoded; the rest is kept as unparsed"]
    for dev in devices:
        if isinstance(dev, dict) and dev.get("device_type"):  # empty entries (type 0) are skipped, as i915 does
            dev["meaning"] = child_device_meaning(dev, bdb_version)
    return plain


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
    1: BlockSpec("general_features", Block1, full_size=7, gates=GENERAL_FEATURES_GATES, post=_general_features_post),
    2: BlockSpec("general_definitions", GeneralDefinitions, post=_general_definitions_post),
}


def _in_range(version: int, lo: int, hi: int | None) -> bool:
    return version >= lo and (hi is None or version <= hi)


_invalid_cache: dict[tuple[int, int], tuple[dict, tuple[str, ...]]] = {}


def invalid_names(gates: dict[str, tuple[int, int | None] | None], version: int) -> tuple[str, ...]:
    """The names of a gate table (``{name: (min BDB, max BDB or None)}``) that ``version`` does not
    define, in table order. Gate tables are module-level constants; the answer is kept per table
    and version."""
    key = (id(gates), version)
    hit = _invalid_cache.get(key)
    if hit is not None and hit[0] is gates:
        return hit[1]
    names = tuple(name for name, gate in gates.items() if gate is not None and not _in_range(version, gate[0], gate[1]))
    if len(_invalid_cache) < 4096:
        _invalid_cache[key] = (gates, names)
    return names


def _gate(fields: dict[str, Any], gates: dict[str, tuple[int, int | None]], version: int) -> dict[str, Any]:
    """Move fields the version does not define out of ``fields``: zero ones are dropped, others go
    to ``not_valid_for_bdb`` (so nothing is lost and the block still builds back)."""
    return _move_out(fields, invalid_names(gates, version) if gates else ())


def _gate_all(entries: list[dict[str, Any]], gates: dict[str, tuple[int, int | None]], version: int) -> list[dict[str, Any]]:
    """:func:`_gate` on each of ``entries`` (the same table and version for all)."""
    names = invalid_names(gates, version) if gates else ()
    return [_move_out(fields, names) for fields in entries] if names else list(entries)


def _move_out(fields: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    odd = {}
    for name in names:
        if name in fields:
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
    fields.pop("meaning", None)  # derived values (blocks 1, 2 and their child devices); not built
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
    parsed = decode_plain(spec.schema, raw, f"BDB block {block_id} ({spec.name})", bdb_version=bdb_version, block_size=len(raw))
    plain = _gate(parsed, spec.gates, bdb_version)
    if spec.post is not None:
        plain = spec.post(plain, raw, bdb_version, context or {})
    if block_id == 2:
        findings = list(plain.get("findings") or [])  # the post hook's
        if len(raw) < 5:
            findings.append(f"block is {len(raw)} bytes, shorter than its 5-byte header (i915 ignores it)")
        size = plain["child_dev_size"]
        expected = child_device_expected_size(bdb_version)
        if size != expected:
            findings.append(f"child_dev_size {size} differs from the {expected} i915 expects at BDB {bdb_version} (it logs an error and copies min(size, {CHILD_DEVICE_CONFIG_SIZE}) bytes)")
        if size < LEGACY_CHILD_DEVICE_CONFIG_SIZE:
            findings.append(f"child_dev_size {size} is below {LEGACY_CHILD_DEVICE_CONFIG_SIZE}: i915 ignores the child devices")
        plain["devices"] = _gate_all(plain.get("devices") or [], CHILD_DEVICE_GATES, bdb_version)
        if plain.get("unparsed") and len(plain["devices"]) < MAX_CHILD_DEVICES:
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
    if spec is None or block_id not in (1, 2):
        raise ValueError(f"build_block builds blocks 1 and 2; block {block_id} is built by its own module's builder")
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


def no_vbt_reason(data: bytes, where: str = "the data", start: int = 0, limit: int = MAX_SCAN) -> str:
    """Why :func:`find_vbt` found nothing in ``data`` (called ``where``): no signature at all, or a
    ``$VBT`` too near the end to hold its header -- a cut file must not read as one without a VBT."""
    pos = bytes(memoryview(data)[start : start + limit]).find(VBT_SIGNATURE)
    if pos == -1:
        if len(data) - start > limit:
            return f"no '$VBT' signature in the first {limit} bytes of {where} ({len(data)} bytes)"
        return f"no '$VBT' signature in {where} ({len(data)} bytes)"
    return (f"the '$VBT' at {start + pos:#x} of {where} is cut inside its {VBT_HEADER_SIZE}-byte header "
            f"({len(data) - start - pos} bytes present)")


def _checksum(vbt: bytes, stored: int, vbt_size: int) -> dict[str, Any]:
    body = vbt[:vbt_size]
    computed = (stored - byte_sum(body)) & 0xFF  # the byte that makes the first vbt_size bytes sum to 0
    return {"stored": stored, "computed": computed, "ok": computed == stored and len(body) == vbt_size}


def walk_blocks(data: bytes, vbt_offset: int = 0) -> dict[str, Any]:
    """Walk the VBT at ``vbt_offset`` of ``data``: headers, checksum, blocks, findings.

    Returns ``{"vbt_offset", "vbt_header", "bdb_header", "bdb_version", "checksum": {"stored",
    "computed", "ok"}, "blocks": [{"id", "name", "offset", "size", "raw"}], "ignored_blocks",
    "findings"}``. ``offset`` is where the block's 3-byte id/size header starts, counted from the
    VBT start (the same for a VBT file and its copy in a ROM or OpRegion); ``raw`` is the data
    bytes. The walk is i915's and igt's: blocks from ``bdb_offset + header_size``, a block must
    end inside ``bdb_size`` and inside the data, block 53 v3+ takes its size from the u32 after its
    version byte (its ``raw`` is what i915 and igt copy: that size + 5 bytes, 5 more than the walk
    advances). A block past ``bdb_size`` that would still fit ``vbt_size`` is reported in
    ``ignored_blocks``. Only data too short for the 48-byte VBT header raises
    :class:`~igdscope.decode.DecodeError`.
    """
    data = bytes(data)
    vbt = data[vbt_offset:]
    if len(vbt) < VBT_HEADER_SIZE:
        raise DecodeError("VBT header", f"truncated ({len(vbt)} bytes at offset {vbt_offset:#x}, the header is 48)")
    header = decode_plain(VbtHeader, vbt[:VBT_HEADER_SIZE], "VBT header")
    vbt_size = header["vbt_size"]
    findings: list[str] = []
    out: dict[str, Any] = {
        "vbt_offset": vbt_offset,
        "vbt_header": header,
        "bdb_header": None,
        "bdb_version": None,
        "checksum": _checksum(vbt, header["vbt_checksum"], vbt_size),
        "blocks": [],
        "ignored_blocks": [],
        "findings": findings,
    }
    if vbt[:4] != VBT_SIGNATURE:
        findings.append(f"signature starts with {vbt[:4]!r}, not '$VBT' (i915 rejects it)")
    if header["header_size"] != VBT_HEADER_SIZE:
        findings.append(f"VBT header_size is {header['header_size']}, expected 48")
    if vbt_size > len(vbt):
        findings.append(f"truncated: vbt_size is {vbt_size} but only {len(vbt)} bytes follow the VBT start")
    if not out["checksum"]["ok"] and vbt_size <= len(vbt):
        cs_ = out["checksum"]
        findings.append(f"checksum byte is {cs_['stored']:#04x}, {cs_['computed']:#04x} would make the VBT sum to 0 (i915 and igt do not check it)")

    bdb_at = header["bdb_offset"]
    if bdb_at + BDB_HEADER_SIZE > len(vbt):
        findings.append(f"BDB header at {bdb_at:#x} lies beyond the {len(vbt)} bytes available")
        return out
    bdb = decode_plain(BdbHeader, vbt[bdb_at : bdb_at + BDB_HEADER_SIZE], "BDB header")
    version, bdb_size, bdb_header_size = bdb["version"], bdb["bdb_size"], bdb["header_size"]
    out["bdb_header"] = bdb
    out["bdb_version"] = version
    if bdb["signature"] != BDB_SIGNATURE:
        findings.append(f"BDB signature is {vbt[bdb_at:bdb_at + 16]!r}, expected 'BIOS_DATA_BLOCK '")
    if bdb_at + BDB_HEADER_SIZE > vbt_size:
        findings.append(f"BDB header (at {bdb_at:#x}) does not fit in vbt_size {vbt_size} (i915 rejects the VBT)")
    elif bdb_at + bdb_size > vbt_size:
        findings.append(f"bdb_offset + bdb_size = {bdb_at + bdb_size} exceeds vbt_size {vbt_size} (i915 rejects the VBT)")
    elif bdb_at + bdb_size != vbt_size:
        findings.append(f"vbt_size {vbt_size} is {vbt_size - bdb_at - bdb_size} byte(s) more than bdb_offset + bdb_size ({bdb_at + bdb_size})")
    if bdb_header_size < BDB_HEADER_SIZE:
        findings.append(f"BDB header_size {bdb_header_size} is smaller than the 22-byte header: blocks would overlap it")
    elif bdb_header_size != BDB_HEADER_SIZE:
        findings.append(f"BDB header_size is {bdb_header_size}, expected 22")

    bdb_bytes = vbt[bdb_at:]
    available = len(bdb_bytes)
    bound = min(bdb_size, available)
    if bdb_size > available:
        findings.append(f"bdb_size {bdb_size} runs past the end of the data ({available} bytes from the BDB start): walk cut there")
    seen: dict[int, list[int]] = {}  # block id -> offsets of its blocks
    i = bdb_header_size
    while i + 3 < bound:
        block_id = bdb_bytes[i]
        size = int.from_bytes(bdb_bytes[i + 1 : i + 3], "little")
        if block_id == BDB_MIPI_SEQUENCE and i + 3 < available and bdb_bytes[i + 3] >= 3:
            if i + 8 > available:
                findings.append(f"block 53 (MIPI sequence v{bdb_bytes[i + 3]}) at {bdb_at + i:#x}: its u32 size is cut off by the end of the data")
                break
            size = int.from_bytes(bdb_bytes[i + 4 : i + 8], "little")
        start = i + 3
        entry = {"id": block_id, "name": block_name(block_id, version), "offset": bdb_at + i, "size": size}
        if start + size > bound:
            limit = "bdb_size" if bound == bdb_size else "the data"
            findings.append(f"block {block_id} at {bdb_at + i:#x} ({size} bytes) ends {start + size - bound} byte(s) past {limit}: i915 and igt stop the walk there")
            vbt_room = min(vbt_size - bdb_at, available)
            if bound == bdb_size and start + size <= vbt_room:
                entry["raw"] = bdb_bytes[start : start + size]
                out["ignored_blocks"].append(entry)
            i = bound
            break
        end = start + size
        if block_id == BDB_MIPI_SEQUENCE and bdb_bytes[start] >= 3:
            # i915's init_bdb_block() and igt's find_section() copy 5 bytes more than the walk
            # advances: the u32 counts the bytes after the version byte and itself (Bspec: "the
            # size of this entire data structure excluding this header"), and the sequence parser
            # reads that many bytes after the u32
            end = max(end, min(start + size + 5, vbt_size - bdb_at, available))
        entry["raw"] = bdb_bytes[start:end]
        out["blocks"].append(entry)
        seen.setdefault(block_id, []).append(bdb_at + i)
        i = start + size
    if i < bound and any(bdb_bytes[i:bound]):
        findings.append(f"{bound - i} non-zero byte(s) at the end of the BDB too short for a block header")
    for block_id, offsets in seen.items():
        if len(offsets) > 1:
            later = ", ".join(f"{o:#x}" for o in offsets[1:9]) + (f" and {len(offsets) - 9} more" if len(offsets) > 9 else "")
            copies = "the copy at {} is" if len(offsets) == 2 else "the copies at {} are"
            findings.append(f"block {block_id} appears {len(offsets)} times: i915 and igt read only the first, at {offsets[0]:#x}; "
                            + copies.format(later) + " not decoded (shown raw)")
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


def plain_schemas() -> dict[str, cs.Construct]:
    """Every schema igdscope parses through :func:`~igdscope.decode.decode_plain`, by name: the
    block schemas and the helper schemas the block hooks use. Their parsers are generated ahead
    of time into the shipped module (``python -m igdscope.binary.plainparse``); a schema missing here
    still works, its parser is generated at runtime."""
    from igdscope.schemas.vbtblocks import dtd

    named = {f"block {i}": spec.schema for i, spec in sorted(BLOCKS.items())}
    named.update({
        "VbtHeader": VbtHeader,
        "BdbHeader": BdbHeader,
        "GeneralDefinitions": GeneralDefinitions,
        "EdidDtd": dtd.EdidDtd,
    })
    out: dict[str, cs.Construct] = {}
    for name, schema in named.items():  # a schema named twice (block 2's is GeneralDefinitions) keeps its first name
        if all(schema is not s for s in out.values()):
            out[name] = schema
    return out
