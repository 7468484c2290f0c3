"""``igdscope check`` as text: the verdict per mode, then every rule with its evidence and fix;
and the exit status a verdict gives."""

from __future__ import annotations

from igdscope.analysis.check import MODES
from igdscope.errors import EXIT_FINDINGS, EXIT_OK


def exit_code(result: dict) -> int:
    asked = result["requested_mode"]
    if asked is not None:
        return EXIT_OK if result["verdicts"][asked]["verdict"] == "works" else EXIT_FINDINGS
    return EXIT_OK if any(v["verdict"] == "works" for v in result["verdicts"].values()) else EXIT_FINDINGS


def _verdict_text(v: dict) -> str:
    if v.get("by_qemu"):
        parts: dict[str, list[str]] = {}
        for step in v["by_qemu"]:
            parts.setdefault(step["verdict"], []).append(step["qemu"] + (f" ({', '.join(step['failing'])})" if step["failing"] else ""))
        return "DEPENDS ON QEMU - " + "; ".join(f"{k} on {', '.join(vs)}" for k, vs in parts.items())
    if v["verdict"] == "works":
        if v.get("cautions"):
            return f"NO RULE FAILS - but see: {', '.join(v['cautions'])}"
        return "WORKS"
    mark = {"fails": "FAILS", "unknown": "UNKNOWN"}[v["verdict"]]
    extra = f" - failing: {', '.join(v['failing'])}" if v["failing"] else (f" - unknown: {', '.join(v['unknown'])}" if v["unknown"] else "")
    return mark + extra


def render(result: dict) -> str:
    out = []
    if result.get("capture") == "guest":
        out.append("This is a guest capture (taken inside a VM): check judges the host. To see what QEMU changed, compare: igdscope diff HOST.json GUEST.json")
    elif result.get("capture") is None:
        out.append("No host capture: the VM configuration is judged alone; host rules are unknown (igdscope dump -o host.json on the host adds them).")
    ident = result.get("igd") or {}
    plat = result.get("platform") or {}
    qemu = result.get("qemu_version") or ("? (judged as " + ", ".join(result["qemu_judged"]) + ")" if result.get("qemu_judged") else "?")
    if ident:
        out.append(f"IGD {ident.get('vendor', 0):04x}:{ident.get('device', 0):04x} {plat.get('platform', '')} ({plat.get('name', 'unknown platform')}); kernel {result.get('kernel') or '?'}; QEMU {qemu}")
    else:
        out.append(f"IGD not known; kernel {result.get('kernel') or '?'}; QEMU {qemu}")
    if result.get("vm"):
        vm = result["vm"]
        machine = vm["machine"] or (f"{vm['machine_family']} (inferred)" if vm.get("machine_family") else "?")
        out.append(f"VM: {vm['source']} config, machine {machine}, firmware {vm['firmware'] or '?'}; asks for {result['requested_mode'] or '?'}")
    out.append("")
    for mode in MODES:
        asked = " (the VM's mode)" if result.get("requested_mode") == mode else ""
        text = _verdict_text(result["verdicts"][mode])
        head, sep, rest = text.partition(" - ")
        out.append(f"{mode:<13} {head}{asked}{sep}{rest}")
    out.append("")
    order = {"fail": 0, "warn": 1, "unknown": 2, "pass": 3}
    for r in sorted(result["rules"], key=lambda r: order[r["status"]]):
        out.append(f"[{r['status'].upper():<7}] {r['id']}: {r['title']}")
        out.append(f"          {r['evidence']}")
        if r["fix"] and r["status"] != "pass":
            out.append(f"          fix: {r['fix']}")
    return "\n".join(out) + "\n"
