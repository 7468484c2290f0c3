"""What a non-editable install (pip install ., a wheel) contains: every package directory of
igdscope and every data file the code opens. An editable install hides a missing entry in
pyproject.toml, so this reads the build configuration and builds a wheel to look inside it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_directory_is_listed():
    listed = set(_config()["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "igdscope").rglob("__init__.py")}
    assert found <= listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"


def test_wheel_holds_every_module_and_data_file(tmp_path):
    # from a clean copy: setuptools reuses a build/ directory left in the checkout
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                                             ".pytest_cache", ".hypothesis", "tests", "screenshots",
                                                             "_plain_generated.py"))  # the build writes it
    res = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        pytest.skip(f"pip could not build a wheel here: {res.stderr.strip().splitlines()[-1:]}")
    (wheel,) = tmp_path.glob("igdscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = {p.relative_to(ROOT).as_posix() for p in (ROOT / "igdscope").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts}  # _plain_generated.py too: the build makes it
    missing = sorted(wanted - names)
    assert not missing, f"not in the wheel: {missing[:10]}"
    specs = {f"igdscope/_specs/{p.name}" for p in (ROOT / "specs").iterdir() if p.suffix in (".tsv", ".json", ".md")}
    assert specs <= names
    assert "igdscope/tui/igdscope.tcss" in names
    # the build generated the VBT schemas' plain-data parsers, the same as the checkout's build
    from igdscope.binary import plainparse

    built = zipfile.ZipFile(wheel).read("igdscope/binary/_plain_generated.py").decode()
    assert built == plainparse.generated_path().read_text() and "PARSERS = {" in built
