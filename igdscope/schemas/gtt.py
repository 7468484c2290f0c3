"""Global GTT page-table entries (PTEs), one declarative layout per format.

Each format is a little-endian ``ByteSwapped(BitStruct(...))`` with its fields listed high bit
first, as in a datasheet, plus a recipe saying how the physical address is put together from
fields. The full-speed table decoder in :mod:`igdscope.decode.gtt` derives every mask and shift from
these same definitions (:func:`bit_fields`), so the layouts are typed exactly once.

Facts (the project's GTT fact sheet): i915 ``intel_gtt.h`` / ``intel_ggtt.c`` (gen6/7, HSW, VLV
and gen8+ encodings, MTL PAT bits), xe ``xe_gtt_defs.h`` / ``xe_ggtt.c`` (DM bit, VF id, PAT bits,
stolen entries relative to the stolen base on graphics >= 12.70).
"""

from __future__ import annotations

from dataclasses import dataclass

import construct as cs

from igdscope.platforms import Platform

# gen6/gen7 (SNB, IVB, VLV/BYT): 40-bit physical address, PA[39:32] in bits 11:4.
Gen6Pte = cs.ByteSwapped(cs.BitStruct(
    "addr_lo" / cs.BitsInteger(20),  # 31:12 = PA 31:12
    "addr_hi" / cs.BitsInteger(8),  # 11:4 = PA 39:32
    "cache" / cs.BitsInteger(3),  # 3:1 cacheability (SNB/IVB: 1 uncached, 2 LLC, 3 L3+LLC; VLV: bit 1 writeable, bit 2 snooped)
    "valid" / cs.Flag,  # 0
))

# Haswell: 39-bit physical address, PA[38:32] in bits 10:4; bit 11 is cacheability bit 3.
HswPte = cs.ByteSwapped(cs.BitStruct(
    "addr_lo" / cs.BitsInteger(20),  # 31:12 = PA 31:12
    "cache_hi" / cs.BitsInteger(1),  # 11 = cacheability control bit 3
    "addr_hi" / cs.BitsInteger(7),  # 10:4 = PA 38:32
    "cache" / cs.BitsInteger(3),  # 3:1 = cacheability control bits 2:0
    "valid" / cs.Flag,  # 0
))

# gen8 to gen12.0x (BDW ... TGL/RKL/ADL/RPL): 64-bit, address bits 45:12.
Gen8Pte = cs.ByteSwapped(cs.BitStruct(
    "ignored_hi" / cs.BitsInteger(18),  # 63:46
    "addr" / cs.BitsInteger(34),  # 45:12 = PA 45:12
    "vfid" / cs.BitsInteger(10),  # 11:2 VF id (xe SR-IOV; 0 otherwise)
    "lm" / cs.Flag,  # 1 local (device) memory
    "present" / cs.Flag,  # 0
))

# Meteor Lake / Arrow Lake and later (graphics >= 12.70): PAT index bits 53:52.
MtlPte = cs.ByteSwapped(cs.BitStruct(
    "ignored_hi" / cs.BitsInteger(10),  # 63:54
    "pat1" / cs.BitsInteger(1),  # 53
    "pat0" / cs.BitsInteger(1),  # 52
    "ignored_mid" / cs.BitsInteger(6),  # 51:46
    "addr" / cs.BitsInteger(34),  # 45:12
    "vfid" / cs.BitsInteger(10),  # 11:2
    "dm" / cs.Flag,  # 1 device memory; set with a stolen-relative address for stolen pages
    "present" / cs.Flag,  # 0
))


@dataclass(frozen=True)
class PteFormat:
    name: str
    title: str
    schema: cs.Construct
    size: int  # bytes per PTE
    present: str  # the field that marks an entry valid/present
    address: tuple[tuple[str, int], ...]  # PA = sum(field << shift)
    stolen_relative: bool = False  # stolen pages addressed relative to the stolen base (DM set)


FORMATS: dict[str, PteFormat] = {
    "gen6": PteFormat("gen6", "gen6/gen7 32-bit (SNB, IVB, VLV)", Gen6Pte, 4, "valid", (("addr_lo", 12), ("addr_hi", 32))),
    "hsw": PteFormat("hsw", "Haswell 32-bit", HswPte, 4, "valid", (("addr_lo", 12), ("addr_hi", 32))),
    "gen8": PteFormat("gen8", "gen8-gen12 64-bit (BDW ... RPL)", Gen8Pte, 8, "present", (("addr", 12),)),
    "mtl": PteFormat("mtl", "Xe-LPG 64-bit with PAT (MTL, ARL and later)", MtlPte, 8, "present", (("addr", 12),), stolen_relative=True),
}


def format_for(plat: Platform | None) -> PteFormat | None:
    """The GGTT PTE format of a platform (None before gen6: those GTTs are out of scope)."""
    if plat is None:
        return None
    if plat.ggc_layout == "snb":
        return FORMATS["hsw" if plat.platform == "HSW" else "gen6"]
    if plat.ggc_layout in ("bdw", "chv"):
        return FORMATS["gen8"]
    if plat.ggc_layout == "mtl":
        return FORMATS["mtl"]
    return None


def bit_fields(fmt: PteFormat) -> list[tuple[str, int, int]]:
    """(name, hi, lo) of every field, read off the construct definition (high bit first)."""
    bits = fmt.schema.subcon  # ByteSwapped -> BitStruct (Transformed) -> its Struct
    struct = bits.subcon if isinstance(bits, cs.Transformed) else bits
    out = []
    pos = fmt.size * 8
    for sc in struct.subcons:
        width = sc.sizeof()  # in bits inside a BitStruct
        out.append((sc.name, pos - 1, pos - width))
        pos -= width
    if pos != 0:
        raise ValueError(f"{fmt.name}: fields cover {fmt.size * 8 - pos} of {fmt.size * 8} bits")
    return out


def parse_pte(value: int, fmt: PteFormat) -> dict:
    """One PTE through construct: its fields and the physical address."""
    parsed = fmt.schema.parse(value.to_bytes(fmt.size, "little"))
    fields = {k: (int(v) if not isinstance(v, bool) else v) for k, v in parsed.items() if not k.startswith("_")}
    fields["address"] = sum(int(parsed[f]) << s for f, s in fmt.address)
    fields["is_present"] = bool(parsed[fmt.present])
    return fields


def build_pte(fmt: PteFormat, address: int, **fields: int) -> int:
    """The PTE value mapping ``address`` with the given extra fields (construct build side)."""
    if address & 0xFFF:
        raise ValueError(f"address {address:#x} is not 4 KiB aligned")
    values = {name: 0 for name, _, _ in bit_fields(fmt)}
    for field, shift in fmt.address:
        hi, lo = next((h, lo) for n, h, lo in bit_fields(fmt) if n == field)
        width = hi - lo + 1
        values[field] = (address >> shift) & ((1 << width) - 1)
    rebuilt = sum(values[f] << s for f, s in fmt.address)
    if rebuilt != address:
        raise ValueError(f"address {address:#x} does not fit the {fmt.name} PTE")
    values.update(fields)
    for name, _, _ in bit_fields(fmt):
        if name in (fmt.present, "lm", "dm", "valid"):
            values[name] = bool(values[name])
    return int.from_bytes(fmt.schema.build(values), "little")
