"""The one interface every model backend implements.

A batch of chat requests with sampling parameters goes in; one result per request comes
out, as each finishes (so a job can persist results as they arrive and resume after a
crash). Samples are separate requests: `n` samples of a prompt become `n` requests with
`sample_index` 0..n-1 and seeds `seed + i`, each cacheable on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.6
    top_p: float = 0.95
    max_tokens: int = 1024
    n: int = 1
    seed: int | None = None
    stop: tuple[str, ...] = ()
    json_schema: dict[str, Any] | None = None
    enable_thinking: bool | None = None

    def for_sample(self, index: int) -> SamplingParams:
        return replace(self, n=1, seed=None if self.seed is None else self.seed + index)


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[dict[str, str], ...]
    params: SamplingParams = field(default_factory=SamplingParams)
    sample_index: int = 0

    def cache_key(self, model: str) -> str:
        """Stable identity of a request: model, prompt, parameters and sample index."""
        payload = {
            "model": model,
            "messages": list(self.messages),
            "params": asdict(self.params),
            "sample": self.sample_index,
        }
        return hashlib.sha256(
            json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()


def expand_samples(messages: Sequence[dict[str, str]], params: SamplingParams) -> list[ChatRequest]:
    return [ChatRequest(tuple(messages), params.for_sample(i), i) for i in range(max(1, params.n))]


@dataclass
class GenerationResult:
    text: str = ""
    reasoning: str | None = None
    finish_reason: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    cost: float = 0.0
    cached: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def to_cache(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "reasoning": self.reasoning,
            "finish_reason": self.finish_reason,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "latency_s": self.latency_s,
            "cost": self.cost,
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> GenerationResult:
        return cls(
            text=data["text"],
            reasoning=data.get("reasoning"),
            finish_reason=data.get("finish_reason"),
            tokens_in=data.get("tokens_in") or 0,
            tokens_out=data.get("tokens_out") or 0,
            latency_s=data.get("latency_s") or 0.0,
            cost=data.get("cost") or 0.0,
            cached=True,
        )


class Backend(Protocol):
    """What the job engine needs from a model backend."""

    name: str
    model: str
    stop_reason: str | None  # why the backend stopped taking requests early (budget), if it did

    def stream(
        self, requests: Sequence[ChatRequest]
    ) -> AsyncIterator[tuple[int, GenerationResult]]:
        """Yield (index into requests, result) as each request finishes."""
        ...

    async def aclose(self) -> None: ...
