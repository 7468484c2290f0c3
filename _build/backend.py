"""igdscope's build backend: setuptools, after writing the generated plain-data parsers of the
VBT schemas (igdscope/binary/_plain_generated.py) from the schemas being packaged.

The parsers are a build product: generating them costs more than decoding a VBT, so every wheel
and every editable install carries them, while the source tree does not keep them (a schema
edited later is noticed by their fingerprint, and then the parsers are generated at runtime).
"""

from __future__ import annotations

import os
import subprocess
import sys

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403 -- every hook not overridden here is setuptools'

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _generate() -> None:
    # a child process, so that importing the package being built leaves this one alone
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    subprocess.run([sys.executable, "-m", "igdscope.schemas.plaingen"], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _generate()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _generate()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
