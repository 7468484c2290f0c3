"""DMAR (VT-d) fault lines: read them in every wording the kernel has used, and say where a
faulting address lands relative to the IGD's stolen memory and GGTT.

Wordings seen in kernel logs:
  DMAR:[DMA Write] Request device [00:02.0] fault addr 6df084000       (old, reason on the next
  DMAR:[fault reason 05] PTE Write access is not set                    line)
  DMAR: [DMA Read] Request device [00:02.0] PASID ffffffff fault addr fa700000 [fault reason 06] ...
  DMAR: [DMA Read NO_PASID] Request device [00:02.0] fault addr 0x7cd80000 [fault reason 0x01] ...
  ... Request device [0x00:0x02.0] ...                                  (some kernels)
with timestamps, ``<3>`` log levels, journal ``host kernel:`` prefixes, mail ``>`` quotes, and
lines wrapped by mail clients (after "fault addr", or before the ``[fault reason ..]`` part, which
then sits on a continuation line without a ``DMAR:`` prefix).

A fault storm is rate limited by printk: ``dmar_fault: 893 callbacks suppressed`` stands for that
many fault interrupts whose lines were dropped; :func:`parse_log` counts them per source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# VT-d fault reasons as Linux's dmar.c names them (dma_remap_fault_reasons[]).
FAULT_REASONS = {
    0x00: "Software",
    0x01: "Present bit in root entry is clear",
    0x02: "Present bit in context entry is clear",
    0x03: "Invalid context entry",
    0x04: "Access beyond MGAW",
    0x05: "PTE Write access is not set",
    0x06: "PTE Read access is not set",
    0x07: "Next page table ptr is invalid",
    0x08: "Root table address invalid",
    0x09: "Context table ptr is invalid",
    0x0A: "non-zero reserved fields in RTP",
    0x0B: "non-zero reserved fields in CTP",
    0x0C: "non-zero reserved fields in PTE",
    0x0D: "PCE for translation request specifies blocking",
}

PREFIX = re.compile(
    r"""^(?:\s*>)*\s*                                   # mail quotes
        (?:<\d+>\s*)?                                    # printk level
        (?:[A-Z][a-z]{2}\s+\d+\s+[\d:]+\s+\S+\s+)?       # syslog/journal: "Nov 23 12:00:00 host"
        (?:\[\s*\d+\.\d+\]\s*)?                          # [ 123.456789]
        (?:kernel:\s*)?
        (?:\[\s*\d+\.\d+\]\s*)?""",
    re.X,
)
FAULT = re.compile(
    r"""DMAR:\s*\[(?P<kind>DMA\s+(?:Read|Write)|INTR-REMAP)(?P<pasid_tag>[^\]]{0,64})\]\s*
        Request\s+device\s+\[(?:(?P<dom>[0-9a-fA-F]{4}):)?(?:0x)?(?P<bus>[0-9a-fA-F]{1,2}):(?:0x)?(?P<dev>[0-9a-fA-F]{1,2})\.(?P<fn>[0-7])\]\s*
        (?:PASID\s+(?P<pasid>[0-9a-fA-F]+)\s*)?
        fault\s+(?:addr|index)\s*(?P<addr>(?:0x)?[0-9a-fA-F]+)?
        (?:\s*\[fault\s+reason\s+(?P<reason>(?:0x)?[0-9a-fA-F]+)\]\s*(?P<text>.*))?""",
    re.X,
)
REASON_LINE = re.compile(r"DMAR:\s*\[fault\s+reason\s+(?P<reason>(?:0x)?[0-9a-fA-F]+)\]\s*(?P<text>.*)")
# printk's rate limit: "<function>: <n> callbacks suppressed" (the DMAR fault handler is dmar_fault)
SUPPRESSED = re.compile(r"(?P<source>[A-Za-z_][\w.]*):\s+(?P<count>\d+)\s+callbacks\s+suppressed")


@dataclass
class Fault:
    line: int  # 1-based line of the log where the fault starts
    access: str  # "read", "write" or "interrupt remapping"
    requester: str  # 0000:00:02.0
    address: int | None
    reason: int | None
    reason_text: str
    pasid: str | None

    def plain(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "access": self.access,
            "requester": self.requester,
            "address": self.address,
            "reason": self.reason,
            "reason_text": self.reason_text,
            "pasid": self.pasid,
        }


def _hex(text: str) -> int:
    return int(text, 16)


@dataclass
class Log:
    """The DMAR faults of a log and the fault reports printk's rate limit dropped."""

    faults: list[Fault]
    suppressed: dict[str, int]  # rate-limit source (the kernel function) -> callbacks suppressed

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())


def parse(text: str, limit: int = 100_000) -> list[Fault]:
    """Every DMAR fault in ``text`` (a kernel log, a mail, a forum post)."""
    return parse_log(text, limit).faults


def _continues(line: str) -> bool:
    """A wrapped remainder of the previous line, not a message of its own."""
    t = line.strip()
    return bool(t) and "DMAR" not in t and "Request device" not in t and SUPPRESSED.search(t) is None and not re.match(r"^\S+:\s", t)


def parse_log(text: str, limit: int = 100_000) -> Log:
    """Every DMAR fault in ``text`` plus the rate-limited ones it only counts."""
    lines = [PREFIX.sub("", raw, count=1).rstrip() for raw in text.splitlines()]
    faults: list[Fault] = []
    suppressed: dict[str, int] = {}
    i = 0
    while i < len(lines) and len(faults) < limit:
        line = lines[i]
        sup = SUPPRESSED.search(line)
        if sup and ("dmar" in sup.group("source").lower() or "iommu" in sup.group("source").lower()):
            suppressed[sup.group("source")] = suppressed.get(sup.group("source"), 0) + int(sup.group("count"))
            i += 1
            continue
        if "DMAR" not in line or "Request device" not in line:
            i += 1
            continue
        joined = line
        start = i
        m = FAULT.search(joined)
        if m and m.group("addr") is None and i + 1 < len(lines):  # wrapped after "fault addr"
            i += 1
            joined = f"{joined} {lines[i].strip()}"
            m = FAULT.search(joined)
        if m is None:
            i += 1
            continue
        if m.group("reason") is None and i + 1 < len(lines) and _continues(lines[i + 1]):
            wrapped = FAULT.search(f"{joined} {lines[i + 1].strip()}")  # reason wrapped onto the next line
            if wrapped and wrapped.group("reason") is not None:
                m = wrapped
                i += 1
        reason = _hex(m.group("reason")) if m.group("reason") else None
        reason_text = (m.group("text") or "").strip()
        if reason is None and i + 1 < len(lines):
            r = REASON_LINE.search(lines[i + 1])
            if r:
                reason = _hex(r.group("reason"))
                reason_text = r.group("text").strip()
                i += 1
        if reason is not None and not reason_text:
            reason_text = FAULT_REASONS.get(reason, "")
        kind = m.group("kind").split()
        access = "interrupt remapping" if kind[0] == "INTR-REMAP" else kind[1].lower()
        dom = (m.group("dom") or "0000").lower()
        requester = f"{dom}:{int(m.group('bus'), 16):02x}:{int(m.group('dev'), 16):02x}.{m.group('fn')}"
        pasid = m.group("pasid") or ("NO_PASID" if "NO_PASID" in (m.group("pasid_tag") or "") else None)
        faults.append(Fault(start + 1, access, requester, _hex(m.group("addr")) if m.group("addr") else None, reason, reason_text, pasid))
        i += 1
    return Log(faults, suppressed)


def parse_address(text: str) -> int:
    """An address given on the command line: hex with or without 0x, or a whole fault line."""
    t = text.strip()
    found = parse(t)
    if found and found[0].address is not None:
        return found[0].address
    try:
        return int(t, 16)
    except ValueError:
        raise ValueError(f"not an address or a DMAR fault line: {t[:60]!r}") from None


# -- where an address lands -----------------------------------------------------------------------

REASON_HINTS = {
    0x01: "the IOMMU has no root entry for the bus: the device did DMA before the IOMMU was set up for it (at boot, or right after a reset), typically while still walking a GTT left by the previous owner",
    0x02: "the IOMMU has no context entry for 00:02.0: the device did DMA while attached to no domain (unbound, between drivers, or before QEMU/vfio attached it) - typically the IGD still scanning out or walking a stale GTT",
    0x05: "the page is not writable in the device's IOMMU domain: in a VM, the address is not guest memory (a host address left in the GTT, or stolen memory the guest did not reserve)",
    0x06: "the page is not mapped in the device's IOMMU domain: in a VM, the address is not guest memory (a host address left in the GTT, or stolen memory the guest did not reserve)",
    0x07: "the IOMMU page-table walk failed for this address: the address is outside what the domain maps",
}


@dataclass
class Landscape:
    """What is known about the IGD's memory on one machine (all addresses as that machine sees them)."""

    machine: str = "unknown"
    dsm: tuple[int, int] | None = None  # data stolen memory (base, size)
    gsm: tuple[int, int] | None = None  # GTT stolen memory (base, size)
    tolud: int | None = None
    bars: tuple[tuple[str, int, int], ...] = ()  # (name, start, size)
    gtt: bytes | None = None
    gtt_format: Any = None  # igdscope.schemas.gtt.PteFormat

    @property
    def known(self) -> bool:
        """Whether anything about the machine's memory is known (False: the log alone)."""
        return bool(self.dsm or self.gsm or self.bars or self.gtt is not None or self.tolud is not None)


def classify(address: int, where: Landscape, reason: int | None = None) -> dict[str, Any]:
    """Where ``address`` lands and what that usually means."""
    out: dict[str, Any] = {"address": address, "regions": [], "gtt_entries": [], "meaning": []}
    page = address & ~0xFFF
    if where.dsm and where.dsm[1] and where.dsm[0] <= address < where.dsm[0] + where.dsm[1]:
        out["regions"].append({"name": "data stolen memory (DSM)", "base": where.dsm[0], "offset": address - where.dsm[0]})
        if where.machine == "guest":
            out["meaning"].append("inside the guest's stolen memory (the BDSM its firmware reserved): the guest driver or VBIOS uses it, and QEMU must have mapped it")
        else:
            out["meaning"].append("inside the host's stolen memory: a device in a VM reaching host stolen memory means the VBIOS/GOP or a stale GTT programmed host BDSM addresses; legacy mode emulates BDSM so the guest reserves its own")
    if where.gsm and where.gsm[1] and where.gsm[0] <= address < where.gsm[0] + where.gsm[1]:
        out["regions"].append({"name": "GTT stolen memory (GSM)", "base": where.gsm[0], "offset": address - where.gsm[0]})
        out["meaning"].append("inside the GGTT's own backing memory")
    for name, start, size in where.bars:
        if start <= address < start + size:
            out["regions"].append({"name": name, "base": start, "offset": address - start})
    if where.gtt is not None and where.gtt_format is not None:
        from igdscope.decode import gtt as gttmod

        hits = gttmod.entries_mapping(where.gtt, where.gtt_format, address)
        out["gtt_entries"] = [{"index": i, "graphics_address": i * 4096} for i in hits]
        if hits:
            out["meaning"].append(f"mapped by GGTT entr{'y' if len(hits) == 1 else 'ies'} {', '.join(str(i) for i in hits[:8])}: the IGD fetched this page through the GGTT; if these entries were left by the host driver, invalidate the GGTT before assigning the IGD")
    if page == 0:
        out["meaning"].append("address 0: a zeroed or not yet programmed pointer (GTT entry, ring or context) - typical right after a reset or at VM start")
    if not out["regions"] and not out["gtt_entries"] and page != 0 and where.known:
        beyond = where.tolud is not None and address >= where.tolud
        out["regions"].append({"name": "outside stolen memory and the captured GGTT" + (" (above TOLUD)" if beyond else "")})
    if reason in REASON_HINTS:
        out["meaning"].append(REASON_HINTS[reason])
    return out
