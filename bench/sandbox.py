"""Sandbox throughput: solutions checked per second, as a ratio of bare `subprocess.run`.

200 real-shaped problems (the bundled HumanEval/MBPP/APPS/LiveCodeBench-shaped fixtures,
10 rounds) with their reference solutions. Both sides use the same number of parallel
workers (the CPU count) and check every test case:
  baseline: one bare `python` process per test case (stdin in, stdout compared; assert and
            function tests appended to the program), no limits, no isolation;
  acotd:    `SandboxPool.run_many`: per solution a trusted checker process plus one sandbox
            (behind bubblewrap where available) that only answers calls: stdio cases in
            forked children, function calls and HumanEval/MBPP asserts through the proxy,
            rlimits, privilege drop, namespaces, audit hook, private run dir.
Prints both rates and acotd/baseline; `--isolation process` measures the fallback level.

    python bench/sandbox.py [--rounds 10] [--isolation auto|bubblewrap|process]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

from acotd_tui.code.sandbox import SandboxLimits, SandboxPool
from acotd_tui.importing import import_files
from acotd_tui.store import ProblemFilter, Store


def load_problems(tmp: Path) -> list[tuple[str, object]]:
    store = Store(tmp / "bench.db")
    fixtures = sorted(Path(str(resources.files("acotd_tui") / "data" / "code")).glob("*.jsonl"))
    import_files(store, fixtures)
    ids = store.problems.ids(ProblemFilter(domain="code"))
    tests = store.code_tests.get_many(ids)
    out = [(p.solution, tests[p.id]) for p in store.problems.get_many(ids)]
    store.close()
    return out


def bare_programs(solution: str, tests) -> list[tuple[str, str]]:
    """(program, stdin) per test case, run without any isolation."""
    if tests.kind == "stdio":
        return [(solution, c["input"]) for c in tests.cases]
    if tests.kind == "functional":
        call = (
            f"Solution().{tests.entry_point}" if "class Solution" in solution else tests.entry_point
        )
        return [
            (
                f"{solution}\nimport json\nassert json.loads(json.dumps({call}(*{c['args']!r}))) == {c['expected']!r}\n",
                "",
            )
            for c in tests.cases
        ]
    return [((tests.setup or "") + "\n" + solution + "\n" + c + "\n", "") for c in tests.cases]


def run_bare(job: tuple[str, str], folder: Path) -> bool:
    program, stdin = job
    path = folder / f"p{abs(hash(program)) % 10**12}.py"
    path.write_text(program)
    proc = subprocess.run(
        [sys.executable, str(path)], input=stdin, capture_output=True, text=True, timeout=30
    )
    return proc.returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--isolation", default="auto", choices=["auto", "bubblewrap", "process"])
    args = ap.parse_args()
    workers = max(1, len(__import__("os").sched_getaffinity(0)))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        problems = load_problems(folder) * args.rounds
        bare_jobs = [job for solution, tests in problems for job in bare_programs(solution, tests)]
        started = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            bare_ok = list(pool.map(lambda j: run_bare(j, folder), bare_jobs))
        bare_s = time.perf_counter() - started
        started = time.perf_counter()
        reports = SandboxPool(SandboxLimits(isolation=args.isolation), workers).run_many(problems)
        ours_s = time.perf_counter() - started
    if not all(bare_ok) or not all(r.passed for r in reports):
        print(
            f"FAIL: bare {sum(bare_ok)}/{len(bare_ok)} cases, sandbox {sum(r.passed for r in reports)}/{len(reports)} solutions passed",
            file=sys.stderr,
        )
        return 1
    n = len(problems)
    print(f"{n} solutions, {len(bare_jobs)} test cases, {workers} workers")
    print(
        f"bare subprocess.run: {bare_s:6.2f} s  {n / bare_s:6.1f} solutions/s  ({len(bare_jobs)} processes)"
    )
    print(f"acotd sandbox:       {ours_s:6.2f} s  {n / ours_s:6.1f} solutions/s  ({n} processes)")
    print(f"ratio acotd/bare: {bare_s / ours_s:.2f}")
    print(json.dumps({"isolation": reports[0].isolation}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
