"""VBT block schemas beyond blocks 1 and 2, one module per family of blocks.

Each module defines ``SPECS: dict[int, BlockSpec]`` (``BlockSpec`` from
:mod:`igdscope.schemas.vbt`: name, construct schema, BDB version range, full size, version gates,
and an optional ``post`` hook for derived values and findings). ``load_specs`` merges them; a
block id defined twice is a programming error.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_specs() -> dict:
    specs: dict = {}
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        module = importlib.import_module(f"{__name__}.{mod}")
        for block_id, spec in getattr(module, "SPECS", {}).items():
            if block_id in specs:
                raise RuntimeError(f"VBT block {block_id} is defined in two modules ({mod})")
            specs[block_id] = spec
    return specs


# Importing one block module directly (before igdscope.schemas.vbt) must still fill the registry:
# vbt.py calls load_specs() at its end, which needs load_specs defined above.
import igdscope.schemas.vbt  # noqa: E402,F401
