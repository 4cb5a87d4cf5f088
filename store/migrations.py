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


def m006_spend_ledger_and_claims(conn: sqlite3.Connection) -> None:
    """Every paid call is a spend row (duplicates too); request keys are claimed by one job
    at a time; a job stopped by the spending cap is `stopped`, not `failed`.

    `llm_calls` keeps one cached answer per request key (INSERT OR IGNORE), so a second
    paid call for the same key used to vanish from the books; spending now lives in
    `llm_spend`, filled here from the calls recorded so far. The jobs table is rebuilt to
    let its status CHECK accept 'stopped' (SQLite cannot alter a CHECK in place).
    """
    run_script(
        conn,
        """
        CREATE TABLE llm_spend (
            id INTEGER PRIMARY KEY,
            key TEXT NOT NULL,
            model TEXT NOT NULL,
            job_id INTEGER,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        CREATE INDEX llm_spend_job ON llm_spend(job_id, created_at);
        INSERT INTO llm_spend (key, model, job_id, tokens_in, tokens_out, cost, created_at)
            SELECT key, model, job_id, tokens_in, tokens_out, cost, created_at FROM llm_calls;

        CREATE TABLE llm_claims (
            key TEXT PRIMARY KEY,
            job_id INTEGER NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX llm_claims_job ON llm_claims(job_id);
        """,
    )
    columns = [row[1] for row in conn.execute("PRAGMA table_info(jobs)")]
    create = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'"
    ).fetchone()[0]
    old_check = "CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled'))"
    if old_check not in create:
        raise StoreError("unexpected jobs table definition; cannot add the 'stopped' status")
    create = create.replace(
        old_check, "CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'stopped'))"
    ).replace("CREATE TABLE jobs", "CREATE TABLE jobs_v6", 1)
    # the self-reference points at the new table, so dropping the old one breaks no key
    create = create.replace("REFERENCES jobs(id)", "REFERENCES jobs_v6(id)")
    names = ", ".join(columns)
    conn.execute(create)
    conn.execute(f"INSERT INTO jobs_v6 ({names}) SELECT {names} FROM jobs")
    conn.execute("DROP TABLE jobs")
    conn.execute("ALTER TABLE jobs_v6 RENAME TO jobs")
    conn.execute("CREATE INDEX jobs_status ON jobs(status)")


def m007_pool_counts(conn: sqlite3.Connection) -> None:
    """Sampling and counting at a million problems (issue 14).

    - `label_counts`: current labels counted per (scheme, label, source, domain, held), kept
      exact by triggers on `labels` (held = an unresolved judge/check conflict, which sampling
      leaves out), so a plan or a label-filtered count reads a few rows instead of 1M.
    - `decontam_sets` / `decontam_hits`: benchmark overlap computed once per benchmark set
      (its fingerprint covers the n-gram size and the benchmark texts); `checked_through` is
      the highest problem id already checked, so only newer problems are ever checked.
    - an index that yields a label's problem ids in order without touching the table, and
      partial indexes for the conflict, needs-review and human-label queues and counts.
    """
    run_script(
        conn,
        """
        CREATE TABLE label_counts (
            scheme TEXT NOT NULL,
            label TEXT NOT NULL,
            source TEXT NOT NULL,
            domain TEXT NOT NULL,
            held INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (scheme, label, source, domain, held)
        ) WITHOUT ROWID;

        INSERT INTO label_counts (scheme, label, source, domain, held, n)
        SELECT l.scheme, l.label, p.source, p.domain,
               (l.conflict = 1 AND l.human_label IS NULL), COUNT(*)
        FROM labels l JOIN problems p ON p.id = l.problem_id
        WHERE l.label IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5;

        CREATE TRIGGER label_counts_insert AFTER INSERT ON labels WHEN NEW.label IS NOT NULL
        BEGIN
            INSERT INTO label_counts (scheme, label, source, domain, held, n)
            SELECT NEW.scheme, NEW.label, p.source, p.domain,
                   (NEW.conflict = 1 AND NEW.human_label IS NULL), 1
            FROM problems p WHERE p.id = NEW.problem_id
            ON CONFLICT DO UPDATE SET n = n + 1;
        END;

        CREATE TRIGGER label_counts_update AFTER UPDATE OF label, conflict, human_label, scheme
        ON labels
        BEGIN
            UPDATE label_counts SET n = n - 1
            WHERE OLD.label IS NOT NULL AND scheme = OLD.scheme AND label = OLD.label
              AND held = (OLD.conflict = 1 AND OLD.human_label IS NULL)
              AND (source, domain) = (SELECT source, domain FROM problems WHERE id = OLD.problem_id);
            INSERT INTO label_counts (scheme, label, source, domain, held, n)
            SELECT NEW.scheme, NEW.label, p.source, p.domain,
                   (NEW.conflict = 1 AND NEW.human_label IS NULL), 1
            FROM problems p WHERE p.id = NEW.problem_id AND NEW.label IS NOT NULL
            ON CONFLICT DO UPDATE SET n = n + 1;
        END;

        CREATE TRIGGER label_counts_delete AFTER DELETE ON labels WHEN OLD.label IS NOT NULL
        BEGIN
            UPDATE label_counts SET n = n - 1
            WHERE scheme = OLD.scheme AND label = OLD.label
              AND held = (OLD.conflict = 1 AND OLD.human_label IS NULL)
              AND (source, domain) = (SELECT source, domain FROM problems WHERE id = OLD.problem_id);
        END;

        -- Labels go before their problem does, so the count above still finds its source.
        CREATE TRIGGER problems_delete_labels BEFORE DELETE ON problems
        BEGIN
            DELETE FROM labels WHERE problem_id = OLD.id;
            DELETE FROM decontam_hits WHERE problem_id = OLD.id;
            UPDATE decontam_sets SET checked_through = MIN(checked_through, OLD.id - 1)
            WHERE OLD.id = (SELECT MAX(id) FROM problems);
        END;

        CREATE TRIGGER problems_move_counts AFTER UPDATE OF source, domain ON problems
        BEGIN
            UPDATE label_counts SET n = n - 1
            WHERE source = OLD.source AND domain = OLD.domain
              AND (scheme, label, held) IN (
                  SELECT scheme, label, (conflict = 1 AND human_label IS NULL)
                  FROM labels WHERE problem_id = OLD.id AND label IS NOT NULL);
            INSERT INTO label_counts (scheme, label, source, domain, held, n)
            SELECT scheme, label, NEW.source, NEW.domain, (conflict = 1 AND human_label IS NULL), 1
            FROM labels WHERE problem_id = NEW.id AND label IS NOT NULL
            ON CONFLICT DO UPDATE SET n = n + 1;
        END;

        CREATE TABLE decontam_sets (
            fingerprint TEXT PRIMARY KEY,
            ngram INTEGER NOT NULL,
            benchmarks TEXT NOT NULL,
            checked_through INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE decontam_hits (
            fingerprint TEXT NOT NULL REFERENCES decontam_sets(fingerprint) ON DELETE CASCADE,
            problem_id INTEGER NOT NULL REFERENCES problems(id) ON DELETE CASCADE,
            PRIMARY KEY (fingerprint, problem_id)
        ) WITHOUT ROWID;

        -- A changed problem text is checked again.
        CREATE TRIGGER problems_recheck AFTER UPDATE OF problem ON problems
        BEGIN
            DELETE FROM decontam_hits WHERE problem_id = OLD.id;
            UPDATE decontam_sets SET checked_through = MIN(checked_through, OLD.id - 1);
        END;

        CREATE INDEX labels_pool ON labels(scheme, label, problem_id);
        DROP INDEX labels_scheme_label;
        CREATE INDEX labels_conflict ON labels(scheme, human_label, problem_id)
            WHERE conflict = 1;
        CREATE INDEX labels_needs_review ON labels(scheme, human_label, problem_id)
            WHERE needs_review = 1;
        CREATE INDEX labels_human ON labels(scheme, problem_id) WHERE human_label IS NOT NULL;
        """,
    )
    run_script(conn, CONTAMINATED_COUNTS)


# Part of m007: the labelled problems that overlap a benchmark set, counted like
# `label_counts` and per benchmark-set fingerprint, so a plan need not look up each overlap's
# label (24,000 random reads at 1M problems). Kept by triggers on the hits and on `labels`.
CONTAMINATED_COUNTS = """
CREATE TABLE decontam_counts (
    fingerprint TEXT NOT NULL,
    scheme TEXT NOT NULL,
    label TEXT NOT NULL,
    source TEXT NOT NULL,
    domain TEXT NOT NULL,
    held INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (fingerprint, scheme, label, source, domain, held)
) WITHOUT ROWID;
CREATE INDEX decontam_hits_problem ON decontam_hits(problem_id);

INSERT INTO decontam_counts (fingerprint, scheme, label, source, domain, held, n)
SELECT h.fingerprint, l.scheme, l.label, p.source, p.domain,
       (l.conflict = 1 AND l.human_label IS NULL), COUNT(*)
FROM decontam_hits h JOIN labels l ON l.problem_id = h.problem_id
JOIN problems p ON p.id = h.problem_id
WHERE l.label IS NOT NULL
GROUP BY 1, 2, 3, 4, 5, 6;

CREATE TRIGGER decontam_counts_hit AFTER INSERT ON decontam_hits
BEGIN
    INSERT INTO decontam_counts (fingerprint, scheme, label, source, domain, held, n)
    SELECT NEW.fingerprint, l.scheme, l.label, p.source, p.domain,
           (l.conflict = 1 AND l.human_label IS NULL), 1
    FROM labels l JOIN problems p ON p.id = l.problem_id
    WHERE l.problem_id = NEW.problem_id AND l.label IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER decontam_counts_unhit AFTER DELETE ON decontam_hits
BEGIN
    UPDATE decontam_counts SET n = n - 1
    WHERE fingerprint = OLD.fingerprint
      AND (scheme, label, source, domain, held) IN (
          SELECT l.scheme, l.label, p.source, p.domain, (l.conflict = 1 AND l.human_label IS NULL)
          FROM labels l JOIN problems p ON p.id = l.problem_id
          WHERE l.problem_id = OLD.problem_id AND l.label IS NOT NULL);
END;

CREATE TRIGGER decontam_counts_label_insert AFTER INSERT ON labels WHEN NEW.label IS NOT NULL
BEGIN
    INSERT INTO decontam_counts (fingerprint, scheme, label, source, domain, held, n)
    SELECT h.fingerprint, NEW.scheme, NEW.label, p.source, p.domain,
           (NEW.conflict = 1 AND NEW.human_label IS NULL), 1
    FROM decontam_hits h JOIN problems p ON p.id = h.problem_id
    WHERE h.problem_id = NEW.problem_id
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER decontam_counts_label_update AFTER UPDATE OF label, conflict, human_label, scheme
ON labels
BEGIN
    UPDATE decontam_counts SET n = n - 1
    WHERE OLD.label IS NOT NULL AND scheme = OLD.scheme AND label = OLD.label
      AND held = (OLD.conflict = 1 AND OLD.human_label IS NULL)
      AND (fingerprint, source, domain) IN (
          SELECT h.fingerprint, p.source, p.domain
          FROM decontam_hits h JOIN problems p ON p.id = h.problem_id
          WHERE h.problem_id = OLD.problem_id);
    INSERT INTO decontam_counts (fingerprint, scheme, label, source, domain, held, n)
    SELECT h.fingerprint, NEW.scheme, NEW.label, p.source, p.domain,
           (NEW.conflict = 1 AND NEW.human_label IS NULL), 1
    FROM decontam_hits h JOIN problems p ON p.id = h.problem_id
    WHERE h.problem_id = NEW.problem_id AND NEW.label IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER decontam_counts_label_delete AFTER DELETE ON labels WHEN OLD.label IS NOT NULL
BEGIN
    UPDATE decontam_counts SET n = n - 1
    WHERE scheme = OLD.scheme AND label = OLD.label
      AND held = (OLD.conflict = 1 AND OLD.human_label IS NULL)
      AND (fingerprint, source, domain) IN (
          SELECT h.fingerprint, p.source, p.domain
          FROM decontam_hits h JOIN problems p ON p.id = h.problem_id
          WHERE h.problem_id = OLD.problem_id);
END;

CREATE TRIGGER decontam_counts_move AFTER UPDATE OF source, domain ON problems
BEGIN
    UPDATE decontam_counts SET n = n - 1
    WHERE source = OLD.source AND domain = OLD.domain
      AND (fingerprint, scheme, label, held) IN (
          SELECT h.fingerprint, l.scheme, l.label, (l.conflict = 1 AND l.human_label IS NULL)
          FROM decontam_hits h JOIN labels l ON l.problem_id = h.problem_id
          WHERE h.problem_id = OLD.id AND l.label IS NOT NULL);
    INSERT INTO decontam_counts (fingerprint, scheme, label, source, domain, held, n)
    SELECT h.fingerprint, l.scheme, l.label, NEW.source, NEW.domain,
           (l.conflict = 1 AND l.human_label IS NULL), 1
    FROM decontam_hits h JOIN labels l ON l.problem_id = h.problem_id
    WHERE h.problem_id = NEW.id AND l.label IS NOT NULL
    ON CONFLICT DO UPDATE SET n = n + 1;
END;
"""


def m008_import_summary(conn: sqlite3.Connection) -> None:
    """What each import understood and did (shape, mapping, notes, skips), as JSON."""
    run_script(conn, "ALTER TABLE imports ADD COLUMN summary TEXT;")


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


def m010_problem_search(conn: sqlite3.Connection) -> None:
    """Full-text search over problem text (issue 17): `problems_fts`, an FTS5 index.

    A `LIKE '%...%'` search reads every problem (about 220 ms at a million, 500 ms for its
    count); the index answers from its term lists instead. It is an external-content table
    (`content=problems`: the text is not stored twice) over the `problem` column only, the
    text the Problems screen searched before; answers and sources are filters or short
    values, not prose. sqlite-utils' `enable_fts` writes the table, backfills every
    existing row and adds the insert/update/delete triggers that keep it in sync. It joins
    this migration's transaction (sqlite-utils >= 4.0 runs scripts inside an open
    transaction instead of committing it), so a failure leaves no half-built index.

    Tokenizer: unicode61 with diacritics folded ("cafe" finds "café"); words are runs of
    letters and digits, so `x^2` is the two tokens `x` and `2`.
    """
    import sqlite_utils

    # No PRAGMA recursive_triggers and no plugin hooks on the store's connection.
    db = sqlite_utils.Database(conn, recursive_triggers=False, execute_plugins=False)
    db.table("problems").enable_fts(
        ["problem"], create_triggers=True, tokenize="unicode61 remove_diacritics 2"
    )
    # Row by row, the insert trigger makes a bulk import ~3x slower than indexing the same
    # rows with one INSERT ... SELECT afterwards. `Problems.insert_rows` does that, and
    # while it does, a row in `search_bulk` (never committed) holds the trigger off; any
    # other insert is still indexed by the trigger.
    run_script(
        conn,
        """
        CREATE TABLE search_bulk (after_id INTEGER NOT NULL);
        DROP TRIGGER problems_ai;
        CREATE TRIGGER problems_ai AFTER INSERT ON problems
        WHEN NOT EXISTS (SELECT 1 FROM search_bulk)
        BEGIN
            INSERT INTO problems_fts (rowid, problem) VALUES (new.rowid, new.problem);
        END;
        """,
    )


MIGRATIONS: list[Migration] = [
    m001_initial,
    m002_job_rate,
    m003_job_parent,
    m004_code_tests,
    m005_budget_grants,
    m006_spend_ledger_and_claims,
    m007_pool_counts,
    m008_import_summary,
    m009_dataset_topups,
    m010_problem_search,
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
