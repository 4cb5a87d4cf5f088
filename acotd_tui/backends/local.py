"""What the in-process backends (transformers, vLLM) share: how they find models and batch."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from itertools import groupby
from pathlib import Path

from acotd_tui.config import ModelRole

from .base import ChatRequest


class LocalBackend:
    """A model loaded in this process, optionally with a LoRA adapter on top.

    Model and adapter names that are folders relative to the project (e.g. `runs/tiny-student`
    or a training run's adapter) resolve against `base_dir`, so a job behaves the same
    whichever directory its worker was started from.
    """

    name = "local"

    def __init__(
        self, role: ModelRole, *, adapter: str | Path | None = None, base_dir: Path | None = None
    ) -> None:
        self.role = role
        self.model = role.model
        self.adapter = str(adapter) if adapter else None
        self.base_dir = base_dir
        self.stop_reason: str | None = None

    def _resolve(self, name: str) -> str:
        path = Path(name)
        if not path.is_absolute() and self.base_dir is not None and (self.base_dir / path).exists():
            return str(self.base_dir / path)
        return name


def batches(
    requests: Sequence[ChatRequest], key: Callable[[ChatRequest], Hashable], size: int
) -> Iterator[list[int]]:
    """Indices of `requests` in batches of at most `size` that agree on `key` (one generate
    call can only take one set of sampling parameters)."""
    order = sorted(range(len(requests)), key=lambda i: key(requests[i]))  # type: ignore[arg-type,return-value]
    for _, group in groupby(order, key=lambda i: key(requests[i])):
        members = list(group)
        for start in range(0, len(members), max(1, size)):
            yield members[start : start + size]
