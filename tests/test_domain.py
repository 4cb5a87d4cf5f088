"""The typed domain (acotd_tui/domain.py): the paper's label and CoT-kind facts, the enums'
round trip through the store, and a guard that label tables and status literals stay there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from acotd_tui.config import GradingConfig, SamplingConfig
from acotd_tui.domain import (
    EMH,
    ZTE,
    CotKind,
    GradeSource,
    JobStatus,
    ReviewState,
    RunStatus,
    SchemeName,
    ZteCot,
    scheme,
)
from acotd_tui.stages import GradeParams
from acotd_tui.store import NewCot, NewGrade, NewProblem, Store

ROOT = Path(__file__).resolve().parents[1]


def test_emh_order_and_cot_kinds_follow_the_paper() -> None:
    # ACoTD §3.2-3.3: Easy/Medium get short CoTs (teacher A), Hard gets long CoTs (teacher B).
    assert EMH.labels == ("E", "M", "H") and EMH.easy == "E"
    assert [EMH.display_name(x) for x in EMH.labels] == ["Easy", "Medium", "Hard"]
    assert [EMH.cot_kind(x) for x in EMH.labels] == [CotKind.SHORT, CotKind.SHORT, CotKind.LONG]
    assert EMH.cot_kind("M", "long") == CotKind.SHORT  # the ZTE option does not touch EMH
    assert EMH.harder("M", "H") == "H" and EMH.harder("M", "E") == "M"
    assert EMH.hardest_of(["E", "M", "M"]) == "M"
    assert EMH.aliases["medium"] == "M" and EMH.aliases["h"] == "H"


def test_zte_is_long_for_all_by_default_and_splits_on_request() -> None:
    assert ZTE.labels == ("easy", "1", "2", "3", "4", "5") and ZTE.easy == "easy"
    assert {ZTE.cot_kind(x) for x in ZTE.labels} == {CotKind.LONG}
    split = [ZTE.cot_kind(x, "split") for x in ZTE.labels]
    assert split == [CotKind.SHORT] * 4 + [CotKind.LONG] * 2  # short for easy-3, long for 4-5
    assert ZTE.index("3") == 3 and not ZTE.is_label("E") and not ZTE.is_label(None)


def test_scheme_lookup_and_the_typed_copies_agree() -> None:
    assert scheme("zte") is ZTE and scheme(SchemeName.EMH) is EMH
    with pytest.raises(ValueError, match="unknown label scheme"):
        scheme("abc")
    with pytest.raises(ValueError):
        EMH.index("easy")
    # The config and the stage table type these fields with the enums themselves.
    assert GradingConfig.model_fields["scheme"].annotation is SchemeName
    assert SamplingConfig.model_fields["zte_cot"].annotation is ZteCot
    assert GradeParams.model_fields["scheme"].annotation == SchemeName | None
    assert JobStatus.STOPPED.resumable and JobStatus.QUEUED.active and not JobStatus.DONE.active
    assert not GradeSource.HUMAN.automatic and GradeSource.IMPORT.automatic


def test_enums_round_trip_through_the_store(tmp_path: Path) -> None:
    with Store(tmp_path / "p.db") as store:
        job = store.jobs.create("grade", {"scheme": SchemeName.ZTE})
        assert job.status is JobStatus.QUEUED and job.status == "queued"
        store.jobs.finish(job.id, JobStatus.DONE)
        again = store.jobs.get(job.id)
        assert again.status is JobStatus.DONE and again.params == {"scheme": "zte"}
        raw = store.db.scalar("SELECT status || '|' || params FROM jobs WHERE id = ?", (job.id,))
        assert raw == 'done|{"scheme": "zte"}'  # byte-identical to the plain strings

        store.problems.add([NewProblem(problem="1+1?", answer="2", source="t")])
        pid = store.problems.ids()[0]
        store.grades.add([NewGrade(pid, SchemeName.EMH, "H", GradeSource.JUDGE)])
        store.grades.add([NewGrade(pid, "emh", "M", "human")])
        history = store.grades.history(pid, "emh")
        assert [g.source for g in history] == [GradeSource.JUDGE, GradeSource.HUMAN]
        assert all(type(g.source) is GradeSource for g in history)

        store.cots.add([NewCot(pid, CotKind.LONG, "t", "v1", 0, "r", "a \\boxed{2}", "2")])
        cot_id = int(store.db.scalar("SELECT MAX(id) FROM cots"))
        cot = store.cots.get(cot_id)
        assert cot.kind is CotKind.LONG and cot.review is ReviewState.NONE
        assert store.cots.set_review(cot_id, "approved").review is ReviewState.APPROVED
    assert RunStatus("created") is RunStatus.CREATED


# The guard: label tuples and status literals live in acotd_tui/domain.py only.
GUARDED = [
    (re.compile(r'\(\s*"E",\s*"M",\s*"H"\s*\)'), "the E/M/H label tuple"),
    (re.compile(r'"easy",\s*"1",\s*"2"'), "the ZTE label tuple"),
    (re.compile(r'"Easy",\s*"M":|"M":\s*"Medium"'), "a display-name table"),
    (
        re.compile(
            r"\b(status|display_status|review|source|label_source|cot_kind|scheme)\s*(==|!=|in)\s*\(?"
            r'"(queued|running|done|failed|cancelled|stopped|none|approved|rejected|judge|rule|'
            r'prm|human|import|short|long|emh|zte)"'
        ),
        "a vocabulary literal compared in Python",
    ),
    (
        re.compile(r'(finish|set_status|set_review)\(\s*[\w.]+,\s*"\w+"'),
        "a status written as a literal",
    ),
]
# file -> reason; SQL text keeps its literals (the same strings the enums hold).
ALLOWED: dict[str, str] = {}


def test_no_label_tables_or_status_literals_outside_the_domain_module() -> None:
    found = []
    for folder in ("acotd_tui", "store", "screens"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel == "acotd_tui/domain.py" or rel in ALLOWED:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for pattern, what in GUARDED:
                    if pattern.search(line):
                        found.append(f"{rel}:{n}: {what}: {line.strip()}")
    assert not found, "use acotd_tui.domain instead:\n" + "\n".join(found)
