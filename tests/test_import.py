"""Problem import: every shape and format, dedupe, atomic failure, clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from acotd_tui.errors import ImportFailure
from acotd_tui.importing import ImportOptions, import_files, parse_mapping


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_gsm8k_real_file(project, shared_data):
    report = import_files(project.store, [shared_data / "gsm8k" / "test.jsonl"])
    f = report.files[0]
    assert (f.source, f.split, f.shape, f.read, f.added) == ("gsm8k", "test", "gsm8k", 1319, 1319)
    first = project.store.problems.get(project.store.problems.ids(limit=1)[0])
    assert first.answer == "18" and first.problem.startswith("Janet")
    assert "####" not in (first.solution or "")
    # Thousands separators are dropped from `#### 1,234`-style answers.
    answers = {p.answer for p in project.store.problems.get_many(project.store.problems.ids())}
    assert not any("," in a for a in answers)


def test_math_shape_extracts_boxed_and_keeps_level(project, shared_data):
    report = import_files(project.store, [shared_data / "math500" / "test.jsonl"])
    assert report.files[0].shape == "math"
    problems = project.store.problems.get_many(project.store.problems.ids())
    polar = next(p for p in problems if p.problem.startswith("Convert the point $(0,3)$"))
    assert polar.answer == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert polar.level == "2" and polar.subject == "Precalculus"
    assert polar.metadata["unique_id"] == "test/precalculus/807.json"


def test_math_without_answer_field_uses_last_boxed(project, tmp_path):
    path = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {
                "problem": "p1",
                "solution": "first \\boxed{1} then \\boxed{\\frac{3}{4}}.",
                "level": "Level 5",
                "type": "Algebra",
            }
        ],
    )
    import_files(project.store, [path])
    p = project.store.problems.get(1)
    assert (p.answer, p.level, p.subject) == ("\\frac{3}{4}", "5", "Algebra")


def test_numina_shape(project, tmp_path):
    path = write_jsonl(
        tmp_path / "numina.jsonl",
        [
            {
                "problem": "Find x.",
                "solution": "So $x=\\boxed{7}$.",
                "source": "olympiads",
                "messages": [{"role": "user"}],
            }
        ],
    )
    report = import_files(project.store, [path])
    p = project.store.problems.get(1)
    assert report.files[0].shape == "numina"
    assert p.answer == "7" and p.metadata == {"source": "olympiads"}


def test_aime_and_amc_shapes(project, shared_data):
    report = import_files(
        project.store, [shared_data / "aime25" / "test.jsonl", shared_data / "amc23" / "test.jsonl"]
    )
    assert [(f.source, f.shape, f.added) for f in report.files] == [
        ("aime25", "qa", 30),
        ("amc23", "qa", 40),
    ]
    answers = [p.answer for p in project.store.problems.get_many(project.store.problems.ids())]
    assert "27" in answers  # AMC's float 27.0 is stored as the integer it is


def test_csv_json_parquet_and_datasets_folder(project, tmp_path):
    rows = [{"question": f"What is {i}+{i}?", "answer": str(2 * i)} for i in range(5)]
    with open(tmp_path / "q.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["question", "answer"])
        writer.writeheader()
        writer.writerows(rows)
    (tmp_path / "q.json").write_text(json.dumps({"data": [{"problem": "J?", "answer": 1}]}))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"problem": "P?", "answer": "3"}]), tmp_path / "q.parquet")
    from datasets import Dataset, DatasetDict

    DatasetDict(
        {
            "train": Dataset.from_list([{"problem": "HF train?", "answer": "4"}]),
            "test": Dataset.from_list([{"problem": "HF test?", "answer": "5"}]),
        }
    ).save_to_disk(str(tmp_path / "hfds"))
    report = import_files(
        project.store,
        [tmp_path / "q.csv", tmp_path / "q.json", tmp_path / "q.parquet", tmp_path / "hfds"],
    )
    assert [(f.shape, f.added) for f in report.files] == [
        ("qa", 5),
        ("qa", 1),
        ("qa", 1),
        ("qa", 1),
        ("qa", 1),
    ]
    assert {(s, sp) for s, sp, _ in project.store.problems.sources()} >= {
        ("hfds", "train"),
        ("hfds", "test"),
        ("q", ""),
    }
    only_test = import_files(project.store, [tmp_path / "hfds"], ImportOptions(split="test"))
    assert len(only_test.files) == 1 and only_test.added == 0


def test_reimport_adds_nothing_and_records_provenance(project, shared_data):
    path = shared_data / "aime24" / "test.jsonl"
    import_files(project.store, [path])
    again = import_files(project.store, [path])
    assert (again.added, again.files[0].duplicates) == (0, 30)
    imports = project.store.imports.all()
    assert [i.rows_added for i in imports] == [30, 0]
    assert imports[0].sha256 == imports[1].sha256 and len(imports[0].sha256) == 64
    assert project.store.problems.get(1).import_id == imports[0].id


def test_broken_line_aborts_whole_import_and_names_the_line(project, tmp_path, shared_data):
    good = write_jsonl(tmp_path / "good.jsonl", [{"problem": "a?", "answer": "1"}])
    lines = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:20]
    lines[16] = lines[16][:40]  # truncate line 17 mid-JSON
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportFailure, match=r"bad\.jsonl, line 17: not valid JSON"):
        import_files(project.store, [good, bad])
    assert project.store.problems.count() == 0  # the good file was rolled back too
    assert project.store.imports.all() == []


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"problem": "x", "answer": "1"}, {"answer": "2"}], r"line 2: missing field 'problem'"),
        ([{"problem": "x", "answer": ""}], r"line 1: no reference answer"),
        ([{"text": "q", "label": "1"}], r"cannot recognise the fields \(label, text\)"),
        ([[1, 2]], r"line 1: expected a JSON object, got list"),
    ],
)
def test_malformed_rows_give_one_line_errors(project, tmp_path, rows, message):
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    with pytest.raises(ImportFailure, match=message) as info:
        import_files(project.store, [path])
    assert "\n" not in str(info.value)
    assert project.store.problems.count() == 0


def test_gsm8k_answer_without_marker_is_an_error(project, tmp_path):
    path = write_jsonl(
        tmp_path / "g.jsonl",
        [
            {"question": "q1", "answer": "worked\n#### 3"},
            {"question": "q2", "answer": "no marker here"},
        ],
    )
    with pytest.raises(ImportFailure, match=r"line 2: field 'answer' has no '#### <answer>' line"):
        import_files(project.store, [path])


def test_skip_bad_reports_and_keeps_good_rows(project, tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text(
        '{"problem": "a", "answer": "1"}\n{"problem": "b"\n{"problem": "c", "answer": ""}\n[3]\n{"problem": "d", "answer": "4"}\n'
    )
    report = import_files(project.store, [path], ImportOptions(skip_bad=True))
    assert report.added == 2
    assert [loc for loc, _ in report.files[0].skipped] == ["line 2", "line 3", "line 4"]
    assert project.store.imports.all()[0].rows_skipped == 3


def test_mapping(project, tmp_path):
    path = write_jsonl(
        tmp_path / "custom.jsonl", [{"q_text": "Q?", "gold": "5", "question": "ignored"}]
    )
    mapping = parse_mapping("q_text=problem,gold=answer")
    import_files(project.store, [path], ImportOptions(mapping=mapping))
    p = project.store.problems.get(1)
    assert (p.problem, p.answer) == ("Q?", "5")
    with pytest.raises(ValueError, match="bad --map target"):
        parse_mapping("a=nope")
    with pytest.raises(ImportFailure, match="--map names field 'missing'"):
        import_files(
            project.store, [path], ImportOptions(mapping={"missing": "answer"}, skip_bad=True)
        )


def test_unreadable_and_unknown_inputs(project, tmp_path):
    with pytest.raises(ImportFailure, match="no such file"):
        import_files(project.store, [tmp_path / "nope.jsonl"])
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ImportFailure, match="unknown file type"):
        import_files(project.store, [tmp_path / "x.txt"])
    (tmp_path / "latin1.jsonl").write_bytes(
        '{"problem": "caf\xe9", "answer": "1"}\n'.encode("latin-1")
    )
    with pytest.raises(ImportFailure, match="line 1: not UTF-8"):
        import_files(project.store, [tmp_path / "latin1.jsonl"])
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(ImportFailure, match="no records"):
        import_files(project.store, [tmp_path / "empty.jsonl"])
    (tmp_path / "dir").mkdir()
    with pytest.raises(ImportFailure, match="not a saved Hugging Face dataset"):
        import_files(project.store, [tmp_path / "dir"])
    assert project.store.problems.count() == 0


def test_full_disk_during_import_leaves_store_unchanged(project, tmp_path):
    path = write_jsonl(
        tmp_path / "big.jsonl",
        [{"problem": f"{i} " + "y" * 3000, "answer": "1"} for i in range(200)],
    )
    import_files(
        project.store, [write_jsonl(tmp_path / "one.jsonl", [{"problem": "keep", "answer": "1"}])]
    )
    pages = project.store.db.scalar("PRAGMA page_count")
    project.store.db.conn.execute(f"PRAGMA max_page_count = {pages + 5}")
    with pytest.raises(ImportFailure, match="database or disk is full; nothing was imported"):
        import_files(project.store, [path])
    assert project.store.problems.count() == 1
    assert len(project.store.imports.all()) == 1
