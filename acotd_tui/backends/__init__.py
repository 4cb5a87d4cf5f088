"""Model backends behind one interface (`Backend`): litellm (APIs), vLLM and transformers.

`make_backend` picks one from a configured role, after applying per-run overrides
(`--backend/--model/--api-base`). Heavy libraries are imported only when a backend is made.
"""

from __future__ import annotations

from pathlib import Path

from acotd_tui.config import Limits, ModelRole

from .base import Backend, ChatRequest, GenerationResult, SamplingParams, expand_samples
from .limits import Budget


def apply_overrides(role: ModelRole, overrides: dict[str, str] | None) -> ModelRole:
    if not overrides:
        return role
    return role.model_copy(update={k: v for k, v in overrides.items() if v})


def sampling_from_role(role: ModelRole, **changes: object) -> SamplingParams:
    params = SamplingParams(
        temperature=role.temperature,
        top_p=role.top_p,
        max_tokens=role.max_tokens,
        seed=role.seed,
        enable_thinking=role.enable_thinking,
    )
    from dataclasses import replace

    return replace(params, **changes) if changes else params  # type: ignore[arg-type]


def make_backend(
    role: ModelRole,
    limits: Limits,
    *,
    budget: Budget | None = None,
    adapter: str | Path | None = None,
    base_dir: Path | None = None,
) -> Backend:
    if role.backend == "litellm":
        if adapter:
            from acotd_tui.errors import BackendError

            raise BackendError("adapters need a local backend (vllm or transformers), not litellm")
        from .api import LiteLLMBackend

        return LiteLLMBackend(role, limits, budget)
    if role.backend == "transformers":
        from .local_transformers import TransformersBackend

        return TransformersBackend(role, adapter=adapter, base_dir=base_dir)
    from .local_vllm import VLLMBackend

    return VLLMBackend(role, adapter=adapter, base_dir=base_dir)


__all__ = [
    "Backend",
    "Budget",
    "ChatRequest",
    "GenerationResult",
    "SamplingParams",
    "apply_overrides",
    "expand_samples",
    "make_backend",
    "sampling_from_role",
]
