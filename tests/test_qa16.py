"""QA of issue 16 as a new user: public dataset variants the import first got wrong."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from acotd_tui.importing import import_files


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def stored(project):
    return project.store.problems.get_many(project.store.problems.ids())


def test_capitalised_field_names_are_recognised(project, tmp_path, shared_data):
    """Maxwell-Jia/AIME_2024 (its card: `ID`, `Problem`, `Solution`, `Answer`, an int)."""
    real = [json.loads(x) for x in (shared_data / "aime24" / "test.jsonl").read_text().splitlines()]
    rows = [
        {
            "ID": f"2024-I-{i}",
            "Problem": r["problem"],
            "Solution": r["solution"],
            "Answer": int(r["answer"]),
        }
        for i, r in enumerate(real[:3], start=1)
    ]
    report = import_files(project.store, [write_jsonl(tmp_path / "aime_2024_problems.jsonl", rows)])
    f = report.files[0]
    assert (f.read, f.added) == (3, 3)
    got = stored(project)
    assert [p.answer for p in got] == [r["answer"] for r in real[:3]]
    assert got[0].problem == real[0]["problem"] and got[0].solution == real[0]["solution"]
    assert got[0].metadata == {"ID": "2024-I-1"}
    assert any(line.startswith("problem  ← Problem") for line in f.mapping)


def test_fields_that_first_appear_after_row_one_are_mapped(project, tmp_path, shared_data):
    """A file whose first row lacks `solution`/`level`: later rows' solutions are not dropped."""
    lines = (shared_data / "math500" / "test.jsonl").read_text().splitlines()[:3]
    real = [json.loads(x) for x in lines]
    rows = [{"problem": real[0]["problem"], "answer": real[0]["answer"]}] + [
        {k: r[k] for k in ("problem", "answer", "solution", "level")}
        for r in real[1:]
    ]
    import_files(project.store, [write_jsonl(tmp_path / "late.jsonl", rows)])
    first, second, third = stored(project)
    assert first.solution is None
    assert second.solution == real[1]["solution"] and third.solution == real[2]["solution"]
    assert second.level == str(real[1]["level"])


def test_json_file_holding_json_lines_is_read(project, tmp_path):
    """Many sets ship `train.json` as JSON Lines; refusing it at 'line 2' helps nobody."""
    rows = [{"problem": "P1", "answer": "1"}, {"problem": "P2", "answer": "2"}]
    path = write_jsonl(tmp_path / "train.json", rows)
    f = import_files(project.store, [path]).files[0]
    assert (f.read, f.added) == (2, 2)


def test_gzipped_jsonl_is_read(project, tmp_path):
    """`.jsonl.gz` is accepted by name, so it must be read as gzip, not refused as 'not UTF-8'."""
    path = tmp_path / "deepscaler.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        row = {"problem": "What is 1+1?", "answer": "2", "solution": "\\boxed{2}"}
        fh.write(json.dumps(row) + "\n")
    f = import_files(project.store, [path]).files[0]
    assert (f.shape, f.read, f.added, f.source) == ("deepscaler", 1, 1, "deepscaler")


def test_a_field_dropped_after_the_leading_rows_is_reported(project, tmp_path):
    """Row 1 holds a short `note` (kept in metadata); row 250's is too long to keep: say so."""
    rows = [{"problem": f"P{i}", "answer": str(i), "note": "short"} for i in range(300)]
    rows[249]["note"] = "a long remark " * 40
    rows[260]["extra"] = ["a", "list"]
    f = import_files(project.store, [write_jsonl(tmp_path / "notes.jsonl", rows)]).files[0]
    assert (f.read, f.added) == (300, 300)
    assert f.unkept == ["extra", "note"]
    assert any("not kept" in note for note in f.notes.counts)
    summary = project.store.imports.all()[0].details
    assert summary["not_kept"] == ["extra", "note"]


def test_openr1_rows_with_null_optional_lists_import_their_generations(project, tmp_path):
    """OpenR1-Math-220k: `finish_reasons` and `correctness_llama` are nullable sequences (its
    card); a null one means "not given", not a malformed row."""
    from acotd_tui.importing.attempts import import_attempts

    row = {
        "problem": "Find $x$ if $2x=1$.",
        "solution": "$x=\\frac12$",
        "answer": "\\frac{1}{2}",
        "problem_type": "Algebra",
        "question_type": "math-word-problem",
        "source": "olympiads",
        "uuid": "u1",
        "is_reasoning_complete": [True, True],
        "generations": [
            "<think>2x=1</think> $\\boxed{\\frac12}$",
            "<think>hm</think> $\\boxed{2}$",
        ],
        "correctness_math_verify": [True, False],
        "correctness_llama": None,
        "finish_reasons": None,
        "correctness_count": 1,
        "messages": [],
    }
    path = write_jsonl(tmp_path / "openr1.jsonl", [row])
    import_files(project.store, [path])
    f = import_attempts(project.store, [path]).files[0]
    assert (f.added, f.rows_skipped, f.attempts_skipped) == (2, [], [])
    (pid,) = project.store.attempts.problem_ids_with_attempts()
    got = sorted(project.store.attempts.for_problem(pid), key=lambda a: a.sample_index)
    assert [(a.sample_index, a.correct, a.model) for a in got] == [
        (0, True, "DeepSeek-R1"),
        (1, False, "DeepSeek-R1"),
    ]


def test_attempt_fields_first_seen_after_row_one_are_read(project, tmp_path, shared_data):
    """Row 1 has no `finish_reason` / `sample_index`; later rows do. A later cut-off generation
    marked correct is still no pass, and a later explicit sample index is honoured."""
    from acotd_tui.importing.attempts import import_attempts

    lines = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[:3]
    gsm = [json.loads(x) for x in lines]
    import_files(project.store, [shared_data / "gsm8k" / "test.jsonl"])
    rows = [
        {"problem": gsm[0]["question"], "model": "m", "response": "A: 1", "correct": False},
        {"problem": gsm[1]["question"], "model": "m", "response": "cut off", "correct": True}
        | {"finish_reason": "length"},
        {"problem": gsm[2]["question"], "model": "m", "response": "A: 70000", "correct": True}
        | {"sample_index": 3},
    ]
    f = import_attempts(project.store, [write_jsonl(tmp_path / "late.jsonl", rows)]).files[0]
    assert f.added == 3
    by_text = {
        a.raw_text: a
        for pid in project.store.attempts.problem_ids_with_attempts()
        for a in project.store.attempts.for_problem(pid)
    }
    assert by_text["cut off"].correct is False and by_text["cut off"].finish_reason == "length"
    assert by_text["A: 70000"].sample_index == 3


def test_attempts_mapping_shows_the_model_that_is_used(project, tmp_path, shared_data):
    """With --model the shown mapping names that model, not 'unknown' or the file's field."""
    from acotd_tui.importing.attempts import import_attempts

    import_files(project.store, [shared_data / "gsm8k" / "test.jsonl"])
    lines = (shared_data / "processbench" / "gsm8k.jsonl").read_text().splitlines()[:2]
    path = tmp_path / "pb.jsonl"
    path.write_text("\n".join(lines) + "\n")
    f = import_attempts(project.store, [path], model="my-student", dry_run=True).files[0]
    assert "model    ← my-student (--model)" in f.mapping
    assert not any(line.startswith("model    ← generator") for line in f.mapping)
    assert f.models == {"my-student"}


def test_a_duplicate_with_a_different_answer_is_reported(project, tmp_path):
    """Rows that repeat a problem are duplicates; when the answer differs from the one kept,
    the import says so (in this file and against problems already stored)."""
    write_jsonl(tmp_path / "first.jsonl", [{"problem": "What is 2+2?", "answer": "4"}])
    import_files(project.store, [tmp_path / "first.jsonl"])
    rows = [
        {"problem": "What  is 2+2? ", "answer": "5"},  # stored before, other answer
        {"problem": "What is 3+3?", "answer": "6"},
        {"problem": "What is 3+3?", "answer": "6"},  # same answer: a plain duplicate
        {"problem": "What is 3+3?", "answer": "7"},  # this file, other answer
    ]
    f = import_files(project.store, [write_jsonl(tmp_path / "second.jsonl", rows)]).files[0]
    assert (f.read, f.added, f.duplicates) == (4, 1, 3)
    conflicts = [n for n in f.notes.counts if "different answer" in n]
    assert len(conflicts) == 1 and f.notes.counts[conflicts[0]] == 2
    assert f.notes.first[conflicts[0]] == "line 1"
    assert [p.answer for p in stored(project)] == ["4", "6"]


def test_an_answer_that_is_one_boxed_value_is_unwrapped():
    """`"answer": "\\boxed{5}"` (or `$\\boxed{...}$`) stores the value, as the judge and exports
    expect a bare reference; a box inside other text is left to the worked-solution rule."""
    from acotd_tui.importing.values import Note, answer_text

    for raw, text in [
        ("\\boxed{5}", "5"),
        ("$\\boxed{\\frac{1}{2}}$", "\\frac{1}{2}"),
        (["\\boxed{(1, 2)}"], "(1, 2)"),
        ("\\boxed{1} and \\boxed{2}", "\\boxed{1} and \\boxed{2}"),
    ]:
        got = answer_text(raw)
        assert got.text == text, raw
        assert (Note.BOXED_UNWRAPPED in got.notes) == (text != raw and "and" not in text)


def test_several_answers_with_commas_keep_their_grouping():
    """OlympiadBench-style `final_answer: ["$a=1,b=2$", "$a=2,b=1$"]`: joined flat as
    `a=1,b=2, a=2,b=1` the pairing is lost and a wrong pairing passes. Each such answer is
    bracketed, so pairs compare as pairs; one-part answers and `1,000` stay as they are."""
    from acotd_tui.answer_forms import canonical
    from acotd_tui.checking import decide
    from acotd_tui.importing.values import answer_text

    ref = answer_text(["$a=1,b=2$", "$a=2,b=1$"]).text
    assert ref == "(a=1,b=2), (a=2,b=1)"
    assert decide("a=1,b=1, a=2,b=2", ref) is False
    assert decide("(a=2,b=1), (a=1,b=2)", ref) is True
    assert answer_text(["$(1,2)$", "$(2,1)$"]).text == "(1,2), (2,1)"
    assert answer_text(["1,000", "2"]).text == "1000, 2"  # a thousands comma would split it
    assert decide("2, 1000", answer_text(["1,000", "2"]).text) is True
    assert answer_text(["$x=1, y=2$"]).text == "x=1, y=2"
    # the same rule where a list arrives as text at check time
    assert canonical("['x=1, y=2', 'x=3, y=4']") == canonical("(x=1, y=2), (x=3, y=4)")
    assert decide("x=1, y=4, x=3, y=2", "['x=1, y=2', 'x=3, y=4']") is False


def test_numpy_style_list_text_from_a_pandas_csv_keeps_its_elements(project, tmp_path):
    """`pd.read_parquet(...).to_csv()` writes list cells as numpy reprs, `['$(1,2)$' '$(2,1)$']`
    (no commas). Python reads that as ONE string, `$(1,2)$$(2,1)$`; it is two answers."""
    from acotd_tui.answer_forms import canonical
    from acotd_tui.importing.values import answer_text, list_from_text

    assert list_from_text("['$(1,2)$' '$(2,1)$']") == ["$(1,2)$", "$(2,1)$"]
    assert list_from_text("['a'\n 'b']") == ["a", "b"]
    assert list_from_text("['a', 'b']") == ["a", "b"]
    assert answer_text("['$(1,2)$' '$(2,1)$']").text == "(1,2), (2,1)"
    assert canonical("['1' '2']") == canonical("1, 2")
    path = tmp_path / "olympiad.csv"
    path.write_text(
        "question,solution,final_answer\n"
        "Find all pairs,\"['Part one.' 'Part two.']\",\"['$(1,2)$' '$(2,1)$']\"\n"
    )
    import_files(project.store, [path])
    (p,) = stored(project)
    assert p.answer == "(1,2), (2,1)" and p.solution == "Part one.\n\nPart two."


def test_map_naming_one_target_twice_is_refused():
    """`--map problem=problem,answer=problem` used to keep the last silently."""
    import pytest

    from acotd_tui.importing import parse_mapping
    from acotd_tui.importing.attempt_shapes import parse_attempt_mapping

    for parse in (parse_mapping, parse_attempt_mapping):
        with pytest.raises(ValueError, match="problem.*twice|twice.*problem"):
            parse("problem=problem,answer=problem")
    assert parse_mapping("question=problem,final_answer.0=answer") == {
        "question": "problem",
        "final_answer.0": "answer",
    }


def test_quoted_multiline_problem_with_a_comma_on_its_first_line_is_valid_csv(project, tmp_path):
    """`"Let a, b be reals.\\nFind a+b ...",3` is a well-formed record (pandas writes these);
    only a first line that splits into field-like values (`What is 1+1?,2`) signals a merge."""
    path = tmp_path / "prose.csv"
    path.write_text(
        "question,answer\n"
        '"Let a, b be reals.\nFind a+b if a=1, b=2.",3\n'
        '"Let $a,b$ be reals.\nFind $ab$.",2\n'
        "Plain,4\n"
    )
    f = import_files(project.store, [path]).files[0]
    assert (f.read, f.added) == (3, 3)
    assert stored(project)[0].problem == "Let a, b be reals.\nFind a+b if a=1, b=2."


def test_a_reward_score_is_not_read_as_correctness(project, tmp_path, shared_data):
    """`outputs[].score` is taken for correctness when a file has no `correct`; a reward such
    as 0.91 is no verdict (it used to read as True). Only booleans, 0/1 and yes/no words are;
    anything else is left to the checker, which compares the extracted answer."""
    from acotd_tui.importing.attempt_shapes import _bool
    from acotd_tui.importing.attempts import import_attempts

    assert [_bool(v) for v in (True, 0, 1, 1.0, "yes", "False", "incorrect")] == [
        True, False, True, True, True, False, False,
    ]
    assert [_bool(v) for v in (0.91, 0.2, "unknown", "None", 2)] == [None] * 5
    gsm = json.loads((shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()[0])
    import_files(project.store, [shared_data / "gsm8k" / "test.jsonl"])
    row = {
        "problem": gsm["question"],
        "model": "rm",
        "outputs": [
            {"response": "so 18", "extracted_answer": "18", "score": 0.12},
            {"response": "so 20", "extracted_answer": "20", "score": 0.91},
        ],
    }
    import_attempts(project.store, [write_jsonl(tmp_path / "rm.jsonl", [row])])
    (pid,) = project.store.attempts.problem_ids_with_attempts()
    got = {a.raw_text: a.correct for a in project.store.attempts.for_problem(pid)}
    assert got == {"so 18": True, "so 20": False}


def test_hub_shard_names_give_the_dataset_and_split(tmp_path):
    """A Hugging Face download is `<dataset>/data/train-00000-of-00001.parquet`: the source is
    the dataset's folder (not `train-00000-of-00001`, nor the generic `data`), the split train."""
    from acotd_tui.importing.importer import guess_source_split

    shard = tmp_path / "DeepScaleR-Preview-Dataset" / "data" / "train-00000-of-00001.parquet"
    shard.parent.mkdir(parents=True)
    shard.write_bytes(b"")
    assert guess_source_split(shard) == ("DeepScaleR-Preview-Dataset", "train")
    plain = tmp_path / "OpenR1" / "data" / "test.jsonl"
    plain.parent.mkdir(parents=True)
    plain.write_text("")
    assert guess_source_split(plain) == ("OpenR1", "test")
    other = tmp_path / "Qwen2.5_7b.jsonl"
    other.write_text("")
    assert guess_source_split(other) == ("Qwen2.5_7b", "")
