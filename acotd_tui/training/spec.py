"""A training run described by one file (runs/train-<name>/train.json), as LLaMA-Factory does.

The job writes the spec, then starts a training process that reads only the spec, so a run
can be re-launched or inspected without the app. The equivalent LLaMA-Factory YAML is
written beside it for people who train with that tool.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from acotd_tui.config import TrainingConfig

SPEC_NAME = "train.json"


@dataclass
class TrainSpec:
    run_name: str
    project_root: str
    run_id: int
    job_id: int | None
    base_model: str
    data_file: str  # TRL messages.jsonl from `acotd export`
    output_dir: str
    # The [training] keys: their defaults are TrainingConfig's (`from_config`), not repeated here.
    lora_rank: int
    lora_alpha: int
    lora_dropout: float
    target_modules: str | list[str]
    learning_rate: float
    per_device_batch_size: int
    gradient_accumulation_steps: int
    epochs: float
    lr_scheduler: str
    warmup_ratio: float
    weight_decay: float
    packing: bool
    max_length: int
    bf16: str
    gradient_checkpointing: bool
    eval_steps: int
    save_steps: int
    eval_fraction: float
    merge: bool
    seed: int
    num_gpus: int
    max_steps: int = -1
    device: str = "auto"
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: TrainingConfig, **fields: Any) -> TrainSpec:
        world = max(1, cfg.num_gpus)
        accumulation = max(1, cfg.effective_batch_size // (cfg.per_device_batch_size * world))
        return cls(
            lora_rank=cfg.lora_rank,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.target_modules,
            learning_rate=cfg.learning_rate,
            per_device_batch_size=cfg.per_device_batch_size,
            gradient_accumulation_steps=accumulation,
            epochs=cfg.epochs,
            lr_scheduler=cfg.lr_scheduler,
            warmup_ratio=cfg.warmup_ratio,
            weight_decay=cfg.weight_decay,
            packing=cfg.packing,
            max_length=cfg.max_length,
            bf16=cfg.bf16,
            gradient_checkpointing=cfg.gradient_checkpointing,
            eval_steps=cfg.eval_steps,
            save_steps=cfg.save_steps,
            eval_fraction=cfg.eval_fraction,
            merge=cfg.merge,
            seed=cfg.seed,
            num_gpus=cfg.num_gpus,
            **fields,
        )

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_batch_size * self.gradient_accumulation_steps * max(1, self.num_gpus)

    @property
    def adapter_dir(self) -> Path:
        return Path(self.output_dir) / "adapter"

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / SPEC_NAME
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True), encoding="utf-8")
        (folder / "llamafactory.yaml").write_text(llamafactory_yaml(self), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path) -> TrainSpec:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def llamafactory_yaml(spec: TrainSpec) -> str:
    """The same run as a LLaMA-Factory `llamafactory-cli train` config (sharegpt export)."""
    data_dir = Path(spec.data_file).parent
    target = "all" if spec.target_modules == "all-linear" else ",".join(spec.target_modules)
    lines = {
        "model_name_or_path": spec.base_model,
        "stage": "sft",
        "do_train": "true",
        "finetuning_type": "lora",
        "lora_rank": spec.lora_rank,
        "lora_alpha": spec.lora_alpha,
        "lora_dropout": spec.lora_dropout,
        "lora_target": target,
        "dataset_dir": str(data_dir),
        "dataset": data_dir.name,
        "template": "qwen3",
        "cutoff_len": spec.max_length,
        "packing": str(spec.packing).lower(),
        "output_dir": str(Path(spec.output_dir) / "llamafactory"),
        "per_device_train_batch_size": spec.per_device_batch_size,
        "gradient_accumulation_steps": spec.gradient_accumulation_steps,
        "learning_rate": f"{spec.learning_rate:.1e}",
        "num_train_epochs": float(spec.epochs),
        "lr_scheduler_type": spec.lr_scheduler,
        "warmup_ratio": spec.warmup_ratio,
        "weight_decay": spec.weight_decay,
        "bf16": "true" if spec.bf16 != "off" else "false",
        "logging_steps": 1,
        "save_steps": spec.save_steps,
        "val_size": spec.eval_fraction,
        "eval_strategy": "steps",
        "eval_steps": spec.eval_steps,
        "seed": spec.seed,
    }
    header = f"# LLaMA-Factory equivalent of acotd run {spec.run_name!r} (llamafactory-cli train this.yaml)\n"
    return header + "".join(f"{k}: {v}\n" for k, v in lines.items())


def parameter_count(model: str, base_dir: Path | None = None) -> int:
    """Parameters of a model from its config alone (no weights are loaded or downloaded)."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    source = model
    if base_dir is not None and (base_dir / model).exists():
        source = str(base_dir / model)
    config = AutoConfig.from_pretrained(source)
    with init_empty_weights():
        empty = AutoModelForCausalLM.from_config(config)
    empty.tie_weights()  # tied input/output embeddings are one tensor, counted once
    return sum(p.numel() for p in empty.parameters())
