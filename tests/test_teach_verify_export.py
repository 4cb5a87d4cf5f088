"""Teach -> verify -> export on the demo project against the scripted server."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main
from acotd_tui.jobs import resume, spawn_worker, submit
from acotd_tui.pipeline.cot_review import CotReviewService
from acotd_tui.pipeline.export import ExportParams, export_dataset
from acotd_tui.pipeline.sampling import SamplingService
from acotd_tui.pipeline.teach import TeachParams, split_teacher_output
from acotd_tui.pipeline.verify import VerifyParams, parse_consistency
from acotd_tui.store import CotFilter

from .test_diagnose import wait_for

PREFIX = 80


def make_dataset(project, k=30, name="ds"):
    service = SamplingService(project)
    return service.create(name, service.default_request(k=k))


def teacher_script(project, dataset, *, wrong_first=(), always_wrong=()):
    """Per problem: a short reply for teacher A, a long one for teacher B, with the right answer."""
    store = project.store
    items = store.datasets.items(dataset.id)
    short, long_, wrong = {}, {}, {}
    for item in items:
        problem = store.problems.get(item.problem_id)
        key = problem.problem[:PREFIX]
        answer = "999999" if item.problem_id in always_wrong else problem.answer
        short[key] = f"Key step.\n\nFinal answer: \\boxed{{{answer}}}"
        long_[key] = (
            "Concepts first.\n\n"
            + "Explained step. " * 40
            + f"\n\nFinal answer: \\boxed{{{answer}}}"
        )
        if item.problem_id in wrong_first:
            wrong[key] = "Rushed.\n\nFinal answer: \\boxed{999999}"
    rules = []
    if wrong:
        rules.append({"contains": "You are an expert", "by_prefix": wrong, "max_uses": len(wrong)})
    rules += [
        {"contains": "SHORT chain", "by_prefix": short},
        {"contains": "LONG, careful", "by_prefix": long_},
    ]
    return rules


def test_teach_verify_export_end_to_end(demo_project, llm_server, point_at, tmp_path):
    project = demo_project
    point_at(project, llm_server, roles=("teacher_short", "teacher_long", "consistency_judge"))
    dataset = make_dataset(project)
    items = project.store.datasets.items(dataset.id)
    hard = [i.problem_id for i in items if i.cot_kind == "long"]
    easy = [i.problem_id for i in items if i.cot_kind == "short"]
    retry, hopeless = easy[0], easy[1]
    rules = teacher_script(project, dataset, wrong_first={retry}, always_wrong={hopeless})
    llm_server.configure(
        rules=[
            *rules,
            {
                "contains": "You check worked solutions",
                "reply": '{"consistent": true, "rationale": "ok"}',
            },
        ]
    )
    runner = CliRunner()
    taught = runner.invoke(main, ["teach", "ds", "-p", str(project.root)])
    assert taught.exit_code == 0, taught.output
    assert project.store.cots.count() == len(items)
    verified = runner.invoke(
        main, ["verify", "ds", "-p", str(project.root), "--spot-check", "0.2", "--no-top-up"]
    )
    assert verified.exit_code == 0, verified.output
    assert "rate" in verified.output  # the pass-rate table
    job = project.store.jobs.list(limit=1)[0]
    assert job.result["regenerated"] >= 2  # the retried one once, the hopeless one twice
    cots = project.store.cots.for_problems([retry, hopeless])
    assert [c.verified for c in cots[retry]] == [False, True] and [
        c.generation for c in cots[retry]
    ] == [0, 1]
    assert [c.verified for c in cots[hopeless]] == [False, False, False]  # max_regenerations = 2
    assert job.result["exportable"] == len(items) - 1
    queued = project.store.cots.list(CotFilter(dataset_id=dataset.id, review="queued"))
    assert queued  # 20% per level

    # A person rejects one CoT and edits another to a wrong answer: neither reaches the export.
    service = CotReviewService(project.store)
    rejected = project.store.cots.for_problems([hard[0]])[hard[0]][-1]
    service.reject(rejected.id, "skips the key argument")
    edited = project.store.cots.for_problems([easy[2]])[easy[2]][-1]
    after = service.edit(edited.id, "Edited reasoning.", "Final answer: \\boxed{123456789}")
    assert (
        after.verified is False
        and after.reasoning != "Edited reasoning."
        and after.edited_reasoning == "Edited reasoning."
    )
    fixed = project.store.cots.for_problems([easy[3]])[easy[3]][-1]
    problem = project.store.problems.get(easy[3])
    assert (
        service.edit(
            fixed.id, "Better reasoning.", f"Final answer: \\boxed{{{problem.answer}}}"
        ).verified
        is True
    )
    service.close()

    result = runner.invoke(
        main, ["export", "ds", "-p", str(project.root), "--out", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    from datasets import load_dataset, load_from_disk

    trl = load_dataset("json", data_files=str(out / "messages.jsonl"), split="train")
    assert len(trl) == len(items) - 3  # hopeless, rejected, wrongly edited
    exported = set(trl["problem_id"])
    assert not {hopeless, hard[0], easy[2]} & exported
    for row in trl:
        user, assistant = row["messages"]
        assert user["role"] == "user" and "Please reason step by step" in user["content"]
        assert (
            assistant["content"].startswith("<think>\n")
            and "</think>\n\n" in assistant["content"]
            and "\\boxed{" in assistant["content"]
        )
        if row["level"] == "H":
            assert row["cot_kind"] == "long" and "Explained step." in assistant["content"]
        else:
            assert row["cot_kind"] == "short" and "Explained step." not in assistant["content"]
    edited_row = next(r for r in trl if r["problem_id"] == easy[3])
    assert "Better reasoning." in edited_row["messages"][1]["content"]
    assert len(load_from_disk(str(out / "hf"))) == len(trl)
    assert len(load_dataset("parquet", data_files=str(out / "data.parquet"), split="train")) == len(
        trl
    )
    info = json.loads((out / "dataset_info.json").read_text())
    sharegpt = json.loads((out / info["ds"]["file_name"]).read_text())
    assert len(sharegpt) == len(trl) and sharegpt[0]["conversations"][1]["from"] == "gpt"
    card = (out / "README.md").read_text()
    assert "| H | long |" in card and "rejected" in card and "openai/test-teacher_short" in card
    assert "grading rule: `paper`" in card and "left out of the pool" in card


def test_consistency_judge_can_fail_a_right_answer(demo_project, llm_server, point_at):
    project = demo_project
    point_at(project, llm_server, roles=("teacher_short", "teacher_long", "consistency_judge"))
    dataset = make_dataset(project, k=8)
    items = project.store.datasets.items(dataset.id)
    doubtful = project.store.problems.get(items[0].problem_id).problem[:PREFIX]
    llm_server.configure(
        rules=[
            *teacher_script(project, dataset),
            {
                "contains": doubtful,
                "reply": '{"consistent": false, "rationale": "the answer appears from nowhere"}',
                "max_uses": 99,
            },
            {"contains": "You check worked solutions", "reply": "consistent: true"},
        ]
    )
    # The doubtful rule must only hit the consistency call: put teacher rules first.
    assert submit(project, "teach", TeachParams(dataset="ds").to_job()).status == "done"
    job = submit(
        project,
        "verify",
        VerifyParams(dataset="ds", consistency=True, max_regenerations=0, top_up=False).to_job(),
    )
    assert job.status == "done", job.error
    first = project.store.cots.for_problems([items[0].problem_id])[items[0].problem_id][-1]
    assert (
        first.verified is False
        and first.consistent is False
        and "does not support" in first.verify_detail
    )
    assert job.result["exportable"] == len(items) - 1


def test_kill_9_during_teaching_resumes_without_repeated_calls(demo_project, llm_server, point_at):
    project = demo_project
    point_at(project, llm_server, roles=("teacher_short", "teacher_long"))
    project.edit_config({"limits.concurrency": 3})
    dataset = make_dataset(project, k=60)
    llm_server.configure(rules=teacher_script(project, dataset), latency_s=0.1)
    job = project.store.jobs.create("teach", TeachParams(dataset="ds").to_job())
    pid = spawn_worker(project.root, job.id)
    assert wait_for(lambda: project.store.cots.count() >= 15)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert resume(project, job.id).status == "done"
    assert project.store.cots.count() == 60
    counts = Counter(e["key"] for e in llm_server.log())
    assert len(counts) == 60 and sum(c - 1 for c in counts.values()) <= 4


def test_rejected_cots_never_export_even_when_alone(demo_project, tmp_path):
    project = demo_project
    dataset = make_dataset(project, k=5)
    assert (
        submit(project, "teach", TeachParams(dataset="ds", from_reference=True).to_job()).status
        == "done"
    )
    assert submit(project, "verify", VerifyParams(dataset="ds").to_job()).status == "done"
    service = CotReviewService(project.store)
    for cot in project.store.cots.list(CotFilter(dataset_id=dataset.id)):
        service.reject(cot.id, "not good enough")
    with pytest.raises(Exception, match="no verified CoT to export"):
        export_dataset(project, ExportParams(dataset="ds", out=str(tmp_path / "x")))
    with pytest.raises(Exception, match="needs a reason"):
        service.reject(1, "  ")


def test_teacher_output_splitting_and_consistency_parsing():
    assert split_teacher_output("ignored", "the reasoning") == ("the reasoning", "ignored")
    assert split_teacher_output("<think>r</think>\n\nSo \\boxed{1}") == ("r", "So \\boxed{1}")
    assert parse_consistency('{"consistent": false, "rationale": "x"}') is False
    assert parse_consistency('```json\n{"consistent": true}\n```') is True
    assert parse_consistency("Consistent: yes") is True
    assert parse_consistency("I cannot tell.") is None


def test_truncated_cot_fails_verification_and_never_exports(
    demo_project, llm_server, point_at, tmp_path
):
    """A teacher cut off at max_tokens fails with reason `truncated` even though its
    unfinished text already says "the answer is X" with the right X; and a truncated CoT that
    an older verification passed is still left out of the export."""
    project = demo_project
    point_at(project, llm_server, roles=("teacher_short", "teacher_long"))
    dataset = make_dataset(project, k=6)
    items = project.store.datasets.items(dataset.id)
    cut = items[0].problem_id
    problem = project.store.problems.get(cut)
    cut_reply = f"So far the answer is {problem.answer}. " + "More reasoning. " * 400
    llm_server.configure(
        rules=[
            {
                "contains": problem.problem[:PREFIX],
                "reply": cut_reply + f"\n\nFinal answer: \\boxed{{{problem.answer}}}",
            },
            *teacher_script(project, dataset),
        ]
    )
    assert submit(project, "teach", TeachParams(dataset="ds").to_job()).status == "done"
    job = submit(
        project,
        "verify",
        VerifyParams(
            dataset="ds", max_regenerations=1, spot_check_fraction=0.0, top_up=False
        ).to_job(),
    )
    assert job.status == "done", job.error
    cots = project.store.cots.for_problems([cut])[cut]
    assert len(cots) == 2  # taught, then regenerated once: cut off both times
    assert all(c.finish_reason == "length" for c in cots)
    assert all(c.verified is False and c.verify_detail.startswith("truncated") for c in cots)
    assert job.result["exportable"] == len(items) - 1
    result = export_dataset(
        project, ExportParams(dataset="ds", formats=["trl"], out=str(tmp_path / "a"))
    )
    assert result["skipped"] == {"unverified": 1}
    # A store verified before truncation was checked: the cut-off CoT is marked verified.
    with project.store.db.tx() as conn:
        project.store.cots.set_verification(conn, [(cots[-1].id, True, "old rule", None)])
    result = export_dataset(
        project, ExportParams(dataset="ds", formats=["trl"], out=str(tmp_path / "b"))
    )
    assert result["skipped"] == {"truncated": 1}
    rows = [
        json.loads(line) for line in (tmp_path / "b" / "messages.jsonl").read_text().splitlines()
    ]
    assert cut not in {r["problem_id"] for r in rows} and len(rows) == len(items) - 1
