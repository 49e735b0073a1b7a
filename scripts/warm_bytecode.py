"""Byte-compiles what the project imports, by importing it: every module of the three packages,
`dreamforge_adapters.sdxl.child_preload` among them, which imports what the SDXL runner's fork
server preloads (torch, diffusers, transformers).

The virtualenv is installed without pip's compile step, which compiles every file of every
package (most of torch and transformers is never imported) on one core: most of the install's
time. This compiles only the modules that are imported, so the processes that run afterwards
start from bytecode. It must run with PYTHONDONTWRITEBYTECODE empty (the Makefile empties it).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

if os.environ.get("PYTHONDONTWRITEBYTECODE"):
    sys.exit("run with PYTHONDONTWRITEBYTECODE unset: this writes bytecode by importing")

PACKAGES = ("dreamforge_core", "dreamforge_adapters", "dreamforge_apps")


def modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names.append(package)
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if not info.name.endswith("__main__"):  # importing it would run the command
                names.append(info.name)
    return names


def main() -> None:
    for name in modules():
        importlib.import_module(name)


if __name__ == "__main__":
    main()
