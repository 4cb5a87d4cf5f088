"""The project store: the one package that owns the SQLite schema and every query.

Everything else calls the typed repositories hanging off `Store`; no SQL lives outside
this package.
"""

from __future__ import annotations

from pathlib import Path

from .attempts import Attempt, Attempts, NewAttempt
from .budget import BudgetLedger, JobGrants
from .code_tests import CodeTests, CodeTestsRepo
from .cots import Cot, CotFilter, Cots, NewCot
from .datasets import Dataset, DatasetItem, Datasets
from .db import Database, NotFound, StoreError, utcnow
from .evals import Eval, Evals, EvalSample
from .grades import SCHEME_LABELS, Grade, Grades, Label, NewGrade
from .imports import ImportRecord, Imports
from .jobs import Job, Jobs, JobTaken
from .llm_calls import LLMCalls
from .migrations import MIGRATIONS, current_version, migrate
from .models import ModelRecord, Models
from .pool import DecontamSet, Pool, PoolScope
from .problems import (
    InsertResult,
    NewProblem,
    Problem,
    ProblemFilter,
    ProblemRow,
    Problems,
    QueryCancelled,
    normalize_problem_text,
    problem_hash,
    search_query,
)
from .stats import PipelineCounts, Stats
from .topups import DatasetTopups, NewTopup, Topup
from .training import Metric, TrainRun, TrainRuns

DB_FILENAME = "acotd.db"


def _is_blank(path: Path) -> bool:
    """A 0-byte database file with no write-ahead log holding its pages."""
    wal = path.with_name(path.name + "-wal")
    try:
        return path.stat().st_size == 0 and (not wal.exists() or wal.stat().st_size == 0)
    except OSError:
        return False


class Store:
    """All repositories over one database connection."""

    def __init__(self, path: Path | str, *, create: bool = True, readonly: bool = False) -> None:
        path = Path(path)
        if not create and not path.exists():
            raise StoreError(f"no store at {path} (run `acotd init` first)")
        if not create and _is_blank(path):
            # SQLite would open a 0-byte file as an empty database and the migrations would
            # quietly build a new, empty store over what was lost.
            raise StoreError(
                f"{path} is empty (0 bytes): the store was truncated or never written; restore it "
                "from a backup"
            )
        self.path = path
        self.db = Database(path, readonly=readonly)
        if not readonly:
            migrate(self.db.conn)
        self.imports = Imports(self.db)
        self.problems = Problems(self.db)
        self.models = Models(self.db)
        self.attempts = Attempts(self.db)
        self.grades = Grades(self.db)
        self.llm_calls = LLMCalls(self.db)
        self.budget = BudgetLedger(self.db)
        self.jobs = Jobs(self.db)
        self.datasets = Datasets(self.db)
        self.topups = DatasetTopups(self.db)
        self.cots = Cots(self.db)
        self.train_runs = TrainRuns(self.db)
        self.evals = Evals(self.db)
        self.code_tests = CodeTestsRepo(self.db)
        self.stats = Stats(self.db)
        self.pool = Pool(self.db)

    @property
    def schema_version(self) -> int:
        return current_version(self.db.conn)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "DB_FILENAME",
    "SCHEME_LABELS",
    "Attempt",
    "BudgetLedger",
    "CodeTests",
    "Cot",
    "CotFilter",
    "Dataset",
    "Eval",
    "EvalSample",
    "DatasetItem",
    "DatasetTopups",
    "NewTopup",
    "Topup",
    "NewCot",
    "Grade",
    "Label",
    "Metric",
    "TrainRun",
    "NewAttempt",
    "NewGrade",
    "MIGRATIONS",
    "Database",
    "ImportRecord",
    "InsertResult",
    "Job",
    "JobGrants",
    "JobTaken",
    "ModelRecord",
    "NewProblem",
    "PipelineCounts",
    "Pool",
    "PoolScope",
    "DecontamSet",
    "Problem",
    "ProblemFilter",
    "QueryCancelled",
    "search_query",
    "ProblemRow",
    "Store",
    "NotFound",
    "StoreError",
    "migrate",
    "normalize_problem_text",
    "problem_hash",
    "utcnow",
]
