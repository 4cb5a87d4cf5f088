"""Importing problem files (JSONL, JSON, CSV, Parquet, saved `datasets`) into the store."""

from .importer import FileReport, ImportOptions, ImportReport, guess_source_split, import_files
from .shapes import parse_mapping

__all__ = [
    "FileReport",
    "ImportOptions",
    "ImportReport",
    "guess_source_split",
    "import_files",
    "parse_mapping",
]
