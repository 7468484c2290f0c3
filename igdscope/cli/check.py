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


def render(result: dict) -> str:
    out = []
    ident = result.get("igd") or {}
    plat = result.get("platform") or {}
    out.append(f"IGD {ident.get('vendor', 0):04x}:{ident.get('device', 0):04x} {plat.get('platform', '')} ({plat.get('name', 'unknown platform')}); kernel {result.get('kernel') or '?'}; QEMU {result.get('qemu_version') or '?'}")
    if result.get("vm"):
        vm = result["vm"]
        machine = vm["machine"] or (f"{vm['machine_family']} (inferred)" if vm.get("machine_family") else "?")
        out.append(f"VM: {vm['source']} config, machine {machine}, firmware {vm['firmware'] or '?'}; asks for {result['requested_mode'] or '?'}")
    out.append("")
    for mode in MODES:
        v = result["verdicts"][mode]
        mark = {"works": "WORKS", "fails": "FAILS", "unknown": "UNKNOWN"}[v["verdict"]]
        extra = f" - failing: {', '.join(v['failing'])}" if v["failing"] else (f" - unknown: {', '.join(v['unknown'])}" if v["unknown"] else "")
        asked = " (the VM's mode)" if result.get("requested_mode") == mode else ""
        out.append(f"{mode:<13} {mark}{asked}{extra}")
    out.append("")
    order = {"fail": 0, "warn": 1, "unknown": 2, "pass": 3}
    for r in sorted(result["rules"], key=lambda r: order[r["status"]]):
        out.append(f"[{r['status'].upper():<7}] {r['id']}: {r['title']}")
        out.append(f"          {r['evidence']}")
        if r["fix"] and r["status"] != "pass":
            out.append(f"          fix: {r['fix']}")
    return "\n".join(out) + "\n"
