"""The Capture: frozen raw bytes plus facts, and its JSON form.

A Capture is the only thing that crosses from the sources (live machine, demo, a file) to the
decoders, checks and views. Its JSON form (``specs/capture.schema.json``, ``specs/capture.md``)
keeps every blob as bytes (base64, zlib-compressed when large) with where it came from and its
sha256, so that any later igdscope can re-decode a dump from a stranger's machine.

Loading is strict and bounded: the file size, every blob's declared size and the total are checked
before anything is decompressed, every blob's sha256 is verified, unknown format versions are
refused and unknown keys are ignored.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from igdscope import __version__
from igdscope.errors import BadInput

FORMAT = "igdscope-capture"
VERSION = 1

# Bounds for loading captures that come from strangers.
MAX_FILE_BYTES = 96 * 1024 * 1024  # the JSON text
MAX_BLOB_BYTES = 16 * 1024 * 1024  # one decoded blob (a GGTT is at most 8 MiB, a ROM BAR 16 MiB)
MAX_TOTAL_BYTES = 64 * 1024 * 1024  # all decoded blobs together
MAX_ITEMS = 4096  # errors, blobs, list entries in facts
MAX_DEVICES = 64  # a capture holds the IGD, the host bridge, the LPC bridge and a few more
COMPRESS_OVER = 4096  # blobs larger than this are stored zlib-compressed

ROLES = ("igd", "display", "host_bridge", "lpc")


@dataclass
class Blob:
    """Raw bytes and their provenance."""

    data: bytes
    source: str  # sysfs, debugfs, vfio, devmem, demo, file, capture
    path: str = ""  # where they were read, as the path on the captured machine
    note: str = ""  # anything a reader must know (e.g. "only 64 of 4096 bytes readable")
    _digest: tuple | None = field(default=None, repr=False, compare=False)

    @property
    def sha256(self) -> str:
        key = (id(self.data), len(self.data))
        if self._digest is None or self._digest[0] != key:
            self._digest = (key, hashlib.sha256(self.data).hexdigest())
        return self._digest[1]


@dataclass(frozen=True)
class Device:
    """One PCI function the capture describes (IGD, host bridge 00:00.0, LPC bridge 00:1f.0).
    Frozen: a source builds it whole (:func:`dataclasses.replace` makes a changed copy)."""

    role: str
    bdf: str
    vendor: int
    device: int
    class_code: int  # 24-bit class code, e.g. 0x030000
    revision: int
    subsystem_vendor: int | None = None
    subsystem_device: int | None = None
    driver: str | None = None
    iommu_group: int | None = None
    iommu_group_members: list[str] = field(default_factory=list)
    sriov: dict[str, Any] | None = None
    resources: list[dict[str, int]] = field(default_factory=list)  # {bar, start, end, flags, size}
    config_blob: str | None = None  # key into Capture.blobs
    config_size: int | None = None  # what the kernel exposes (256 or 4096); blob may be shorter
    boot_vga: bool | None = None

    def bar_size(self, bar: int) -> int:
        for r in self.resources:
            if r["bar"] == bar:
                return r["size"]
        return 0


def _read_only(entries: Mapping[str, Any]) -> Mapping[str, Any]:
    return entries if isinstance(entries, MappingProxyType) else MappingProxyType(dict(entries))


@dataclass(frozen=True)
class Capture:
    """One capture, frozen: every field is set once, when it is made. ``devices`` and ``errors``
    are tuples, ``host``, ``blobs``, ``sources`` and each error read-only mappings (lists and
    dicts given to the constructor are copied). Sources build one with :class:`CaptureBuilder`;
    :meth:`builder` starts a changed copy."""

    machine: str = "unknown"  # host, guest or unknown
    created: str = ""
    tool_version: str = __version__
    host: Mapping[str, Any] = field(default_factory=dict)
    devices: tuple[Device, ...] = ()
    blobs: Mapping[str, Blob] = field(default_factory=dict)
    sources: Mapping[str, Any] = field(default_factory=dict)  # which source gave what, and why not others
    errors: tuple[Mapping[str, str], ...] = ()
    decoded: dict[str, Any] | None = None  # courtesy view; ignored on load

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "host", _read_only(self.host))
        put(self, "devices", tuple(self.devices))
        put(self, "blobs", _read_only(self.blobs))
        put(self, "sources", _read_only(self.sources))
        put(self, "errors", tuple(_read_only(e) for e in self.errors))

    __hash__ = None  # type: ignore[assignment]  # equal by value; mappings do not hash

    # -- helpers -----------------------------------------------------------------------------
    def device(self, role: str) -> Device | None:
        return _device_of(self.devices, role)

    def config(self, role: str) -> bytes | None:
        return _config_of(self.devices, self.blobs, role)

    def blob(self, key: str) -> bytes | None:
        b = self.blobs.get(key)
        return None if b is None else b.data

    def builder(self) -> CaptureBuilder:
        """A mutable copy to build a changed capture from (``.build()`` freezes it again)."""
        return CaptureBuilder.of(self)

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self, decoded: dict[str, Any] | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "tool": {"name": "igdscope", "version": self.tool_version},
            "created": self.created,
            "machine": self.machine,
            "host": dict(self.host),
            "devices": [_device_to_dict(d) for d in self.devices],
            "blobs": {k: _blob_to_dict(b) for k, b in sorted(self.blobs.items())},
            "sources": dict(self.sources),
            "errors": [dict(e) for e in self.errors],
        }
        dec = decoded if decoded is not None else self.decoded
        if dec is not None:
            doc["decoded"] = dec
        return doc

    def to_json(self, decoded: dict[str, Any] | None = None) -> str:
        # compact: json's C encoder only runs without indent; `igdscope show` is the reader's view
        return json.dumps(self.to_dict(decoded), separators=(",", ":")) + "\n"


def _device_of(devices: Iterable[Device], role: str) -> Device | None:
    for d in devices:
        if d.role == role:
            return d
    return None


def _config_of(devices: Iterable[Device], blobs: Mapping[str, Blob], role: str) -> bytes | None:
    d = _device_of(devices, role)
    if d is None or d.config_blob is None or d.config_blob not in blobs:
        return None
    return blobs[d.config_blob].data


class CaptureBuilder:
    """The mutable side of a :class:`Capture`: sources fill one (append devices, set blobs, record
    errors) and hand out :meth:`build`'s frozen Capture. The fields are plain lists and dicts."""

    def __init__(self, machine: str = "unknown", created: str = "", tool_version: str = __version__, *, host: Mapping[str, Any] | None = None,
                 devices: Iterable[Device] = (), blobs: Mapping[str, Blob] | None = None, sources: Mapping[str, Any] | None = None,
                 errors: Iterable[Mapping[str, str]] = ()):
        self.machine = machine
        self.created = created
        self.tool_version = tool_version
        self.host: dict[str, Any] = dict(host or {})
        self.devices: list[Device] = list(devices)
        self.blobs: dict[str, Blob] = dict(blobs or {})
        self.sources: dict[str, Any] = dict(sources or {})
        self.errors: list[dict[str, str]] = [dict(e) for e in errors]

    @classmethod
    def of(cls, cap: Capture) -> CaptureBuilder:
        """A builder holding ``cap``'s facts (top-level copies: the Blob and Device objects are shared)."""
        return cls(cap.machine, cap.created, cap.tool_version, host=cap.host, devices=cap.devices, blobs=cap.blobs, sources=cap.sources, errors=cap.errors)

    def error(self, source: str, reason: str) -> None:
        self.errors.append({"source": source, "reason": reason})

    def device(self, role: str) -> Device | None:
        return _device_of(self.devices, role)

    def config(self, role: str) -> bytes | None:
        return _config_of(self.devices, self.blobs, role)

    def blob(self, key: str) -> bytes | None:
        b = self.blobs.get(key)
        return None if b is None else b.data

    def replace_device(self, which: str, /, **changes: Any) -> Device:
        """Swap the first device whose role is ``which`` for a copy with ``changes``; returns the copy."""
        for i, d in enumerate(self.devices):
            if d.role == which:
                self.devices[i] = dataclasses.replace(d, **changes)
                return self.devices[i]
        raise KeyError(which)

    def build(self) -> Capture:
        return Capture(machine=self.machine, created=self.created, tool_version=self.tool_version, host=self.host, devices=self.devices,
                       blobs=self.blobs, sources=self.sources, errors=self.errors)


def _device_to_dict(d: Device) -> dict[str, Any]:
    return {
        "role": d.role,
        "bdf": d.bdf,
        "vendor": d.vendor,
        "device": d.device,
        "class": d.class_code,
        "revision": d.revision,
        "subsystem_vendor": d.subsystem_vendor,
        "subsystem_device": d.subsystem_device,
        "driver": d.driver,
        "iommu_group": d.iommu_group,
        "iommu_group_members": list(d.iommu_group_members),
        "sriov": d.sriov,
        "resources": list(d.resources),
        "config_blob": d.config_blob,
        "config_size": d.config_size,
        "boot_vga": d.boot_vga,
    }


def _blob_to_dict(b: Blob) -> dict[str, Any]:
    raw = b.data
    if len(raw) > COMPRESS_OVER:
        packed = zlib.compress(raw, 1)
        encoding = "zlib+base64"
    else:
        packed = raw
        encoding = "base64"
    return {
        "source": b.source,
        "path": b.path,
        "note": b.note,
        "size": len(raw),
        "sha256": b.sha256,
        "encoding": encoding,
        "data": base64.b64encode(packed).decode("ascii"),
    }


# -- loading --------------------------------------------------------------------------------


def looks_like_capture(head: bytes) -> bool:
    """Cheap sniff on the first bytes of a file."""
    text = head.lstrip()[:4096]
    return text.startswith(b"{") and FORMAT.encode() in text


def load(path: str | Path) -> Capture:
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"{p}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise BadInput(f"{p}: larger than {MAX_FILE_BYTES >> 20} MiB, not a capture igdscope will load")
    return loads(raw, name=str(p))


def loads(raw: bytes | str, name: str = "capture") -> Capture:
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_FILE_BYTES:
        raise BadInput(f"{name}: larger than {MAX_FILE_BYTES >> 20} MiB, not a capture igdscope will load")
    try:
        doc = json.loads(raw)
    except RecursionError:
        raise BadInput(f"{name}: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"{name}: not valid JSON: {exc}") from None
    return from_dict(doc, name)


def _r(v: Any) -> str:
    """repr() of a value from a file, cut short: error messages stay one readable line."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _need(cond: bool, name: str, msg: str) -> None:
    if not cond:
        raise BadInput(f"{name}: {msg}")


def _need_list(v: Any, limit: int, name: str, what: str) -> None:
    _need(isinstance(v, list), name, f"{what} is not a list")
    _need(len(v) <= limit, name, f"{what} has {len(v)} entries; a capture holds at most {limit}")


def _opt_int(v: Any, name: str, what: str, lo: int = 0, hi: int = (1 << 64) - 1) -> int | None:
    if v is None:
        return None
    _need(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi, name, f"{what} is not an integer in range")
    return v


def _str(v: Any, name: str, what: str, limit: int = 1 << 20, optional: bool = False) -> str | None:
    if v is None and optional:
        return None
    _need(isinstance(v, str) and len(v) <= limit, name, f"{what} is not a string (or too long)")
    return v


def _plain(v: Any, name: str, what: str, depth: int = 0) -> Any:
    """Check a free-form facts tree: bounded depth and size, JSON scalars only."""
    _need(depth <= 16, name, f"{what} nested too deeply")
    if isinstance(v, dict):
        _need(len(v) <= MAX_ITEMS, name, f"{what} has too many keys")
        return {str(k): _plain(x, name, what, depth + 1) for k, x in v.items()}
    if isinstance(v, list):
        _need(len(v) <= MAX_ITEMS, name, f"{what} has too many entries")
        return [_plain(x, name, what, depth + 1) for x in v]
    if isinstance(v, str):
        _need(len(v) <= 1 << 20, name, f"{what} holds a string over 1 MiB")
    return v


# The facts igdscope reads out of `host`, `sources` and `sriov`, by shape (capture.schema.json). The
# rest of those trees is free-form; a known key of another shape is dropped as unread, and said so.
_STR_OR_NULL = "a string or null"


def _is_str_or_null(v: Any) -> bool:
    return v is None or isinstance(v, str)


def _is_str_map(v: Any) -> bool:
    return isinstance(v, dict) and all(_is_str_or_null(x) for x in v.values())


def _module_shape(v: Any) -> str | None:
    if not isinstance(v, dict):
        return "an object"
    if not (v.get("loaded") is None or isinstance(v.get("loaded"), bool)):
        return "an object whose loaded is a boolean"
    if "parameters" in v and not _is_str_map(v["parameters"]):
        return "an object whose parameters are strings"
    return None


def _dmar_shape(v: Any) -> str | None:
    ok = isinstance(v, dict) and isinstance(v.get("name"), str) and all(_is_str_or_null(v.get(k)) for k in ("version", "address", "cap", "ecap"))
    return None if ok else "an object with a name and string values"


def _host_facts(host: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    """``host`` with every known key of the wrong shape removed (and named in ``dropped``)."""
    out = dict(host)

    def drop(key: str, shape: str) -> None:
        dropped.append(f"host.{key} is not {shape} ({type(host[key]).__name__} in the file)")
        out.pop(key, None)

    for key in ("kernel_release", "cmdline", "vfio_pci_disable_vga", "qemu_version"):
        if key in host and not _is_str_or_null(host[key]):
            drop(key, _STR_OR_NULL)
    if "modules" in host:
        mods = host["modules"]
        if not isinstance(mods, dict):
            drop("modules", "an object of modules")
        else:
            kept = {}
            for m, v in mods.items():
                shape = _module_shape(v)
                if shape is None:
                    kept[m] = v
                else:
                    dropped.append(f"host.modules[{_r(m)}] is not {shape}")
            out["modules"] = kept
    if "hypervisor" in host:
        hv = host["hypervisor"]
        if not isinstance(hv, dict):
            drop("hypervisor", "an object")
        elif not (hv.get("cpu_flag") is None or isinstance(hv.get("cpu_flag"), bool)) or not all(_is_str_or_null(x) for k, x in hv.items() if k.startswith("dmi_")):
            drop("hypervisor", "a cpu_flag boolean and dmi_* strings")
    if "iomem" in host and not (isinstance(host["iomem"], list) and all(isinstance(x, str) for x in host["iomem"])):
        drop("iomem", "a list of strings")
    if "dmar" in host:
        units = host["dmar"]
        if not isinstance(units, list):
            drop("dmar", "a list of DMAR units")
        else:
            out["dmar"] = []
            for i, u in enumerate(units):
                if _dmar_shape(u):
                    dropped.append(f"host.dmar[{i}] is not {_dmar_shape(u)}")
                else:
                    out["dmar"].append(u)
    return out


def _source_facts(sources: dict[str, Any], dropped: list[str]) -> dict[str, Any]:
    """``sources`` with a malformed ``discovery`` or ``opregion`` removed (and named in ``dropped``)."""
    out = dict(sources)
    if "discovery" in sources and not _is_str_or_null(sources["discovery"]):
        dropped.append(f"sources.discovery is not a string ({type(sources['discovery']).__name__} in the file)")
        del out["discovery"]
    op = sources.get("opregion")
    if "opregion" in sources and op is not None:
        tried = op.get("tried") if isinstance(op, dict) else None
        ok = (isinstance(op, dict) and _is_str_or_null(op.get("used"))
              and (tried is None or isinstance(tried, list) and all(isinstance(t, dict) and isinstance(t.get("source"), str) and isinstance(t.get("result"), str) for t in tried)))
        if not ok:
            dropped.append("sources.opregion is not an object of used and tried sources")
            del out["opregion"]
    return out


def _sriov_shape(v: dict[str, Any]) -> bool:
    if v.get("role") == "pf":
        return all(isinstance(v.get(k), int) and not isinstance(v.get(k), bool) and v[k] >= 0 for k in ("totalvfs", "numvfs"))
    return v.get("role") == "vf" and isinstance(v.get("physfn"), str)


def _decode_blob(key: str, b: Any, name: str) -> Blob:
    _need(isinstance(b, dict), name, f"blob {_r(key)} is not an object")
    size = _opt_int(b.get("size"), name, f"blob {_r(key)} size", 0, 1 << 63)
    _need(size is not None, name, f"blob {_r(key)} has no size")
    _need(size <= MAX_BLOB_BYTES, name, f"blob {_r(key)} claims {size} bytes (limit {MAX_BLOB_BYTES >> 20} MiB)")
    enc = b.get("encoding")
    _need(enc in ("base64", "zlib+base64"), name, f"blob {_r(key)} has unknown encoding {_r(enc)}")
    text = _str(b.get("data"), name, f"blob {_r(key)} data", limit=MAX_FILE_BYTES)
    digest = _str(b.get("sha256"), name, f"blob {_r(key)} sha256", limit=64)
    try:
        packed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput(f"{name}: blob {_r(key)} is not valid base64") from None
    if enc == "zlib+base64":
        d = zlib.decompressobj()
        try:
            data = d.decompress(packed, size + 1)
        except zlib.error as exc:
            raise BadInput(f"{name}: blob {_r(key)} does not decompress: {exc}") from None
        _need(len(data) <= size and not d.unconsumed_tail, name, f"blob {_r(key)} decompresses to more than its declared {size} bytes")
    else:
        data = packed
    _need(len(data) == size, name, f"blob {_r(key)} holds {len(data)} bytes, declared {size}")
    _need(hashlib.sha256(data).hexdigest() == digest, name, f"blob {_r(key)} sha256 does not match its bytes (corrupted or edited)")
    return Blob(
        data=data,
        source=_str(b.get("source", ""), name, "blob source", 64),
        path=_str(b.get("path", ""), name, "blob path", 4096),
        note=_str(b.get("note", ""), name, "blob note", 4096),
    )


def _decode_device(d: Any, name: str, dropped: list[str]) -> Device:
    _need(isinstance(d, dict), name, "a device entry is not an object")
    role = d.get("role")
    _need(role in ROLES, name, f"device role {_r(role)} is not one of {', '.join(ROLES)}")
    res = d.get("resources") or []
    _need_list(res, 16, name, "device resources")
    resources = []
    for r in res:
        _need(isinstance(r, dict), name, "a resource is not an object")
        resources.append({k: _opt_int(r.get(k), name, f"resource {k}") or 0 for k in ("bar", "start", "end", "flags", "size")})
    members = d.get("iommu_group_members") or []
    _need_list(members, MAX_ITEMS, name, "iommu_group_members")
    sriov = d.get("sriov")
    _need(sriov is None or isinstance(sriov, dict), name, "sriov is not an object")
    boot_vga = d.get("boot_vga")
    _need(boot_vga is None or isinstance(boot_vga, bool), name, "boot_vga is not a boolean")
    if sriov is not None and not _sriov_shape(sriov):
        dropped.append(f"device {_r(d.get('bdf'))} sriov is not a pf with totalvfs and numvfs or a vf with its physfn")
        sriov = None
    return Device(
        role=role,
        bdf=_str(d.get("bdf"), name, "device bdf", 32),
        vendor=_opt_int(d.get("vendor"), name, "vendor", 0, 0xFFFF) or 0,
        device=_opt_int(d.get("device"), name, "device", 0, 0xFFFF) or 0,
        class_code=_opt_int(d.get("class"), name, "class", 0, 0xFFFFFF) or 0,
        revision=_opt_int(d.get("revision"), name, "revision", 0, 0xFF) or 0,
        subsystem_vendor=_opt_int(d.get("subsystem_vendor"), name, "subsystem_vendor", 0, 0xFFFF),
        subsystem_device=_opt_int(d.get("subsystem_device"), name, "subsystem_device", 0, 0xFFFF),
        driver=_str(d.get("driver"), name, "driver", 64, optional=True),
        iommu_group=_opt_int(d.get("iommu_group"), name, "iommu_group", 0, 1 << 31),
        iommu_group_members=[_str(m, name, "iommu group member", 32) for m in members],
        sriov=_plain(sriov, name, "sriov") if sriov is not None else None,
        resources=resources,
        config_blob=_str(d.get("config_blob"), name, "config_blob", 256, optional=True),
        config_size=_opt_int(d.get("config_size"), name, "config_size", 0, 4096),
        boot_vga=boot_vga,
    )


def from_dict(doc: Any, name: str = "capture") -> Capture:
    _need(isinstance(doc, dict), name, "not a capture (top level is not an object)")
    _need(doc.get("format") == FORMAT, name, f"not an igdscope capture (format is {_r(doc.get('format'))})")
    ver = doc.get("version")
    _need(isinstance(ver, int) and not isinstance(ver, bool), name, "capture version is missing")
    if ver > VERSION:
        raise BadInput(f"{name}: capture format version {ver} is newer than this igdscope understands ({VERSION}); upgrade igdscope")
    _need(ver >= 1, name, f"capture format version {ver} is not valid")
    blobs_doc = doc.get("blobs") or {}
    _need(isinstance(blobs_doc, dict), name, "blobs is not an object")
    _need(len(blobs_doc) <= MAX_ITEMS, name, f"blobs has {len(blobs_doc)} entries; a capture holds at most {MAX_ITEMS}")
    declared = 0
    for key, b in blobs_doc.items():  # check every declared size before decompressing anything
        if isinstance(b, dict) and isinstance(b.get("size"), int):
            declared += max(b["size"], 0)  # a negative size (refused below) must not offset the others
    _need(declared <= MAX_TOTAL_BYTES, name, f"blobs declare {declared} bytes in total (limit {MAX_TOTAL_BYTES >> 20} MiB)")
    blobs = {str(k): _decode_blob(str(k), b, name) for k, b in blobs_doc.items()}
    devs = doc.get("devices") or []
    _need_list(devs, MAX_DEVICES, name, "devices")
    dropped: list[str] = []  # facts of the wrong shape, loaded as unread
    devices = [_decode_device(d, name, dropped) for d in devs]
    for d in devices:
        _need(d.config_blob is None or d.config_blob in blobs, name, f"device {d.bdf} names a config blob that is not there")
    errs = doc.get("errors") or []
    _need_list(errs, MAX_ITEMS, name, "errors")
    errors = []
    for e in errs:
        _need(isinstance(e, dict), name, "an error entry is not an object")
        errors.append({"source": _str(e.get("source", ""), name, "error source", 256), "reason": _str(e.get("reason", ""), name, "error reason", 4096)})
    host = doc.get("host") or {}
    _need(isinstance(host, dict), name, "host is not an object")
    sources = doc.get("sources") or {}
    _need(isinstance(sources, dict), name, "sources is not an object")
    tool = doc.get("tool") if isinstance(doc.get("tool"), dict) else {}
    machine = doc.get("machine", "unknown")
    _need(machine in ("host", "guest", "unknown"), name, f"machine {_r(machine)} is not host, guest or unknown")
    created = _str(doc.get("created", ""), name, "created", 64)
    tool_version = _str(tool.get("version", ""), name, "tool version", 64)
    host = _host_facts(_plain(host, name, "host"), dropped)
    sources = _source_facts(_plain(sources, name, "sources"), dropped)
    if len(dropped) > 9:
        dropped[8:] = [f"{len(dropped) - 8} more facts of the wrong shape"]
    errors += [{"source": "capture", "reason": f"{what}; ignored"} for what in dropped][: MAX_ITEMS - len(errors)]
    return Capture(
        machine=machine,
        created=created,
        tool_version=tool_version,
        host=host,
        devices=devices,
        blobs=blobs,
        sources=sources,
        errors=errors,
    )
