"""What an attempts file holds: its shape, and one row turned into `ParsedAttempt`s.

The shapes are listed in attempts.py's docstring; here a plan (attempt field -> path, see
fieldpath.py) is chosen from the first record or from `--map`, and each row is read with it.
A row with a `[]` path (or a list of samples) yields one attempt per element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acotd_tui.answer_forms import literal_list
from acotd_tui.answers import extract_final_answer

from .fieldpath import MISSING, FieldPath, parse_map_option, parse_path
from .readers import Record, RecordError
from .values import answer_text

ATTEMPT_FIELDS = (
    "problem",
    "reference",
    "model",
    "response",
    "steps",
    "answer",
    "correct",
    "sample_index",
    "first_error",
    "finish_reason",
)
_ALIASES: dict[str, tuple[str, ...]] = {
    "problem": ("problem", "question", "prompt", "query"),
    "reference": ("reference_answer", "reference", "ground_truth", "gt", "answer", "target"),
    "model": ("model", "generator", "model_name"),
    "response": ("response", "output", "completion", "generation", "text"),
    "answer": ("extracted_answer", "pred", "prediction", "final_answer", "answer"),
    # not `label` / `score`: in a plain row they are as often a step label or a reward
    "correct": ("correct", "is_correct", "correctness"),
    "sample_index": ("sample_index", "sample_idx", "sample_id", "position"),
    "finish_reason": ("finish_reason",),
}
CUT_OFF = "length"
# Per-sample fields a row cannot do without; the others may be null ("not given").
_REQUIRED = frozenset({"problem", "response", "steps"})
# PRM800K does not name the generator per row; the rows' solutions share one model name.
PRM800K_MODEL = "prm800k-generator"


def parse_attempt_mapping(text: str | None) -> dict[str, str]:
    """`outputs[].response=response,outputs[].label=correct` -> {path: field}."""
    return parse_map_option(text, ATTEMPT_FIELDS, entry="SOURCE_PATH=FIELD", per_element=True)


@dataclass
class ParsedAttempt:
    problem: str
    reference: str | None
    model: str
    text: str
    correct: bool | None
    location: str
    sample_index: int | None = None  # None: the next free index for (problem, model)
    index_explicit: bool = False  # from a sample-index field (a list position only prefers)
    answer: str | None = None
    finish_reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    first_error: int | None = None
    n_steps: int | None = None
    problem_id: int | None = None
    outcome: str = ""  # added / duplicate / skipped, once identities are assigned
    same_as: ParsedAttempt | None = None  # a repeat, in this file, of an attempt it adds


@dataclass(frozen=True)
class AttemptPlan:
    shape: str
    title: str
    fields: dict[str, str]  # attempt field -> path
    model_default: str | None = None
    mapped: frozenset[str] = frozenset()

    def path(self, name: str) -> FieldPath | None:
        return parse_path(self.fields[name]) if name in self.fields else None

    def mapping_lines(self, model_override: str | None = None) -> list[str]:
        lines = self._mapping_lines()
        if model_override:  # --model wins over the file's field and the shape's default
            lines = [line for line in lines if not line.startswith("model    ←")]
            lines.insert(1, f"model    ← {model_override} (--model)")
        return lines

    def _mapping_lines(self) -> list[str]:
        if self.shape == "model_solutions":
            return [
                "problem  ← question",
                "reference ← ground_truth (text after '####')",
                "model    ← each field holding {solution, is_correct}",
                "response ← <model>.solution",
                "correct  ← <model>.is_correct",
            ]
        if self.shape == "prm800k":
            return [
                "problem  ← question.problem",
                "reference ← question.ground_truth_answer",
                "steps    ← question.pre_generated_steps (phase 2), else each"
                " label.steps[].completions[chosen_completion].text (phase 1)",
                "answer   ← question.pre_generated_answer",
                "first_error ← first step rated -1 (none: -1 when finish_reason is"
                " 'solution'; no label after 'give_up' / 'bad_problem')",
                f"model    ← {self.model_default} (--model overrides)",
                "sample_index ← next free index per (problem, model); the same solution"
                " rated again is a duplicate attempt (its label a second grade)",
            ]
        lines = []
        for name in ATTEMPT_FIELDS:
            if name in self.fields:
                by = " [--map]" if name in self.mapped else ""
                lines.append(f"{name:<8} ← {self.fields[name]}{by}")
        if "model" not in self.fields:
            lines.append(f"model    ← {self.model_default or 'unknown'} (--model overrides)")
        if "sample_index" not in self.fields:
            lines.append(
                "sample_index ← position in the list"
                if any("[]" in p for p in self.fields.values())
                else "sample_index ← next free index per (problem, model)"
            )
        return lines


_KNOWN: tuple[tuple[str, str, frozenset[str], dict[str, str], str | None], ...] = (
    (
        "processbench",
        "ProcessBench (Qwen/ProcessBench)",
        frozenset({"steps", "label", "final_answer_correct"}),
        {
            "problem": "problem",
            "reference": "reference_answer",
            "model": "generator",
            "steps": "steps",
            "correct": "final_answer_correct",
            "first_error": "label",
        },
        None,
    ),
    (
        "openr1",
        "OpenR1-Math-220k (generations by DeepSeek-R1, per its dataset card)",
        frozenset({"problem", "generations"}),
        {
            "problem": "problem",
            "reference": "answer",
            "response": "generations[]",
            "correct": "correctness_math_verify[]",
            "finish_reason": "finish_reasons[]",
        },
        "DeepSeek-R1",
    ),
)


def _literal_list(value: Any) -> Any:
    if isinstance(value, str) and value.lstrip().startswith("["):
        parsed = literal_list(value.strip())
        if parsed is not None:
            return parsed
    return value


def detect_attempt_plan(record: Record, mapping: dict[str, str] | None = None) -> AttemptPlan:
    keys = set(record)
    mapping = dict(mapping or {})
    if mapping:
        absent = [src for src in mapping if parse_path(src).root not in record]
        if absent:
            raise RecordError(
                "",
                f"--map names field {absent[0]!r}, which the file does not have"
                f" (fields: {', '.join(sorted(keys))})",
            )
        fields = {dst: src for src, dst in mapping.items()}
        _fill_aliases(fields, record)
        if "problem" not in fields or not fields.keys() & {"response", "steps"}:
            raise RecordError(
                "", "--map must lead to a problem and a response (or steps) for each attempt"
            )
        return AttemptPlan("mapped", "mapped with --map", fields, mapped=frozenset(fields))
    for name, title, requires, fields, model in _KNOWN:
        if requires <= keys:
            present = {k: v for k, v in fields.items() if parse_path(v).root in keys}
            return AttemptPlan(name, title, present, model)
    if (
        "question" in keys
        and "ground_truth" in keys
        and any(isinstance(v, dict) and "solution" in v for v in record.values())
    ):
        return AttemptPlan("model_solutions", "GSM8K example_model_solutions", {})
    if (
        isinstance(record.get("question"), dict)
        and "problem" in record["question"]
        and isinstance(record.get("label"), dict)
        and "steps" in record["label"]
    ):
        return AttemptPlan("prm800k", "PRM800K (openai/prm800k) step ratings", {}, PRM800K_MODEL)
    response = _literal_list(record.get("response"))
    if isinstance(response, list):
        fields = {"response": "response[]"}
        for key, name in (("score", "correct"), ("pred", "answer")):
            if isinstance(_literal_list(record.get(key)), list):
                fields[name] = f"{key}[]"
        fields["problem"] = "question" if "question" in keys else "problem"
        ref = next((k for k in ("gt", "answer", "reference") if k in keys), None)
        if ref:
            fields["reference"] = ref
        if "model" in keys:
            fields["model"] = "model"
        return AttemptPlan("samples", "sampled outputs (Qwen2.5-Math evaluation)", fields)
    outputs = record.get("outputs")
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], dict):
        inner = set(outputs[0])
        fields = {}
        for name in ("response", "answer", "correct", "sample_index", "finish_reason"):
            aliases = _ALIASES[name] + (("score",) if name == "correct" else ())
            alias = next((a for a in aliases if a in inner), None)
            if alias:
                fields[name] = f"outputs[].{alias}"
        if "response" not in fields:
            raise RecordError(
                "",
                f"`outputs` elements have no response field ({', '.join(sorted(inner))});"
                " pass --map outputs[].FIELD=response",
            )
        _fill_aliases(fields, record)
        return AttemptPlan("outputs", "one problem, a list of sampled outputs", fields)
    if keys & {"problem", "question"} and keys & {"response", "output", "completion"}:
        fields = {}
        _fill_aliases(fields, record)
        return AttemptPlan("generic", "one attempt per row", fields)
    raise RecordError(
        "",
        f"not a recognised attempt file (fields: {', '.join(sorted(keys))});"
        " pass --map PATH=problem,PATH=response,...",
    )


def _fill_aliases(fields: dict[str, str], record: Record) -> None:
    taken = {parse_path(p).root for p in fields.values()}
    for name, aliases in _ALIASES.items():
        if name in fields or (name == "response" and "steps" in fields):
            continue
        for alias in aliases:
            if alias in record and alias not in taken:
                fields[name] = alias
                taken.add(alias)
                break


_TRUE_WORDS = frozenset({"1", "true", "yes", "correct", "1.0"})
_FALSE_WORDS = frozenset({"0", "false", "no", "incorrect", "wrong", "0.0"})


def _bool(value: Any) -> bool | None:
    """A correctness verdict, or None where the value is none (a reward such as 0.91, `None`,
    `unknown`): then the checker decides from the extracted answer and the reference."""
    if value is None or value == "" or value is MISSING:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        return True if word in _TRUE_WORDS else False if word in _FALSE_WORDS else None
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return None  # pred_score-style [[x]], a reward, any other number: not a verdict


def parse_row(
    plan: AttemptPlan, record: Record, location: str, model_override: str | None
) -> list[ParsedAttempt]:
    if plan.shape == "model_solutions":
        return _model_solutions(record, location, model_override)
    if plan.shape == "prm800k":
        return [_prm800k(record, location, model_override or PRM800K_MODEL)]
    for p in plan.fields.values():  # Python-literal lists (Qwen's output files)
        root = parse_path(p).root
        if "[]" in p and isinstance(record.get(root), str):
            record[root] = _literal_list(record[root])
    values: dict[str, Any] = {}
    n: int | None = None
    for name, p in plan.fields.items():
        path = parse_path(p)
        value = path.resolve(record)
        if path.each:
            if value is MISSING and name not in _REQUIRED and record.get(path.root, 0) is None:
                continue  # a null optional list (OpenR1's `finish_reasons`): not given
            if value is MISSING:
                raise RecordError(location, f"field {path.root!r} is not a list")
            if n is not None and len(value) != n:
                raise RecordError(
                    location, f"{n} responses but {len(value)} values for {name} ({p})"
                )
            n = len(value)
        values[name] = value
    problem = values.get("problem", MISSING)
    if problem is MISSING or problem is None or not str(problem).strip():
        kind = "unmatched" if problem is MISSING else "bad"
        raise RecordError(location, f"missing field {plan.fields.get('problem')!r}", kind=kind)
    reference = None
    ref_value = values.get("reference", MISSING)
    if ref_value is not MISSING and ref_value not in (None, ""):
        try:
            reference = answer_text(ref_value).text or None
        except ValueError:
            reference = None
    model = model_override or (
        str(values["model"])
        if values.get("model") not in (None, MISSING, "")
        else (plan.model_default or "unknown")
    )
    each = {name for name, p in plan.fields.items() if parse_path(p).each and name in values}
    count = n if n is not None else 1

    def at(name: str, i: int) -> Any:
        v = values.get(name, MISSING)
        return v[i] if name in each else v

    out = []
    for i in range(count):
        steps_value = at("steps", i)
        first_error = n_steps = None
        if steps_value is not MISSING and "steps" in plan.fields:
            steps = [str(s) for s in _literal_list(steps_value)] if steps_value else []
            if not steps or not isinstance(_literal_list(steps_value), list):
                raise RecordError(location, "field 'steps' is empty or not a list")
            text = "\n\n".join(steps)
            n_steps = len(steps)
            fe = at("first_error", i)
            if fe is not MISSING and fe is not None:
                try:
                    first_error = int(fe)
                except (TypeError, ValueError):
                    raise RecordError(location, f"step label {fe!r} is not a number") from None
                if not -1 <= first_error < n_steps:
                    raise RecordError(
                        location, f"label {first_error} is outside the {n_steps} steps"
                    )
        else:
            response = at("response", i)
            if response is MISSING or response is None:
                raise RecordError(
                    location,
                    f"missing field {plan.fields.get('response')!r}",
                    kind="unmatched" if response is MISSING else "bad",
                )
            text = str(response)
        explicit = at("sample_index", i)
        is_explicit = explicit is not MISSING and explicit is not None
        if is_explicit:
            try:
                index: int | None = int(explicit)
            except (TypeError, ValueError):
                raise RecordError(location, f"sample index {explicit!r} is not a number") from None
        else:
            index = i if n is not None else None
        finish = at("finish_reason", i)
        finish = None if finish in (MISSING, None) else str(finish)
        correct = _bool(at("correct", i))
        if finish == CUT_OFF and correct:
            correct = False  # a cut-off generation is never a pass
        answer = at("answer", i)
        params: dict[str, Any] = {}
        if first_error is not None:
            params = {"first_error_step": first_error, "steps": n_steps}
        if record.get("id") is not None and isinstance(record.get("id"), (str, int)):
            params["id"] = record["id"]
        out.append(
            ParsedAttempt(
                problem=str(problem),
                reference=reference,
                model=model,
                text=text,
                correct=correct,
                location=location,
                sample_index=index,
                index_explicit=is_explicit,
                answer=None if answer in (MISSING, None, "") else str(answer),
                finish_reason=finish,
                params=params,
                first_error=first_error,
                n_steps=n_steps,
            )
        )
    return out


def _model_solutions(
    record: Record, location: str, model_override: str | None
) -> list[ParsedAttempt]:
    question = record.get("question")
    if not question:
        raise RecordError(location, "missing field 'question'")
    truth = str(record.get("ground_truth") or "")
    reference = extract_final_answer(truth) if truth else None
    return [
        ParsedAttempt(
            problem=question,
            reference=reference,
            model=model_override or key,
            text=str(value["solution"]),
            correct=_bool(value.get("is_correct")),
            location=location,
        )
        for key, value in record.items()
        if isinstance(value, dict) and "solution" in value
    ]


def _prm800k(record: Record, location: str, model: str) -> ParsedAttempt:
    """One rated solution: its steps, and the first step a labeler rated -1 (wrong)."""
    question, label = record["question"], record["label"]
    steps_rated = label.get("steps") or []
    ratings: list[int | None] = []
    texts: list[str] = []
    for step in steps_rated:
        completions = step.get("completions") or []
        chosen = step.get("chosen_completion")
        if chosen is not None and 0 <= chosen < len(completions):
            picked = completions[chosen]
        elif step.get("human_completion"):
            picked = step["human_completion"]
        elif len(completions) == 1:
            picked = completions[0]
        else:
            picked = None
        ratings.append(None if picked is None else picked.get("rating"))
        texts.append("" if picked is None else str(picked.get("text") or ""))
    pre = question.get("pre_generated_steps")
    steps = [str(s) for s in pre] if isinstance(pre, list) and pre else [t for t in texts if t]
    if not steps:
        raise RecordError(
            location, "no solution steps (question.pre_generated_steps or label.steps)"
        )
    first_error: int | None = next((i for i, r in enumerate(ratings) if r == -1), None)
    if first_error is None:
        first_error = -1 if label.get("finish_reason") == "solution" else None
    if first_error is not None and first_error >= len(steps):
        first_error = None
    reference = question.get("ground_truth_answer")
    answer = question.get("pre_generated_answer")
    return ParsedAttempt(
        problem=str(question["problem"]),
        reference=answer_text(reference).text or None if reference not in (None, "") else None,
        model=model,
        text="\n\n".join(steps),
        correct=None,
        location=location,
        answer=None if answer in (None, "") else str(answer),
        params=(
            {"first_error_step": first_error, "steps": len(steps)}
            if first_error is not None
            else {"label_finish_reason": label.get("finish_reason")}
        ),
        first_error=first_error,
        n_steps=len(steps) if first_error is not None else None,
    )
