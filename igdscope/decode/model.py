"""A whole capture decoded: every device's config space by its role and the capture's platform,
the OpRegion, every VBT copy, the option ROM and the GGTT summary, with the cross-checks between
devices. What ``igdscope show`` and ``dump`` print and what check, diff and the TUI read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from igdscope.capture import Capture
from igdscope.decode.devices import (
    capture_platform,
    cross_checks,
    decode_config,
    platform_plain,
)
from igdscope.errors import BadInput


def decode_capture(cap: Capture, platform: str | None = None, *, with_gtt_summary: bool = True) -> dict[str, Any]:
    plat = capture_platform(cap, platform)
    devices: dict[str, dict] = {}
    out: dict[str, Any] = {"machine": cap.machine, "platform": platform_plain(plat), "devices": devices, "findings": []}
    for d in cap.devices:
        cfg = cap.blobs[d.config_blob].data if d.config_blob in cap.blobs else None
        if cfg is None:
            devices[d.bdf if d.role == "display" else d.role] = {"bdf": d.bdf, "role": d.role, "missing": "config space not captured"}
            continue
        try:
            dec = decode_config(cfg, d.role, plat if d.role != "display" else None, d.config_size, d.bdf)
        except BadInput as exc:
            dec = {"bdf": d.bdf, "role": d.role, "error": str(exc)}
        devices[d.bdf if d.role == "display" else d.role] = dec
    out["findings"] += cross_checks(devices)
    out["blobs"] = {k: {"source": b.source, "path": b.path, "bytes": len(b.data), "sha256": b.sha256, "note": b.note} for k, b in sorted(cap.blobs.items())}
    from igdscope.decode.firmware import (
        gtt_summary,
        opregion_summary,
        rom_summary,
        vbt_copies,
    )

    out["opregion"] = opregion_summary(cap)
    out["vbt"] = vbt_copies(cap)
    out["rom"] = rom_summary(cap.blob("rom")) if "rom" in cap.blobs else None
    igd = cap.device("igd")
    if out["rom"] is not None and igd is not None:
        from igdscope.schemas import rom

        out["rom"]["match"] = rom.match_device(out["rom"], igd.device, igd.vendor)
    if with_gtt_summary and "gtt" in cap.blobs:
        out["gtt"] = gtt_summary(cap, plat)
    return out


@dataclass(frozen=True)
class StolenMemory:
    """The IGD's stolen memory as the registers of one capture describe it, worked out once:
    the data stolen memory (GMS -> size, BDSM base) and the GTT stolen memory (GGMS -> size, BGSM
    base), and TOLUD. The IGD's own registers win; the host bridge's (which hold the same fields
    on most generations) fill what the IGD's do not have."""

    gms: int | None = None
    dsm_bytes: int | None = None
    bdsm: int | None = None
    ggms: int | None = None
    gsm_bytes: int | None = None
    bgsm: int | None = None
    tolud: int | None = None

    @property
    def dsm(self) -> tuple[int, int] | None:
        """(base, bytes) of the data stolen memory, when both are known."""
        return (self.bdsm, self.dsm_bytes) if self.bdsm is not None and self.dsm_bytes else None

    @property
    def gsm(self) -> tuple[int, int] | None:
        """(base, bytes) of the GTT stolen memory, when the base is known (its size may be 0)."""
        return (self.bgsm, self.gsm_bytes or 0) if self.bgsm is not None else None


def stolen_memory(decoded: dict[str, Any]) -> StolenMemory:
    """:class:`StolenMemory` of a decoded capture (:func:`decode_capture`'s result)."""
    devices = decoded.get("devices") or {}
    igd = (devices.get("igd") or {}).get("summary") or {}
    hb = (devices.get("host_bridge") or {}).get("summary") or {}

    def pick(key: str) -> Any:
        return igd[key] if igd.get(key) is not None else hb.get(key)

    return StolenMemory(gms=pick("gms"), dsm_bytes=igd.get("dsm_bytes") or hb.get("dsm_bytes"), bdsm=pick("bdsm"), ggms=pick("ggms"),
                        gsm_bytes=igd.get("gsm_bytes") or hb.get("gsm_bytes"), bgsm=hb.get("bgsm"), tolud=hb.get("tolud"))
