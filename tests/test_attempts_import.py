"""`attempts import` keeps every attempt's identity and accounts for every row (issue 16)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from acotd_tui.errors import ImportFailure
from acotd_tui.importing import import_files
from acotd_tui.importing.attempts import import_attempts, parse_attempt_mapping
from acotd_tui.importing.label_rule import majority_label
from acotd_tui.labels.step_labels import emh_from_first_error

SHAPES = Path(__file__).parent / "data" / "shapes"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def test_majority_rule_ties_to_the_harder_label():
    assert majority_label(["E", "E", "H"]).label == "E"
    assert majority_label(["E", "H"]).label == "H"
    assert majority_label(["E", "M"]).label == "M"
    vote = majority_label(["M", None, "M"])
    assert (vote.label, vote.disagree, vote.undecided, vote.needs_review) == ("M", False, 1, False)
    assert majority_label([None]).needs_review and majority_label(["E", "M", "M"]).disagree


@pytest.fixture
def math_project(project, shared_data):
    import_files(project.store, [shared_data / "math" / "test.jsonl"])
    return project


def test_processbench_every_attempt_kept_and_graded_on_itself(math_project, shared_data):
    project = math_project
    path = shared_data / "processbench" / "math.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    report = import_attempts(project.store, [path], labels=True)
    f = report.files[0]
    # 4 (problem, generator) pairs answer one problem twice: all 1000 responses are kept
    assert (f.rows_read, f.found, f.added, f.duplicates) == (1000, 1000, 1000, 0)
    assert project.store.attempts.count() == 1000 and f.grades_added == 1000

    by_text = {}
    for pid in project.store.attempts.problem_ids_with_attempts():
        for a in project.store.attempts.for_problem(pid):
            by_text[(pid, a.model, a.raw_text)] = a
    pairs = Counter((r["problem"], r["generator"]) for r in rows)
    twice = [k for k, n in pairs.items() if n == 2]
    assert len(twice) == 4
    for problem, generator in twice:
        pid = project.store.problems.id_by_hash(problem)
        indices = sorted(
            a.sample_index for a in project.store.attempts.for_problem(pid) if a.model == generator
        )
        assert indices == [0, 1]

    # each grade points at its own attempt: same row's step label and correctness
    expected_by_problem: dict[int, list[str | None]] = defaultdict(list)
    for r in rows:
        pid = project.store.problems.id_by_hash(r["problem"])
        attempt = by_text[(pid, r["generator"], "\n\n".join(r["steps"]))]
        grades = [g for g in project.store.grades.history(pid, "emh") if g.attempt_id == attempt.id]
        assert len(grades) == 1
        g = grades[0]
        want = emh_from_first_error(r["final_answer_correct"], r["label"], len(r["steps"]))
        assert (g.label, g.detail["first_error_step"], g.symbolic_correct) == (
            want.label,
            r["label"],
            r["final_answer_correct"],
        )
        assert attempt.correct is r["final_answer_correct"]
        expected_by_problem[pid].append(want.label)

    disagree = queued = 0
    for pid, labels in expected_by_problem.items():
        counts = Counter(label for label in labels if label)
        order = "EMH"
        best = (
            max(counts.items(), key=lambda kv: (kv[1], order.index(kv[0])))[0] if counts else None
        )
        label = project.store.grades.label(pid, "emh")
        assert label.auto_label == best
        disagree += len(counts) > 1
        queued += len(counts) > 1 or best is None
        assert label.needs_review == (len(counts) > 1 or best is None)
    assert f.disagreements == disagree > 0 and f.queued_for_review == queued
    stored = project.store.imports.all()[-1]
    assert stored.shape == "attempts:processbench" and stored.details["disagreements"] == disagree

    again = import_attempts(project.store, [path], labels=True).files[0]
    assert (again.added, again.duplicates, again.grades_added) == (0, 1000, 0)


def test_unmatched_rows_refused_with_count_or_skipped(project, shared_data, tmp_path):
    gsm = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()
    write_jsonl(tmp_path / "few.jsonl", [json.loads(x) for x in gsm[:300]])
    import_files(project.store, [tmp_path / "few.jsonl"])
    known = {json.loads(x)["question"] for x in gsm[:300]}
    rows = [
        json.loads(x)
        for x in (shared_data / "processbench" / "gsm8k.jsonl").read_text().splitlines()
    ]
    path = shared_data / "processbench" / "gsm8k.jsonl"
    unmatched = [i for i, r in enumerate(rows, start=1) if r["problem"] not in known]
    assert 0 < len(unmatched) < len(rows)
    with pytest.raises(ImportFailure) as info:
        import_attempts(project.store, [path])
    assert str(info.value).startswith(f"{path}, line {unmatched[0]}: problem not in the store")
    assert f"({len(unmatched)} of 400 rows cannot be imported: {len(unmatched)} unmatched;" in str(
        info.value
    )
    assert (
        project.store.attempts.count() == 0 and project.store.imports.all()[-1].shape != "attempts"
    )
    f = import_attempts(project.store, [path], skip_unmatched=True).files[0]
    assert (f.rows_read, len(f.rows_skipped), f.added) == (
        400,
        len(unmatched),
        400 - len(unmatched),
    )
    assert f.accounting_line().startswith(
        f"400 rows read = {400 - len(unmatched)} used + {len(unmatched)} skipped"
    )


def test_outputs_shape_with_map_paths_and_explicit_indices(project, tmp_path):
    rows = [
        {
            "question": "What is 2+2?",
            "gold": "4",
            "model": "m",
            "outputs": [
                {"idx": 3, "text": "so \\boxed{4}", "verdict": "correct"},
                {"idx": 5, "text": "so \\boxed{5}", "verdict": "incorrect"},
            ],
        },
        {
            "question": "What is 2+2?",
            "gold": "4",
            "model": "m",
            "outputs": [
                {"idx": 3, "text": "a different response \\boxed{4}", "verdict": "correct"}
            ],
        },
    ]
    path = write_jsonl(tmp_path / "outs.jsonl", rows)
    mapping = parse_attempt_mapping(
        "question=problem,gold=reference,outputs[].text=response,outputs[].verdict=correct,"
        "outputs[].idx=sample_index"
    )
    with pytest.raises(ImportFailure, match=r"line 2: sample index 3 of m .* different response"):
        import_attempts(project.store, [path], mapping=mapping)
    assert project.store.attempts.count() == 0 and project.store.problems.count() == 0
    report = import_attempts(project.store, [path], mapping=mapping, skip_bad=True)
    f = report.files[0]
    assert (f.found, f.added, f.duplicates, len(f.attempts_skipped)) == (3, 2, 0, 1)
    attempts = project.store.attempts.for_problem(1)
    assert [(a.sample_index, a.correct) for a in attempts] == [(3, True), (5, False)]
    assert "response ← outputs[].text [--map]" in f.mapping
    with pytest.raises(ValueError, match="bad --map target"):
        parse_attempt_mapping("outputs[].text=nope")


def test_outputs_shape_recognised_without_map(project, tmp_path):
    path = write_jsonl(
        tmp_path / "o.jsonl",
        [
            {
                "problem": "1+1?",
                "answer": "2",
                "outputs": [
                    {"response": "\\boxed{2}"},
                    {"response": "\\boxed{3}"},
                    {"response": "\\boxed{2}"},
                ],
            }
        ],
    )
    f = import_attempts(project.store, [path], model="s").files[0]
    assert (f.shape, f.added, f.checked) == ("outputs", 3, 3)
    assert [a.correct for a in project.store.attempts.for_problem(1)] == [True, False, True]


def test_several_responses_without_index_get_distinct_indices(project, tmp_path):
    rows = [
        {"problem": "3*3?", "answer": "9", "response": "\\boxed{9}", "model": "m"},
        {"problem": "3*3?", "answer": "9", "response": "\\boxed{6}", "model": "m"},
        {"problem": "3*3?", "answer": "9", "response": "\\boxed{9}", "model": "m"},  # same text
    ]
    f = import_attempts(project.store, [write_jsonl(tmp_path / "g.jsonl", rows)]).files[0]
    assert (f.found, f.added, f.duplicates) == (3, 2, 1)
    assert [a.sample_index for a in project.store.attempts.for_problem(1)] == [0, 1]
    more = write_jsonl(tmp_path / "h.jsonl", [{**rows[0], "response": "\\boxed{8}"}])
    assert import_attempts(project.store, [more]).files[0].added == 1
    assert [a.sample_index for a in project.store.attempts.for_problem(1)] == [0, 1, 2]


def test_openr1_generations_and_a_cut_off_one_is_never_correct(project):
    f = import_attempts(project.store, [SHAPES / "openr1.jsonl"]).files[0]
    assert (f.shape, f.added, f.problems_added) == ("openr1", 3, 1)
    attempts = project.store.attempts.for_problem(1)
    assert [(a.sample_index, a.correct, a.truncated) for a in attempts] == [
        (0, True, False),
        (1, False, False),
        (2, False, True),  # the file says correct, but the generation was cut off
    ]
    assert {a.model for a in attempts} == {"DeepSeek-R1"}
    assert attempts[0].final_answer == "5"


def test_samples_dry_run_then_real(project, shared_data):
    path = shared_data / "qwen25_math_samples" / "math_cot_100.jsonl"
    dry = import_attempts(project.store, [path], model="qwen-math", dry_run=True)
    assert dry.dry_run and dry.attempts_added == 800
    assert project.store.attempts.count() == 0 and project.store.problems.count() == 0
    assert project.store.imports.all() == []
    lines = "\n".join(dry.files[0].summary_lines())
    assert "shape samples" in lines and "response ← response[]" in lines and "row 3:" in lines
    assert "100 rows read = 100 used + 0 skipped; 800 attempts = 800 added" in lines
    real = import_attempts(project.store, [path], model="qwen-math")
    assert real.attempts_added == 800 and real.checked == 0
    assert sorted({a.sample_index for a in project.store.attempts.for_problem(1)}) == list(range(8))
    record = project.store.imports.all()[-1]
    assert record.details["kind"] == "attempts" and record.rows_added == 800
    assert record.source == "math_cot_100"


def test_prm800k_rated_solutions_become_graded_attempts(project, tmp_path):
    """Rows written from PRM800K's documented phase-2 schema (tests/data/shapes/README.md)."""
    base = json.loads((SHAPES / "prm800k.jsonl").read_text().splitlines()[0])
    steps = ["Factor: $x^2+x-6=(x+3)(x-2)$.", "So there is one asymptote.", "# Answer\n\n1", "x"]
    wrong = {
        **base,
        "question": {**base["question"], "pre_generated_steps": steps, "pre_generated_answer": "1"},
        "label": {
            "steps": [
                {
                    "completions": [{"text": steps[0], "rating": 1, "flagged": False}],
                    "chosen_completion": 0,
                },
                {
                    "completions": [{"text": steps[1], "rating": -1, "flagged": False}],
                    "chosen_completion": None,
                },
            ],
            "total_time": 50,
            "finish_reason": "found_error",
        },
    }
    path = write_jsonl(tmp_path / "prm.jsonl", [base, wrong, base])
    f = import_attempts(project.store, [path], labels=True).files[0]
    # row 3 rates row 1's solution again: a duplicate attempt, but a second expert label of it
    assert (f.shape, f.rows_read, f.added, f.duplicates, f.grades_added) == ("prm800k", 3, 2, 1, 3)
    attempts = project.store.attempts.for_problem(1)
    assert [(a.sample_index, a.correct, a.final_answer) for a in attempts] == [
        (0, True, "2"),
        (1, False, "1"),
    ]
    grades = sorted(
        (g.attempt_id, g.label, g.detail["line"])
        for g in project.store.grades.history(1, "emh")
        if g.attempt_id
    )
    assert grades == [
        (attempts[0].id, "E", "line 1"),
        (attempts[0].id, "E", "line 3"),
        (attempts[1].id, "H", "line 2"),  # wrong at step 2 of 4: early
    ]
    label = project.store.grades.label(1, "emh")
    assert (label.auto_label, label.needs_review) == ("E", True)  # E 2 : H 1, queued
    assert f.disagreements == 1
    again = import_attempts(project.store, [path], labels=True).files[0]
    assert (again.added, again.duplicates, again.grades_added) == (0, 3, 0)
