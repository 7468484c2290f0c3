"""A whole capture decoded: every device's config space by its role and the capture's platform,
the OpRegion, every VBT copy, the option ROM and the GGTT summary, with the cross-checks between
devices — as one typed, read-only :class:`Decoded`. What ``igdscope show`` and ``dump`` print
(:meth:`Decoded.plain`) and what check, diff, the gtt commands and the TUI read.

The per-format payloads (a device's registers, the OpRegion, a VBT) stay the decoders' plain
data: their fields are the schemas' and the kernel's names. What every consumer needs across
formats — identities, roles, the summary registers, stolen memory — is typed here, worked out
once."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from igdscope.capture import Capture
from igdscope.decode.devices import (
    capture_platform,
    cross_checks,
    decode_config,
    platform_plain,
)
from igdscope.errors import BadInput

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class DecodedDevice:
    """One PCI function of a capture, decoded. ``plain`` is the decoder's dict, as ``show --json``
    prints it under ``devices``; the properties are the parts consumers ask for by name."""

    key: str  # the key in Decoded.devices: the role, or the address for an extra display device
    bdf: str
    role: str
    plain: Mapping[str, Any]

    @property
    def error(self) -> str | None:
        """Why the config space could not be decoded (or was not captured), None when it was."""
        return self.plain.get("error") or self.plain.get("missing")

    @property
    def identity(self) -> Mapping[str, Any]:
        return self.plain.get("identity") or _EMPTY

    @property
    def summary(self) -> Mapping[str, Any]:
        """GGC/GMS/GGMS, DSM/GSM sizes, BDSM, BGSM, TOLUD, ASLS, IVD ... as the device's registers
        give them (keys exist only for what the platform's registers hold)."""
        return self.plain.get("summary") or _EMPTY

    @property
    def vendor(self) -> int | None:
        return self.identity.get("vendor")

    @property
    def device(self) -> int | None:
        return self.identity.get("device")

    @property
    def class_code(self) -> int | None:
        return self.identity.get("class")

    @property
    def emulated(self) -> str | None:
        """The emulated chipset this host bridge's ID names (a guest's view), None otherwise."""
        return self.plain.get("emulated")


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


def _stolen(igd: Mapping[str, Any], hb: Mapping[str, Any]) -> StolenMemory:
    def pick(key: str) -> Any:
        return igd[key] if igd.get(key) is not None else hb.get(key)

    return StolenMemory(gms=pick("gms"), dsm_bytes=igd.get("dsm_bytes") or hb.get("dsm_bytes"), bdsm=pick("bdsm"), ggms=pick("ggms"),
                        gsm_bytes=igd.get("gsm_bytes") or hb.get("gsm_bytes"), bgsm=hb.get("bgsm"), tolud=hb.get("tolud"))


@dataclass(frozen=True)
class Decoded:
    """A capture decoded (see the module doc). Built by :func:`decode`; read-only."""

    machine: str
    platform: Mapping[str, Any] | None
    devices: Mapping[str, DecodedDevice]
    findings: tuple[str, ...]
    blobs: Mapping[str, Mapping[str, Any]]
    opregion: Mapping[str, Any] | None
    vbt: tuple[Mapping[str, Any], ...]
    rom: Mapping[str, Any] | None
    gtt: Mapping[str, Any] | None = None
    has_gtt_summary: bool = False
    _order: tuple[str, ...] = field(default=(), repr=False)

    def device(self, role: str) -> DecodedDevice | None:
        """The device of a role ("igd", "host_bridge", "lpc"), or an extra display device by role
        "display" (the first one)."""
        d = self.devices.get(role)
        if d is not None:
            return d
        return next((d for d in self.devices.values() if d.role == role), None)

    def summary(self, role: str) -> Mapping[str, Any]:
        d = self.device(role)
        return d.summary if d is not None else _EMPTY

    @property
    def stolen(self) -> StolenMemory:
        return _stolen(self.summary("igd"), self.summary("host_bridge"))

    def plain(self) -> dict[str, Any]:
        """The decoded capture as ``show --json`` / ``dump --json`` print it (see specs/capture.md)."""
        out: dict[str, Any] = {"machine": self.machine, "platform": thaw(self.platform),
                               "devices": {k: thaw(self.devices[k].plain) for k in self._order}, "findings": list(self.findings),
                               "blobs": {k: thaw(v) for k, v in self.blobs.items()}, "opregion": thaw(self.opregion),
                               "vbt": [thaw(v) for v in self.vbt], "rom": thaw(self.rom)}
        if self.has_gtt_summary:
            out["gtt"] = thaw(self.gtt)
        return out


def _freeze(v: Any) -> Any:
    if isinstance(v, dict):
        return MappingProxyType({k: _freeze(x) for k, x in v.items()})
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return v


def thaw(v: Any) -> Any:
    """Plain dicts and lists again (for JSON) from a read-only piece of a :class:`Decoded`."""
    if isinstance(v, Mapping):
        return {k: thaw(x) for k, x in v.items()}
    if isinstance(v, tuple):
        return [thaw(x) for x in v]
    return v


def stolen_of(cap: Capture, platform: str | None = None) -> StolenMemory:
    """:attr:`Decoded.stolen` of ``cap`` from its config spaces alone (no firmware decoded)."""
    plat = capture_platform(cap, platform)
    summaries: dict[str, Mapping[str, Any]] = {}
    for role in ("igd", "host_bridge"):
        d = cap.device(role)
        cfg = cap.config(role)
        if d is None or cfg is None:
            continue
        try:
            summaries[role] = decode_config(cfg, role, plat, d.config_size, d.bdf).get("summary") or {}
        except BadInput:
            continue
    return _stolen(summaries.get("igd") or _EMPTY, summaries.get("host_bridge") or _EMPTY)


def decode_capture(cap: Capture, platform: str | None = None, *, with_gtt_summary: bool = True) -> dict[str, Any]:
    """Every part of ``cap`` decoded, as the plain dict ``show --json`` prints (what
    :meth:`Decoded.plain` gives, built directly). ``platform`` overrides the platform the IGD's ID
    names; ``with_gtt_summary=False`` skips the GGTT walk (the TUI and check do not need it)."""
    from igdscope.decode.firmware import gtt_summary, opregion_summary, rom_summary, vbt_copies
    from igdscope.schemas import rom as rom_schema

    plat = capture_platform(cap, platform)
    devices: dict[str, dict] = {}
    for d in cap.devices:
        key = d.bdf if d.role == "display" else d.role
        cfg = cap.blobs[d.config_blob].data if d.config_blob in cap.blobs else None
        if cfg is None:
            devices[key] = {"bdf": d.bdf, "role": d.role, "missing": "config space not captured"}
            continue
        try:
            devices[key] = decode_config(cfg, d.role, plat if d.role != "display" else None, d.config_size, d.bdf)
        except BadInput as exc:
            devices[key] = {"bdf": d.bdf, "role": d.role, "error": str(exc)}
    out: dict[str, Any] = {"machine": cap.machine, "platform": platform_plain(plat), "devices": devices, "findings": cross_checks(devices),
                           "blobs": {k: {"source": b.source, "path": b.path, "bytes": len(b.data), "sha256": b.sha256, "note": b.note}
                                     for k, b in sorted(cap.blobs.items())},
                           "opregion": opregion_summary(cap), "vbt": vbt_copies(cap),
                           "rom": rom_summary(cap.blob("rom")) if "rom" in cap.blobs else None}
    igd = cap.device("igd")
    if out["rom"] is not None and igd is not None:
        out["rom"]["match"] = rom_schema.match_device(out["rom"], igd.device, igd.vendor)
    if with_gtt_summary and "gtt" in cap.blobs:
        out["gtt"] = gtt_summary(cap, plat)
    return out


def decode(cap: Capture, platform: str | None = None, *, with_gtt_summary: bool = True) -> Decoded:
    """:func:`decode_capture` as the typed, read-only :class:`Decoded`."""
    out = decode_capture(cap, platform, with_gtt_summary=with_gtt_summary)
    devices = out["devices"]
    return Decoded(
        machine=out["machine"],
        platform=_freeze(out["platform"]),
        devices=MappingProxyType({k: DecodedDevice(k, v.get("bdf") or "", v.get("role") or k, _freeze(v)) for k, v in devices.items()}),
        findings=tuple(out["findings"]),
        blobs=_freeze(out["blobs"]),
        opregion=_freeze(out["opregion"]),
        vbt=tuple(_freeze(v) for v in out["vbt"]),
        rom=_freeze(out["rom"]),
        gtt=_freeze(out.get("gtt")),
        has_gtt_summary="gtt" in out,
        _order=tuple(devices),
    )
