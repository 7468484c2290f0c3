"""``python -m igdscope.schemas.plaingen``: write the plain-data parsers of the schemas the schema
modules ship (igdscope/binary/_plain_generated.py), as the package build does (_build/backend.py).
Run it after changing a VBT schema in a source checkout; ``--check`` only says whether they are
current."""

from __future__ import annotations

import argparse

import igdscope.schemas.vbt  # noqa: F401 -- the schema modules ship their schemas when imported
from igdscope.binary import plainparse


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m igdscope.schemas.plaingen",
                                 description="Write the generated plain-data parsers of the VBT schemas (igdscope/binary/_plain_generated.py).")
    ap.add_argument("--check", action="store_true", help="only say whether the generated module is current (exit 1 if not)")
    args = ap.parse_args(argv)
    plainparse.USE_PRECOMPILED = False  # generate from the schemas, never from the module being replaced
    text = plainparse.generate_module(plainparse.shipped_schemas())
    path = plainparse.generated_path()
    current = path.read_text() if path.exists() else None
    if args.check:
        state = "current" if current == text else "absent" if current is None else "stale: run python -m igdscope.schemas.plaingen"
        print(f"{path.name}: {state}")
        return 0 if current == text else 1
    if current != text:
        path.write_text(text)
    print(f"{path.name}: {'written' if current != text else 'already current'} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
