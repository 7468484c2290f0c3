"""What QEMU version V does with an assigned Intel display device: the one model ``check``,
``diff`` and the presenters ask. No QEMU fact lives outside this package.

:func:`judge` takes a version, and an :class:`Assignment` (the device, the host facts QEMU reads
and the options the VM config gives) and answers with an :class:`Outcome`: whether QEMU treats
the device as an IGD, its QEMU generation, whether legacy mode is entered and each precondition
with the text QEMU prints, whether the OpRegion is exposed, which registers are emulated, the
fw_cfg files, what ``x-igd-gms`` does, and the errors that stop the VM from starting.

Every behaviour that changed between releases is a row of :data:`CHANGES` with its source (the
commit, or the Debian source package the code was read in); specs/qemu.md renders the table.
Versions are ``(major, minor)``; :data:`RANGES` are the version ranges whose IGD code behaves the
same, used to judge a config when the QEMU version is not known."""

from __future__ import annotations

from dataclasses import dataclass, field

from igdscope import platforms
from igdscope.analysis.qemu import machine

Version = tuple[int, int]


@dataclass(frozen=True)
class Change:
    since: Version
    topic: str
    what: str
    source: str


# Sources: QEMU's hw/vfio/pci-quirks.c / igd.c / pci.c per release, read at the commits named; the
# 10.0 and 10.2 rows marked "read in" were read in Debian's qemu 10.0.13+ds / 10.2.2+ds sources.
CHANGES: tuple[Change, ...] = (
    Change((2, 7), "legacy", "legacy mode: vendor 8086, class 0x0300, guest 00:02.0 on the root bus, guest 00:1f.0 free, QEMU generation 6 or 8 (unknown IDs count as 8), a ROM, cold-plugged, the kernel's three IGD regions; a failure prints an error and the VM starts without legacy mode", "c4c45e943e51 (hw/vfio/pci-quirks.c)"),
    Change((2, 7), "options", "x-igd-opregion (default off): OpRegion through fw_cfg etc/igd-opregion and an emulated ASLS; fatal without the kernel's OpRegion region ('does not support requested IGD OpRegion feature') or when hot-plugged", "c4c45e943e51"),
    Change((2, 7), "gms", "x-igd-gms: the GMS the guest sees (1-0x10, x 32 MiB); without it the guest's GMS is 0", "c4c45e943e51"),
    Change((2, 7), "registers", "legacy mode emulates GMCH (0x50) read-only with GMS cleared or = x-igd-gms, BDSM at 0x5C (starts 0), zeroes the first GGMS/4 KiB GGTT entries, traps BAR4", "c4c45e943e51"),
    Change((9, 2), "generation", "device-ID table: unknown IDs are generation -1 (no legacy mode); 0x3E -> 9, 0x45 -> 11, 0x9A -> 12", "e433f208973f, abd9dda914ea, 9c86b9fb43cf"),
    Change((9, 2), "registers", "BDSM emulated at 0xC0 (64-bit) for generation 11+, with the BAR0+0x1080C0 mirror", "7bafcd176729, 11b5ce95beec"),
    Change((9, 2), "gms", "the host's GMS is kept (no longer cleared); x-igd-gms has no effect", "971ca22f041b, 871922416683"),
    Change((10, 0), "generation", "device-ID table aligned with i915 (HSW/VLV 7, SKL..CML 9, ICL/EHL/JSL 11, TGL..RPL 12; MTL and later -1)", "pull-vfio-20241224"),
    Change((10, 0), "legacy", "legacy mode needs x-igd-legacy-mode != off, an i440fx (pc) machine and guest 00:02.0; with x-igd-legacy-mode=on a failed condition is fatal ('Machine is not i440fx or assigned BDF is not 00:02.0')", "9267f96ad6f2, 2fedccf03c88, 674f61117d36"),
    Change((10, 0), "options", "x-igd-legacy-mode (on/off/auto, default auto) and x-igd-lpc (default off) added; legacy mode forces x-igd-opregion and x-igd-lpc on", "674f61117d36"),
    Change((10, 0), "class", "the IGD code runs only for class exactly 0x0300: a 0x0380 IGD gets no IGD quirks (no OpRegion, no BDSM/GMCH emulation)", "read in qemu 10.0.13+ds hw/vfio/igd.c"),
    Change((10, 0), "generation", "generation -1: 'IGD device ... is unsupported in legacy mode, try SandyBridge or newer' and the IGD setup returns before the OpRegion: x-igd-opregion=on has no effect, no GMCH/BDSM emulation", "read in qemu 10.0.13+ds hw/vfio/igd.c"),
    Change((10, 0), "registers", "GMCH emulated read-only (host value, GMS = x-igd-gms when given), BDSM at 0x5C (gen 6-10) or 0xC0 (gen 11+) for every IGD, not only in legacy mode; BAR4 and GGTT zeroing removed", "2fedccf03c88, 5aed8b0f0be2"),
    Change((10, 0), "gms", "x-igd-gms overrides the host's GMS: <= 0x10 before gen 8, <= 0x40 from gen 8; out of range or an unknown generation: an error is printed and the VM starts without it", "pull-vfio-20241224; read in qemu 10.0.13+ds"),
    Change((10, 0), "fw_cfg", "etc/igd-bdsm-size = the data stolen memory only (the GTT stolen size no longer added)", "5faec6a5e220"),
    Change((10, 1), "legacy", "legacy mode only for generations 6-9 (SNB ... CML)", "dd69d846046f"),
    Change((10, 1), "detect", "an IGD is recognised by the kernel's OpRegion region (and must be cold-plugged): without it no IGD quirks", "c0273e77f2d7"),
    Change((10, 1), "options", "x-igd-opregion default on; ASLS always emulated unless x-igd-opregion=off", "16cbb43302a2, 1d5f84f349d2"),
    Change((10, 1), "opregion", "generation -1 devices get the OpRegion (BDSM not emulated, etc/igd-bdsm-size 0)", "7969cf463979"),
    Change((10, 1), "gms", "x-igd-gms also 0xF0-0xFE (4 MiB steps) on generation 9+", "395a1f7941f4"),
    Change((10, 1), "mdev", "GVT-g (mdev) devices: only QEMU generation 8 and 9; OpRegion only with x-igd-opregion=on", "106cdbcef4ef"),
    Change((10, 2), "legacy", "legacy mode also needs class 0x0300 and GGC.IVD = 0 (the IGD decodes VGA on the host); with =on: 'Machine is not i440fx, assigned BDF is not 00:02.0, or device ... doesn't support legacy mode'", "read in qemu 10.2.2+ds hw/vfio/igd.c"),
    Change((10, 2), "class", "any display class 0x03xxxx is accepted ('OpRegion detected on Intel display')", "read in qemu 10.2.2+ds hw/vfio/igd.c"),
    Change((10, 2), "gms", "x-igd-gms on a generation -1 device or out of range: the IGD config quirk fails and the device's realize is torn down (read in code; runtime effect unverified)", "read in qemu 10.2.2+ds hw/vfio/igd.c"),
)

# The version ranges whose IGD code behaves the same: (first, last or None, label, the version
# that stands for the range).
RANGES: tuple[tuple[Version, Version | None, str, Version], ...] = (
    ((0, 0), (9, 1), "<= 9.1", (9, 1)),
    ((9, 2), (9, 2), "9.2", (9, 2)),
    ((10, 0), (10, 0), "10.0", (10, 0)),
    ((10, 1), (10, 1), "10.1", (10, 1)),
    ((10, 2), None, ">= 10.2", (10, 2)),
)


def _range_of(v: Version) -> tuple[Version, Version | None, str, Version]:
    for r in RANGES:
        if r[1] is None or v <= r[1]:
            return r
    return RANGES[-1]


def representative(v: Version) -> Version:
    """The version that stands for ``v``'s range (same IGD behaviour)."""
    return _range_of(v)[3]


def range_label(v: Version) -> str:
    return _range_of(v)[2]


def versions_from(lower: Version | None) -> list[Version]:
    """One version per range, from the range that holds ``lower`` on (all ranges when None)."""
    reps = [r[3] for r in RANGES]
    if lower is None:
        return reps
    first = representative(lower)
    return [r for r in reps if r >= first]


def generation(v: Version, device_id: int) -> int:
    """QEMU's igd_gen() for the device in version ``v`` (-1 = unknown to QEMU)."""
    return platforms.qemu_gen(device_id, era(v) or "C")


def era(v: Version | None) -> str | None:
    """The era of QEMU's IGD code (A: 2016-9.1, B: 9.2, C: 10.0 and later) whose device-ID table
    ``v`` uses; None for an unknown version."""
    if v is None:
        return None
    return "A" if v < (9, 2) else ("B" if v < (10, 0) else "C")


def opregion_default(v: Version) -> bool:
    """x-igd-opregion's default in QEMU ``v`` (from the machine tables)."""
    return bool(machine.vfio_pci_properties(v).get("x-igd-opregion"))


def has_option(v: Version, name: str) -> bool:
    """Whether QEMU ``v``'s vfio-pci has the IGD property ``name``."""
    return name in machine.vfio_pci_properties(v)


def q35_at_1f0() -> str:
    """What q35 puts at guest 00:1f.0 (its own LPC bridge), by the machine tables."""
    vendor, device, name = machine.chipset("q35")["00:1f.0"]
    return f"{name} {vendor:04x}:{device:04x} (q35 built-in)"


# -- the assignment --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    """One assigned device as QEMU sees it: the host facts it reads and the VM config's options.
    ``None`` is "not known" everywhere (a config judged without a host capture)."""

    device_id: int | None = None
    vendor: int | None = 0x8086
    class_code: int | None = None  # the host's class code (QEMU reads the device's)
    host_function: int | None = 0  # function of the host address in slot 2 (0 = the IGD itself)
    vf: bool | None = False  # an SR-IOV virtual function
    mdev: bool = False  # a GVT-g mediated device
    ivd: bool | None = None  # host GGC.IVD: the IGD does not decode VGA
    host_gms: int | None = None
    opregion_region: bool | None = None  # the kernel creates the OpRegion region (ASLS set, header valid)
    lpc_region: bool | None = None  # the kernel creates the LPC region (an Intel ISA bridge at 00:1f.0)
    rom: bool | None = None  # a ROM QEMU can load (ROM BAR with contents, or romfile=)
    machine_family: str | None = None  # "i440fx", "q35"
    guest_slot: int | None = None
    guest_function: int | None = None
    on_root_bus: bool | None = None
    at_1f0: tuple[str, ...] | None = None  # what else sits at guest 00:1f.0 (None = unknown)
    hotplugged: bool | None = False
    x_igd_opregion: bool | None = None  # None = not given (the version's default)
    x_igd_legacy_mode: str | None = None  # "on" / "off" / "auto" / None
    x_igd_lpc: bool | None = None
    x_igd_gms: int | None = None


@dataclass(frozen=True)
class Step:
    """One precondition of a QEMU decision: ``ok`` None when a fact it needs is unknown."""

    id: str
    title: str
    ok: bool | None
    evidence: str
    fix: str = ""
    qemu_says: str = ""
    caution: bool = False  # ok, but not what the config says it asks for


@dataclass(frozen=True)
class Outcome:
    version: Version
    igd: bool | None  # QEMU runs its IGD code for this device
    igd_why: str
    generation: int | None
    legacy_steps: tuple[Step, ...]
    legacy: bool | None  # legacy mode entered
    legacy_failure: str  # "fatal" (VM does not start), "disabled" (starts without it) or ""
    opregion: bool | None  # etc/igd-opregion given to the guest
    opregion_why: str
    fatal: tuple[Step, ...]  # errors that stop the VM from starting
    bdsm_register: str | None  # "0x5c", "0xc0" or None (not emulated)
    gmch: str
    gms: Step | None  # what x-igd-gms does, when given
    fw_cfg: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    lpc_bridge: bool | None = None  # a vfio-pci-igd-lpc-bridge with the host LPC identity at guest 00:1f.0
    asls_emulated: bool | None = None


def _txt(v: Version) -> str:
    return f"{v[0]}.{v[1]}"


def _guest_addr(a: Assignment) -> str:
    if a.guest_slot is None:
        return "auto-assigned"
    return f"{a.guest_slot:02x}.{a.guest_function or 0}"


def gms_range(v: Version, gen: int) -> str:
    """The x-igd-gms values QEMU ``v`` accepts for a QEMU generation, as text."""
    if v < (9, 2):
        return "1-0x10"
    if v < (10, 0):
        return "none (x-igd-gms has no effect in 9.2)"
    if gen <= 0:
        return "none (unknown generation)"
    if gen < 8:
        return "1-0x10"
    if gen == 8 or v < (10, 1):
        return "1-0x40"
    return "1-0x40 or 0xF0-0xFE"


def gms_accepted(v: Version, gen: int, gms: int) -> bool:
    """Whether QEMU ``v`` accepts ``x-igd-gms=gms`` for a QEMU generation."""
    if gms == 0:
        return False
    if v < (9, 2):
        return gms <= 0x10
    if v < (10, 0) or gen <= 0:
        return False
    if gen < 8:
        return gms <= 0x10
    if gen == 8:
        return gms <= 0x40
    return gms <= 0x40 or (v >= (10, 1) and 0xF0 <= gms <= 0xFE)


def gmch_behaviour(v: Version | None) -> str:
    """What the guest reads in GMCH/GGC (IGD config 0x50)."""
    if v is None:
        return "QEMU's GMCH handling depends on its version (none given): up to 9.1 GMS is cleared, from 9.2 the host's value is kept"
    if v < (9, 2):
        return f"QEMU {_txt(v)} (2016-9.1 rules) emulates GMCH read-only as the host's value with GMS cleared, or GMS = x-igd-gms"
    if v < (10, 0):
        return "QEMU 9.2 emulates GMCH read-only as the host's value (x-igd-gms has no effect)"
    if v < (10, 1):
        return "QEMU 10.0 emulates GMCH read-only as the host's value, with GMS replaced by x-igd-gms when given"
    return f"QEMU {_txt(v)} passes GMCH through, or emulates it read-only with GMS = x-igd-gms when given"


def guest_gms(v: Version | None, gen: int | None, g: int) -> tuple[bool, str]:
    """Whether a guest GMS of ``g`` is one QEMU ``v`` gives the guest (with or without x-igd-gms),
    and why."""
    rule = gmch_behaviour(v)
    if v is None:
        if g <= 0x10:
            return True, f"{rule}; GMS {g:#x} fits QEMU up to 9.1 (cleared, or x-igd-gms={g:#x})"
        return False, f"{rule}; GMS {g:#x} is no value QEMU gives the guest"
    if v < (9, 2):
        if g == 0:
            return True, f"{rule}: the guest gets no data stolen memory unless x-igd-gms is set"
        if g <= 0x10:
            return True, f"{rule}: x-igd-gms={g:#x} ({g * 32} MiB)"
        return False, f"{rule}; x-igd-gms accepts only 1-0x10"
    if v < (10, 0):
        return False, rule
    if gen is not None and gms_accepted(v, gen, g):
        return True, f"{rule}: x-igd-gms={g:#x}"
    if g == 0:
        return False, f"{rule}: GMS 0 is no x-igd-gms value (0 means 'keep the host's')"
    return False, f"{rule}; GMS {g:#x} is outside x-igd-gms's range for QEMU generation {gen}"


def bdsm_emulation(v: Version | None, gen: int | None, location: str | None) -> tuple[bool | None, str]:
    """Does QEMU ``v`` emulate the platform's BDSM register (``location`` "0x5c" / "0xc0")?"""
    if location not in ("0x5c", "0xc0"):
        return None, "BDSM location unknown for this platform"
    if v is None:
        return (True, "QEMU emulates BDSM 0x5C (0xC0 on gen 11+ from 9.2); version unknown") if location == "0x5c" else (None, "QEMU emulates the 64-bit BDSM at 0xC0 only from 9.2; version unknown")
    t = _txt(v)
    if v < (9, 2):
        if location == "0x5c":
            return True, f"QEMU {t} emulates BDSM at 0x5C (starts 0); the guest firmware writes the base of the region it reserved"
        return False, f"QEMU {t} emulates only the 32-bit BDSM at 0x5C; this platform keeps it at 0xC0 (64-bit, gen 11+), which passes through"
    if gen is None or gen < 0:
        return False, f"QEMU {t} does not know this device's generation ({gen}): it does not emulate BDSM"
    where = "0xC0 (64-bit)" if gen >= 11 else "0x5C"
    if (location == "0xc0") != (gen >= 11):
        return False, f"QEMU {t} emulates BDSM at {where} for generation {gen}, but this platform keeps it at {location.upper().replace('0X', '0x')}"
    mirror = "; also its BAR0+0x1080C0 DSMBASE mirror" if (v >= (10, 0) or gen >= 11) else ""
    return True, f"QEMU {t} emulates BDSM at {where} (starts 0){mirror}; the guest firmware writes the base of the region it reserved"


def asls_behaviour(v: Version | None) -> str:
    """When QEMU ``v`` emulates ASLS (IGD config 0xFC) and gives the guest its OpRegion."""
    if v is None:
        return "QEMU emulates ASLS in legacy mode or with x-igd-opregion=on (always from 10.1, where x-igd-opregion is on by default)"
    if asls_emulated_always(v):
        return f"QEMU {_txt(v)} emulates ASLS unless x-igd-opregion=off (on by default)"
    return f"QEMU {_txt(v)} emulates ASLS only in legacy mode or with x-igd-opregion=on (off by default)"


def asls_emulated_always(v: Version) -> bool:
    return v >= (10, 1)


def zeroes_ggtt_at_start(v: Version) -> bool:
    """Up to 9.2 legacy mode wrote 0 to the first GGMS/4 KiB GGTT entries at VM start."""
    return v < (10, 0)


# -- the decision ----------------------------------------------------------------------------------


def judge(v: Version, a: Assignment) -> Outcome:
    """What QEMU ``v`` does with assignment ``a`` (see the module doc)."""
    t = _txt(v)
    gen = generation(v, a.device_id) if a.device_id is not None else None
    cls = a.class_code >> 8 if a.class_code is not None else None
    notes: list[str] = []
    fatal: list[Step] = []

    # Is the device an IGD to QEMU?
    if a.mdev:
        igd: bool | None = True
        igd_why = "a GVT-g mediated device"
    elif a.vendor not in (None, 0x8086):
        igd, igd_why = False, f"vendor {a.vendor:04x} is not Intel"
    elif v >= (10, 2):
        igd = None if a.opregion_region is None else a.opregion_region
        igd_why = "QEMU 10.2 runs its IGD code for an Intel display device whose kernel OpRegion region exists"
        if a.hotplugged:
            igd, igd_why = False, "hot-plugged: QEMU runs no IGD code (warning only)"
    elif v >= (10, 1):
        igd = None if a.opregion_region is None else a.opregion_region
        igd_why = "QEMU 10.1 recognises an IGD by the kernel's OpRegion region"
        if cls is not None and cls != 0x0300:
            igd, igd_why = None, f"class {a.class_code:06x}: whether 10.1 accepts a non-VGA IGD is not known (10.2 does)"
        if a.hotplugged:
            igd, igd_why = False, "hot-plugged: QEMU runs no IGD code (warning only)"
    elif v >= (10, 0):
        igd = None if cls is None else cls == 0x0300
        igd_why = f"QEMU 10.0 runs its IGD code only for class exactly 0x0300 (this one: {a.class_code:06x})" if cls is not None else "class unknown"
    else:
        igd = None if cls is None else cls == 0x0300
        igd_why = f"QEMU {t} does legacy mode only for class 0x0300" if cls is not None else "class unknown"

    steps = _legacy_steps(v, a, gen, cls)
    mode = a.x_igd_legacy_mode
    wanted_legacy = mode != "off" and not a.mdev and not a.vf and (a.host_function in (0, None))
    oks = [s.ok for s in steps]
    if not wanted_legacy:
        legacy: bool | None = False
    elif any(o is False for o in oks):
        legacy = False
    elif any(o is None for o in oks):
        legacy = None
    else:
        legacy = True
    failure = ""
    if legacy is False and wanted_legacy:
        failure = "disabled"
        if v >= (10, 0) and mode == "on":
            failure = "fatal"
            bad = next(s for s in steps if s.ok is False)
            fatal.append(Step("qemu.fatal", "QEMU starts the VM", False, f"x-igd-legacy-mode=on and {bad.evidence}", "remove x-igd-legacy-mode=on (or meet the condition: " + (bad.fix or bad.title) + ")", bad.qemu_says))

    # The OpRegion.
    opt = a.x_igd_opregion
    on = opt if opt is not None else opregion_default(v)
    if legacy and v >= (10, 0):
        on = True  # legacy mode forces it
    opregion: bool | None
    if a.vf and on and opt:
        opregion, op_why = False, "an SR-IOV VF has no OpRegion region"
        fatal.append(Step("qemu.fatal", "QEMU starts the VM", False, "x-igd-opregion=on on an SR-IOV VF: the VF has no OpRegion region", "remove x-igd-opregion=on (and legacy-igd) from the VF", "IGD OpRegion not supported / does not support requested IGD OpRegion feature"))
    elif not on and not legacy:
        opregion, op_why = False, "x-igd-opregion is off" + (" (the default before 10.1)" if opt is None else "")
    elif a.mdev:
        ok = gen in (8, 9) or v < (10, 1) or gen is None
        opregion = None if gen is None and v >= (10, 1) else (bool(opt) and ok)
        op_why = "GVT-g gives the OpRegion only with x-igd-opregion=on" + (" and only for QEMU generation 8 or 9" if v >= (10, 1) else "")
    elif v >= (10, 0) and v < (10, 1) and gen == -1:
        opregion, op_why = False, "QEMU 10.0 leaves the IGD setup of a generation -1 device before the OpRegion: x-igd-opregion has no effect"
        if opt:
            notes.append("QEMU 10.0 prints 'IGD device ... is unsupported in legacy mode, try SandyBridge or newer' and gives no OpRegion although x-igd-opregion=on; QEMU 10.1 and later give it")
    elif igd is False and v >= (10, 0):
        opregion, op_why = False, f"QEMU {t} runs no IGD code for this device ({igd_why})"
    elif a.opregion_region is False:
        opregion, op_why = False, "the kernel made no OpRegion region (no ASLS, or vfio-pci refused the OpRegion)"
        if opt or (v < (10, 1) and on):
            fatal.append(Step("qemu.fatal", "QEMU starts the VM", False, "x-igd-opregion=on but the kernel has no OpRegion region for the device", "fix the host's OpRegion (see kernel.asls / kernel.opregion), or remove x-igd-opregion=on", "vfio: ... does not support requested IGD OpRegion feature: No such device"))
    elif a.hotplugged:
        opregion, op_why = False, "hot-plugged"
        if opt:
            fatal.append(Step("qemu.fatal", "QEMU starts the VM", False, "x-igd-opregion=on on a hot-plugged device", "cold-plug the IGD (define it at VM start)", "cannot support IGD OpRegion feature on hotplugged device"))
    else:
        opregion = None if a.opregion_region is None else True
        op_why = "etc/igd-opregion from the kernel's OpRegion region" + (" (x-igd-opregion on by default)" if opt is None and v >= (10, 1) else "")

    # x-igd-gms.
    gms_step = None
    if a.x_igd_gms is not None:
        g = a.x_igd_gms
        if v >= (9, 2) and v < (10, 0):
            gms_step = Step("vm.gms", "x-igd-gms in range", True, f"x-igd-gms={g:#x}: QEMU 9.2 ignores it (the guest keeps the host's GMS)", "remove it; QEMU 9.2 keeps the host's GMS" if g else "", caution=bool(g))
        elif g == 0:
            gms_step = Step("vm.gms", "x-igd-gms in range", True, "x-igd-gms=0: " + ("the guest gets no data stolen memory" if v < (9, 2) else "the host's GMS is kept"))
        elif gen is None and v >= (10, 0):
            gms_step = Step("vm.gms", "x-igd-gms in range", None, f"x-igd-gms={g:#x}; the IGD's generation is not known", f"QEMU {t} accepts per generation: <= 0x10 before gen 8, <= 0x40, 0xF0-0xFE on gen 9+ from 10.1")
        else:
            ok = gms_accepted(v, gen if gen is not None else 0, g)
            rng = gms_range(v, gen if gen is not None else 0)
            ev = f"x-igd-gms={g:#x} for QEMU generation {gen}" + ("" if ok else f": QEMU {t} accepts {rng}")
            if ok:
                gms_step = Step("vm.gms", "x-igd-gms in range", True, ev)
            elif v >= (10, 2) and (igd is not False):
                gms_step = Step("vm.gms", "x-igd-gms in range", False, ev + "; the device's realize is torn down (VM does not start)", f"use a value in {rng}, or remove x-igd-gms" if gen and gen > 0 else "remove x-igd-gms: this device has no generation QEMU knows", "x-igd-gms is not supported on this device" if (gen or 0) <= 0 else "")
                fatal.append(gms_step)
            else:
                gms_step = Step("vm.gms", "x-igd-gms in range", False, ev + "; QEMU prints an error and ignores it", f"use a value in {rng}" if gen and gen > 0 else "remove x-igd-gms")

    # Registers and fw_cfg.
    emulated_anywhere = bool(legacy) if v < (10, 0) else (igd is not False and (gen or 0) > 0)
    bdsm_reg = None
    if emulated_anywhere and gen is not None:
        if v < (9, 2):
            bdsm_reg = "0x5c"
        else:
            bdsm_reg = "0xc0" if gen >= 11 else "0x5c"
    fw: dict[str, str] = {}
    if opregion:
        fw["etc/igd-opregion"] = "the host OpRegion (and its extended VBT) as the kernel region gives it"
    if emulated_anywhere or (v >= (10, 1) and igd):
        if v < (9, 2):
            fw["etc/igd-bdsm-size"] = "GGMS MiB + x-igd-gms x 32 MiB"
        elif v < (10, 0):
            fw["etc/igd-bdsm-size"] = "GGMS MiB + the host's DSM size"
        else:
            fw["etc/igd-bdsm-size"] = "0 (generation unknown: stolen memory through LMEMBAR)" if (gen or 0) <= 0 else "the data stolen memory size (GMS, or x-igd-gms)"
    # The LPC bridge copy: legacy mode (which forces x-igd-lpc from 10.0), or x-igd-lpc alone from 10.0.
    wants_lpc = bool(legacy) or (v >= (10, 0) and bool(a.x_igd_lpc))
    lpc: bool | None = False
    if wants_lpc:
        free = None if a.at_1f0 is None else not a.at_1f0
        lpc = None if (free is None or a.lpc_region is None) else (free and bool(a.lpc_region) and not a.hotplugged)
    if v < (10, 1):
        asls: bool | None = bool(legacy) or bool(opregion)
    else:
        asls = igd if a.x_igd_opregion is not False else False
    return Outcome(v, igd, igd_why, gen, tuple(steps), legacy, failure, opregion, op_why, tuple(fatal), bdsm_reg, gmch_behaviour(v), gms_step, fw, tuple(notes), lpc, asls)


def _legacy_steps(v: Version, a: Assignment, gen: int | None, cls: int | None) -> list[Step]:
    """Every precondition of legacy mode in QEMU ``v``, evaluated on ``a``."""
    t = _txt(v)
    s: list[Step] = []
    # A GVT-g device or a VF never gets legacy mode; the other conditions are still evaluated, as
    # QEMU does (before 10.0 its legacy probe runs for any Intel VGA device at guest 00:02.0, and
    # prints what it finds at 00:1f.0).
    if a.mdev:
        s.append(Step("vm.mdev", "Not a GVT-g (mdev) device", False, "a GVT-g mediated device gets no legacy mode (no ROM, no host/LPC bridge regions)", "assign the IGD itself (0000:00:02.0) for legacy mode"))
    elif a.vf or (a.host_function not in (0, None)):
        s.append(Step("vm.igd_function", "The IGD is host 00:02.0", False, f"host function 00:02.{a.host_function}" + (" (an SR-IOV VF)" if a.vf else ""), "legacy mode and the OpRegion are for the physical IGD 00:02.0 only"))
    if a.x_igd_legacy_mode == "off" and v >= (10, 0):
        s.append(Step("vm.legacy_mode", "x-igd-legacy-mode not off", False, "x-igd-legacy-mode=off", "remove it to allow legacy mode"))
    if cls is None:
        s.append(Step("qemu.class", "IGD class is VGA (0x0300)", None, "class not known (no host capture)", ""))
    else:
        s.append(Step("qemu.class", "IGD class is VGA (0x0300)", cls == 0x0300, f"class {a.class_code:06x}", "" if cls == 0x0300 else "QEMU legacy mode needs the IGD as primary VGA device: make it the primary display in the firmware setup"))
    if gen is None:
        s.append(Step("qemu.generation", "QEMU knows the IGD generation for legacy mode", None, "the IGD's device ID is not known (no host capture)", "give a host capture (igdscope dump -o host.json) or --device"))
    else:
        if v < (9, 2):
            ok = gen in (6, 8)
        elif v < (10, 1):
            ok = gen != -1
        else:
            ok = 6 <= gen <= 9
        plat = platforms.lookup(a.device_id) if a.device_id is not None else None
        name = f"{plat.platform} " if plat else ""
        if ok:
            fix = ""
        elif v >= (10, 1):
            fix = "QEMU 10.1 and later do legacy mode only for generations 6-9 (SNB ... CML); use UPT (x-igd-opregion=on), with the IGD at guest 00:02.0 for Windows guests"
        else:
            fix = f"this QEMU does not know {a.device_id:04x}: upgrade QEMU or use UPT"
        s.append(Step("qemu.generation", "QEMU knows the IGD generation for legacy mode", ok, f"QEMU {t} classifies {name}{a.device_id:04x} as generation {gen}", fix,
                      "" if ok else f"IGD device {a.device_id:04x} is unsupported in legacy mode, try SandyBridge or newer"))
    if v >= (10, 2):
        if a.ivd is None:
            s.append(Step("qemu.ivd", "IGD decodes VGA (GGC.IVD = 0)", None, "GGC not known", ""))
        else:
            s.append(Step("qemu.ivd", "IGD decodes VGA (GGC.IVD = 0)", not a.ivd, f"GGC.IVD={int(bool(a.ivd))}", "enable the IGD as primary display / VGA in the firmware setup" if a.ivd else ""))
    addr = (a.guest_slot, a.guest_function or 0)
    root = {"q35": "pcie.0", "i440fx": "pci.0"}.get(a.machine_family or "", "pci.0 / pcie.0")
    if a.guest_slot is None:
        s.append(Step("vm.address", "IGD at guest 00:02.0 on the root bus", False, "guest address not given (auto-assigned)", f"give addr=0x2 on the root bus (bus={root})"))
    else:
        s.append(Step("vm.address", "IGD at guest 00:02.0 on the root bus", addr == (2, 0), f"guest address {_guest_addr(a)}", "" if addr == (2, 0) else f"legacy mode needs addr=0x2 on the root bus (bus={root})"))
    if a.on_root_bus is False:
        s.append(Step("vm.root_bus", "IGD on the root bus", False, "behind a bridge or root port", "put it on the root bus (pci.0 / pcie.0), not behind a root port"))
    if v < (10, 0) and a.machine_family != "q35":
        fam = a.machine_family
        s.append(Step("vm.machine", "i440fx machine for legacy mode", None if fam is None else True, f"machine {fam or 'unknown'}", ""))
    if v >= (10, 0):
        fam = a.machine_family
        s.append(Step("vm.machine", "i440fx machine for legacy mode", None if fam is None else fam == "i440fx", f"machine {fam or 'unknown'}", "" if fam == "i440fx" else "QEMU 10.0+ does legacy mode only on i440fx (pc)",
                      "" if fam != "q35" else "Machine is not i440fx or assigned BDF is not 00:02.0"))
    at = a.at_1f0
    if at is None:
        s.append(Step("vm.1f0", "Guest 00:1f.0 free (or vfio-pci-igd-lpc-bridge)", None, "devices at guest 00:1f.0 not known", ""))
    else:
        s.append(Step("vm.1f0", "Guest 00:1f.0 free (or vfio-pci-igd-lpc-bridge)", not at, f"{', '.join(at)} at 00:1f.0" if at else "00:1f.0 free", "move the device away from 00:1f.0, or use an i440fx (pc) machine" if at else "",
                      "cannot support legacy mode due to existing devices at address 1f.0" if v < (10, 0) else "Cannot create LPC bridge due to existing device at 1f.0"))
    if a.lpc_region is False:
        s.append(Step("kernel.lpc_region", "The kernel's LPC bridge region", False, "no Intel ISA bridge at host 00:1f.0: vfio-pci makes no LPC region", "legacy mode copies the host LPC bridge: it needs an Intel ISA bridge at host 00:1f.0", "IGD LPC bridge access is not supported by kernel"))
    if a.rom is not None:
        s.append(Step("rom.loadable", "A ROM QEMU can load", a.rom, "a ROM is available" if a.rom else "no ROM (rombar=0, romfile disabled, or the host has none)", "" if a.rom else "legacy mode needs the VBIOS: give romfile= with a VBIOS for this IGD"))
    if a.hotplugged:
        s.append(Step("vm.hotplug", "IGD not hot-plugged", False, "the IGD is hot-plugged", "cold-plug it (define it at VM start)"))
    return s
