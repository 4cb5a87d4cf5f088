"""The project configuration file, `acotd.toml`: one documented, validated schema.

Unknown keys are errors (a typo must not silently fall back to a default), and every error
is reported as one line naming the key path. The file `acotd init` writes is rendered from
these models (`default_config_text`): every key with its default and its `description`, so the
template cannot drift from the schema. Code that changes a config edits data through
`edit_config`, which validates before it writes and keeps the user's comments.
"""

from __future__ import annotations

import inspect
import os
import shutil
import textwrap
import tomllib
from collections.abc import Mapping
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import tomlkit
import tomlkit.items
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from tomlkit.container import Container
from tomlkit.toml_document import TOMLDocument

from .domain import SchemeName, ZteCot
from .errors import ConfigError

CONFIG_FILENAME = "acotd.toml"

Backend = Literal["litellm", "vllm", "transformers"]

# What each model role is for; the order is the order of `acotd init`'s tables.
ROLE_PURPOSES: dict[str, str] = {
    "student": "answers problems in `acotd diagnose`, evaluated by `acotd eval`",
    "judge": "grades the student (E/M/H, or ZTE levels 1-5)",
    "teacher_short": "teacher A: short CoTs for Easy and Medium problems",
    "teacher_long": "teacher B: long, detailed CoTs for Hard problems (e.g. QwQ-32B on vLLM)",
    "consistency_judge": "optional: does the teacher's reasoning support its answer?",
    "cotqs_judge": "scores CoT quality 1-5 in `acotd eval`",
    "prm": "optional ZTE grader: a process reward model (vllm or transformers)",
}
ROLES = tuple(ROLE_PURPOSES)

# Eval's generation cap: the paper's Table 2 gives 16,384 tokens (shared with the baselines),
# its §4.3.3 says 8196. The default follows Table 2.
PAPER_EVAL_MAX_TOKENS = 16384
PAPER_EVAL_MAX_TOKENS_4_3_3 = 8196

# Closed vocabularies of config keys that stage parameters and commands share: declared here
# once, imported by acotd_tui.stages, the pipeline and the CLI.
LabelRule = Literal["paper", "checked"]  # grading.rule
Grader = Literal["judge", "prm"]  # grading.zte_grader
Strategy = Literal["adaptive", "adaptive_medium", "fixed", "random", "curriculum"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelRole(_Strict):
    """How to reach one model: which backend, which model, and its sampling defaults."""

    backend: Backend = Field(
        "litellm",
        description='"litellm" (any provider, or an OpenAI-compatible server through api_base), '
        '"vllm" (local GPU, `pip install acotd-tui[gpu]`) or "transformers" (local, CPU or one GPU)',
    )
    model: str = Field(description="the model name (litellm: provider/model) or a local path")
    api_base: str | None = Field(
        None,
        description="an OpenAI-compatible server, e.g. a local vLLM (litellm backend)",
        examples=["http://127.0.0.1:8000/v1"],
    )
    api_key_env: str | None = Field(
        None,
        description="the environment variable holding the API key; the key itself is read at "
        "call time and never written to the store, logs or job parameters",
        examples=["OPENAI_API_KEY"],
    )
    enable_thinking: bool | None = Field(
        None,
        description="Qwen3's thinking switch (chat template); unset: the template's default",
        examples=[True],
    )
    temperature: float = Field(0.6, ge=0.0, le=2.0, description="sampling temperature")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="nucleus sampling")
    max_tokens: int = Field(4096, gt=0, description="generation cap per reply")
    seed: int | None = Field(0, description="sampling seed, where the backend takes one")
    dtype: str = Field("auto", description="local backends: weights dtype")
    device: str = Field("auto", description='local backends: "auto", "cpu", "cuda", "cuda:1", ...')
    tensor_parallel_size: int = Field(1, ge=1, description="vllm: GPUs per model")
    gpu_memory_utilization: float = Field(
        0.9, gt=0.0, le=1.0, description="vllm: share of GPU memory the engine may take"
    )
    max_model_len: int | None = Field(
        None,
        ge=1,
        description="vllm: context length (unset: the model's own)",
        examples=[16384],
    )
    batch_size: int = Field(16, ge=1, description="local backends: prompts per batch")
    input_cost_per_mtok: float | None = Field(
        None,
        ge=0,
        description="USD per million prompt tokens, for models litellm has no price for "
        "(local servers)",
        examples=[0.1],
    )
    output_cost_per_mtok: float | None = Field(
        None,
        ge=0,
        description="USD per million completion tokens, for models litellm has no price for",
        examples=[0.2],
    )
    extra: dict[str, Any] = Field(
        default_factory=dict,
        description="passed through to the backend: request (litellm request arguments), "
        "engine (vllm engine arguments), max_lora_rank, step_separator and trust_remote_code "
        "(prm), direct",
        examples=[{"engine": {"enforce_eager": True}}],
    )

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
    """Client-side limits for API models, shared by every job of the project."""

    concurrency: int = Field(32, ge=1, description="requests in flight at once")
    requests_per_minute: int = Field(0, ge=0, description="0 = unlimited")
    tokens_per_minute: int = Field(0, ge=0, description="0 = unlimited")
    max_retries: int = Field(
        6,
        ge=0,
        description="5xx, timeouts and malformed replies are retried with exponential backoff; "
        "a 429 waits the server's Retry-After and does not count",
    )
    timeout_s: float = Field(600.0, gt=0, description="per request")
    connect_timeout_s: float = Field(
        10.0,
        gt=0,
        description="how long to wait for the server to accept a connection; a host that "
        "never answers is then reported like one that refuses (not waited on for timeout_s)",
    )
    backoff_base_s: float = Field(1.0, gt=0, description="first backoff")
    backoff_max_s: float = Field(60.0, gt=0, description="longest backoff")
    budget_usd: float = Field(
        0.0,
        ge=0,
        description="stop jobs cleanly before the project's API spend passes this; 0 = no cap",
    )


class DiagnoseConfig(_Strict):
    """`acotd diagnose`: the student answers every problem."""

    samples: int = Field(1, ge=1, description="student samples per problem")
    prompt: str = Field("diagnose_v1", description="prompt name (acotd_tui/prompts)")
    answer_pattern: str | None = Field(
        None,
        description="a regex whose group 1 is the final answer (default: the last \\boxed{})",
        examples=["Answer:\\s*(.+)"],
    )


class GradingConfig(_Strict):
    """`acotd grade`: difficulty labels from the judge and the symbolic answer check."""

    scheme: SchemeName = Field(
        SchemeName.EMH, description='"emh" (ACoTD Easy/Medium/Hard) or "zte" (easy + levels 1-5)'
    )
    rule: LabelRule = Field(
        "paper",
        description='"paper": the judge\'s E/M/H verdict is the label (ACoTD Algorithm 1, '
        "§3.2); judge-vs-check conflicts are queued for review and stay in the sampling pool. "
        '"checked" (beyond the paper): the answer check decides Easy and conflicts are left '
        "out of the pool unless asked",
    )
    judge_prompt: str = Field("judge_emh_v1", description="the E/M/H judge's prompt")
    zte_prompt: str = Field("judge_zte_v1", description="the ZTE judge's prompt")
    zte_grader: Grader = Field(
        "judge", description='ZTE levels from "judge" or "prm" ([models.prm])'
    )
    prm_thresholds: list[float] = Field(
        default_factory=lambda: [0.2, 0.4, 0.6, 0.8],
        description="PRM: a wrong solution's lowest step score s maps to level "
        "5 - #(cut points <= s), so s >= 0.8 gives level 1 and s < 0.2 level 5",
    )
    easy_pass_rate: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description='rule "checked": Easy when at least this share of samples is correct',
    )
    max_parse_retries: int = Field(
        2, ge=0, description="unparseable judge replies are retried, then marked needs-review"
    )

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
    """`acotd sample`: which graded problems make a distillation set of size K."""

    strategy: Strategy = Field(
        "adaptive", description="adaptive | adaptive_medium | fixed | random | curriculum"
    )
    k: int = Field(1000, ge=1, description="problems per set (§4.2: 1,000 distillation examples)")
    ratios: dict[str, float] = Field(
        default_factory=lambda: _weights(E=6, M=3, H=1),
        description="E:M:H weights of the fixed strategy",
    )
    curriculum: dict[str, float] = Field(
        default_factory=lambda: _weights(easy=6, **{"1": 5, "2": 4, "3": 3, "4": 2, "5": 1}),
        description="ZTE: weights decrease with level (more easy than hard problems)",
    )
    zte_cot: ZteCot = Field(
        ZteCot.LONG,
        description='ZTE distils long CoTs for every question ("long"); "split" keeps short '
        "CoTs for easy-3 and long ones for 4-5",
    )
    seed: int = Field(0, description="sampling seed")
    decontaminate: bool = Field(
        True, description="drop problems sharing an n-gram with a bundled benchmark"
    )
    ngram: int = Field(13, ge=3, description="n of the decontamination n-grams")


class TeachingConfig(_Strict):
    """`acotd teach`: the teachers' prompts."""

    short_prompt: str = Field("teach_short_v1", description="teacher A (short CoTs)")
    long_prompt: str = Field("teach_long_v1", description="teacher B (long CoTs)")


class VerificationConfig(_Strict):
    """`acotd verify`: teacher CoTs checked against the references."""

    max_regenerations: int = Field(2, ge=0, description="new CoTs asked for one that fails")
    top_up: bool = Field(
        True,
        description="replace items that still fail by unused problems of the same level "
        "(seeded, recorded), so a verified set is K with the planned mix whenever the pool "
        "allows (the paper's sets are exactly K)",
    )
    max_topup_rounds: int = Field(3, ge=0, description="rounds of top-up")
    spot_check_fraction: float = Field(
        0.1, ge=0.0, le=1.0, description="share of CoTs queued for a human spot check"
    )
    consistency_judge: bool = Field(
        False, description="also ask [models.consistency_judge] whether the reasoning holds"
    )
    consistency_prompt: str = Field("consistency_v1", description="the consistency judge's prompt")


class TrainingConfig(_Strict):
    """`acotd train`: LoRA SFT with trl + peft; the defaults are the ACoTD paper's."""

    lora_rank: int = Field(32, ge=1, description="LoRA rank")
    lora_alpha: int = Field(32, ge=1, description="LoRA alpha")
    lora_dropout: float = Field(0.1, ge=0, lt=1, description="LoRA dropout")
    target_modules: str | list[str] = Field(
        "all-linear", description='"all-linear" or a list of module names'
    )
    learning_rate: float = Field(1e-5, gt=0, description="peak learning rate")
    effective_batch_size: int = Field(
        16, ge=1, description="per-device batch x gradient accumulation x GPUs"
    )
    per_device_batch_size: int = Field(1, ge=1, description="sequences per device and step")
    epochs: float = Field(5, gt=0, description="passes over the set")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="share of steps warming up")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    packing: bool = Field(True, description="pack several examples into one sequence")
    max_length: int = Field(16384, ge=16, description="tokens per training sequence")
    bf16: Literal["auto", "on", "off"] = Field(
        "auto", description='"auto": bf16 where the GPU supports it'
    )
    gradient_checkpointing: bool = Field(True, description="trade compute for memory")
    eval_steps: int = Field(16, ge=1, description="steps between held-out loss evaluations")
    save_steps: int = Field(64, ge=1, description="steps between checkpoints")
    eval_fraction: float = Field(0.05, ge=0, lt=1, description="share of the set held out")
    merge: bool = Field(False, description="also save the adapter merged into the student")
    num_gpus: int = Field(1, ge=0, description="GPUs to train on (0 = CPU)")
    seed: int = Field(42, description="training seed")


class EvalConfig(_Strict):
    """`acotd eval`: accuracy (mean ± std over n samples) and CoT quality (CoTQS)."""

    benchmarks: list[str] = Field(
        default_factory=lambda: ["amc23", "aime25", "math500", "gsm8k_test"],
        description="bundled benchmarks to evaluate on",
    )
    n: int = Field(4, ge=1, description="samples per problem (Table 2)")
    temperature: float = Field(0.6, ge=0, description="sampling temperature (Table 2)")
    top_p: float = Field(0.9, gt=0, le=1, description="nucleus sampling (Table 2)")
    max_tokens: int = Field(
        PAPER_EVAL_MAX_TOKENS,
        ge=1,
        description=f"generation cap per answer: {PAPER_EVAL_MAX_TOKENS} as in the paper's "
        f"Table 2 (shared with the baselines); §4.3.3 says {PAPER_EVAL_MAX_TOKENS_4_3_3}",
    )
    cotqs: bool = Field(True, description="also score CoT quality with [models.cotqs_judge]")
    cotqs_prompt: str = Field("cotqs_v1", description="the CoTQS judge's prompt")
    cotqs_samples: int = Field(
        0,
        ge=0,
        description="CoTs judged per problem (0 = all): every sample, so CoTQS has a mean ± std "
        "over n runs",
    )


class ExperimentConfig(_Strict):
    """`acotd experiment`: the rows of the paper's Table 3 besides the trained arms."""

    baselines: list[str] = Field(
        default_factory=list,
        description="models evaluated like the student (same prompt, n, sampling, max_tokens), "
        "served by the student's backend",
        examples=[["deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"]],
    )
    student_thinking_off: bool = Field(
        True,
        description="Table 3's student rows: thinking on (Qwen3 enable_thinking) and, with "
        "this, thinking off",
    )


class CodeConfig(_Strict):
    """Code problems (domain "code"): prompts, and the sandbox that runs answers against
    their tests."""

    diagnose_prompt: str = Field("diagnose_code_v1", description="the student's prompt")
    judge_prompt: str = Field("judge_emh_code_v1", description="the E/M/H judge's prompt")
    zte_prompt: str = Field("judge_zte_code_v1", description="the ZTE judge's prompt")
    short_prompt: str = Field("teach_short_code_v1", description="teacher A's prompt")
    long_prompt: str = Field("teach_long_code_v1", description="teacher B's prompt")
    timeout_s: float = Field(20.0, gt=0, description="the whole run of one answer")
    per_test_timeout_s: float = Field(4.0, gt=0, description="one test")
    memory_mb: int = Field(512, ge=64, description="memory limit of the sandbox")
    workers: int | None = Field(
        None, ge=1, description="sandbox processes in parallel (default: CPU count)", examples=[2]
    )
    isolation_command: list[str] = Field(
        default_factory=list,
        description="a command the sandbox runs inside ({workdir} is replaced by the answer's "
        "folder)",
        examples=[
            [
                "bwrap",
                "--ro-bind",
                "/",
                "/",
                "--bind",
                "{workdir}",
                "{workdir}",
                "--unshare-all",
                "--die-with-parent",
            ]
        ],
    )


class Config(_Strict):
    """acotd.toml: the configuration of one acotd-tui project."""

    name: str = Field("acotd-project", description="the project's name")
    models: dict[str, ModelRole] = Field(
        default_factory=dict,
        description="Models, one table per role. API keys are read from the environment "
        "variable named by api_key_env and are never written to the store, logs or job "
        "parameters. Every model-using command takes --backend/--model/--api-base to "
        "override a role.",
    )
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


# `acotd init`'s model tables: suggestions, not defaults (a role has no default model). The
# optional roles are written commented out.
SUGGESTED_ROLES: dict[str, dict[str, Any]] = {
    "student": {
        "backend": "vllm",
        "model": "Qwen/Qwen3-1.7B",
        "enable_thinking": True,
        "temperature": 0.6,
        "top_p": 0.95,
        "max_tokens": 8192,
    },
    "judge": {
        "backend": "litellm",
        "model": "openai/gpt-4o-mini",
        "api_key_env": "OPENAI_API_KEY",
        "temperature": 0.0,
        "max_tokens": 1024,
    },
    "teacher_short": {
        "backend": "litellm",
        "model": "openai/gpt-4o-mini",
        "api_key_env": "OPENAI_API_KEY",
        "temperature": 0.7,
        "max_tokens": 4096,
    },
    "teacher_long": {
        "backend": "litellm",
        "model": "hosted_vllm/Qwen/QwQ-32B",
        "api_base": "http://127.0.0.1:8000/v1",
        "temperature": 0.6,
        "max_tokens": 16384,
    },
    "consistency_judge": {
        "backend": "litellm",
        "model": "openai/gpt-4o-mini",
        "api_key_env": "OPENAI_API_KEY",
        "temperature": 0.0,
        "max_tokens": 512,
    },
    "cotqs_judge": {
        "backend": "litellm",
        "model": "openai/gpt-4o-mini",
        "api_key_env": "OPENAI_API_KEY",
        "temperature": 0.0,
        "max_tokens": 512,
    },
    "prm": {"backend": "transformers", "model": "Qwen/Qwen2.5-Math-PRM-7B"},
}
OPTIONAL_ROLES = frozenset({"consistency_judge", "prm"})
# The suggested table that also lists every other ModelRole key, commented out.
ROLE_SHOWING_ALL_KEYS = "student"

_COMMENT_WIDTH = 92


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


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (is this an acotd project? run `acotd init`)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from None


def load_config(path: Path) -> Config:
    return parse_config(_read(path), str(path))


# --- the template: rendered from the models above ----------------------------------------


def _toml(value: Any) -> tomlkit.items.Item:
    """A TOML value for `value`; mappings become inline tables (one line, like the rest)."""
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for key, item in value.items():
            table.append(str(key), _toml(item))
        return table
    if isinstance(value, list | tuple):
        array = tomlkit.array()
        array.extend(_toml(item) for item in value)
        return array
    if isinstance(value, Enum):
        return tomlkit.item(value.value)
    return tomlkit.item(value)


def _comment_lines(text: str, prefix: str = "") -> list[str]:
    width = _COMMENT_WIDTH - len(prefix)
    return [prefix + line for line in textwrap.wrap(" ".join(text.split()), width)]


def _add_comments(container: Container | tomlkit.items.Table, text: str) -> None:
    for line in _comment_lines(text):
        container.add(tomlkit.comment(line))


def _default(model: type[BaseModel], key: str) -> Any:
    return model.model_fields[key].get_default(call_default_factory=True)


def _example(model: type[BaseModel], key: str) -> Any:
    examples = model.model_fields[key].examples
    if not examples:
        raise ValueError(f"{model.__name__}.{key} has no default and no example")
    return examples[0]


def _add_field(
    table: Container | tomlkit.items.Table, model: type[BaseModel], key: str, value: Any = None
) -> None:
    """One key: its description, then `key = value`; a key without a value (None: TOML has
    no null) is written commented out with its example."""
    field = model.model_fields[key]
    if field.description:
        _add_comments(table, field.description)
    if value is None:
        value = _default(model, key)
    if value is None:
        table.add(tomlkit.comment(f"{key} = {_toml(_example(model, key)).as_string()}"))
        return
    table.add(key, _toml(value))
    if field.examples and value != field.examples[0]:
        table.add(tomlkit.comment(f"e.g. {key} = {_toml(field.examples[0]).as_string()}"))


def _role_table(role: str) -> tomlkit.items.Table:
    table = tomlkit.table()
    table.add(tomlkit.comment(ROLE_PURPOSES[role]))
    settings = SUGGESTED_ROLES[role]
    for key, value in settings.items():
        table.add(key, _toml(value))
    if role == ROLE_SHOWING_ALL_KEYS:
        table.add(tomlkit.comment("The other keys of a model table, at their defaults:"))
        for key, field in ModelRole.model_fields.items():
            if key in settings:
                continue
            value = _default(ModelRole, key)
            shown = _example(ModelRole, key) if value is None or value == {} else value
            for line in _comment_lines(field.description or "", "  "):
                table.add(tomlkit.comment(line))
            table.add(tomlkit.comment(f"{key} = {_toml(shown).as_string()}"))
    return table


def _commented_role(role: str) -> list[str]:
    lines = [f"[models.{role}]  # {ROLE_PURPOSES[role]}"]
    lines += [f"{key} = {_toml(value).as_string()}" for key, value in SUGGESTED_ROLES[role].items()]
    return lines


def _section_doc(model: type[BaseModel]) -> str:
    return inspect.cleandoc(model.__doc__ or "")


def default_config_text(name: str) -> str:
    """The `acotd.toml` that `acotd init` writes: every key of every section with its default
    and description, the suggested model tables, the optional ones commented out."""
    doc = tomlkit.document()
    _add_comments(doc, _section_doc(Config))
    _add_comments(
        doc,
        "Written by `acotd init` from the schema (acotd_tui/config.py). Every key is optional; "
        "the values shown are the defaults. A commented-out key has no default (TOML has no "
        "null): the line shows an example. Unknown keys are errors.",
    )
    doc.add(tomlkit.nl())
    _add_field(doc, Config, "name", name)
    doc.add(tomlkit.nl())
    _add_comments(doc, Config.model_fields["models"].description or "")
    _add_comments(doc, "backend: " + (ModelRole.model_fields["backend"].description or ""))
    # The optional roles come first: comments after a table belong to it, and a key later
    # added to that table would land below them.
    for role in ROLES:
        if role in OPTIONAL_ROLES:
            doc.add(tomlkit.nl())
            for line in _commented_role(role):
                doc.add(tomlkit.comment(line))
    models = tomlkit.table(is_super_table=True)
    for role in ROLES:
        if role not in OPTIONAL_ROLES:
            models.add(role, _role_table(role))
    doc.add("models", models)
    for key, field in Config.model_fields.items():
        section = field.annotation
        if key == "models" or not (isinstance(section, type) and issubclass(section, BaseModel)):
            continue
        table = tomlkit.table()
        _add_comments(table, _section_doc(section))
        for sub in section.model_fields:
            _add_field(table, section, sub)
        doc.add(key, table)
    return doc.as_string()


# --- editing: data, not text --------------------------------------------------------------


def _is_table_path(path: list[str]) -> bool:
    """Whether a mapping at `path` is a [table] (a section or a model role) rather than an
    inline value such as `ratios = { E = 6, ... }`."""
    return len(path) == 1 or (path[0] == "models" and len(path) == 2)


def _as_item(path: list[str], value: Any) -> tomlkit.items.Item:
    if isinstance(value, Mapping) and _is_table_path(path):
        table = tomlkit.table()
        for key, item in value.items():
            table.add(str(key), _toml(item))
        table.add(tomlkit.nl())
        return table
    return _toml(value)


def set_config_values(
    text: str,
    values: Mapping[str, Any],
    origin: str = CONFIG_FILENAME,
    *,
    notes: Mapping[str, str] | None = None,
) -> str:
    """`text` with the dotted keys of `values` set (None removes a key: back to its default),
    tables created as needed and comments kept; `notes` gives a set value a trailing comment.
    The result must be a valid Config, else ConfigError naming the key."""
    try:
        doc: TOMLDocument = tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"{origin}: not valid TOML ({exc})") from None
    for dotted, value in values.items():
        path = dotted.split(".")
        if not all(path):
            raise ConfigError(f"{origin}: {dotted!r} is not a dotted key")
        container: Any = doc
        for depth, part in enumerate(path[:-1]):
            if part not in container:
                container[part] = tomlkit.table(is_super_table=path[0] == "models" and depth == 0)
            container = container[part]
            if not isinstance(container, dict):
                raise ConfigError(f"{origin}: {dotted}: {'.'.join(path[: depth + 1])} is a value")
        leaf = path[-1]
        if value is None:
            container.pop(leaf, None)
        else:
            item = _as_item(path, value)
            if notes and dotted in notes:
                item.comment(notes[dotted])
            container[leaf] = item
    new_text = doc.as_string()
    parse_config(new_text, origin)
    return new_text


def edit_config(path: Path, values: Mapping[str, Any]) -> Config:
    """Set dotted keys of the config file at `path` (e.g. {"limits.concurrency": 2}), keeping
    its comments. The edited config is validated first: a bad value or an unknown key raises
    ConfigError and leaves the file as it was."""
    new_text = set_config_values(_read(path), values, str(path))
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(new_text, encoding="utf-8")
        shutil.copymode(path, tmp)  # the new file keeps the old one's permissions
        os.replace(tmp, path)  # all or nothing: a reader sees the old file or the new one
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return parse_config(new_text, str(path))
