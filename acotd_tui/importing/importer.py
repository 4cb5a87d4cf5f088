"""`acotd import`: read problem files into the store, atomically and without duplicates.

All files of one call are imported in one transaction: the first malformed row (unless
`skip_bad`), an unreadable file or a write failure (a full disk) rolls everything back, so
the store is exactly as it was. Rows are prepared and inserted in chunks so a NuminaMath-size
file never sits in memory whole.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from acotd_tui.errors import ImportFailure
from acotd_tui.store import Store
from acotd_tui.store.problems import Problems

from .code_shapes import CodePlan
from .readers import RecordError, Source, detect_format, hf_splits, read_records
from .shapes import ShapePlan, plan_for

CHUNK_ROWS = 4096
SPLIT_NAMES = {"train", "test", "validation", "valid", "val", "dev", "eval"}


@dataclass(frozen=True)
class ImportOptions:
    source: str | None = None
    split: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    skip_bad: bool = False


@dataclass
class FileReport:
    path: str
    source: str
    split: str
    shape: str = ""
    read: int = 0
    added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        return self.read - self.added - len(self.skipped)


@dataclass
class ImportReport:
    files: list[FileReport]

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(len(f.skipped) for f in self.files)


def guess_source_split(path: Path, split_hint: str | None = None) -> tuple[str, str]:
    """`data/gsm8k/test.jsonl` -> ("gsm8k", "test"); `aime.jsonl` -> ("aime", "")."""
    stem = path.name.split(".")[0] if path.is_file() else path.name
    if split_hint:
        return stem, split_hint
    if stem.lower() in SPLIT_NAMES and path.parent.name:
        return path.parent.name, stem.lower()
    return stem, ""


def file_sha256(path: Path) -> str:
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(child.relative_to(path).as_posix().encode())
            digest.update(hashlib.sha256(child.read_bytes()).digest())
        return digest.hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expand_sources(paths: Sequence[str | Path], split: str | None) -> list[Source]:
    sources: list[Source] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ImportFailure(f"{path}: no such file")
        try:
            fmt = detect_format(path)
        except RecordError as exc:
            raise ImportFailure(f"{path}: {exc.message}") from None
        if fmt == "hf":
            names = hf_splits(path)
            if split and names != [None]:
                if split not in names:
                    raise ImportFailure(
                        f"{path}: no split {split!r} (has {', '.join(map(str, names))})"
                    )
                names = [split]
            sources += [Source(path, fmt, name) for name in names]
        else:
            sources.append(Source(path, fmt, None))
    return sources


def _fail(source: Source, location: str, message: str) -> ImportFailure:
    where = f"{source.label}, {location}" if location else source.label
    return ImportFailure(f"{where}: {message}")


def _import_one(
    store: Store,
    conn: sqlite3.Connection,
    src: Source,
    options: ImportOptions,
    progress: Callable[[int], None] | None,
) -> FileReport:
    default_source, default_split = guess_source_split(src.path, src.split_hint)
    report = FileReport(
        path=str(src.path),
        source=options.source or default_source,
        split=options.split if options.split is not None else default_split,
    )
    import_id = store.imports.begin(
        conn,
        path=str(src.path.resolve()),
        sha256=file_sha256(src.path),
        source=report.source,
        split=report.split,
        shape="",
    )
    plan: ShapePlan | CodePlan | None = None
    chunk: list[tuple] = []
    tests: list[tuple[bytes, object]] = []
    prepare = Problems.prepare

    def flush() -> None:
        report.added += store.problems.insert_rows(chunk, conn)
        if tests:  # code problems: their tests, keyed by the (possibly pre-existing) problem id
            ids = store.problems.ids_for_hashes(conn, [h for h, _ in tests])
            store.tests.insert(conn, [(ids[h], t) for h, t in tests])  # type: ignore[misc]
            tests.clear()
        chunk.clear()

    try:
        for location, record in read_records(src):
            report.read += 1
            try:
                if isinstance(record, RecordError):
                    raise record
                if plan is None:
                    plan = plan_for(record, options.mapping)
                    report.shape = plan.shape
                problem = plan.convert(
                    record, location, source=report.source, split=report.split, row=report.read
                )
            except RecordError as exc:
                if not options.skip_bad or not exc.location:  # file-level problems always stop
                    raise
                report.skipped.append((exc.location, exc.message))
                continue
            row = prepare(problem, import_id)
            chunk.append(row)
            if problem.tests is not None:
                tests.append((row[0], problem.tests))
            if len(chunk) >= CHUNK_ROWS:
                flush()
                if progress:
                    progress(report.read)
    except RecordError as exc:
        raise _fail(src, exc.location, exc.message) from None
    except OSError as exc:
        raise _fail(src, "", f"cannot read ({exc.strerror or exc})") from None
    if chunk:
        flush()
    if report.read == 0:
        raise _fail(src, "", "no records")
    store.imports.finish(
        conn,
        import_id,
        shape=report.shape,
        read=report.read,
        added=report.added,
        skipped=len(report.skipped),
    )
    if progress:
        progress(report.read)
    return report


def import_files(
    store: Store,
    paths: Sequence[str | Path],
    options: ImportOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    options = options or ImportOptions()
    sources = expand_sources(paths, options.split)
    reports: list[FileReport] = []
    try:
        with store.db.tx() as conn:
            for src in sources:
                reports.append(_import_one(store, conn, src, options, progress))
    except sqlite3.Error as exc:
        raise ImportFailure(f"cannot write to the store: {exc}; nothing was imported") from None
    # issue 14: check the new problems against the benchmark sets in use (stored once).
    from acotd_tui.pipeline.decontam import mark_new_problems

    mark_new_problems(store)
    return ImportReport(reports)
