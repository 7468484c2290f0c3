"""VBT blocks 52 (MIPI DSI configuration) and 53 (MIPI DSI panel sequences).

Layouts and names follow the kernel's ``intel_dsi_vbt_defs.h`` (``struct mipi_config``,
``mipi_pps_data``) and ``intel_vbt_defs.h`` (``bdb_mipi_config``, ``bdb_mipi_sequence``); the way
the sequence block is walked follows ``intel_bios.c`` (``find_panel_sequence_block``,
``goto_next_sequence``, ``goto_next_sequence_v3``) and the element layouts follow
``intel_dsi_vbt.c`` (``mipi_exec_*``). igt's ``intel_vbt_decode`` reads both blocks the same way.

Block 52 is six 122-byte ``mipi_config`` entries (BDB 175+), six 10-byte power sequences (177+),
six PWM delay pairs (186+) and six PMIC I2C bus numbers (190+): 822 bytes, indexed by the
selected panel (only 0-5 exist). Block 53's entries are looked up by the same panel; the rule is
the one of every per-panel block (:mod:`igdscope.schemas.vbtblocks.panel`).

Block 53 is a version byte, (v3+) a u32 size, then up to six panel entries ``{u8 panel_id, size
(u16; v3+: u32), data}``. A panel's data is a list of sequences ended by a 0 byte; a sequence is
``u8 seq_id``, (v3+) ``u32`` size (counting what follows it, its closing 0 included), elements,
and a 0 byte. An element is ``u8 operation``, (v3+) ``u8`` size, then its body:

======  ============  =====================================================================
op      name          body
======  ============  =====================================================================
1       send_packet   flags (bit 0 HS, bits 2:1 virtual channel, bits 4:3 port), data type,
                      u16 length, data
2       delay         u32 microseconds
3       gpio          v1/v2: gpio_number, flags (bit 0 value; v2: bits 2:1 source);
                      v3+: gpio_index, gpio_number, flags (bit 0 value; v4: bit 1 = not native)
4       i2c (v2+)     flags, index, bus number, u16 target address, register offset,
                      payload size, payload
5       spi (v3)      5 bytes i915 does not interpret, payload size, payload
6       pmic (v3)     flag (reserved), u16 I2C address, u32 register, u32 value, u32 mask
======  ============  =====================================================================

Decoding never trusts a size further than the bytes present: every panel, sequence and element
is cut at the end of its container, with a finding. v1/v2 elements carry no size, so an unknown
operation ends the panel's decoding (as in i915); v3 elements are skipped by their size byte.
The u32 size of a v3 block is read two ways by the same code (``intel_bios.c``): the block walker counts it from the version byte, the block copier
(``init_bdb_block``) and the sequence parser from after the u32 -- 5 bytes apart. Bspec and real
firmware use the second reading (a Jasper Lake VBT: u32 = its one panel entry); the block's bytes
here are the copier's (``walk_blocks`` gives the u32 + 5 from the version byte), the panel
entries are read from the u32 bytes after it, and when they end 5 bytes early (the u32 counted
from the version byte, as :func:`build_sequence_block` writes by default) the last 5 bytes are
left to the next block.

:func:`build_sequence_block` builds a well-formed block (any version) from plain values with the
construct schemas of this module (:data:`MipiSequenceBlockV12`, :data:`MipiSequenceBlockV3`).
"""

from __future__ import annotations

import io
from typing import Any

import construct as cs
from construct import this

from igdscope.binary import DecodeError, build, to_plain
from igdscope.schemas.common import Raw, merge_values, zero_value
from igdscope.schemas.vbtblocks.base import BLOCK_NAMES, BlockSpec, EnumIn, FlatStruct, ZeroFilled, gate_one
from igdscope.schemas.vbtblocks.misc import short_finding, since_finding
from igdscope.schemas.vbtblocks.panel import panel_selection

MAX_MIPI_CONFIGURATIONS = 6

# -- block 52: MIPI configuration -----------------------------------------------------------------

VideoTransferMode = EnumIn(cs.BitsInteger(2), non_burst_sync_pulse=1, non_burst_sync_events=2, burst_mode=3)
PixelFormat = EnumIn(cs.BitsInteger(4), rgb565=1, rgb666=2, rgb666_loosely_packed=3, rgb888=4)
Rotation = EnumIn(cs.BitsInteger(2), rotation_0=0, rotation_90=1, rotation_180=2, rotation_270=3)
PpsBlc = EnumIn(cs.BitsInteger(1), pmic=0, soc=1)
DualLink = EnumIn(cs.BitsInteger(2), not_supported=0, front_back=1, pixel_alt=2)
DlDcsPorts = EnumIn(cs.BitsInteger(2), port_a=0, port_c=1, port_a_and_c=2)
ByteClkSel = EnumIn(cs.BitsInteger(2), clk_20mhz=0, clk_10mhz=1, clk_5mhz=2)

MipiConfig = FlatStruct(
    "panel_id" / cs.Int16ul,
    # general params, u32 (fields high bit first)
    cs.ByteSwapped(cs.BitStruct(
        "rsvd2" / cs.BitsInteger(15),
        "bta_disable" / cs.Flag,
        "rotation" / Rotation * "i915: 90/180/270 set the panel orientation; 0 is not trusted",
        "videomode_color_format" / PixelFormat,
        "pwm_blc" / PpsBlc * "PPS/backlight GPIOs: 0 PMIC, 1 SoC",
        "cabc_supported" / cs.Flag,
        "video_transfer_mode" / VideoTransferMode,
        "is_cmd_mode" / cs.Flag * "1 command mode, 0 video mode",
        "panel_arch_type" / cs.BitsInteger(2),
        "is_bridge" / cs.Flag,
        "rsvd1" / cs.Flag,
        "enable_dithering" / cs.Flag * "1 in the display controller, 0 in the panel",
    )),
    # port desc, u16
    cs.ByteSwapped(cs.BitStruct(
        "rsvd3" / cs.BitsInteger(3),
        "port_sync" / cs.Flag * "219-230",
        "dl_dcs_backlight_ports" / DlDcsPorts,
        "dl_dcs_cabc_ports" / DlDcsPorts,
        "rgb_flip" / cs.Flag,
        "pixel_overlap" / cs.BitsInteger(3),
        "lane_cnt" / cs.BitsInteger(2) * "lanes = value + 1",
        "dual_link" / DualLink,
    )),
    # DSI controller parameters, u16
    cs.ByteSwapped(cs.BitStruct(
        "rsvd4" / cs.BitsInteger(15),
        "dsi_usage" / cs.Flag,
    )),
    "rsvd5" / cs.Int8ul,
    "target_burst_mode_freq" / cs.Int32ul,
    "dsi_ddr_clk" / cs.Int32ul,
    "bridge_ref_clk" / cs.Int32ul,
    cs.BitStruct(
        "rsvd6" / cs.BitsInteger(6),
        "byte_clk_sel" / ByteClkSel * "LP byte clock",
    ),
    # DPhy flags, u16
    cs.ByteSwapped(cs.BitStruct(
        "rsvd7" / cs.BitsInteger(11),
        "lp_clock_during_lpm" / cs.Flag * "219+",
        "blanking_packets_during_bllp" / cs.Flag * "219+",
        "enable_clk_stop" / cs.Flag,
        "eot_pkt_disabled" / cs.Flag,
        "dphy_param_valid" / cs.Flag,
    )),
    "hs_tx_timeout" / cs.Int32ul,
    "lp_rx_timeout" / cs.Int32ul,
    "turn_around_timeout" / cs.Int32ul,
    "device_reset_timer" / cs.Int32ul,
    "master_init_timer" / cs.Int32ul,
    "dbi_bw_timer" / cs.Int32ul,
    "lp_byte_clk_val" / cs.Int32ul,
    # DPhy params, u32
    cs.ByteSwapped(cs.BitStruct(
        "rsvd10" / cs.BitsInteger(2),
        "exit_zero_cnt" / cs.BitsInteger(6),
        "rsvd9" / cs.BitsInteger(3),
        "trail_cnt" / cs.BitsInteger(5),
        "clk_zero_cnt" / cs.BitsInteger(8),
        "rsvd8" / cs.BitsInteger(2),
        "prepare_cnt" / cs.BitsInteger(6),
    )),
    "clk_lane_switch_cnt" / cs.Int32ul,
    "hl_switch_cnt" / cs.Int32ul,
    "rsvd11" / cs.Array(6, cs.Int32ul),
    # timings based on the D-PHY spec
    "tclk_miss" / cs.Int8ul,
    "tclk_post" / cs.Int8ul,
    "rsvd12" / cs.Int8ul,
    "tclk_pre" / cs.Int8ul,
    "tclk_prepare" / cs.Int8ul,
    "tclk_settle" / cs.Int8ul,
    "tclk_term_enable" / cs.Int8ul,
    "tclk_trail" / cs.Int8ul,
    "tclk_prepare_clkzero" / cs.Int16ul,
    "rsvd13" / cs.Int8ul,
    "td_term_enable" / cs.Int8ul,
    "teot" / cs.Int8ul,
    "ths_exit" / cs.Int8ul,
    "ths_prepare" / cs.Int8ul,
    "ths_prepare_hszero" / cs.Int16ul,
    "rsvd14" / cs.Int8ul,
    "ths_settle" / cs.Int8ul,
    "ths_skip" / cs.Int8ul,
    "ths_trail" / cs.Int8ul,
    "tinit" / cs.Int8ul,
    "tlpx" / cs.Int8ul,
    "rsvd15" / cs.Array(3, cs.Int8ul),
    # GPIOs
    "panel_enable" / cs.Int8ul,
    "bl_enable" / cs.Int8ul,
    "pwm_enable" / cs.Int8ul,
    "reset_r_n" / cs.Int8ul,
    "pwr_down_r" / cs.Int8ul,
    "stdby_r_n" / cs.Int8ul,
)

MipiPpsData = cs.Struct(  # all delays in 100 us units
    "panel_on_delay" / cs.Int16ul,
    "bl_enable_delay" / cs.Int16ul,
    "bl_disable_delay" / cs.Int16ul,
    "panel_off_delay" / cs.Int16ul,
    "panel_power_cycle_delay" / cs.Int16ul,
)

EdpPwmDelays = cs.Struct(
    "pwm_on_to_backlight_enable" / cs.Int16ul,
    "backlight_disable_to_pwm_off" / cs.Int16ul,
)

BdbMipiConfig = cs.Struct(
    "config" / cs.Array(MAX_MIPI_CONFIGURATIONS, MipiConfig) * "175+",
    "pps" / cs.Array(MAX_MIPI_CONFIGURATIONS, MipiPpsData) * "177+",
    "pwm_delays" / cs.Array(MAX_MIPI_CONFIGURATIONS, EdpPwmDelays) * "186+",
    "pmic_i2c_bus_number" / cs.Array(MAX_MIPI_CONFIGURATIONS, cs.Int8ul) * "190+",
)

MIPI_CONFIG_SIZE = 122
BDB_MIPI_CONFIG_SIZE = 822

MipiConfigBlock = ZeroFilled(this._params.block_size, BdbMipiConfig)


def _post_mipi_config(fields: dict, raw: bytes, version: int, context: dict) -> dict:
    findings = short_finding(raw, BDB_MIPI_CONFIG_SIZE) + since_finding(version, 175, 52)
    for config in fields["config"]:
        config["lane_count"] = config["lane_cnt"] + 1
        gate_one(config, "port_sync", version, 219, 230)
        gate_one(config, "blanking_packets_during_bllp", version, 219)
        gate_one(config, "lp_clock_during_lpm", version, 219)
    gate_one(fields, "pps", version, 177)
    gate_one(fields, "pwm_delays", version, 186)
    gate_one(fields, "pmic_i2c_bus_number", version, 190)
    panel = panel_selection(context, version)["lfp1"]  # 6-15 only from a panel_type 6-15 (others fall back to 0)
    if panel >= MAX_MIPI_CONFIGURATIONS:
        findings.append(f"panel_type {panel} (block 40) has no MIPI configuration: block 52 holds {MAX_MIPI_CONFIGURATIONS} (i915 indexes it without a check)")
    if fields.get("unparsed"):
        findings.append(f"{len(fields['unparsed']) // 2} byte(s) after the {BDB_MIPI_CONFIG_SIZE}-byte struct are not decoded (kept as unparsed)")
    fields["findings"] = findings
    return fields


# -- block 53: MIPI sequences: element bodies --------------------------------------------------------

MipiSeq = EnumIn(
    cs.Int8ul,
    end=0,
    deassert_reset=1,  # the VBT spec calls it MipiAssertResetPin
    init_otp=2,
    display_on=3,
    display_off=4,
    assert_reset=5,  # the VBT spec calls it MipiDeassertResetPin
    backlight_on=6,  # v2+
    backlight_off=7,  # v2+
    tear_on=8,  # v2+
    tear_off=9,  # v3+
    power_on=10,  # v3+
    power_off=11,  # v3+
)
MIPI_SEQ_MAX = 12
SEQUENCE_SINCE = {6: 2, 7: 2, 8: 2, 9: 3, 10: 3, 11: 3}

MipiSeqElement = EnumIn(cs.Int8ul, end=0, send_packet=1, delay=2, gpio=3, i2c=4, spi=5, pmic=6)
ELEMENT_SINCE = {4: 2, 5: 3, 6: 3}

# DSI data types (include/video/mipi_display.h) that i915 sends
DsiDataType = EnumIn(
    cs.Int8ul,
    generic_short_write_0_param=0x03,
    generic_short_write_1_param=0x13,
    generic_short_write_2_param=0x23,
    generic_read_request_0_param=0x04,
    generic_read_request_1_param=0x14,
    generic_read_request_2_param=0x24,
    dcs_short_write=0x05,
    dcs_short_write_param=0x15,
    dcs_read=0x06,
    set_maximum_return_packet_size=0x37,
    generic_long_write=0x29,
    dcs_long_write=0x39,
)

TransferMode = EnumIn(cs.BitsInteger(1), lp=0, hs=1)

SendPacket = FlatStruct(
    "flags" / cs.Peek(cs.Int8ul),
    cs.BitStruct(
        "flags_reserved" / cs.BitsInteger(3),
        "port" / cs.BitsInteger(2) * "0 port A; non-zero: the second DSI port (igt prints C when bit 3 is set)",
        "virtual_channel" / cs.BitsInteger(2),
        "transfer_mode" / TransferMode * "1 high speed, 0 low power",
    ),
    "data_type" / DsiDataType,
    "length" / cs.Int16ul,
    "data" / Raw(this.length),
)

Delay = cs.Struct("delay_us" / cs.Int32ul)

GpioV1 = FlatStruct(
    "gpio_number" / cs.Int8ul,
    "flags" / cs.Peek(cs.Int8ul),
    cs.BitStruct("flags_reserved" / cs.BitsInteger(7), "value" / cs.Flag),
)

GpioV2 = FlatStruct(
    "gpio_number" / cs.Int8ul,
    "flags" / cs.Peek(cs.Int8ul),
    cs.BitStruct("flags_reserved" / cs.BitsInteger(5), "gpio_source" / cs.BitsInteger(2), "value" / cs.Flag),
)

GpioV3 = FlatStruct(
    "gpio_index" / cs.Int8ul,
    "gpio_number" / cs.Int8ul,
    "flags" / cs.Peek(cs.Int8ul),
    cs.BitStruct("flags_reserved" / cs.BitsInteger(6), "not_native" / cs.Flag * "v4+ only", "value" / cs.Flag),
)

I2c = cs.Struct(
    "flags" / cs.Int8ul,
    "index" / cs.Int8ul,
    "bus_number" / cs.Int8ul,
    "target_addr" / cs.Int16ul,
    "reg_offset" / cs.Int8ul,
    "payload_size" / cs.Int8ul,
    "payload" / Raw(this.payload_size),
)

Spi = cs.Struct(
    "spi_header" / Raw(5) * "not interpreted by i915 or igt",
    "payload_size" / cs.Int8ul,
    "payload" / Raw(this.payload_size),
)

Pmic = cs.Struct(
    "pmic_flag" / cs.Int8ul * "reserved",
    "i2c_address" / cs.Int16ul,
    "reg_address" / cs.Int32ul,
    "value" / cs.Int32ul,
    "mask" / cs.Int32ul,
)


def element_body(operation: int, version: int) -> cs.Construct | None:
    """The construct schema of an element's body at a sequence block version (None if unknown)."""
    if operation == 1:
        return SendPacket
    if operation == 2:
        return Delay
    if operation == 3:
        return GpioV3 if version >= 3 else GpioV2 if version == 2 else GpioV1
    if operation == 4:
        return I2c
    if operation == 5 and version >= 3:
        return Spi
    if operation == 6 and version >= 3:
        return Pmic
    return None


# -- block 53: the whole-block schemas (well-formed blocks; used to build) ---------------------------

_ELEMENTS_V12 = {"send_packet": SendPacket, "delay": Delay, "i2c": I2c}

ElementV12 = FlatStruct(
    "operation" / MipiSeqElement,
    cs.Check(this.operation != "end"),
    cs.Switch(
        this.operation,
        {**_ELEMENTS_V12, "gpio": cs.IfThenElse(this._root.version == 2, GpioV2, GpioV1)},
        default=cs.Error,
    ),
)

ElementV3 = FlatStruct(
    "operation" / MipiSeqElement,
    cs.Check(this.operation != "end"),
    "size" / cs.Rebuild(cs.Int8ul, cs.len_(this.body)),
    "body" / Raw(this.size),
)

SequenceV12 = cs.Struct(
    "seq_id" / MipiSeq,
    cs.Check(this.seq_id != "end"),
    "elements" / cs.GreedyRange(ElementV12),
    cs.Const(b"\0"),
)

SequenceV3 = cs.Struct(
    "seq_id" / MipiSeq,
    cs.Check(this.seq_id != "end"),
    "elements" / cs.Prefixed(cs.Int32ul, cs.Struct("items" / cs.GreedyRange(ElementV3), cs.Const(b"\0"))),
)

PanelV12 = cs.Struct(
    "panel_id" / cs.Int8ul,
    "sequences" / cs.Prefixed(cs.Int16ul, cs.Struct("items" / cs.GreedyRange(SequenceV12), cs.Const(b"\0"))),
)

PanelV3 = cs.Struct(
    "panel_id" / cs.Int8ul,
    "sequences" / cs.Prefixed(cs.Int32ul, cs.Struct("items" / cs.GreedyRange(SequenceV3), cs.Const(b"\0"))),
)

MipiSequenceBlockV12 = cs.Struct(
    "version" / cs.Int8ul,
    "panels" / cs.GreedyRange(PanelV12),
)

MipiSequenceBlockV3 = cs.Struct(
    "version" / cs.Int8ul,
    "size" / cs.Int32ul,
    "panels" / cs.GreedyRange(PanelV3),
)


ELEMENT_MIN_SIZE = {1: 4, 2: 4, 4: 7, 5: 6, 6: 15}


def _raw(x: Any) -> bytes:
    return bytes.fromhex(x) if isinstance(x, str) else bytes(x or b"")


def element_values(operation: int, values: dict, version: int) -> Any:
    """``values`` over a zero template of the element body (lengths follow ``data``/``payload``
    unless given)."""
    schema = element_body(operation, version)
    if schema is None:
        raise DecodeError("MIPI sequence element", f"operation {operation} has no layout in sequence block v{version}")
    size = ELEMENT_MIN_SIZE.get(operation, 3 if version >= 3 else 2)
    template = zero_value(schema, size)
    peeked = ("flags",) if operation in (1, 3) else ()  # a Peek: the bit fields build the byte
    given = {k: v for k, v in values.items() if k not in ("operation", "size", *peeked)}
    for data, length in (("data", "length"), ("payload", "payload_size")):
        if data in given:
            given[data] = _raw(given[data])
            given.setdefault(length, len(given[data]))
    return merge_values(template, given)


def _body_bytes(operation: int, values: dict, version: int) -> bytes:
    schema = element_body(operation, version)
    if schema is None:
        return _raw(values.get("body"))
    return build(schema, element_values(operation, values, version), f"MIPI sequence element {operation}")


def build_sequence_block(version: int, panels: list[dict], *, size: int | None = None, size_from_version_byte: bool = True) -> bytes:
    """The data of a block 53 (no id/size header) from plain values::

        [{"panel_id": 0, "sequences": [{"seq_id": 1, "elements": [
            {"operation": 1, "transfer_mode": 1, "virtual_channel": 0, "port": 0,
             "data_type": 0x05, "length": 1, "data": b"\\x29"},
            {"operation": 2, "delay_us": 20000}, ...]}]}]

    ``operation`` and ``seq_id`` take numbers or names. The v3 u32 size is, by default, the length
    of the data from the version byte on (the block walker's reading, which keeps later blocks
    findable); ``size_from_version_byte=False`` writes the sequence parser's reading (5 less), and
    ``size=`` any value."""

    def op_value(x: Any) -> int:
        return int(MipiSeqElement.build(x)[0]) if isinstance(x, str) else int(x)

    def op_name(x: Any) -> str:
        return MipiSeqElement.decmapping.get(op_value(x), str(x))

    def seq_value(x: Any) -> int:
        return int(MipiSeq.build(x)[0]) if isinstance(x, str) else int(x)

    if version >= 3:
        value = {"version": version, "size": 0, "panels": []}
        for p in panels:
            seqs = []
            for s in p.get("sequences", []):
                items = [{"operation": op_value(e["operation"]), "body": _body_bytes(op_value(e["operation"]), e, version)} for e in s.get("elements", [])]
                seqs.append({"seq_id": seq_value(s["seq_id"]), "elements": {"items": items}})
            value["panels"].append({"panel_id": p["panel_id"], "sequences": {"items": seqs}})
        data = build(MipiSequenceBlockV3, value, "MIPI sequence block v3")
        if size is None:
            size = len(data) if size_from_version_byte else len(data) - 5
        return data[:1] + int(size).to_bytes(4, "little") + data[5:]
    value = {"version": version, "panels": []}
    for p in panels:
        seqs = [{"seq_id": seq_value(s["seq_id"]), "elements": [
            {**element_values(op_value(e["operation"]), e, version), "operation": op_name(e["operation"])} for e in s.get("elements", [])
        ]} for s in p.get("sequences", [])]
        value["panels"].append({"panel_id": p["panel_id"], "sequences": {"items": seqs}})
    return build(MipiSequenceBlockV12, value, f"MIPI sequence block v{version}")


# -- block 53: the tolerant walk (what decode_block returns) -------------------------------------------

MipiSequenceHeader = cs.Struct(
    "version" / cs.Int8ul,
    "size" / cs.If(this.version >= 3, cs.Int32ul) * "v3+: see the module docs for its two readings",
    "data" / Raw(),
)

class _Walk:
    """Decodes one panel's sequence data element by element, bounded by the bytes present."""

    def __init__(self, data: bytes, version: int, where: str, findings: list[str]):
        self.data = data
        self.version = version
        self.where = where
        self.findings = findings

    def note(self, text: str) -> None:
        self.findings.append(f"{self.where}: {text}")

    def element(self, op: int, stream: io.BytesIO, end: int, at: str) -> tuple[dict, int | None]:
        """Decode one element body from ``stream`` (its bytes end at ``end``); returns the fields
        and the bytes it used (None for an unknown operation)."""
        out: dict[str, Any] = {"operation": to_plain(MipiSeqElement._decode(op, None, ""))}
        schema = element_body(op, self.version)
        if schema is None:
            return out, None
        if op in ELEMENT_SINCE and self.version < ELEMENT_SINCE[op]:
            self.note(f"{at}: {out['operation']['name']} elements are defined from sequence block v{ELEMENT_SINCE[op]}")
        start = stream.tell()
        try:
            fields = schema.parse_stream(stream)
        except cs.ConstructError:
            stream.seek(start)
            rest = stream.read(end - start)
            self.note(f"{at}: {out['operation']['name']} element cut off by the end of its container ({len(rest)} bytes left)")
            out["truncated"] = rest.hex()
            return out, len(rest)
        plain = to_plain(fields)
        if op == 3 and self.version >= 3:
            if self.version >= 4:
                plain["native"] = not plain["not_native"]
            else:
                plain.pop("not_native")
        out.update(plain)
        return out, stream.tell() - start

    def sequence_v12(self, i: int, seq: dict) -> int:
        data, n = self.data, len(self.data)
        stream = io.BytesIO(data)
        while True:
            if i >= n:
                self.note(f"sequence {seq['seq_id']['value']}: no end element before the end of the data")
                return i
            op = data[i]
            at = f"sequence {seq['seq_id']['value']} element {len(seq['elements']) + 1}"
            i += 1
            if op == 0:
                return i
            stream.seek(i)
            element, used = self.element(op, stream, n, at)
            if used is None:
                self.note(f"{at}: unknown operation {op} (v{self.version} elements carry no size): decoding of this panel stops here, as in i915")
                seq["elements"].append(element)
                return -1
            seq["elements"].append(element)
            i += used

    def sequence_v3(self, body: bytes, seq: dict) -> None:
        i, n = 0, len(body)
        while True:
            at = f"sequence {seq['seq_id']['value']} element {len(seq['elements']) + 1}"
            if i >= n:
                self.note(f"sequence {seq['seq_id']['value']}: no end element inside its size")
                return
            op = body[i]
            i += 1
            if op == 0:
                if i != n:
                    self.note(f"sequence {seq['seq_id']['value']}: end element at {i} of its {n} bytes (i915: invalid element structure)")
                    seq["unparsed"] = body[i:].hex()
                return
            if i >= n:
                self.note(f"{at}: size byte cut off")
                seq["elements"].append({"operation": to_plain(MipiSeqElement._decode(op, None, ""))})
                return
            size = body[i]
            i += 1
            payload = body[i : i + size]
            if len(payload) < size:
                self.note(f"{at}: size {size} runs past the sequence ({len(payload)} bytes left)")
            element, used = self.element(op, io.BytesIO(payload), len(payload), at)
            element["size"] = size
            if used is None:
                self.note(f"{at}: unknown operation {op}: skipped by its size byte")
                element["body"] = payload.hex()
            elif used != len(payload):
                self.note(f"{at}: the {element['operation']['name']} body is {used} bytes but its size byte says {size} (i915: inconsistent operation size, stops the sequence)")
                if len(payload) > used:
                    element["unparsed"] = payload[used:].hex()
            seq["elements"].append(element)
            i += len(payload)

    def sequences(self) -> list[dict]:
        data, n, v = self.data, len(self.data), self.version
        out: list[dict] = []
        i = 0
        while True:
            if i >= n:
                self.note("no end-of-sequences byte (0) before the end of the data")
                return out
            seq_id = data[i]
            if seq_id == 0:
                if i + 1 < n:
                    self.note(f"{n - i - 1} byte(s) after the end-of-sequences byte are not decoded")
                return out
            seq: dict[str, Any] = {"seq_id": to_plain(MipiSeq._decode(seq_id, None, "")), "elements": []}
            out.append(seq)
            if seq_id >= MIPI_SEQ_MAX:
                self.note(f"unknown sequence {seq_id} (i915 and igt reject the panel's sequences here)")
            elif SEQUENCE_SINCE.get(seq_id, 1) > v:
                self.note(f"sequence {seq_id} ({seq['seq_id']['name']}) is defined from sequence block v{SEQUENCE_SINCE.get(seq_id, 1)}")
            if v >= 3:
                if i + 5 > n:
                    self.note(f"sequence {seq_id}: its u32 size is cut off")
                    return out
                size = int.from_bytes(data[i + 1 : i + 5], "little")
                seq["size"] = size
                body = data[i + 5 : i + 5 + size]
                if len(body) < size:
                    self.note(f"sequence {seq_id}: size {size} runs past the panel's data ({len(body)} bytes left; i915: invalid sequence size)")
                self.sequence_v3(body, seq)
                i += 5 + len(body)
            else:
                i = self.sequence_v12(i + 1, seq)
                if i < 0:
                    return out


def _post_mipi_sequence(fields: dict, raw: bytes, version: int, context: dict) -> dict:
    findings: list[str] = since_finding(version, 177, 53)
    seq_version = fields["version"]
    data = bytes.fromhex(fields.pop("data"))
    if fields.get("size") is None:
        fields.pop("size", None)
    if seq_version == 0:
        findings.append("sequence block version 0 is not defined")
    if seq_version >= 4:
        findings.append(f"sequence block v{seq_version}: i915 and igt refuse v4+; decoded with the v3 layout")
    header = 5 if seq_version >= 3 else 3
    total = len(data)
    walker_end = None
    if seq_version >= 3 and fields.get("size") is not None:
        # i915 parses fields["size"] bytes after the u32 (find_panel_sequence_block); when the
        # u32 counts from the version byte instead, the panel entries end 5 bytes before that
        total = min(total, fields["size"])
        walker_end = fields["size"] - 5
    panels: list[dict] = []
    i = 0
    while len(panels) < MAX_MIPI_CONFIGURATIONS and i < total:
        if i == walker_end and i > 0:
            break  # the u32 counted from the version byte: what follows is the next block's
        if i + header > total:
            findings.append(f"panel entry {len(panels) + 1}: header cut off ({total - i} byte(s) left; i915: invalid sequence block (header))")
            break
        panel_id = data[i]
        size = int.from_bytes(data[i + 1 : i + header], "little")
        body = data[i + header : min(i + header + size, total)]
        panel: dict[str, Any] = {"panel_id": panel_id, "size": size}
        where = f"panel {panel_id}"
        if len(body) < size:
            findings.append(f"{where}: size {size} runs past the block ({len(body)} bytes left; i915: invalid sequence block)")
        panel["sequences"] = _Walk(body, seq_version, where, findings).sequences()
        panels.append(panel)
        i += header + len(body)
    if walker_end is not None and i != walker_end:
        if i == fields["size"]:
            findings.append("v3 size counts the bytes after the u32 (the sequence parser's reading, Bspec's, as i915 and igt parse it); i915's "
                            "and igt's block walk advances by the u32 alone and looks for the next block 5 bytes early")
        elif len(data) >= fields["size"]:
            findings.append(f"v3 size {fields['size']} matches neither reading of the panel entries ({i} bytes)")
    if i < total and i != walker_end:
        fields["unparsed"] = data[i:].hex()
        findings.append(f"{len(data) - i} byte(s) after the {len(panels)} panel entries are not decoded (i915 reads at most {MAX_MIPI_CONFIGURATIONS})")
    elif total < len(data) and walker_end is not None and i != walker_end:
        fields["unparsed"] = data[total:].hex()
        findings.append(f"{len(data) - total} byte(s) after the v3 size ({fields['size']}) are not decoded (i915 reads no further)")
    ids = [p["panel_id"] for p in panels]
    if not panels:
        findings.append("no panel entries")
    if len(set(ids)) != len(ids):
        findings.append(f"panel ids repeat ({ids}): i915 uses the first entry with its panel_type")
    fields["panels"] = panels
    sel = panel_selection(context, version)
    if panels and sel["panel_type"] is not None and sel["source"] != "pnpid" and sel["lfp1"] not in ids:  # 0xFF: the EDID decides
        what = f"panel_type {sel['lfp1']} (block 40)" if sel["source"] == "vbt" else f"panel 0 (i915's fallback for panel_type {sel['panel_type']:#x})"
        findings.append(f"no sequences for {what}: i915 finds no valid configuration")
    fields["findings"] = findings
    return fields


class _MipiSequenceBlock(cs.Subconstruct):
    """The header of block 53 (version, v3+ u32 size) and its remaining bytes; a block shorter
    than its header raises (the v3 size) or reads as version 0 (an empty block)."""

    def _parse(self, stream, context, path):
        data = cs.stream_read_entire(stream, path)
        if not data:
            data = b"\0"
        if data[0] >= 3 and len(data) < 5:
            raise cs.StreamError(f"sequence block v{data[0]} is {len(data)} bytes: its u32 size is cut off", path=path)
        return self.subcon._parsereport(io.BytesIO(data), context, path)

    def _build(self, obj, stream, context, path):
        return self.subcon._build(obj, stream, context, path)

    def _sizeof(self, context, path):
        raise cs.SizeofError("variable size", path=path)

    def _emitplain(self, gen, st, scope):  # the generated plain parser (igdscope.plainparse)
        data = gen.rest(st)
        gen.line(f"if not {data}: {data} = b'\\x00'")
        gen.line(f"if {data}[0] >= 3 and len({data}) < 5: raise _Bail")
        return gen.parse(self.subcon, gen.substream(data), scope)


# -- the registry ------------------------------------------------------------------------------------------

SPECS: dict[int, BlockSpec] = {
    52: BlockSpec(BLOCK_NAMES[52], MipiConfigBlock, full_size=BDB_MIPI_CONFIG_SIZE, post=_post_mipi_config),
    53: BlockSpec(BLOCK_NAMES[53], _MipiSequenceBlock(MipiSequenceHeader), post=_post_mipi_sequence),
}
