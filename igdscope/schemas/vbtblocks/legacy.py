"""VBT block 11: the legacy child device table.

Old VBTs carry, beside block 2, a table of child devices of their own: one byte ``child_dev_size``
then entries of that size, each laid out as ``struct child_device_config`` (igt's
``bdb_legacy_child_devices``; its comment says "presumably 7 * 33"). i915 does not read this
block -- its child devices come from block 2 only; igt dumps it with the block 2 child decoder.
Each entry is read like a block 2 child: into a zero-filled full-size struct, with the BDB
version gates of block 2 and the same derived ``meaning`` (``intel_bios.c``).
"""

from __future__ import annotations

from typing import Any

import construct as cs
from construct import this

from igdscope.binary import DecodeError, build
from igdscope.schemas.common import Raw, merge_values, zero_value
from igdscope.schemas.vbtblocks.general import CHILD_DEVICE_CONFIG_SIZE, CHILD_DEVICE_GATES, LEGACY_CHILD_DEVICE_CONFIG_SIZE, MAX_CHILD_DEVICES, ChildDevice, child_device_meaning
from igdscope.schemas.vbtblocks.base import BlockSpec, BoundedRange, ZeroFilled, gate, ungate

LegacyChildDevices = cs.Struct(
    cs.Check(this._params.bdb_version >= 0),  # fail loudly without the bdb_version parse parameter
    "child_dev_size" / cs.Int8ul * "bytes per entry (33 in the VBTs seen)",
    # a trailing partial entry stops the range and is kept in "unparsed"; a zero size reads none
    "devices" / cs.If(this.child_dev_size > 0, BoundedRange(ZeroFilled(this.child_dev_size, ChildDevice), MAX_CHILD_DEVICES)),
    "unparsed" / Raw(),
)


def _legacy_post(plain: dict[str, Any], raw: bytes, bdb_version: int, context: dict) -> dict[str, Any]:
    size = plain.get("child_dev_size", 0)
    findings = ["i915 does not read block 11; its child devices come from block 2"]
    if size == 0:
        findings.append("child_dev_size is 0: no entries")
    elif size != LEGACY_CHILD_DEVICE_CONFIG_SIZE:
        findings.append(f"child_dev_size {size} differs from the legacy {LEGACY_CHILD_DEVICE_CONFIG_SIZE}")
    if plain.get("unparsed"):
        if len(plain.get("devices") or []) >= MAX_CHILD_DEVICES:
            findings.append(f"only the first {MAX_CHILD_DEVICES} child entries are decoded; the rest is kept as unparsed")
        else:
            findings.append(f"{len(plain['unparsed']) // 2} byte(s) after the last whole child entry")
    devices = []
    for dev in plain.get("devices") or []:
        if dev.get("device_type"):
            dev["meaning"] = child_device_meaning(dev, bdb_version)
        devices.append(gate(dev, CHILD_DEVICE_GATES, bdb_version))
    plain["devices"] = devices
    plain["findings"] = findings
    return plain


def build_legacy_child_devices(values: dict[str, Any], bdb_version: int, size: int | None = None) -> bytes:
    """Block 11 data bytes from plain values (``devices``: child dicts, zeros for the rest;
    ``child_dev_size`` defaults to 33) -- the inverse of decoding it."""
    what = "BDB block 11 (child_device_table)"
    values = dict(values or {})
    values.pop("findings", None)
    child_size = values.get("child_dev_size", LEGACY_CHILD_DEVICE_CONFIG_SIZE)
    template = zero_value(ChildDevice, CHILD_DEVICE_CONFIG_SIZE, bdb_version=bdb_version)
    devices = [merge_values(template, ungate(dev)) for dev in values.get("devices") or []]
    data = build(LegacyChildDevices, {"child_dev_size": child_size, "devices": devices, "unparsed": values.get("unparsed") or b""},
                 what, bdb_version=bdb_version, block_size=0)
    if size is not None and size != len(data):
        raise DecodeError(what, f"cannot build: values make {len(data)} bytes, size {size} was asked for")
    return data


SPECS = {
    11: BlockSpec("child_device_table", LegacyChildDevices, post=_legacy_post, builder=build_legacy_child_devices),
}
