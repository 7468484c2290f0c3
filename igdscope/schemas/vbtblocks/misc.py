"""VBT blocks that igt's ``intel_vbt_decode`` decodes and no other block family covers: the old
VBIOS mode and register tables, toggle/removal lists, OEM modes, EFP list and DTDs, SDVO LVDS PnP
IDs and power sequences, TV options, eDP BFI, chromaticity, fixed set mode, RGB palette, vswing
tables and the PRD table.

Layouts and names follow the kernel's ``intel_vbt_defs.h`` (which igt copies); what each field
means and how igt reads variable-length tables follows igt's ``tools/intel_vbt_decode.c``. Blocks
that neither decodes (14 ext table pointers, 17 SV test functions, 50 old MIPI, 55 old compression
parameters, 252 INT15h hook, 254 VBIOS-private) have no schema and stay raw.

How a block is read, as i915 and igt do it: the block is copied into a zero-filled buffer of at
least the struct's size (:class:`AtLeast`), so a short block reads as zeros past its end (with a
finding). Tables whose length a header claims are read only as far as whole entries are present
(:class:`UpTo`): never more entries than bytes, never an error for a lie in a count -- a finding
instead; at most :data:`MAX_TABLE_ENTRIES` entries a table (more for register and vswing
tables). Bytes left after the last decoded entry or struct are kept as ``unparsed``.

Coded values come out as ``{"value": int, "name": str}``: child device handles (``"crt,lfp1"``,
"none" for 0), EDID PnP manufacturer ids (``"SHP"``), enumerations. 18-byte DTDs (blocks 20 and
28) are read and shown as :mod:`igdscope.schemas.vbtblocks.dtd` does for every DTD.
"""

from __future__ import annotations

import io
import struct
from functools import lru_cache
from typing import Any

import construct as cs
from construct import this

from igdscope.binary.plainparse import Unsupported, Val
from igdscope.schemas.common import Raw
from igdscope.schemas.vbtblocks.base import BLOCK_NAMES, MAX_TABLE_ENTRIES, BlockSpec, EnumIn, FlatStruct, UpTo, ZeroFilled, gate_one
from igdscope.schemas.vbtblocks.general import device_handle_names
from igdscope.schemas.vbtblocks.dtd import EdidDtd, dtd_findings, dtd_plain

_v = this._params.bdb_version

# -- construct helpers ------------------------------------------------------------------------


class AtLeast(cs.Subconstruct):
    """The rest of the stream, zero-padded to ``min_size`` bytes when shorter, parsed by ``subcon``:
    i915's and igt's copy of a block into a zero-filled buffer of the struct's size. Building cuts
    the result back to the ``block_size`` parse parameter when that is smaller (refusing to drop
    non-zero bytes)."""

    def __init__(self, min_size: int, subcon: cs.Construct):
        super().__init__(subcon)
        self.min_size = min_size

    def _parse(self, stream, context, path):
        data = cs.stream_read_entire(stream, path)
        if len(data) < self.min_size:
            data = data.ljust(self.min_size, b"\0")
        return self.subcon._parsereport(io.BytesIO(data), context, path)

    def _build(self, obj, stream, context, path):
        sub = io.BytesIO()
        self.subcon._build(obj, sub, context, path)
        data = sub.getvalue()
        size = context._params.get("block_size") if "_params" in context else None
        if size is not None and size < len(data):
            if any(data[size:]):
                raise cs.ValidationError(f"values need {len(data.rstrip(bytes(1)))} bytes but the block has {size}", path=path)
            data = data[:size]
        cs.stream_write(stream, data, len(data), path)
        return obj

    def _sizeof(self, context, path):
        raise cs.SizeofError("variable size", path=path)

    def _emitplain(self, gen, st, scope):  # the generated plain parser (igdscope.plainparse)
        data = gen.rest(st)
        gen.line(f"if len({data}) < {int(self.min_size)}: {data} = {data} + bytes({int(self.min_size)} - len({data}))")
        return gen.parse(self.subcon, gen.substream(data), scope)


class Body(cs.Subconstruct):
    """``subcon`` over all remaining bytes but the last ``trailer`` ones (a table followed by a
    fixed-size end marker or count, as in blocks 4, 6-8, 10 and the old PRD table)."""

    def __init__(self, trailer: int, subcon: cs.Construct):
        super().__init__(subcon)
        self.trailer = trailer

    def _parse(self, stream, context, path):
        start = cs.stream_tell(stream, path)
        n = max(cs.stream_size(stream) - start - self.trailer, 0)
        data = cs.stream_read(stream, n, path)
        return self.subcon._parsereport(io.BytesIO(data), context, path)

    def _build(self, obj, stream, context, path):
        return self.subcon._build(obj, stream, context, path)

    def _sizeof(self, context, path):
        raise cs.SizeofError("variable size", path=path)

    def _emitplain(self, gen, st, scope):
        data = gen.tmp("b")
        gen.line(f"{data} = {st.buf}[{st.pos}:{st.pos} + max(len({st.buf}) - {st.pos} - {int(self.trailer)}, 0)]")
        gen.line(f"{st.pos} += len({data})")
        return gen.parse(self.subcon, gen.substream(data), scope)






class IfMore(cs.Subconstruct):
    """``subcon`` when more than ``n`` bytes remain in the stream, else None (igt's test for the
    second, LVDS, table of block 15)."""

    def __init__(self, n: int, subcon: cs.Construct):
        super().__init__(subcon)
        self.n = n

    def _parse(self, stream, context, path):
        if cs.stream_size(stream) - cs.stream_tell(stream, path) > self.n:
            return self.subcon._parsereport(stream, context, path)
        return None

    def _build(self, obj, stream, context, path):
        if obj is None:
            return None
        return self.subcon._build(obj, stream, context, path)

    def _sizeof(self, context, path):
        raise cs.SizeofError("variable size", path=path)

    def _emitplain(self, gen, st, scope):
        res = gen.tmp("r")
        with gen.block(f"if len({st.buf}) - {st.pos} > {int(self.n)}:"):
            gen.line(f"{res} = {gen.parse(self.subcon, st, scope).plain}")
        with gen.block("else:"):
            gen.line(f"{res} = None")
        return Val(res)


class DeviceHandle(cs.Adapter):
    """A child device handle (``DEVICE_HANDLE_*`` bits, u8 in old tables, u16 in new ones) as
    ``{"value": n, "name": "crt,lfp1"}``; names depend on the BDB version (bit 0 is CRT up to
    216, EFP6 from 217)."""

    def _decode(self, obj, context, path):
        if obj == 0:
            return cs.EnumIntegerString.new(0, "none")
        version = context._params.get("bdb_version") if "_params" in context else None
        return cs.EnumIntegerString.new(obj, ",".join(device_handle_names(obj, version or 0)))

    def _encode(self, obj, context, path):
        if isinstance(obj, dict):
            obj = obj["value"]
        return int(obj)

    def _emitplainvalue(self, gen, sub, scope):  # the generated plain parser: the same name
        return Val(f"{{'value': {sub.plain}, 'name': {gen.const(_handle_name, 'f')}({sub.plain}, P.get('bdb_version'))}}")


@lru_cache(maxsize=1024)
def _handle_name(value: int, version: int | None) -> str:
    return "none" if value == 0 else ",".join(device_handle_names(value, version or 0))


@lru_cache(maxsize=1024)
def pnp_name(mfg_name: int) -> str:
    """The three letters of an EDID manufacturer id as the kernel's u16 holds it (EDID stores it
    big-endian: 5 bits per letter, 1 = 'A')."""
    be = ((mfg_name & 0xFF) << 8) | (mfg_name >> 8)
    return "".join(chr(ord("@") + ((be >> shift) & 0x1F)) for shift in (10, 5, 0))


class PnpName(cs.Adapter):
    """EDID PnP manufacturer id: ``{"value": u16 as read little-endian, "name": "SHP"}``."""

    def _decode(self, obj, context, path):
        return cs.EnumIntegerString.new(obj, pnp_name(obj))

    def _encode(self, obj, context, path):
        if isinstance(obj, dict):
            obj = obj["value"]
        return int(obj)

    def _emitplainvalue(self, gen, sub, scope):
        return Val(f"{{'value': {sub.plain}, 'name': {gen.const(pnp_name, 'f')}({sub.plain})}}")


# -- post-processing shared by the blocks -------------------------------------------------------


def short_finding(raw: bytes, size: int, what: str = "struct") -> list[str]:
    if len(raw) < size:
        return [f"block is {len(raw)} bytes, shorter than the {size}-byte {what}: read as zero-filled (as i915 and igt do)"]
    return []


def unparsed_finding(fields: dict, what: str = "the last whole entry") -> list[str]:
    tail = fields.get("unparsed")
    if tail:
        return [f"{len(tail) // 2} byte(s) after {what} are not decoded (kept as unparsed)"]
    return []


def count_finding(claimed: int, got: int, what: str) -> list[str]:
    if got < claimed:
        why = f"at most {MAX_TABLE_ENTRIES} are decoded" if got == MAX_TABLE_ENTRIES else "the rest are not present"
        return [f"{what} claims {claimed} entries, {got} decoded ({why})"]
    return []


def size_finding(size: int, expected: int, what: str) -> list[str]:
    if size != expected:
        return [f"{what} is {size}, igt expects {expected}"]
    return []


def since_finding(version: int, since: int, block_id: int) -> list[str]:
    if version < since:
        return [f"block {block_id} is defined from BDB {since}; this VBT is BDB {version}"]
    return []


class Post:
    """A block's ``post`` hook: the short-block finding for ``min_size``, the BDB version the
    block appeared in, then the block's own ``check(fields, raw, version, context) -> findings``."""

    def __init__(self, block_id: int, min_size: int, since: int = 0, check: Any = None):
        self.block_id = block_id
        self.min_size = min_size
        self.since = since
        self.check = check

    def __call__(self, fields: dict, raw: bytes, version: int, context: dict) -> dict:
        findings = short_finding(raw, self.min_size) + since_finding(version, self.since, self.block_id)
        if self.check is not None:
            findings += self.check(fields, raw, version, context)
        findings += unparsed_finding(fields)
        fields["findings"] = findings
        return fields


# -- block 3: display toggle option ------------------------------------------------------------

DisplayToggle = AtLeast(3, cs.Struct(
    "feature_bits" / cs.Int8ul,
    "num_entries" / cs.Int16ul * "ALM only",
    "list" / UpTo(this.num_entries, DeviceHandle(cs.Int16ul)) * "ALM only: child device handles",
    "unparsed" / Raw(),
))


def _check_display_toggle(f, raw, version, context):
    return count_finding(f["num_entries"], len(f["list"]), "num_entries")


# -- block 4: mode support list ----------------------------------------------------------------

ModeSupportList = AtLeast(2, FlatStruct(
    Body(2, cs.Struct(
        "intel_mode_number" / UpTo(None, cs.Int8ul) * "VBIOS mode numbers",
        "unparsed" / Raw(),
    )),
    "mode_list_length" / cs.Int16ul * "u16 at the end of the block",
))


def _check_mode_support_list(f, raw, version, context):
    n = len(f["intel_mode_number"])
    if f["mode_list_length"] != n:
        return [f"mode_list_length is {f['mode_list_length']}, {n} mode numbers decoded"]
    return []


# -- block 5: generic mode table ----------------------------------------------------------------

GenericModeTableBase = cs.Struct(
    "x_res" / cs.Int16ul,
    "y_res" / cs.Int16ul,
    "color_depths" / cs.Int8ul,
    "refresh_rate" / cs.Array(3, cs.Int8ul),
    "reserved" / cs.Int8ul,
    "text_cols" / cs.Int8ul,
    "text_rows" / cs.Int8ul,
    "font_height" / cs.Int8ul,
    "page_size" / cs.Int16ul,
    "misc" / cs.Int8ul,
)

GenericModeTimings = cs.Struct(
    "dotclock_khz" / cs.Int32ul,
    # the counts below are stored minus one (igt adds 1 when printing)
    "hdisplay" / cs.Int16ul, "htotal" / cs.Int16ul, "hblank_start" / cs.Int16ul, "hblank_end" / cs.Int16ul,
    "hsync_start" / cs.Int16ul, "hsync_end" / cs.Int16ul,
    "vdisplay" / cs.Int16ul, "vtotal" / cs.Int16ul, "vblank_start" / cs.Int16ul, "vblank_end" / cs.Int16ul,
    "vsync_start" / cs.Int16ul, "vsync_end" / cs.Int16ul,
)

GenericModeTimingsAlm = cs.Struct(
    "timings" / GenericModeTimings,
    "wm_8bpp" / cs.Int8ul, "burst_8bpp" / cs.Int8ul,
    "wm_16bpp" / cs.Int8ul, "burst_16bpp" / cs.Int8ul,
    "wm_32bpp" / cs.Int8ul, "burst_32bpp" / cs.Int8ul,
)

GenericModeTableAlm = cs.Struct(
    "table" / GenericModeTableBase,
    "timings" / cs.Array(3, GenericModeTimingsAlm),
    "unparsed" / Raw(),
)

GenericModeTableMgm = cs.Struct(
    "mode_flag" / cs.Int16ul,
    "table" / GenericModeTableBase,
    "timings" / cs.Array(3, GenericModeTimings),
    "unparsed" / Raw(),
)

# igt: "ALM/105 is showing one layout, MGM/108 another"; it switches at BDB 106
GenericModeTable = cs.IfThenElse(_v >= 106, AtLeast(101, GenericModeTableMgm), AtLeast(117, GenericModeTableAlm))


def _check_generic_mode_table(f, raw, version, context):
    size = 101 if version >= 106 else 117
    return short_finding(raw, size, "MGM layout" if version >= 106 else "ALM layout")


# -- blocks 6, 7, 8: register tables (VBIOS only) -----------------------------------------------

RegEntryByte = cs.Struct("offset" / cs.Int8ul, "value" / cs.Int8ul)
RegEntryDword = cs.Struct("offset" / cs.Int32ul, "value" / cs.Int32ul)

DataAccessSize = EnumIn(cs.Int8ul, u8_u8=0xCE, u32_u32=0x02)

RegTable = AtLeast(5, FlatStruct(
    "table_id" / cs.Int16ul,
    "data_access_size" / DataAccessSize * "0xce: u8 offset/value pairs, 0x02: u32 offset/value pairs",
    Body(2, cs.Switch(
        this.data_access_size,
        {
            "u8_u8": cs.Struct("entries" / UpTo(None, RegEntryByte, 4096), "unparsed" / Raw()),
            "u32_u32": cs.Struct("entries" / UpTo(None, RegEntryDword, 4096), "unparsed" / Raw()),
        },
        default=cs.Struct("unparsed" / Raw()),
    )),
    "table_end_marker" / cs.Int16ul,
))


def _check_reg_table(f, raw, version, context):
    out = []
    if "entries" not in f:
        out.append(f"data_access_size {f['data_access_size']['value']:#04x} is unknown (0xce and 0x02 are): entries not decoded")
    if len(raw) >= 5 and f["table_end_marker"] != 0xFFFF:
        out.append(f"table_end_marker is {f['table_end_marker']:#06x}, not 0xffff")
    return out


# -- block 10: mode removal table ---------------------------------------------------------------

ModeRemovalEntry = cs.Struct(
    "x_res" / cs.Int16ul,
    "y_res" / cs.Int16ul,
    "bpp" / cs.Int8ul,
    "refresh_rate" / cs.Int16ul,
    "removal_flags" / cs.Int8ul,
    "panel_flags" / cs.Int16ul * "only in 10-byte rows",
)

ModeRemoval = AtLeast(3, FlatStruct(
    "row_size" / cs.Int8ul * "8 or 10 bytes",
    Body(2, cs.Struct(
        "modes" / UpTo(None, ZeroFilled(this._.row_size, ModeRemovalEntry)),
        "unparsed" / Raw(),
    )),
    "terminator" / cs.Int16ul * "0x0000",
))


def _check_mode_removal(f, raw, version, context):
    out = []
    if f["row_size"] not in (8, 10):
        out.append(f"row_size {f['row_size']} is neither 8 nor 10" + (" (igt divides by it)" if f["row_size"] == 0 else ""))
    if f["row_size"] < 10:
        for mode in f["modes"]:
            mode.pop("panel_flags", None)
    if f["terminator"] != 0:
        out.append(f"terminator is {f['terminator']:#06x}, not 0")
    return out


# -- block 13: driver persistent algorithm -------------------------------------------------------

DriverPersistence = AtLeast(3, FlatStruct(
    cs.ByteSwapped(cs.BitStruct(
        "rsvd" / cs.BitsInteger(6),
        "docking_persistent_algorithm" / cs.Flag * "algorithm flags: 1 driver default, 0 OS default",
        "dvo_hotplug_persistent_on_mode" / cs.Flag,
        "edid_persistent_on_mode" / cs.Flag,
        "hotkey_persistent_on_mode" / cs.Flag,
        "hotkey_persistent_on_restore_pipe" / cs.Flag,
        "hotkey_persistent_on_refresh_rate" / cs.Flag,
        "hotkey_persistent_on_mds_twin" / cs.Flag,
        "power_management_persistent_algorithm" / cs.Flag,
        "lid_switch_persistent_algorithm" / cs.Flag,
        "hotkey_persistent_algorithm" / cs.Flag,
    )),
    "persistent_max_config" / cs.Int8ul,
    "unparsed" / Raw(),
))


# -- block 15: dot clock override ----------------------------------------------------------------

DotClockEntryGen3 = cs.Struct(
    "dotclock" / cs.Int32ul * "kHz",
    "n" / cs.Int8ul, "m1" / cs.Int8ul, "m2" / cs.Int8ul, "p1" / cs.Int8ul, "p2" / cs.Int8ul,
)

DotClockEntryGen2 = FlatStruct(
    "dotclock" / cs.Int32ul * "kHz",
    "n" / cs.Int8ul, "m1" / cs.Int8ul, "m2" / cs.Int8ul,
    cs.BitStruct(
        "p2_div_by_4" / cs.Flag,
        "reserved" / cs.Flag,
        "p1_div_by_2" / cs.Flag,
        "p1" / cs.BitsInteger(5),
    ),
)

DotClockTable = cs.Struct(
    "row_size" / cs.Int8ul * "8 = gen2 rows, 9 = gen3+ rows",
    "num_rows" / cs.Int8ul,
    "table" / UpTo(this.num_rows, ZeroFilled(this.row_size, cs.Switch(
        this.row_size, {9: DotClockEntryGen3, 8: DotClockEntryGen2}, default=cs.Struct("dotclock" / cs.Int32ul),
    ))),
)

DotClockOverride = AtLeast(2, cs.Struct(
    "normal" / DotClockTable,
    "lvds" / IfMore(2, DotClockTable) * "a second table when bytes remain (igt)",
    "unparsed" / Raw(),
))


def _pll_clock(ref: int, m: int, n: int, p: int) -> int:
    return (ref * m + n * p // 2) // (n * p) if n and p else 0


def _check_dot_clock(f, raw, version, context):
    out = []
    for name in ("normal", "lvds"):
        t = f.get(name)
        if not t:
            continue
        out += count_finding(t["num_rows"], len(t["table"]), f"{name} table num_rows")
        if t["row_size"] not in (8, 9):
            out.append(f"{name} table row_size {t['row_size']} is neither 8 (gen2) nor 9 (gen3+): only dotclock decoded")
        for e in t["table"]:
            m1, m2, n = e.get("m1", 0) + 2, e.get("m2", 0) + 2, e.get("n", 0) + 2
            if t["row_size"] == 9:
                e["calculated_dotclock"] = _pll_clock(96000, 5 * m1 + m2, n, e["p1"] * e["p2"])
            elif t["row_size"] == 8:  # gen2: 48 MHz reference; LVDS rows code P1 as a one-hot field
                p1 = e["p1"].bit_length() if name == "lvds" else (2 if e["p1_div_by_2"] else e["p1"] + 2)
                p2 = 14 if name == "lvds" else (4 if e["p2_div_by_4"] else 2)
                e["calculated_dotclock"] = _pll_clock(48000, 5 * m1 + m2, n, p1 * p2)
    return out


# -- blocks 16, 29, 31: display toggle lists; 19, 30, 32: display removal tables -----------------


def _toggle_lists(entry: cs.Construct) -> cs.Construct:
    return AtLeast(12, cs.Struct(
        "tables" / UpTo(4, cs.Struct(
            "num_entries" / cs.Int16ul,
            "entry_size" / cs.Int8ul,
            "list" / UpTo(this.num_entries, ZeroFilled(this.entry_size, entry)),
        )),
        "unparsed" / Raw(),
    ))


def _removal_table(entry: cs.Construct) -> cs.Construct:
    return AtLeast(2, cs.Struct(
        "num_entries" / cs.Int8ul,
        "entry_size" / cs.Int8ul,
        "table" / UpTo(this.num_entries, ZeroFilled(this.entry_size, entry)),
        "unparsed" / Raw(),
    ))


ToggleListEntryOld = cs.Struct(
    "display_select_pipe_a" / DeviceHandle(cs.Int8ul),
    "display_select_pipe_b" / DeviceHandle(cs.Int8ul),
    "caps" / cs.Int8ul,
)
ToggleListEntryIvb = cs.Struct("display_select" / DeviceHandle(cs.Int8ul))
ToggleListEntryHsw = cs.Struct("display_select" / DeviceHandle(cs.Int16ul))
DisplayRemoveEntryOld = cs.Struct(
    "display_select_pipe_a" / DeviceHandle(cs.Int8ul),
    "display_select_pipe_b" / DeviceHandle(cs.Int8ul),
)
DisplayRemoveEntryIvb = cs.Struct("display_select" / DeviceHandle(cs.Int8ul))
DisplayRemoveEntryHsw = cs.Struct("display_select" / DeviceHandle(cs.Int16ul))

DisplaySelectOld = _toggle_lists(ToggleListEntryOld)
DisplaySelectIvb = _toggle_lists(ToggleListEntryIvb)
DisplaySelectHsw = _toggle_lists(ToggleListEntryHsw)
DisplayRemoveOld = _removal_table(DisplayRemoveEntryOld)
DisplayRemoveIvb = _removal_table(DisplayRemoveEntryIvb)
DisplayRemoveHsw = _removal_table(DisplayRemoveEntryHsw)


class _CheckToggle:
    def __init__(self, entry_size: int):
        self.entry_size = entry_size

    def __call__(self, f, raw, version, context):
        out = []
        if len(f["tables"]) < 4:
            out.append(f"only {len(f['tables'])} of the 4 toggle lists are present")
        for i, t in enumerate(f["tables"]):
            out += count_finding(t["num_entries"], len(t["list"]), f"toggle list {i + 1} num_entries")
            if t["num_entries"]:
                out += size_finding(t["entry_size"], self.entry_size, f"toggle list {i + 1} entry_size")
        return out


class _CheckRemoval:
    def __init__(self, entry_size: int):
        self.entry_size = entry_size

    def __call__(self, f, raw, version, context):
        out = count_finding(f["num_entries"], len(f["table"]), "num_entries")
        if f["num_entries"]:
            out += size_finding(f["entry_size"], self.entry_size, "entry_size")
        return out


# -- block 18: driver rotation ---------------------------------------------------------------------

DriverRotation = AtLeast(12, cs.Struct(
    "rotation_enable" / cs.Int8ul,
    "rotation_flags_1" / cs.Int8ul,
    "rotation_flags_2" / cs.Int16ul,
    "rotation_flags_3" / cs.Int32ul,
    "rotation_flags_4" / cs.Int32ul,
    "unparsed" / Raw(),
))


# -- block 20: OEM customizable modes ----------------------------------------------------------------

OemMode = FlatStruct(
    cs.BitStruct(
        "reserved" / cs.BitsInteger(5),
        "enable_in_gop" / cs.Flag * "207+",
        "enable_in_os" / cs.Flag,
        "enable_in_vbios" / cs.Flag,
    ),
    "display_flags" / DeviceHandle(cs.Int8ul) * "???-216",
    "x_res" / cs.Int16ul,
    "y_res" / cs.Int16ul,
    "color_depth" / cs.Int8ul,
    "refresh_rate" / cs.Int8ul,
    "dtd" / EdidDtd,
    "display_flags_2" / DeviceHandle(cs.Int16ul) * "217+, only in 28-byte entries",
)

OemCustom = AtLeast(2, cs.Struct(
    "num_entries" / cs.Int8ul,
    "entry_size" / cs.Int8ul * "26, or 28 with display_flags_2",
    "modes" / UpTo(this.num_entries, ZeroFilled(this.entry_size, OemMode)),
    "unparsed" / Raw(),
))


# the mode members defined only in some BDB versions: (name, first BDB, last BDB or None)
OEM_MODE_GATES = (("enable_in_gop", 207, None), ("display_flags", 0, 216), ("display_flags_2", 217, None))


def _check_oem_custom(f, raw, version, context):
    out = count_finding(f["num_entries"], len(f["modes"]), "num_entries")
    short_entries = f["entry_size"] < 28
    gated = [(name, lo, hi) for name, lo, hi in OEM_MODE_GATES if not (version >= lo and (hi is None or version <= hi))]
    for i, mode in enumerate(f["modes"]):
        dtd = mode["dtd"] = dtd_plain(mode["dtd"])
        if dtd["clock"]:
            out += dtd_findings(dtd, f"OEM mode {i + 1}")
        if short_entries:
            mode.pop("display_flags_2", None)
        for name, lo, hi in gated:
            gate_one(mode, name, version, lo, hi)
    return out


# -- block 21: EFP list --------------------------------------------------------------------------------

EfpEntry = cs.Struct(
    "mfg_name" / PnpName(cs.Int16ul) * "EDID manufacturer id (big-endian letters)",
    "product_code" / cs.Int16ul,
)

EfpList = AtLeast(2, cs.Struct(
    "num_entries" / cs.Int8ul,
    "entry_size" / cs.Int8ul,
    "efp" / UpTo(this.num_entries, ZeroFilled(this.entry_size, EfpEntry)),
    "unparsed" / Raw(),
))


def _check_efp_list(f, raw, version, context):
    out = count_finding(f["num_entries"], len(f["efp"]), "num_entries")
    if f["num_entries"]:
        out += size_finding(f["entry_size"], 4, "entry_size")
    return out


# -- blocks 24, 25: SDVO LVDS PnP IDs and power sequences -------------------------------------------

EdidPnpId = cs.Struct(
    "mfg_name" / PnpName(cs.Int16ul),
    "product_code" / cs.Int16ul,
    "serial" / cs.Int32ul,
    "mfg_week" / cs.Int8ul,
    "mfg_year" / cs.Int8ul * "years since 1990",
)

SdvoLvdsPnpId = AtLeast(40, cs.Struct("pnp_id" / cs.Array(4, EdidPnpId), "unparsed" / Raw()))

SdvoLvdsPps = AtLeast(40, cs.Struct(
    "pps" / cs.Array(4, cs.Struct(
        "t0" / cs.Int16ul * "power on (ms, igt)",
        "t1" / cs.Int16ul * "backlight on",
        "t2" / cs.Int16ul * "backlight off",
        "t3" / cs.Int16ul * "power off",
        "t4" / cs.Int16ul * "power cycle",
    )),
    "unparsed" / Raw(),
))


# -- block 26: TV options ------------------------------------------------------------------------------

UnderscanOverscan = EnumIn(cs.BitsInteger(2), neither=0, underscan_overscan=1, overscan_only=2, underscan_only=3)

TvOptions = AtLeast(2, FlatStruct(
    cs.ByteSwapped(cs.BitStruct(
        "d_connector_support" / cs.Flag,
        "add_modes_to_avoid_overscan_issue" / cs.Flag,
        "underscan_overscan_hdtv_dvi" / UnderscanOverscan,
        "rsvd1" / cs.BitsInteger(10),
        "underscan_overscan_hdtv_component" / UnderscanOverscan,
    )),
    "unparsed" / Raw(),
))


# -- block 28: EFP DTDs ----------------------------------------------------------------------------------

# The kernel's struct has 3 DTDs; real blocks carry 4 (72 bytes). Every whole DTD present is decoded.
EfpDtd = AtLeast(54, cs.Struct("dtd" / UpTo(None, EdidDtd, 16), "unparsed" / Raw()))


def _check_efp_dtd(f, raw, version, context):
    out = []
    f["dtd"] = [dtd_plain(d) for d in f["dtd"]]
    for i, d in enumerate(f["dtd"]):
        if d["clock"]:
            out += dtd_findings(d, f"EFP DTD {i + 1}")
    if len(f["dtd"]) > 3:
        out.append(f"{len(f['dtd'])} DTDs: the kernel's struct (and igt) have 3")
    return out


# -- block 45: eDP BFI ------------------------------------------------------------------------------------

EdpBfi = FlatStruct(
    cs.BitStruct(
        "reserved" / cs.BitsInteger(6),
        "enable_brightness_control_in_cui" / cs.Flag,
        "enable_bfi_in_driver" / cs.Flag,
    ),
    "brightness_percentage_when_bfi_disabled" / cs.Int8ul,
)

EdpBfiBlock = AtLeast(33, cs.Struct(
    "bfi_structure_size" / cs.Int8ul * "2",
    "bfi" / UpTo(16, ZeroFilled(this.bfi_structure_size, EdpBfi)) * "per panel",
    "unparsed" / Raw(),
))


def _check_edp_bfi(f, raw, version, context):
    return size_finding(f["bfi_structure_size"], 2, "bfi_structure_size") + count_finding(16, len(f["bfi"]), "the panel table")


# -- block 46: chromaticity for narrow gamut panels ---------------------------------------------------------

Chromaticity = FlatStruct(
    cs.BitStruct(
        "rsvd" / cs.BitsInteger(6),
        "chromaticity_from_edid_base_block" / cs.Flag,
        "chromaticity_enable" / cs.Flag,
    ),
    cs.BitStruct(
        "red_x_lo" / cs.BitsInteger(2), "red_y_lo" / cs.BitsInteger(2),
        "green_x_lo" / cs.BitsInteger(2), "green_y_lo" / cs.BitsInteger(2),
    ),
    cs.BitStruct(
        "blue_x_lo" / cs.BitsInteger(2), "blue_y_lo" / cs.BitsInteger(2),
        "white_x_lo" / cs.BitsInteger(2), "white_y_lo" / cs.BitsInteger(2),
    ),
    "red_x_hi" / cs.Int8ul, "red_y_hi" / cs.Int8ul,
    "green_x_hi" / cs.Int8ul, "green_y_hi" / cs.Int8ul,
    "blue_x_hi" / cs.Int8ul, "blue_y_hi" / cs.Int8ul,
    "white_x_hi" / cs.Int8ul, "white_y_hi" / cs.Int8ul,
)

LuminanceAndGamma = FlatStruct(
    cs.BitStruct(
        "rsvd" / cs.BitsInteger(6),
        "gamma_enable" / cs.Flag,
        "luminance_enable" / cs.Flag,
    ),
    "min_luminance" / cs.Int16ul * "IEEE half float",
    "max_luminance" / cs.Int16ul,
    "one_percent_max_luminance" / cs.Int16ul,
    "gamma" / cs.Int8ul * "(value + 100) / 100; 0xff = not given",
)

ChromaticityBlock = AtLeast(304, cs.Struct(
    "chromaticity" / cs.Array(16, Chromaticity),
    "luminance_and_gamma" / cs.Array(16, LuminanceAndGamma) * "211+",
    "unparsed" / Raw(),
))


@lru_cache(maxsize=4096)
def half_float(value: int) -> float:
    """An IEEE 754 half-precision value from its 16 bits."""
    return struct.unpack(">e", value.to_bytes(2, "big"))[0]


_CIE_COORDINATES = [(f"{color}_{axis}", f"{color}_{axis}_hi", f"{color}_{axis}_lo") for color in ("red", "green", "blue", "white") for axis in ("x", "y")]
# a 10-bit CIE coordinate by its high 8 and low 2 bits: (the 10-bit value, the value / 1024)
_CIE_VALUES = [[(hi << 2 | lo, (hi << 2 | lo) / 1024) for lo in range(4)] for hi in range(256)]


def _check_chromaticity(f, raw, version, context):
    out = short_finding(raw, 304, "struct (BDB 211+)") if version >= 211 else []
    gate_one(f, "luminance_and_gamma", version, 211)
    cie_values = _CIE_VALUES
    for c in f["chromaticity"]:
        for name, hi, lo in _CIE_COORDINATES:
            v, value = cie_values[c[hi]][c[lo]]
            c[name] = {"raw": v, "value": value}  # 10-bit CIE coordinate
    lums = f.get("luminance_and_gamma") or (f.get("not_valid_for_bdb") or {}).get("luminance_and_gamma") or []
    for lum in lums:
        lum["min_luminance_nits"] = half_float(lum["min_luminance"])
        lum["max_luminance_nits"] = half_float(lum["max_luminance"])
        lum["one_percent_max_luminance_nits"] = half_float(lum["one_percent_max_luminance"])
        gamma = lum["gamma"]
        lum["gamma_value"] = None if gamma == 0xFF else (gamma + 100) / 100
    return out


# -- block 51: fixed set mode -------------------------------------------------------------------------------

FixedSetMode = AtLeast(9, cs.Struct(
    "enable" / cs.Int8ul,
    "x_res" / cs.Int32ul,
    "y_res" / cs.Int32ul,
    "unparsed" / Raw(),
))

# -- block 54: RGB palette ------------------------------------------------------------------------------------

RgbPalette = AtLeast(769, cs.Struct(
    "is_enabled" / cs.Int8ul,
    "red" / Raw(256),
    "blue" / Raw(256) * "blue before green, as the kernel's struct has it",
    "green" / Raw(256),
    "unparsed" / Raw(),
))

# -- block 57: vswing / pre-emphasis tables ------------------------------------------------------------------

VSWING_PREEMPH_ROWS = ("V0-P0", "V0-P1", "V0-P2", "V0-P3", "V1-P0", "V1-P1", "V1-P2", "V2-P0", "V2-P1", "V3-P0")

VswingPreemph = AtLeast(2, cs.Struct(
    "num_tables" / cs.Int8ul,
    "num_columns" / cs.Int8ul,
    "tables" / UpTo(None, cs.Int32ul, 4096) * "num_tables x 10 rows x num_columns u32 values",
    "unparsed" / Raw(),
))


def _check_vswing(f, raw, version, context):
    """Reshape the flat u32 list into tables of 10 named rows of ``num_columns`` values (igt prints
    each table's first row ten times: it leaves the row out of its index)."""
    values, cols, n = f["tables"], f["num_columns"], f["num_tables"]
    out = []
    tables = []
    per_table = 10 * cols
    if cols:
        for t in range(min(n, len(values) // per_table)):
            base = t * per_table
            tables.append({row: values[base + r * cols : base + (r + 1) * cols] for r, row in enumerate(VSWING_PREEMPH_ROWS)})
    used = len(tables) * per_table
    out += count_finding(n, len(tables), "num_tables")
    if len(values) > used:
        out.append(f"{len(values) - used} u32 value(s) after the {len(tables)} table(s) are not decoded (kept as extra_values)")
        f["extra_values"] = values[used:]
    f["tables"] = tables
    return out


# -- block 253: PRD table ----------------------------------------------------------------------------------------

PrdEntryOld = cs.Struct(
    "displays_attached" / DeviceHandle(cs.Int8ul),
    "display_in_pipe_a" / DeviceHandle(cs.Int8ul),
    "display_in_pipe_b" / DeviceHandle(cs.Int8ul),
)
PrdEntryNew = cs.Struct(
    "primary_display" / DeviceHandle(cs.Int16ul),
    "secondary_display" / DeviceHandle(cs.Int16ul),
)

PrdTableOld = FlatStruct(
    Body(2, cs.Struct("list" / UpTo(None, PrdEntryOld), "unparsed" / Raw())),
    "num_entries" / cs.Int16ul * "at the end of the block",
)
PrdTableNew = cs.Struct(
    "num_entries" / cs.Int16ul,
    "list" / UpTo(None, PrdEntryNew),
    "unparsed" / Raw(),
)

PrdFormat = EnumIn(cs.Int8ul, none=0, old=1, new=2)


class PrdTable(cs.Construct):
    """The PRD table in whichever layout its counts fit, tested as igt does: the old one (3-byte
    entries, u16 count at the end; kernel: up to BDB 216) when ``(size - 2) / 3`` equals the
    trailing count, else the new one (u16 count, 4-byte entries; 217+) when ``(size - 2) / 4``
    equals the leading count, else neither (``format`` none, bytes kept as ``unparsed``)."""

    def _parse(self, stream, context, path):
        data = cs.stream_read_entire(stream, path)
        n = len(data)
        fmt = 0
        if n >= 2 and (n - 2) // 3 == int.from_bytes(data[-2:], "little"):
            fmt = 1
        elif n >= 2 and (n - 2) // 4 == int.from_bytes(data[:2], "little"):
            fmt = 2
        if fmt == 1:
            obj = PrdTableOld._parsereport(io.BytesIO(data), context, path)
        elif fmt == 2:
            obj = PrdTableNew._parsereport(io.BytesIO(data), context, path)
        else:
            obj = cs.Container(unparsed=data)
        out = cs.Container(format=PrdFormat._decode(fmt, context, path))
        out.update(obj)
        return out

    def _build(self, obj, stream, context, path):
        fmt = obj.get("format", 0)
        fmt = int(fmt["value"] if isinstance(fmt, dict) else PrdFormat._encode(fmt, context, path))
        if fmt == 1:
            PrdTableOld._build(obj, stream, context, path)
        elif fmt == 2:
            PrdTableNew._build(obj, stream, context, path)
        else:
            Raw()._build(obj.get("unparsed") or b"", stream, context, path)
        return obj

    def _sizeof(self, context, path):
        raise cs.SizeofError("variable size", path=path)

    @property
    def _plainchildren(self):
        return (PrdTableOld, PrdTableNew)

    def _emitplain(self, gen, st, scope):
        """Generated plain parser: the same layout test, then the layout's generated parser."""
        data = gen.rest(st)
        n, fmt, res = gen.tmp("n"), gen.tmp("f"), gen.tmp("r")
        gen.line(f"{n} = len({data})")
        gen.line(f"{fmt} = 0")
        gen.line(f"if {n} >= 2 and ({n} - 2) // 3 == int.from_bytes({data}[-2:], 'little'): {fmt} = 1")
        gen.line(f"elif {n} >= 2 and ({n} - 2) // 4 == int.from_bytes({data}[:2], 'little'): {fmt} = 2")
        names = {k: str(v) for k, v in PrdFormat.decmapping.items()}
        for value, schema in ((1, PrdTableOld), (2, PrdTableNew)):
            with gen.block(f"{'if' if value == 1 else 'elif'} {fmt} == {value}:"):
                val = gen.parse(schema, gen.substream(data), scope)
                if not val.is_dict:
                    raise Unsupported("PRD layout is not a struct")
                gen.line(f"{res} = {{'format': {{'value': {value}, 'name': {names[value]!r}}}}}")
                gen.line(f"{res}.update({val.plain})")
        with gen.block("else:"):
            gen.line(f"{res} = {{'format': {{'value': 0, 'name': {names[0]!r}}}, 'unparsed': {data}.hex()}}")
        return Val(res, None, True)


def _check_prd(f, raw, version, context):
    fmt = f["format"]["value"]
    if fmt == 0:
        return ["neither PRD layout fits the block's counts (igt prints nothing)"]
    out = count_finding(f["num_entries"], len(f["list"]), "num_entries")
    if fmt == 1 and version > 216 or fmt == 2 and version <= 216:
        out.append(f"{f['format']['name']} PRD layout at BDB {version} (kernel: old up to 216, new from 217; igt: the cut-off is TGL+ with GOP)")
    return out


# -- the registry ----------------------------------------------------------------------------------------------


def _spec(block_id: int, schema: cs.Construct, min_size: int, since: int = 0, check: Any = None, full_size: int | None = None) -> BlockSpec:
    return BlockSpec(BLOCK_NAMES[block_id], schema, full_size=full_size, post=Post(block_id, min_size, since, check))


SPECS: dict[int, BlockSpec] = {
    3: _spec(3, DisplayToggle, 3, check=_check_display_toggle),
    4: _spec(4, ModeSupportList, 2, check=_check_mode_support_list),
    5: _spec(5, GenericModeTable, 0, check=_check_generic_mode_table),
    6: _spec(6, RegTable, 5, check=_check_reg_table),
    7: _spec(7, RegTable, 5, check=_check_reg_table),
    8: _spec(8, RegTable, 5, check=_check_reg_table),
    10: _spec(10, ModeRemoval, 3, check=_check_mode_removal),
    13: _spec(13, DriverPersistence, 3, full_size=3),
    15: _spec(15, DotClockOverride, 2, check=_check_dot_clock),
    16: _spec(16, DisplaySelectOld, 12, check=_CheckToggle(3)),
    18: _spec(18, DriverRotation, 12, full_size=12),
    19: _spec(19, DisplayRemoveOld, 2, check=_CheckRemoval(2)),
    20: _spec(20, OemCustom, 2, check=_check_oem_custom),
    21: _spec(21, EfpList, 2, check=_check_efp_list),
    24: _spec(24, SdvoLvdsPnpId, 40, full_size=40),
    25: _spec(25, SdvoLvdsPps, 40, full_size=40),
    26: _spec(26, TvOptions, 2, full_size=2),
    28: _spec(28, EfpDtd, 54, since=161, check=_check_efp_dtd),
    29: _spec(29, DisplaySelectIvb, 12, since=164, check=_CheckToggle(1)),
    30: _spec(30, DisplayRemoveIvb, 2, since=164, check=_CheckRemoval(1)),
    31: _spec(31, DisplaySelectHsw, 12, since=166, check=_CheckToggle(2)),
    32: _spec(32, DisplayRemoveHsw, 2, since=166, check=_CheckRemoval(2)),
    45: _spec(45, EdpBfiBlock, 33, since=160, check=_check_edp_bfi, full_size=33),
    46: _spec(46, ChromaticityBlock, 176, since=169, check=_check_chromaticity),
    51: _spec(51, FixedSetMode, 9, since=172, full_size=9),
    54: _spec(54, RgbPalette, 769, since=180, full_size=769),
    57: _spec(57, VswingPreemph, 2, since=218, check=_check_vswing),
    253: _spec(253, PrdTable(), 2, check=_check_prd),
}
