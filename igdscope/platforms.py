"""Device ID → platform, graphics generation, register layouts, and QEMU's generation per era.

The data lives in ``specs/platforms.tsv``, ``specs/host-bridges.tsv`` and ``specs/qemu-igd-gen.tsv``
(installed as the package ``igdscope._specs``), each with its sources in its header comments.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

# QEMU eras of igd_gen(): the code changed in 9.2 and again in 10.0.
QEMU_ERAS = {"A": "2016-9.1", "B": "9.2", "C": "10.0+"}
# QEMU's own host bridges, as a guest sees them at 00:00.0: device ID -> (machine, chipset or None)
QEMU_HOST_BRIDGES = {0x1237: ("i440FX", None), 0x29C0: ("Q35", "ICH9 MCH")}


@dataclass(frozen=True)
class Platform:
    device_id: int
    platform: str
    name: str
    variant: str
    gen: float  # i915/xe graphics version (7.5 for Haswell, 12.7 for Xe-LPG)
    ggc_layout: str
    bdsm: str  # "0x5c", "0xc0" or "none"
    early_quirk: str

    @property
    def gen_text(self) -> str:
        return f"{self.gen:g}"

    def qemu_gen(self, era: str) -> int:
        return qemu_gen(self.device_id, era)


def _spec_text(name: str) -> str:
    """A data file of ``specs/``: installed as ``igdscope._specs``, or beside the package in a checkout."""
    local = Path(__file__).resolve().parent.parent / "specs" / name
    if local.is_file():
        return local.read_text(encoding="utf-8")
    from importlib import (
        resources,  # only an installed package needs it (and it is slow to import)
    )

    return resources.files("igdscope._specs").joinpath(name).read_text(encoding="utf-8")


def _rows(name: str) -> list[dict[str, str]]:
    text = "".join(line for line in io.StringIO(_spec_text(name)) if not line.startswith("#"))
    return list(csv.DictReader(io.StringIO(text), delimiter="\t"))


@cache
def table() -> dict[int, Platform]:
    out: dict[int, Platform] = {}
    for r in _rows("platforms.tsv"):
        did = int(r["device_id"], 16)
        out[did] = Platform(
            device_id=did,
            platform=r["platform"].strip(),
            name=r["name"].strip(),
            variant=r.get("variant", "").strip(),
            gen=float(r["gen"]),
            ggc_layout=r["ggc_layout"].strip(),
            bdsm=r["bdsm"].strip(),
            early_quirk=r.get("early_quirk", "").strip(),
        )
    return out


@cache
def _qemu_rules() -> dict[str, list[tuple[int, int, int]]]:
    rules: dict[str, list[tuple[int, int, int, int]]] = {}
    for r in _rows("qemu-igd-gen.tsv"):
        rules.setdefault(r["era"].strip(), []).append((int(r["order"]), int(r["mask"], 16), int(r["value"], 16), int(r["gen"])))
    return {era: [(m, v, g) for _, m, v, g in sorted(rs)] for era, rs in rules.items()}


def qemu_gen(device_id: int, era: str) -> int:
    """QEMU's igd_gen() for ``device_id`` in ``era`` (A, B or C); -1 = unsupported."""
    for mask, value, gen in _qemu_rules()[era]:
        if device_id & mask == value:
            return gen
    return -1


def lookup(device_id: int) -> Platform | None:
    return table().get(device_id)


def by_name(name: str) -> Platform | None:
    """The first table entry of a platform code (``CFL``) — for decoding without an IGD."""
    want = name.strip().upper()
    for p in table().values():
        if p.platform.upper() == want:
            return p
    return None


@cache
def host_bridges() -> dict[int, str]:
    """Host bridge (00:00.0) device ID -> platform code of the IGD table."""
    return {int(r["device_id"], 16): r["platform"].strip() for r in _rows("host-bridges.tsv")}


def by_host_bridge(device_id: int) -> Platform | None:
    """The platform a host bridge's device ID names (the first IGD row of that platform code)."""
    code = host_bridges().get(device_id)
    return by_name(code) if code else None
