"""Grading: judge replies of every shape, aggregation, conflicts, human wins, resume, PRM."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main
from acotd_tui.jobs import resume, spawn_worker, submit
from acotd_tui.labels.aggregate import (
    SampleGrade,
    aggregate,
    aggregate_emh,
    aggregate_emh_paper,
    aggregate_zte,
)
from acotd_tui.pipeline.grade import GradeParams, shorten_cot
from acotd_tui.pipeline.judge_parse import JudgeParseError, parse_verdict
from acotd_tui.pipeline.prm import level_from_score, split_steps
from acotd_tui.pipeline.review import ReviewService, cohens_kappa

from .test_diagnose import wait_for

EASY = '{"label": "easy", "rationale": "fine"}'
MEDIUM = '{"label": "medium", "rationale": "a slip"}'
HARD = '{"label": "hard", "rationale": "confused"}'


# -- parsing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reply", "label"),
    [
        (EASY, "E"),
        ('```json\n{"label": "Medium", "rationale": "x"}\n```', "M"),
        ('<think>is it easy? no</think>\n{"label": "hard", "rationale": "r"}', "H"),
        ('Sure. Here is my verdict: {"Label": "MEDIUM", "rationale": "r"} Hope that helps.', "M"),
        ("After reading the solution carefully.\nLabel: Hard", "H"),
        ('{"label": "H", "rationale": "short form"}', "H"),
    ],
)
def test_parse_accepts_unambiguous_forms(reply, label):
    assert parse_verdict(reply, "emh").label == label


@pytest.mark.parametrize(
    ("reply", "kind", "truncated"),
    [
        ("", "empty", False),
        ("I'm sorry, but I can't help with grading this.", "refusal", False),
        ('{"label": "medium", "rationale": "the student', "invalid_json", False),
        ('{"label": "medium", "rationale": "cut', "truncated", True),
        ('{"rationale": "no label here"}', "missing_label", False),
        ('{"label": "very hard", "rationale": "x"}', "bad_label", False),
        ('{"label": 3, "rationale": "x"}', "bad_label", False),
        ("Label: easy. On reflection, label: hard.", "ambiguous", False),
        ('{"label": "easy"} {"label": "hard"}', "ambiguous", False),
        ("The student tried.", "no_verdict", False),
        ("<think>I keep thinking and never finish", "empty", False),
    ],
)
def test_parse_refuses_malformed_replies(reply, kind, truncated):
    with pytest.raises(JudgeParseError) as info:
        parse_verdict(reply, "emh", truncated=truncated)
    assert info.value.kind == kind


def test_parse_zte_levels():
    assert parse_verdict('{"level": 4, "rationale": "wrong approach"}', "zte").label == "4"
    assert parse_verdict("Difficulty level: 2", "zte").label == "2"
    for bad in ('{"level": 6}', '{"level": 2.5}', '{"level": "hard"}'):
        with pytest.raises(JudgeParseError, match="bad_label"):
            parse_verdict(bad, "zte")


def test_shorten_cot_keeps_both_ends():
    cot = "A" * 30_000 + "THE END"
    short = shorten_cot(cot, 9000)
    assert (
        short.endswith("THE END")
        and short.startswith("AAA")
        and "omitted" in short
        and len(short) < 9100
    )


# -- aggregation -----------------------------------------------------------------------------
def test_emh_aggregation_rule():
    s = SampleGrade
    assert aggregate_emh([s(1, "E", True), s(2, "E", True)]).label == "E"
    agg = aggregate_emh([s(1, "M", True)])
    assert agg.label == "E" and agg.conflict == "judge says Medium but the answer is right"
    assert (
        aggregate_emh([s(1, "E", True), s(2, "M", False), s(3, "H", False)]).label == "H"
    )  # tie -> H
    assert aggregate_emh([s(1, "M", False), s(2, "M", False), s(3, "H", False)]).label == "M"
    wrong_easy = aggregate_emh([s(1, "E", False)])
    assert (
        wrong_easy.label is None
        and wrong_easy.needs_review
        and "Easy but the answer is wrong" in wrong_easy.conflict
    )
    assert aggregate_emh([s(1, "E", True), s(2, "M", False)], easy_pass_rate=0.5).label == "E"
    assert aggregate_emh([s(1, None, False)]).needs_review


def test_emh_paper_rule_the_judge_verdict_is_the_label():
    """Algorithm 1 as written: the judge decides; a disagreeing check is flagged and queued,
    and the label stands (the checked rule, above, lets the check decide Easy)."""
    s = SampleGrade
    right_but_medium = aggregate_emh_paper([s(1, "M", True)])
    assert right_but_medium.label == "M" and right_but_medium.needs_review
    assert right_but_medium.conflict == "judge says Medium but the answer is right"
    assert right_but_medium.detail["grading_rule"] == "paper"
    wrong_but_easy = aggregate_emh_paper([s(1, "E", False)])
    assert wrong_but_easy.label == "E" and "Easy but the answer is wrong" in wrong_but_easy.conflict
    agreeing = aggregate_emh_paper([s(1, "H", False), s(2, "H", False), s(3, "M", False)])
    assert agreeing.label == "H" and not agreeing.needs_review and agreeing.conflict is None
    # majority over all samples, right ones included; ties go to the harder label
    assert aggregate_emh_paper([s(1, "E", True), s(2, "E", True), s(3, "M", False)]).label == "E"
    assert aggregate_emh_paper([s(1, "E", True), s(2, "M", False)]).label == "M"
    assert aggregate_emh_paper([s(1, "M", False), s(2, "H", False)]).label == "H"
    unreadable = aggregate_emh_paper([s(1, None, False)])
    assert unreadable.label is None and unreadable.needs_review
    # the dispatcher: the same samples, two rules
    both = [s(1, "M", True), s(2, "M", True)]
    assert aggregate("emh", "paper", both).label == "M"
    assert aggregate("emh", "checked", both).label == "E"
    assert aggregate("zte", "paper", [s(1, "easy", True)]).label == "easy"
    with pytest.raises(ValueError, match="unknown grading rule"):
        aggregate("emh", "mine", both)


def test_zte_aggregation_rule():
    s = SampleGrade
    assert aggregate_zte([s(1, "easy", True)]).label == "easy"
    assert aggregate_zte([s(1, "2", False), s(2, "5", False), s(3, "4", False)]).label == "4"
    assert aggregate_zte([s(1, None, False)]).needs_review


def test_prm_helpers():
    assert split_steps("a\n\nb\n\n\nc") == ["a", "b", "c"]
    cuts = [0.2, 0.4, 0.6, 0.8]
    assert [level_from_score(x, cuts) for x in (0.95, 0.7, 0.5, 0.3, 0.05)] == [
        "1",
        "2",
        "3",
        "4",
        "5",
    ]


def test_kappa():
    assert cohens_kappa([("E", "E"), ("M", "M"), ("H", "H")], ("E", "M", "H")) == pytest.approx(1.0)
    pairs = [("E", "E")] * 20 + [("E", "M")] * 5 + [("M", "M")] * 15 + [("M", "E")] * 10
    # observed 0.7; expected 0.5*0.6 + 0.5*0.4 = 0.5 -> kappa 0.4
    assert cohens_kappa(pairs, ("E", "M", "H")) == pytest.approx(0.4)
    assert cohens_kappa([], ("E", "M", "H")) is None


# -- the stage -------------------------------------------------------------------------------
def configure_judge(server, garbage: bool = True):
    options = [EASY, MEDIUM, HARD, MEDIUM, HARD] + (["I'm sorry, I can't help."] if garbage else [])
    server.configure(rules=[{"contains": "strict grader", "replies": options}])


def test_grading_the_whole_demo(demo_project, llm_server, point_at):
    project = demo_project
    point_at(project, llm_server, roles=("judge",))
    configure_judge(llm_server)
    review = ReviewService(project.store, "emh")
    gsm = project.store.problems.ids(
        __import__("acotd_tui.store", fromlist=["ProblemFilter"]).ProblemFilter(sources=("gsm8k",))
    )
    review.set_label(gsm[0], "H", note="before any grading")

    result = CliRunner().invoke(main, ["grade", "-p", str(project.root), "--attempts-of", "*"])
    assert result.exit_code == 0, result.output
    store = project.store
    attempted = store.attempts.problem_ids_with_attempts()
    labels = store.grades.labels("emh", attempted)
    assert len(attempted) == 495
    for pid in attempted:  # every graded problem: a label, or explicitly needs review
        lab = labels[pid]
        assert lab.auto_label is not None or lab.needs_review, pid
    assert sum(lab.needs_review for lab in labels.values()) > 0  # the refusals
    # Contradictions are flagged and queued, never silently resolved.
    conflicts = store.grades.queue("emh", "conflict")
    assert conflicts
    for pid in conflicts[:20]:
        agg = [
            g
            for g in store.grades.history(pid, "emh")
            if g.attempt_id is None and g.source == "judge"
        ][-1]
        samples = {s["attempt_id"]: s for s in agg.detail["samples"]}
        assert any(
            (s["label"] == "E") != bool(s["correct"]) for s in samples.values() if s["label"]
        ), agg.detail
    assert labels[gsm[0]].label == "H" and labels[gsm[0]].source == "human"

    # More human labels, then a full re-grade by another judge: humans survive, autos move.
    for pid in gsm[1:6]:
        review.set_label(pid, "M")
    before = {pid: store.grades.label(pid, "emh").auto_label for pid in gsm[:6]}
    again = CliRunner().invoke(
        main, ["grade", "-p", str(project.root), "--attempts-of", "*", "--model", "openai/judge-b"]
    )
    assert again.exit_code == 0, again.output
    for pid in gsm[:6]:
        lab = store.grades.label(pid, "emh")
        assert lab.source == "human" and lab.label == ("H" if pid == gsm[0] else "M")
    histories = {
        pid: [
            g.model
            for g in store.grades.history(pid, "emh")
            if g.attempt_id is None and g.source == "judge"
        ]
        for pid in gsm[:6]
    }
    assert all(h[-1] == "openai/judge-b" for h in histories.values())
    assert before  # (auto labels may or may not change; the judge-b grades exist)

    stats = CliRunner().invoke(main, ["grade", "--stats", "-p", str(project.root)])
    assert "distribution E:M:H (emh):" in stats.output
    assert "agreement with humans on 6 problems" in stats.output and "Cohen's kappa" in stats.output


def test_unparseable_reply_is_retried_then_needs_review(project, tmp_path, llm_server, point_at):
    from .test_diagnose import small_project

    small_project(
        project,
        tmp_path,
        [{"problem": "P one?", "answer": "1"}, {"problem": "P two?", "answer": "2"}],
    )
    point_at(project, llm_server, roles=("student", "judge"))
    llm_server.configure(
        rules=[
            {"contains": "P one", "reply": "\\boxed{1}"},
            {"contains": "P two", "reply": "\\boxed{3}"},
        ]
    )
    submit(project, "diagnose", {})
    llm_server.reset()
    llm_server.configure(
        rules=[
            {
                "contains": "P one?",
                "reply": "I think it is fine.",
                "max_uses": 1,
            },  # first reply unusable
            {"contains": "P one?", "reply": EASY},
            {"contains": "P two?", "reply": '{"label": "impossible"}'},  # never usable
        ]
    )
    job = submit(project, "grade", GradeParams(attempts_of=["openai/test-student"]).to_job())
    assert job.status == "done", job.error
    one, two = project.store.problems.ids()
    assert project.store.grades.label(one, "emh").label == "E"
    lab = project.store.grades.label(two, "emh")
    assert lab.label is None and lab.needs_review
    sample = [g for g in project.store.grades.history(two, "emh") if g.attempt_id][-1]
    assert "after 3 tries (bad_label)" in sample.rationale
    calls = Counter("one" if "P one" in e["user"] else "two" for e in llm_server.log())
    assert calls == {"one": 2, "two": 3}  # one retry for the first; the first try plus two retries


def test_zte_grading_calls_the_judge_only_for_wrong_answers(
    project, tmp_path, llm_server, point_at
):
    from .test_diagnose import small_project

    small_project(
        project,
        tmp_path,
        [{"problem": "Z one?", "answer": "1"}, {"problem": "Z two?", "answer": "2"}],
    )
    point_at(project, llm_server, roles=("student", "judge"))
    llm_server.configure(
        rules=[
            {"contains": "Z one", "reply": "\\boxed{1}"},
            {"contains": "Z two", "reply": "\\boxed{3}"},
        ]
    )
    submit(project, "diagnose", {"samples": 2})
    llm_server.reset()
    llm_server.configure(
        rules=[{"contains": "WRONG", "reply": '{"level": 4, "rationale": "wrong approach"}'}]
    )
    job = submit(project, "grade", GradeParams(scheme="zte").to_job())
    assert job.status == "done", job.error
    one, two = project.store.problems.ids()
    assert project.store.grades.label(one, "zte").label == "easy"
    assert project.store.grades.label(one, "zte").source == "rule"
    assert project.store.grades.label(two, "zte").label == "4"
    assert len(llm_server.log()) == 2  # two wrong samples of problem two; none for problem one


def test_prm_grading(project, tmp_path, llm_server, point_at):
    from acotd_tui.tiny_model import build_tiny_prm

    from .test_diagnose import small_project

    small_project(project, tmp_path, [{"problem": f"Q{i}?", "answer": "1"} for i in range(3)])
    point_at(project, llm_server, roles=("student",))
    llm_server.configure(default_reply="First step.\n\nSecond step.\n\nSo \\boxed{7}")
    submit(project, "diagnose", {})
    prm = build_tiny_prm(project.root / "runs" / "tiny-prm")
    project.edit_config(
        {
            "models.prm": {"backend": "transformers", "model": str(prm), "device": "cpu"},
            "grading.zte_grader": "prm",
        }
    )
    job = submit(project, "grade", GradeParams(scheme="zte").to_job())
    assert job.status == "done", job.error
    for pid in project.store.problems.ids():
        lab = project.store.grades.label(pid, "zte")
        assert lab.label in {"1", "2", "3", "4", "5"} and lab.source == "prm"
        sample = [g for g in project.store.grades.history(pid, "zte") if g.attempt_id][-1]
        assert len(sample.detail["step_scores"]) == 3
        low = min(sample.detail["step_scores"])
        assert sample.label == level_from_score(low, project.config.grading.prm_thresholds)


def test_kill_9_mid_grading_resumes_without_repeated_calls(demo_project, llm_server, point_at):
    project = demo_project
    point_at(project, llm_server, roles=("judge",))
    project.edit_config({"limits.concurrency": 4})
    llm_server.configure(
        rules=[{"contains": "strict grader", "replies": [EASY, MEDIUM, HARD]}], latency_s=0.05
    )
    job = project.store.jobs.create("grade", GradeParams(attempts_of=["6b_finetuning"]).to_job())
    pid = spawn_worker(project.root, job.id)
    assert wait_for(lambda: project.store.llm_calls.count() >= 40)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    assert project.store.jobs.get(job.id).stale
    done = resume(project, job.id)
    assert done.status == "done", done.error
    counts = Counter(e["key"] for e in llm_server.log())
    assert len(counts) == 200  # one judge call per attempt of 6b_finetuning
    assert sum(c - 1 for c in counts.values()) <= 5  # only in-flight calls were repeated
    sample_rows = project.store.db.query(
        "SELECT attempt_id, COUNT(*) FROM grades WHERE attempt_id IS NOT NULL GROUP BY attempt_id HAVING COUNT(*) > 1"
    )
    assert sample_rows == []  # never stored twice


def test_review_service_and_csv_roundtrip(demo_project, tmp_path):
    review = ReviewService(demo_project.store, "emh")
    queue = demo_project.store.grades.queue("emh", "needs_review")
    pid = queue[0]
    assert review.set_label(pid, "medium") == "M"
    assert review.set_label(pid, "h") == "H"
    assert review.undo(pid) == "M"
    review.clear_label(pid)
    assert demo_project.store.grades.label(pid, "emh").human_label is None
    with pytest.raises(Exception, match="not one of E, M, H"):
        review.set_label(pid, "x")

    path = tmp_path / "labels.csv"
    rows = review.export_csv(path, "needs_review")
    assert rows == len(queue)
    import csv

    data = list(csv.DictReader(path.open()))
    data[0]["human_label"] = "easy"
    data[1]["human_label"] = "H"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    assert review.import_csv(path) == 2
    assert demo_project.store.grades.label(int(data[0]["problem_id"]), "emh").label == "E"
    assert review.import_csv(path) == 0  # unchanged labels are not re-added

    data[2]["human_label"] = "bogus"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(data[0]))
        writer.writeheader()
        writer.writerows(data)
    before = len(demo_project.store.grades.history(int(data[2]["problem_id"]), "emh"))
    with pytest.raises(Exception, match=r"line 4: label 'bogus'"):
        review.import_csv(path)
    assert len(demo_project.store.grades.history(int(data[2]["problem_id"]), "emh")) == before
    # Compared: human labels on problems that also have an automatic label. Since issue 16 a
    # needs-review problem may have one (the majority of disagreeing expert labels).
    reviewed = [int(data[i]["problem_id"]) for i in (0, 1)]
    with_auto = [
        demo_project.store.grades.label(pid, "emh")
        for pid in reviewed
        if demo_project.store.grades.label(pid, "emh").auto_label is not None
    ]
    before_stats = review.stats()
    assert before_stats.compared == len(with_auto)
    agreeing = sum(lab.auto_label == lab.human_label for lab in with_auto)
    labelled = demo_project.store.grades.queue("emh", "unlabelled")[0]
    auto = demo_project.store.grades.label(labelled, "emh").auto_label
    review.set_label(labelled, "H" if auto != "H" else "E")
    stats = review.stats()
    assert stats.compared == len(with_auto) + 1 and stats.ratio().count(":") == 2
    assert stats.agreement == pytest.approx(agreeing / (len(with_auto) + 1))


def test_grade_needs_attempts_of_a_known_model(demo_project):
    result = CliRunner().invoke(main, ["grade", "-p", str(demo_project.root)])
    assert result.exit_code == 1
    assert (
        "no attempts by model 'runs/tiny-student'" in result.output
        and "6b_finetuning" in result.output
    )


def test_json_schema_is_sent_to_the_judge(project, tmp_path, llm_server, point_at):
    from .test_diagnose import small_project

    small_project(project, tmp_path, [{"problem": "S?", "answer": "1"}])
    point_at(project, llm_server, roles=("student", "judge"))
    llm_server.configure(default_reply="\\boxed{1}")
    submit(project, "diagnose", {})
    llm_server.configure(default_reply=EASY)
    assert submit(project, "grade", {}).status == "done"
    assert json.loads(json.dumps(project.store.grades.label(1, "emh").label)) == "E"


def test_calibration_against_scripted_judge(project, llm_server, point_at, shared_data):
    """The test server plays a judge that never says Easy; the measured agreement must then
    be exactly the share of wrong answers, and no expert label can be matched as E."""
    from acotd_tui.pipeline.calibration import run_calibration

    point_at(project, llm_server, roles=("judge",))
    llm_server.configure(rules=[{"contains": "strict grader", "replies": [MEDIUM, HARD]}])
    rows = run_calibration(project.config_path.read_text(), shared_data, n=16, seed=1)
    names = [r.name for r in rows]
    assert "answer correctness (gsm8k_gpt3)" in names and "E/M/H vs ProcessBench experts" in names
    gsm = next(r for r in rows if r.name == "answer correctness (gsm8k_gpt3)")
    # The scripted judge never says Easy: agreement equals the share of wrong answers.
    assert gsm.compared == 16 and 0 < gsm.agreement < 1
    pb = next(r for r in rows if r.name == "E/M/H vs ProcessBench experts")
    assert pb.compared > 0 and sum(pb.confusion["E"].values()) == 0


def test_both_grading_rules_end_to_end(project, tmp_path, llm_server, point_at):
    """The judge calls a right answer Medium: under the paper's rule (the default) the label is
    M, flagged and queued but kept in the pool; under "checked" it is E."""
    from acotd_tui.pipeline.sampling import SamplingService

    from .test_diagnose import small_project

    small_project(
        project,
        tmp_path,
        [{"problem": "P one?", "answer": "1"}, {"problem": "P two?", "answer": "2"}],
    )
    point_at(project, llm_server, roles=("student", "judge"))
    llm_server.configure(
        rules=[
            {"contains": "P one", "reply": "\\boxed{1}"},  # right
            {"contains": "P two", "reply": "\\boxed{3}"},  # wrong
        ]
    )
    submit(project, "diagnose", {})
    llm_server.reset()
    llm_server.configure(
        rules=[{"contains": "P one?", "reply": MEDIUM}, {"contains": "P two?", "reply": HARD}]
    )
    one, two = project.store.problems.ids()
    assert project.config.grading.rule == "paper"
    result = CliRunner().invoke(
        main, ["grade", "-p", str(project.root), "--attempts-of", "openai/test-student"]
    )
    assert result.exit_code == 0, result.output
    lab = project.store.grades.label(one, "emh")
    assert lab.label == "M" and lab.conflict and lab.needs_review and lab.symbolic_correct is True
    assert project.store.grades.label(two, "emh").label == "H"
    assert one in project.store.grades.queue("emh", "conflict")
    service = SamplingService(project)
    assert one in service.preview(service.default_request(k=2, decontaminate=False)).pool["M"]

    result = CliRunner().invoke(
        main,
        [
            "grade",
            "-p",
            str(project.root),
            "--attempts-of",
            "openai/test-student",
            "--regrade",
            "--rule",
            "checked",
        ],
    )
    assert result.exit_code == 0, result.output
    lab = project.store.grades.label(one, "emh")
    assert lab.label == "E" and lab.conflict and lab.symbolic_correct is True
    assert project.store.grades.label(two, "emh").label == "H"
    latest = [g for g in project.store.grades.history(one, "emh") if g.attempt_id is None][-1]
    assert latest.detail["grading_rule"] == "checked"
