"""``igdscope plan``: the VM configuration that makes one mode work on this host and QEMU.

:func:`plan` chooses every setting from the QEMU model (:mod:`igdscope.analysis.qemu`: which
machine family legacy mode accepts, which ``x-igd-*`` properties a version has and their
defaults, whether the guest keeps the host's stolen memory) and then judges the result with
``check`` itself: the settings are written as a QEMU command line, read back with the VM config
reader and passed to :func:`igdscope.analysis.check.run_checks`. A plan is feasible when that
verdict has no failing rule for the mode; otherwise it carries the failing rules as check
reports them and what would make the mode possible (another QEMU range, the other firmware, a
ROM). Pure: no I/O; the presenters (``cli/plan.py``) render it as QEMU arguments, libvirt XML or
Proxmox lines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from igdscope.analysis import check, qemu, vmconfig
from igdscope.analysis.qemu import igd as qm
from igdscope.analysis.qemu import machine as qmachine
from igdscope.capture import Capture

MODES = check.MODES
FIRMWARES = ("seabios", "ovmf")
HOST = "0000:00:02.0"
DEVICE_ID = "igd"  # the QEMU id of the assigned IGD in the QEMU arguments
# Where Debian's ovmf package puts the firmware (other distributions: edk2-ovmf, /usr/share/edk2/).
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "OVMF_VARS_4M.fd"

MACHINE_TYPES = {"i440fx": "pc", "q35": "q35"}  # QEMU's unversioned aliases (the running QEMU's newest)
ROOT_BUS = {"i440fx": "pci.0", "q35": "pcie.0"}


@dataclass(frozen=True)
class Setting:
    """One decision of a plan: ``key`` (machine, address, vga, nodefaults, firmware, rombar,
    romfile, or a vfio-pci property ``x-igd-*``), its value, why, and the check rules it meets."""

    key: str
    value: Any
    why: str
    rules: tuple[str, ...] = ()

    def plain(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "why": self.why, "rules": list(self.rules)}


@dataclass(frozen=True)
class Plan:
    mode: str
    firmware: str
    qemu_version: tuple[int, int] | None  # the version planned for (None: every range judged)
    qemu_judged: tuple[str, ...]  # the QEMU ranges check judged the plan under
    device_id: int | None
    platform: str | None
    verdict: str  # "works", "fails" or "unknown" (check's verdict for the mode)
    settings: tuple[Setting, ...]
    failing: tuple[dict[str, Any], ...] = ()  # check's failing rules for the mode (plain)
    unknown: tuple[dict[str, Any], ...] = ()  # rules check could not decide (plain)
    cautions: tuple[dict[str, Any], ...] = ()  # warnings that matter for the mode (plain)
    possible: tuple[str, ...] = ()  # what would make the mode possible (when it fails)
    by_qemu: tuple[dict[str, Any], ...] = ()  # the verdict per QEMU range, when it depends on it

    @property
    def feasible(self) -> bool:
        return self.verdict != "fails"

    def setting(self, key: str) -> Setting | None:
        return next((s for s in self.settings if s.key == key), None)

    def value(self, key: str, default: Any = None) -> Any:
        s = self.setting(key)
        return default if s is None else s.value

    def device_properties(self) -> list[Setting]:
        """The settings that are ``vfio-pci`` properties (``x-igd-*``), in order."""
        return [s for s in self.settings if s.key.startswith("x-igd-")]

    def plain(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "firmware": self.firmware,
            "qemu_version": qemu.text(self.qemu_version) if self.qemu_version else None,
            "qemu_judged": list(self.qemu_judged),
            "igd": None if self.device_id is None else {"vendor": "0x8086", "device": f"{self.device_id:#06x}", "platform": self.platform},
            "verdict": self.verdict, "feasible": self.feasible,
            "settings": [s.plain() for s in self.settings],
            "failing": list(self.failing), "unknown": list(self.unknown), "cautions": list(self.cautions),
            "possible": list(self.possible), "by_qemu": list(self.by_qemu),
        }


# -- choosing the settings ---------------------------------------------------------------------------


def _versions(v: tuple[int, int] | None) -> list[tuple[int, int]]:
    return [v] if v is not None else qm.versions_from(None)


def _assignment(a: qm.Assignment, family: str) -> qm.Assignment:
    """``a`` placed at guest 00:02.0 on the root bus of ``family`` with -nodefaults (only QEMU's own
    chipset functions elsewhere, as machine.chipset lists them)."""
    fam = "pc" if family == "i440fx" else family
    at = qmachine.chipset(fam).get("00:1f.0")
    return replace(a, machine_family=family, guest_slot=2, guest_function=0, on_root_bus=True,
                   at_1f0=() if at is None else (qm.q35_at_1f0(),), hotplugged=False)


def _legacy_family(versions: list[tuple[int, int]], a: qm.Assignment) -> tuple[str, str]:
    """The machine family on which every legacy-mode step about the machine passes in every version."""
    for family in ("i440fx", "q35"):
        bad = [s for v in versions for s in qm.judge(v, _assignment(a, family)).legacy_steps
               if s.id in ("vm.machine", "vm.1f0", "vm.address", "vm.root_bus") and s.ok is False]
        if not bad:
            chip = qmachine.chipset("pc" if family == "i440fx" else family)
            free = "00:1f.0 is free" if "00:1f.0" not in chip else f"{chip['00:1f.0'][2]} sits at 00:1f.0"
            return family, f"legacy mode needs this machine family ({free}, where QEMU places its copy of the host's LPC bridge)"
    return "i440fx", "legacy mode needs an i440fx machine"


def _base_assignment(cap: Capture | None, device: int | None) -> qm.Assignment:
    """What the QEMU model needs of the host, from the capture (check's own reading) or --device."""
    if cap is None:
        return qm.Assignment(device_id=device)
    from igdscope.decode.model import decode

    c = check.Context(cap, decode(cap, with_gtt_summary=False))
    return check.assignment(c)


def _settings(mode: str, firmware: str, v: tuple[int, int] | None, a: qm.Assignment, rom: str | None) -> list[Setting]:
    versions = _versions(v)
    where = f"QEMU {qemu.text(v)}" if v is not None else "every QEMU range"
    out: list[Setting] = []
    if mode == "legacy":
        family, why = _legacy_family(versions, a)
    else:
        family = "q35"
        why = ("plain assignment on a PCIe root bus; QEMU takes an IGD at 00:02.0 of an i440fx machine for legacy mode, "
               "and q35's own " + qmachine.chipset("q35")["00:1f.0"][2] + " at 00:1f.0 keeps legacy mode off")
    out.append(Setting("machine", MACHINE_TYPES[family], f"{family}: {why}", ("vm.machine", "vm.1f0") if mode == "legacy" else ()))
    out.append(Setting("firmware", firmware, "SeaBIOS runs the IGD's legacy VBIOS (QEMU's default firmware)" if firmware == "seabios"
                       else "OVMF (UEFI): the pre-boot display needs an Intel GOP in the ROM; without one the screen stays dark until the guest driver loads", ("rom.ovmf", "vm.gop") if firmware == "ovmf" else ()))
    out.append(Setting("address", f"{ROOT_BUS[family]}:02.0",
                       "guest 00:02.0 on the root bus: " + ("legacy mode requires it" if mode == "legacy" else "where the guest drivers (Windows' in particular) look for the IGD"),
                       ("vm.address", "vm.root_bus", "vm.windows_address")))
    out.append(Setting("nodefaults", True, "QEMU otherwise creates its default NIC with the machine, in the first free slot (00:02.0 on i440fx)", ("vm.slot",)))
    out.append(Setting("vga", "none", "QEMU otherwise creates its default VGA first, at guest 00:02.0; the IGD is the VM's display", ("vm.slot", "pve.legacy_igd") if mode == "legacy" else ("vm.slot",)))
    # vfio-pci properties, only those every planned-for version has
    have = set.intersection(*(set(qmachine.vfio_pci_properties(x)) for x in versions))
    if mode == "legacy":
        if "x-igd-legacy-mode" in have:
            out.append(Setting("x-igd-legacy-mode", "on", f"{where} starts legacy mode only if every condition holds; 'on' makes a failed one stop the VM instead of starting it silently without", ("vm.legacy_mode",)))
        forced = [x for x in versions if qm.judge(x, replace(_assignment(a, family), x_igd_opregion=None)).opregion is not False]
        if len(forced) < len(versions) and "x-igd-opregion" in have:
            out.append(Setting("x-igd-opregion", "on", f"{where}: legacy mode gives the guest the OpRegion (and its VBT) only when asked", ("qemu.opregion",)))
        gms = a.host_gms
        gen = qm.generation(versions[0], a.device_id) if a.device_id is not None else None
        if gms and gen is not None and "x-igd-gms" in have:
            cleared = [x for x in versions if x < (9, 2)]  # these clear the guest's GMS unless x-igd-gms (qemu.gms)
            if cleared and all(qm.gms_accepted(x, qm.generation(x, a.device_id), gms) for x in versions if x < (9, 2) or x >= (10, 0)):
                out.append(Setting("x-igd-gms", gms, f"the host's GMS ({gms:#x}, {gms * 32} MiB): QEMU {qm.range_label(cleared[0])} gives the guest GMS 0 without it", ("qemu.gms", "vm.gms")))
    else:
        want = mode == "upt_opregion"
        if "x-igd-opregion" in have:
            defaults = {qm.opregion_default(x) for x in versions}
            if want:
                out.append(Setting("x-igd-opregion", "on", ("off by default before QEMU 10.1" if False in defaults else "on by default; written so that a missing OpRegion stops the VM instead of passing unseen")
                                   + ": the guest driver reads the panel and port layout (VBT) from it", ("qemu.opregion", "vm.opregion")))
            elif True in defaults:
                out.append(Setting("x-igd-opregion", "off", "plain assignment: QEMU 10.1 and later give the OpRegion by default", ()))
    # the ROM
    if rom:
        out.append(Setting("romfile", rom, "the ROM to give the guest" + (" (legacy mode runs its VBIOS)" if mode == "legacy" else "")
                           + (" and its GOP for OVMF" if firmware == "ovmf" else ""), ("rom.present", "rom.loadable")))
    if mode == "legacy":
        out.append(Setting("rombar", 1, "legacy mode loads the VBIOS through the ROM BAR (Proxmox refuses legacy-igd with rombar=0)", ("rom.present", "pve.legacy_igd")))
    return out


# -- the QEMU arguments (also the form check judges) ------------------------------------------------


def qemu_lines(p: Plan) -> list[tuple[list[str], str, tuple[str, ...]]]:
    """The QEMU arguments of the plan, one option with its value per entry: ``(words, why, rules)``."""
    lines: list[tuple[list[str], str, tuple[str, ...]]] = []
    m = p.setting("machine")
    lines.append((["-machine", m.value], m.why, m.rules))
    if p.value("nodefaults"):
        s = p.setting("nodefaults")
        lines.append((["-nodefaults"], s.why, s.rules))
    v = p.setting("vga")
    lines.append((["-vga", v.value], v.why, v.rules))
    fw = p.setting("firmware")
    if fw.value == "ovmf":
        lines.append((["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"], fw.why + f" ({OVMF_CODE}: Debian's ovmf package)", fw.rules))
        lines.append((["-drive", f"if=pflash,format=raw,unit=1,file={OVMF_VARS}"], "the VM's own copy of OVMF's variable store (copy it from /usr/share/OVMF/)", ()))
    bus = str(p.value("address")).partition(":")[0]
    props = [f"host={HOST}", f"id={DEVICE_ID}", f"bus={bus}", "addr=0x2"]
    for s in p.device_properties():
        val = s.value
        props.append(f"{s.key}={val:#x}" if isinstance(val, int) and not isinstance(val, bool) else f"{s.key}={val}")
    if p.value("romfile"):
        props.append(f"romfile={p.value('romfile')}")
    if p.value("rombar") is not None:
        props.append(f"rombar={p.value('rombar')}")
    a = p.setting("address")
    why = ["the IGD, host 0000:00:02.0, at " + a.why]
    rules = list(a.rules)
    for s in [*p.device_properties(), *(x for x in (p.setting("romfile"), p.setting("rombar")) if x is not None)]:
        why.append(f"  {s.key}: {s.why}")
        rules += [r for r in s.rules if r not in rules]
    lines.append((["-device", "vfio-pci," + ",".join(props)], "\n".join(why), tuple(rules)))
    return lines


def qemu_args(p: Plan) -> list[str]:
    return [w for words, _, _ in qemu_lines(p) for w in words]


# -- the plan ------------------------------------------------------------------------------------------


def _plain_rules(result: dict[str, Any], mode: str, ids: list[str], status: str | None) -> tuple[dict[str, Any], ...]:
    return tuple(r for r in result["rules"] if r["id"] in ids and mode in r["modes"] and (status is None or r["status"] == status))


def _judge(cap: Capture | None, p: Plan, qv: str | None, device: int | None) -> dict[str, Any]:
    import shlex

    vm = vmconfig.parse_qemu_cmdline(shlex.join(qemu_args(p)), bare_args=True)
    return check.run_checks(cap, vm, qv, device=device)


def plan(cap: Capture | None, mode: str, qemu_version: tuple[int, int] | None = None, firmware: str = "seabios",
         rom: str | None = None, device: int | None = None, *, _alternatives: bool = True) -> Plan:
    """The configuration for ``mode`` on the host of ``cap`` (None: the IGD named by ``device``
    alone) under QEMU ``qemu_version`` (None: the capture's, else every range) and ``firmware``,
    with ``rom`` as romfile when given; judged by check (see the module doc)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} ({', '.join(MODES)})")
    if firmware not in FIRMWARES:
        raise ValueError(f"unknown firmware {firmware!r} (seabios or ovmf)")
    if qemu_version is None and cap is not None:
        qemu_version = qemu.version(cap.host.get("qemu_version"))
    a = _base_assignment(cap, device)
    dev_id = a.device_id
    from igdscope import platforms

    plat = platforms.lookup(dev_id) if dev_id is not None else None
    p = Plan(mode, firmware, qemu_version, (), dev_id, plat.platform if plat else None, "unknown",
             tuple(_settings(mode, firmware, qemu_version, a, rom)))
    qv = qemu.text(qemu_version) if qemu_version else None
    result = _judge(cap, p, qv, device)
    ver = result["verdicts"][mode]
    failing = list(ver["failing"])
    # check judges the requested mode; a plan that asks for another one is a planning error, said as such
    if result["requested_mode"] != mode:
        raise AssertionError(f"plan for {mode} reads back as {result['requested_mode']}")
    judged = tuple(result["qemu_judged"] or ([qm.range_label(qemu_version)] if qemu_version else []))
    by_qemu = tuple(ver.get("by_qemu", ()))
    p = replace(p, qemu_judged=judged, verdict=ver["verdict"], by_qemu=by_qemu,
                failing=_plain_rules(result, mode, failing, "fail"),
                unknown=_plain_rules(result, mode, [u for u in ver["unknown"] if u not in failing], "unknown"),
                cautions=_plain_rules(result, mode, ver.get("cautions", []), "warn"))
    if _alternatives and (p.verdict == "fails" or by_qemu or p.cautions):
        p = replace(p, possible=tuple(_possible(cap, p, rom, device)))
    return p


def _possible(cap: Capture | None, p: Plan, rom: str | None, device: int | None) -> list[str]:
    """What would make the mode work (or drop its cautions): another QEMU range, the other
    firmware, a ROM."""
    out: list[str] = []
    ids = {r["id"] for r in p.failing} | {r["id"] for r in p.cautions}
    if p.verdict == "fails" or p.by_qemu:
        ok = []
        for v in qm.versions_from(None):
            if p.qemu_version is not None and qm.representative(p.qemu_version) == v:
                continue
            if plan(cap, p.mode, v, p.firmware, rom, device, _alternatives=False).feasible:
                ok.append(qm.range_label(v))
        if ok:
            out.append(f"QEMU {', '.join(ok)}: no rule fails with the plan for that QEMU (igdscope plan --qemu-version X.Y)")
        other = "ovmf" if p.firmware == "seabios" else "seabios"
        if p.verdict == "fails" and plan(cap, p.mode, p.qemu_version, other, rom, device, _alternatives=False).feasible:
            out.append(f"--firmware {other}: no rule fails with {other.upper() if other == 'ovmf' else 'SeaBIOS'}")
    if ids & {"rom.present", "rom.legacy_image"} and not rom:
        out.append("--rom FILE: a legacy VBIOS for this IGD (igdscope extract rom from a capture that holds one, or the board vendor's)")
    if p.firmware == "ovmf" and ids & {"rom.ovmf", "vm.gop"}:
        out.append("--rom FILE: a ROM with an Intel GOP driver (an EFI image, e.g. built with EfiRom from the GOP of this board's firmware) for a pre-boot display under OVMF")
    if not out and p.verdict == "fails":
        out.append("no QEMU range, firmware or ROM changes this on this host: the failing rules above name what to change on the host")
    return out
