"""Short human-readable numbers shared by the CLI and the screens (one format, both places)."""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """`4m05s`, or `2h13m` from an hour on; empty when unknown (no ETA yet)."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"
