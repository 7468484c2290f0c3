"""A whole capture decoded: every device's config space by its role and the capture's platform,
the OpRegion, every VBT copy, the option ROM and the GGTT summary, with the cross-checks between
devices. What ``igdscope show`` and ``dump`` print and what check, diff and the TUI read."""

from __future__ import annotations

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
