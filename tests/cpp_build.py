"""Builds one of the C++ examples (engine/examples) with CMake alone: no Python, no pybind11."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The venv's cmake/ninja (from PyPI) first: a fresh machine may have none of its own.
TOOLS = str(Path(sys.executable).parent)
CMAKE = shutil.which("cmake", path=TOOLS) or shutil.which("cmake")
NINJA = shutil.which("ninja", path=TOOLS) or shutil.which("ninja")


def build_example(target: str, build: Path) -> Path:
    """The example's executable, built in `build` (configured once per folder)."""
    if not (build / "CMakeCache.txt").exists():
        configure = [CMAKE, "-S", str(ROOT), "-B", str(build), "-DSHOPRANK_CUDA=OFF",
                     "-DSHOPRANK_BUILD_EXAMPLES=ON", "-DCMAKE_BUILD_TYPE=Release"]
        if NINJA:
            configure += ["-G", "Ninja", f"-DCMAKE_MAKE_PROGRAM={NINJA}"]
        subprocess.run(configure, check=True, capture_output=True, text=True, timeout=300)
    subprocess.run([CMAKE, "--build", str(build), "--target", target], check=True,
                   capture_output=True, text=True, timeout=600)
    return build / target
