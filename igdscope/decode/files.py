"""What a file is (sniffing) and the per-kind decoders ``igdscope show`` dispatches to.

Kinds: ``capture`` (igdscope JSON), ``vbt`` ($VBT), ``opregion`` (IntelGraphicsMem), ``rom``
(0x55AA option ROM), ``config`` (binary PCI config space: 64, 256 or 4096 bytes), ``lspci``
(``lspci -x`` hex dump text).
"""

from __future__ import annotations

from typing import Any

from igdscope import capture as capmod
from igdscope.capture import Capture
from igdscope.decode import lspci, vmtext
from igdscope.decode.firmware import (
    opregion_decode,
    rom_summary,
    vbt_decode,
    vbt_in_sections,
)
from igdscope.errors import BadInput
from igdscope.platforms import Platform

KINDS = ("capture", "vbt", "opregion", "rom", "config", "lspci")
MAX_RAW = 64 << 20


def read_input(name: str) -> bytes:
    """A file (or '-' for standard input) to decode, bounded like a capture; one-line errors."""
    import sys

    limit = capmod.MAX_FILE_BYTES
    if name == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        try:
            with open(name, "rb") as fh:
                data = fh.read(limit + 1)
        except IsADirectoryError:
            raise BadInput(f"{name}: is a directory") from None
        except OSError as exc:
            raise BadInput(f"{name}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise BadInput(f"{name}: larger than {limit >> 20} MiB; not a file igdscope decodes")
    if not data:
        raise BadInput(f"{name}: empty")
    return data


def sniff(data: bytes) -> str | None:
    if capmod.looks_like_capture(data[:8192]):
        return "capture"
    if data.startswith(b"IntelGraphicsMem"):
        return "opregion"
    if data.startswith(b"$VBT"):
        return "vbt"
    if data[:2] == b"\x55\xaa":
        return "rom"
    if len(data) in (64, 256, 4096) and data[:2] not in (b"\x00\x00", b"\xff\xff") and b"\n" not in data[:64]:
        return "config"
    head = data[: 1 << 20]
    if b"\x00" not in head[:4096]:
        try:
            text = head.decode("utf-8", "replace")
        except Exception:  # pragma: no cover - decode with replace cannot fail
            text = ""
        if lspci.looks_like_lspci(text):
            return "lspci"
    if b"$VBT" in data[: 1 << 20]:
        return "vbt"  # a VBT inside something else (e.g. a firmware volume)
    return None


# what each kind is called in messages ("NAME is a VBT, not ...")
KIND_NAMES = {
    "capture": "an igdscope capture", "vbt": "a VBT", "opregion": "an OpRegion", "rom": "an option ROM",
    "config": "a PCI config space", "lspci": "lspci text", **vmtext.KIND_NAMES,
}


def what_is(data: bytes) -> str | None:
    """:func:`sniff`, and for text it does not know, the kind of VM definition it is ("libvirt",
    "proxmox", "proxmox-qm", "qemu"; see :func:`igdscope.decode.vmtext.vm_kind`)."""
    kind = sniff(data)
    if kind is not None:
        return kind
    head = data[: 1 << 20]
    if b"\x00" in head[:4096]:
        return None
    return vmtext.vm_kind(head.decode("utf-8", "replace"), detail=True)


def use_instead(kind: str, name: str, command: str = "check") -> str:
    """The command that reads a file of ``kind``: ``igdscope show x.vbt``, ``igdscope check --libvirt
    win.xml``, ... (``command``: the command a VM definition or capture is given to: check or tui)."""
    import shlex

    q = shlex.quote(name)
    if kind == "capture":
        return f"igdscope {command} {q}"
    if kind in vmtext.KIND_OPTION:
        opt = vmtext.KIND_OPTION[kind]
        return f'igdscope {command} --vm-args "$(cat {q})"' if opt == "--vm-args" else f"igdscope {command} {opt} {q}"
    return f"igdscope show {q}"


def not_a(name: str, kind: str, expected: str, command: str = "check") -> BadInput:
    """``NAME is a libvirt domain XML, not a capture: use igdscope check --libvirt NAME``."""
    return BadInput(f"{name} is {KIND_NAMES.get(kind, kind)}, not {expected}: use {use_instead(kind, name, command)}")


def load_capture(path: str, command: str = "check") -> Capture:
    """The capture in ``path`` (``-``: standard input); any other kind of file igdscope knows (a
    VBT, ROM, OpRegion, config space, lspci text, libvirt XML, Proxmox config, QEMU command line) is
    refused with what it is and the command that reads it."""
    name = "stdin" if path == "-" else path
    data = read_input(path)
    if capmod.looks_like_capture(data[:8192]) or data.lstrip()[:1] == b"{":
        return capmod.loads(data, name=name)  # a capture, or JSON whose own error says what is wrong
    kind = what_is(data)
    if kind is not None:
        raise not_a(name, kind, "a capture", command)
    raise unknown_kind(name, data, ": not an igdscope capture (igdscope dump -o FILE writes one)")


def unknown_kind(name: str, data: bytes, advice: str) -> BadInput:
    """The error for input :func:`sniff` does not know: what it starts with, and what it is when it
    is one of the files people pick up by mistake (a GOP .efi, a BIOS image, a VM definition), else
    ``advice``."""
    vm = what_is(data) if data else None
    if vm in vmtext.KIND_NAMES:
        return BadInput(f"{name} is {KIND_NAMES[vm]}: use {use_instead(vm, name)}")
    head = f"{name}: unknown kind ({len(data)} bytes, starts {data[:8].hex()})"
    if data[:2] == b"MZ":
        return BadInput(f"{head}: a PE/COFF executable (an EFI driver such as a GOP .efi), not an option ROM; "
                        "EDK2's EfiRom wraps one into a ROM: EfiRom -f 0x8086 -i <device id> -e driver.efi")
    if data[0x10:0x14] == b"\x5a\xa5\xf0\x0f":
        return BadInput(f"{head}: an Intel SPI flash image (flash descriptor at 0x10); a VBT stored in it "
                        "(plain or in a compressed section) is found with --kind vbt")
    if data[0x28:0x2C] == b"_FVH":
        return BadInput(f"{head}: a UEFI firmware volume; a VBT stored in it (plain or in a compressed section) is found with --kind vbt")
    return BadInput(f"{head}{advice}")


def decode_file(data: bytes, kind: str, platform: Platform | None = None, name: str = "input") -> dict[str, Any]:
    """Decode one raw file of ``kind`` into plain data (a capture is handled by the caller)."""
    from igdscope.decode.devices import decode_config

    if kind == "config":
        try:
            return {"kind": "config", "device": decode_config(data, None, platform)}
        except BadInput as exc:
            raise BadInput(f"{name}: {exc}") from None
    if kind == "lspci":
        text = data.decode("utf-8", "replace")
        devs = lspci.parse(text)
        if not devs:
            raise BadInput(f"{name}: no lspci hex rows (use lspci -xxx or -xxxx)")
        return {"kind": "lspci", **decode_lspci(devs, platform)}
    decode = {"vbt": vbt_decode, "opregion": opregion_decode, "rom": rom_summary}.get(kind)
    if decode is None:
        raise BadInput(f"{name}: cannot show kind {kind!r}")
    try:
        dec = {"kind": kind, **decode(data)}
    except BadInput as exc:
        raise BadInput(f"{name}: {exc}") from None
    if kind in ("opregion", "rom"):
        dec["vbt_decoded"] = vbt_inside(data, kind, name)
    return dec


def vbt_inside(data: bytes, kind: str, name: str = "input") -> dict[str, Any]:
    """The VBT an OpRegion or option ROM carries, decoded like a VBT file, with ``where`` it was
    (the VBT :func:`extract_vbt` would write out); ``{"where": None, "error": why}`` when there is
    none to decode -- for an OpRegion 2.0 whose extended VBT is at a physical address, the error
    says where it is and how to read it."""
    try:
        raw, where = extract_vbt(data, kind, name)
        return {"where": where, **vbt_decode(raw)}
    except BadInput as exc:
        return {"where": None, "error": str(exc).removeprefix(f"{name}: ")}


def decode_lspci(devs: list[lspci.LspciDevice], platform: Platform | None) -> dict[str, Any]:
    from igdscope.decode.devices import (
        cross_checks,
        decode_config,
        platform_for,
        platform_plain,
        role_of,
    )

    roles = {}
    ids: dict[str, int] = {}
    for d in devs:
        if len(d.data) >= 12:
            vendor = int.from_bytes(d.data[0:2], "little")
            cls = int.from_bytes(d.data[9:12], "little")
            roles[d.bdf] = role_of(vendor, cls, d.bdf)
            if roles[d.bdf] in ("igd", "host_bridge") and vendor == 0x8086 and roles[d.bdf] not in ids:
                ids[roles[d.bdf]] = int.from_bytes(d.data[2:4], "little")
    plat = platform or platform_for(ids.get("igd"), ids.get("host_bridge"))
    devices = {}
    for d in devs:
        role = roles.get(d.bdf, "other")
        try:
            dec = decode_config(d.data, role, plat if role != "other" else None, 4096 if len(d.data) > 256 else 256, d.bdf)
        except BadInput as exc:
            dec = {"bdf": d.bdf, "error": str(exc)}
        dec["description"] = d.description
        dec["findings"] = d.findings + dec.get("findings", [])
        devices[d.bdf] = dec
    by_role = {dec.get("role"): dec for dec in devices.values() if dec.get("role") in ("igd", "host_bridge")}
    findings = cross_checks(by_role)
    if platform is None and plat is not None and "igd" not in ids:
        findings.insert(0, f"platform {plat.platform} ({plat.name}) from the host bridge ID {ids['host_bridge']:#06x}: no IGD in the dump")
    return {"platform": platform_plain(plat), "devices": devices, "findings": findings}


# -- OpRegion / VBT / ROM / GTT ------------------------------------------------------------------



def extract_vbt(data: bytes, kind: str, name: str = "input") -> tuple[bytes, str]:
    """The raw VBT inside ``data`` of ``kind`` and a phrase saying where it was.

    - ``vbt``: the first ``$VBT`` (the file itself, or one inside something else);
    - ``rom``: the first ``$VBT`` in the option ROM, like ``intel_vbt_decode``;
    - ``opregion``: what i915 would use -- the extended VBT at a relative RVDA (2.1+) when the
      bytes are in ``data``, else mailbox 4; an absolute RVDA (2.0) or a relative one beyond the
      data is a :class:`BadInput` naming where the VBT is and how to read it;
    - ``capture``: the debugfs ``i915_vbt`` copy, else the OpRegion's (the extended VBT read from
      /dev/mem, or as for ``opregion``), else the option ROM's; the phrase names the copy used and
      why earlier ones were not.

    The bytes are cut to the VBT header's ``vbt_size``; when fewer are present, all present bytes
    are returned (the caller compares with ``vbt_size`` to warn). No VBT is a :class:`BadInput`.
    """
    from igdscope.schemas import opregion as opmod
    from igdscope.schemas import vbt as vbtmod

    def cut(buf: bytes, off: int, where: str) -> tuple[bytes, str]:
        head = buf[off : off + vbtmod.VBT_HEADER_SIZE]
        if head[:4] != vbtmod.VBT_SIGNATURE:
            raise BadInput(f"{name}: no '$VBT' signature at {where}")
        if len(head) < vbtmod.VBT_HEADER_SIZE:
            raise BadInput(f"{name}: the VBT at {where} is cut inside its 48-byte header ({len(head)} bytes present)")
        size = int.from_bytes(head[0x18:0x1A], "little")
        if size < vbtmod.VBT_HEADER_SIZE:
            raise BadInput(f"{name}: the VBT at {where} says vbt_size {size}, smaller than its own 48-byte header")
        return bytes(buf[off : off + size]), where

    def from_opregion(buf: bytes, label: str) -> tuple[bytes, str]:
        if buf[:16] != opmod.OPREGION_SIGNATURE:
            raise BadInput(f"{name}: {label} does not start with 'IntelGraphicsMem'")
        loc = opmod.extended_vbt_location(buf)
        if loc is not None and loc["kind"] == "absolute":
            raise BadInput(
                f"{name}: the VBT is an extended VBT at physical address {loc['address']:#x} ({loc['size']} bytes; "
                f"OpRegion 2.0 absolute RVDA), outside this {label}: read it from /dev/mem (igdscope dump --allow-devmem)")
        if loc is not None:
            off, size = loc["offset"], loc["size"]
            if off + min(size, vbtmod.VBT_HEADER_SIZE) > len(buf):
                raise BadInput(
                    f"{name}: the VBT is an extended VBT at OpRegion + {off:#x} ({size} bytes, relative RVDA), beyond the "
                    f"{len(buf)} bytes of this {label} (debugfs i915_opregion holds 8 KiB): read the vfio region or /dev/mem")
            return cut(buf[: off + size], off, f"{label} extended VBT (RVDA +{off:#x})")
        if len(buf) < opmod.VBT_OFFSET + vbtmod.VBT_HEADER_SIZE or buf[opmod.VBT_OFFSET : opmod.VBT_OFFSET + 4] != vbtmod.VBT_SIGNATURE:
            raise BadInput(f"{name}: no VBT in the {label}: mailbox 4 does not start with '$VBT' and RVDA/RVDS name no extended VBT")
        return cut(buf[: opmod.OPREGION_SIZE], opmod.VBT_OFFSET, f"{label} mailbox 4")

    def from_scan(buf: bytes, label: str) -> tuple[bytes, str]:
        off = vbtmod.find_vbt(buf, limit=len(buf))
        if off is None:
            raise BadInput(f"{name}: {vbtmod.no_vbt_reason(buf, f'the {label}', limit=len(buf))}")
        return cut(buf, off, f"{label} at {off:#x}")

    if kind == "vbt":
        off = vbtmod.find_vbt(data, limit=len(data))
        if off is None:
            try:
                out, at, container = vbt_in_sections(data, "the file")
            except BadInput as exc:
                raise BadInput(f"{name}: {exc}") from None
            return cut(out, at, f"the file's {container}")
        raw, where = cut(data, off, f"file at {off:#x}")
        return raw, "VBT file" if off == 0 else f"VBT {where}"
    if kind == "rom":
        return from_scan(data, "option ROM")
    if kind == "opregion":
        return from_opregion(data, "OpRegion")
    if kind != "capture":
        raise BadInput(f"{name}: cannot extract a VBT from a {kind} file (give a VBT, option ROM, OpRegion or capture)")

    cap = capmod.loads(data, name=name)
    # the copies in the order they are preferred: (blob, how to cut the VBT out, what to say when absent)
    candidates = (
        ("vbt/debugfs", lambda b: cut(b, 0, "debugfs i915_vbt"), "no debugfs i915_vbt copy"),
        ("opregion/rvda", lambda b: cut(b, 0, "OpRegion extended VBT read from /dev/mem at RVDA"), None),
        ("opregion", lambda b: from_opregion(b, "OpRegion"), "no OpRegion"),
        ("rom", lambda b: from_scan(b, "option ROM"), "no option ROM"),
    )
    skipped: list[str] = []
    for key, extract, absent in candidates:
        blob = cap.blob(key)
        if blob is None:
            if absent:
                skipped.append(absent)
            continue
        try:
            raw, where = extract(blob)
        except BadInput as exc:
            skipped.append(str(exc).removeprefix(f"{name}: "))
            continue
        return raw, f"capture: {where} ({'the VBT i915 selected' if key == 'vbt/debugfs' else '; '.join(skipped)})"
    raise BadInput(f"{name}: no VBT in the capture: {'; '.join(skipped)}")


# -- one blob of a capture ---------------------------------------------------------------------

# The blobs `igdscope dump` writes, by name, and the kind of file their bytes are.
BLOB_KINDS = {"opregion": "opregion", "rom": "rom", "vbt/debugfs": "vbt", "opregion/rvda": "vbt", "gtt": "gtt"}
BLOB_PREFIX_KINDS = {"config/": "config", "vfio/": "config"}
# the vfio config regions QEMU reads in legacy mode, and the device role they belong to
VFIO_CONFIG_ROLES = {"vfio/host_cfg": "host_bridge", "vfio/lpc_cfg": "lpc"}


def blob_kind(key: str, data: bytes) -> str | None:
    """The kind of file a capture blob holds: from its name where dump gives the name, else sniffed."""
    if key in BLOB_KINDS:
        return BLOB_KINDS[key]
    for prefix, kind in BLOB_PREFIX_KINDS.items():
        if key.startswith(prefix):
            return kind
    kind = sniff(data)
    return kind if kind != "capture" else None


def capture_blob(cap: Capture, key: str, name: str = "capture") -> capmod.Blob:
    """Blob ``key`` of a capture; a missing one is a :class:`BadInput` listing the blobs there are."""
    blob = cap.blobs.get(key)
    if blob is None:
        have = ", ".join(sorted(cap.blobs)) or "none"
        raise BadInput(f"{name}: no blob {key!r} in the capture (its blobs: {have})")
    return blob


def decode_blob(cap: Capture, key: str, platform: Platform | None = None, name: str = "capture") -> dict[str, Any]:
    """Decode blob ``key`` of a capture as ``igdscope show`` decodes a file of its kind: an OpRegion
    with its mailboxes and the VBT it carries, a VBT block by block, an option ROM's image chain and
    VBT, a config space with its device's role and the capture's platform (``platform`` overrides).
    ``blob`` says which blob it was and where dump read it. The GGTT is for ``igdscope gtt``."""
    from igdscope.decode.devices import capture_platform, decode_config

    blob = capture_blob(cap, key, name)
    data = blob.data
    label = f"{name} blob {key}"
    kind = blob_kind(key, data)
    if kind == "gtt":
        raise BadInput(f"{label}: the GGTT is shown by 'igdscope gtt show {name}' (entries) or 'igdscope gtt show {name} --summary'")
    if kind is None:
        raise unknown_kind(label, data, "")
    plat = platform or capture_platform(cap)
    if kind == "config":
        dev = next((d for d in cap.devices if d.config_blob == key), None)
        role = dev.role if dev else VFIO_CONFIG_ROLES.get(key)
        try:
            decoded = decode_config(data, role, plat if role != "display" else None, dev.config_size if dev else None,
                                             dev.bdf if dev else None)
        except BadInput as exc:
            raise BadInput(f"{label}: {exc}") from None
        dec = {"kind": "config", "device": decoded}
    else:
        dec = decode_file(data, kind, plat, label)
    dec["blob"] = {"name": key, "source": blob.source, "path": blob.path, "note": blob.note, "bytes": len(data), "sha256": blob.sha256}
    return dec


def extract_blob(data: bytes, kind: str, what: str, name: str = "input") -> tuple[bytes, str]:
    """The raw OpRegion (``what="opregion"``) or option ROM (``"rom"``) a capture holds, as dump
    read it, and a phrase saying from where; other kinds of input are a :class:`BadInput`."""
    label = {"opregion": "OpRegion", "rom": "option ROM"}[what]
    if kind == what:
        raise BadInput(f"{name} is an {label} file already: nothing to extract (extract {what} reads a capture)")
    if kind != "capture":
        raise BadInput(f"{name}: cannot extract an {label} from a {kind} file (give a capture: igdscope dump -o FILE)")
    cap = capmod.loads(data, name=name)
    blob = cap.blobs.get(what)
    if blob is None:
        tried = (cap.sources.get("opregion") or {}).get("tried", []) if what == "opregion" else []
        why = "; ".join(f"{t['source']}: {t['result']}" for t in tried)
        raise BadInput(f"{name}: the capture has no {label}" + (f" ({why})" if why else ""))
    where = f"capture blob {what} (read from {blob.source}" + (f" {blob.path}" if blob.path else "") + (f"; {blob.note}" if blob.note else "") + ")"
    if what == "opregion" and "opregion/rvda" in cap.blobs:
        where += "; its extended VBT at the physical RVDA is blob opregion/rvda (extract vbt writes it)"
    return blob.data, where
