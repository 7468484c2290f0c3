"""The OpRegion, VBT and option ROM compared: mailbox fields, VBT blocks and child devices, ROM
images, with byte runs placed in their decoded context."""

from __future__ import annotations

import json
from typing import Any

from igdscope.analysis.diff.core import (
    BREAKS_NO_VBT,
    BREAKS_VBT,
    MAX_BYTE_RUNS,
    _byte_runs,
    _flatten,
    _hex_slice,
    _Out,
    _plain,
)
from igdscope.capture import Capture
from igdscope.decode.firmware import rom_summary, vbt_decode
from igdscope.errors import BadInput
from igdscope.schemas.opregion import leaves as op_leaves

# -- OpRegion ----------------------------------------------------------------------------------------

# Fields the OS driver and ACPI code write while running (kernel intel_opregion.c, opregion.md §4-§6):
# a snapshot taken at another moment, or the guest's own copy after its driver ran, differs there.
OPREGION_RUNTIME = (
    "mailboxes.acpi.",
    "mailboxes.swsci.",
    "mailboxes.backlight_3x.bcl1", "mailboxes.backlight_3x.bcl2", "mailboxes.backlight_3x.cbl1", "mailboxes.backlight_3x.cbl2",
    "mailboxes.asle.ardy", "mailboxes.asle.aslc", "mailboxes.asle.tche", "mailboxes.asle.alsi", "mailboxes.asle.bclp",
    "mailboxes.asle.pfit", "mailboxes.asle.cblv", "mailboxes.asle.cpfm", "mailboxes.asle.epfm", "mailboxes.asle.iuer",
    "mailboxes.asle.stat", "mailboxes.asle.srot",
    "header.driver_ver",
)
def _vfio_expected(hf: dict) -> tuple[str, int]:
    """(version text minus revision, RVDA) vfio-pci's region shows for a host OpRegion with these facts."""
    ext = hf["major"] >= 2 and hf["rvda"] != 0 and hf["rvds"] != 0
    major, minor = hf["major"], hf["minor"]
    if ext and (major, minor) == (2, 0):
        minor = 1
    return f"{major}.{minor}", 0x2000 if ext else 0


def _diff_opregion(out: _Out, prefix: str, dx: bytes, dy: bytes, *, host_guest: bool, vbt_handled: bool = False) -> None:
    """Field-by-field OpRegion comparison. ``host_guest``: y is the guest's copy of x."""
    lx, fx = op_leaves(dx)
    ly, fy = op_leaves(dy)
    if not fy["signature_ok"]:
        out.add(f"{prefix}.header.signature", lx.get("header.signature", (None,))[0], ly.get("header.signature", (None,))[0], "unexpected",
                "no 'IntelGraphicsMem' signature" + (" at the guest's ASLS" if host_guest else " in b"),
                BREAKS_NO_VBT if host_guest else "i915 ignores an OpRegion without its signature: no VBT, no ACPI display notifications")
        return
    exp_version, exp_rvda = _vfio_expected(fx)
    vfio_rule = ("vfio-pci (Linux 5.16+) presents an OpRegion 2.0 with an extended VBT as 2.1 with RVDA 0x2000, the VBT "
                 "right after the 8 KiB OpRegion (RVDA reads 0 without an extended VBT); QEMU copies that view into "
                 "fw_cfg etc/igd-opregion")
    for k in dict.fromkeys([*lx, *ly]):
        (vx, ox, _), (vy, oy, _) = lx.get(k, (None, 0, 0)), ly.get(k, (None, 0, 0))
        if vx == vy and not (host_guest and vy is not None and _vfio_differs(k, vy, exp_version, exp_rvda)):
            continue
        at = f"OpRegion offset {(ox or oy):#x}"
        path = f"{prefix}.{k}"
        if vy is None or vx is None:
            short = "b" if vy is None else "a"
            label = "unexpected" if vy is None and host_guest else "info"
            out.add(path, vx, vy, label, f"{at} lies past the end of {short}'s OpRegion dump ({(fy if vy is None else fx)['bytes']} bytes)",
                    "the guest's OpRegion is shorter than the OpRegion i915 maps (8 KiB)" if label == "unexpected" else None)
            continue
        if k == "header.version":
            if vy.rsplit(".", 1)[0] == exp_version and exp_version != vx.rsplit(".", 1)[0]:
                out.add(path, vx, vy, "expected", f"{at}: {vfio_rule}")
            elif host_guest:
                out.add(path, vx, vy, "unexpected", f"{at}: the guest's copy should read {exp_version} (the vfio view of this host's {vx})",
                        "i915 reads RVDA as absolute (2.0) or relative (2.1+) by this version: a wrong version makes it miss the extended VBT (no VBT in the guest)")
            else:
                out.add(path, vx, vy, "info", f"{at}: OpRegion structure version")
            continue
        if k == "mailboxes.asle.rvda":
            if vy == exp_rvda:
                out.add(path, vx, vy, "expected", f"{at}: {vfio_rule}")
            elif host_guest:
                out.add(path, vx, vy, "unexpected", f"{at}: the vfio view of this host's OpRegion reads RVDA {exp_rvda:#x}", BREAKS_NO_VBT)
            else:
                out.add(path, vx, vy, "info", f"{at}: raw (extended) VBT address")
            continue
        runtime = any(k == r or (r.endswith(".") and k.startswith(r)) or k.startswith(r + ".") or k.startswith(r + "[") for r in OPREGION_RUNTIME)
        if runtime:
            label = "expected" if host_guest else "info"
            why = (f"{at}: written at run time by the OS driver and ACPI code; the guest's copy is a snapshot of the host's at VM start, "
                   "then its own driver writes it") if host_guest else f"{at}: written at run time by the OS driver and ACPI code"
            out.add(path, vx, vy, label, why)
            continue
        is_bytes = isinstance(vx, (bytes, bytearray))
        reserved = ".rsvd" in k or k.endswith("reserved_bits")
        if is_bytes and (len(vx) > 16 or reserved):
            for s, e in _byte_runs(bytes(vx), bytes(vy), gap=8)[:MAX_BYTE_RUNS]:
                label = "info" if reserved or not host_guest else "unexpected"
                out.add(f"{path}[{s:#x}:{e:#x}]", _hex_slice(vx, s, e), _hex_slice(vy, s, e), label,
                        f"OpRegion offset {ox + s:#x}, inside {k}" + (" (reserved)" if reserved else ""),
                        "the guest's OpRegion is not a copy of this host's" if label == "unexpected" else None)
            continue
        if reserved or not host_guest:
            out.add(path, vx, vy, "info", f"{at}" + (" (reserved)" if reserved else ""))
            continue
        breaks = {
            "header.mboxes": "i915 uses only the mailboxes the MBOX bitmap advertises (and follows RVDA only with mailbox 3)",
            "mailboxes.asle.rvds": BREAKS_NO_VBT,
            "header.size": "vfio-pci sizes its OpRegion region from this field; the guest firmware copies that many bytes",
            "mailboxes.asle_ext.bddc": "i915 takes the eDP panel's EDID from mailbox 5: a different panel mode or none",
            "mailboxes.asle_ext.phed": "i915 takes the eDP panel's EDID from mailbox 5: a different panel mode or none",
        }
        brk = next((v for kk, v in breaks.items() if k.startswith(kk)), "the guest's OpRegion is not a copy of this host's: its platform data (backlight tables, versions, panel data) differ")
        out.add(path, vx, vy, "unexpected", f"{at}: QEMU passes the host OpRegion through unchanged except version and RVDA", brk)
    # mailbox 4: the VBT
    from igdscope.schemas import opregion as op

    mx = bytes(dx[op.VBT_OFFSET : op.ASLE_EXT_OFFSET])
    my = bytes(dy[op.VBT_OFFSET : op.ASLE_EXT_OFFSET])
    if mx != my:
        has_x, has_y = mx[:4] == b"$VBT", my[:4] == b"$VBT"
        path = f"{prefix}.mailboxes.vbt"
        if has_x and not has_y:
            out.missing(path, f"VBT ({int.from_bytes(mx[0x18:0x1A], 'little')} bytes)", None, "unexpected",
                        "mailbox 4 (0x400) holds a VBT in a but not in b", BREAKS_NO_VBT)
        elif has_x and has_y and not vbt_handled:
            _diff_vbt(out, path, mx, my, host_guest=host_guest)
        elif has_x and has_y:
            out.add(path, f"VBT, {int.from_bytes(mx[0x18:0x1A], 'little')} bytes", f"VBT, {int.from_bytes(my[0x18:0x1A], 'little')} bytes",
                    "unexpected" if host_guest else "info", "mailbox 4 (0x400) holds a different VBT: its fields are compared under vbt.*", BREAKS_VBT if host_guest else None)
        elif not has_x and has_y:
            out.missing(path, None, "VBT", "info", "mailbox 4 holds a VBT in b only")
        else:
            for s, e in _byte_runs(mx, my, gap=8)[:MAX_BYTE_RUNS]:
                out.add(f"{path}[{s:#x}:{e:#x}]", _hex_slice(mx, s, e), _hex_slice(my, s, e), "info", f"OpRegion offset {0x400 + s:#x}, mailbox 4 (no VBT on either side)")
    # an extended VBT carried inside the data (relative RVDA)
    ex, ey = _ext_vbt(dx, fx), _ext_vbt(dy, fy)
    if ex is not None and ey is not None and ex != ey and not vbt_handled:
        _diff_vbt(out, f"{prefix}.extended_vbt", ex, ey, host_guest=host_guest)
    elif ex is not None and ey is None and len(dy) > op.OPREGION_SIZE:
        out.missing(f"{prefix}.extended_vbt", f"VBT, {len(ex)} bytes", None, "unexpected" if host_guest else "info",
                    "the extended VBT (RVDA/RVDS) is in a's data but not in b's", BREAKS_NO_VBT if host_guest else None)


def _vfio_differs(k: str, guest_value: Any, exp_version: str, exp_rvda: int) -> bool:
    """The guest's copy equals the host's where vfio-pci would have rewritten it."""
    if k == "header.version":
        return str(guest_value).rsplit(".", 1)[0] != exp_version
    if k == "mailboxes.asle.rvda":
        return guest_value != exp_rvda
    return False


def _ext_vbt(data: bytes, facts: dict) -> bytes | None:
    loc = facts.get("extended")
    if loc is None or loc.get("kind") != "relative":
        return None
    off, size = loc["offset"], loc["size"]
    if off + 4 > len(data) or data[off : off + 4] != b"$VBT":
        return None
    return bytes(data[off : off + size])


# -- VBT -----------------------------------------------------------------------------------------------

VBT_SKIP = frozenset({"meaning", "findings", "unparsed"})


def _vbt_tree(data: bytes) -> dict[str, Any] | None:
    try:
        return vbt_decode(data)
    except BadInput:
        return None


def _block_keys(blocks: list[dict]) -> dict[str, dict]:
    """Blocks by key: ``block42`` for the first block of an id, ``block42#2`` ... for later copies."""
    out: dict[str, dict] = {}
    copies: dict[int, int] = {}
    for b in blocks:
        n = copies[b["id"]] = copies.get(b["id"], 0) + 1
        out[f"block{b['id']}" if n == 1 else f"block{b['id']}#{n}"] = b
    return out


def _diff_vbt(out: _Out, prefix: str, vx: bytes, vy: bytes, *, host_guest: bool, lost_is_unexpected: bool = True) -> None:
    """Field-by-field VBT comparison: headers, blocks present, every decoded block field (block 2's
    child devices as ``child[i]``), raw bytes with the block as context where no decoder exists."""
    tx, ty = _vbt_tree(vx), _vbt_tree(vy)
    diff_label = "unexpected" if host_guest else "info"
    if tx is None or ty is None:
        if tx is not None and ty is None:
            out.missing(prefix, "VBT", None, "unexpected" if lost_is_unexpected else "info", "b has no decodable VBT ('$VBT' header)", BREAKS_NO_VBT)
        elif ty is not None:
            out.missing(prefix, None, "VBT", "info", "a has no decodable VBT")
        return
    why_hg = "QEMU passes the host's OpRegion (and so its VBT) through unchanged"
    for part, key in (("header", "vbt_header"), ("bdb", "bdb_header")):
        la: dict[str, Any] = {}
        lb: dict[str, Any] = {}
        _flatten(tx.get(key) or {}, "", la)
        _flatten(ty.get(key) or {}, "", lb)
        for k in dict.fromkeys([*la, *lb]):
            if la.get(k) != lb.get(k):
                ignorable = k in ("vbt_checksum",)
                out.add(f"{prefix}.{part}.{k}", la.get(k), lb.get(k), "info" if ignorable else diff_label,
                        f"VBT {part} field" + (f"; {why_hg}" if host_guest else ""), BREAKS_VBT if diff_label == "unexpected" and not ignorable else None)
    okx, oky = (tx.get("checksum") or {}).get("ok"), (ty.get("checksum") or {}).get("ok")
    if okx != oky:
        out.add(f"{prefix}.checksum_ok", okx, oky, "info", "the VBT checksum (i915 and igt do not check it)")
    bx, by = _block_keys(tx.get("blocks") or []), _block_keys(ty.get("blocks") or [])
    for k in dict.fromkeys([*bx, *by]):
        a, b = bx.get(k), by.get(k)
        if a is None or b is None:
            present = a or b
            desc = f"block {present['id']} ({present.get('name') or 'unknown'}), {present.get('size')} bytes"
            if b is None:
                out.missing(f"{prefix}.{k}", desc, None, "unexpected" if (host_guest or lost_is_unexpected) else "info",
                            "the block is in a's VBT but not in b's", BREAKS_VBT)
            else:
                out.missing(f"{prefix}.{k}", None, desc, diff_label, "the block is in b's VBT but not in a's", BREAKS_VBT if host_guest else None)
            continue
        name = a.get("name") or b.get("name") or "unknown block"
        if "fields" in a and "fields" in b:
            fa, fb = dict(a["fields"]), dict(b["fields"])
            ma: dict[str, Any] = {}
            mb: dict[str, Any] = {}
            if "devices" in fa or "devices" in fb:
                fa["child"] = fa.pop("devices", [])
                fb["child"] = fb.pop("devices", [])
            la, lb = {}, {}
            _flatten(fa, "", la, VBT_SKIP)
            _flatten(fb, "", lb, VBT_SKIP)
            _vbt_meanings(fa, ma)
            _vbt_meanings(fb, mb)
            for f in dict.fromkeys([*la, *lb]):
                if la.get(f) != lb.get(f):
                    ctx = {"x": ma.get(f), "y": mb.get(f)}
                    out.add(f"{prefix}.{k}.{f}", la.get(f), lb.get(f), diff_label,
                            f"block {a['id']} ({name})" + (f"; {why_hg}" if host_guest else ""), BREAKS_VBT if host_guest else None,
                            context=ctx if any(ctx.values()) else None)
            if a.get("size") != b.get("size"):
                out.add(f"{prefix}.{k}.size", a.get("size"), b.get("size"), diff_label, f"block {a['id']} ({name}) data size", BREAKS_VBT if host_guest else None)
        else:
            ra = bytes.fromhex(a.get("raw") or "") if "raw" in a else b""
            rb = bytes.fromhex(b.get("raw") or "") if "raw" in b else b""
            if ra == rb and a.get("size") == b.get("size"):
                continue
            runs = _byte_runs(ra, rb, gap=4)
            if len(ra) != len(rb):
                runs.append((min(len(ra), len(rb)), max(len(ra), len(rb))))
            why = "a later copy of the block, which i915 and igt do not read" if "#" in k else "no field decoder for this block"
            for s, e in runs[:MAX_BYTE_RUNS]:
                out.add(f"{prefix}.{k}.bytes[{s:#x}:{e:#x}]", _hex_slice(ra, s, e) or None, _hex_slice(rb, s, e) or None, diff_label,
                        f"block {a['id']} ({name}), data bytes {s:#x}-{e - 1:#x} ({why})", BREAKS_VBT if host_guest else None)


def _vbt_meanings(fields: dict[str, Any], out: dict[str, Any]) -> None:
    """Field meanings VBT decoders put under ``meaning`` (per block and per child device)."""
    m = fields.get("meaning")
    if isinstance(m, dict):
        for k, v in m.items():
            out[k] = _meaning_text(v)
    for i, child in enumerate(fields.get("child") or []):
        cm = child.get("meaning") if isinstance(child, dict) else None
        if isinstance(cm, dict):
            for k, v in cm.items():
                out[f"child[{i}].{k}"] = _meaning_text(v)


def _meaning_text(v: Any) -> str | None:
    if isinstance(v, dict):
        if v.get("name"):
            return str(v["name"])
        return json.dumps(_plain(v), separators=(",", ":"), default=str)[:120]
    return None if v is None else str(v)


# -- option ROM ------------------------------------------------------------------------------------


def _diff_rom(out: _Out, prefix: str, rx: bytes, ry: bytes, *, label: str, why: str) -> None:
    sx, sy = rom_summary(rx), rom_summary(ry)
    la: dict[str, Any] = {}
    lb: dict[str, Any] = {}
    skip = frozenset({"findings", "vbt_offset"})
    _flatten({k: v for k, v in sx.items() if k not in skip}, "", la)
    _flatten({k: v for k, v in sy.items() if k not in skip}, "", lb)
    for k in dict.fromkeys([*la, *lb]):
        if la.get(k) != lb.get(k):
            lab = label
            brk = None
            if k in ("has_legacy", "has_efi") and la.get(k) and not lb.get(k):
                lab = "unexpected"
                brk = ("legacy BIOS guests (SeaBIOS) get no VBIOS: no boot screen, QEMU legacy mode needs a ROM" if k == "has_legacy"
                       else "UEFI guests get no GOP driver from this ROM: no boot screen")
            out.add(f"{prefix}.{k}", la.get(k), lb.get(k), lab, f"option ROM {k.replace('_', ' ')}; {why}", brk)
    vx, vy = _rom_vbt(rx, sx), _rom_vbt(ry, sy)
    vbt_spans: list[tuple[int, int]] = []
    if vx is not None and vy is not None and vx != vy:
        _diff_vbt(out, f"{prefix}.vbt", vx, vy, host_guest=False)
        vbt_spans = [(sx["vbt_offset"], sx["vbt_offset"] + len(vx)), (sy["vbt_offset"], sy["vbt_offset"] + len(vy))]
    if rx != ry:
        # bytes outside the VBT: with the image (header, PCIR, body) they sit in as context
        runs = [(s, e) for s, e in _byte_runs(rx, ry, gap=16) if not any(a <= s and e <= b for a, b in vbt_spans)]
        if vbt_spans and sx.get("vbt_offset") != sy.get("vbt_offset"):
            runs = []  # the VBT moved: every byte after it shifted, the decoded fields above say what changed
        for s, e in runs[:MAX_BYTE_RUNS]:
            out.add(f"{prefix}.bytes[{s:#x}:{e:#x}]", _hex_slice(rx, s, e), _hex_slice(ry, s, e), label, f"{_rom_where(s, sx, vx)}; {why}")
        if len(runs) > MAX_BYTE_RUNS:
            out.add(f"{prefix}.bytes", f"{len(runs) - MAX_BYTE_RUNS} more runs", None, label, f"further differing byte runs; {why}")
        if len(rx) != len(ry) and "size" not in {k for k in la if la.get(k) != lb.get(k)}:
            out.add(f"{prefix}.length", len(rx), len(ry), label, f"ROM length; {why}")


def _rom_vbt(data: bytes, summary: dict) -> bytes | None:
    off = summary.get("vbt_offset")
    if off is None:
        return None
    size = int.from_bytes(data[off + 0x18 : off + 0x1A], "little")
    return bytes(data[off : off + max(size, 0x30)])


def _rom_where(off: int, summary: dict, vbt: bytes | None) -> str:
    vo = summary.get("vbt_offset")
    if vo is not None and vbt is not None and vo <= off < vo + len(vbt):
        return f"ROM offset {off:#x}, inside the VBT at {vo:#x}"
    for img in summary.get("images") or []:
        start, length = img.get("offset", 0), img.get("length") or 0
        if start <= off < start + length:
            part = "PCIR" if img.get("pcir_offset") is not None and start + img["pcir_offset"] <= off < start + img["pcir_offset"] + 0x18 else "body"
            return f"ROM offset {off:#x}, image {img.get('index')} ({img.get('kind')}) {part}"
    return f"ROM offset {off:#x}, past the last image"


def _capture_vbt(cap: Capture) -> tuple[bytes | None, str]:
    """The VBT a driver on that machine would use, and where it was."""
    from igdscope.schemas import opregion as op
    from igdscope.schemas import vbt as vbtmod

    for key, where in (("vbt/debugfs", "debugfs i915_vbt"), ("opregion/rvda", "the extended VBT at RVDA")):
        raw = cap.blob(key)
        if raw is not None and raw[:4] == b"$VBT":
            return raw, where
    o = cap.blob("opregion")
    if o is not None:
        raw, where = op.vbt_bytes(o)
        if raw is not None:
            return raw, f"OpRegion {where}"
    rom = cap.blob("rom")
    if rom is not None:
        off = vbtmod.find_vbt(rom)
        if off is not None:
            size = int.from_bytes(rom[off + 0x18 : off + 0x1A], "little")
            return rom[off : off + max(size, 0x30)], f"option ROM at {off:#x}"
    return None, "no VBT"
