"""VBT block schemas, one module per family of blocks, and the registry of them all.

Each module defines ``SPECS: dict[int, BlockSpec]`` (:class:`~.base.BlockSpec`: name, construct
schema, BDB version range, full size, version gates, an optional ``post`` hook for derived values
and findings, and an optional ``builder``). :data:`BLOCKS` is their union, assembled here from the
modules listed below; a block id defined twice is a programming error. Adding a block: its schema
and ``SPECS`` entry in the module of its family (a new module is added to ``MODULES``), and its
parity test beside the others.
"""

from __future__ import annotations

from igdscope.binary import plainparse
from igdscope.schemas import common
from igdscope.schemas.vbtblocks import base, dtd, features, general, legacy, lfp, mipi, misc, panel
from igdscope.schemas.vbtblocks.base import BlockSpec

MODULES = (general, dtd, features, legacy, lfp, mipi, misc)


def _registry() -> dict[int, BlockSpec]:
    blocks: dict[int, BlockSpec] = {}
    for module in MODULES:
        for block_id, spec in module.SPECS.items():
            if block_id in blocks:
                raise RuntimeError(f"VBT block {block_id} is defined in two modules ({module.__name__})")
            blocks[block_id] = spec
    return dict(sorted(blocks.items()))


BLOCKS: dict[int, BlockSpec] = _registry()


def _shipped() -> dict:
    """The block schemas and the helper schemas the block hooks decode with, by a stable name;
    their parsers are generated ahead of time (igdscope.schemas.plaingen). A schema named twice
    (block 2's is GeneralDefinitions) keeps its first name."""
    named = {f"block {i}": spec.schema for i, spec in BLOCKS.items()}
    named.update({"GeneralDefinitions": general.GeneralDefinitions, "EdidDtd": dtd.EdidDtd})
    out: dict = {}
    for name, schema in named.items():
        if all(schema is not s for s in out.values()):
            out[name] = schema
    return out


plainparse.ship(_shipped(), [m.__file__ for m in (*MODULES, base, panel, common)])
