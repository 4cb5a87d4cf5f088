"""Short human-readable numbers and paths shared by the CLI and the screens (one format, both
places)."""

from __future__ import annotations

from pathlib import Path


def duration(seconds: float | None) -> str:
    """`4m05s`, or `2h13m` from an hour on; empty when unknown (no ETA yet)."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


def shown_path(path: Path) -> str:
    """A folder as the screens show it: `~/…` under the home folder, else as it is.

    Shorter in the header of a narrow terminal, and the same text for the same project
    layout wherever the home folder is (the snapshot tests rely on that)."""
    try:
        home = Path.home()
    except RuntimeError:  # no HOME and no password entry: show the path unchanged
        return str(path)
    if path == home:
        return "~"
    if path.is_relative_to(home):
        return str(Path("~") / path.relative_to(home))
    return str(path)
