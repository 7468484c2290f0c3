"""Text rendering for people: aligned tables with names, raw values and meanings."""

from __future__ import annotations

from typing import Any, Iterable

from igdscope.schemas.pci import size_text

from igdscope.decode.devices import ROLE_TITLES


def table(rows: Iterable[Iterable[Any]], headers: list[str] | None = None, indent: int = 2) -> str:
    rows = [["" if c is None else str(c) for c in r] for r in rows]
    if headers:
        rows = [headers] + rows
    if not rows:
        return ""
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(max(len(r) for r in rows))]
    lines = []
    for n, r in enumerate(rows):
        cells = [c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append(" " * indent + "  ".join(cells).rstrip())
        if headers and n == 0:
            lines.append((" " * indent + "  ".join("-" * w for w in widths)).rstrip(" "))
    return "\n".join(lines)


def hx(v: int | None, width: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:#0{width + 2}x}" if width else f"{v:#x}"


def _identity(ident: dict) -> str:
    sub = ""
    if ident.get("subsystem_vendor") is not None:
        sub = f"  subsystem {ident['subsystem_vendor']:04x}:{ident['subsystem_device']:04x}"
    return f"{ident['vendor']:04x}:{ident['device']:04x} rev {ident['revision']:02x}  class {ident['class']:06x} ({ident['class_name']}){sub}"


def render_config(dec: dict, title: str | None = None) -> str:
    out = []
    role = dec.get("role", "other")
    head = title or f"{ROLE_TITLES.get(role, role)} {dec.get('bdf') or ''}".rstrip()
    out.append(head)
    if "error" in dec:
        out.append(f"  error: {dec['error']}")
        return "\n".join(out)
    if "missing" in dec:
        out.append(f"  {dec['missing']}")
        return "\n".join(out)
    if dec.get("description"):
        out.append(f"  lspci: {dec['description']}")
    out.append(f"  {_identity(dec['identity'])}   ({dec['bytes']} bytes of config space)")
    plat = dec.get("platform")
    if plat and role in ("igd", "display"):
        q = plat["qemu_gen"]
        out.append(f"  platform {plat['platform']} ({plat['name']}{' ' + plat['variant'] if plat['variant'] else ''}), graphics gen {plat['gen']:g}; QEMU generation 2016-9.1: {q['A']}, 9.2: {q['B']}, 10.0+: {q['C']}")
    hdr = dec["header"]
    cmd = [k for k, v in hdr.get("command", {}).items() if v is True]
    out.append(f"  command: {', '.join(cmd) or 'none'}")
    bars = [b for b in dec.get("bars", []) if b["raw"]]
    if bars:
        out.append("  BARs:")
        out.append(table(([f"BAR{b['bar']}", b["kind"] + (" prefetchable" if b.get("prefetchable") else ""), hx(b["address"])] for b in bars), indent=4))
    if dec.get("capabilities"):
        caps = ", ".join(f"{c['offset']:#04x} {c['name']}" for c in dec["capabilities"])
        out.append(f"  capabilities: {caps}")
    if dec.get("extended_capabilities"):
        caps = ", ".join(f"{c['offset']:#05x} {c['name']}" for c in dec["extended_capabilities"])
        out.append(f"  extended capabilities: {caps}")
    regs = dec.get("registers", [])
    if regs:
        rows = []
        for r in regs:
            if r["raw"] is None:
                rows.append([r["name"], f"{r['offset']:#04x}", "-", "", "", r["missing"]])
                continue
            rows.append([r["name"], f"{r['offset']:#04x}", hx(r["raw"], r["size"] * 2), "", "", r["doc"]])
            for f in r.get("fields", []):
                meaning = f["meaning"] or f["doc"]
                rows.append(["", "", "", f"{f['name']} [{f['bits']}]", "" if meaning.startswith("0x") else hx(f["value"]), meaning])
        out.append("  registers:")
        out.append(table(rows, ["name", "offset", "raw", "field [bits]", "value", "meaning"], indent=4))
    s = dec.get("summary") or {}
    if s:
        out.append("  summary:")
        out.append(table(_summary_rows(s), indent=4))
    for f in dec.get("findings", []):
        out.append(f"  ! {f}")
    return "\n".join(out)


def _summary_rows(s: dict) -> list[list[str]]:
    rows = []
    if "ggc" in s:
        rows.append(["GGC", hx(s["ggc"], 4), f"IVD={int(s['ivd'])} ({'IGD does not decode VGA' if s['ivd'] else 'IGD decodes legacy VGA'})"])
        rows.append(["data stolen memory (DSM)", f"GMS {s['gms']:#x}", size_text(s["dsm_bytes"])])
        if s.get("ggms") is not None:
            rows.append(["GTT stolen memory (GSM)", f"GGMS {s['ggms']:#x}", f"{size_text(s['gsm_bytes'])}; GGTT {size_text(s['gtt_bytes'])} = {s['gtt_entries']} entries"])
    labels = {"bdsm": "BDSM (stolen base)", "bgsm": "BGSM (GTT stolen base)", "tsegmb": "TSEG base", "tolud": "TOLUD", "touud": "TOUUD"}
    for k, label in labels.items():
        if k in s:
            rows.append([label, hx(s[k]), ""])
    if "pciexbar" in s:
        rows.append(["PCIEXBAR (ECAM window)", hx(s["pciexbar"]), size_text(s["pciexbar_bytes"]) + ("" if s.get("pciexbar_enabled") else ", disabled")])
    if s.get("igd_fused_off"):
        rows.append(["CAPID0_A.IGD", "1", "this CPU has no integrated graphics"])
    if "asls" in s:
        rows.append(["ASLS (OpRegion)", hx(s["asls"], 8), "no OpRegion" if s["asls"] in (0, 0xFFFFFFFF) else ""])
    return rows


def render_capture(dec: dict, cap) -> str:
    out = []
    plat = dec.get("platform")
    ptxt = f"{plat['platform']} ({plat['name']}), graphics gen {plat['gen']:g}" if plat else "unknown platform"
    out.append(f"igdscope capture: {dec['machine']} machine, {ptxt}, taken {cap.created or 'at an unknown time'} by igdscope {cap.tool_version}")
    h = cap.host
    if h:
        out.append(f"  kernel {h.get('kernel_release') or '?'}; QEMU {h.get('qemu_version') or 'not found'}")
        if h.get("cmdline"):
            out.append(f"  cmdline: {h['cmdline']}")
        mods = h.get("modules", {})
        loaded = [m for m, v in mods.items() if v.get("loaded")]
        out.append(f"  modules loaded: {', '.join(loaded) or 'none of ' + ', '.join(mods)}; vfio-pci disable_vga: {h.get('vfio_pci_disable_vga') or '-'}")
        hv = h.get("hypervisor", {})
        out.append(f"  hypervisor flag: {'yes' if hv.get('cpu_flag') else 'no'}; DMI: {hv.get('dmi_sys_vendor') or '?'} / {hv.get('dmi_product_name') or '?'}")
        for u in h.get("dmar", []):
            out.append(f"  IOMMU {u['name']}: cap {u.get('cap')} ecap {u.get('ecap')}")
    out.append("")
    rows = []
    for d in cap.devices:
        grp = "-" if d.iommu_group is None else str(d.iommu_group)
        members = f" ({len(d.iommu_group_members)} members)" if d.iommu_group_members else ""
        sriov = ""
        if d.sriov:
            sriov = f"SR-IOV {d.sriov.get('role')}" + (f" {d.sriov.get('numvfs')}/{d.sriov.get('totalvfs')} VFs" if d.sriov.get("role") == "pf" else f" of {d.sriov.get('physfn')}")
        rows.append([ROLE_TITLES.get(d.role, d.role), d.bdf, f"{d.vendor:04x}:{d.device:04x}", f"{d.class_code:06x}", d.driver or "-", grp + members, sriov])
    out.append("Devices")
    out.append(table(rows, ["role", "address", "id", "class", "driver", "IOMMU group", ""]))
    for d in cap.devices:
        res = [r for r in d.resources]
        if res:
            out.append(f"  {d.bdf} resources: " + ", ".join(f"{'ROM' if r['bar'] == 6 else 'BAR' + str(r['bar'])} {r['start']:#x} {size_text(r['size'])}" for r in res))
    for key, ddec in dec["devices"].items():
        out.append("")
        out.append(render_config(ddec))
    for f in dec.get("findings", []):
        out.append(f"! {f}")
    out.append("")
    out.append(render_blob_section(dec))
    if cap.errors:
        out.append("")
        out.append("Errors (sources that could not be read)")
        out.append(table(([e["source"], e["reason"]] for e in cap.errors), indent=2))
    return "\n".join(out).rstrip() + "\n"


def render_blob_section(dec: dict) -> str:
    out = []
    op = dec.get("opregion")
    out.append("OpRegion")
    if not op or not op.get("present"):
        out.append("  not captured")
    elif "error" in op:
        out.append(f"  error: {op['error']}")
    else:
        ext = op.get("extended_vbt")
        ext_txt = "none" if not ext else ", ".join(f"{k} {hx(v) if isinstance(v, int) else v}" for k, v in ext.items())
        out.append(f"  version {op.get('version')}, {op.get('size_kib')} KiB, {op['bytes']} bytes from {op['source']}; mailboxes: {', '.join(op.get('mailboxes') or []) or 'none'}; extended VBT: {ext_txt}")
        for f in op.get("findings", []):
            out.append(f"  ! {f}")
    src = (op or {}).get("sources") or {}
    for t in src.get("tried", []):
        out.append(f"  source {t['source']}: {t['result']}")
    out.append("VBT copies")
    if not dec.get("vbt"):
        out.append("  none found")
    for v in dec.get("vbt", []):
        if "error" in v:
            out.append(f"  {v['where']}: error: {v['error']}")
        else:
            ck = "ok" if v.get("checksum_ok") else "mismatch"
            out.append(f"  {v['where']}: {_bdb_version(v.get('bdb_version'))}, {v.get('vbt_size')} bytes, checksum {ck}, blocks {', '.join(str(b) for b in v.get('blocks', [])) or 'none'}")
    rom = dec.get("rom")
    out.append("Option ROM")
    if not rom:
        out.append("  not captured")
    else:
        out.append(render_rom(rom, indent=2))
    g = dec.get("gtt")
    if g:
        out.append("GGTT")
        if "error" in g:
            out.append(f"  {g['error']}")
        else:
            out.append(f"  {g['entries']} entries of {g['pte_size']} bytes, {g['present']} present; most common value {hx(g['most_common_value'])} x {g['most_common_count']} (the scratch page, if present)")
    out.append("Blobs")
    out.append(table(([k, b["source"], b["bytes"], b["sha256"][:16], b["path"]] for k, b in dec.get("blobs", {}).items()), ["name", "source", "bytes", "sha256", "read from"]))
    if any(k != "gtt" for k in dec.get("blobs", {})):
        out.append("  one blob in full: igdscope show CAPTURE --blob NAME; its raw bytes: igdscope extract opregion|rom|vbt CAPTURE")
    return "\n".join(out)


def render_blob_origin(blob: dict, capture_name: str) -> str:
    """The line above a capture blob shown on its own: which blob of which capture, read from where."""
    note = f" ({blob['note']})" if blob.get("note") else ""
    return f"{capture_name} blob {blob['name']}: {blob['bytes']} bytes read from {blob['source']} {blob['path']}{note}".rstrip() + "\n"


def _id_list(ids: list[int], per_line: int = 12, pad: str = "") -> list[str]:
    words = [f"{i:04x}" for i in ids]
    return [pad + " ".join(words[k : k + per_line]) for k in range(0, len(words), per_line)]


def _coded(v: dict, what: str) -> str:
    """An enum value's name, or 'unknown <what> 0x..' when it has none."""
    return v["name"] if v.get("name") is not None else f"unknown {what} {hx(v.get('value'))}"


def plural(count: int, noun: str) -> str:
    """'1 block', '6 blocks'."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def render_rom(rom: dict, indent: int = 0) -> str:
    """The image chain of an option ROM: each image's header and PCIR, its checksum and device
    list; whether a GOP (EFI) image is there; the VBT inside; and, when known, whether it belongs
    to the IGD (``rom["match"]`` from :func:`igdscope.schemas.rom.match_device`)."""
    pad = " " * indent
    out = [f"{pad}{rom['size']} bytes, {len(rom['images'])} image(s); walk ended: {rom.get('walk_ended', '?')}"]
    for img in rom["images"]:
        p = img.get("pcir") or {}
        kind = img.get("kind", "?")
        extra = ""
        if kind == "efi":
            e = img["efi"]
            extra = " ".join(["", _coded(e["efi_machine_type"], "machine"), _coded(e["efi_subsystem"], "subsystem"),
                              "compression", _coded(e["compression_type"], "type")])
        ck = img.get("checksum") or {}
        if ck:
            extra += f", checksum {ck.get('state', 'ok' if img.get('checksum_ok') else 'bad')}"
        ids = f"{p['vendor_id']:04x}:{p['device_id']:04x}" if p else "?"
        out.append(f"{pad}  image {img.get('index', '?')} at {img['offset']:#x}: {kind}{extra}, {img.get('length', 0)} bytes{', last' if img.get('last') else ''}")
        if p:
            code = p.get("code_type") or {}
            out.append(f"{pad}    PCIR {img.get('pcir_layout', '?')} at {img['offset'] + img.get('pcir_offset', 0):#x}: {ids}, class {p.get('class_code', 0):06x}, "
                       f"code type {code.get('value', '?')} ({code.get('name', '?')}), revision {p.get('revision')}, code revision {p.get('code_revision')}")
        dec = img.get("decompressed")
        if dec:
            sizes = f"{dec['comp_size']} bytes for {dec['orig_size']}" if dec.get("orig_size") is not None else "no compression header"
            state = (f"does not decompress: {dec['error']}" if dec.get("error") else
                     f"the first {dec['size']} bytes decompressed ({dec['stopped']})" if dec.get("stopped") else
                     f"decompressed ({plural(dec['blocks'], 'block')})")
            out.append(f"{pad}    compressed (UEFI algorithm): {sizes}; {state}")
        dl = img.get("device_list")
        if dl:
            out.append(f"{pad}    device list ({len(dl)}):")
            out += _id_list(dl, pad=pad + "      ")
    gop = rom.get("gop")
    if gop is not None:
        state = {True: "present", False: "absent", None: "unknown"}[gop.get("present")]
        out.append(f"{pad}  GOP: {state}" + (f" ({gop['how']})" if gop.get("how") else ""))
    v = rom.get("vbt")
    if v:
        inside = f"in image {v['image']} ({v.get('image_kind')})" if v.get("image") is not None else "outside every image"
        out.append(f"{pad}  VBT at {hx(v['offset'])} {inside}: {v.get('vbt_size')} bytes, {_bdb_version(v.get('bdb_version'))}"
                   + ("" if v.get("complete", True) else ", cut short by the end of the ROM"))
    elif rom.get("vbt_offset") is not None:
        out.append(f"{pad}  VBT at {hx(rom['vbt_offset'])}")
    else:
        out.append(f"{pad}  VBT: not found")
    m = rom.get("match")
    if m:
        verdict = {"pcir": "yes", "device_list": "yes (device list)", "generic": "yes (generic Skylake-and-later ID)", "other": "no", "other_vendor": "no", "no_images": "no"}.get(m["match"], m["match"])
        out.append(f"{pad}  for {m['vendor_id']:04x}:{m['device_id']:04x}? {verdict}: {m['detail']}")
    for f in rom.get("findings", []):
        out.append(f"{pad}  ! {f}")
    return "\n".join(out)


def render_lspci(res: dict) -> str:
    out = []
    plat = res.get("platform")
    out.append(f"lspci dump: {len(res['devices'])} device(s); platform {plat['platform'] + ' (' + plat['name'] + ')' if plat else 'unknown'}")
    for dec in res["devices"].values():
        out.append("")
        out.append(render_config(dec))
    for f in res.get("findings", []):
        out.append(f"! {f}")
    return "\n".join(out) + "\n"


OPREGION_SECTIONS = (  # intel_opregion_decode's section titles, in its order (3.x backlight added)
    ("header", "OpRegion Header"),
    ("acpi", "OpRegion Mailbox 1: Public ACPI Methods"),
    ("swsci", "OpRegion Mailbox 2: Software SCI Interface (SWSCI)"),
    ("backlight_3x", "OpRegion Mailbox 2: Backlight (3.x)"),
    ("asle", "OpRegion Mailbox 3: BIOS to Driver Notification (ASLE)"),
    ("vbt", "OpRegion Mailbox 4: Video BIOS Table (VBT)"),
    ("asle_ext", "OpRegion Mailbox 5: BIOS to Driver Notification Extension"),
)


def _nonzero_rows(raw: bytes, width: int = 16) -> list[str]:
    return [f"+{o:#05x}: " + " ".join(f"{b:02x}" for b in raw[o : o + width]) for o in range(0, len(raw), width) if any(raw[o : o + width])]


def _compact(v: Any) -> str:
    return ("yes" if v else "no") if isinstance(v, bool) else str(v)


def _opregion_rows(fields: dict, meaning: dict, raw_names: frozenset, prefix: str = "") -> list[list[str]]:
    """Rows of (field, value, meaning) for one OpRegion section: numbers in decimal and hex, flag
    sets as the flags that are set, raw bytes as 'all zero' or their non-zero 16-byte rows, lists
    one row per non-zero entry."""
    rows: list[list[str]] = []
    for k, v in fields.items():
        path = prefix + k
        note = meaning.get(k, "") if not prefix else ""
        if path in raw_names:
            raw = bytes.fromhex(v)
            nz = _nonzero_rows(raw)
            rows.append([path, f"all zero ({len(raw)} bytes)" if not nz else f"{len(raw)} bytes", note])
            rows += [["", line, ""] for line in nz]
        elif isinstance(v, dict) and any(isinstance(x, str) for x in v.values()):  # a sub-struct with raw parts (PLUT)
            rows += _opregion_rows(v, meaning, raw_names, path + ".")
        elif isinstance(v, dict):
            if all(isinstance(x, bool) for f, x in v.items() if f != "reserved_bits"):  # a flag set
                value = ", ".join(f for f, on in v.items() if on is True) or "none"
                if v.get("reserved_bits"):
                    value += f" + bits {v['reserved_bits']:#x}"
            else:
                value = ", ".join(f"{f}={_compact(x)}" for f, x in v.items())
            rows.append([path, value, note])
        elif isinstance(v, list):
            live = [(i, x) for i, x in enumerate(v) if (any(x.values()) if isinstance(x, dict) else x)]
            rows.append([path, "all zero" if not live else f"{len(live)} of {len(v)} non-zero", note])
            for i, x in live:
                value = ", ".join(f"{f}={_compact(y)}" for f, y in x.items()) if isinstance(x, dict) else hx(x, 8)
                rows.append([f"  [{i}]", value, meaning.get(f"{k}[{i}]", "")])
        else:
            rows.append([path, _leaf(v) if not isinstance(v, str) else repr(v), note])
    return rows


def render_opregion(dec: dict, all_panels: bool = False) -> str:
    """An OpRegion file as intel_opregion_decode lays it out -- the header, then each advertised
    mailbox -- with every field's value and what it means, each display ID decoded, and then the
    VBT it carries (mailbox 4 or the extended VBT) decoded as ``show`` does a VBT file."""
    from igdscope.schemas.opregion import RAW_FIELDS

    mbs = dec.get("mailboxes") or {}
    meanings = dec.get("meanings") or {}
    present = dec.get("mailboxes_present") or []
    out = [f"OpRegion version {dec.get('version')}, {dec.get('size')} bytes; mailboxes: {', '.join(present) or 'none'}",
           f"VBT: {dec.get('vbt_source')}"]
    for f in dec.get("findings", []):
        out.append(f"! {f}")
    for key, title in OPREGION_SECTIONS:
        fields = dec.get("header") if key == "header" else mbs.get(key)
        if not isinstance(fields, dict):
            continue
        out += ["", f"{title}:"]
        out.append(table(_opregion_rows(fields, meanings.get(key) or {}, RAW_FIELDS.get(key, frozenset())), indent=2))
    return "\n".join(out) + "\n" + render_vbt_inside(dec.get("vbt_decoded"), all_panels)


def render_vbt_inside(vd: dict | None, all_panels: bool = False) -> str:
    """The VBT decoded out of an OpRegion or option ROM (``formats.vbt_inside``), after a rule."""
    if vd is None:
        return ""
    if "error" in vd:
        return f"\nVBT: not decoded: {vd['error']}\n"
    return f"\n{'=' * 8} VBT ({vd.get('where')}) {'=' * 8}\n" + render_vbt(vd, all_panels)


def _is_panel_entry(item: Any) -> bool:
    """An entry of a per-panel list: its panel index and whether the panel rule selects it."""
    return isinstance(item, dict) and isinstance(item.get("panel"), int) and isinstance(item.get("selected"), bool)


def panel_label(key: str, item: dict) -> str:
    """The heading of a panel's entry in the text view: its panel index, and ``*`` with the
    output it is selected for when the panel rule selects it (intel_vbt_decode's "Panel 2 *"):
    ``panels[2] * (LFP1)``, ``panels[3] * (LFP2)``, ``panels[5]``."""
    marks = [name for name, on in (("LFP1", item.get("selected")), ("LFP2", item.get("selected_lfp2"))) if on]
    return f"{key}[{item['panel']}]" + (f" * ({', '.join(marks)})" if marks else "")


def _panel_view(fields: dict, all_panels: bool) -> dict:
    """Per-panel blocks (those with a ``selected_panel``): the selected panel only (and the LFP2
    one), as intel_vbt_decode prints by default, unless all panels are asked for; each panel's
    entry headed by :func:`panel_label`. The raw 16-entry arrays the panel entries repeat are
    left out of the default view. Entries of a per-panel list that belong to no panel (block 58's
    EFP timings) keep their place in the list as their heading."""
    if not isinstance(fields.get("selected_panel"), int):
        return fields
    out: dict = {}
    for k, v in fields.items():
        if isinstance(v, list) and any(_is_panel_entry(x) for x in v):
            for i, x in enumerate(v):
                if not _is_panel_entry(x):
                    out[f"{k}[{i}]"] = x
                elif all_panels or x["selected"] or x.get("selected_lfp2"):
                    out[panel_label(k, x)] = x
        elif not all_panels and isinstance(v, list) and len(v) == 16:
            continue
        else:
            out[k] = v
    return out


def _bdb_version(version: int | None) -> str:
    return f"BDB version {version}" if version is not None else "no BDB header"


def render_vbt(dec: dict, all_panels: bool = False) -> str:
    vh = dec.get("vbt_header") or {}
    bh = dec.get("bdb_header") or {}
    ck = dec.get("checksum") or {}
    if dec.get("container"):
        at = f" in the file's {dec['container']}"
    else:
        at = f" at {hx(dec['vbt_offset'])} of the file" if dec.get("vbt_offset") else ""
    out = [
        f"VBT{at}: signature {vh.get('signature')!s}, version {vh.get('version')}, {vh.get('vbt_size')} bytes, checksum {'ok' if ck.get('ok') else 'mismatch'}",
        f"BDB version {bh.get('version')}, header {bh.get('header_size')} bytes, BDB size {bh.get('bdb_size')}"
        if bh else "BDB header: not decoded (the findings below say why)",
        "",
    ]
    out.append("BDB blocks present:")
    ids = [str(i) for i in sorted({b["id"] for b in dec.get("blocks", [])})]
    out.append("  " + (" ".join(ids) or "none"))
    for f in dec.get("findings", []):
        out.append(f"! {f}")
    for b in sorted(dec.get("blocks", []), key=lambda b: (b["id"], b.get("offset") or 0)):
        out.append("")
        out.append(f"BDB block {b['id']} ({b.get('size')} bytes at {hx(b.get('offset'))}) - {b.get('name') or 'unknown'}:")
        if "error" in b:
            out.append(f"  error: {b['error']}")
        if "fields" in b:
            out.extend(_tree(_panel_view(b["fields"], all_panels), 1))
        elif b.get("raw") is not None:
            out.extend(_hexdump(bytes.fromhex(b["raw"]), 1))
        out.extend(f"  ! {f}" for f in b.get("findings") or [])
    return "\n".join(out) + "\n"


def _leaf(v: Any) -> str:
    """One decoded value as text; None (no meaning, nothing to compute, no such port) is '-'."""
    if isinstance(v, dict) and set(v) == {"value", "name"}:
        val, name = v["value"], v["name"]
        code = hx(val) if isinstance(val, int) else ("" if val is None else str(val))
        if name is None:
            return code or "-"
        return f"{name} ({code})" if code else str(name)
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v} ({v:#x})" if v > 9 else str(v)
    return str(v)


def _tree(node: Any, depth: int) -> list[str]:
    """Nested plain data as indented 'key: value' lines (the layout of intel_vbt_decode)."""
    pad = "  " * depth
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, dict) and not (set(v) == {"value", "name"}):
                out.append(f"{pad}{k}:")
                out.extend(_tree(v, depth + 1))
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                for i, x in enumerate(v):
                    out.append(f"{pad}{k}[{i}]:")
                    out.extend(_tree(x, depth + 1))
            elif isinstance(v, list):
                out.append(f"{pad}{k}: {', '.join(_leaf(x) for x in v) or 'none'}")
            else:
                out.append(f"{pad}{k}: {_leaf(v)}")
    else:
        out.append(f"{pad}{_leaf(node)}")
    return out


def _hexdump(data: bytes, depth: int) -> list[str]:
    pad = "  " * depth
    return [f"{pad}{o:04x}: " + " ".join(f"{b:02x}" for b in data[o : o + 16]) for o in range(0, len(data), 16)]
