"""Build build/typing/: the installed package layout as symlinks, for mypy.

Why: pyproject maps store/ and screens/ into the package (`package-dir`), and the editable
install serves them through an import hook. mypy does not run import hooks and has no option
for a package-dir mapping, so `mypy -p acotd_tui` cannot find acotd_tui.store. This script
reads the mapping from pyproject.toml (its one declaration) and mirrors it with symlinks:
build/typing/acotd_tui/<entry> -> acotd_tui/<entry>, build/typing/acotd_tui/store -> store,
build/typing/acotd_tui/screens -> screens. pyproject's [tool.mypy] puts build/typing on
mypy_path; `make lint` runs this first. build/ is git-ignored; rerunning is cheap and idempotent.
"""

from __future__ import annotations

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "typing"


def main() -> int:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = pyproject["tool"]["setuptools"]["package-dir"]
    if OUT.exists():
        shutil.rmtree(OUT)
    # Parents before children: acotd_tui/ becomes a real folder, subpackages become links in it.
    for package, source in sorted(mapping.items(), key=lambda kv: kv[0].count(".")):
        target = OUT.joinpath(*package.split("."))
        src = ROOT / source
        if package.count(".") == 0:
            target.mkdir(parents=True)
            for entry in src.iterdir():
                if entry.name != "__pycache__" and entry.name not in _children(mapping, package):
                    (target / entry.name).symlink_to(entry)
        else:
            target.symlink_to(src, target_is_directory=True)
    return 0


def _children(mapping: dict[str, str], package: str) -> set[str]:
    """Names mapped elsewhere (acotd_tui.store -> store), so acotd_tui/ never shadows them."""
    prefix = package + "."
    return {name.removeprefix(prefix) for name in mapping if name.startswith(prefix)}


if __name__ == "__main__":
    sys.exit(main())
