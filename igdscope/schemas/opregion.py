"""The Intel IGD ACPI OpRegion: the 8 KiB structure whose physical base is in the IGD's ASLS
register (PCI config 0xFC): header, mailboxes 1-5, and the optional extended VBT behind RVDA/RVDS.

Layout and names follow the Linux kernel's ``intel_opregion.c`` (``struct opregion_header``,
``opregion_acpi``, ``opregion_swsci``, ``opregion_asle``, ``opregion_asle_ext``); the 3.x backlight
mailbox follows EDK2's ``IgdOpRegion30.h``; bit meanings come from the kernel's ``ASLE_*`` /
``ASLC_*`` / ``SWSCI_*`` macros. Everything is little-endian and byte-packed, so several fields are
unaligned (RVDA is a u64 at 0x3BA).

Public functions take bytes and return plain data (dicts, lists, ints, strings):

- :func:`parse_opregion` -- header, version text, the mailboxes the MBOX bitmap advertises,
  the extended-VBT location and ``findings`` (never raises for bad content; a
  :class:`~igdscope.decode.DecodeError` only when not even the 256-byte header is present);
- :func:`extended_vbt_location` -- where RVDA/RVDS put the extended VBT (i915's rules);
- :func:`vbt_bytes` -- the VBT inside the OpRegion (extended VBT or mailbox 4) and where it was;
- :func:`build_opregion` -- the inverse: 8 KiB (+ an appended extended VBT) from plain values;
- :func:`vfio_view` -- what vfio-pci's OpRegion region (and so a QEMU guest) reads for a host
  OpRegion: 2.0 + extended VBT shown as 2.1 with RVDA 0x2000 and the VBT contiguous.

Parity with igt's ``intel_opregion_decode`` (every field it prints, same values) is tested in
``tests/test_parity_opregion.py``, with the known differences listed there.

This module also holds the small construct helpers the firmware schemas share (:class:`Text`,
:class:`Raw`, :class:`Flags`, :func:`zero_value`, :func:`merge_values`); ``vbt.py`` imports them.
"""

from __future__ import annotations

from typing import Any

import construct as cs

from igdscope.binary import DecodeError, build, decode, to_plain
from igdscope.schemas.common import Flags, Raw, Text, merge_values, zero_value

KiB = 1 << 10

OPREGION_SIGNATURE = b"IntelGraphicsMem"
OPREGION_SIZE = 8 * KiB  # i915 maps exactly this much; debugfs i915_opregion is exactly this
HEADER_OFFSET = 0x0000
ACPI_OFFSET = 0x0100  # mailbox 1
SWSCI_OFFSET = 0x0200  # mailbox 2 (SWSCI <= 2.x, backlight 3.x)
ASLE_OFFSET = 0x0300  # mailbox 3
VBT_OFFSET = 0x0400  # mailbox 4
ASLE_EXT_OFFSET = 0x1C00  # mailbox 5
VBT_MAILBOX_SIZE = ASLE_EXT_OFFSET - VBT_OFFSET  # 6 KiB
RVDA_OFFSET = 0x3BA
RVDS_OFFSET = 0x3C2
MAX_VBT_SIZE = 0xFFFF  # a VBT's own vbt_size field is 16 bits


# -- header (0x000-0x0FF) -----------------------------------------------------------------------

Mboxes = Flags(
    cs.Int32ul,
    acpi=1 << 0,  # mailbox 1
    swsci=1 << 1,  # mailbox 2 as SWSCI (i915: only before 3.0)
    asle=1 << 2,  # mailbox 3; i915 follows RVDA only when this is set
    vbt=1 << 3,  # mailbox 4; i915 never checks it
    asle_ext=1 << 4,  # mailbox 5
    backlight_3x=1 << 5,  # mailbox 2 as the 3.x backlight mailbox (kernel MBOX_BACKLIGHT)
)

Pcon = Flags(cs.Int32ul, headless_sku=1 << 13)  # honoured by i915 only from version 2.3

OpRegionVersion = cs.Struct(
    "rsvd" / cs.Int8ul,
    "revision" / cs.Int8ul,
    "minor" / cs.Int8ul,
    "major" / cs.Int8ul,
)

OpRegionHeader = cs.Struct(
    "signature" / Text(16) * "'IntelGraphicsMem', no terminator",
    "size" / cs.Int32ul * "OpRegion size in KiB (normally 8; excludes an extended VBT)",
    "over" / OpRegionVersion * "structure version: bytes rsvd, revision, minor, major",
    "bios_ver" / Text(32) * "system BIOS build version (EDK2 SVER)",
    "vbios_ver" / Text(16) * "video BIOS build version (EDK2 VVER)",
    "driver_ver" / Text(16) * "graphics driver build version (EDK2 GVER)",
    "mboxes" / Mboxes * "supported-mailbox bitmap",
    "driver_model" / cs.Int32ul * "DMOD; not interpreted by i915 or igt",
    "pcon" / Pcon * "platform configuration; bit 13 headless SKU (>= 2.3)",
    "dver" / Raw(32) * "GOP driver version; EDK2/coreboot: 16 UTF-16 units, i915/igt: raw bytes",
    "rsvd" / Raw(124),
)

# -- mailbox 1: public ACPI methods (0x100-0x1FF) -------------------------------------------------

Mailbox1Acpi = cs.Struct(
    "drdy" / cs.Int32ul * "driver readiness",
    "csts" / cs.Int32ul * "notification status",
    "cevt" / cs.Int32ul * "current event; bit 0 display switch",
    "rsvd1" / Raw(20),
    "didl" / cs.Array(8, cs.Int32ul) * "supported display device IDs (ACPI _DOD format)",
    "cpdl" / cs.Array(8, cs.Int32ul) * "currently present display list",
    "cadl" / cs.Array(8, cs.Int32ul) * "currently active display list",
    "nadl" / cs.Array(8, cs.Int32ul) * "next active devices list",
    "aslp" / cs.Int32ul * "ASL sleep time-out",
    "tidx" / cs.Int32ul * "toggle table index",
    "chpd" / cs.Int32ul * "current hotplug enable indicator",
    "clid" / cs.Int32ul * "current lid state",
    "cdck" / cs.Int32ul * "current docking state",
    "sxsw" / cs.Int32ul * "display switch notify on Sx resume",
    "evts" / cs.Int32ul * "events supported by ASL",
    "cnot" / cs.Int32ul * "current OS notification",
    "nrdy" / cs.Int32ul * "driver status",
    "did2" / cs.Array(7, cs.Int32ul) * "extended supported display device IDs (9-15)",
    "cpd2" / cs.Array(7, cs.Int32ul) * "extended attached display devices",
    "rsvd2" / Raw(4),
)

# -- mailbox 2 (0x200-0x2FF): SWSCI (<= 2.x) or backlight (3.x) -----------------------------------

# SCIC: bit 0 request pending, bits 4:1 main function (4 GBDA, 6 SBCB), bits 7:5 exit status
# (1 = success), bits 15:8 sub-function on input / exit parameter on output.
Scic = cs.ByteSwapped(cs.BitStruct(
    "reserved" / cs.BitsInteger(16),
    "sub_function" / cs.BitsInteger(8) * "sub-function on input, exit parameter on output",
    "exit_status" / cs.BitsInteger(3) * "1 = success; 0 is an error",
    "main_function" / cs.BitsInteger(4) * "4 = GBDA, 6 = SBCB",
    "indicator" / cs.Flag * "request pending: set by the driver, cleared by the BIOS",
))

Mailbox2Swsci = cs.Struct(
    "scic" / Scic * "SWSCI command | status | data",
    "parm" / cs.Int32ul * "command parameters in, results out",
    "dslp" / cs.Int32ul * "driver sleep time-out in ms (i915: 0 -> 50, capped at 1500)",
    "rsvd" / Raw(244),
)

Mailbox2Backlight = cs.Struct(
    "bcl1" / cs.Int32ul * "brightness request, LFP1 (3.2: bits 7:0 level, 30 UBS, 31 valid)",
    "bcl2" / cs.Int32ul * "brightness request, LFP2",
    "cbl1" / cs.Int32ul * "current user brightness level, LFP1",
    "cbl2" / cs.Int32ul * "current user brightness level, LFP2",
    "bcm1" / cs.Array(30, cs.Int32ul) * "brightness level -> duty cycle map, LFP1",
    "bcm2" / cs.Array(30, cs.Int32ul) * "brightness level -> duty cycle map, LFP2",
)

# -- mailbox 3: ASLE (0x300-0x3FF) ----------------------------------------------------------------

Aslc = Flags(
    cs.Int32ul,
    set_als_illum=1 << 0,
    set_backlight=1 << 1,
    set_pfit=1 << 2,
    set_pwm_freq=1 << 3,
    supported_rotation_angles=1 << 4,
    button_array=1 << 5,
    convertible_indicator=1 << 6,
    docking_indicator=1 << 7,
    isct_state_change=1 << 8,
    als_illum_failed=1 << 10,
    backlight_failed=1 << 12,
    pfit_failed=1 << 14,
    pwm_freq_failed=1 << 16,
    rotation_angles_failed=1 << 18,
    button_array_failed=1 << 20,
    convertible_failed=1 << 22,
    docking_failed=1 << 24,
    isct_state_failed=1 << 26,
)

Tche = Flags(cs.Int32ul, als_en=1 << 0, blc_en=1 << 1, pfit_en=1 << 2, pfmb_en=1 << 3)

Pfit = Flags(cs.Int32ul, center=1 << 0, stretch_text=1 << 1, stretch_gfx=1 << 2, valid=1 << 31)

Iuer = Flags(
    cs.Int32ul,
    power_btn=1 << 0,
    windows_btn=1 << 1,
    volume_up_btn=1 << 2,
    volume_down_btn=1 << 3,
    rotation_lock_btn=1 << 4,
    convertible=1 << 6,  # 1 = clamshell
    docking=1 << 7,
)

# A u32 with bit 31 "valid" and a value below it (BCLP: level 0-255; CBLV: percent).
ValidLevel = cs.ByteSwapped(cs.BitStruct(
    "valid" / cs.Flag,
    "level" / cs.BitsInteger(31),
))

# BCLM entries: u16, bit 15 valid, bits 14:8 percent, bits 7:0 duty cycle (0-255).
BclmEntry = cs.ByteSwapped(cs.BitStruct(
    "valid" / cs.Flag,
    "percent" / cs.BitsInteger(7),
    "duty_cycle" / cs.BitsInteger(8),
))

# PFMB: bits 7:0 minimum brightness, bit 8 its valid bit, bits 30:9 PWM frequency, bit 31 valid.
Pfmb = cs.ByteSwapped(cs.BitStruct(
    "pwm_valid" / cs.Flag,
    "pwm_frequency" / cs.BitsInteger(22),
    "brightness_valid" / cs.Flag,
    "min_brightness" / cs.BitsInteger(8),
))

# The kernel declares plut as u8[74]; igt splits it into a header, an identifier and a table.
Plut = cs.Struct(
    "header" / cs.Int8ul,
    "identifier" / Raw(10),
    "table" / Raw(63),
)

Mailbox3Asle = cs.Struct(
    "ardy" / cs.Int32ul * "driver readiness (bit 0)",
    "aslc" / Aslc * "ASLE interrupt command: requests (0-8) and 'failed' responses",
    "tche" / Tche * "technology enabled indicator",
    "alsi" / cs.Int32ul * "ALS illuminance in lux (0 below range, 0xFFFF above)",
    "bclp" / ValidLevel * "backlight brightness to set (level 0-255)",
    "pfit" / Pfit * "panel fitting request",
    "cblv" / ValidLevel * "current brightness level in percent",
    "bclm" / cs.Array(20, BclmEntry) * "backlight level -> duty cycle map",
    "cpfm" / cs.Int32ul * "current panel fitting mode",
    "epfm" / cs.Int32ul * "enabled panel fitting modes",
    "plut" / Plut * "panel LUT and identifier",
    "pfmb" / Pfmb * "PWM frequency and minimum brightness",
    "cddv" / cs.Int32ul * "colour correction default values (igt, EDK2: CCDV)",
    "pcft" / cs.Int32ul * "power conservation features",
    "srot" / cs.Int32ul * "supported rotation angles",
    "iuer" / Iuer * "ultrabook event register",
    "fdss" / cs.Int64ul * "0x3AA; coreboot calls these 8 bytes FDSP",
    "fdsp" / cs.Int32ul * "0x3B2; coreboot calls these 4 bytes FDSS",
    "stat" / cs.Int32ul * "state indicator",
    "rvda" / cs.Int64ul * "raw VBT address: physical (2.0) or offset from the OpRegion base (2.1+)",
    "rvds" / cs.Int32ul * "raw VBT size in bytes",
    "rsvd" / Raw(58) * "3.0 (EDK2): VRSR u8 at 0x3C6, DLHP 8 bytes at 0x3C7, then reserved",
)

# Display device IDs in DIDL/CPDL/CADL/NADL/DID2/CPD2: the ACPI _DOD format (ACPI spec appendix
# B.3.2), with the bit fields i915 defines in intel_acpi.c and fills in for each connector.
DisplayId = cs.ByteSwapped(cs.BitStruct(
    "acpi_scheme" / cs.Flag * "the ID uses the ACPI bit-field scheme (i915 always sets it)",
    "reserved" / cs.BitsInteger(10),
    "pipe_id" / cs.BitsInteger(3) * "pipe",
    "depends_on_vga" / cs.Flag * "an output whose power follows the VGA device (i915: ACPI_DEPENDS_ON_VGA)",
    "bios_can_detect" / cs.Flag * "the BIOS can detect the display",
    "vendor_specific" / cs.BitsInteger(4),
    "display_type" / cs.BitsInteger(4) * "0 other, 1 VGA, 2 TV, 3 external digital, 4 internal digital",
    "port_attachment" / cs.BitsInteger(4) * "port the display is attached to",
    "display_index" / cs.BitsInteger(4) * "index among the displays of this type",
))

# i915's acpi_display_type(): which connectors get which type.
DISPLAY_TYPES = {
    0: "other",
    1: "VGA",
    2: "TV",
    3: "external digital (DP, HDMI, DVI)",
    4: "internal digital (LVDS, eDP, DSI)",
}

# The mailbox 1 lists of display IDs, in the order i915 fills them (DIDL then DID2).
DISPLAY_LISTS = ("didl", "did2", "cpdl", "cpd2", "cadl", "nadl")

# -- mailbox 5: ASLE extension (0x1C00-0x1FFF) ----------------------------------------------------

Mailbox5AsleExt = cs.Struct(
    "phed" / cs.Int32ul * "panel header; bits 1:0 = number of valid 128-byte EDID blocks",
    "bddc" / Raw(256) * "panel EDID",
    "rsvd" / Raw(764),
)

# -- the whole 8 KiB ------------------------------------------------------------------------------

OpRegion = cs.Struct(
    "header" / OpRegionHeader,
    "mbox1" / Mailbox1Acpi,
    "mbox2" / Raw(0x100) * "SWSCI (<= 2.x) or backlight (3.x): pick by version and MBOX bits",
    "mbox3" / Mailbox3Asle,
    "mbox4" / Raw(VBT_MAILBOX_SIZE) * "raw VBT, starts with '$VBT'",
    "mbox5" / Mailbox5AsleExt,
)

# (offset, size, schema, label) per mailbox name as the MBOX bitmap calls it; None = not a struct.
MAILBOXES: dict[str, tuple[int, int, cs.Construct | None, str]] = {
    "acpi": (ACPI_OFFSET, 0x100, Mailbox1Acpi, "mailbox 1 (public ACPI methods)"),
    "swsci": (SWSCI_OFFSET, 0x100, Mailbox2Swsci, "mailbox 2 (SWSCI)"),
    "backlight_3x": (SWSCI_OFFSET, 0x100, Mailbox2Backlight, "mailbox 2 (3.x backlight)"),
    "asle": (ASLE_OFFSET, 0x100, Mailbox3Asle, "mailbox 3 (ASLE)"),
    "vbt": (VBT_OFFSET, VBT_MAILBOX_SIZE, None, "mailbox 4 (VBT)"),
    "asle_ext": (ASLE_EXT_OFFSET, 0x400, Mailbox5AsleExt, "mailbox 5 (ASLE extension)"),
}


def _raw_names(schema: cs.Construct, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for sc in getattr(schema, "subcons", []):
        inner = sc
        while isinstance(inner, cs.Renamed):  # name / subcon * "doc" nests two
            inner = inner.subcon
        if isinstance(inner, Raw):
            names.add(prefix + sc.name)
        elif isinstance(inner, cs.Struct):
            names |= _raw_names(inner, f"{prefix}{sc.name}.")
    return names


# Which decoded fields are raw bytes (hex strings in plain data, like the text fields are strings).
RAW_FIELDS: dict[str, frozenset[str]] = {
    "header": frozenset(_raw_names(OpRegionHeader)),
    **{name: frozenset(_raw_names(sch)) for name, (_, _, sch, _) in MAILBOXES.items() if sch is not None},
}

# Bytes of a mailbox that must be present to decode it when the data ends inside it: mailbox 5 ends
# in 764 reserved bytes, and igt (which needs data up to the end of BDDC, 0x1D04) decodes it there.
MAILBOX_NEEDED: dict[str, int] = {"asle_ext": 0x104}
IGT_MIN_SIZE = ASLE_EXT_OFFSET + 0x104  # intel_opregion_decode prints "buffer too small" below this


# -- decoding ---------------------------------------------------------------------------------


def version_text(over: dict) -> str:
    """``"major.minor.revision"`` from the ``over`` sub-struct (bytes 0x17, 0x16, 0x15)."""
    return f"{over['major']}.{over['minor']}.{over['revision']}"


def _dver_text(raw: bytes) -> str:
    """DVER as text: UTF-16LE when it looks like it (EDK2, coreboot), else latin-1 (igt's view)."""
    body = raw
    if len(body) % 2 == 0 and any(body[0::2]) and not any(body[1::2]):
        return body.decode("utf-16-le").split("\0", 1)[0]
    return body.split(b"\0", 1)[0].decode("latin-1")


def _header(data: bytes) -> cs.Container:
    if len(data) < 0x100:
        raise DecodeError("OpRegion header", f"truncated ({len(data)} bytes, the header alone is 256)")
    return decode(OpRegionHeader, data[:0x100], "OpRegion header")


def _u32(data: bytes, off: int) -> int:
    return int.from_bytes(data[off : off + 4], "little")


def _vbt_mailbox_summary(data: bytes, mboxes: dict) -> dict[str, Any]:
    area = data[VBT_OFFSET:ASLE_EXT_OFFSET]
    present = area[:4] == b"$VBT"
    out: dict[str, Any] = {
        # the first 20 bytes up to a NUL, whatever they are: what igt prints as "product string"
        "product_string": area[:20].split(b"\0", 1)[0].decode("latin-1"),
        "present": present,
        "vbt_size": int.from_bytes(area[0x18:0x1A], "little") if present and len(area) >= 0x1A else None,
        # i915 validates a mailbox-4 VBT against 6 KiB when mailbox 5 is advertised, else 7 KiB
        "buffer_size": (ASLE_EXT_OFFSET if mboxes.get("asle_ext") else OPREGION_SIZE) - VBT_OFFSET,
    }
    return out


def extended_vbt_location(data: bytes) -> dict[str, Any] | None:
    """Where the extended (raw) VBT is, by i915's rules, or None when there is none.

    Needs the signature, version >= 2.0, the ASLE mailbox advertised and RVDA and RVDS both non-zero.
    Exactly 2.0: ``{"kind": "absolute", "address": RVDA, "size": RVDS}`` (a physical address);
    2.1 and later (3.x too): ``{"kind": "relative", "offset": RVDA, "size": RVDS}`` from the
    OpRegion base (vfio/QEMU views always look like this, with RVDA 0x2000).
    """
    if len(data) < RVDS_OFFSET + 4 or data[:16] != OPREGION_SIGNATURE:
        return None
    major, minor = data[0x17], data[0x16]
    if major < 2 or not _u32(data, 0x58) & Mboxes.flags["asle"]:
        return None
    rvda = int.from_bytes(data[RVDA_OFFSET : RVDA_OFFSET + 8], "little")
    rvds = _u32(data, RVDS_OFFSET)
    if not rvda or not rvds:
        return None
    if major > 2 or minor >= 1:
        return {"kind": "relative", "offset": rvda, "size": rvds}
    return {"kind": "absolute", "address": rvda, "size": rvds}


def vbt_bytes(data: bytes) -> tuple[bytes | None, str]:
    """The VBT inside an OpRegion and a phrase saying where it came from (or why there is none).

    The extended VBT wins when RVDA is relative and the bytes are inside ``data`` (a vfio/QEMU
    region or a read that included them) and start with ``$VBT``; otherwise mailbox 4 when it
    starts with ``$VBT``, cut to its ``vbt_size`` when that fits i915's buffer (6 KiB, or 7 KiB
    without mailbox 5).
    """
    if len(data) < 0x100:
        return None, f"no VBT: {len(data)} bytes is not even an OpRegion header"
    if data[:16] != OPREGION_SIGNATURE:
        return None, "no VBT: not an OpRegion (signature is not 'IntelGraphicsMem')"
    note = ""
    loc = extended_vbt_location(data)
    if loc is not None and loc["kind"] == "relative":
        off, size = loc["offset"], loc["size"]
        if off + size <= len(data) and data[off : off + 4] == b"$VBT":
            return data[off : off + size], f"RVDA at +{off:#x}"
        if off + size > len(data):
            note = f" (the extended VBT at RVDA +{off:#x}, {size} bytes, is not in these {len(data)} bytes)"
        else:
            note = f" (RVDA +{off:#x} does not start with '$VBT')"
    elif loc is not None:
        note = f" (the extended VBT is at physical address {loc['address']:#x}, outside this dump)"
    if len(data) < VBT_OFFSET + 0x30:
        return None, f"no VBT: {len(data)} bytes end before mailbox 4{note}"
    mboxes = _u32(data, 0x58)
    end = ASLE_EXT_OFFSET if mboxes & Mboxes.flags["asle_ext"] else OPREGION_SIZE
    area = data[VBT_OFFSET:end]
    if area[:4] != b"$VBT":
        return None, f"no VBT: mailbox 4 does not start with '$VBT'{note}"
    vbt_size = int.from_bytes(area[0x18:0x1A], "little")
    if 0x30 <= vbt_size <= len(area):
        return area[:vbt_size], f"mailbox 4{note}"
    return area, f"mailbox 4, whole {len(area)}-byte buffer: vbt_size {vbt_size} does not fit it{note}"


def vfio_view(opregion_bytes: bytes, extended_vbt: bytes | None = None) -> bytes:
    """The bytes vfio-pci's IGD OpRegion region (type 0x80008086, subtype 1) reads as for a host
    OpRegion -- what QEMU copies into fw_cfg ``etc/igd-opregion`` for the guest.

    vfio-pci (``vfio_pci_igd.c``) maps the extended VBT when the u16 version at 0x16 is >= 0x0200
    and RVDA and RVDS are both non-zero (MBOX bits are not checked), and presents one contiguous
    region of ``size`` KiB (+ RVDS): the first 8 KiB of the OpRegion with the version read as 2.1
    when it is exactly 2.0 and an extended VBT exists, RVDA read as 0x2000 when one exists and as 0
    otherwise, then the extended VBT's RVDS bytes. RVDS and everything else pass through.

    ``extended_vbt`` is the VBT found at RVDA (an absolute 2.0 RVDA points outside the OpRegion, so
    the caller reads it); without it a relative RVDA is looked up in ``opregion_bytes``. Built with
    the :data:`OpRegion` schema. Raises :class:`~igdscope.decode.DecodeError` where vfio-pci refuses
    the OpRegion (signature, size 0), when the extended VBT is needed but missing or shorter than
    RVDS, or when the size field makes a region larger than what backs it (reads there fail).
    """
    data = bytes(opregion_bytes)
    what = "vfio OpRegion view"
    if len(data) < OPREGION_SIZE:
        raise DecodeError(what, f"needs the whole 8 KiB OpRegion, got {len(data)} bytes")
    if data[:16] != OPREGION_SIGNATURE:
        raise DecodeError(what, "signature is not 'IntelGraphicsMem': vfio-pci refuses the OpRegion")
    parsed = decode(OpRegion, data[:OPREGION_SIZE], what)
    size_kib = parsed.header.size
    if size_kib == 0:
        raise DecodeError(what, "header size field is 0: vfio-pci refuses the OpRegion")
    over = parsed.header.over
    version = over.major << 8 | over.minor
    rvda, rvds = parsed.mbox3.rvda, parsed.mbox3.rvds
    ext = b""
    if version >= 0x0200 and rvda and rvds:
        if extended_vbt is None:
            if version != 0x0200 and rvda + rvds <= len(data):
                extended_vbt = data[rvda : rvda + rvds]
            else:
                where = f"physical address {rvda:#x}" if version == 0x0200 else f"OpRegion + {rvda:#x}"
                raise DecodeError(what, f"the extended VBT ({rvds} bytes at {where}) is not in these {len(data)} bytes: pass it as extended_vbt")
        if len(extended_vbt) < rvds:
            raise DecodeError(what, f"extended_vbt is {len(extended_vbt)} bytes but RVDS says {rvds} (vfio-pci maps RVDS bytes)")
        ext = bytes(extended_vbt[:rvds])
        if version == 0x0200:
            over.minor = 1
    elif extended_vbt:
        raise DecodeError(what, f"version {over.major}.{over.minor} with RVDA {rvda:#x} and RVDS {rvds:#x}: vfio-pci maps no extended VBT, so extended_vbt would be ignored")
    parsed.mbox3.rvda = OPREGION_SIZE if ext else 0
    view = build(OpRegion, parsed, what) + ext
    region = size_kib * KiB + len(ext)
    if region > len(view):
        raise DecodeError(what, f"header size {size_kib} KiB makes vfio-pci's region {region} bytes, but only {len(view)} are backed (8 KiB OpRegion + RVDS): reads past that fail")
    return view[:region]


def _all_zero(data: bytes) -> bool:
    return not any(data)


def display_id(value: int) -> dict[str, Any]:
    """One ACPI display ID decoded with :data:`DisplayId`; the type carries its name."""
    fields = to_plain(decode(DisplayId, value.to_bytes(4, "little"), "display ID"))
    kind = fields.pop("display_type")
    return {"id": value, "display_type": {"value": kind, "name": DISPLAY_TYPES.get(kind)}, **fields}


def display_ids(acpi: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The non-zero entries of mailbox 1's display-ID lists, decoded, each with its ``slot``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in DISPLAY_LISTS:
        out[name] = [{"slot": i, **display_id(v)} for i, v in enumerate(acpi.get(name) or []) if v]
    return out


def display_id_text(d: dict[str, Any]) -> str:
    """A decoded display ID in a few words: type, index, port, pipe, and the flags that are set."""
    words = [d["display_type"]["name"] or f"type {d['display_type']['value']}", f"index {d['display_index']}"]
    if d["port_attachment"]:
        words.append(f"port {d['port_attachment']}")
    if d["pipe_id"]:
        words.append(f"pipe {d['pipe_id']}")
    if d["bios_can_detect"]:
        words.append("BIOS can detect")
    if d["depends_on_vga"]:
        words.append("depends on VGA")
    if d["vendor_specific"]:
        words.append(f"vendor bits {d['vendor_specific']:#x}")
    if d["reserved"]:
        words.append(f"reserved bits {d['reserved'] << 21:#x}")
    if not d["acpi_scheme"]:
        words.append("bit 31 clear (not the ACPI ID scheme)")
    return ", ".join(words)


EDID_HEADER = b"\x00\xff\xff\xff\xff\xff\xff\x00"


def edid_summary(edid: bytes) -> dict[str, Any]:
    """What a person checks first in the panel EDID of mailbox 5 (VESA EDID 1.x base block):
    header, checksum, manufacturer, product, version, extension count, first detailed timing and
    the monitor name."""
    base = bytes(edid[:128])
    out: dict[str, Any] = {"header_ok": base[:8] == EDID_HEADER, "bytes": len(base)}
    if len(base) < 128 or not out["header_ok"]:
        return out
    m = int.from_bytes(base[8:10], "big")
    letters = [(m >> 10) & 31, (m >> 5) & 31, m & 31]
    out["manufacturer"] = "".join(chr(64 + c) if 1 <= c <= 26 else "?" for c in letters)
    out["product"] = int.from_bytes(base[10:12], "little")
    out["version"] = f"{base[18]}.{base[19]}"
    out["checksum_ok"] = sum(base) % 256 == 0
    out["extensions"] = base[126]
    out["preferred_mode"] = None
    out["name"] = None
    for off in range(54, 126, 18):
        d = base[off : off + 18]
        clock = int.from_bytes(d[0:2], "little")
        if clock:
            if out["preferred_mode"] is None:
                hactive = d[2] | (d[4] & 0xF0) << 4
                vactive = d[5] | (d[7] & 0xF0) << 4
                out["preferred_mode"] = {"hactive": hactive, "vactive": vactive, "pixel_clock_khz": clock * 10}
        elif d[3] == 0xFC:
            out["name"] = d[5:18].split(b"\n", 1)[0].decode("latin-1").rstrip()
    return out


_MBOX_NAMES = {
    "acpi": "1 ACPI", "swsci": "2 SWSCI", "asle": "3 ASLE", "vbt": "4 VBT", "asle_ext": "5 ASLE extension",
    "backlight_3x": "2 as the 3.x backlight mailbox",
}
_CEVT = {0: "display switch", 1: "lid", 2: "dock"}  # i915 ACPI_EV_*; it checks only bit 0
_SWSCI_FUNCTIONS = {  # i915 SWSCI_GBDA_* / SWSCI_SBCB_*: (main function, sub-function) -> name
    4: ("GBDA (get BIOS data)", {0: "supported calls", 1: "requested callbacks", 4: "boot display preference",
                                 5: "panel details", 6: "TV standard", 7: "internal graphics", 10: "spread spectrum"}),
    6: ("SBCB (system BIOS callbacks)", {0: "supported callbacks", 1: "init completion", 3: "pre hi-res set mode",
                                         4: "post hi-res set mode", 5: "display switch", 6: "set TV format",
                                         7: "adapter power state", 8: "display power state", 9: "set boot display",
                                         10: "set panel details", 11: "set internal graphics",
                                         16: "post hi-res to DOS full screen", 17: "suspend/resume",
                                         18: "set spread spectrum", 19: "post VBE/PM", 21: "enable/disable audio"}),
}


def _set_flags(flags: dict[str, Any], names: dict[str, str] | None = None) -> str:
    on = [(names or {}).get(k, k.replace("_", " ")) for k, v in flags.items() if v is True]
    extra = flags.get("reserved_bits") or 0
    if extra:
        on.append(f"undefined bits {extra:#x}")
    return ", ".join(on) or "none"


def _pct(level: int) -> str:
    return f"{level * 100 / 255:.0f}%"


def meanings(dec: dict[str, Any]) -> dict[str, dict[str, str]]:
    """What the header's and each decoded mailbox's values mean, as short text per field, from the
    output of :func:`parse_opregion` (``header``, ``mailboxes``, ``display_ids``, ``edid``). Only
    fields with something to say are present; the sources are the kernel's macros and uses
    (``intel_opregion.c``, ``intel_acpi.c``)."""
    hdr = dec.get("header") or {}
    over = hdr.get("over") or {}
    major, minor = over.get("major", 0), over.get("minor", 0)
    out: dict[str, dict[str, str]] = {}
    h: dict[str, str] = out.setdefault("header", {})
    h["signature"] = "valid" if hdr.get("signature") == OPREGION_SIGNATURE.decode() else "not 'IntelGraphicsMem': i915 and vfio-pci reject it"
    h["size"] = f"{hdr.get('size')} KiB" + ("" if hdr.get("size") == 8 else " (expected 8; i915 maps 8 KiB, vfio-pci sizes its region from this)")
    rvda = ("RVDA is a physical address" if (major, minor) == (2, 0) else "RVDA is an offset from the OpRegion base") if major >= 2 else "no RVDA (before 2.0)"
    h["over"] = f"version {major}.{minor}.{over.get('revision', 0)}: {rvda}"
    mb = hdr.get("mboxes") or {}
    h["mboxes"] = "mailboxes " + _set_flags(mb, _MBOX_NAMES)
    h["driver_model"] = "not interpreted by i915 or igt"
    pcon = hdr.get("pcon") or {}
    head = "headless SKU" if pcon.get("headless_sku") else "not a headless SKU"
    honoured = "" if major > 2 or (major == 2 and minor >= 3) else " (i915 reads bit 13 only from 2.3)"
    other = f"; bits {pcon.get('reserved_bits'):#x} are not interpreted by i915" if pcon.get("reserved_bits") else ""
    h["pcon"] = f"bit 13: {head}{honoured}{other}"
    h["dver"] = repr(dec["dver_text"]) if dec.get("dver_text") else "empty"

    mbs = dec.get("mailboxes") or {}
    acpi = mbs.get("acpi")
    if acpi is not None:
        a = out.setdefault("acpi", {})
        a["drdy"] = "driver ready" if acpi["drdy"] & 1 else "driver not ready (i915 writes 1 when it resumes, 0 when it suspends)"
        ev = [name for bit, name in _CEVT.items() if acpi["cevt"] >> bit & 1]
        a["cevt"] = ", ".join(ev) + " event" if ev else "no event"
        ids = dec.get("display_ids") or {}
        for name in DISPLAY_LISTS:
            n = len(ids.get(name) or [])
            a[name] = f"{n} display ID{'s' if n != 1 else ''}" if n else "empty"
            for d in ids.get(name) or []:
                a[f"{name}[{d['slot']}]"] = display_id_text(d)
        a["chpd"] = ("set: the driver handles hot-plug itself, without ACPI notifications (i915 writes 1)" if acpi["chpd"] & 1
                     else "clear: hot-plug is notified through ACPI (i915 writes 1 when it loads)")
        a["clid"] = "lid open (bit 0; older i915 took it as the panel's connection state)" if acpi["clid"] & 1 else "lid closed (bit 0)"
    sw = mbs.get("swsci")
    if sw is not None:
        s = out.setdefault("swsci", {})
        scic = sw["scic"]
        main, subs = _SWSCI_FUNCTIONS.get(scic["main_function"], (f"main function {scic['main_function']}", {}))
        sub = subs.get(scic["sub_function"], f"sub-function {scic['sub_function']}")
        state = ("request pending (the BIOS has not answered)" if scic["indicator"]
                 else "exit status 1: success" if scic["exit_status"] == 1 else f"exit status {scic['exit_status']}: error")
        s["scic"] = f"{main}, {sub}; {state}" if scic["main_function"] else state
        s["dslp"] = f"{sw['dslp']} ms" if sw["dslp"] else "0: i915 waits 50 ms"
        if sw["dslp"] > 1500:
            s["dslp"] += " (i915 caps it at 1500 ms)"
    bl = mbs.get("backlight_3x")
    if bl is not None:
        b = out.setdefault("backlight_3x", {})
        for key in ("bcl1", "bcl2", "cbl1", "cbl2"):
            v = bl[key]
            b[key] = f"level {v & 0xFF}" + (", valid" if v >> 31 & 1 else ", not valid") + (", uncalibrated brightness (3.2 UBS)" if v >> 30 & 1 else "")
        for key in ("bcm1", "bcm2"):
            n = sum(1 for v in bl[key] if v)
            b[key] = f"{n} non-zero entries" if n else "empty"
    asle = mbs.get("asle")
    if asle is not None:
        m = out.setdefault("asle", {})
        m["ardy"] = "driver ready" if asle["ardy"] & 1 else "driver not ready (i915 writes 0 at setup, 1 when it resumes)"
        aslc = asle["aslc"]
        req = [k.removeprefix("set_").replace("_", " ") for k, v in aslc.items() if v is True and not k.endswith("_failed")]
        failed = [k.removesuffix("_failed").replace("_", " ") for k, v in aslc.items() if v is True and k.endswith("_failed")]
        parts = ([f"requests: {', '.join(req)}"] if req else []) + ([f"failed: {', '.join(failed)}"] if failed else [])
        if aslc.get("reserved_bits"):
            parts.append(f"undefined bits {aslc['reserved_bits']:#x}")
        m["aslc"] = "; ".join(parts) or "no request"
        m["tche"] = "enabled: " + _set_flags(asle["tche"], {"als_en": "ALS", "blc_en": "backlight", "pfit_en": "panel fitting", "pfmb_en": "PWM frequency / minimum brightness"})
        m["alsi"] = "below range" if asle["alsi"] == 0 else "above range" if asle["alsi"] == 0xFFFF else f"{asle['alsi']} lux"
        bclp = asle["bclp"]
        m["bclp"] = (f"level {bclp['level']} of 255 ({_pct(bclp['level'])})" if bclp["level"] <= 255 else f"level {bclp['level']}: above 255, i915 answers 'failed'") + ("" if bclp["valid"] else ", not valid")
        pfit = asle["pfit"]
        m["pfit"] = (_set_flags({k: v for k, v in pfit.items() if k != "valid"}, {"center": "centre", "stretch_gfx": "stretch graphics"})
                     + ("" if pfit["valid"] else ", not valid"))
        cblv = asle["cblv"]
        m["cblv"] = f"{cblv['level']}%" + ("" if cblv["valid"] else ", not valid")
        valid = [e for e in asle["bclm"] if e["valid"]]
        m["bclm"] = f"{len(valid)} valid entr{'y' if len(valid) == 1 else 'ies'}" if valid else "no valid entry"
        for i, e in enumerate(asle["bclm"]):
            if e["valid"]:
                m[f"bclm[{i}]"] = f"{e['percent']}% -> duty cycle {e['duty_cycle']}/255 ({_pct(e['duty_cycle'])})"
            elif e["percent"] or e["duty_cycle"]:
                m[f"bclm[{i}]"] = "not valid (bit 15 clear)"
        pf = asle["pfmb"]
        m["pfmb"] = (f"PWM frequency {pf['pwm_frequency']}" + ("" if pf["pwm_valid"] else " (not valid)")
                     + f", minimum brightness {pf['min_brightness']}" + ("" if pf["brightness_valid"] else " (not valid)"))
        iuer = asle["iuer"]
        buttons = _set_flags({k: v for k, v in iuer.items() if k.endswith("_btn")}, {"power_btn": "power", "windows_btn": "Windows",
                             "volume_up_btn": "volume up", "volume_down_btn": "volume down", "rotation_lock_btn": "rotation lock"})
        m["iuer"] = (f"buttons: {buttons}; {'clamshell' if iuer['convertible'] else 'slate'} (bit 6); {'docked' if iuer['docking'] else 'undocked'} (bit 7)"
                     + (f"; undefined bits {iuer['reserved_bits']:#x}" if iuer.get("reserved_bits") else ""))
        loc = dec.get("extended_vbt")
        if asle["rvda"] or asle["rvds"]:
            if loc is None:
                m["rvda"] = "ignored by i915 (needs version 2.0 or later, mailbox 3 advertised and both RVDA and RVDS set)"
            elif loc["kind"] == "absolute":
                m["rvda"] = f"extended VBT at physical address {loc['address']:#x} (2.0: absolute)"
            else:
                m["rvda"] = f"extended VBT at OpRegion + {loc['offset']:#x} (2.1 and later: relative)"
            m["rvds"] = f"extended VBT size: {asle['rvds']} bytes"
        else:
            m["rvda"] = "no extended VBT"
    ext = mbs.get("asle_ext")
    if ext is not None:
        e = out.setdefault("asle_ext", {})
        blocks = ext["phed"] & 3
        e["phed"] = f"{blocks} EDID block{'s' if blocks != 1 else ''} valid" + (" (BDDC holds only 2)" if blocks == 3 else "")
        ed = dec.get("edid")
        if ed and ed.get("header_ok"):
            mode = ed.get("preferred_mode")
            bits = [f"EDID {ed['version']}", f"{ed['manufacturer']} product {ed['product']:#06x}"]
            if ed.get("name"):
                bits.append(repr(ed["name"]))
            if mode:
                bits.append(f"preferred {mode['hactive']}x{mode['vactive']} at {mode['pixel_clock_khz'] / 1000:g} MHz")
            bits.append("checksum ok" if ed["checksum_ok"] else "checksum mismatch")
            e["bddc"] = ", ".join(bits)
        else:
            e["bddc"] = "all zero" if not any(bytes.fromhex(ext["bddc"])) else "no EDID header"
    return out


def parse_opregion(data: bytes) -> dict[str, Any]:
    """Decode an OpRegion dump into plain data.

    Returns ``{"size", "header", "version", "dver_text", "mailboxes_present", "mailboxes",
    "extended_vbt", "vbt_source", "truncated", "findings"}``. ``mailboxes`` holds one entry per
    advertised mailbox that is fully inside ``data``, keyed by the MBOX flag name (``acpi``,
    ``swsci``, ``backlight_3x``, ``asle``, ``vbt``, ``asle_ext``); mailbox 4 is summarised
    (``product_string``, ``vbt_size``), not dumped. Bad content becomes ``findings``; only data
    shorter than the 256-byte header raises :class:`~igdscope.decode.DecodeError`.
    """
    data = bytes(data)
    header = _header(data)
    plain_header = to_plain(header)
    over = header.over
    major, minor = over.major, over.minor
    mboxes = {k: v for k, v in header.mboxes.items() if not k.startswith("_") and k != "reserved_bits"}
    findings: list[str] = []

    if header.signature != OPREGION_SIGNATURE.decode():
        findings.append(f"signature is {data[:16]!r}, expected 'IntelGraphicsMem': not an OpRegion (i915 rejects it)")
    if header.size == 0:
        findings.append("header size field is 0 KiB (vfio-pci refuses an OpRegion of size 0)")
    elif header.size != 8:
        findings.append(f"header size field says {header.size} KiB, expected 8 (i915 maps 8 KiB regardless; vfio-pci sizes its region from this field)")
    truncated = len(data) < OPREGION_SIZE
    if truncated:
        findings.append(f"truncated: {len(data)} of {OPREGION_SIZE} bytes; only parts wholly present are decoded")
    if major == 0 and minor == 0:
        findings.append("version field is 0.0 (no OpRegion version)")
    if header.mboxes.reserved_bits:
        findings.append(f"MBOX has undefined bits set: {header.mboxes.reserved_bits:#x}")
    if mboxes["swsci"] and major >= 3:
        findings.append(f"MBOX advertises SWSCI (bit 1) on a {major}.x OpRegion: i915 ignores mailbox 2 as SWSCI from 3.0")
    if mboxes["backlight_3x"] and major < 3:
        findings.append(f"MBOX advertises the 3.x backlight mailbox (bit 5) on a {major}.{minor} OpRegion")
    if header.pcon.headless_sku and (major < 2 or (major == 2 and minor < 3)):
        findings.append("PCON headless-SKU bit 13 is set but i915 honours it only from version 2.3")

    mailboxes: dict[str, Any] = {}
    for name, (off, size, schema, label) in MAILBOXES.items():
        if not mboxes.get(name):
            continue
        if off + size > len(data):
            needed = MAILBOX_NEEDED.get(name)
            if needed is None or off + needed > len(data):
                findings.append(f"{label} is advertised but lies beyond the {len(data)} bytes given")
                continue
            findings.append(f"{label} is cut by the end of the data at {len(data):#x}: its missing reserved bytes read as zero")
        raw = data[off : off + size].ljust(size, b"\0")
        if schema is None:
            mailboxes[name] = _vbt_mailbox_summary(data, mboxes)
            if not mailboxes[name]["present"]:
                findings.append(f"{label} is advertised but does not start with '$VBT'")
            continue
        mailboxes[name] = to_plain(decode(schema, raw, f"OpRegion {label}"))
        if _all_zero(raw):
            findings.append(f"{label} is advertised but all its bytes are zero")

    # mailbox 4: checks that hold whether or not bit 3 is set (i915 never looks at bit 3)
    if len(data) >= VBT_OFFSET + 0x1A and data[VBT_OFFSET : VBT_OFFSET + 4] == b"$VBT":
        if not mboxes["vbt"]:
            findings.append("mailbox 4 holds a VBT but MBOX bit 3 is clear (i915 uses it anyway; it never checks the bit)")
        summary = _vbt_mailbox_summary(data, mboxes)
        if summary["vbt_size"] > summary["buffer_size"]:
            findings.append(f"mailbox 4 VBT says vbt_size {summary['vbt_size']}, more than the {summary['buffer_size']}-byte buffer i915 accepts")

    # RVDA / RVDS
    rvda = rvds = 0
    if len(data) >= RVDS_OFFSET + 4:
        rvda = int.from_bytes(data[RVDA_OFFSET : RVDA_OFFSET + 8], "little")
        rvds = _u32(data, RVDS_OFFSET)
    loc = extended_vbt_location(data)
    if rvda or rvds:
        if bool(rvda) != bool(rvds):
            findings.append(f"RVDA {rvda:#x} and RVDS {rvds:#x}: only one is set, so no extended VBT is used")
        elif major < 2:
            findings.append(f"RVDA/RVDS are set but version {major}.{minor} is older than 2.0 (i915 ignores them)")
        elif not mboxes["asle"]:
            findings.append("RVDA/RVDS are set but MBOX does not advertise mailbox 3: i915 ignores them, vfio-pci (which checks no MBOX bits) still maps the extended VBT")
        if rvds > MAX_VBT_SIZE:
            findings.append(f"RVDS {rvds:#x} is larger than any VBT can be (vbt_size is 16 bits)")
    if loc is not None and loc["kind"] == "relative":
        off, size = loc["offset"], loc["size"]
        if off < OPREGION_SIZE:
            findings.append(f"relative RVDA {off:#x} points inside the 8 KiB OpRegion (i915 warns; it must be >= 0x2000)")
        if off + size > len(data):
            findings.append(f"extended VBT at RVDA +{off:#x} ({size} bytes) ends at {off + size:#x}, beyond the {len(data)} bytes given")
        elif data[off : off + 4] != b"$VBT":
            findings.append(f"extended VBT at RVDA +{off:#x} does not start with '$VBT'")
    if loc is not None and loc["kind"] == "absolute" and loc["address"] + loc["size"] > 1 << 64:
        findings.append(f"absolute RVDA {loc['address']:#x} + RVDS {loc['size']:#x} overflows 64 bits")
    if len(data) > OPREGION_SIZE:
        used = loc["offset"] + loc["size"] if loc is not None and loc["kind"] == "relative" else OPREGION_SIZE
        if used < len(data) and any(data[max(used, OPREGION_SIZE) :]):
            findings.append(f"{len(data) - max(used, OPREGION_SIZE)} bytes after {max(used, OPREGION_SIZE):#x} are not referenced by RVDA/RVDS")

    # mailbox 5: the EDID i915 would use for eDP
    ext = mailboxes.get("asle_ext")
    if ext is not None:
        blocks = ext["phed"] & 3
        bddc = data[ASLE_EXT_OFFSET + 4 : ASLE_EXT_OFFSET + 4 + 256]
        if blocks == 3:
            findings.append("mailbox 5 PHED claims 3 EDID blocks (384 bytes) but BDDC holds 256")
        if blocks and _all_zero(bddc):
            findings.append(f"mailbox 5 PHED claims {blocks} EDID block(s) but BDDC is all zero")
        elif blocks and bddc[:8] != b"\x00\xff\xff\xff\xff\xff\xff\x00":
            findings.append("mailbox 5 BDDC does not start with the EDID header 00 FF FF FF FF FF FF 00")

    _, where = vbt_bytes(data)
    out = {
        "size": len(data),
        "header": plain_header,
        "version": version_text(over),
        "dver_text": _dver_text(bytes(header.dver)),
        "mailboxes_present": [name for name, on in mboxes.items() if on],
        "mailboxes": mailboxes,
        "extended_vbt": loc,
        "vbt_source": where,
        "truncated": truncated,
        "findings": findings,
    }
    if "acpi" in mailboxes:
        out["display_ids"] = display_ids(mailboxes["acpi"])
    if ext is not None:
        out["edid"] = edid_summary(bytes.fromhex(ext["bddc"]))
    out["meanings"] = meanings(out)
    return out


# -- building ---------------------------------------------------------------------------------


def _version_over(text: str) -> dict[str, int]:
    parts = [int(p) for p in str(text).split(".")]
    parts += [0] * (3 - len(parts))
    return {"rsvd": 0, "major": parts[0], "minor": parts[1], "revision": parts[2]}


def _raw(value: Any, size: int, what: str, pad: bool = True) -> bytes:
    raw = bytes.fromhex(value) if isinstance(value, str) else bytes(value)
    if len(raw) > size or (not pad and len(raw) != size):
        raise DecodeError("OpRegion build", f"{what} is {len(raw)} bytes, the mailbox holds {size}")
    return raw.ljust(size, b"\0")


def build_opregion(values: dict[str, Any]) -> bytes:
    """Build an OpRegion from plain values (the shape :func:`parse_opregion` returns).

    ``values`` may hold ``header`` (any header fields; ``signature`` defaults to
    'IntelGraphicsMem', ``size`` to 8, text fields take str or bytes, byte fields bytes or hex),
    ``version`` ("2.1.0", used when ``header.over`` is absent), ``mailboxes`` keyed like the MBOX
    flags (``acpi``, ``swsci`` / ``backlight_3x``, ``asle``, ``asle_ext``; ``vbt`` may be the VBT
    bytes), raw ``mbox2`` / ``mbox4`` bytes, and ``extended_vbt`` bytes appended at 0x2000.
    Anything not given is zero. Without ``header.mboxes`` the bitmap is derived from the mailboxes
    given. An ``extended_vbt`` without an explicit RVDA/RVDS gets RVDA 0x2000 and RVDS = its size.
    """
    values = dict(values or {})
    header_in = dict(values.get("header") or {})
    mb_in = dict(values.get("mailboxes") or {})
    ext_vbt = values.get("extended_vbt") or b""
    ext_vbt = bytes.fromhex(ext_vbt) if isinstance(ext_vbt, str) else bytes(ext_vbt)

    header_in.setdefault("signature", OPREGION_SIGNATURE)
    header_in.setdefault("size", 8)
    if "over" not in header_in and values.get("version") is not None:
        header_in["over"] = _version_over(values["version"])
    over = merge_values(zero_value(OpRegionVersion, 4), header_in.get("over") or {})
    header_in["over"] = over

    vbt = values.get("mbox4")
    if vbt is None and isinstance(mb_in.get("vbt"), (bytes, bytearray, str)):
        vbt = mb_in["vbt"]
    mbox4 = _raw(vbt, VBT_MAILBOX_SIZE, "mailbox 4 VBT (use extended_vbt for a larger one)") if vbt is not None else bytes(VBT_MAILBOX_SIZE)

    if "mboxes" not in header_in:
        derived = {name: name in mb_in for name in Mboxes.flags}
        derived["vbt"] = vbt is not None
        derived["asle"] = derived["asle"] or bool(ext_vbt)
        header_in["mboxes"] = derived

    asle_in = dict(mb_in.get("asle") or {})
    if ext_vbt:
        asle_in.setdefault("rvda", OPREGION_SIZE)
        asle_in.setdefault("rvds", len(ext_vbt))

    if values.get("mbox2") is not None:
        mbox2 = _raw(values["mbox2"], 0x100, "mbox2", pad=False)
    else:
        use_backlight = "backlight_3x" in mb_in and ("swsci" not in mb_in or over["major"] >= 3)
        if use_backlight:
            mbox2 = build(Mailbox2Backlight, merge_values(zero_value(Mailbox2Backlight, 0x100), mb_in["backlight_3x"]), "OpRegion mailbox 2 (backlight)")
        else:
            mbox2 = build(Mailbox2Swsci, merge_values(zero_value(Mailbox2Swsci, 0x100), mb_in.get("swsci") or {}), "OpRegion mailbox 2 (SWSCI)")

    template = zero_value(OpRegion, OPREGION_SIZE)
    full = merge_values(template, {
        "header": header_in,
        "mbox1": mb_in.get("acpi") or {},
        "mbox2": mbox2,
        "mbox3": asle_in,
        "mbox4": mbox4,
        "mbox5": mb_in.get("asle_ext") or {},
    })
    return build(OpRegion, full, "OpRegion") + ext_vbt


# -- the demo machine ---------------------------------------------------------------------------


def demo_opregion(vbt: bytes, guest: bool = False) -> bytes:
    """The demo machine's OpRegion: a Coffee Lake desktop's 2.0 OpRegion with the VBT in mailbox 4,
    as the host i915 left it (driver ready, hotplug handled by the driver, ASLE ready, three
    display IDs published). The guest's copy is the same bytes: QEMU copies the vfio region into
    fw_cfg, and without an extended VBT vfio-pci presents the host OpRegion unchanged."""
    ids = [0x80000100, 0x80000301, 0x80000302]  # CRT-less desktop: DP/HDMI ports, _DOD bit 31 set
    return build_opregion({
        "header": {
            "over": {"major": 2, "minor": 0, "revision": 0},
            "bios_ver": "F12 demo 2019-06-11",
            "vbios_ver": "1063",
            "driver_ver": "",
            "mboxes": {"acpi": True, "swsci": True, "asle": True, "vbt": True},
        },
        "mailboxes": {
            "acpi": {"drdy": 1, "chpd": 1, "didl": ids, "cadl": ids, "clid": 1},
            "swsci": {"scic": {"exit_status": 1}},
            "asle": {"ardy": 1, "tche": {"blc_en": True}},
        },
        "mbox4": vbt,
    })


# -- leaves with their offsets (what a comparison of two OpRegions names) -----------------------------

OPREGION_MBOX_PATH = {"header": "header", "mbox1": "mailboxes.acpi", "mbox3": "mailboxes.asle", "mbox5": "mailboxes.asle_ext"}


def _plain_value(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): _plain_value(x) for k, x in v.items() if not str(k).startswith("_")}
    if isinstance(v, (list, tuple)):
        return [_plain_value(x) for x in v]
    return v


def _unwrap(sc: cs.Construct) -> cs.Construct:
    while isinstance(sc, cs.Renamed):
        sc = sc.subcon
    return sc


def _leaves_of(sc: cs.Construct, value: Any, base: int, prefix: str, out: dict[str, tuple[Any, int, int]]) -> None:
    """Leaves of a parsed fixed-size struct with their byte offset and size."""
    inner = _unwrap(sc)
    if isinstance(inner, cs.Struct):
        off = base
        for sub in inner.subcons:
            size = sub.sizeof()
            if sub.name and not sub.name.startswith("_"):
                _leaves_of(sub, value[sub.name], off, f"{prefix}.{sub.name}" if prefix else sub.name, out)
            off += size
    elif isinstance(inner, cs.Array) and isinstance(inner.count, int):
        esize = inner.subcon.sizeof()
        for i in range(inner.count):
            _leaves_of(inner.subcon, value[i], base + i * esize, f"{prefix}[{i}]", out)
    elif isinstance(value, dict):
        for k, v in value.items():
            if not str(k).startswith("_"):
                out[f"{prefix}.{k}"] = (v if not isinstance(v, dict) else _plain_value(v), base, sc.sizeof())
    else:
        if isinstance(value, cs.EnumIntegerString):
            value = {"value": int(value), "name": str(value)}
        out[prefix] = (value, base, sc.sizeof())


def leaves(data: bytes) -> tuple[dict[str, tuple[Any, int, int]], dict[str, Any]]:
    """``{path: (value, offset, size)}`` of an OpRegion's first 8 KiB (mailbox 4 left out: it is a
    VBT) and facts: version, RVDA/RVDS, the extended-VBT location, the VBT bytes."""
    body = bytes(data[: OPREGION_SIZE]).ljust(OPREGION_SIZE, b"\0")
    parsed = decode(OpRegion, body, "OpRegion")
    leaves: dict[str, tuple[Any, int, int]] = {}
    off = 0
    hdr = parsed.header
    major, minor = hdr.over.major, hdr.over.minor
    mb = hdr.mboxes
    for sub in OpRegion.subcons:
        size = sub.sizeof()
        name = sub.name
        if name == "mbox4":
            off += size
            continue
        if name == "mbox2":
            backlight = mb.backlight_3x and (not mb.swsci or major >= 3)
            schema = Mailbox2Backlight if backlight else Mailbox2Swsci
            val = decode(schema, parsed.mbox2, "OpRegion mailbox 2")
            _leaves_of(schema, val, off, "mailboxes.backlight_3x" if backlight else "mailboxes.swsci", leaves)
        else:
            _leaves_of(sub, parsed[name], off, OPREGION_MBOX_PATH[name], leaves)
        off += size
    # the version as one text field instead of its four bytes
    for k in [k for k in leaves if k.startswith("header.over.")]:
        del leaves[k]
    leaves["header.version"] = (f"{major}.{minor}.{hdr.over.revision}", 0x14, 4)
    # fields past the end of a short dump are not there
    leaves = {k: ((v if o + s <= len(data) else None), o, s) for k, (v, o, s) in leaves.items()}
    facts = {
        "major": major, "minor": minor, "rvda": parsed.mbox3.rvda, "rvds": parsed.mbox3.rvds,
        "signature_ok": bytes(data[:16]) == OPREGION_SIGNATURE, "bytes": len(data),
        "extended": extended_vbt_location(bytes(data)),
    }
    return leaves, facts
