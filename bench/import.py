"""Import throughput as a ratio of raw `sqlite3.executemany` into the same schema, same run.

Builds a NuminaMath-shaped JSONL file (default 860,000 rows, NuminaMath-CoT scale) from the
real MATH problems in ../shared/data (each copy made unique so nothing dedupes away), then:
  baseline: json.loads each line, hash the text, executemany into a fresh migrated store;
  acotd:    `import_files` (shape detection, answer extraction, normalised hashing,
            provenance, atomic transaction) into another fresh store.
Prints rows/s for both and acotd/baseline (goal >= 0.5).

    python bench/import.py [--rows 860000]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from acotd_tui.importing import import_files
from acotd_tui.store import Store

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def build_file(path: Path, rows: int) -> None:
    lines = (SHARED / "math" / "train.jsonl").read_text(encoding="utf-8").splitlines()
    seeds = [json.loads(line) for line in lines]
    seeds = [s for s in seeds if "\\boxed{" in s["solution"] and s["answer"]]
    with open(path, "w", encoding="utf-8") as out:
        for i in range(rows):
            s = seeds[i % len(seeds)]
            out.write(
                json.dumps(
                    {
                        "problem": f"{s['problem']} (variant {i})",
                        "solution": s["solution"],
                        "source": "synthetic_math",
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )


def baseline(path: Path, db_path: Path) -> float:
    store = Store(db_path)
    conn = store.db.conn
    sql = (
        "INSERT OR IGNORE INTO problems (hash, source, split, domain, problem, answer, solution)"
        " VALUES (?,?,?,?,?,?,?)"
    )
    start = time.perf_counter()
    conn.execute("BEGIN")
    batch = []
    with open(path, "rb") as fh:
        for line in fh:
            r = json.loads(line)
            text = r["problem"]
            batch.append(
                (
                    hashlib.blake2b(text.encode(), digest_size=16).digest(),
                    "b",
                    "",
                    "math",
                    text,
                    "",
                    r["solution"],
                )
            )
            if len(batch) >= 4096:
                conn.executemany(sql, batch)
                batch.clear()
    conn.executemany(sql, batch)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def acotd(path: Path, db_path: Path) -> tuple[float, int]:
    store = Store(db_path)
    start = time.perf_counter()
    report = import_files(store, [path])
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed, report.added


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=860_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        data = tmpdir / "numina_like.jsonl"
        build_file(data, args.rows)
        size_mb = data.stat().st_size / 1e6
        t_base = baseline(data, tmpdir / "base.db")
        t_acotd, added = acotd(data, tmpdir / "acotd.db")
        if added != args.rows:
            print(f"FAIL: imported {added} of {args.rows} rows", file=sys.stderr)
            return 1
        base_rate, acotd_rate = args.rows / t_base, args.rows / t_acotd
        print(f"rows: {args.rows:,} ({size_mb:.0f} MB)")
        print(f"baseline executemany: {t_base:6.1f} s  {base_rate:10,.0f} rows/s")
        print(f"acotd import:         {t_acotd:6.1f} s  {acotd_rate:10,.0f} rows/s")
        print(f"ratio acotd/baseline: {acotd_rate / base_rate:.2f}  (goal >= 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
