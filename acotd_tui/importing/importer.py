"""`acotd import`: read problem files into the store, atomically and without duplicates.

All files of one call are imported in one transaction: the first malformed row (unless
`skip_bad`), an unreadable file or a write failure (a full disk) rolls everything back, so
the store is exactly as it was. Rows are prepared and inserted in chunks so a NuminaMath-size
file never sits in memory whole.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

from acotd_tui.errors import ImportFailure
from acotd_tui.store import CodeTests, Store
from acotd_tui.store.problems import Problems

from .code_shapes import CodePlan
from .readers import Record, RecordError, Source, detect_format, hf_splits, read_records
from .report import PREVIEW_ROWS, Tally, clip, summary_dict, summary_lines
from .shapes import ShapePlan, plan_for, unkept_fields
from .values import Note

CHUNK_ROWS = 4096
# The shape is decided from the fields of this many leading rows together, so a field that
# the first row lacks (no `solution` on row 1) is still mapped, not dropped from the rest.
PROBE_ROWS = 200


def probe_record(records: Iterable[Record | RecordError]) -> Record | None:
    """Every field of the leading rows, each with its first non-empty value."""
    probe: Record = {}
    for record in records:
        if isinstance(record, RecordError):
            continue
        for key, value in record.items():
            if key not in probe or probe[key] is None or probe[key] == "":
                probe[key] = value
    return probe or None


# The file's stem is the source name as it is (`Qwen2.5_7b.jsonl` -> `Qwen2.5_7b`): only these
# known suffixes come off, so dots inside the name stay.
FILE_SUFFIXES = (".jsonl.gz", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".pq")
SPLIT_NAMES = {"train", "test", "validation", "valid", "val", "dev", "eval"}
_HUB_SHARD = re.compile(r"-\d{5}-of-\d{5}$")


@dataclass(frozen=True)
class ImportOptions:
    source: str | None = None
    split: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    skip_bad: bool = False
    skip_unmatched: bool = False
    dry_run: bool = False

    def may_skip(self, kind: str) -> bool:
        return self.skip_bad if kind == "bad" else self.skip_unmatched


@dataclass
class FileReport:
    path: str
    source: str
    split: str
    shape: str = ""
    read: int = 0
    added: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    skip_kinds: Counter[str] = field(default_factory=Counter)
    title: str = ""
    mapping: list[str] = field(default_factory=list)
    unkept: list[str] = field(default_factory=list)
    preview: list[dict[str, Any]] = field(default_factory=list)
    notes: Tally = field(default_factory=Tally)
    import_id: int | None = None
    refusal: str | None = None  # dry run: why a real import would refuse (rows counted as skipped)

    @property
    def duplicates(self) -> int:
        return self.read - self.added - len(self.skipped)

    def accounting_line(self) -> str:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.skip_kinds.items()))
        return (
            f"{self.read} rows read = {self.added} added + {self.duplicates} duplicates"
            f" + {len(self.skipped)} skipped" + (f" ({kinds})" if kinds else "")
        )

    def summary(self) -> dict[str, Any]:
        return summary_dict(
            kind="problems",
            shape=self.shape,
            title=self.title,
            mapping=self.mapping,
            unkept=self.unkept,
            preview=self.preview,
            notes=self.notes,
            accounting={
                "read": self.read,
                "added": self.added,
                "duplicates": self.duplicates,
                "skipped": len(self.skipped),
                "skipped_by_kind": dict(self.skip_kinds),
            },
            skipped=self.skipped,
        )

    def summary_lines(self) -> list[str]:
        return summary_lines(self.path, self.summary(), self.accounting_line(), self.refusal)


@dataclass
class ImportReport:
    files: list[FileReport]
    dry_run: bool = False

    @property
    def added(self) -> int:
        return sum(f.added for f in self.files)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(len(f.skipped) for f in self.files)


class _DryRun(Exception):
    """Raised inside the transaction to roll a dry run back after it ran in full."""


def guess_source_split(path: Path, split_hint: str | None = None) -> tuple[str, str]:
    """`data/gsm8k/test.jsonl` -> ("gsm8k", "test"); `aime.jsonl` -> ("aime", "")."""
    stem = path.name
    if path.is_file():
        lowered = stem.lower()
        for suffix in FILE_SUFFIXES:
            if lowered.endswith(suffix):
                stem = stem[: -len(suffix)]
                break
    if split_hint:
        return stem, split_hint
    split = _HUB_SHARD.sub("", stem).lower()  # `train-00000-of-00001` (a hub download) -> train
    if split in SPLIT_NAMES and path.parent.name:
        folder = path.parent
        if folder.name.lower() == "data" and folder.parent.name:  # <dataset>/data/<split>...
            folder = folder.parent
        return folder.name, split
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


def refusal(label: str, first: tuple[str, str], kinds: Counter[str], read: int) -> ImportFailure:
    """One line: the first bad row, how many there are, and the flags that would skip them."""
    location, message = first
    flags = " / ".join(f"--skip-{k}" for k in sorted(kinds))
    what = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return ImportFailure(
        f"{label}, {location}: {message} ({sum(kinds.values())} of {read} rows cannot be"
        f" imported: {what}; {flags} skips them); nothing was imported"
    )


def _preview(problem: Any) -> dict[str, Any]:
    row = {"problem": clip(problem.problem), "answer": problem.answer}
    if problem.solution:
        row["solution"] = clip(problem.solution)
    for key in ("level", "subject"):
        if getattr(problem, key):
            row[key] = getattr(problem, key)
    if problem.metadata:
        row["metadata"] = clip(", ".join(f"{k}={v!r}" for k, v in problem.metadata.items()))
    return row


def _note_other_answers(
    store: Store,
    conn: sqlite3.Connection,
    chunk: list[tuple],
    locations: list[str],
    report: FileReport,
) -> None:
    """Duplicates are dropped; one whose answer differs from the kept problem's is reported."""
    kept = store.problems.kept_rows(conn, [row[0] for row in chunk])
    for row, location in zip(chunk, locations, strict=True):
        answer, import_id, source_row = kept.get(row[0], (row[5], row[10], row[11]))
        is_this_row = (import_id, source_row) == (row[10], row[11])
        if not is_this_row and answer != row[5]:
            report.notes.add(Note.DUPLICATE_OTHER_ANSWER, location)


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
    report.import_id = import_id
    plan: ShapePlan | CodePlan | None = None
    dropped: set[str] = set()
    chunk: list[tuple] = []
    chunk_locations: list[str] = []
    tests: list[tuple[bytes, CodeTests]] = []
    prepare = Problems.prepare
    notes: list[Note] = []
    refused: list[tuple[str, str]] = []
    refused_kinds: Counter[str] = Counter()

    def flush() -> None:
        added = store.problems.insert_rows(conn, chunk)
        report.added += added
        if added < len(chunk):
            _note_other_answers(store, conn, chunk, chunk_locations, report)
        chunk_locations.clear()
        if tests:  # code problems: their tests, keyed by the (possibly pre-existing) problem id
            ids = store.problems.ids_for_hashes(conn, [h for h, _ in tests])
            store.code_tests.insert(conn, [(ids[h], t) for h, t in tests])
            tests.clear()
        chunk.clear()

    try:
        records = read_records(src)
        head = list(islice(records, PROBE_ROWS))
        probe = probe_record(r for _, r in head)
        for location, record in chain(head, records):
            report.read += 1
            try:
                if isinstance(record, RecordError):
                    raise record
                if plan is None:
                    fields_of = probe or record
                    plan = plan_for(fields_of, options.mapping)
                    report.shape = plan.shape
                    report.title = getattr(plan, "title", "") or plan.shape
                    report.mapping = (
                        plan.mapping_lines() if isinstance(plan, ShapePlan) else [plan.shape]
                    )
                    report.unkept = unkept_fields(plan, fields_of)
                    dropped = set(report.unkept)
                problem = plan.convert(
                    record,
                    location,
                    source=report.source,
                    split=report.split,
                    row=report.read,
                    notes=notes,
                    dropped=dropped,
                )
                if len(dropped) > len(report.unkept):
                    # a field the leading rows kept (or lacked) dropped here: no silent loss
                    report.unkept = sorted(dropped)
                    notes.append(Note.FIELD_NOT_KEPT)
            except RecordError as exc:
                if not exc.location:  # file-level problems always stop
                    raise
                notes.clear()
                if options.may_skip(exc.kind) or options.dry_run:
                    report.skipped.append((exc.location, exc.message))
                    report.skip_kinds[exc.kind] += 1
                if not options.may_skip(exc.kind):
                    refused.append((exc.location, exc.message))
                    refused_kinds[exc.kind] += 1
                continue
            if notes:
                for note in notes:
                    report.notes.add(note, location)
                notes.clear()
            if len(report.preview) < PREVIEW_ROWS:
                report.preview.append(_preview(problem))
            if refused and not options.dry_run:
                continue  # the file is refused; keep reading only to count the bad rows
            row = prepare(problem, import_id)
            chunk.append(row)
            chunk_locations.append(location)
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
    if refused:
        failure = refusal(src.label, refused[0], refused_kinds, report.read)
        if not options.dry_run:
            raise failure
        report.refusal = str(failure)
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
    store.imports.set_summary(conn, import_id, report.summary())
    if progress:
        progress(report.read)
    return report


def import_files(
    store: Store,
    paths: Sequence[str | Path],
    options: ImportOptions | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every file in one transaction; with `dry_run` it runs in full and rolls back."""
    options = options or ImportOptions()
    sources = expand_sources(paths, options.split)
    reports: list[FileReport] = []
    try:
        with store.db.tx() as conn:
            for src in sources:
                reports.append(_import_one(store, conn, src, options, progress))
            if options.dry_run:
                raise _DryRun
    except _DryRun:
        for r in reports:
            r.import_id = None
        return ImportReport(reports, dry_run=True)
    except sqlite3.Error as exc:
        raise ImportFailure(f"cannot write to the store: {exc}; nothing was imported") from None
    # issue 14: check the new problems against the benchmark sets in use (stored once).
    from acotd_tui.decontam import mark_new_problems

    mark_new_problems(store)
    return ImportReport(reports)
