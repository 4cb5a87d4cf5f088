"""Problem import of the public shapes, and each defect of issue 16 that import could commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acotd_tui.errors import ImportFailure
from acotd_tui.importing import ImportOptions, import_files, parse_mapping
from acotd_tui.importing.fieldpath import MISSING, parse_path
from acotd_tui.importing.importer import guess_source_split
from acotd_tui.importing.values import answer_text, number_text

SHAPES = Path(__file__).parent / "data" / "shapes"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def problems(project):
    return project.store.problems.get_many(project.store.problems.ids())


def test_olympiadbench_lists_unwrapped_joined_and_kept(project):
    report = import_files(project.store, [SHAPES / "olympiadbench.jsonl"])
    f = report.files[0]
    assert (f.shape, f.read, f.added) == ("olympiadbench", 3, 3)
    one, pairs, percent = problems(project)
    assert one.answer == "\\frac{1}{2 n+2}"  # not "['$\\frac{1}{2 n+2}$']"
    assert (
        one.solution == "Step one of the official solution.\n\nSo the answer is $\\frac{1}{2 n+2}$."
    )
    assert one.subject == "Algebra" and one.metadata["answer_type"] == "Expression"
    assert pairs.answer == "(1,2), (2,1)"
    assert pairs.metadata["answer_list"] == ["$(1,2)$", "$(2,1)$"]
    assert percent.answer == "8 \\%"
    assert any("joined" in note for note in f.notes.counts)
    stored = project.store.imports.all()[0].details
    assert stored["shape"] == "olympiadbench" and "answer   ← final_answer" in stored["mapping"][1]


def test_worked_solution_answer_loses_to_short_ground_truth(project, shared_data):
    """The issue's file: `answer` a MATH worked solution, `ground_truth` the short answer."""
    rows = [
        json.loads(x) for x in (shared_data / "math" / "test.jsonl").read_text().splitlines()[:20]
    ]
    from acotd_tui.answers import extract_last_boxed

    mixed = [
        {
            "problem": r["problem"],
            "answer": r["solution"],
            "ground_truth": extract_last_boxed(r["solution"]),
        }
        for r in rows
    ]
    report = import_files(project.store, [write_jsonl(project.root / "mixed.jsonl", mixed)])
    assert report.files[0].added == 20
    for stored, row in zip(problems(project), mixed, strict=True):
        assert stored.answer == row["ground_truth"] and len(stored.answer) < 60


def test_only_a_worked_solution_gives_its_last_boxed(project, shared_data):
    rows = [
        json.loads(x) for x in (shared_data / "math" / "test.jsonl").read_text().splitlines()[:10]
    ]
    only = [{"question": r["problem"], "answer": r["solution"]} for r in rows]
    report = import_files(project.store, [write_jsonl(project.root / "only.jsonl", only)])
    f = report.files[0]
    assert f.notes.counts["answer field held a worked solution: took its final answer"] == 10
    from acotd_tui.answers import extract_last_boxed

    for stored, row in zip(problems(project), rows, strict=True):
        assert stored.answer == extract_last_boxed(row["solution"])
        assert stored.solution == row["solution"]


def test_numbers_are_shortest_round_trip_text(project):
    import_files(project.store, [SHAPES / "gsm_hard.jsonl"])
    assert [p.answer for p in problems(project)] == ["18", "5.158e-07"]
    assert number_text(0.1 + 0.2) == "0.30000000000000004" and number_text(27.0) == "27"
    assert float(number_text(5.158e-07)) == 5.158e-07


@pytest.mark.parametrize(
    ("value", "text", "kept"),
    [
        (["$\\frac{1}{2 n+2}$"], "\\frac{1}{2 n+2}", None),
        ("['$\\\\frac{1}{2}$']", "\\frac{1}{2}", None),
        (["3", "5"], "3, 5", ["3", "5"]),
        ("$6m$", "6m", None),
        ("$1$ and $2$", "$1$ and $2$", None),
        ("[0, 1]", "[0, 1]", None),  # an interval, not a list
        (27.0, "27", None),
    ],
)
def test_answer_text_forms(value, text, kept):
    converted = answer_text(value)
    assert (converted.text, converted.original_list) == (text, kept)


@pytest.mark.parametrize(
    ("name", "shape", "answer", "extra"),
    [
        ("omni_math.jsonl", "omni_math", "m_{\\max }=n^{2}-n-1", {"level": "6.5"}),
        (
            "bigmath.jsonl",
            "bigmath",
            "6m",
            {"subject": "Mathematics -> Geometry -> Plane Geometry"},
        ),
        ("openr1.jsonl", "openr1", "5", {"subject": "Algebra"}),
        ("svamp.jsonl", "svamp", "51", {"subject": "Subtraction"}),
        ("prm800k.jsonl", "prm800k", "2", {}),
        ("deepscaler.jsonl", "deepscaler", "2", {}),
    ],
)
def test_documented_shapes(project, name, shape, answer, extra):
    report = import_files(project.store, [SHAPES / name])
    f = report.files[0]
    assert f.shape == shape
    assert f.read == f.added + f.duplicates + len(f.skipped)
    p = problems(project)[0]
    assert p.answer == answer and p.domain == "math"
    for key, value in extra.items():
        assert getattr(p, key) == value


def test_prm800k_rows_of_one_problem_are_duplicates_and_nested_fields_read(project):
    f = import_files(project.store, [SHAPES / "prm800k.jsonl"]).files[0]
    assert (f.read, f.added, f.duplicates) == (2, 1, 1)
    p = problems(project)[0]
    assert p.problem.startswith("How many vertical asymptotes") and "\\boxed{2}" in p.solution


def test_numina_15_proof_rows_are_refused_then_skipped(project):
    with pytest.raises(
        ImportFailure, match=r"line 2: no checkable answer \('proof'\) \(1 of 2 rows"
    ):
        import_files(project.store, [SHAPES / "numina15.jsonl"])
    assert project.store.problems.count() == 0
    f = import_files(
        project.store, [SHAPES / "numina15.jsonl"], ImportOptions(skip_bad=True)
    ).files[0]
    assert (f.shape, f.added, f.skipped) == (
        "numina_1.5",
        1,
        [("line 2", "no checkable answer ('proof')")],
    )


def test_processbench_as_problems_points_to_attempts_import(project, shared_data):
    with pytest.raises(ImportFailure, match="recognised as ProcessBench.*attempts import"):
        import_files(project.store, [shared_data / "processbench" / "gsm8k.jsonl"])


def test_real_shapes_from_shared_data(project, shared_data):
    report = import_files(
        project.store,
        [
            shared_data / "gsm8k" / "test.jsonl",
            shared_data
            / "math"
            / "test.jsonl",  # MATH-lighteval shape: problem, level, type, solution
            shared_data / "aime24" / "test.jsonl",
            shared_data / "qwen25_math_samples" / "math_cot_100.jsonl",
            shared_data / "gsm8k" / "model_solutions.jsonl",  # `ground_truth` ends in '#### N'
        ],
    )
    shapes = [(f.shape, f.read, f.added, f.duplicates) for f in report.files]
    assert shapes == [
        ("gsm8k", 1319, 1319, 0),
        ("math", 5000, 5000, 0),
        ("qa", 30, 30, 0),
        ("math", 100, 100 - report.files[-2].duplicates, report.files[-2].duplicates),
        ("qa", 1319, 0, 1319),  # the same GSM8K test problems again, same answers
    ]
    sols = report.files[-1]
    assert sols.notes.counts["answer field held a worked solution: took its final answer"] == 1319
    assert sols.preview[0]["answer"] == "18"
    qwen = report.files[-2]
    assert "answer   ← gt" in qwen.mapping[1]  # the short `gt` over `answer`/`solution`


def test_map_paths_reach_inside(project, tmp_path):
    rows = [{"q": {"text": "Nested?"}, "finals": ["$7$", "$8$"]}]
    path = write_jsonl(tmp_path / "nested.jsonl", rows)
    mapping = parse_mapping("q.text=problem,finals.0=answer")
    report = import_files(project.store, [path], ImportOptions(mapping=mapping))
    p = problems(project)[0]
    assert (p.problem, p.answer) == ("Nested?", "7")
    assert "problem  ← q.text [--map]" in report.files[0].mapping
    with pytest.raises(ValueError, match=r"\[\] .* is for `attempts import`"):
        parse_mapping("finals[]=answer")
    assert parse_path("outputs[].response").resolve({"outputs": [{"response": "a"}, {}]}) == [
        "a",
        MISSING,
    ]
    assert parse_path("final_answer[-1]").resolve({"final_answer": [1, 2]}) == 2
    assert parse_path("qwen2.5_score").resolve({"qwen2.5_score": 3}) == 3


def test_dry_run_stores_nothing_and_real_run_stores_the_same_summary(project, shared_data):
    path = shared_data / "amc23" / "test.jsonl"
    dry = import_files(project.store, [path], ImportOptions(dry_run=True))
    assert dry.dry_run and project.store.problems.count() == 0 and project.store.imports.all() == []
    f = dry.files[0]
    assert f.added == 40 and len(f.preview) == 3 and f.preview[0]["answer"] == "27"
    lines = "\n".join(f.summary_lines())
    assert "shape qa" in lines and "row 3:" in lines and "40 rows read = 40 added" in lines
    assert "number written as shortest round-trip text" in lines
    real = import_files(project.store, [path])
    stored = project.store.imports.all()[0].details
    assert stored == json.loads(json.dumps(real.files[0].summary()))
    assert stored["accounting"] == {
        "read": 40,
        "added": 40,
        "duplicates": 0,
        "skipped": 0,
        "skipped_by_kind": {},
    }


def test_refusal_names_first_bad_line_and_count_and_skip_flags(project, tmp_path):
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"problem": "a", "answer": "1"},
            {"problem": "b", "answer": ""},
            {"answer": "3"},
            {"problem": "d", "answer": ""},
            {"problem": "a", "answer": "1"},
        ],
    )
    with pytest.raises(ImportFailure) as info:
        import_files(project.store, [path])
    assert str(info.value) == (
        f"{path}, line 2: no reference answer: field 'answer' is missing or empty"
        " (3 of 5 rows cannot be imported: 2 bad, 1 unmatched; --skip-bad / --skip-unmatched"
        " skips them); nothing was imported"
    )
    assert project.store.problems.count() == 0 and project.store.imports.all() == []
    with pytest.raises(ImportFailure, match="line 3: missing field 'problem'"):
        import_files(project.store, [path], ImportOptions(skip_bad=True))
    f = import_files(
        project.store, [path], ImportOptions(skip_bad=True, skip_unmatched=True)
    ).files[0]
    assert (f.read, f.added, f.duplicates, len(f.skipped)) == (5, 1, 1, 3)
    assert (
        f.accounting_line()
        == "5 rows read = 1 added + 1 duplicates + 3 skipped (2 bad, 1 unmatched)"
    )
    stored = project.store.imports.all()[0].details
    assert stored["skipped"][1] == ["line 3", "missing field 'problem' (the problem text)"]


def test_csv_unbalanced_quote_is_an_error_naming_its_line(project, tmp_path):
    merged = tmp_path / "merged.csv"
    merged.write_text('problem,answer\nok,1\n"What is 1+1?,2\nWhat is 2+2?",4\nlast,5\n')
    with pytest.raises(
        ImportFailure, match=r"merged.csv, line 3: a quoted field runs from line 3 to 4"
    ):
        import_files(project.store, [merged])
    eof = tmp_path / "eof.csv"
    eof.write_text('problem,answer\nok,1\n"What is 1+1?,2\nWhat is 2+2?,4\n')
    with pytest.raises(ImportFailure, match=r"eof.csv, line 3: malformed CSV record"):
        import_files(project.store, [eof])
    stray = tmp_path / "stray.csv"
    stray.write_text('problem,answer\n"What is 1+1?,2\n"What is 2+2?",4\n')
    with pytest.raises(ImportFailure, match=r"stray.csv, line 2: malformed CSV record"):
        import_files(project.store, [stray])
    good = tmp_path / "good.csv"
    good.write_text('problem,answer\n"A problem\nover two lines",2\n')
    assert import_files(project.store, [good]).added == 1
    assert project.store.problems.count() == 1


def test_source_name_is_the_file_stem_as_is(tmp_path):
    path = tmp_path / "Qwen2.5_7b.jsonl"
    path.write_text("{}\n")
    assert guess_source_split(path) == ("Qwen2.5_7b", "")
    gz = tmp_path / "numina.v1.5.jsonl.gz"
    gz.write_text("")
    assert guess_source_split(gz)[0] == "numina.v1.5"


def test_cli_dry_run_and_attempts_map(tmp_path):
    from click.testing import CliRunner

    from acotd_tui.cli import main
    from acotd_tui.project import Project

    runner = CliRunner()
    proj = tmp_path / "p"
    assert runner.invoke(main, ["init", str(proj)]).exit_code == 0
    dry = runner.invoke(
        main, ["import", "-p", str(proj), "--dry-run", str(SHAPES / "olympiadbench.jsonl")]
    )
    assert dry.exit_code == 0, dry.output
    out = dry.output
    assert "shape olympiadbench (OlympiadBench)" in out and "problem  ← question" in out
    assert "answer   ← final_answer" in out and "row 3:" in out
    assert "warning: 1 × several answers joined" in out
    assert "3 rows read = 3 added + 0 duplicates + 0 skipped" in out
    assert "dry run: nothing was stored" in out
    outs = tmp_path / "outs.jsonl"
    outs.write_text(
        json.dumps({"q": "Is 1 odd?", "ref": "yes", "outputs": [{"r": "yes"}, {"r": "no"}]}) + "\n"
    )
    res = runner.invoke(
        main,
        [
            "attempts",
            "import",
            "-p",
            str(proj),
            str(outs),
            "--map",
            "q=problem,ref=reference,outputs[].r=response",
            "--model",
            "m",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "1 rows read = 1 used + 0 skipped; 2 attempts = 2 added" in res.output
    project = Project.open(proj)
    try:
        assert project.store.problems.count() == 1  # only the attempts file's problem
        assert [a.sample_index for a in project.store.attempts.for_problem(1)] == [0, 1]
    finally:
        project.close()


def test_dry_run_of_a_file_that_would_be_refused_still_shows_everything(project, tmp_path):
    from click.testing import CliRunner

    from acotd_tui.cli import main

    path = write_jsonl(
        tmp_path / "some_bad.jsonl",
        [
            {"problem": "a", "answer": "1"},
            {"problem": "b", "answer": ""},
            {"problem": "c", "answer": "3"},
        ],
    )
    f = import_files(project.store, [path], ImportOptions(dry_run=True)).files[0]
    assert (f.read, f.added, len(f.skipped)) == (3, 2, 1)
    assert f.refusal.startswith(f"{path}, line 2: no reference answer")
    assert project.store.problems.count() == 0
    res = CliRunner().invoke(main, ["import", "-p", str(project.root), "--dry-run", str(path)])
    assert res.exit_code == 1
    assert "3 rows read = 2 added + 0 duplicates + 1 skipped (1 bad)" in res.output
    assert "skipped line 2: no reference answer" in res.output
    assert res.output.strip().splitlines()[-1].startswith(f"error: {path}, line 2:")
