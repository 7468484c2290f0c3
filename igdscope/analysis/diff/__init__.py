"""``igdscope diff``: what differs between two captures (host and guest, two hosts, two moments) or
two files of one kind (VBT, OpRegion, option ROM, config space, lspci dump), and whether it should.

Host versus guest, the comparison knows what QEMU's IGD assignment does in each version
(asked of the QEMU model, :mod:`igdscope.analysis.qemu`):

- it **copies** the host bridge's revision/prog-if and subsystem IDs into its own 00:00.0
  (i440FX 8086:1237 or Q35 8086:29C0) and the LPC bridge identity (VID, DID, RID/prog-if,
  subsystem IDs) into a ``vfio-pci-igd-lpc-bridge`` at 00:1f.0 (legacy mode, ``x-igd-lpc``);
- it **emulates** ASLS (0xFC) and BDSM (0x5C, or the 64-bit 0xC0 of gen 11+ from 9.2), which the
  guest firmware writes; GMCH (0x50) per version (GMS cleared up to 9.1, the host's value from 9.2,
  passed through from 10.1 unless ``x-igd-gms``); the BAR0 mirrors of GGC/DSMBASE (9.2+/10.0+);
  the BAR addresses, MSI and the command register (generic vfio-pci);
- it **passes through** the OpRegion as the kernel's vfio region shows it (Linux 5.16+ reports a
  2.0 OpRegion with an extended VBT as 2.1 with RVDA 0x2000) and the GGTT (BAR0), whose entries
  then hold guest-physical addresses.

Each difference is labelled ``expected`` (with why), ``unexpected`` (with what it breaks) or
``info``; things missing in the guest (ASLS 0, no OpRegion at ASLS, BDSM 0, a wrong identity at
00:1f.0 or 00:00.0, a GGTT still holding host-physical addresses) are unexpected even when the
host has the same value. Between two captures of one role, or two files, differences are ``info``
unless the second side lost something the first had (an OpRegion, a VBT, ASLS, BDSM, a device, a
VBT block), which is ``unexpected``.

Differences are reported field by field in decoded terms (register bit fields, OpRegion mailbox
fields, VBT block and child-device fields, ROM image headers), and as byte runs with the decoded
context (the register, capability, mailbox field or VBT block they sit in) where no field names
them. Pure functions of the captures (the command's I/O is :mod:`igdscope.cli.diff`).

By area: :mod:`.core` (the result, leaves, byte runs), :mod:`.config` (config spaces),
:mod:`.firmware` (OpRegion, VBT, ROM), :mod:`.hostguest` (host versus guest by QEMU's rules),
:mod:`.captures` (two captures of one role)."""

from __future__ import annotations

from typing import Any

from igdscope.analysis import qemu
from igdscope.analysis.diff.captures import _same_role
from igdscope.analysis.diff.config import _diff_cfg_files, _file_cfg, _lspci_platform
from igdscope.analysis.diff.core import _Out, _result, fmt_value
from igdscope.analysis.diff.firmware import _diff_opregion, _diff_rom, _diff_vbt
from igdscope.analysis.diff.hostguest import _host_guest
from igdscope.capture import Capture
from igdscope.decode.firmware import vbt_in_sections
from igdscope.errors import BadInput

__all__ = ["diff", "diff_files", "fmt_value"]

# -- public API -----------------------------------------------------------------------------------------


def diff(a: Capture, b: Capture, *, qemu_version: str | None = None) -> dict[str, Any]:
    """Compare two captures. One guest and one other (host or unknown): host versus guest, by the
    rules of ``qemu_version`` (else the host capture's ``host.qemu_version``). Otherwise same-role."""
    if qemu_version is not None and qemu.version(qemu_version) is None:
        raise BadInput(f"QEMU version {qemu_version!r} is not X.Y")
    if b.machine == "guest" and a.machine != "guest":
        return _host_guest(a, b, qemu_version, flip=False)
    if a.machine == "guest" and b.machine != "guest":
        return _host_guest(b, a, qemu_version, flip=True)
    return _same_role(a, b)


def diff_files(data_a: bytes, data_b: bytes, kind: str, names: tuple[str, str] = ("a", "b")) -> dict[str, Any]:
    """Compare two raw files of one ``kind`` (vbt, opregion, rom, config, lspci, capture); ``names``
    (the paths) are what errors about either file call it."""
    na, nb = names
    out = _Out()
    a_desc = {"kind": kind, "bytes": len(data_a)}
    b_desc = {"kind": kind, "bytes": len(data_b)}
    if kind == "capture":
        from igdscope import capture as capmod

        return diff(capmod.loads(data_a, na), capmod.loads(data_b, nb))
    if kind == "vbt":
        from igdscope.schemas import vbt as vbtmod

        def locate(name: str, data: bytes) -> tuple[bytes, int, str | None]:
            """The bytes from the VBT on, its offset, and the compressed section it is in (a BIOS image)."""
            off = vbtmod.find_vbt(data, limit=len(data))
            if off is not None:
                return bytes(data[off:]), off, None
            try:
                inner, at, container = vbt_in_sections(data, "the file")
            except BadInput as exc:
                raise BadInput(f"{name}: {exc}") from None
            return inner[at:], at, container

        (va, oa, ca), (vb, ob, cb) = locate(na, data_a), locate(nb, data_b)
        if data_a != data_b:
            _diff_vbt(out, "vbt", va, vb, host_guest=False)
            if ca != cb:
                out.add("vbt.container", ca, cb, "info", "the compressed section of the image the VBT was found in")
            if oa != ob:
                out.add("vbt.file_offset", oa, ob, "info", "where the '$VBT' starts in the file (in the section's output when in one)")
    elif kind == "opregion":
        for name, d in ((na, data_a), (nb, data_b)):
            if len(d) < 0x100:
                raise BadInput(f"{name}: {len(d)} bytes is too short for an OpRegion header (256 bytes)")
        if bytes(data_a[:16]) != b"IntelGraphicsMem":
            raise BadInput(f"{na}: does not start with 'IntelGraphicsMem'")
        if data_a != data_b:
            _diff_opregion(out, "opregion", data_a, data_b, host_guest=False)
            if len(data_a) != len(data_b):
                out.add("opregion.size", len(data_a), len(data_b), "info", "dump length (debugfs i915_opregion is 8 KiB; the vfio region adds the extended VBT)")
    elif kind == "rom":
        for name, d in ((na, data_a), (nb, data_b)):
            if d[:2] != b"\x55\xaa":
                raise BadInput(f"{name}: not an option ROM (no 0x55AA signature)")
        if data_a != data_b:
            _diff_rom(out, "rom", data_a, data_b, label="info", why="differs between the two ROMs")
    elif kind == "config":
        ca, cb = _file_cfg(data_a, na), _file_cfg(data_b, nb)
        _diff_cfg_files(out, "config", ca, cb)
        a_desc["device"] = f"{ca.leaves.get('identity.vendor', 0):04x}:{ca.leaves.get('identity.device', 0):04x}"
        b_desc["device"] = f"{cb.leaves.get('identity.vendor', 0):04x}:{cb.leaves.get('identity.device', 0):04x}"
    elif kind == "lspci":
        from igdscope.decode import lspci

        da = {d.bdf: d for d in lspci.parse(data_a.decode("utf-8", "replace"))}
        db = {d.bdf: d for d in lspci.parse(data_b.decode("utf-8", "replace"))}
        if not da or not db:
            raise BadInput(f"{na if not da else nb}: no lspci hex rows (use lspci -xxx or -xxxx)")
        pa, pb = _lspci_platform(da), _lspci_platform(db)
        for bdf in dict.fromkeys([*da, *db]):
            x, y = da.get(bdf), db.get(bdf)
            if x is None or y is None:
                out.missing(bdf, None if x is None else x.description, None if y is None else y.description,
                            "unexpected" if y is None else "info", f"{bdf} is in {'a' if y is None else 'b'} only")
                continue
            _diff_cfg_files(out, bdf, _file_cfg(x.data, f"{na} {bdf}", bdf, pa), _file_cfg(y.data, f"{nb} {bdf}", bdf, pb))
    else:
        raise BadInput(f"cannot diff files of kind {kind!r}")
    return _result(kind, out, a_desc, b_desc)
