"""The one panel-selection rule: which of the 16 panel entries i915 uses, for every VBT block that
holds one value per panel (:data:`PER_PANEL_BLOCKS`; blocks 52 and 53 are indexed by it too).

It follows ``get_panel_type()`` in the kernel's ``intel_bios.c``, OpRegion override aside (i915 asks the OpRegion first
only on machines in its DMI quirk list):

- block 40 ``panel_type`` 0-15 is the panel;
- 0xFF means "match the panel EDID's PnP ID against the 16 block-42 PnP IDs"; without the EDID
  (a VBT on its own) i915's fallback, panel 0, is what it ends up with when nothing matches, so
  panel 0 is marked, with a finding;
- any other value over 15 is invalid: i915 ignores it and falls back to panel 0 (a finding);
- no block 40: panel 0 (a finding);
- a child device with handle LFP2 (block 2) uses ``panel_type2`` (block 40 byte 1, defined from
  BDB 212; i915 reads the byte at any version, a finding says so) by the same rule, except that an
  invalid ``panel_type`` sends both panels to the fallback, and a ``panel_type2`` over 15 other than
  0xFF is used as it is by i915 (it indexes past its per-panel tables): no LFP2 panel is marked.

The decoded blocks all carry the result the same way (see :func:`selection_fields` and
:func:`panel_marks`): ``selected_panel`` (int) at block level and ``selected_panel2`` (int) when
there is an LFP2 panel; each of the 16 ``panels`` entries starts with ``panel`` (its index) and
``selected`` (bool), and the LFP2 panel has ``selected_lfp2: true``.

Context: the post hooks get the VBT's blocks as ``{id: raw bytes}``; this module reads block 40
and the handles of block 2's child devices from them.
"""

from __future__ import annotations

from typing import Any

PANELS = 16
DEVICE_HANDLE_LFP1 = 0x0008
DEVICE_HANDLE_LFP2 = 0x0080
BDB_PANEL_TYPE2 = 212  # panel_type2 (block 40 byte 1) is defined from this BDB version

# the blocks whose decode marks the selected panel, and the member holding their per-panel entries
PER_PANEL_BLOCKS = {9: "panels", 27: "panels", 40: "panels", 41: "ptr", 42: "panels", 43: "panels", 44: "panels", 58: "dtd"}


def has_child(context: dict[int, bytes], handle: int) -> bool:
    """Whether block 2 lists a child device with this handle (and a non-zero device type)."""
    raw = context.get(2)
    if not raw or len(raw) < 5:
        return False
    size = raw[4]
    if size < 4:
        return False
    raw = bytes(raw)
    key = handle.to_bytes(2, "little")
    last = len(raw) - size  # the last offset a whole child can start at
    if last < 5:
        return False
    off = raw.find(key, 5, last + 2)
    while off != -1:
        if (off - 5) % size == 0 and (raw[off + 2] or raw[off + 3]):  # a child's handle, and its device type
            return True
        off = raw.find(key, off + 1, last + 2)
    return False


def panel_selection(context: dict[int, bytes], bdb_version: int) -> dict[str, Any]:
    """The panel indexes i915 uses, from blocks 40 and 2 of ``context``, as ``get_panel_type()``
    decides them without an OpRegion override or an EDID: ``{"panel_type", "lfp1", "lfp2",
    "source", "findings"}``.

    ``lfp1`` (an int, always) is ``panel_type`` when it is 0-15, else 0 (i915's fallback); ``lfp2``
    is the LFP2 child's panel when block 2 has a child with handle LFP2, else None. ``source`` is
    how ``lfp1`` was decided: "vbt" (panel_type 0-15), "pnpid" (0xFF: the EDID decides, panel 0
    without it) or "fallback" (no block 40, or an invalid panel_type).
    """
    lfp2_child = has_child(context, DEVICE_HANDLE_LFP2)
    raw = context.get(40)
    if not raw:
        return {"panel_type": None, "lfp1": 0, "lfp2": 0 if lfp2_child else None, "source": "fallback",
                "findings": ["no LFP options block (40): panel 0 marked (i915's fallback)"]}
    pt = raw[0]
    findings: list[str] = []
    if pt <= 15:
        lfp1, source = pt, "vbt"
    elif pt == 0xFF:
        lfp1, source = 0, "pnpid"
        findings.append("panel_type 0xFF: i915 picks the block 42 entry whose PnP ID matches the panel's EDID "
                        "(a full match, else one without a date); without the EDID, panel 0 (its fallback) is marked")
    else:
        lfp1, source = 0, "fallback"
        findings.append(f"panel_type {pt:#x} is invalid (more than 15, not 0xFF): i915 ignores it and falls back to panel 0")
    lfp2 = None
    if lfp2_child:
        pt2 = raw[1] if len(raw) > 1 else 0
        if source == "fallback":
            lfp2 = 0
        elif pt2 <= 15:
            lfp2 = pt2
        elif pt2 == 0xFF:
            lfp2 = 0
            findings.append("panel_type2 0xFF: the LFP2 panel is matched by its EDID PnP ID; panel 0 marked")
        else:
            findings.append(f"panel_type2 {pt2:#x} is out of range: i915 warns and indexes past its per-panel tables")
        if bdb_version < BDB_PANEL_TYPE2:
            findings.append(f"a child device has handle LFP2 but panel_type2 is defined from BDB {BDB_PANEL_TYPE2} (this is {bdb_version}); i915 uses byte 1 anyway")
    return {"panel_type": pt, "lfp1": lfp1, "lfp2": lfp2, "source": source, "findings": findings}


def selection_fields(plain: dict[str, Any], sel: dict[str, Any], findings: list[str], own: bool = False) -> None:
    """The block-level keys of a per-panel block: ``selected_panel`` and, with an LFP2 panel,
    ``selected_panel2``. The selection's findings go to block 40 (``own``) and, when there is no
    block 40, to every per-panel block (in front of its own findings)."""
    plain["selected_panel"] = sel["lfp1"]
    if sel.get("lfp2") is not None:
        plain["selected_panel2"] = sel["lfp2"]
    if own or sel["panel_type"] is None:
        findings[:0] = sel["findings"]


def panel_marks(panel: int, sel: dict[str, Any]) -> dict[str, Any]:
    """The first keys of panel ``panel``'s entry: ``panel``, ``selected`` and, on the LFP2 panel,
    ``selected_lfp2``."""
    entry: dict[str, Any] = {"panel": panel, "selected": panel == sel["lfp1"]}
    if panel == sel["lfp2"]:
        entry["selected_lfp2"] = True
    return entry
