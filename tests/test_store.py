"""The store: settings, migrations, dedupe, labels derived from grade history."""

from __future__ import annotations

import sqlite3

import pytest

from acotd_tui.store import (
    MIGRATIONS,
    NewGrade,
    NewProblem,
    Store,
    StoreError,
    migrate,
    problem_hash,
)
from acotd_tui.store.migrations import current_version


def test_fresh_store_is_wal_with_foreign_keys_and_latest_schema(tmp_path):
    store = Store(tmp_path / "a.db")
    assert store.db.scalar("PRAGMA journal_mode") == "wal"
    assert store.db.scalar("PRAGMA foreign_keys") == 1
    assert store.db.scalar("PRAGMA busy_timeout") == 30_000
    assert store.schema_version == len(MIGRATIONS)
    names = [r[0] for r in store.db.query("SELECT name FROM schema_version ORDER BY version")]
    assert names == [m.__name__ for m in MIGRATIONS]


def test_every_older_schema_migrates_forward_keeping_data(tmp_path):
    """Open a database left at each older version, with data in it, and migrate it."""
    for stop in range(1, len(MIGRATIONS) + 1):
        path = tmp_path / f"v{stop}.db"
        conn = sqlite3.connect(path, isolation_level=None)
        migrate(conn, MIGRATIONS[:stop])
        conn.execute(
            "INSERT INTO problems (hash, source, split, problem, answer) VALUES (?, 's', '', 'p?', '1')",
            (problem_hash("p?"),),
        )
        conn.close()
        store = Store(path)
        assert store.schema_version == len(MIGRATIONS)
        assert store.problems.count() == 1
        store.close()


def test_migration_failure_rolls_back_and_keeps_version(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    migrate(conn, MIGRATIONS[:1])

    def m_bad(c: sqlite3.Connection) -> None:
        c.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        migrate(conn, [MIGRATIONS[0], m_bad])
    assert current_version(conn) == 1
    assert (
        conn.execute("SELECT name FROM sqlite_master WHERE name = 'half_done'").fetchone() is None
    )


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("INSERT INTO schema_version VALUES (999, 'm999_future', 'now')")
    conn.close()
    with pytest.raises(StoreError, match="newer than this acotd-tui knows"):
        Store(path)


def test_dedupe_by_normalised_text(tmp_path):
    store = Store(tmp_path / "a.db")
    r1 = store.problems.add(
        [NewProblem("What is  1+1?", "2", "s"), NewProblem("What is 1+1?\n", "2", "t")]
    )
    assert (r1.added, r1.duplicates) == (1, 1)
    r2 = store.problems.add([NewProblem("What is 1 + 1?", "2", "s")])  # different text: new
    assert r2.added == 1
    assert store.problems.count() == 2


def _problem(store: Store) -> int:
    store.problems.add([NewProblem("Compute 6*7.", "42", "s")])
    return store.problems.ids()[0]


def test_human_label_wins_over_any_later_automatic_grade(tmp_path):
    store = Store(tmp_path / "a.db")
    pid = _problem(store)
    store.grades.add([NewGrade(pid, "emh", "M", "judge", model="j")])
    assert store.grades.label(pid, "emh").label == "M"
    store.grades.add([NewGrade(pid, "emh", "H", "human", note="clearly broken")])
    store.grades.add([NewGrade(pid, "emh", "E", "judge", model="j2")])
    label = store.grades.label(pid, "emh")
    assert (label.label, label.source, label.auto_label, label.human_label) == (
        "H",
        "human",
        "E",
        "H",
    )
    # Clearing the human label hands the decision back to the latest automatic grade.
    store.grades.add([NewGrade(pid, "emh", None, "human", note="cleared")])
    label = store.grades.label(pid, "emh")
    assert (label.label, label.source) == ("E", "judge")
    assert [g.label for g in store.grades.history(pid, "emh")] == ["M", "H", "E", None]


def test_grade_validation(tmp_path):
    store = Store(tmp_path / "a.db")
    pid = _problem(store)
    with pytest.raises(StoreError, match="not one of"):
        store.grades.add([NewGrade(pid, "emh", "X", "judge")])
    with pytest.raises(StoreError, match="not one of"):
        store.grades.add([NewGrade(pid, "zte", "6", "judge")])
    assert store.grades.history(pid) == []


def test_review_queues(tmp_path):
    store = Store(tmp_path / "a.db")
    store.problems.add([NewProblem(f"p{i}", "1", "s") for i in range(4)])
    a, b, c, d = store.problems.ids()
    store.grades.add(
        [
            NewGrade(a, "emh", None, "judge", needs_review=True),
            NewGrade(
                b, "emh", "E", "judge", conflict="Easy but answer wrong", symbolic_correct=False
            ),
            NewGrade(c, "emh", "M", "judge"),
            NewGrade(c, "emh", "H", "human"),
            NewGrade(d, "emh", "H", "judge"),
        ]
    )
    assert store.grades.queue("emh", "needs_review") == [a]
    assert store.grades.queue("emh", "conflict") == [b]
    assert store.grades.queue("emh", "disagreement") == [c]
    assert store.grades.human_auto_pairs("emh") == [("M", "H")]
    store.grades.add([NewGrade(b, "emh", "M", "human")])
    assert store.grades.queue("emh", "conflict") == []


def test_full_disk_rolls_back(tmp_path):
    """SQLITE_FULL (here via max_page_count) must leave no partial write behind."""
    store = Store(tmp_path / "a.db")
    store.problems.add([NewProblem("keep me", "1", "s")])
    pages = store.db.scalar("PRAGMA page_count")
    store.db.conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = [NewProblem(f"problem {i} " + "x" * 4000, "1", "s") for i in range(50)]
    with pytest.raises(sqlite3.OperationalError, match="full"):
        store.problems.add(big)
    assert store.problems.count() == 1
