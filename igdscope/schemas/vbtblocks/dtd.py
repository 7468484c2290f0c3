"""Display timings in the VBT: the 18-byte detailed timing descriptor (DTD) that blocks 23 (SDVO
LVDS DTDs), 42 (LFP data) and others embed, and block 58, the generic DTD block with its own
28-byte entries.

Names follow the kernel's ``intel_vbt_defs.h`` (``struct bdb_edid_dtd``, formerly
``lvds_dvo_timing``; ``struct generic_dtd_entry``, ``struct bdb_generic_dtd``); the derived mode
follows ``fill_detail_timing_data()`` and ``parse_generic_dtd()`` in ``intel_bios.c`` and uses
the names of ``struct drm_display_mode`` (``hdisplay``, ``hsync_start``, ... ``clock`` in kHz).

Units and bit layouts, and where intel_vbt_decode differs:

- 18-byte DTD: ``clock`` is in **10 kHz** units (mode clock = clock x 10 kHz). The vertical sync
  offset and width are 6-bit values: 4 low bits in byte 10, 2 high bits in byte 11, combined as
  ``hi << 4 | lo`` (i915). igt's ``print_detail_timing_data()`` -- used for block 23 by igt 1.27.1
  and for every 18-byte DTD by newer igt -- shifts those high bits by 8, so it prints wrong vsync
  start/end when the offset or width is 16 or more (igt 1.27.1's block 42 printer is right).
- The flags byte: i915 reads bit 6 as hsync positive and bit 5 as vsync positive. Standard EDID
  puts them at bits 1 and 2 (with bits 4:3 = 3 for digital separate sync), and real VBT DTDs look
  EDID-encoded (800x600@40 MHz and 1280x1024@108 MHz, +/+ in VESA DMT, carry 0x1E; 1024x768@65
  MHz, -/-, carries 0x18). Both readings are shown: ``mode.flags`` is what i915 programs,
  ``edid_sync`` the EDID reading. Neither igt nor i915 looks at bits 1-2.
- Block 58: ``pixel_clock`` is in **kHz** (i915 uses it as the mode clock directly); newer igt
  prints it x10 as if it were 10 kHz units, and igt 1.27.1 does not decode block 58 at all.
  i915 reads block 58 only from BDB 229 on, needs ``gdtd_size`` >= 28, and takes the entry of
  the selected panel (entries 0-15 are the LFP panels, 16 and up EFPs per igt; the panel is
  chosen by the rule of every per-panel block, :mod:`igdscope.schemas.vbtblocks.panel`).
"""

from __future__ import annotations

import struct
from typing import Any

import construct as cs
from construct import this

from igdscope.binary import build, decode_plain, to_plain
from igdscope.schemas.common import Raw
from igdscope.schemas.vbtblocks.base import BlockSpec, FlatStruct, ZeroFilled
from igdscope.schemas.vbtblocks.panel import (
    PANELS,
    panel_marks,
    panel_selection,
    selection_fields,
)

DTD_SIZE = 18
GENERIC_DTD_ENTRY_SIZE = 28

# -- the 18-byte DTD (struct bdb_edid_dtd) ---------------------------------------------------------

# Bytes in order; inside each bit-field byte the fields are listed high bit first, as a datasheet
# draws them. The combined 12/10/6-bit values are computed after the raw fields.
EdidDtd = FlatStruct(
    "clock" / cs.Int16ul * "pixel clock in 10 kHz units",
    "hactive_lo" / cs.Int8ul,
    "hblank_lo" / cs.Int8ul,
    cs.BitStruct(  # byte 4
        "hactive_hi" / cs.BitsInteger(4),
        "hblank_hi" / cs.BitsInteger(4),
    ),
    "vactive_lo" / cs.Int8ul,
    "vblank_lo" / cs.Int8ul,
    cs.BitStruct(  # byte 7
        "vactive_hi" / cs.BitsInteger(4),
        "vblank_hi" / cs.BitsInteger(4),
    ),
    "hsync_off_lo" / cs.Int8ul * "front porch",
    "hsync_pulse_width_lo" / cs.Int8ul,
    cs.BitStruct(  # byte 10
        "vsync_off_lo" / cs.BitsInteger(4),
        "vsync_pulse_width_lo" / cs.BitsInteger(4),
    ),
    cs.BitStruct(  # byte 11
        "hsync_off_hi" / cs.BitsInteger(2),
        "hsync_pulse_width_hi" / cs.BitsInteger(2),
        "vsync_off_hi" / cs.BitsInteger(2),
        "vsync_pulse_width_hi" / cs.BitsInteger(2),
    ),
    "himage_lo" / cs.Int8ul * "image width in mm, low 8 bits",
    "vimage_lo" / cs.Int8ul * "image height in mm, low 8 bits",
    cs.BitStruct(  # byte 14
        "himage_hi" / cs.BitsInteger(4),
        "vimage_hi" / cs.BitsInteger(4),
    ),
    "h_border" / cs.Int8ul,
    "v_border" / cs.Int8ul,
    cs.BitStruct(  # byte 17 as i915 declares it (see the module notes on the EDID layout)
        "non_interlaced" / cs.Flag,
        "hsync_positive" / cs.Flag,
        "vsync_positive" / cs.Flag,
        "digital" / cs.BitsInteger(2),
        "rsvd1" / cs.BitsInteger(3),
    ),
    # combined values (parsing only; building takes the _lo/_hi fields, see dtd_values())
    "hactive" / cs.Computed(this.hactive_hi * 256 + this.hactive_lo),
    "hblank" / cs.Computed(this.hblank_hi * 256 + this.hblank_lo),
    "hsync_off" / cs.Computed(this.hsync_off_hi * 256 + this.hsync_off_lo),
    "hsync_pulse_width" / cs.Computed(this.hsync_pulse_width_hi * 256 + this.hsync_pulse_width_lo),
    "vactive" / cs.Computed(this.vactive_hi * 256 + this.vactive_lo),
    "vblank" / cs.Computed(this.vblank_hi * 256 + this.vblank_lo),
    "vsync_off" / cs.Computed(this.vsync_off_hi * 16 + this.vsync_off_lo),
    "vsync_pulse_width" / cs.Computed(this.vsync_pulse_width_hi * 16 + this.vsync_pulse_width_lo),
    "himage" / cs.Computed(this.himage_hi * 256 + this.himage_lo),
    "vimage" / cs.Computed(this.vimage_hi * 256 + this.vimage_lo),
)

# combined field -> (low-part field, high-part field, bits in the low part, bits in the high part)
DTD_SPLIT: dict[str, tuple[str, str, int, int]] = {
    "hactive": ("hactive_lo", "hactive_hi", 8, 4),
    "hblank": ("hblank_lo", "hblank_hi", 8, 4),
    "vactive": ("vactive_lo", "vactive_hi", 8, 4),
    "vblank": ("vblank_lo", "vblank_hi", 8, 4),
    "hsync_off": ("hsync_off_lo", "hsync_off_hi", 8, 2),
    "hsync_pulse_width": ("hsync_pulse_width_lo", "hsync_pulse_width_hi", 8, 2),
    "vsync_off": ("vsync_off_lo", "vsync_off_hi", 4, 2),
    "vsync_pulse_width": ("vsync_pulse_width_lo", "vsync_pulse_width_hi", 4, 2),
    "himage": ("himage_lo", "himage_hi", 8, 4),
    "vimage": ("vimage_lo", "vimage_hi", 8, 4),
}
EDID_SYNC_TYPES = {0: "analog_composite", 1: "bipolar_analog_composite", 2: "digital_composite", 3: "digital_separate"}


def drm_mode(hdisplay: int, hsync_start: int, hsync_end: int, htotal: int, vdisplay: int, vsync_start: int,
             vsync_end: int, vtotal: int, clock: int, width_mm: int, height_mm: int, phsync: bool, pvsync: bool) -> dict[str, Any]:
    """The mode as i915 fills ``struct drm_display_mode`` (clock in kHz, vrefresh rounded like
    ``drm_mode_vrefresh()``), with ``name`` as ``drm_mode_set_name()`` makes it."""
    den = htotal * vtotal
    return {
        "name": f"{hdisplay}x{vdisplay}",
        "hdisplay": hdisplay, "hsync_start": hsync_start, "hsync_end": hsync_end, "htotal": htotal,
        "vdisplay": vdisplay, "vsync_start": vsync_start, "vsync_end": vsync_end, "vtotal": vtotal,
        "clock": clock,
        "vrefresh": (clock * 1000 + den // 2) // den if den else None,
        "width_mm": width_mm, "height_mm": height_mm,
        "flags": ["phsync" if phsync else "nhsync", "pvsync" if pvsync else "nvsync"],
    }


def mode_findings(mode: dict[str, Any], what: str = "") -> list[str]:
    """Sync pulses that end past the total: igt prints "BAD!", i915 clamps them."""
    out = []
    pre = f"{what}: " if what else ""
    for axis, end_key, total_key in (("h", "hsync_end", "htotal"), ("v", "vsync_end", "vtotal")):
        end, total = mode[end_key], mode[total_key]
        if end > total:
            out.append(f"{pre}{axis}sync_end {end} is past {axis}total {total} (igt prints BAD!; i915 reduces {axis}sync_end to {axis}total)")
    if not mode["clock"]:
        out.append(f"{pre}pixel clock is 0")
    return out


def dtd_plain(parsed: Any) -> dict[str, Any]:
    """The plain view of a parsed 18-byte DTD (its construct result or plain form): combined
    fields (kernel names without _lo/_hi), the flag bits as i915 declares them, the byte read as
    EDID sync flags, and ``mode``."""
    p = parsed if parsed.__class__ is dict else to_plain(parsed)
    flags = (p["non_interlaced"] << 7) | (p["hsync_positive"] << 6) | (p["vsync_positive"] << 5) | (p["digital"] << 3) | p["rsvd1"]
    return _dtd_view(p["clock"], p["hactive"], p["hblank"], p["vactive"], p["vblank"], p["hsync_off"], p["hsync_pulse_width"],
                     p["vsync_off"], p["vsync_pulse_width"], p["himage"], p["vimage"], p["h_border"], p["v_border"], flags)


_DTD_BYTES = struct.Struct("<H16B").unpack_from  # clock, then bytes 2-17 of the DTD


def dtd_at(buf: bytes, off: int = 0) -> dict[str, Any]:
    """The plain view of the DTD in ``buf[off : off + 18]`` (which the caller knows is there):
    the same dict as :func:`dtd_plain` of its :data:`EdidDtd` parse, read in one unpack."""
    (clock, hactive_lo, hblank_lo, b4, vactive_lo, vblank_lo, b7, hsync_off_lo, hsync_pulse_width_lo, b10, b11,
     himage_lo, vimage_lo, b14, h_border, v_border, flags) = _DTD_BYTES(buf, off)
    return _dtd_view(clock, (b4 >> 4) * 256 + hactive_lo, (b4 & 15) * 256 + hblank_lo, (b7 >> 4) * 256 + vactive_lo,
                     (b7 & 15) * 256 + vblank_lo, (b11 >> 6) * 256 + hsync_off_lo, (b11 >> 4 & 3) * 256 + hsync_pulse_width_lo,
                     (b11 >> 2 & 3) * 16 + (b10 >> 4), (b11 & 3) * 16 + (b10 & 15), (b14 >> 4) * 256 + himage_lo,
                     (b14 & 15) * 256 + vimage_lo, h_border, v_border, flags)


def _dtd_view(clock: int, hactive: int, hblank: int, vactive: int, vblank: int, hsync_off: int, hsync_pulse_width: int,
              vsync_off: int, vsync_pulse_width: int, himage: int, vimage: int, h_border: int, v_border: int,
              flags: int) -> dict[str, Any]:
    """The plain view from the combined values and byte 17 (``flags``)."""
    bit7 = flags >= 0x80  # i915's non_interlaced, EDID's interlaced
    hsync_positive = flags & 0x40 != 0
    vsync_positive = flags & 0x20 != 0
    sync_type = flags >> 3 & 3
    edid: dict[str, Any] = {"interlaced": bit7, "sync_type": {"value": sync_type, "name": EDID_SYNC_TYPES[sync_type]}}
    if sync_type == 3:
        edid["hsync_positive"] = flags & 0x02 != 0
        edid["vsync_positive"] = flags & 0x04 != 0
    hs, vs = hactive + hsync_off, vactive + vsync_off
    return {
        "clock": clock, "hactive": hactive, "hblank": hblank, "vactive": vactive, "vblank": vblank,
        "hsync_off": hsync_off, "hsync_pulse_width": hsync_pulse_width, "vsync_off": vsync_off,
        "vsync_pulse_width": vsync_pulse_width, "himage": himage, "vimage": vimage, "h_border": h_border,
        "v_border": v_border, "non_interlaced": bit7, "hsync_positive": hsync_positive,
        "vsync_positive": vsync_positive, "digital": sync_type, "rsvd1": flags & 7, "flags_byte": flags,
        "edid_sync": edid,
        "mode": drm_mode(hactive, hs, hs + hsync_pulse_width, hactive + hblank, vactive, vs, vs + vsync_pulse_width,
                         vactive + vblank, clock * 10, himage, vimage, hsync_positive, vsync_positive),
    }


def parse_dtd(data: bytes, what: str = "DTD") -> dict[str, Any]:
    """Decode 18 bytes as a DTD (plain view); shorter data raises DecodeError."""
    if len(data) < DTD_SIZE:
        return dtd_plain(decode_plain(EdidDtd, bytes(data), what))  # raises, naming the field
    return dtd_at(data)


def dtd_findings(d: dict[str, Any], what: str = "") -> list[str]:
    out = mode_findings(d["mode"], what)
    if d["vsync_off"] >= 16 or d["vsync_pulse_width"] >= 16:
        m = d["mode"]
        pre = f"{what}: " if what else ""
        bad_s = m["vdisplay"] + (d["vsync_off"] >> 4 << 8) + (d["vsync_off"] & 15)
        bad_e = bad_s + (d["vsync_pulse_width"] >> 4 << 8) + (d["vsync_pulse_width"] & 15)
        out.append(f"{pre}vsync offset/width use the high bits of byte 11: vsync [{m['vsync_start']}, {m['vsync_end']}]; "
                   f"igt's DTD printer shifts them by 8 and shows [{bad_s}, {bad_e}]")
    return out


def dtd_values(**combined: Any) -> dict[str, Any]:
    """Raw ``_lo``/``_hi`` field values for building an :data:`EdidDtd` from combined values
    (``hactive=1024, hblank=320, ...``); other keys (``clock``, flag bits) pass through."""
    out: dict[str, Any] = {}
    for key, value in combined.items():
        if key in DTD_SPLIT:
            lo, hi, lo_bits, _ = DTD_SPLIT[key]
            out[lo] = value & ((1 << lo_bits) - 1)
            out[hi] = value >> lo_bits
        else:
            out[key] = value
    return out


def build_dtd(**combined: Any) -> bytes:
    """18 DTD bytes from combined values (zeros for anything not given); a value too wide for its
    bits raises DecodeError."""
    values = {k: 0 for k in ("clock", "h_border", "v_border", "digital", "rsvd1")}
    values.update({"non_interlaced": False, "hsync_positive": False, "vsync_positive": False})
    values.update(dtd_values(**{k: 0 for k in DTD_SPLIT}))
    values.update(dtd_values(**combined))
    return build(EdidDtd, values, "DTD")


# -- block 58: generic DTD (struct bdb_generic_dtd) -------------------------------------------------

GenericDtdEntry = FlatStruct(
    "pixel_clock" / cs.Int32ul * "kHz (not 10 kHz as in the 18-byte DTD)",
    "hactive" / cs.Int16ul,
    "hblank" / cs.Int16ul,
    "hfront_porch" / cs.Int16ul,
    "hsync" / cs.Int16ul * "sync pulse width",
    "vactive" / cs.Int16ul,
    "vblank" / cs.Int16ul,
    "vfront_porch" / cs.Int16ul,
    "vsync" / cs.Int16ul,
    "width_mm" / cs.Int16ul,
    "height_mm" / cs.Int16ul,
    cs.BitStruct(
        "hsync_positive_polarity" / cs.Flag,
        "vsync_positive_polarity" / cs.Flag,
        "rsvd_flags" / cs.BitsInteger(6),
    ),
    "rsvd" / cs.Array(3, cs.Int8ul),
)

GenericDtd = FlatStruct(
    "gdtd_size" / cs.Int16ul * "bytes per entry (28; i915 rejects less)",
    # whole entries of gdtd_size bytes (the first 28 decoded, the rest kept per entry as unparsed);
    # with gdtd_size < 28 nothing is read as entries (i915 rejects the block)
    "dtd" / cs.If(this.gdtd_size >= GENERIC_DTD_ENTRY_SIZE, cs.GreedyRange(ZeroFilled(this.gdtd_size, GenericDtdEntry))),
    "unparsed" / Raw(),
)


def generic_dtd_mode(e: dict[str, Any]) -> dict[str, Any]:
    """The mode i915's ``parse_generic_dtd()`` builds from one entry."""
    hs, vs = e["hactive"] + e["hfront_porch"], e["vactive"] + e["vfront_porch"]
    return drm_mode(e["hactive"], hs, hs + e["hsync"], e["hactive"] + e["hblank"], e["vactive"], vs, vs + e["vsync"],
                    e["vactive"] + e["vblank"], e["pixel_clock"], e["width_mm"], e["height_mm"],
                    e["hsync_positive_polarity"], e["vsync_positive_polarity"])


def _post_generic_dtd(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict[int, bytes]) -> dict[str, Any]:
    findings: list[str] = []
    sel = panel_selection(context, bdb_version)
    size = plain["gdtd_size"]
    entries = plain.get("dtd") or []
    if bdb_version < 229:
        findings.append(f"i915 reads block 58 only from BDB 229 on (this VBT is BDB {bdb_version}); it takes the panel mode from block 42")
    if size < GENERIC_DTD_ENTRY_SIZE:
        findings.append(f"gdtd_size {size} is smaller than the {GENERIC_DTD_ENTRY_SIZE}-byte entry: i915 rejects the block (\"GDTD size too small\")")
    elif size != GENERIC_DTD_ENTRY_SIZE:
        findings.append(f"gdtd_size {size} is not {GENERIC_DTD_ENTRY_SIZE}: i915 logs \"Unexpected GDTD size\" and reads the first {GENERIC_DTD_ENTRY_SIZE} bytes of each entry")
    out: list[dict[str, Any]] = []
    for i, e in enumerate(entries):  # the parsed entries are this hook's to change
        extra = e.pop("unparsed", None)
        if not e.get("rsvd_flags"):
            e.pop("rsvd_flags", None)
        if not any(e.get("rsvd") or ()):
            e.pop("rsvd", None)
        entry: dict[str, Any]
        if i < PANELS:
            entry = {"index": i, **panel_marks(i, sel)}
        else:
            entry = {"index": i, "efp": i - 16 + 1}
        entry.update(e)
        if extra:
            entry["unparsed"] = extra
        mode = entry["mode"] = generic_dtd_mode(e)
        if e["pixel_clock"] or e["hactive"] or e["vactive"]:
            findings.extend(mode_findings(mode, f"entry {i}"))
        out.append(entry)
    plain["dtd"] = out
    if size >= GENERIC_DTD_ENTRY_SIZE and sel["lfp1"] >= len(out):
        findings.append(f"panel {sel['lfp1']} has no entry in this table of {len(out)}: i915 logs an error and uses block 42")
    if plain.get("unparsed") and size >= GENERIC_DTD_ENTRY_SIZE:
        findings.append(f"{len(plain['unparsed']) // 2} byte(s) after the last whole entry")
    else:  # a rejected table keeps no copy of the block (the raw block is in the dump)
        plain.pop("unparsed", None)
    selection_fields(plain, sel, findings, own=True)
    plain["findings"] = findings
    return plain


SPECS = {
    58: BlockSpec("generic_dtd", GenericDtd, post=_post_generic_dtd),
}
