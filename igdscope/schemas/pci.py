"""PCI configuration space: the standard headers, capability lists, and the IGD-relevant registers
of the host bridge (00:00.0), the IGD (00:02.0) and the LPC/ISA bridge (00:1f.0).

The headers are construct structs. The device-specific registers are declarative tables
(:class:`Register` with :class:`Field` bit ranges, datasheet order, high bit first); each register
is read and built with construct's little-endian integer of its size. The same tables generate the
field tables in ``specs/pci.md`` (a test fails when they disagree).

Facts: the project's PCI register fact sheet (chipsec's register files, Linux ``i915_drm.h``,
``early-quirks.c``, ``intel_pci_config.h``), see ``specs/pci.md`` for the sources of each table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import construct as cs

from igdscope.binary import decode

MiB = 1 << 20
KiB = 1 << 10

# --- standard header ------------------------------------------------------------------------

Command = cs.FlagsEnum(
    cs.Int16ul,
    io_space=1 << 0,
    memory_space=1 << 1,
    bus_master=1 << 2,
    special_cycles=1 << 3,
    mwi_enable=1 << 4,
    vga_palette_snoop=1 << 5,
    parity_error_response=1 << 6,
    serr_enable=1 << 8,
    fast_back_to_back=1 << 9,
    interrupt_disable=1 << 10,
)

Status = cs.FlagsEnum(
    cs.Int16ul,
    interrupt_status=1 << 3,
    capabilities_list=1 << 4,
    mhz66_capable=1 << 5,
    fast_back_to_back_capable=1 << 7,
    master_data_parity_error=1 << 8,
    signaled_target_abort=1 << 11,
    received_target_abort=1 << 12,
    received_master_abort=1 << 13,
    signaled_system_error=1 << 14,
    detected_parity_error=1 << 15,
)

# The first 16 bytes are common to every header type.
CommonHeader = cs.Struct(
    "vendor_id" / cs.Int16ul,
    "device_id" / cs.Int16ul,
    "command" / Command,
    "status" / Status,
    "revision_id" / cs.Int8ul,
    "prog_if" / cs.Int8ul,
    "subclass" / cs.Int8ul,
    "base_class" / cs.Int8ul,
    "cache_line_size" / cs.Int8ul,
    "latency_timer" / cs.Int8ul,
    "header_type" / cs.Int8ul,
    "bist" / cs.Int8ul,
)

Type0Header = cs.Struct(
    "common" / CommonHeader,
    "bar" / cs.Array(6, cs.Int32ul),
    "cardbus_cis" / cs.Int32ul,
    "subsystem_vendor_id" / cs.Int16ul,
    "subsystem_id" / cs.Int16ul,
    "expansion_rom" / cs.Int32ul,
    "capabilities_pointer" / cs.Int8ul,
    "reserved" / cs.Bytes(7),
    "interrupt_line" / cs.Int8ul,
    "interrupt_pin" / cs.Int8ul,
    "min_grant" / cs.Int8ul,
    "max_latency" / cs.Int8ul,
)

Type1Header = cs.Struct(
    "common" / CommonHeader,
    "bar" / cs.Array(2, cs.Int32ul),
    "primary_bus" / cs.Int8ul,
    "secondary_bus" / cs.Int8ul,
    "subordinate_bus" / cs.Int8ul,
    "secondary_latency_timer" / cs.Int8ul,
    "io_base" / cs.Int8ul,
    "io_limit" / cs.Int8ul,
    "secondary_status" / cs.Int16ul,
    "memory_base" / cs.Int16ul,
    "memory_limit" / cs.Int16ul,
    "prefetchable_base" / cs.Int16ul,
    "prefetchable_limit" / cs.Int16ul,
    "prefetchable_base_upper" / cs.Int32ul,
    "prefetchable_limit_upper" / cs.Int32ul,
    "io_base_upper" / cs.Int16ul,
    "io_limit_upper" / cs.Int16ul,
    "capabilities_pointer" / cs.Int8ul,
    "reserved" / cs.Bytes(3),
    "expansion_rom" / cs.Int32ul,
    "interrupt_line" / cs.Int8ul,
    "interrupt_pin" / cs.Int8ul,
    "bridge_control" / cs.Int16ul,
)

CapabilityHeader = cs.Struct("id" / cs.Int8ul, "next" / cs.Int8ul)
ExtCapabilityHeader = cs.BitStruct(  # little-endian dword: 31:20 next, 19:16 version, 15:0 id
    "next" / cs.BitsInteger(12), "version" / cs.BitsInteger(4), "id" / cs.BitsInteger(16)
)
ExtCapabilityHeaderLE = cs.ByteSwapped(ExtCapabilityHeader)

CAPABILITY_NAMES = {
    0x01: "Power Management",
    0x02: "AGP",
    0x03: "VPD",
    0x04: "Slot ID",
    0x05: "MSI",
    0x06: "CompactPCI Hot Swap",
    0x07: "PCI-X",
    0x08: "HyperTransport",
    0x09: "Vendor Specific",
    0x0A: "Debug Port",
    0x0B: "CompactPCI Central Resource Control",
    0x0C: "PCI Hot-Plug",
    0x0D: "Bridge Subsystem Vendor ID",
    0x0E: "AGP 8x",
    0x0F: "Secure Device",
    0x10: "PCI Express",
    0x11: "MSI-X",
    0x12: "SATA",
    0x13: "Advanced Features (AF)",
    0x14: "Enhanced Allocation",
    0x15: "Flattening Portal Bridge",
}

EXT_CAPABILITY_NAMES = {
    0x0001: "Advanced Error Reporting",
    0x0002: "Virtual Channel",
    0x0003: "Device Serial Number",
    0x0004: "Power Budgeting",
    0x000B: "Vendor-Specific Extended",
    0x000D: "Access Control Services",
    0x000E: "Alternative Routing-ID",
    0x000F: "Address Translation Services",
    0x0010: "SR-IOV",
    0x0013: "Page Request",
    0x0015: "Resizable BAR",
    0x0018: "Latency Tolerance Reporting",
    0x001B: "Process Address Space ID",
    0x001E: "L1 PM Substates",
    0x0024: "VF Resizable BAR",
}

BASE_CLASS_DISPLAY = 0x03
CLASS_VGA = 0x0300
CLASS_DISPLAY_OTHER = 0x0380
CLASS_HOST_BRIDGE = 0x0600
CLASS_ISA_BRIDGE = 0x0601

CLASS_NAMES = {
    0x0300: "VGA compatible controller",
    0x0301: "XGA controller",
    0x0302: "3D controller",
    0x0380: "Display controller",
    0x0600: "Host bridge",
    0x0601: "ISA bridge",
    0x0604: "PCI bridge",
    0x0680: "Bridge",
}


def parse_header(cfg: bytes) -> cs.Container:
    """Decode the 64-byte header (type 0 or type 1)."""
    common = decode(CommonHeader, cfg[:16], "PCI header")
    layout = common.header_type & 0x7F
    if layout == 1:
        hdr = decode(Type1Header, cfg[:64], "PCI type 1 header")
    else:
        hdr = decode(Type0Header, cfg[:64], "PCI type 0 header")
    flat = cs.Container(hdr.common)
    for k, v in hdr.items():
        if k not in ("common", "_io"):
            flat[k] = v
    return flat


def build_type0_header(values: dict) -> bytes:
    """Build a 64-byte type-0 header (for the demo machine and tests)."""
    common = {sc.name: values[sc.name] for sc in CommonHeader.subcons}
    rest = {sc.name: values[sc.name] for sc in Type0Header.subcons if sc.name != "common"}
    return Type0Header.build({"common": common, **rest})


def decode_bars(bars: list[int]) -> list[dict]:
    """Decode BAR registers (config values; sizes come from sysfs ``resource``)."""
    out = []
    i = 0
    while i < len(bars):
        v = bars[i]
        if v & 1:
            out.append({"bar": i, "kind": "io", "address": v & ~0x3 & 0xFFFFFFFF, "raw": v})
            i += 1
            continue
        typ = (v >> 1) & 3
        prefetch = bool(v & 8)
        addr = v & ~0xF & 0xFFFFFFFF
        if typ == 2 and i + 1 < len(bars):
            addr |= bars[i + 1] << 32
            out.append({"bar": i, "kind": "mem64", "prefetchable": prefetch, "address": addr, "raw": v})
            i += 2
        else:
            out.append({"bar": i, "kind": "mem32", "prefetchable": prefetch, "address": addr, "raw": v})
            i += 1
    return out


def walk_capabilities(cfg: bytes, pointer: int) -> tuple[list[dict], list[str]]:
    """Follow the standard capability list; bounded and loop-safe. Returns (caps, findings)."""
    caps: list[dict] = []
    findings: list[str] = []
    seen: set[int] = set()
    ptr = pointer & 0xFC
    while ptr:
        if ptr < 0x40 or ptr + 2 > min(len(cfg), 256):
            if ptr + 2 > len(cfg) and len(cfg) < 256:
                findings.append(f"capability at {ptr:#04x} lies beyond the {len(cfg)} bytes captured")
            else:
                findings.append(f"capability pointer {ptr:#04x} is outside the capability area")
            break
        if ptr in seen or len(caps) >= 48:
            findings.append(f"capability list loops at {ptr:#04x}")
            break
        seen.add(ptr)
        h = CapabilityHeader.parse(cfg[ptr : ptr + 2])
        cap = {"offset": ptr, "id": h.id, "name": CAPABILITY_NAMES.get(h.id, "unknown"), "next": h.next}
        if h.id == 0x09 and ptr + 3 <= len(cfg):  # vendor specific: byte 2 is the length
            length = cfg[ptr + 2]
            cap["length"] = length
            cap["data"] = cfg[ptr + 3 : ptr + max(3, min(length, 256 - ptr))].hex()
        caps.append(cap)
        ptr = h.next & 0xFC
    return caps, findings


def walk_ext_capabilities(cfg: bytes) -> tuple[list[dict], list[str]]:
    caps: list[dict] = []
    findings: list[str] = []
    if len(cfg) < 0x104:
        return caps, findings
    seen: set[int] = set()
    ptr = 0x100
    while ptr:
        if ptr < 0x100 or ptr + 4 > len(cfg):
            findings.append(f"extended capability pointer {ptr:#05x} is out of range")
            break
        if ptr in seen or len(caps) >= 96:
            findings.append(f"extended capability list loops at {ptr:#05x}")
            break
        seen.add(ptr)
        h = ExtCapabilityHeaderLE.parse(cfg[ptr : ptr + 4])
        if h.id in (0, 0xFFFF) and not caps:
            break  # no extended capabilities
        caps.append({"offset": ptr, "id": h.id, "version": h.version, "name": EXT_CAPABILITY_NAMES.get(h.id, "unknown"), "next": h.next})
        ptr = h.next & 0xFFC
    return caps, findings


# --- declarative registers ------------------------------------------------------------------

INT = {1: cs.Int8ul, 2: cs.Int16ul, 4: cs.Int32ul, 8: cs.Int64ul}


@dataclass(frozen=True)
class Field:
    name: str
    hi: int
    lo: int
    doc: str = ""
    kind: str = "int"  # int, flag, addr (an address: (raw & mask) << shift), enum
    values: tuple[tuple[int, str], ...] = ()
    shift: int = 0  # addr only: how far the masked bits sit below the address bits they hold

    @property
    def mask(self) -> int:
        return ((1 << (self.hi - self.lo + 1)) - 1) << self.lo

    @property
    def bits(self) -> str:
        return str(self.hi) if self.hi == self.lo else f"{self.hi}:{self.lo}"

    def extract(self, raw: int) -> int:
        if self.kind == "addr":
            return (raw & self.mask) << self.shift
        return (raw & self.mask) >> self.lo

    def insert(self, raw: int, value: int) -> int:
        v = value >> self.shift if self.kind == "addr" else value << self.lo
        if v & ~self.mask:
            raise ValueError(f"{self.name}: value {value:#x} does not fit bits {self.bits}")
        return (raw & ~self.mask) | v

    def meaning(self, value: int) -> str:
        if self.kind == "flag":
            return "set" if value else "clear"
        if self.kind == "addr":
            return f"{value:#x}"
        for v, text in self.values:
            if v == value:
                return text
        return ""


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    size: int
    doc: str
    fields: tuple[Field, ...] = ()
    source: str = ""

    @property
    def schema(self) -> cs.Construct:
        return INT[self.size]

    def read(self, cfg: bytes) -> int | None:
        if self.offset + self.size > len(cfg):
            return None
        return self.schema.parse(cfg[self.offset : self.offset + self.size])

    def build(self, values: dict[str, int]) -> bytes:
        raw = 0
        for f in self.fields:
            if f.name in values:
                raw = f.insert(raw, values[f.name])
        unknown = set(values) - {f.name for f in self.fields}
        if unknown:
            raise ValueError(f"{self.name}: no field named {', '.join(sorted(unknown))}")
        return self.schema.build(raw)


def lock(doc: str = "register locked") -> Field:
    return Field("lock", 0, 0, doc, "flag")


def base_field(hi: int, lo: int, doc: str, shift: int = 0) -> Field:
    return Field("base", hi, lo, doc, "addr", shift=shift)


# GGC (GMCH graphics control) layouts. The decoded sizes come from the functions below.
GGC_FIELDS: dict[str, tuple[Field, ...]] = {
    "i830": (  # 830, 845G: host bridge 0x52 (Linux I830_GMCH_CTRL, i830_stolen_size)
        Field("GMS", 6, 4, "graphics mode select", values=((0, "disabled"), (1, "local memory (not stolen)"), (2, "512 KiB"), (3, "1 MiB"), (4, "8 MiB"))),
        Field("IVD", 1, 1, "VGA disable", "flag"),
        Field("MEM", 0, 0, "aperture: 1 = 64 MiB, 0 = 128 MiB"),
    ),
    "i855": (  # 85x, 865, 915, 945, 965: host bridge 0x52 (gen3_stolen_size), GTT size not here
        Field("GMS", 7, 4, "graphics mode select: stolen memory size code"),
        Field("IVD", 1, 1, "VGA disable", "flag"),
    ),
    "g33": (  # G33, Pineview: host bridge 0x52, GTT stolen size in bits 9:8
        Field("GGMS", 9, 8, "GTT stolen size: 1 = 1 MiB, 2 = 2 MiB"),
        Field("GMS", 7, 4, "graphics mode select: stolen memory size code"),
        Field("IVD", 1, 1, "VGA disable", "flag"),
    ),
    "g4x": (  # G45, GM45, Ironlake: host bridge 0x52 (intel-gtt gen 5, G4x_GMCH_SIZE_*)
        Field("GGMS", 11, 8, "GTT stolen size: 1 = 1 MiB, 3 = 2 MiB; 8 = VT-d (9/A/B = VT 1/1.5/2 MiB GTT)"),
        Field("GMS", 7, 4, "graphics mode select: stolen memory size code"),
        Field("IVD", 1, 1, "VGA disable", "flag"),
    ),
    "snb": (  # SNB, IVB, HSW, VLV (i915 SNB_GMCH_*)
        Field("GGMS", 9, 8, "GTT graphics memory size (GSM): 0 none, 1 = 1 MiB, 2 = 2 MiB"),
        Field("GMS", 7, 3, "graphics mode select: pre-allocated data stolen memory, 32 MiB units"),
        Field("IVD", 1, 1, "IGD VGA disable: 1 = the IGD does not decode legacy VGA", "flag"),
        lock("GGC lock"),
    ),
    "chv": (  # CHV: SNB bit positions, its own GMS table (Linux chv_stolen_size)
        Field("GGMS", 9, 8, "GTT graphics memory size: 1 MiB << GGMS (0 none)"),
        Field("GMS", 7, 3, "data stolen memory size code (CHV table)"),
        Field("IVD", 1, 1, "IGD VGA disable", "flag"),
        lock("GGC lock"),
    ),
    "bdw": (  # BDW and SKL ... RPL (i915 BDW_GMCH_*)
        Field("GMS", 15, 8, "graphics mode select: data stolen memory (32 MiB units; gen9+ 0xF0-0xFE = 4 MiB steps)"),
        Field("GGMS", 7, 6, "GTT graphics memory size: 0 none, else 1 MiB << GGMS"),
        Field("VAMEN", 2, 2, "versatile acceleration mode enable", "flag"),
        Field("IVD", 1, 1, "IGD VGA disable: 1 = the IGD does not decode legacy VGA", "flag"),
        lock("GGC lock"),
    ),
    "mtl": (  # MTL and later (i915 mtl_get_gms_size, xe detect_bar2_integrated)
        Field("GMS", 15, 8, "data stolen memory: 0x00-0x04 x 32 MiB, 0xF0-0xFE 4 MiB steps"),
        Field("GGMS", 7, 6, "GTT graphics memory size: must be 3 (8 MiB)"),
        Field("VAMEN", 2, 2, "versatile acceleration mode enable", "flag"),
        Field("IVD", 1, 1, "IGD VGA disable", "flag"),
        lock("GGC lock"),
    ),
}


# GMS (bits 7:4 of the host bridge's 0x52 word) -> MiB, as Linux's gen3_stolen_size decodes it for
# every platform from 85x to Ironlake (I855_/I915_/G33_/INTEL_GMCH_GMS_STOLEN_*). 0xE/0xF: 0.
GMS_I855_MIB = {0x0: 0, 0x1: 1, 0x2: 4, 0x3: 8, 0x4: 16, 0x5: 32, 0x6: 48, 0x7: 64, 0x8: 128, 0x9: 256, 0xA: 96, 0xB: 160, 0xC: 224, 0xD: 352}
GMS_I830_BYTES = {0: 0, 1: 0, 2: 512 * KiB, 3: 1 * MiB, 4: 8 * MiB}
# GGMS (bits 11:8) on G4x/Ironlake: (GTT stolen bytes as coreboot reserves it, GTT bytes as intel-gtt sizes it)
GGMS_G4X = {0x0: (0, 0), 0x1: (1 * MiB, 1 * MiB), 0x3: (2 * MiB, 2 * MiB), 0x9: (2 * MiB, 1 * MiB), 0xA: (3 * MiB, 1536 * KiB), 0xB: (4 * MiB, 2 * MiB)}
LEGACY_LAYOUTS = ("i830", "i855", "g33", "g4x")  # graphics control word at host bridge 0x52


def dsm_size(layout: str, gms: int, bdw_gen9_plus: bool = True) -> int | None:
    """Data stolen memory bytes for a GMS value, as Linux decodes it; None when invalid."""
    if layout == "i830":
        return GMS_I830_BYTES.get(gms)
    if layout in ("i855", "g33", "g4x"):
        mib = GMS_I855_MIB.get(gms)
        return None if mib is None else mib * MiB
    if layout == "snb":
        return gms * 32 * MiB
    if layout == "chv":
        if gms <= 0x10:
            return gms * 32 * MiB
        if gms <= 0x16:
            return 8 * MiB + (gms - 0x11) * 4 * MiB
        if gms <= 0x1D:
            return 36 * MiB + (gms - 0x17) * 4 * MiB
        return None
    if layout == "bdw":
        if bdw_gen9_plus and 0xF0 <= gms <= 0xFE:
            return (gms - 0xF0 + 1) * 4 * MiB
        return gms * 32 * MiB
    if layout == "mtl":
        if gms <= 0x04:
            return gms * 32 * MiB
        if 0xF0 <= gms <= 0xFE:
            return (gms - 0xF0 + 1) * 4 * MiB
        return None
    return None


def gsm_size(layout: str, ggms: int) -> int | None:
    """GTT stolen memory bytes (the GGTT's backing) for a GGMS value."""
    if layout == "g4x":
        return GGMS_G4X.get(ggms, (None, None))[0]
    if layout == "g33":
        return ggms * MiB if ggms in (0, 1, 2) else None
    if layout == "snb":
        return ggms * MiB
    if layout in ("bdw", "chv", "mtl"):
        return (MiB << ggms) if ggms else 0
    return None


def gtt_size(layout: str, ggms: int) -> int | None:
    """GGTT bytes (PTE table size) for a GGMS value; differs from the stolen size only on G4x VT-d codes."""
    if layout == "g4x":
        return GGMS_G4X.get(ggms, (None, None))[1]
    return gsm_size(layout, ggms)


def pte_size(layout: str) -> int:
    return 8 if layout in ("bdw", "chv", "mtl") else 4


# PCIEXBAR LENGTH (bits 2:1) -> ECAM window bytes; the base then takes bits 38:28, 38:27 or 38:26 (the
# bits below it are the address mask and read 0). Intel's SNB/IVB memory reference code (Pci000.h:
# Length 2:1, ADMSK64 26, ADMSK128 27, base 38:28) and coreboot's system agent block
# (PCIEXBAR_LENGTH_256MB 0, _128MB 1, _64MB 2). 12th-gen and later parts widen LENGTH to bits 3:1
# (code 3 = 512 MiB there); this 2-bit field does not describe them.
PCIEXBAR_WINDOW = {0: 256 * MiB, 1: 128 * MiB, 2: 64 * MiB}
PCIEXBAR_LENGTH_NAMES = ((0, "256 MiB window (buses 0-255)"), (1, "128 MiB window (buses 0-127)"), (2, "64 MiB window (buses 0-63)"), (3, "reserved"))
PCIEXBAR_BASE_MASK = ((1 << 39) - 1) & ~((1 << 26) - 1)  # bits 38:26


def pciexbar_window(raw: int) -> tuple[int | None, int | None]:
    """(ECAM base, window bytes) of a PCIEXBAR value; (None, None) for the reserved length code."""
    size = PCIEXBAR_WINDOW.get((raw >> 1) & 3)
    if size is None:
        return None, None
    return raw & PCIEXBAR_BASE_MASK & ~(size - 1), size


# Host bridge 00:00.0 registers on client "core" parts (chipsec hostctl*.xml, common.xml).
HOST_BRIDGE_CORE: tuple[Register, ...] = (
    Register("PXPEPBAR", 0x40, 8, "PCI Express egress port base", (base_field(38, 12, "base"), Field("enable", 0, 0, "", "flag"))),
    Register("MCHBAR", 0x48, 8, "memory controller hub MMIO base", (base_field(41, 15, "base (width per platform)"), Field("enable", 0, 0, "", "flag"))),
    Register("DEVEN", 0x54, 4, "device enables", (Field("D2EN", 4, 4, "device 2 (IGD) enabled", "flag"),)),
    Register("DPR", 0x5C, 4, "DMA protected range", (base_field(31, 20, "top of DPR"), Field("size_mib", 11, 4, "DPR size in MiB"), Field("EPM", 2, 2, "enable protected memory", "flag"), Field("PRS", 1, 1, "protected region status", "flag"), lock())),
    Register("PCIEXBAR", 0x60, 8, "PCI Express config (ECAM) base", (
        base_field(38, 26, "base: bits 38:28 (256 MiB window), 38:27 (128 MiB) or 38:26 (64 MiB), as length selects"),
        Field("length", 2, 1, "window length", "enum", PCIEXBAR_LENGTH_NAMES),
        Field("enable", 0, 0, "", "flag"),
    )),
    Register("DMIBAR", 0x68, 8, "DMI root complex block base", (base_field(38, 12, "base"), Field("enable", 0, 0, "", "flag"))),
    Register("TOM", 0xA0, 8, "top of memory", (base_field(38, 20, "top of DRAM"), lock())),
    Register("TOUUD", 0xA8, 8, "top of upper usable DRAM", (base_field(41, 20, "address"), lock())),
    Register("BDSM", 0xB0, 4, "base of data stolen memory (host view)", (base_field(31, 20, "base"), lock())),
    Register("BGSM", 0xB4, 4, "base of GTT stolen memory", (base_field(31, 20, "base"), lock())),
    Register("TSEGMB", 0xB8, 4, "TSEG (SMM) memory base", (base_field(31, 20, "base"), lock())),
    Register("TOLUD", 0xBC, 4, "top of low usable DRAM", (base_field(31, 20, "address"), lock())),
    # CAPID0_A bit 11 "IGD" (internal graphics disable) at the same place in Intel's SNB/IVB memory
    # reference code (Pci000.h) and its Alder Lake register structs (Pci000StructAdl0xxx.h), and in
    # chipsec's common.xml.
    Register("CAPID0_A", 0xE4, 4, "capability identifiers A", (
        Field("VTDD", 23, 23, "VT-d disabled by fuse", "flag"),
        Field("IGD", 11, 11, "internal graphics disable: 1 = this CPU has no graphics engine (device 2 fused off)", "flag"),
    )),
)

IGD_BDSM32 = Register("BDSM", 0x5C, 4, "base of data stolen memory (gen <= 10)", (base_field(31, 20, "base"), lock()))
IGD_BDSM64 = Register("BDSM", 0xC0, 8, "base of data stolen memory, 64-bit (gen 11+)", (base_field(63, 20, "base"), Field("bit0", 0, 0, "lock (meaning unverified)", "flag")))
IGD_BGSM_VLV = Register("BGSM", 0x70, 4, "base of GTT stolen memory (Bay Trail)", (base_field(31, 20, "base"), lock()))
IGD_MSAC = Register("MSAC", 0x62, 1, "multi-size aperture control (layout unverified, raw)")
IGD_ASLE = Register("ASLE", 0xE4, 4, "ASL (OpRegion) event register")
IGD_SWSCI = Register("SWSCI", 0xE8, 4, "software SCI", (Field("SCISEL", 15, 15, "1 = SCI, 0 = SMI", "flag"), Field("GSSCIE", 0, 0, "software SCI event (trigger)", "flag")))
IGD_LBPC = Register("LBPC", 0xF4, 4, "legacy backlight control")
IGD_ASLS = Register("ASLS", 0xFC, 4, "OpRegion physical address (0 or all-ones: no OpRegion)", (base_field(31, 0, "address"),))


# Host bridge memory map of G45 (x4x), Pineview and Ironlake (coreboot x4x/pineview/ironlake
# host_bridge.h): TOLUD is a 16-bit register whose bits 15:4 hold address bits 31:20.
HOST_BRIDGE_G4X: tuple[Register, ...] = (
    Register("GBSM", 0xA4, 4, "graphics (data) stolen memory base", (base_field(31, 20, "base"), lock())),
    Register("BGSM", 0xA8, 4, "GTT stolen memory base", (base_field(31, 20, "base"), lock())),
    Register("TSEGMB", 0xAC, 4, "TSEG memory base", (base_field(31, 20, "base"), lock())),
)
HOST_TOLUD16 = Register("TOLUD", 0xB0, 2, "top of low usable DRAM (16-bit: bits 15:4 = address 31:20)", (base_field(15, 4, "address", shift=16),))


def ggc_register(layout: str) -> Register:
    offset = 0x52 if layout in LEGACY_LAYOUTS else 0x50
    return Register("GGC", offset, 2, "graphics control (GMCH control)", GGC_FIELDS[layout])


def host_bridge_registers(ggc_layout: str | None, core: bool, platform: str | None = None) -> list[Register]:
    regs: list[Register] = []
    if ggc_layout in LEGACY_LAYOUTS:
        regs.append(ggc_register(ggc_layout))
        if platform in ("G45", "GM45", "ILK", "PNV"):
            regs.append(HOST_TOLUD16)
        if platform in ("G45", "ILK", "PNV"):  # GM45: not described in the sources read
            regs.extend(HOST_BRIDGE_G4X)
    elif ggc_layout in GGC_FIELDS and ggc_layout != "chv" and core:
        regs.append(ggc_register(ggc_layout))
    if core and ggc_layout not in LEGACY_LAYOUTS:
        regs.extend(HOST_BRIDGE_CORE)
    return sorted(regs, key=lambda r: r.offset)


def igd_registers(ggc_layout: str | None, bdsm: str | None, platform: str | None) -> list[Register]:
    regs: list[Register] = []
    modern = ggc_layout in GGC_FIELDS and ggc_layout not in LEGACY_LAYOUTS
    if modern:
        regs.append(ggc_register(ggc_layout))
    if bdsm == "0x5c":
        regs.append(IGD_BDSM32)
    elif bdsm == "0xc0":
        regs.append(IGD_BDSM64)
    if platform == "VLV":
        regs.append(IGD_BGSM_VLV)
    if modern:  # gen6+: MSAC/SWSCI/ASLE/LBPC locations as i915 defines them
        regs.extend([IGD_MSAC, IGD_ASLE, IGD_SWSCI, IGD_LBPC])
    regs.append(IGD_ASLS)
    return sorted(regs, key=lambda r: r.offset)


def decode_register(reg: Register, cfg: bytes) -> dict:
    raw = reg.read(cfg)
    out: dict = {"name": reg.name, "offset": reg.offset, "size": reg.size, "doc": reg.doc}
    if raw is None:
        out["raw"] = None
        out["missing"] = f"not captured (config space has {len(cfg)} bytes)"
        return out
    out["raw"] = raw
    out["fields"] = [
        {"name": f.name, "bits": f.bits, "value": f.extract(raw), "meaning": f.meaning(f.extract(raw)), "doc": f.doc}
        for f in reg.fields
    ]
    return out


@dataclass
class GgcDecoded:
    layout: str
    raw: int
    gms: int
    ggms: int | None
    ivd: bool
    dsm_bytes: int | None
    gsm_bytes: int | None
    gtt_bytes: int | None
    lock: bool | None
    vamen: bool | None = None
    notes: list[str] = field(default_factory=list)


def decode_ggc(layout: str, raw: int, gen: float | None = None) -> GgcDecoded:
    fields = {f.name: f.extract(raw) for f in GGC_FIELDS[layout]}
    gen9 = gen is None or gen >= 9
    dsm = dsm_size(layout, fields["GMS"], bdw_gen9_plus=gen9)
    notes = []
    if dsm is None:
        notes.append(f"GMS {fields['GMS']:#x} is not a valid stolen-memory size for this generation")
    if layout == "mtl" and fields["GGMS"] != 3:
        notes.append("GGMS must be 3 (8 MiB) on this generation; the driver rejects stolen memory otherwise")
    ggms = fields.get("GGMS")
    gsm = gsm_size(layout, ggms) if ggms is not None else None
    if ggms is not None and gsm is None:
        notes.append(f"GGMS {ggms:#x} is not a valid GTT size code for this generation")
    return GgcDecoded(
        layout=layout,
        raw=raw,
        gms=fields["GMS"],
        ggms=ggms,
        ivd=bool(fields["IVD"]),
        dsm_bytes=dsm,
        gsm_bytes=gsm,
        gtt_bytes=gtt_size(layout, ggms) if ggms is not None else None,
        lock=bool(fields["lock"]) if "lock" in fields else None,
        vamen=bool(fields["VAMEN"]) if "VAMEN" in fields else None,
        notes=notes,
    )


def size_text(n: int | None) -> str:
    if n is None:
        return "invalid"
    if n == 0:
        return "0"
    if n % MiB == 0:
        return f"{n // MiB} MiB"
    if n % KiB == 0:
        return f"{n // KiB} KiB"
    return f"{n} B"

