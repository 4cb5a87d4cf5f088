"""transformers `generate` on the CPU or one GPU: the fallback backend, and the tests' backend.

Requests are grouped into batches of `batch_size` prompts with the same sampling parameters,
left-padded, generated in a worker thread (the event loop stays free for progress and
cancellation) and yielded batch by batch. Seeding is per batch: with sampling on, a result
is reproducible for the same batch composition. An adapter (LoRA from `acotd train`) is
loaded on top of the base model with peft.
"""

from __future__ import annotations

import asyncio
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


def pick_device(setting: str) -> str:
    import torch

    if setting != "auto":
        if setting.startswith("cuda") and not torch.cuda.is_available():
            raise BackendError(f"device {setting!r} requested but no CUDA GPU is visible")
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(setting: str, device: str) -> Any:
    import torch

    if setting == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return getattr(torch, setting)
    except AttributeError:
        raise BackendError(f"unknown dtype {setting!r}") from None


class TransformersBackend(LocalBackend):
    name = "transformers"

    def __init__(
        self, role: ModelRole, *, adapter: str | Path | None = None, base_dir: Path | None = None
    ) -> None:
        super().__init__(role, adapter=adapter, base_dir=base_dir)
        self._model: Any = None
        self._tokenizer: Any = None
        self.device = ""

    def load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # job logs and the TUI, not a terminal, read our output
        self.device = pick_device(self.role.device)
        source = self._resolve(self.role.model)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(
                source, dtype=pick_dtype(self.role.dtype, self.device)
            )
        except OSError as exc:
            raise BackendError(
                f"cannot load model {self.role.model!r}: {str(exc).splitlines()[0]}"
            ) from None
        if self.adapter:
            import warnings

            from peft import PeftModel

            with warnings.catch_warnings():  # transformers 5 deprecation chatter from peft
                warnings.simplefilter("ignore", FutureWarning)
                model = PeftModel.from_pretrained(model, self._resolve(self.adapter))
        model.to(self.device).eval()
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._model, self._tokenizer = model, tokenizer
        torch.set_grad_enabled(False)

    def _prompt(self, request: ChatRequest) -> str:
        kwargs: dict[str, Any] = {}
        if request.params.enable_thinking is not None:
            kwargs["enable_thinking"] = request.params.enable_thinking
        return self._tokenizer.apply_chat_template(
            list(request.messages), tokenize=False, add_generation_prompt=True, **kwargs
        )

    def generate_batch(self, requests: Sequence[ChatRequest]) -> list[GenerationResult]:
        """Synchronous: one padded batch sharing the first request's sampling parameters."""
        import torch

        self.load()
        tok, model = self._tokenizer, self._model
        params = requests[0].params
        prompts = [self._prompt(r) for r in requests]
        inputs = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            self.device
        )
        if params.seed is not None:
            torch.manual_seed(params.seed)
        sample = params.temperature > 0
        started = time.perf_counter()
        out = model.generate(
            **inputs,
            max_new_tokens=params.max_tokens,
            do_sample=sample,
            temperature=params.temperature if sample else None,
            top_p=params.top_p if sample else None,
            stop_strings=list(params.stop) or None,
            tokenizer=tok if params.stop else None,
            pad_token_id=tok.pad_token_id,
        )
        latency = (time.perf_counter() - started) / len(requests)
        width = inputs["input_ids"].shape[1]
        results = []
        eos_ids = set(_as_list(model.generation_config.eos_token_id)) | {tok.eos_token_id}
        for row, mask in zip(out, inputs["attention_mask"], strict=True):
            generated = row[width:].tolist()
            while (
                generated and generated[-1] == tok.pad_token_id and tok.pad_token_id not in eos_ids
            ):
                generated.pop()
            stopped = bool(generated) and generated[-1] in eos_ids
            text = tok.decode(generated, skip_special_tokens=False)
            for special in ("<|im_end|>", "<|endoftext|>", tok.eos_token or ""):
                if special:
                    text = text.split(special)[0]
            results.append(
                GenerationResult(
                    text=text,
                    finish_reason="stop"
                    if stopped or len(generated) < params.max_tokens
                    else "length",
                    tokens_in=int(mask.sum()),
                    tokens_out=len(generated),
                    latency_s=latency,
                )
            )
        return results

    async def stream(
        self, requests: Sequence[ChatRequest]
    ) -> AsyncIterator[tuple[int, GenerationResult]]:
        for batch in batches(requests, _param_key, self.role.batch_size):
            try:
                results = await asyncio.to_thread(self.generate_batch, [requests[i] for i in batch])
            except BackendError:
                raise
            except (RuntimeError, ValueError) as exc:  # e.g. out of memory, bad template
                results = [GenerationResult(error=f"{type(exc).__name__}: {exc}") for _ in batch]
            for i, result in zip(batch, results, strict=True):
                yield i, result

    async def aclose(self) -> None:
        self._model = self._tokenizer = None


def _param_key(request: ChatRequest) -> tuple:
    p = request.params
    return (
        p.temperature,
        p.top_p,
        p.max_tokens,
        p.seed is None,
        p.seed or 0,
        p.stop,
        p.enable_thinking,
    )


def _as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
