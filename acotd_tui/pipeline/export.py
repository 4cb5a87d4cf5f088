"""Export a dataset's verified CoTs for training.

Formats (all under `runs/exports/<dataset>/` unless `out` is given):
- trl:          `messages.jsonl`, TRL's conversational format (`messages` with a user and an
                assistant turn), plus level, CoT kind and problem id per row;
- llamafactory: `<dataset>.json` in sharegpt form and a `dataset_info.json` entry for it;
- hf:           a saved `datasets` folder (`hf/`) and `data.parquet`.
The user turn is the student's own diagnosis prompt, so training and evaluation see the same
format. The assistant turn is in the student's chat format, Qwen3 style: the reasoning inside
`<think>...</think>`, then the answer with `\\boxed{}`. Only verified, not rejected CoTs are
exported, and never one the teacher did not finish (finish reason `length`), even if an older
verification passed it; human edits replace the teacher's text. A README.md dataset card describes it all.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from acotd_tui.domain import GradeSource, ReviewState
from acotd_tui.errors import AcotdError
from acotd_tui.jobs import JobContext
from acotd_tui.names import NameKind, check_name, inside
from acotd_tui.project import Project
from acotd_tui.stages import FORMATS as STAGE_FORMATS
from acotd_tui.stages import ExportParams
from acotd_tui.store import Cot
from acotd_tui.templates import load_template

from .teach import active_items
from .verify import TRUNCATED, is_truncated, set_status

FORMATS = STAGE_FORMATS  # declared with the export stage (acotd_tui.stages)


def assistant_text(cot: Cot, domain: str = "math") -> str:
    answer = cot.final_answer_text.strip()
    if domain != "code" and "\\boxed" not in answer and cot.final_answer:
        answer = (
            answer + "\n\n" if answer else ""
        ) + f"The final answer is $\\boxed{{{cot.final_answer}}}$."
    return f"<think>\n{cot.final_reasoning.strip()}\n</think>\n\n{answer}"


def export_rows(project: Project, dataset_name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows to export and facts for the card; refuses a dataset with nothing verified."""
    store = project.store
    dataset = store.datasets.get(dataset_name)
    items = active_items(store, dataset.id)
    cots = store.cots.for_problems([i.problem_id for i in items])
    problems = {p.id: p for p in store.problems.get_many([i.problem_id for i in items])}
    template = load_template(project.config.diagnose.prompt, project.root)
    code_template = load_template(project.config.code.diagnose_prompt, project.root)
    rows: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    teachers: Counter[str] = Counter()
    prompts: set[str] = set()
    for item in items:
        own = [c for c in cots.get(item.problem_id, []) if c.kind == item.cot_kind]
        candidates = [c for c in own if c.exportable and not is_truncated(c)]
        if not candidates:
            skipped[
                "rejected"
                if any(c.review == ReviewState.REJECTED for c in own)
                else TRUNCATED
                if any(c.exportable and is_truncated(c) for c in own)
                else "unverified"
                if own
                else "no CoT"
            ] += 1
            continue
        cot = sorted(candidates, key=lambda c: (c.review == ReviewState.APPROVED, c.id))[-1]
        teachers[cot.teacher] += 1
        prompts.add(cot.prompt_version)
        problem = problems[item.problem_id]
        messages = [
            dict(m)
            for m in (code_template if problem.domain == "code" else template).render(
                problem=problem.problem
            )
        ]
        messages.append({"role": "assistant", "content": assistant_text(cot, problem.domain)})
        rows.append(
            {
                "messages": messages,
                "level": item.label,
                "cot_kind": item.cot_kind,
                "problem_id": item.problem_id,
                "source": problems[item.problem_id].source,
                "teacher": cot.teacher,
                "cot_id": cot.id,
            }
        )
    if not rows:
        raise AcotdError(
            f"dataset {dataset_name!r} has no verified CoT to export (run `acotd teach` and `acotd verify`)"
        )
    facts = {
        "dataset": dataset,
        "items": len(items),
        "rows": len(rows),
        "skipped": dict(skipped),
        "teachers": dict(teachers),
        "prompts": sorted(prompts),
        "levels": dict(Counter((r["level"], r["cot_kind"]) for r in rows)),
        "pass_rates": store.cots.pass_rates(dataset.id),
        "student_prompt": template.version,
        "grading": grading_facts(project, dataset, [i.problem_id for i in items]),
        "status": set_status(store, dataset.name),
        "topups": store.topups.list(dataset.id),
        "round": store.topups.round(dataset.id),
    }
    return rows, facts


def label_rules(store: Any, scheme: str, problem_ids: list[int]) -> dict[str, int]:
    """How many of the problems' automatic labels each grading rule made ("paper",
    "checked"; "unrecorded" for imported or older grades, "human" when only a person's)."""
    rules: Counter[str] = Counter()
    for pid in problem_ids:
        auto = [
            g
            for g in store.grades.history(pid, scheme)
            if g.attempt_id is None and g.source != GradeSource.HUMAN
        ]
        detail = auto[-1].detail if auto else None
        rule = detail.get("grading_rule") if isinstance(detail, dict) else None
        rules[rule or ("human" if not auto else "unrecorded")] += 1
    return dict(rules)


def grading_facts(project: Project, dataset: Any, problem_ids: list[int]) -> dict[str, Any]:
    """Which E/M/H rule labelled the sampled problems, and what became of judge-vs-check
    conflicts: how many the sampled set kept, and how many the pool left out."""
    store = project.store
    labels = store.grades.labels(dataset.scheme, problem_ids)
    rules = label_rules(store, dataset.scheme, problem_ids)
    kept = sum(1 for lab in labels.values() if lab.conflict and lab.human_label is None)
    return {
        "configured_rule": project.config.grading.rule,
        "rules": dict(rules),
        "conflicts_kept": kept,
        "conflicts_left_out": int(dataset.params.get("excluded", {}).get("conflict", 0)),
        "include_conflicts": bool(dataset.params.get("include_conflicts", False)),
    }


def write_card(path: Path, facts: dict[str, Any], files: list[str]) -> None:
    ds = facts["dataset"]
    lines = [
        f"# {ds.name}",
        "",
        f"Distillation set made by acotd-tui: {facts['rows']} training examples from {facts['items']} sampled problems.",
        "",
        f"- distillation round: {facts['round']}",
        f"- sampling: `{ds.strategy}` ({ds.scheme}), seed {ds.seed}, parameters `{json.dumps({k: v for k, v in ds.params.items() if k not in ('excluded',)}, sort_keys=True)}`",
        f"- excluded before sampling: {ds.params.get('excluded', {})}",
        f"- grading rule: `{facts['grading']['configured_rule']}` (labels of the sampled problems by rule: {facts['grading']['rules']}); judge-vs-check conflicts: {facts['grading']['conflicts_kept']} kept in this set, {facts['grading']['conflicts_left_out']} left out of the pool",
        f"- left out of this export: {facts['skipped'] or 'nothing'}",
        f"- planned size K = {facts['status']['planned']}; verified {facts['status']['verified']}; "
        + (
            f"**short of K by {facts['status']['shortfall']}** (by level: {facts['status']['shortfall_by_label']})"
            if facts["status"]["shortfall"]
            else "no shortfall"
        ),
        f"- top-up at verification: {facts['status']['replaced']} items replaced by unused problems of the same level"
        + (
            "; "
            + ", ".join(
                f"{t.replaced_problem_id}->{t.problem_id if t.problem_id is not None else 'none'} ({t.label})"
                for t in facts["topups"][:50]
            )
            if facts["topups"]
            else ""
        ),
        f"- teachers: {facts['teachers']}",
        f"- teacher prompts: {', '.join(facts['prompts'])}; student prompt: {facts['student_prompt']}",
        "- assistant turns: reasoning inside `<think>...</think>`, then the answer with `\\boxed{}` (Qwen3 chat format)",
        "",
        "| level | CoT kind | examples |",
        "|---|---|---|",
        *[f"| {level} | {kind} | {n} |" for (level, kind), n in sorted(facts["levels"].items())],
        "",
        "## Verification",
        "",
        "| teacher | level | kind | CoTs | passed | failed | rejected | cost (USD) |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {r['teacher']} | {r['label']} | {r['kind']} | {r['n']} | {r['passed'] or 0} | {r['failed'] or 0} | {r['rejected'] or 0} | {r['cost']:.4f} |"
            for r in facts["pass_rates"]
        ],
        "",
        "## Files",
        "",
        *[f"- `{f}`" for f in files],
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def export_dataset(project: Project, params: ExportParams) -> dict[str, Any]:
    unknown = set(params.formats) - set(FORMATS)
    if unknown:
        raise AcotdError(f"unknown export format {sorted(unknown)[0]!r} ({', '.join(FORMATS)})")
    check_name(params.dataset, NameKind.DATASET)  # the name becomes a folder and a file
    rows, facts = export_rows(project, params.dataset)
    out = (
        Path(params.out)  # a folder the user named explicitly may be anywhere
        if params.out
        else inside(project.root, project.runs_dir / "exports" / params.dataset)
    )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AcotdError(f"cannot create {out}: {exc.strerror or exc}") from None
    files: list[str] = []
    dataset = facts["dataset"]
    store = project.store
    if "trl" in params.formats:
        path = out / "messages.jsonl"
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        files.append(path.name)
        store.datasets.record_export(dataset.id, "trl", str(path), len(rows))
    if "llamafactory" in params.formats:
        name = f"{params.dataset}.json"
        sharegpt = [
            {
                "conversations": [
                    {
                        "from": {"user": "human", "assistant": "gpt", "system": "system"}[
                            m["role"]
                        ],
                        "value": m["content"],
                    }
                    for m in r["messages"]
                ]
            }
            for r in rows
        ]
        (out / name).write_text(
            json.dumps(sharegpt, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        info = {
            params.dataset: {
                "file_name": name,
                "formatting": "sharegpt",
                "columns": {"messages": "conversations"},
                "tags": {
                    "role_tag": "from",
                    "content_tag": "value",
                    "user_tag": "human",
                    "assistant_tag": "gpt",
                },
            }
        }
        (out / "dataset_info.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
        files += [name, "dataset_info.json"]
        store.datasets.record_export(dataset.id, "llamafactory", str(out / name), len(rows))
    if "hf" in params.formats:
        import datasets

        datasets.disable_progress_bars()
        HFDataset = datasets.Dataset  # noqa: N806

        table = HFDataset.from_list(rows)
        table.save_to_disk(str(out / "hf"))
        table.to_parquet(str(out / "data.parquet"))
        files += ["hf/", "data.parquet"]
        store.datasets.record_export(dataset.id, "hf", str(out / "hf"), len(rows))
    write_card(out / "README.md", facts, files)
    return {
        "rows": len(rows),
        "skipped": facts["skipped"],
        "out": str(out),
        "files": files,
        "message": f"{len(rows)} examples exported to {out}",
    }


def run_job(ctx: JobContext) -> dict[str, Any]:
    params = ExportParams.from_job(ctx.params)
    ctx.set_total(1)
    result = export_dataset(ctx.project, params)
    ctx.advance(1)
    return result


def ensure_export(project: Project, dataset: str) -> Path:
    """The dataset's TRL export, made now if there is none yet (what training reads)."""
    store = project.store
    ds = store.datasets.get(dataset)
    for record in reversed(store.datasets.exports(ds.id)):
        if record.format == "trl" and Path(record.path).exists():
            return Path(record.path)
    export_dataset(project, ExportParams(dataset=dataset, formats=["trl"]))
    return Path(store.datasets.exports(ds.id)[-1].path)
