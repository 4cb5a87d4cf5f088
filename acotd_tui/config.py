"""The project configuration file, `acotd.toml`: one documented, validated schema.

Unknown keys are errors (a typo must not silently fall back to a default), and every error
is reported as one line naming the key path.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .errors import ConfigError

CONFIG_FILENAME = "acotd.toml"

Backend = Literal["litellm", "vllm", "transformers"]
# Closed vocabularies of config keys that stage parameters and commands share: declared here
# once, imported by acotd_tui.stages, the pipeline and the CLI.
LabelRule = Literal["paper", "checked"]  # grading.rule
Grader = Literal["judge", "prm"]  # grading.zte_grader
Strategy = Literal["adaptive", "adaptive_medium", "fixed", "random", "curriculum"]
ROLES = (
    "student",
    "judge",
    "teacher_short",
    "teacher_long",
    "consistency_judge",
    "cotqs_judge",
    "prm",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelRole(_Strict):
    """How to reach one model: which backend, which model, and its sampling defaults."""

    backend: Backend = "litellm"
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    enable_thinking: bool | None = None
    temperature: float = Field(0.6, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(4096, gt=0)
    seed: int | None = 0
    # Local backends (vllm, transformers).
    dtype: str = "auto"
    device: str = "auto"
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0.0, le=1.0)
    max_model_len: int | None = None
    batch_size: int = Field(16, ge=1)
    # Prices in USD per million tokens, for models litellm has no price for (local servers).
    input_cost_per_mtok: float | None = Field(None, ge=0)
    output_cost_per_mtok: float | None = Field(None, ge=0)
    extra: dict[str, Any] = Field(default_factory=dict)

    def api_key(self) -> str | None:
        """The key is read from the environment at call time and never stored."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env)
        if not value:
            raise ConfigError(
                f"environment variable {self.api_key_env} is not set (needed for model {self.model})"
            )
        return value


class Limits(_Strict):
    """Client-side limits for API backends, shared by every job of the project."""

    concurrency: int = Field(32, ge=1)
    requests_per_minute: int = Field(0, ge=0)
    tokens_per_minute: int = Field(0, ge=0)
    max_retries: int = Field(6, ge=0)
    timeout_s: float = Field(600.0, gt=0)
    backoff_base_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)
    budget_usd: float = Field(0.0, ge=0, description="0 = no cap")


class DiagnoseConfig(_Strict):
    samples: int = Field(1, ge=1)
    prompt: str = "diagnose_v1"
    answer_pattern: str | None = None


class GradingConfig(_Strict):
    scheme: Literal["emh", "zte"] = "emh"
    # "paper": the judge's E/M/H verdict is the label (ACoTD Algorithm 1, §3.2); judge-vs-check
    # conflicts are queued for review and stay in the sampling pool. "checked": the answer
    # check decides Easy and conflicts are left out of the pool unless asked (beyond the paper).
    rule: LabelRule = "paper"
    judge_prompt: str = "judge_emh_v1"
    zte_prompt: str = "judge_zte_v1"
    zte_grader: Grader = "judge"
    # PRM: a wrong solution's lowest step score s maps to level 5 - #(cut points <= s),
    # so a confident PRM (s >= 0.8) gives level 1 and s < 0.2 gives level 5.
    prm_thresholds: list[float] = Field(default_factory=lambda: [0.2, 0.4, 0.6, 0.8])
    easy_pass_rate: float = Field(1.0, gt=0.0, le=1.0)
    max_parse_retries: int = Field(2, ge=0)

    @field_validator("prm_thresholds")
    @classmethod
    def _ascending(cls, v: list[float]) -> list[float]:
        if len(v) != 4 or any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("needs four ascending cut points")
        return v


def _weights(**weights: float) -> dict[str, float]:
    """A fresh ratio table (typed: whole numbers are valid float weights)."""
    return dict(weights)


class SamplingConfig(_Strict):
    strategy: Strategy = "adaptive"
    k: int = Field(1000, ge=1)
    ratios: dict[str, float] = Field(default_factory=lambda: _weights(E=6, M=3, H=1))
    # ZTE samples more easy than hard problems: weights decrease with level.
    curriculum: dict[str, float] = Field(
        default_factory=lambda: _weights(easy=6, **{"1": 5, "2": 4, "3": 3, "4": 2, "5": 1})
    )
    # ZTE distils long CoTs for every question ("long"); "split" keeps short CoTs for easy-3.
    zte_cot: Literal["long", "split"] = "long"
    seed: int = 0
    decontaminate: bool = True
    ngram: int = Field(13, ge=3)


class TeachingConfig(_Strict):
    short_prompt: str = "teach_short_v1"
    long_prompt: str = "teach_long_v1"


class VerificationConfig(_Strict):
    max_regenerations: int = Field(2, ge=0)
    # Replace items that still fail by unused problems of the same level, so a verified set is
    # K with the planned mix whenever the pool allows (the paper's sets are exactly K).
    top_up: bool = True
    max_topup_rounds: int = Field(3, ge=0)
    spot_check_fraction: float = Field(0.1, ge=0.0, le=1.0)
    consistency_judge: bool = False
    consistency_prompt: str = "consistency_v1"


class TrainingConfig(_Strict):
    """ACoTD paper defaults."""

    lora_rank: int = Field(32, ge=1)
    lora_alpha: int = Field(32, ge=1)
    lora_dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"
    learning_rate: float = Field(1e-5, gt=0)
    effective_batch_size: int = Field(16, ge=1)
    per_device_batch_size: int = Field(1, ge=1)
    epochs: float = Field(5, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    packing: bool = True
    max_length: int = Field(16384, ge=16)
    bf16: Literal["auto", "on", "off"] = "auto"
    gradient_checkpointing: bool = True
    eval_steps: int = Field(16, ge=1)
    save_steps: int = Field(64, ge=1)
    eval_fraction: float = Field(0.05, ge=0, lt=1)
    merge: bool = False
    num_gpus: int = Field(1, ge=0)
    seed: int = 42


class EvalConfig(_Strict):
    benchmarks: list[str] = Field(
        default_factory=lambda: ["amc23", "aime25", "math500", "gsm8k_test"]
    )
    n: int = Field(4, ge=1)
    temperature: float = Field(0.6, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    # Table 2 of the paper: 16,384 (shared with the baselines); §4.3.3 says 8196.
    max_tokens: int = Field(16384, ge=1)
    cotqs: bool = True
    cotqs_prompt: str = "cotqs_v1"
    # CoTs judged per problem (0 = all): every sample, so CoTQS has a mean ± std over n runs
    cotqs_samples: int = Field(0, ge=0, description="CoTs judged per problem (0 = all)")


class ExperimentConfig(_Strict):
    """`acotd experiment`: the rows of the paper's Table 3 besides the trained arms."""

    # Baseline models evaluated like the student (same prompt, n, sampling, max_tokens), e.g.
    # the paper's "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"; served by the student's backend.
    baselines: list[str] = Field(default_factory=list)
    # Table 3's student rows: thinking on (Qwen3 enable_thinking) and, with this, thinking off.
    student_thinking_off: bool = True


class CodeConfig(_Strict):
    """Code problems: prompts, and the sandbox that runs answers against their tests."""

    diagnose_prompt: str = "diagnose_code_v1"
    judge_prompt: str = "judge_emh_code_v1"
    zte_prompt: str = "judge_zte_code_v1"
    short_prompt: str = "teach_short_code_v1"
    long_prompt: str = "teach_long_code_v1"
    timeout_s: float = Field(20.0, gt=0)
    per_test_timeout_s: float = Field(4.0, gt=0)
    memory_mb: int = Field(512, ge=64)
    workers: int | None = Field(None, ge=1)
    isolation_command: list[str] = Field(default_factory=list)


class Config(_Strict):
    name: str = "acotd-project"
    models: dict[str, ModelRole] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    diagnose: DiagnoseConfig = Field(default_factory=DiagnoseConfig)
    grading: GradingConfig = Field(default_factory=GradingConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    teaching: TeachingConfig = Field(default_factory=TeachingConfig)
    verification: VerificationConfig = Field(default_factory=VerificationConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    experiment: ExperimentConfig = Field(default_factory=ExperimentConfig)
    code: CodeConfig = Field(default_factory=CodeConfig)

    @model_validator(mode="after")
    def _known_roles(self) -> Config:
        unknown = sorted(set(self.models) - set(ROLES))
        if unknown:
            raise ValueError(f"unknown model role {unknown[0]!r} (roles: {', '.join(ROLES)})")
        return self

    def role(self, name: str) -> ModelRole:
        if name not in self.models:
            raise ConfigError(
                f"no model configured for role {name!r}: add [models.{name}] to acotd.toml"
            )
        return self.models[name]


def _format_error(err: ValidationError, origin: str) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}")
    return f"{origin}: " + "; ".join(parts)


def parse_config(text: str, origin: str = CONFIG_FILENAME) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML ({exc})") from None
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, origin)) from None


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (is this an acotd project? run `acotd init`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None
    return parse_config(text, str(path))


DEFAULT_CONFIG = """\
# acotd.toml - configuration of one acotd-tui project.
# Every key is optional; the values shown are the defaults. Unknown keys are errors.
name = "{name}"

# ---------------------------------------------------------------------------------------
# Models, one table per role. backend = "litellm" (any provider, or an OpenAI-compatible
# server through api_base), "vllm" (local GPU, `pip install acotd-tui[gpu]`) or
# "transformers" (local, CPU or one GPU). API keys are read from the environment variable
# named by api_key_env and are never written to the store, logs or job parameters.
# Every model-using command takes --backend/--model/--api-base to override a role.
# ---------------------------------------------------------------------------------------
[models.student]            # answers problems in `acotd diagnose`, evaluated by `acotd eval`
backend = "vllm"
model = "Qwen/Qwen3-1.7B"
enable_thinking = true
temperature = 0.6
top_p = 0.95
max_tokens = 8192

[models.judge]              # grades the student (E/M/H, or ZTE levels 1-5)
backend = "litellm"
model = "openai/gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
temperature = 0.0
max_tokens = 1024

[models.teacher_short]      # teacher A: short CoTs for Easy and Medium problems
backend = "litellm"
model = "openai/gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
temperature = 0.7
max_tokens = 4096

[models.teacher_long]       # teacher B: long, detailed CoTs for Hard problems (e.g. QwQ-32B on vLLM)
backend = "litellm"
model = "hosted_vllm/Qwen/QwQ-32B"
api_base = "http://127.0.0.1:8000/v1"
temperature = 0.6
max_tokens = 16384

[models.cotqs_judge]        # scores CoT quality 1-5 in `acotd eval`
backend = "litellm"
model = "openai/gpt-4o-mini"
api_key_env = "OPENAI_API_KEY"
temperature = 0.0
max_tokens = 512

# [models.consistency_judge]   # optional: does the teacher's reasoning support its answer?
# [models.prm]                 # optional ZTE grader: a process reward model, e.g.
# backend = "transformers"     #   Qwen/Qwen2.5-Math-PRM-7B (vllm or transformers)
# model = "Qwen/Qwen2.5-Math-PRM-7B"

[limits]                    # client-side limits for API models
concurrency = 32
requests_per_minute = 0     # 0 = unlimited
tokens_per_minute = 0
max_retries = 6             # 429/5xx/timeouts, with backoff that honours Retry-After
timeout_s = 600
budget_usd = 0.0            # stop jobs cleanly before the project's API spend passes this; 0 = no cap

[diagnose]
samples = 1                 # student samples per problem
prompt = "diagnose_v1"
# answer_pattern = 'Answer:\\s*(.+)'   # default: the last \\boxed{{}}

[grading]
scheme = "emh"              # "emh" (ACoTD Easy/Medium/Hard) or "zte" (easy + levels 1-5)
rule = "paper"              # "paper": the judge's verdict is the label (Algorithm 1, §3.2), conflicts
                            # queued but kept in the pool; "checked": the answer check decides Easy,
                            # conflicts left out of the pool
judge_prompt = "judge_emh_v1"
zte_prompt = "judge_zte_v1"
zte_grader = "judge"        # "judge" or "prm"
prm_thresholds = [0.2, 0.4, 0.6, 0.8]
easy_pass_rate = 1.0        # rule "checked": Easy when at least this share of samples is correct
max_parse_retries = 2       # unparseable judge replies are retried, then marked needs-review

[sampling]
strategy = "adaptive"       # adaptive | adaptive_medium | fixed | random | curriculum
k = 1000
ratios = {{ E = 6, M = 3, H = 1 }}
curriculum = {{ easy = 6, "1" = 5, "2" = 4, "3" = 3, "4" = 2, "5" = 1 }}   # ZTE: decreasing with level
zte_cot = "long"            # ZTE: long CoTs for every question; "split": short for easy-3, long for 4-5
seed = 0
decontaminate = true        # drop problems sharing an n-gram with a bundled benchmark
ngram = 13

[teaching]
short_prompt = "teach_short_v1"
long_prompt = "teach_long_v1"

[verification]
max_regenerations = 2
top_up = true               # replace items that still fail by unused problems of the same level (seeded, recorded)
max_topup_rounds = 3
spot_check_fraction = 0.1
consistency_judge = false

[training]                  # ACoTD paper defaults (LoRA SFT with trl + peft)
lora_rank = 32
lora_alpha = 32
lora_dropout = 0.1
target_modules = "all-linear"
learning_rate = 1e-5
effective_batch_size = 16
per_device_batch_size = 1
epochs = 5
lr_scheduler = "cosine"
warmup_ratio = 0.03
weight_decay = 0.01
packing = true
max_length = 16384
bf16 = "auto"
gradient_checkpointing = true
eval_steps = 16
save_steps = 64
eval_fraction = 0.05
merge = false
num_gpus = 1

[eval]
benchmarks = ["amc23", "aime25", "math500", "gsm8k_test"]
n = 4
temperature = 0.6
top_p = 0.9
max_tokens = 16384          # the paper's Table 2 (shared with the baselines); §4.3.3 says 8196
cotqs = true
cotqs_samples = 0           # CoTs judged per problem, 0 = every sample (CoTQS mean ± std over n)

[experiment]                # `acotd experiment`: Table 3's baseline rows
baselines = []              # models evaluated like the student, e.g. ["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"]
student_thinking_off = true # also evaluate the untrained student with thinking off

[code]                      # code problems (domain "code"): answers run against their tests
timeout_s = 20              # the whole run of one answer
per_test_timeout_s = 4
memory_mb = 512
# workers = 2               # sandbox processes in parallel (default: CPU count)
# isolation_command = ["bwrap", "--ro-bind", "/", "/", "--bind", "{{workdir}}", "{{workdir}}", "--unshare-all", "--die-with-parent"]
"""


def default_config_text(name: str) -> str:
    return DEFAULT_CONFIG.format(name=name)
