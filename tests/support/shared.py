"""Where the shared test inputs are: the directory ``shared`` beside the checkout (reference fact
sheets, the firmware corpus with igt's decodes of it, field data). They are test input only and not
part of the repository, so every test that reads them skips, with the reason, where they are absent.

Module-level parametrization over the corpus must not skip (that would skip the whole module):
check ``CORPUS.is_dir()`` there and give no cases; call :func:`need` inside the test or fixture."""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[3] / "shared"
CORPUS = SHARED / "corpus"
WORLD = SHARED / "world"


def need(path: Path) -> Path:
    """``path``, or skip the calling test when it does not exist."""
    import pytest  # here, not at the top: the benchmarks (plain scripts) import this module too

    if not path.exists():
        pytest.skip(f"{path} is absent (the shared corpus and reference files are not part of the repository)")
    return path
