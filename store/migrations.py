"""Numbered schema migrations, applied once each and recorded in `schema_version`.

Each migration is a small function `mNNN_name(conn)`. Never edit one that has shipped: add a
new one. A database whose version is newer than this code knows is refused rather than
guessed at.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from .db import StoreError, utcnow

Migration = Callable[[sqlite3.Connection], None]


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute several statements inside the caller's transaction.

    `executescript` would COMMIT first, which breaks a migration's atomicity.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            if statement.strip():
                conn.execute(statement)
            statement = ""
    if statement.strip().strip(";").strip() and not statement.strip().startswith("--"):
        raise ValueError(f"incomplete SQL statement in migration: {statement.strip()[:80]}")


def m001_initial(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            source TEXT NOT NULL,
            split TEXT NOT NULL,
            shape TEXT NOT NULL,
            rows_read INTEGER NOT NULL,
            rows_added INTEGER NOT NULL,
            rows_duplicate INTEGER NOT NULL,
            rows_skipped INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE TABLE problems (
            id INTEGER PRIMARY KEY,
            hash BLOB NOT NULL UNIQUE,
            source TEXT NOT NULL,
            split TEXT NOT NULL DEFAULT '',
            domain TEXT NOT NULL DEFAULT 'math',
            problem TEXT NOT NULL,
            answer TEXT NOT NULL,
            solution TEXT,
            level TEXT,
            subject TEXT,
            metadata TEXT,
            import_id INTEGER REFERENCES imports(id),
            source_row INTEGER
        );
        CREATE INDEX problems_source_split ON problems(source, split);

        CREATE TABLE models (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            adapter TEXT NOT NULL DEFAULT '',
            backend TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            UNIQUE(name, adapter)
        );

        CREATE TABLE attempts (
            id INTEGER PRIMARY KEY,
            problem_id INTEGER NOT NULL REFERENCES problems(id) ON DELETE CASCADE,
            model_id INTEGER NOT NULL REFERENCES models(id),
            prompt_hash TEXT NOT NULL,
            sample_index INTEGER NOT NULL DEFAULT 0,
            params TEXT,
            raw_text TEXT,
            cot TEXT,
            final_answer TEXT,
            correct INTEGER,
            truncated INTEGER NOT NULL DEFAULT 0,
            finish_reason TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            latency_s REAL,
            request_key TEXT,
            job_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE(problem_id, model_id, prompt_hash, sample_index)
        );
        CREATE INDEX attempts_model ON attempts(model_id, problem_id);

        CREATE TABLE grades (
            id INTEGER PRIMARY KEY,
            problem_id INTEGER NOT NULL REFERENCES problems(id) ON DELETE CASCADE,
            attempt_id INTEGER REFERENCES attempts(id) ON DELETE CASCADE,
            scheme TEXT NOT NULL CHECK (scheme IN ('emh', 'zte')),
            label TEXT,
            source TEXT NOT NULL CHECK (source IN ('judge', 'rule', 'prm', 'human', 'import')),
            rationale TEXT,
            model TEXT,
            prompt_version TEXT,
            needs_review INTEGER NOT NULL DEFAULT 0,
            conflict TEXT,
            symbolic_correct INTEGER,
            detail TEXT,
            note TEXT,
            job_id INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE INDEX grades_problem ON grades(problem_id, scheme, id);

        -- The current label per problem, derived from `grades` in the same transaction as
        -- every grade insert (see store/grades.py); never written any other way.
        CREATE TABLE labels (
            problem_id INTEGER NOT NULL REFERENCES problems(id) ON DELETE CASCADE,
            scheme TEXT NOT NULL,
            label TEXT,
            source TEXT,
            auto_label TEXT,
            auto_source TEXT,
            human_label TEXT,
            needs_review INTEGER NOT NULL DEFAULT 0,
            conflict INTEGER NOT NULL DEFAULT 0,
            symbolic_correct INTEGER,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (problem_id, scheme)
        );
        CREATE INDEX labels_scheme_label ON labels(scheme, label);

        CREATE TABLE cots (
            id INTEGER PRIMARY KEY,
            problem_id INTEGER NOT NULL REFERENCES problems(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('short', 'long')),
            teacher TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            generation INTEGER NOT NULL DEFAULT 0,
            request_key TEXT,
            reasoning TEXT NOT NULL,
            answer_text TEXT NOT NULL,
            final_answer TEXT,
            finish_reason TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            cost REAL,
            verified INTEGER,
            verify_detail TEXT,
            consistent INTEGER,
            review TEXT NOT NULL DEFAULT 'none'
                CHECK (review IN ('none', 'queued', 'approved', 'rejected')),
            review_note TEXT,
            edited_reasoning TEXT,
            edited_answer_text TEXT,
            job_id INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (problem_id, kind, teacher, prompt_version, generation)
        );
        CREATE INDEX cots_problem ON cots(problem_id, kind);

        CREATE TABLE cot_reviews (
            id INTEGER PRIMARY KEY,
            cot_id INTEGER NOT NULL REFERENCES cots(id) ON DELETE CASCADE,
            action TEXT NOT NULL,
            note TEXT,
            created_at TEXT NOT NULL
        );

        CREATE TABLE datasets (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            strategy TEXT NOT NULL,
            scheme TEXT NOT NULL,
            params TEXT NOT NULL,
            seed INTEGER NOT NULL,
            frozen INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL
        );

        CREATE TABLE dataset_items (
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            problem_id INTEGER NOT NULL REFERENCES problems(id),
            label TEXT NOT NULL,
            cot_kind TEXT NOT NULL CHECK (cot_kind IN ('short', 'long')),
            position INTEGER NOT NULL,
            PRIMARY KEY (dataset_id, problem_id)
        );

        CREATE TABLE exports (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            format TEXT NOT NULL,
            path TEXT NOT NULL,
            rows INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );

        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            params TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            done INTEGER NOT NULL DEFAULT 0,
            total INTEGER,
            failed INTEGER NOT NULL DEFAULT 0,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            message TEXT,
            pid INTEGER,
            host TEXT,
            heartbeat TEXT,
            log_path TEXT,
            error TEXT,
            result TEXT,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT
        );
        CREATE INDEX jobs_status ON jobs(status);

        CREATE TABLE evals (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            benchmark TEXT NOT NULL,
            model TEXT NOT NULL,
            adapter TEXT NOT NULL DEFAULT '',
            n INTEGER NOT NULL,
            params TEXT NOT NULL,
            items INTEGER,
            acc_mean REAL,
            acc_std REAL,
            cotqs REAL,
            cotqs_detail TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            job_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (name, benchmark)
        );

        CREATE TABLE eval_samples (
            eval_id INTEGER NOT NULL REFERENCES evals(id) ON DELETE CASCADE,
            item_index INTEGER NOT NULL,
            sample_index INTEGER NOT NULL,
            problem_hash BLOB NOT NULL,
            reference TEXT NOT NULL,
            final_answer TEXT,
            correct INTEGER,
            truncated INTEGER NOT NULL DEFAULT 0,
            raw_text TEXT,
            cot TEXT,
            tokens_out INTEGER,
            coherence REAL,
            completeness REAL,
            factual REAL,
            PRIMARY KEY (eval_id, item_index, sample_index)
        );

        CREATE TABLE train_runs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            dataset_id INTEGER REFERENCES datasets(id),
            base_model TEXT NOT NULL,
            config TEXT NOT NULL,
            output_dir TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'created',
            adapter_path TEXT,
            job_id INTEGER,
            created_at TEXT NOT NULL
        );

        CREATE TABLE train_metrics (
            run_id INTEGER NOT NULL REFERENCES train_runs(id) ON DELETE CASCADE,
            step INTEGER NOT NULL,
            split TEXT NOT NULL DEFAULT 'train',
            epoch REAL,
            loss REAL,
            lr REAL,
            grad_norm REAL,
            tokens_per_s REAL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (run_id, split, step)
        );

        -- One row per successful model response, keyed by a hash of everything that
        -- determines it. Failures are never cached, so a re-run retries them.
        CREATE TABLE llm_calls (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL,
            backend TEXT NOT NULL,
            response TEXT NOT NULL,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            latency_s REAL,
            job_id INTEGER,
            created_at TEXT NOT NULL
        );
        """,
    )


def m002_job_rate(conn: sqlite3.Connection) -> None:
    """Jobs report their rate and ETA, so every viewer shows the same numbers."""
    conn.execute("ALTER TABLE jobs ADD COLUMN rate REAL")
    conn.execute("ALTER TABLE jobs ADD COLUMN eta_s REAL")


def m003_job_parent(conn: sqlite3.Connection) -> None:
    """Stages run by `acotd experiment` are child jobs; cancelling the parent stops them."""
    conn.execute("ALTER TABLE jobs ADD COLUMN parent_id INTEGER REFERENCES jobs(id)")


def m004_code_tests(conn: sqlite3.Connection) -> None:
    """Code problems carry executable tests, kept apart from the problem row (they can be large)."""
    run_script(
        conn,
        """
        CREATE TABLE problem_tests (
            problem_id INTEGER PRIMARY KEY REFERENCES problems(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('stdio', 'functional', 'assert')),
            entry_point TEXT,
            tests TEXT NOT NULL,
            setup TEXT
        );
        """,
    )


def m005_budget_grants(conn: sqlite3.Connection) -> None:
    """Running jobs draw on the spending cap through grants, so jobs run at once share it."""
    run_script(
        conn,
        """
        CREATE TABLE budget_grants (
            job_id INTEGER PRIMARY KEY,
            granted REAL NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    )


def m009_dataset_topups(conn: sqlite3.Connection) -> None:
    """Top-up at verification: an item whose CoTs still fail is retired and replaced by an
    unused problem of the same level; each replacement (or the lack of one) is a row here, so
    the dataset's first draw stays as it was and every change to it is traced. Datasets also
    carry a distillation round (1 = sampled from the first student's labels)."""
    run_script(
        conn,
        """
        CREATE TABLE dataset_topups (
            id INTEGER PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            replaced_problem_id INTEGER NOT NULL REFERENCES problems(id),
            problem_id INTEGER REFERENCES problems(id),
            label TEXT NOT NULL,
            cot_kind TEXT NOT NULL CHECK (cot_kind IN ('short', 'long')),
            reason TEXT NOT NULL,
            seed TEXT NOT NULL,
            job_id INTEGER,
            created_at TEXT NOT NULL,
            UNIQUE (dataset_id, replaced_problem_id)
        );
        CREATE INDEX dataset_topups_dataset ON dataset_topups(dataset_id);
        ALTER TABLE datasets ADD COLUMN round INTEGER NOT NULL DEFAULT 1;
        """,
    )


MIGRATIONS: list[Migration] = [
    m001_initial,
    m002_job_rate,
    m003_job_parent,
    m004_code_tests,
    m005_budget_grants,
    m009_dataset_topups,
]


def current_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
    ).fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply every pending migration, each in its own transaction; returns those applied."""
    migrations = MIGRATIONS if migrations is None else migrations
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    have = current_version(conn)
    if have > len(migrations):
        raise StoreError(
            f"database schema is version {have}, newer than this acotd-tui knows "
            f"({len(migrations)}); upgrade acotd-tui"
        )
    applied = []
    for number, migration in enumerate(migrations, start=1):
        if number <= have:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            migration(conn)
            conn.execute(
                "INSERT INTO schema_version(version, name, applied_at) VALUES (?, ?, ?)",
                (number, migration.__name__, utcnow()),
            )
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        applied.append(number)
    return applied
