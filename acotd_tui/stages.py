"""One declaration per stage: the parameters of every job kind, as pydantic models.

Each field says its type, its default, its help text, its bounds and (in `opt(...)`) how it
appears elsewhere: the CLI flag, whether the app's job form shows it, and which `acotd.toml`
key prefills it. From this one table come

- the click options of the stage commands (`cli_options`),
- the app's job form, a widget per field type (`form_fields`, `params_from_form`),
- the stored job parameters, validated when a job is launched and again when it runs or is
  resumed (`validate_params`): a bad stored value is refused with one line.

Adding a stage option is one `opt(...)` line here. The pipeline modules import their
`XxxParams` from this module; nothing else declares a stage parameter.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from acotd_tui.config import (
    PAPER_EVAL_MAX_TOKENS,
    EvalConfig,
    Grader,
    GradingConfig,
    LabelRule,
    SamplingConfig,
    Strategy,
)
from acotd_tui.domain import SchemeName
from acotd_tui.errors import AcotdError

Count = Annotated[int, Field(ge=1)]  # "how many": None means "the default", else >= 1
ExportFormat = Literal["trl", "llamafactory", "hf"]
FORMATS: tuple[str, ...] = get_args(ExportFormat)
# The experiment's arms (acotd_tui.pipeline.experiment says how each one samples).
Method = Literal["acotd", "random", "fixed_6_3_1", "only_short", "only_long"]
METHODS: tuple[str, ...] = get_args(Method)
# The random arm's CoT kinds: the ACoTD arm's short:long proportion, all short, or all long.
RandomKinds = Literal["acotd", "short", "long"]
# The CoT kinds a sampled set asks for: auto = short for Easy/Medium (ZTE: easy-3), long for
# Hard; short/long = one kind for all (the only-short/only-long ablations).
CotMode = Literal["auto", "short", "long"]
COT_MODES: tuple[str, ...] = get_args(CotMode)
# `acotd experiment --paper`: the settings the paper states, applied over the project's config.
# The config's defaults are the paper's (each field's description says where): read from there.
_PAPER_EVAL = EvalConfig()
PAPER_SETTINGS: dict[str, Any] = {
    "k": SamplingConfig().k,  # §4.2: 1,000 distillation examples (671 short + 329 long)
    "n": _PAPER_EVAL.n,  # Table 2: 4 samples per problem
    "max_tokens": PAPER_EVAL_MAX_TOKENS,  # Table 2 (and what §4.3.3 says instead: config.py)
    "temperature": _PAPER_EVAL.temperature,  # Table 2
    "top_p": _PAPER_EVAL.top_p,  # Table 2
    "grading_rule": GradingConfig().rule,  # Algorithm 1: the judge's verdict is the label
}
# The training keys `acotd train` sets per run (the job form shows the first two).
TRAIN_KEYS = (
    "epochs",
    "learning_rate",
    "lora_rank",
    "lora_alpha",
    "effective_batch_size",
    "max_length",
    "save_steps",
    "merge",
)


def opt(
    default: Any = None,
    help: str = "",  # noqa: A002 - click's name for it
    *,
    flag: str | None = None,
    short: str | None = None,
    form: bool = True,
    config: str | None = None,
    cli: bool = True,
    expand: tuple[str, ...] = (),
    form_keys: tuple[str, ...] | None = None,
    key_flags: Mapping[str, str] | None = None,
    flag_value: str | None = None,
    directory: bool = False,
    **constraints: Any,
) -> Any:
    """A stage field: `flag` the CLI option (default `--name-with-dashes`), `short` its one-letter
    alias, `form` shown in the app's job form, `config` the `acotd.toml` key that prefills the form
    (the stored default stays None: "the config's"), `cli` False for fields the command builds
    itself (`--backend/--model/--api-base` → overrides).

    `expand`: a dict field whose listed `[training]` keys get one flag each (their bounds from
    `TrainingConfig`), `key_flags` the flags that are not `--key-with-dashes`, `form_keys` the
    ones the job form shows (default: all). `flag_value`: a text field set by a bare flag
    (`--cpu` → device "cpu"). `directory`: the CLI takes a folder path (not a file)."""
    extra: dict[str, Any] = {"flag": flag, "short": short, "form": form, "config": config}
    extra.update(cli=cli, expand=list(expand), flag_value=flag_value, directory=directory)
    extra.update(key_flags=dict(key_flags or {}))
    extra.update(form_keys=list(expand if form_keys is None else form_keys))
    if isinstance(default, list | dict):
        factory = type(default)
        return Field(
            default_factory=lambda: factory(default),
            description=help,
            json_schema_extra=extra,
            **constraints,
        )
    if callable(default):
        return Field(
            default_factory=default, description=help, json_schema_extra=extra, **constraints
        )
    return Field(default, description=help, json_schema_extra=extra, **constraints)


class StageParams(BaseModel):
    """The base of every stage's parameters: stored as the job's JSON, validated on the way in
    and on the way out."""

    model_config = ConfigDict(extra="forbid")
    KIND: ClassVar[str] = ""

    def __init__(self, **data: Any) -> None:
        """Built in code (the commands, the experiment's children): bad values are one line."""
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise AcotdError(one_line(type(self), exc)) from None

    def to_job(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_job(cls, params: Mapping[str, Any]) -> Any:
        return _validated(cls, params)


def _check_max_steps(value: int) -> int:
    if value != -1 and value < 1:
        raise ValueError("must be -1 (all epochs) or at least 1")
    return value


class DiagnoseParams(StageParams):
    KIND: ClassVar[str] = "diagnose"
    sources: list[str] = opt(
        [], "Only problems from this source (repeatable; blank: all).", flag="--source"
    )
    splits: list[str] = opt([], "Only problems from this split (repeatable).", flag="--split")
    limit: Count | None = opt(None, "At most this many problems.")
    samples: Count | None = opt(
        None,
        "Samples per problem (default: diagnose.samples).",
        short="-n",
        config="diagnose.samples",
    )
    new_only: bool = opt(False, "Skip problems the student has already attempted.")
    overrides: dict[str, str] = opt(
        {}, "The student role's backend/model/api_base for this run.", form=False, cli=False
    )
    thinking: bool | None = opt(
        None, "Qwen3 enable_thinking for the student (default: the student role's setting)."
    )
    adapter: str | None = opt(
        None,
        "Diagnose a trained student (a finished training run): the next round. Attempts are "
        "stored under MODEL+RUN; grade them with `acotd grade --attempts-of MODEL+RUN`.",
    )


class GradeParams(StageParams):
    KIND: ClassVar[str] = "grade"
    sources: list[str] = opt(
        [], "Only problems from this source (repeatable; blank: all).", flag="--source"
    )
    splits: list[str] = opt([], "Only problems from this split (repeatable).", flag="--split")
    limit: Count | None = opt(None, "At most this many problems.")
    attempts_of: list[str] = opt(
        [], "Grade attempts of this model (default: the student; '*' = any)."
    )
    scheme: SchemeName | None = opt(None, "Default: grading.scheme.", config="grading.scheme")
    grader: Grader | None = opt(None, "ZTE only: judge prompt or PRM.")
    regrade: bool = opt(
        False, "Recompute per-problem labels even where this grader already gave one."
    )
    overrides: dict[str, str] = opt(
        {}, "The judge role's backend/model/api_base for this run.", form=False, cli=False
    )
    rule: LabelRule | None = opt(
        None,
        "E/M/H label rule (default: grading.rule): paper = the judge's verdict (Algorithm 1), "
        "checked = the answer check decides Easy and conflicts stay out of the pool.",
        config="grading.rule",
    )


class TeachParams(StageParams):
    KIND: ClassVar[str] = "teach"
    dataset: str = opt(..., "The dataset whose problems get CoTs.")
    limit: Count | None = opt(None, "At most this many problems.")
    from_reference: bool = opt(False, "Use the problems' worked solutions: no API.")
    overrides: dict[str, str] = opt(
        {}, "Both teachers' backend/model/api_base.", form=False, cli=False
    )
    short_overrides: dict[str, str] = opt({}, "Teacher A for this run.", form=False, cli=False)
    long_overrides: dict[str, str] = opt({}, "Teacher B for this run.", form=False, cli=False)


class VerifyParams(StageParams):
    KIND: ClassVar[str] = "verify"
    dataset: str = opt(..., "The dataset whose CoTs are checked.")
    consistency: bool | None = opt(
        None,
        "Ask the consistency judge whether reasoning and answer agree (default: "
        "verification.consistency_judge).",
        config="verification.consistency_judge",
    )
    max_regenerations: int | None = opt(
        None,
        "Regenerations of a failed CoT (0: none; default: verification.max_regenerations).",
        ge=0,
    )
    spot_check_fraction: float | None = opt(
        None,
        "Share of verified CoTs per level queued for a person to review (default: "
        "verification.spot_check_fraction).",
        flag="--spot-check",
        ge=0,
        le=1,
    )
    seed: int = opt(0, "Seed of the spot-check draw.")
    top_up: bool | None = opt(
        None,
        "Replace items that still fail by unused problems of the same level (default: "
        "verification.top_up).",
    )
    from_reference: bool = opt(
        False,
        "Top-up replacements get the problems' reference solutions as CoTs (no API teachers).",
    )
    overrides: dict[str, str] = opt({}, "Teachers for regenerations.", form=False, cli=False)
    judge_overrides: dict[str, str] = opt({}, "The judge for this run.", form=False, cli=False)


class ExportParams(StageParams):
    KIND: ClassVar[str] = "export"
    dataset: str = opt(..., "The dataset to export.")
    formats: list[ExportFormat] = opt(
        list(FORMATS), "Formats to write (repeatable; default: all).", flag="--format"
    )
    out: str | None = opt(
        None, "Folder to write to (default: runs/exports/DATASET).", directory=True
    )


class TrainParams(StageParams):
    KIND: ClassVar[str] = "train"
    dataset: str = opt(..., "The dataset to train on.")
    name: str | None = opt(None, "Run name (default: the dataset's); re-running a run resumes it.")
    overrides: dict[str, str] = opt({}, "The student role (model).", form=False, cli=False)
    hyper: dict[str, Any] = opt(
        {},
        "[training] keys for this run.",
        expand=TRAIN_KEYS,
        form_keys=("epochs", "learning_rate"),
        key_flags={
            "learning_rate": "--lr",
            "lora_rank": "--rank",
            "lora_alpha": "--alpha",
            "effective_batch_size": "--batch-size",
        },
    )
    max_steps: int = opt(-1, "Stop after this many optimiser steps (-1: train all epochs).")
    device: str = opt(
        "auto",
        "Train on the CPU even if a GPU is visible (device auto or cpu).",
        flag="--cpu",
        flag_value="cpu",
        form=False,
    )

    @field_validator("max_steps")
    @classmethod
    def _steps(cls, value: int) -> int:
        return _check_max_steps(value)

    @property
    def run_name(self) -> str:
        return self.name or self.dataset


class EvalParams(StageParams):
    KIND: ClassVar[str] = "eval"
    benchmarks: list[str] = opt(
        [],
        "amc23, aime24, aime25, math500, gsm8k_test or SOURCE/SPLIT (repeatable; default: "
        "eval.benchmarks).",
        flag="--benchmark",
        config="eval.benchmarks",
    )
    adapter: str | None = opt(
        None, "A training run's name (or an adapter folder; blank: the base model)."
    )
    name: str | None = opt(None, "Row name in the results (default: model[+adapter]).")
    overrides: dict[str, str] = opt({}, "The student role for this run.", form=False, cli=False)
    n: Count | None = opt(
        None,
        "Samples per problem (default: eval.n).",
        flag="--samples",
        short="-n",
        config="eval.n",
    )
    temperature: float | None = opt(None, "Sampling temperature.", ge=0, form=False)
    top_p: float | None = opt(None, "Nucleus sampling (0 < p <= 1).", gt=0, le=1, form=False)
    max_tokens: Count | None = opt(None, "Token cap per answer.", form=False)
    limit: Count | None = opt(None, "First N problems of each benchmark.")
    cotqs: bool | None = opt(None, "Score CoT quality (CoTQS).", form=False)
    allow_overlap: bool = opt(
        False, "Evaluate although training data overlaps the benchmark.", form=False
    )
    thinking: bool | None = opt(
        None,
        "Qwen3 enable_thinking for the student (default: the student role's setting).",
        form=False,
    )


class ExperimentParams(StageParams):
    KIND: ClassVar[str] = "experiment"
    name: str = opt("paper", "Experiment name: prefixes its datasets, runs and evals.")
    methods: list[Method] = opt(
        list(METHODS),
        "Methods to compare (repeatable; default: all five).",
        flag="--method",
        form=False,
    )
    k: Count | None = opt(
        None,
        "Dataset size K: distillation examples per method (default: sampling.k).",
        flag="--size",
        short="-k",
        config="sampling.k",
    )
    seed: int = opt(0, "Seed of the samplings.", form=False)
    benchmarks: list[str] = opt(
        [], "Benchmarks (default: eval.benchmarks).", flag="--benchmark", form=False
    )
    n: Count | None = opt(
        None, "Samples per problem (default: eval.n).", flag="--samples", short="-n", form=False
    )
    limit: Count | None = opt(None, "First N problems of each benchmark.")
    max_tokens: Count | None = opt(None, "Token cap per answer.", form=False)
    from_reference: bool = opt(False, "Teach from worked solutions (no API teachers).")
    hyper: dict[str, Any] = opt({}, "[training] keys for its runs.", expand=("epochs",), form=False)
    max_steps: int = opt(-1, "Stop each training after this many steps (-1: all epochs).")
    baseline: bool = opt(True, "Also evaluate the untrained student.", form=False)
    cotqs: bool | None = opt(None, "Score CoT quality (CoTQS).", form=False)
    random_kinds: RandomKinds = opt(
        "acotd",
        "Random arm's CoT kinds: the ACoTD arm's short:long proportion (default), all short "
        "or all long.",
        form=False,
    )
    accept_nearest: bool = opt(
        False,
        "If a level is short for a plan, take the nearest feasible plan (else refuse).",
        form=False,
    )
    thinking: bool | None = opt(
        None,
        "Qwen3 enable_thinking for the student rows (default: the student role's setting).",
        form=False,
    )
    paper: bool = opt(
        False,
        "The paper's rule and settings: K={k}, n={n}, max_tokens {max_tokens}, T={temperature}, "
        "top-p {top_p}, Algorithm 1 labels (conflicts kept).".format(**PAPER_SETTINGS),
        form=False,
    )
    baselines: list[str] | None = opt(
        None,
        "A baseline model evaluated like the student (repeatable; default: [experiment] "
        "baselines).",
        flag="--baseline-model",
        form=False,
    )
    thinking_off_row: bool | None = opt(
        None,
        "Also a student row with thinking off (default: experiment.student_thinking_off).",
        form=False,
    )
    paper_reference: bool = opt(
        False, "Add the paper's published rows to the tables, marked (paper).", form=False
    )

    @field_validator("max_steps")
    @classmethod
    def _steps(cls, value: int) -> int:
        return _check_max_steps(value)


class SampleParams(StageParams):
    """`acotd sample preview/create`: what the sampling request changes from `[sampling]` (not
    a job kind: a set is planned and created at once). The service's `default_request` fills
    what is None from the config."""

    KIND: ClassVar[str] = "sample"
    strategy: Strategy | None = opt(None, "Default: sampling.strategy.", config="sampling.strategy")
    k: Count | None = opt(
        None,
        "Set size K (adaptive_medium: the Medium count k; default: sampling.k).",
        flag="--size",
        short="-k",
        config="sampling.k",
    )
    ratios: str | None = opt(None, "fixed/curriculum weights: 6:3:1, or easy=1,1=1,2=2,...")
    seed: int | None = opt(None, "Seed of the draw (default: sampling.seed).")
    cot_mode: CotMode | None = opt(None, "Force one CoT kind (ablations).", flag="--cot")
    sources: list[str] = opt([], "Only problems from this source (repeatable).", flag="--source")
    decontaminate: bool | None = opt(
        None,
        "Leave out problems that overlap an evaluation benchmark; --no-decontaminate keeps "
        "them (default: sampling.decontaminate).",
        config="sampling.decontaminate",
    )
    include_conflicts: bool | None = opt(
        None,
        "Keep unresolved judge/check conflicts (default: kept under grading.rule paper).",
    )
    accept_nearest: bool = opt(False, "If a level is short, take the nearest feasible plan.")


class DecontaminateParams(StageParams):
    """Checks every problem against `eval.benchmarks` with `sampling.ngram`: no parameters."""

    KIND: ClassVar[str] = "decontaminate"


STAGES: dict[str, type[StageParams]] = {
    m.KIND: m
    for m in (
        DiagnoseParams,
        GradeParams,
        TeachParams,
        VerifyParams,
        ExportParams,
        TrainParams,
        EvalParams,
        ExperimentParams,
        DecontaminateParams,
    )
}
# Commands with a parameter model that are no job kind (their options come from it too).
COMMAND_MODELS: dict[str, type[StageParams]] = {"sample": SampleParams}
# The kinds the app's job form offers (decontaminate runs from `acotd decontaminate`).
FORM_KINDS: tuple[str, ...] = tuple(k for k in STAGES if k != "decontaminate")


# -- validation -------------------------------------------------------------------------------
def flag_of(model: type[BaseModel], name: str) -> str:
    extra = _extra(model, name)
    return extra.get("flag") or "--" + name.replace("_", "-")


def _validated(model: type[StageParams], params: Mapping[str, Any]) -> Any:
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise AcotdError(one_line(model, exc)) from None


def one_line(model: type[BaseModel], exc: ValidationError) -> str:
    """The first problem of a validation error as one line naming the option."""
    first = exc.errors()[0]
    loc = first["loc"]
    name = str(loc[0]) if loc else ""
    what = flag_of(model, name) if name in model.model_fields else (name or "parameters")
    if len(loc) > 1:
        what += f" ({'.'.join(map(str, loc[1:]))})"
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return f"{getattr(model, 'KIND', '')} has no parameter {name!r}"
    if first["type"] == "missing":
        return f"{what} is required"
    return f"{what}: {msg} (got {first.get('input')!r})"


def validate_params(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A job's parameters checked against its stage: the stored form, or one AcotdError line."""
    model = STAGES.get(kind)
    if model is None:
        raise AcotdError(f"unknown job kind {kind!r} (kinds: {', '.join(STAGES)})")
    return model.from_job(params).to_job()


# -- field introspection ----------------------------------------------------------------------
def _extra(model: type[BaseModel], name: str) -> dict[str, Any]:
    extra = model.model_fields[name].json_schema_extra
    return dict(extra) if isinstance(extra, dict) else {}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(the type without None, whether None is allowed)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return (args[0] if len(args) == 1 else annotation), len(args) < len(get_args(annotation))
    return annotation, False


def _base(annotation: Any) -> Any:
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


@dataclass(frozen=True)
class FieldSpec:
    """What the CLI and the form need to know of one field."""

    name: str
    kind: str  # "bool" | "choice" | "list" | "int" | "float" | "text"
    optional: bool
    choices: tuple[str, ...]
    help: str
    flag: str
    short: str | None
    form: bool
    cli: bool
    config: str | None
    parent: str | None = None  # "hyper" for an expanded [training] key
    minimum: float | None = None
    default: Any = None
    min_open: bool = False  # `gt`: the minimum itself is refused
    maximum: float | None = None
    max_open: bool = False  # `lt`
    flag_value: str | None = None  # a bare flag that sets this text value
    directory: bool = False  # the CLI takes a folder path


def _kind_of(annotation: Any) -> tuple[str, tuple[str, ...]]:
    annotation = _base(annotation)
    if annotation is bool:
        return "bool", ()
    if isinstance(annotation, type) and issubclass(annotation, Enum):  # acotd_tui.domain's
        return "choice", tuple(str(member.value) for member in annotation)
    if get_origin(annotation) is Literal:
        return "choice", tuple(get_args(annotation))
    if get_origin(annotation) is list:
        inner = _base(get_args(annotation)[0]) if get_args(annotation) else str
        return "list", tuple(get_args(inner)) if get_origin(inner) is Literal else ()
    if annotation is int:
        return "int", ()
    if annotation is float:
        return "float", ()
    if annotation is str:
        return "text", ()
    return "other", ()


@dataclass(frozen=True)
class Bounds:
    """A numeric field's limits, from `ge`/`gt`/`le`/`lt` on the field or in its `Annotated`
    type (`Count`): the CLI's IntRange/FloatRange are drawn from them."""

    minimum: float | None = None
    min_open: bool = False
    maximum: float | None = None
    max_open: bool = False


def _bounds(info: Any) -> Bounds:
    metadata = list(info.metadata)
    annotation, _ = _unwrap(info.annotation)
    if get_origin(annotation) is Annotated:
        for item in get_args(annotation)[1:]:
            metadata += list(getattr(item, "metadata", [])) + [item]
    found: dict[str, Any] = {}
    for item in metadata:
        for attr in ("ge", "gt", "le", "lt"):
            value = getattr(item, attr, None)
            if value is not None:
                found.setdefault(attr, value)
    low = found.get("ge", found.get("gt"))
    high = found.get("le", found.get("lt"))
    return Bounds(
        low, "ge" not in found and "gt" in found, high, "le" not in found and "lt" in found
    )


def field_specs(model: type[StageParams]) -> list[FieldSpec]:
    """The fields of a stage in declaration order; an expanded dict gives one spec per key."""
    from acotd_tui.config import TrainingConfig

    out = []
    for name, info in model.model_fields.items():
        extra = _extra(model, name)
        annotation, optional = _unwrap(info.annotation)
        if extra.get("expand"):
            for key in extra["expand"]:
                sub = TrainingConfig.model_fields[key]
                sub_type, _ = _unwrap(sub.annotation)
                kind, choices = _kind_of(sub_type)
                bounds = _bounds(sub)
                out.append(
                    FieldSpec(
                        key,
                        kind,
                        True,
                        choices,
                        sub.description
                        or f"Overrides training.{key} (default: acotd.toml's value).",
                        extra["key_flags"].get(key) or "--" + key.replace("_", "-"),
                        None,
                        bool(extra["form"]) and key in extra["form_keys"],
                        True,
                        f"training.{key}",
                        parent=name,
                        minimum=bounds.minimum,
                        min_open=bounds.min_open,
                        maximum=bounds.maximum,
                        max_open=bounds.max_open,
                    )
                )
            continue
        kind, choices = _kind_of(annotation)
        if kind == "other":
            continue  # overrides: built by the command from --backend/--model/--api-base
        bounds = _bounds(info)
        out.append(
            FieldSpec(
                name,
                kind,
                optional,
                choices,
                info.description or "",
                flag_of(model, name),
                extra.get("short"),
                bool(extra.get("form")),
                bool(extra.get("cli", True)),
                extra.get("config"),
                minimum=bounds.minimum,
                default=None if info.is_required() or info.default_factory else info.default,
                min_open=bounds.min_open,
                maximum=bounds.maximum,
                max_open=bounds.max_open,
                flag_value=extra.get("flag_value"),
                directory=bool(extra.get("directory")),
            )
        )
    return out


def config_value(config: Any, path: str | None) -> Any:
    if not path:
        return None
    value = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


# -- the app's job form ------------------------------------------------------------------------
@dataclass(frozen=True)
class FormField:
    """One widget of the job form: `kind` picks it (bool: a switch, choice: a select, else a
    text input); `value` is its prefill (a bool, a choice or "", or text)."""

    name: str
    kind: str
    value: Any
    help: str
    choices: tuple[str, ...] = ()
    optional: bool = True


def form_fields(kind: str, config: Any, *, latest_dataset: str = "") -> list[FormField]:
    """The job form of a stage, prefilled from `acotd.toml` (and the newest dataset)."""
    out = []
    for spec in field_specs(STAGES[kind]):
        if not spec.form:
            continue
        value: Any = config_value(config, spec.config)
        if value is None:
            value = spec.default
        if spec.name == "dataset":
            value = latest_dataset
        if spec.kind == "bool":
            value = bool(value) if value is not None or not spec.optional else None
        elif spec.kind == "list":
            value = ",".join(map(str, value or []))
        elif spec.kind == "choice":
            value = value if value in spec.choices else ""
        else:
            value = "" if value is None else str(value)
        out.append(FormField(spec.name, spec.kind, value, spec.help, spec.choices, spec.optional))
    return out


def params_from_form(kind: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The filled form as the job's parameters; blank means "the default", and every value is
    validated by the stage's model (one AcotdError line naming the field)."""
    model = STAGES[kind]
    specs = {s.name: s for s in field_specs(model) if s.form}
    params: dict[str, Any] = {}
    for name, raw in values.items():
        spec = specs.get(name)
        if spec is None:
            raise AcotdError(f"{kind} has no field {name!r}")
        value = raw.strip() if isinstance(raw, str) else raw
        if value == "" or value is None:
            if spec.name == "dataset":
                raise AcotdError("choose a dataset (create one on the Sampling screen)")
            continue  # blank: the model's default (the config's, where it reads one)
        if spec.kind == "list":
            value = [x.strip() for x in value.split(",") if x.strip()]
        elif spec.kind in ("int", "float") and isinstance(value, str):
            try:
                value = int(value) if spec.kind == "int" else float(value)
            except ValueError:
                raise AcotdError(f"{name}: {value!r} is not a number") from None
        if spec.parent:
            params.setdefault(spec.parent, {})[name] = value
        else:
            params[name] = value
    return model.from_job(params).to_job()


# -- the CLI -----------------------------------------------------------------------------------
def cli_options(
    kind: str, *, skip: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Click options for a stage's fields (not `skip`, not the ones the command builds itself),
    in declaration order. The command gets them by field name; `stage_from_cli` builds the
    model from them."""
    import click

    specs = [s for s in field_specs(_model_of(kind)) if s.cli and s.name not in skip]

    def click_type(spec: FieldSpec) -> Any:
        if spec.kind == "choice":
            return click.Choice(list(spec.choices))
        if spec.kind == "list" and spec.choices:
            return click.Choice(list(spec.choices))
        low, high = spec.minimum, spec.maximum
        bounded = low is not None or high is not None
        if spec.kind == "int" and bounded:
            return click.IntRange(
                None if low is None else int(low),
                None if high is None else int(high),
                min_open=spec.min_open,
                max_open=spec.max_open,
            )
        if spec.kind == "float" and bounded:
            return click.FloatRange(low, high, min_open=spec.min_open, max_open=spec.max_open)
        if spec.kind in ("int", "float"):
            return int if spec.kind == "int" else float
        if spec.directory:
            return click.Path(file_okay=False)
        return None

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        for spec in reversed(specs):
            names = [spec.flag] + ([spec.short] if spec.short else [])
            if spec.flag_value is not None:  # `--cpu`: a bare flag that sets a text value
                f = click.option(
                    *names,
                    spec.name,
                    flag_value=spec.flag_value,
                    default=spec.default,
                    help=spec.help,
                )(f)
            elif spec.kind == "bool" and spec.optional:
                base = spec.flag.removeprefix("--")
                f = click.option(f"--{base}/--no-{base}", spec.name, default=None, help=spec.help)(
                    f
                )
            elif spec.kind == "bool":
                if spec.default is True:
                    base = spec.flag.removeprefix("--")
                    f = click.option(
                        f"--{base}/--no-{base}", spec.name, default=True, help=spec.help
                    )(f)
                else:
                    f = click.option(*names, spec.name, is_flag=True, help=spec.help)(f)
            elif spec.kind == "list":
                f = click.option(
                    *names, spec.name, multiple=True, type=click_type(spec), help=spec.help
                )(f)
            else:
                default = spec.default if not spec.optional else None
                f = click.option(
                    *names, spec.name, type=click_type(spec), default=default, help=spec.help
                )(f)
        return f

    return decorate


def _model_of(kind: str) -> type[StageParams]:
    return STAGES.get(kind) or COMMAND_MODELS[kind]


def stage_from_cli(kind: str, values: Mapping[str, Any], **extra: Any) -> Any:
    """The stage's model from the command's option values (by field name) plus `extra`."""
    model = _model_of(kind)
    params: dict[str, Any] = {}
    for spec in field_specs(model):
        if spec.name not in values:
            continue
        value = values[spec.name]
        if spec.kind == "list":
            value = list(value)
            if not value:
                continue
        if value is None:
            continue
        if spec.parent:
            params.setdefault(spec.parent, {})[spec.name] = value
        else:
            params[spec.name] = value
    params.update({k: v for k, v in extra.items() if v is not None})
    return model.from_job(params)
