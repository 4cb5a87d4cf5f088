"""The training process: LoRA SFT of the student with trl + peft, from a saved spec.

    python -m acotd_tui.training.run runs/train-NAME/train.json

- data: the TRL `messages.jsonl` export, turned into prompt/completion pairs, so the loss
  is on the assistant turn only (trl masks the prompt, also with packing);
- resumes from the newest checkpoint in the output folder (a crash or kill loses at most
  `save_steps` steps);
- streams loss, learning rate, grad norm and tokens/s to the store for the live plot, and
  its step count to the job row;
- stops cleanly, with a checkpoint, on SIGTERM or when the job is cancelled (exit code 3);
- writes the adapter (and, with `merge`, a merged model) and `result.json` with speed and
  memory figures.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from .spec import TrainSpec

EXIT_CANCELLED = 3


def last_complete_checkpoint(output_dir: Path) -> str | None:
    """The newest checkpoint that was fully written; partial ones (a crash while saving)
    are removed, since resuming from them fails and re-saving over them is unsafe."""
    import shutil

    if not output_dir.exists():
        return None
    found = sorted(
        (
            p
            for p in output_dir.glob("checkpoint-*")
            if p.is_dir() and p.name.split("-")[-1].isdigit()
        ),
        key=lambda p: int(p.name.split("-")[-1]),
        reverse=True,
    )
    for folder in found:
        if (folder / "trainer_state.json").exists() and (folder / "optimizer.pt").exists():
            return str(folder)
        print(f"removing incomplete checkpoint {folder}", file=sys.stderr)
        shutil.rmtree(folder, ignore_errors=True)
    return None


def load_rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        messages = json.loads(line)["messages"]
        if not messages or messages[-1]["role"] != "assistant":
            raise ValueError(f"{path}: each row must end with an assistant turn")
        rows.append({"prompt": messages[:-1], "completion": messages[-1:]})
    if not rows:
        raise ValueError(f"{path}: no training rows")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m acotd_tui.training.run SPEC.json", file=sys.stderr)
        return 2
    spec = TrainSpec.load(Path(args[0]))
    stop = {"requested": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__("requested", True))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import pyarrow as pa
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.utils import logging as hf_logging
    from trl import SFTConfig, SFTTrainer

    from acotd_tui.store import Metric, Store

    hf_logging.disable_progress_bar()
    store = Store(Path(spec.project_root) / "acotd.db", create=False)
    cuda = torch.cuda.is_available() and spec.device != "cpu"
    bf16 = cuda and spec.bf16 != "off" and torch.cuda.is_bf16_supported()
    rows = load_rows(Path(spec.data_file))
    # An explicit fingerprint (the export file's hash) instead of datasets hashing the whole
    # Arrow table: cheaper on large exports, and that hashing path breaks on some
    # pyarrow/dill combinations (seen on a GPU image: "Can't pickle MonthDayNano").
    fingerprint = hashlib.sha256(Path(spec.data_file).read_bytes()).hexdigest()[:16]
    data = Dataset(pa.Table.from_pylist(rows), fingerprint=fingerprint)
    eval_data = None
    if spec.eval_fraction > 0 and len(rows) >= 10:
        parts = data.train_test_split(
            test_size=max(1, int(len(rows) * spec.eval_fraction)), seed=spec.seed
        )
        data, eval_data = parts["train"], parts["test"]

    tokenizer = AutoTokenizer.from_pretrained(spec.base_model)
    model = AutoModelForCausalLM.from_pretrained(
        spec.base_model, dtype=torch.bfloat16 if bf16 else torch.float32
    )
    config = SFTConfig(
        output_dir=spec.output_dir,
        num_train_epochs=spec.epochs,
        max_steps=spec.max_steps,
        per_device_train_batch_size=spec.per_device_batch_size,
        per_device_eval_batch_size=spec.per_device_batch_size,
        gradient_accumulation_steps=spec.gradient_accumulation_steps,
        learning_rate=spec.learning_rate,
        lr_scheduler_type=spec.lr_scheduler,
        warmup_steps=spec.warmup_ratio,  # trl 1.x: a float below 1 is a ratio (warmup_ratio is rejected)
        weight_decay=spec.weight_decay,
        packing=spec.packing,
        max_length=spec.max_length,
        bf16=bf16,
        gradient_checkpointing=spec.gradient_checkpointing and cuda,
        logging_steps=1,
        eval_strategy="steps" if eval_data is not None else "no",
        eval_steps=spec.eval_steps,
        save_strategy="steps",
        save_steps=spec.save_steps,
        save_total_limit=2,
        report_to="none",
        seed=spec.seed,
        use_cpu=not cuda,
        disable_tqdm=True,
        **spec.extra.get("sft", {}),
    )

    class StoreCallback(TrainerCallback):
        """Metrics and progress to the store; a cancel request stops with a checkpoint."""

        def __init__(self) -> None:
            self.start_step = 0
            self.last_tokens: float | None = None
            self.last_time = time.perf_counter()
            self.tokens_per_s: list[float] = []

        def on_train_begin(self, args, state, control, **kwargs):
            self.start_step = state.global_step  # > 0 when resuming from a checkpoint

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            now = time.perf_counter()
            speed = None
            if "num_tokens" in logs:
                tokens = float(logs["num_tokens"])
                if (
                    self.last_tokens is not None
                    and now > self.last_time
                    and tokens > self.last_tokens
                ):
                    speed = (tokens - self.last_tokens) / (now - self.last_time)
                    self.tokens_per_s.append(speed)
                self.last_tokens, self.last_time = tokens, now
            metrics = []
            if "loss" in logs:
                metrics.append(
                    Metric(
                        state.global_step,
                        "train",
                        logs.get("epoch"),
                        logs["loss"],
                        logs.get("learning_rate"),
                        logs.get("grad_norm"),
                        speed,
                    )
                )
            if "eval_loss" in logs:
                metrics.append(
                    Metric(
                        state.global_step,
                        "eval",
                        logs.get("epoch"),
                        logs["eval_loss"],
                        None,
                        None,
                        None,
                    )
                )
            if metrics:
                store.train_runs.add_metrics(spec.run_id, metrics)

        def on_step_end(self, args, state, control, **kwargs):
            if spec.job_id is not None:
                store.jobs.progress(
                    spec.job_id,
                    done=state.global_step,
                    total=state.max_steps,
                    failed=0,
                    tokens_in=0,
                    tokens_out=0,
                    cost=0.0,
                    rate=None,
                    eta_s=None,
                )
                if store.jobs.cancel_requested(spec.job_id):
                    stop["requested"] = True
            if stop["requested"]:
                control.should_save = True
                control.should_training_stop = True
            return control

    callback = StoreCallback()
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=data,
        eval_dataset=eval_data,
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=spec.lora_rank,
            lora_alpha=spec.lora_alpha,
            lora_dropout=spec.lora_dropout,
            target_modules=spec.target_modules,
            task_type="CAUSAL_LM",
        ),
        callbacks=[callback],
    )
    checkpoint = last_complete_checkpoint(Path(spec.output_dir))
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    elapsed = time.perf_counter() - started
    result = {
        "resumed_from": checkpoint,
        "global_step": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "train_loss": output.training_loss,
        "seconds": elapsed,
        "steps_per_s": (trainer.state.global_step - callback.start_step) / elapsed
        if elapsed
        else None,
        "tokens_per_s": (sum(callback.tokens_per_s) / len(callback.tokens_per_s))
        if callback.tokens_per_s
        else None,
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "bf16": bf16,
        "train_rows": len(data),
        "eval_rows": len(eval_data) if eval_data is not None else 0,
        "cancelled": stop["requested"],
    }
    if not stop["requested"]:
        # trl annotates trainer.model as PreTrainedModel | nn.Module | None; here it is the
        # PeftModel trl built from the LoRA config.
        trained: Any = trainer.model
        trained.save_pretrained(spec.adapter_dir)
        tokenizer.save_pretrained(spec.adapter_dir)
        if spec.merge:
            merged = trained.merge_and_unload()
            merged.save_pretrained(Path(spec.output_dir) / "merged")
            tokenizer.save_pretrained(Path(spec.output_dir) / "merged")
    (Path(spec.output_dir) / "result.json").write_text(
        json.dumps(result, indent=2), encoding="utf-8"
    )
    store.close()
    return EXIT_CANCELLED if stop["requested"] else 0


if __name__ == "__main__":
    sys.exit(main())
