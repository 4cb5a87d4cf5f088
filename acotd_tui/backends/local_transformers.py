"""transformers `generate` on the CPU or one GPU: the fallback backend, and the tests' backend.

Requests are grouped into batches of `batch_size` prompts with the same sampling parameters,
left-padded, generated in a worker thread (the event loop stays free for progress and
cancellation) and yielded batch by batch. A cancelled job stops generation within a token
(a StoppingCriteria reads the stop event; see LocalBackend.run_stoppable), and `max_tokens`
is clamped to what the model's context leaves after the prompt, with a warning: beyond
`max_position_embeddings` a model only produces slow noise. Seeding is per batch: with sampling on, a result
is reproducible for the same batch composition. An adapter (LoRA from `acotd train`) is
loaded on top of the base model with peft.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from acotd_tui.config import ModelRole
from acotd_tui.errors import BackendError

from .base import ChatRequest, GenerationResult
from .local import LocalBackend, batches

try:  # transformers is imported here anyway: this module is only loaded to use it
    from transformers import StoppingCriteria, StoppingCriteriaList
except ImportError:  # pragma: no cover - the [local] extra is missing
    StoppingCriteria = object  # type: ignore[assignment,misc]
    StoppingCriteriaList = list  # type: ignore[assignment,misc]


class StopOnEvent(StoppingCriteria):
    """Ends `generate` at the next token once the backend's stop event is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


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
        self._warned_clamp = False

    def context_length(self) -> int | None:
        """The model's context in tokens (max_position_embeddings), None if it says none."""
        config = getattr(self._model, "config", None)
        for attr in ("max_position_embeddings", "n_positions", "max_sequence_length"):
            value = getattr(config, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        value = getattr(self._tokenizer, "model_max_length", None)
        return value if isinstance(value, int) and 0 < value < 10**7 else None

    def new_token_budget(self, prompt_tokens: int, requested: int) -> int:
        """`requested`, or what the context leaves after the prompt if that is less."""
        context = self.context_length()
        if context is None:
            return requested
        room = context - prompt_tokens
        if room < 1:  # ValueError: this batch's requests fail, the job goes on
            raise ValueError(
                f"the prompt ({prompt_tokens} tokens) fills the context of {self.role.model} "
                f"({context} tokens): nothing left to generate"
            )
        if requested > room:
            if not self._warned_clamp:
                log.warning(
                    "max_tokens %d exceeds what the context of %s (%d tokens) leaves after a "
                    "%d-token prompt; generating at most %d new tokens (answers cut there are "
                    "marked as cut off)",
                    requested,
                    self.role.model,
                    context,
                    prompt_tokens,
                    room,
                )
                self._warned_clamp = True
            return room
        return requested

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
            # Any: a PreTrainedModel, or below the PeftModel around it (both have .to/.generate;
            # transformers' wrapped `to` annotation rejects a device string).
            model: Any = AutoModelForCausalLM.from_pretrained(
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
        width = inputs["input_ids"].shape[1]
        max_new = self.new_token_budget(width, params.max_tokens)
        started = time.perf_counter()
        out = model.generate(
            **inputs,
            max_new_tokens=max_new,
            stopping_criteria=StoppingCriteriaList([StopOnEvent(self._stop)]),
            do_sample=sample,
            temperature=params.temperature if sample else None,
            top_p=params.top_p if sample else None,
            stop_strings=list(params.stop) or None,
            tokenizer=tok if params.stop else None,
            pad_token_id=tok.pad_token_id,
        )
        latency = (time.perf_counter() - started) / len(requests)
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
                    finish_reason="stop" if stopped or len(generated) < max_new else "length",
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
                results = await self.run_stoppable(
                    self.generate_batch, [requests[i] for i in batch]
                )
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
