"""The pre-start guards' decision (``igdscope hook run``): does this VM definition assign the IGD,
and does ``check`` say the mode it asks for fails on this host?

A guard blocks a start only for failing rules of the VM's own mode. "Unknown" verdicts (a QEMU
version that cannot be found, a rule that needs what the capture lacks) never block: a guard
that stops VMs on guesses would be switched off by its users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from igdscope.analysis.check import run_checks
from igdscope.capture import Capture

IGD_SLOT = "0000:00:02."  # every Intel IGD is at host 00:02.x (function 0; SR-IOV VFs at .1-.7)


def assigns_igd(vm: Any) -> bool:
    """True when the VM definition passes through a host 00:02.x function (the IGD, one of its
    SR-IOV VFs, or a GVT-g mdev of it)."""
    return any(a.host and a.host.startswith(IGD_SLOT) for a in vm.assigned)


@dataclass
class Judgement:
    block: bool
    mode: str | None  # the VM's mode (check's requested_mode), None: the VM has no IGD
    verdict: str  # "works", "fails", "unknown", or "no-igd"
    failing: list[dict[str, Any]] = field(default_factory=list)  # check's rules, as plain dicts
    qemu_version: str | None = None
    unknown: list[str] = field(default_factory=list)


def judge(cap: Capture | None, vm: Any, qemu_version: str | None = None) -> Judgement:
    """The guard's verdict for ``vm`` on the host ``cap``: block only when the VM's mode fails."""
    if not assigns_igd(vm):
        return Judgement(False, None, "no-igd")
    result = run_checks(cap, vm, qemu_version)
    mode = result["requested_mode"]
    if mode is None:
        return Judgement(False, None, "no-igd", qemu_version=result["qemu_version"])
    v = result["verdicts"][mode]
    ids = set(v["failing"])
    failing = [r for r in result["rules"] if r["id"] in ids and r["status"] == "fail"]
    return Judgement(v["verdict"] == "fails", mode, v["verdict"], failing, result["qemu_version"], list(v.get("unknown", [])))
