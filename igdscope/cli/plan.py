"""``igdscope plan``: a :class:`~igdscope.analysis.plan.Plan` as QEMU arguments, libvirt domain XML
pieces or Proxmox lines (config lines and ``qm set`` commands), every line with its reason; or,
when the mode cannot work, the failing rules and what would make it possible."""

from __future__ import annotations

import shlex
from xml.sax.saxutils import quoteattr

from igdscope.analysis import plan as P

FORMATS = ("qemu", "libvirt", "proxmox")
MODE_NAMES = {"legacy": "legacy mode", "upt": "UPT (plain assignment)", "upt_opregion": "UPT with the OpRegion (x-igd-opregion)"}
LIBVIRT_QEMU_NS = "http://libvirt.org/schemas/domain/qemu/1.0"
LIBVIRT_ALIAS = "ua-igd"  # libvirt takes user aliases with the ua- prefix
PVE_KEY = "hostpci0"


def _prop_value(v: object) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, int):
        return f"{v:#x}"
    return str(v)


def _why(why: str, rules: tuple[str, ...], explain: bool, prefix: str = "# ") -> list[str]:
    out = [f"{prefix}{line}" for line in why.split("\n")]
    if explain and rules:
        out.append(f"{prefix}  meets: {', '.join(rules)}")
    return out


# -- QEMU -------------------------------------------------------------------------------------------


def render_qemu(p: P.Plan, explain: bool = False) -> str:
    out: list[str] = []
    for words, why, rules in P.qemu_lines(p):
        out += _why(why, rules, explain)
        out.append(shlex.join(words))
    return "\n".join(out) + "\n"


# -- libvirt ----------------------------------------------------------------------------------------


def _xml_comment(text: str) -> str:
    return "<!-- " + text.replace("--", "- -") + " -->"


def libvirt_pieces(p: P.Plan, explain: bool = False) -> dict[str, list[str]]:
    """The libvirt elements of the plan, by where they go: ``os``, ``devices``, ``override``."""
    def c(why: str, rules: tuple[str, ...], indent: str) -> list[str]:
        return [indent + _xml_comment(line) for line in _why(why, rules, explain, prefix="")]

    fam_setting = p.setting("machine")
    fw = p.setting("firmware")
    os_el = c(fw.why, fw.rules, "  ") + c(fam_setting.why, fam_setting.rules, "  ")
    os_el.append("  <os firmware='efi'>" if fw.value == "ovmf" else "  <os>")
    os_el.append(f"    <type arch='x86_64' machine={quoteattr(fam_setting.value)}>hvm</type>")
    os_el.append("  </os>")
    a = p.setting("address")
    dev = ["  <devices>"]
    dev += c("the IGD, host 0000:00:02.0, at " + a.why, a.rules, "    ")
    dev.append("    <hostdev mode='subsystem' type='pci' managed='yes'>")
    dev.append("      <source>")
    dev.append("        <address domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>")
    dev.append("      </source>")
    rom = p.value("romfile")
    if rom or p.value("rombar") is not None:
        s = p.setting("romfile") or p.setting("rombar")
        dev += c(s.why, s.rules, "      ")
        attrs = (" bar='on'" if p.value("rombar") else "") + (f" file={quoteattr(rom)}" if rom else "")
        dev.append(f"      <rom{attrs}/>")
    dev.append(f"      <alias name='{LIBVIRT_ALIAS}'/>")
    dev.append("      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>")
    dev.append("    </hostdev>")
    v = p.setting("vga")
    dev += c(v.why + "; libvirt always starts QEMU with -nodefaults", v.rules, "    ")
    dev.append("    <video>")
    dev.append("      <model type='none'/>")
    dev.append("    </video>")
    dev.append("  </devices>")
    props = p.device_properties()
    ov: list[str] = []
    if props:
        ov += c("libvirt has no element for the x-igd-* properties: set them on the hostdev's -device (libvirt 8.2+, QEMU 6.2+)", (), "  ")
        ov.append(f"  <qemu:override xmlns:qemu='{LIBVIRT_QEMU_NS}'>")
        ov.append(f"    <qemu:device alias='{LIBVIRT_ALIAS}'>")
        ov.append("      <qemu:frontend>")
        for s in props:
            ov += c(s.why, s.rules, "        ")
            if isinstance(s.value, bool) or s.value in ("on", "off") and s.key == "x-igd-opregion":
                typ, val = "bool", "true" if s.value in (True, "on") else "false"
            elif isinstance(s.value, int):
                typ, val = "unsigned", str(s.value)
            else:
                typ, val = "string", str(s.value)
            ov.append(f"        <qemu:property name={quoteattr(s.key)} type='{typ}' value={quoteattr(val)}/>")
        ov.append("      </qemu:frontend>")
        ov.append("    </qemu:device>")
        ov.append("  </qemu:override>")
    return {"os": os_el, "devices": dev, "override": ov}


def render_libvirt(p: P.Plan, explain: bool = False) -> str:
    pieces = libvirt_pieces(p, explain)
    out = [_xml_comment("in <domain type='kvm'>: replace <os>, add to <devices>" + (
        f"; the <domain> element declares xmlns:qemu='{LIBVIRT_QEMU_NS}'" if pieces["override"] else ""))]
    for part in ("os", "devices", "override"):
        out += pieces[part]
    return "\n".join(out) + "\n"


def libvirt_domain(p: P.Plan, name: str = "igd-vm") -> str:
    """The pieces in a minimal whole domain (what virt-xml-validate and ``check --libvirt`` take)."""
    pieces = libvirt_pieces(p)
    body = "\n".join(pieces["os"] + pieces["devices"] + [line.replace(f" xmlns:qemu='{LIBVIRT_QEMU_NS}'", "") for line in pieces["override"]])
    return (f"<domain type='kvm' xmlns:qemu='{LIBVIRT_QEMU_NS}'>\n  <name>{name}</name>\n  <memory unit='MiB'>4096</memory>\n"
            f"{body}\n</domain>\n")


# -- Proxmox ----------------------------------------------------------------------------------------


def proxmox_lines(p: P.Plan) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(key, value, why, rules)`` of the Proxmox VM config (qemu-server keys)."""
    out: list[tuple[str, str, str, tuple[str, ...]]] = []
    m = p.setting("machine")
    legacy = p.mode == "legacy"
    out.append(("machine", m.value, m.why + ("; Proxmox refuses legacy-igd on q35" if legacy else "; Proxmox's pcie=1 needs q35"), m.rules))
    fw = p.setting("firmware")
    out.append(("bios", fw.value, fw.why + ("; OVMF also wants an efidisk0 for its variables" if fw.value == "ovmf" else ""), fw.rules))
    v = p.setting("vga")
    out.append(("vga", "none", v.why + ("; Proxmox refuses legacy-igd otherwise" if legacy else ""), v.rules))
    opts = [P.HOST]
    a = p.setting("address")
    if legacy:
        opts.append("legacy-igd=1")
        why = "the IGD, host 0000:00:02.0; legacy-igd=1 makes Proxmox put it at guest 00:02.0 on pci.0 (and keep 00:1f.0 free)"
    else:
        opts.append("pcie=1")
        why = "the IGD, host 0000:00:02.0, as a PCIe device (q35); args: below moves it to guest 00:02.0 on pcie.0"
    rom = p.value("romfile")
    if rom:
        base = rom.rsplit("/", 1)[-1]
        opts.append(f"romfile={base}")
        why += f"; romfile: Proxmox reads /usr/share/kvm/{base} (copy the ROM there)"
    if p.value("rombar") is not None:
        opts.append("rombar=1")
        why += "; rombar=1: " + p.setting("rombar").why
    out.append((PVE_KEY, ",".join(opts), why, a.rules))
    sets: list[str] = []
    if not legacy:
        bus = str(p.value("address")).partition(":")[0]
        sets += [f"-set device.{PVE_KEY}.bus={bus}", f"-set device.{PVE_KEY}.addr=0x2"]
    for s in p.device_properties():
        sets.append(f"-set device.{PVE_KEY}.{s.key}={_prop_value(s.value)}")
    if sets:
        reasons = ([a.why] if not legacy else []) + [f"{s.key}: {s.why}" for s in p.device_properties()]
        out.append(("args", " ".join(sets), "QEMU options Proxmox has no key for: " + "; ".join(reasons), tuple(r for s in p.device_properties() for r in s.rules)))
    return out


def render_proxmox(p: P.Plan, vmid: str = "VMID", explain: bool = False) -> str:
    lines = proxmox_lines(p)
    out = ["# /etc/pve/qemu-server/" + (f"{vmid}.conf" if vmid != "VMID" else "VMID.conf") + " lines:"]
    for key, val, why, rules in lines:
        out += _why(why, rules, explain)
        out.append(f"{key}: {val}")
    out.append("")
    out.append("# or the same with qm set:")
    for key, val, why, rules in lines:
        out.append(f"qm set {vmid} --{key} {shlex.quote(val)}")
    return "\n".join(out) + "\n"


def render_config(p: P.Plan, fmt: str, vmid: str = "VMID", explain: bool = False) -> str:
    if fmt == "qemu":
        return render_qemu(p, explain)
    if fmt == "libvirt":
        return render_libvirt(p, explain)
    return render_proxmox(p, vmid, explain)


# -- the whole answer --------------------------------------------------------------------------------


def _header(p: P.Plan) -> list[str]:
    igd = f"{p.device_id:04x}" + (f" ({p.platform})" if p.platform else "") if p.device_id is not None else "unknown IGD"
    qv = P.qemu.text(p.qemu_version) if p.qemu_version else "of unknown version (judged: " + ", ".join(p.qemu_judged) + ")"
    return [f"# igdscope plan: {MODE_NAMES[p.mode]} for IGD {igd}, QEMU {qv}, {p.firmware.upper() if p.firmware == 'ovmf' else 'SeaBIOS'}"]


def render(p: P.Plan, fmt: str, vmid: str = "VMID", explain: bool = False) -> str:
    out = _header(p)
    if not p.feasible:
        return "\n".join(out + _refusal(p, "no configuration passes these rules")) + "\n"
    if p.verdict == "unknown":
        out.append("# not verified: check could not decide " + ", ".join(r["id"] for r in p.unknown) + " (give a host capture and --qemu-version)")
        for r in p.by_qemu:
            out.append(f"#   QEMU {r['qemu']}: {r['verdict']}" + (f" ({', '.join(r['failing'])})" if r["failing"] else ""))
    else:
        out.append("# check: every rule for this mode passes with this configuration")
    for r in p.cautions:
        out.append(f"# caution {r['id']}: {r['evidence']}" + (f"; {r['fix']}" if r["fix"] else ""))
    for x in p.possible:
        out.append(f"# possible: {x}")
    return "\n".join(out) + "\n" + render_config(p, fmt, vmid, explain)


def as_json(p: P.Plan, fmt: str, vmid: str = "VMID") -> dict:
    doc = p.plain()
    if p.feasible:
        doc["qemu_args"] = P.qemu_args(p)
        doc["libvirt"] = "\n".join(line for part in libvirt_pieces(p).values() for line in part) + "\n"
        doc["proxmox"] = [{"key": k, "value": v, "why": w} for k, v, w, _ in proxmox_lines(p)]
        doc["config"] = render_config(p, fmt, vmid)
    return doc


def exit_code(p: P.Plan) -> int:
    return 0 if p.feasible else 1


# -- plan --vm: the changes to an existing VM -------------------------------------------------------

KIND_NAMES = {"qemu": "QEMU command line", "libvirt": "libvirt domain XML", "proxmox": "Proxmox config"}


def _refusal(p: P.Plan, what: str = "no change to this VM passes these rules") -> list[str]:
    """Why a mode cannot work: the failing rules with their fixes, then what would make it possible."""
    out = [f"# {MODE_NAMES[p.mode]} cannot work on this host with this QEMU: {what}"]
    for r in p.failing:
        out.append(f"FAIL {r['id']}: {r['title']}")
        out.append(f"     {r['evidence']}")
        if r["fix"]:
            out.append(f"     fix: {r['fix']}")
    if p.possible:
        out.append("What would make it possible:")
        out += [f"  - {x}" for x in p.possible]
    return out


def render_amend(a, vmid: str = "VMID", explain: bool = False) -> str:
    """An :class:`~igdscope.analysis.amend.Amendment` as text: the changes with their reasons,
    the diff in the config's own format, the amended command line (QEMU) or qm set commands
    (Proxmox), and check's verdict after the changes."""
    asked = MODE_NAMES.get(a.asked, "no mode (no IGD found)") if a.asked else "no mode (no IGD found)"
    out = _header(a.plan)
    out[0] = out[0].replace("# igdscope plan:", "# igdscope plan --vm:", 1)
    out.append(f"# the {KIND_NAMES[a.kind]} asks for {asked}; amending it for {MODE_NAMES[a.mode]}")
    if not a.feasible:
        return "\n".join(out + _refusal(a.plan)) + "\n"
    if not a.changes:
        out.append(f"# no change: this config already {'passes' if a.passes else 'is what igdscope can offer for'} {MODE_NAMES[a.mode]}")
    else:
        out.append(f"# {len(a.changes)} change(s), each with the check rules it fixes; everything else stays as it is")
        for c in a.changes:
            def short(t: str | None, gone: str) -> str:
                if t is None:
                    return gone
                lines = t.splitlines()
                return lines[0] + (f" ... ({len(lines)} lines, in the diff below)" if len(lines) > 1 else "")

            out.append(f"#  {c.what}: {short(c.old, '(absent)')}  ->  {short(c.new, '(removed)')}")
            named = set(a.named)
            fixes = [r for r in c.rules if r in named]
            meets = [r for r in c.rules if r not in named]
            out.append(f"#    why: {c.why}" + (f" [fixes: {', '.join(fixes)}]" if fixes else "")
                       + (f" [meets: {', '.join(meets)}]" if meets and explain else ""))
        out.append(a.diff().rstrip("\n"))
        if a.kind == "qemu":
            out.append("# the amended command line:")
            out.append(a.amended)
        elif a.kind == "proxmox" and a.qm_set:
            out.append("# or the same with qm set:")
            out += [cmd.replace("qm set VMID", f"qm set {vmid}", 1) for cmd in a.qm_set]
    for n in a.notes:
        out.append(f"# note: {n}")
    v = a.after
    if a.passes:
        out.append(f"# check after the changes: {MODE_NAMES[a.mode]} {'works' if v['verdict'] == 'works' else v['verdict']}"
                   + (f" (undecided: {', '.join(v['unknown'])})" if v["verdict"] == "unknown" else ""))
        for cid in v.get("cautions", []):
            out.append(f"# caution {cid} remains (see igdscope check)")
    else:
        out.append(f"# check after the changes: {MODE_NAMES[a.mode]} still {v['verdict']}"
                   + (f"; the config asks for {MODE_NAMES.get(a.after_mode, a.after_mode)}" if a.after_mode != a.mode else "")
                   + ": these rules need a change igdscope does not make here")
        for r in a.failing:
            out.append(f"FAIL {r['id']}: {r['evidence']}")
            if r["fix"]:
                out.append(f"     fix: {r['fix']}")
    return "\n".join(out) + "\n"


def amend_json(a, vmid: str = "VMID") -> dict:
    doc = a.plain()
    doc["qm_set"] = [cmd.replace("qm set VMID", f"qm set {vmid}", 1) for cmd in doc["qm_set"]]
    doc["plan"] = a.plan.plain()
    return doc


def amend_exit_code(a) -> int:
    return 0 if a.passes else 1
