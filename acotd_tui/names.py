"""Names that become paths: datasets, training runs and experiments.

A dataset named `../../evil` once made `export` write outside the project. Every name that a
path is built from is checked here, the one place the CLI, the services (and so the screens)
and the pipeline use, and every path built from one is checked to stay inside the project
(`inside`), as defence in depth should a name reach a path some other way.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path

from acotd_tui.errors import AcotdError

MAX_NAME_LENGTH = 100
"""Long enough for `paper-adaptive_medium-k2000-seed3`, short enough for any file system."""

# ASCII only on purpose: `\w` would let in look-alike letters and full-width dots and slashes.
NAME_CHARACTERS = re.compile(r"[A-Za-z0-9._-]+")


class NameKind(StrEnum):
    DATASET = "dataset"
    RUN = "run"
    EXPERIMENT = "experiment"


class BadName(AcotdError):
    """A name that cannot safely become a file or folder name."""


def check_name(name: object, kind: NameKind | str = NameKind.DATASET) -> str:
    """Return `name` unchanged if it is a safe slug, else raise BadName saying why."""
    what = f"{kind} name"
    if not isinstance(name, str) or not name:
        raise BadName(f"{what} is empty; use letters, digits, '.', '_' and '-'")
    shown = ascii(name) if not name.isascii() else repr(name)
    if len(name) > MAX_NAME_LENGTH:
        raise BadName(f"{what} {shown[:40]}... is longer than {MAX_NAME_LENGTH} characters")
    if not NAME_CHARACTERS.fullmatch(name):
        raise BadName(
            f"{what} {shown} may contain only ASCII letters, digits, '.', '_' and '-' "
            "(no '/', spaces or other characters)"
        )
    if name.startswith("."):
        raise BadName(f"{what} {shown} starts with '.'; names may not be hidden or relative")
    return name


def inside(root: Path, path: Path) -> Path:
    """`path`, resolved, if it lies inside `root`; otherwise BadName. Symlinks are followed,
    so a link planted in runs/ cannot carry a write outside either."""
    base = Path(root).resolve()
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(base):
        raise BadName(f"{path} is outside the project folder {base}; refusing to write there")
    return resolved
