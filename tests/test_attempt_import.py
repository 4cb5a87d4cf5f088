"""Importing student attempts whose correctness is already known."""

from __future__ import annotations

import json

import pytest

from acotd_tui.errors import ImportFailure
from acotd_tui.importing import import_files
from acotd_tui.importing.attempts import import_attempts
from acotd_tui.labels.step_labels import emh_from_first_error


def test_gsm8k_model_solutions_four_models(project, shared_data, tmp_path):
    rows = (shared_data / "gsm8k" / "model_solutions.jsonl").read_text().splitlines()[:30]
    (tmp_path / "ms.jsonl").write_text("\n".join(rows) + "\n")
    import_files(project.store, [shared_data / "gsm8k" / "test.jsonl"])
    report = import_attempts(project.store, [tmp_path / "ms.jsonl"])
    assert report.attempts_added == 120 and report.problems_added == 0
    assert report.models == {
        "6b_finetuning",
        "6b_verification",
        "175b_finetuning",
        "175b_verification",
    }
    first = json.loads(rows[0])
    attempts = project.store.attempts.for_problem(1)
    by_model = {a.model: a for a in attempts}
    assert by_model["175b_verification"].correct is first["175b_verification"]["is_correct"]
    assert by_model["6b_finetuning"].final_answer == "26"
    again = import_attempts(project.store, [tmp_path / "ms.jsonl"])
    assert again.attempts_added == 0


def test_processbench_labels(project, shared_data, tmp_path):
    rows = [
        json.loads(x)
        for x in (shared_data / "processbench" / "gsm8k.jsonl").read_text().splitlines()[:40]
    ]
    refs = {
        json.loads(x)["question"]: json.loads(x)["final"]
        for x in (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()
    }
    for r in rows:
        r["reference_answer"] = refs.get(r["problem"])
    (tmp_path / "pb.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows if r["reference_answer"])
    )
    report = import_attempts(project.store, [tmp_path / "pb.jsonl"], labels=True)
    assert report.shape == "processbench" and report.grades_added == report.attempts_added > 30
    for r in rows:
        if not r["reference_answer"]:
            continue
        pid = project.store.problems.id_by_hash(r["problem"])
        label = project.store.grades.label(pid, "emh")
        expected = emh_from_first_error(r["final_answer_correct"], r["label"], len(r["steps"]))
        assert label.auto_label == expected.label
        assert label.needs_review == expected.needs_review


def test_samples_shape_checks_nothing_when_scores_known(project, shared_data):
    report = import_attempts(
        project.store,
        [shared_data / "qwen25_math_samples" / "math_cot_100.jsonl"],
        model="qwen-math",
    )
    assert report.attempts_added == 800 and report.problems_added == 100 and report.checked == 0
    assert project.store.attempts.duplicates() == 0


def test_generic_shape_checks_correctness(project, tmp_path):
    path = tmp_path / "gen.jsonl"
    path.write_text(
        json.dumps(
            {
                "problem": "Half of 1?",
                "answer": "\\frac{1}{2}",
                "response": "It is \\boxed{0.5}",
                "model": "m",
            }
        )
        + "\n"
        + json.dumps(
            {
                "problem": "2+2?",
                "answer": "4",
                "response": "<think>hmm</think> \\boxed{5}",
                "model": "m",
            }
        )
        + "\n"
    )
    report = import_attempts(project.store, [path])
    assert report.checked == 2
    a1, a2 = (project.store.attempts.for_problem(i)[0] for i in (1, 2))
    assert (a1.correct, a2.correct, a2.cot, a2.final_answer) == (True, False, "hmm", "5")


def test_unknown_problem_without_reference_fails_atomically(project, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text(json.dumps({"problem": "never imported", "response": "\\boxed{1}"}) + "\n")
    with pytest.raises(ImportFailure, match="problem not in the store"):
        import_attempts(project.store, [path])
    assert project.store.attempts.count() == 0


def test_step_label_rule():
    assert emh_from_first_error(True, -1, 5).label == "E"
    assert emh_from_first_error(False, 4, 5).label == "M"
    assert emh_from_first_error(False, 1, 5).label == "H"
    assert emh_from_first_error(False, -1, 5).label == "M"
    odd = emh_from_first_error(True, 2, 5)
    assert odd.label is None and odd.needs_review and odd.conflict
