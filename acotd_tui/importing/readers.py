"""Reading records from JSONL, JSON, CSV, Parquet and local Hugging Face `datasets` folders.

Every reader yields `(location, record)` where location is what an error message should name:
the 1-based line for JSONL and CSV, the 1-based element for JSON, the row for Parquet and
datasets. A row that cannot be parsed is yielded as a `RecordError` in place of the record,
so the importer decides whether to stop or skip it; errors that end the file (not UTF-8, not
a readable container) are raised.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

Record = dict[str, Any]


class RecordError(Exception):
    """A row that cannot be imported. `kind` sorts skips: "bad" (malformed or unusable values,
    `--skip-bad`) or "unmatched" (does not fit the file's shape, or its problem is not in the
    store: `--skip-unmatched`)."""

    def __init__(self, location: str, message: str, kind: str = "bad") -> None:
        super().__init__(message)
        self.location = location
        self.message = message
        self.kind = kind


@dataclass(frozen=True)
class Source:
    """One readable input: a file, or one split of a datasets folder."""

    path: Path
    format: str
    split_hint: str | None = None

    @property
    def label(self) -> str:
        return (
            f"{self.path}[{self.split_hint}]"
            if self.format == "hf" and self.split_hint
            else str(self.path)
        )


def detect_format(path: Path) -> str:
    if path.is_dir():
        if any(
            (path / f).exists() for f in ("dataset_dict.json", "state.json", "dataset_info.json")
        ):
            return "hf"
        raise RecordError("", "is a folder but not a saved Hugging Face dataset (no state.json)")
    suffixes = "".join(path.suffixes[-2:]).lower()
    name = path.name.lower()
    if name.endswith((".jsonl", ".ndjson", ".jsonl.gz")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    raise RecordError(
        "",
        f"unknown file type {suffixes or '(none)'} (use .jsonl, .json, .csv, .parquet or a datasets folder)",
    )


def _open_text(path: Path) -> TextIO:
    """`.gz` files (`train.jsonl.gz`) are read through gzip, everything else as it is."""
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_jsonl(path: Path) -> Iterator[tuple[str, Record | RecordError]]:
    decode = json.JSONDecoder().decode
    lineno = 0
    try:
        with _open_text(path) as fh:
            for lineno, raw in enumerate(fh, start=1):  # noqa: B007 (used after the loop)
                try:
                    obj = decode(raw)
                except json.JSONDecodeError:
                    stripped = raw.strip()
                    if not stripped:
                        continue
                    try:  # without the newline the message is clearer ("Unterminated string")
                        decode(stripped)
                    except json.JSONDecodeError as inner:
                        exc = inner
                    yield (
                        f"line {lineno}",
                        RecordError(f"line {lineno}", f"not valid JSON ({exc.msg})"),
                    )
                    continue
                if type(obj) is not dict:
                    obj = RecordError(
                        f"line {lineno}", f"expected a JSON object, got {type(obj).__name__}"
                    )
                yield f"line {lineno}", obj
    except (UnicodeDecodeError, gzip.BadGzipFile):
        raise RecordError(f"line {lineno + 1}", "not UTF-8 text") from None


def read_json(path: Path) -> Iterator[tuple[str, Record | RecordError]]:
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data" and raw.lstrip()[:1] == b"{":
            # one object a line under a .json name (common on dataset hubs): JSON Lines
            yield from read_jsonl(path)
            return
        raise RecordError(f"line {exc.lineno}", f"not valid JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise RecordError("", "not UTF-8") from None
    if isinstance(data, dict):
        # {"data": [...]} / {"rows": [...]} / {"train": [...]} wrappers
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise RecordError(
                "", "expected a JSON array of objects (or an object holding one array)"
            )
        data = lists[0]
    if not isinstance(data, list):
        raise RecordError("", "expected a JSON array of objects")
    for i, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            obj = RecordError(f"element {i}", f"expected a JSON object, got {type(obj).__name__}")
        yield f"element {i}", obj


# Long worked solutions exceed csv's 128 KiB default. The limit is process-wide in the csv
# module, so every CSV reader of the app sets this same value (review import too): a file
# must not read differently depending on which reader ran first.
CSV_FIELD_LIMIT = 1 << 30


def read_csv(path: Path) -> Iterator[tuple[str, Record | RecordError]]:
    """Strict CSV: a quote that does not close where a field ends is an error naming the line
    its record starts on, never two records silently merged into one."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    csv.field_size_limit(CSV_FIELD_LIMIT)
    start = 1
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter, strict=True)
            if not reader.fieldnames:
                raise RecordError("line 1", "empty CSV (no header)")
            start = reader.line_num + 1
            for row in reader:
                item: Record | RecordError = row
                if None in row:
                    item = RecordError(f"line {start}", "more fields than the header has")
                elif any(v is None for v in row.values()):
                    item = RecordError(f"line {start}", "fewer fields than the header has")
                elif reader.line_num > start and _looks_merged(list(row.values()), delimiter):
                    item = RecordError(
                        f"line {start}",
                        f"a quoted field runs from line {start} to {reader.line_num} and its"
                        " first line holds a whole record's fields (an unbalanced quote?)",
                    )
                yield f"line {start}", item
                start = reader.line_num + 1
    except UnicodeDecodeError:
        raise RecordError("", "not UTF-8") from None
    except csv.Error as exc:
        raise RecordError(
            f"line {start}", f"malformed CSV record (unbalanced quote? {exc})"
        ) from None


def _looks_merged(values: list[str], delimiter: str) -> bool:
    """A multi-line field whose first line alone splits into the fields still to come: the
    signature of a quote opened and never closed, which swallows the next record."""
    for i, value in enumerate(values):
        if "\n" not in value:
            continue
        first = value.split("\n", 1)[0]
        pieces = next(csv.reader([first], delimiter=delimiter))
        if len(pieces) == len(values) - i >= 2 and all(map(_field_like, pieces[1:])):
            return True
    return False


def _field_like(piece: str) -> bool:
    """A value as a CSV writer leaves it, not prose cut at a comma: `2`, not ` b be reals.`
    (space after the comma) nor `b$ be reals` (cut inside a `$...$` formula)."""
    return not piece[:1].isspace() and piece.count("$") % 2 == 0


def read_parquet(path: Path) -> Iterator[tuple[str, Record]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise RecordError("", f"not a readable Parquet file ({exc})") from None
    row = 0
    for batch in pf.iter_batches(batch_size=8192):
        for obj in batch.to_pylist():
            row += 1
            yield f"row {row}", obj


def hf_splits(path: Path) -> list[str | None]:
    """Split names of a saved DatasetDict, or [None] for a single saved Dataset."""
    if (path / "dataset_dict.json").exists():
        meta = json.loads((path / "dataset_dict.json").read_text())
        return list(meta.get("splits", []))
    return [None]


def read_hf(path: Path, split: str | None) -> Iterator[tuple[str, Record]]:
    from datasets import load_from_disk

    try:
        ds = load_from_disk(str(path / split) if split else str(path))
    except Exception as exc:
        raise RecordError("", f"cannot load datasets folder ({exc})") from None
    for i, obj in enumerate(ds, start=1):
        yield f"row {i}", dict(obj)


def read_records(source: Source) -> Iterator[tuple[str, Record | RecordError]]:
    if source.format == "jsonl":
        return read_jsonl(source.path)
    if source.format == "json":
        return read_json(source.path)
    if source.format == "csv":
        return read_csv(source.path)
    if source.format == "parquet":
        return read_parquet(source.path)
    if source.format == "hf":
        return read_hf(source.path, source.split_hint)
    raise RecordError("", f"unknown format {source.format}")
