"""ZTE grading with a process reward model: score each step, map the weakest to a level.

The Qwen2.5-Math-PRM convention: the solution is split into steps at blank lines, the
steps are joined with a separator token (`<extra_0>`) inside the chat template, and the
model's two-class logits at each separator give the probability that the step is right.
Models loadable as `AutoModelForTokenClassification` (two labels) work directly; remote-code
PRMs (Qwen's own class) load with `extra = { trust_remote_code = true }` in the prm role.
A wrong solution's lowest step score s gives level 5 - #(cut points <= s).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acotd_tui.config import ModelRole
from acotd_tui.errors import BackendError

log = logging.getLogger("acotd.prm")
DEFAULT_SEPARATOR = "<extra_0>"
PRM_SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."


def split_steps(cot: str) -> list[str]:
    steps = [s.strip() for s in cot.replace("\r\n", "\n").split("\n\n")]
    return [s for s in steps if s] or [cot.strip() or "(empty)"]


def level_from_score(min_score: float, thresholds: Sequence[float]) -> str:
    return str(5 - sum(1 for t in thresholds if t <= min_score))


class PRMScorer:
    def __init__(self, role: ModelRole, base_dir: Path | None = None) -> None:
        self.role = role
        self.base_dir = base_dir
        self.separator = str(role.extra.get("step_separator", DEFAULT_SEPARATOR))
        self._model: Any = None
        self._tokenizer: Any = None
        self.device = "cpu"

    def _source(self) -> str:
        path = Path(self.role.model)
        if not path.is_absolute() and self.base_dir is not None and (self.base_dir / path).exists():
            return str(self.base_dir / path)
        return self.role.model

    def load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from acotd_tui.backends.local_transformers import pick_device, pick_dtype

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # unannotated in transformers
        self.device = pick_device(self.role.device)
        dtype = pick_dtype(self.role.dtype, self.device)
        remote = bool(self.role.extra.get("trust_remote_code", False))
        try:
            tokenizer = AutoTokenizer.from_pretrained(self._source(), trust_remote_code=remote)
            if remote:
                model = AutoModel.from_pretrained(
                    self._source(), dtype=dtype, trust_remote_code=True
                )
            else:
                model = AutoModelForTokenClassification.from_pretrained(self._source(), dtype=dtype)
        except (OSError, ValueError) as exc:
            raise BackendError(
                f"cannot load PRM {self.role.model!r}: {str(exc).splitlines()[0]}"
            ) from None
        if self.separator not in tokenizer.get_vocab():
            raise BackendError(
                f"PRM tokenizer has no step separator {self.separator!r} (set extra.step_separator)"
            )
        self._model, self._tokenizer = model.to(self.device).eval(), tokenizer

    def score(self, problem: str, steps: Sequence[str]) -> list[float]:
        """Probability that each step is correct."""
        import torch

        self.load()
        tok = self._tokenizer
        messages = [
            {"role": "system", "content": PRM_SYSTEM},
            {"role": "user", "content": problem},
            {"role": "assistant", "content": self.separator.join(steps) + self.separator},
        ]
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        ids = tok(text, return_tensors="pt", add_special_tokens=False).to(self.device)
        with torch.no_grad():
            out = self._model(**ids)
        logits = out.logits if hasattr(out, "logits") else out[0]
        sep_id = tok.convert_tokens_to_ids(self.separator)
        mask = ids["input_ids"][0] == sep_id
        probs = torch.softmax(logits[0][mask].float(), dim=-1)[:, 1]
        scores = probs.tolist()
        if len(scores) != len(steps):
            raise BackendError(f"PRM returned {len(scores)} step scores for {len(steps)} steps")
        return scores
