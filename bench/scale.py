"""A million labelled problems, still interactive (issue 14): sampling, counts, review, export.

Builds (once; reused from --root) a project with N labelled problems: synthetic word problems
of four sources, 1 in 40 a copy of a bundled benchmark problem (so decontamination has real
overlaps to find), labels E/M/H with 3% unresolved judge/check conflicts, 2% needing review
and 1% human labels, all written through the store's own grade path. The benchmark overlap
check then runs once, as an import would run it (its one-off cost is reported).

Then measures, on that store:
- `acotd status` and `acotd sample preview -k 20000` as the user runs them (wall clock of the
  CLI process, start-up included), and the preview inside a process, against a bare
  `SELECT label, COUNT(*) FROM labels ... GROUP BY label` (the ratio);
- `acotd sample create NAME -k 20000` (CLI wall clock);
- the Problems screen's count with a label filter, against the scan it replaced;
- opening the review queue (the queue, the first item, the label statistics);
- the Sampling screen, driven by Pilot: keystroke in K until the new plan is on screen, p95;
- exporting the 20,000-problem set with a verified CoT each (TRL messages format).

    python bench/scale.py [--rows 1000000] [--root /tmp/acotd-scale]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acotd_tui.benchmarks import BUNDLED, load_benchmark  # noqa: E402
from acotd_tui.project import Project  # noqa: E402
from acotd_tui.store import NewCot, NewGrade, NewProblem, ProblemFilter  # noqa: E402
from acotd_tui.store.problems import Problems  # noqa: E402

SOURCES = ("gsm8k", "math", "numina", "aime")
WORDS = [
    "apples",
    "pears",
    "trains",
    "litres",
    "minutes",
    "squares",
    "circles",
    "primes",
    "digits",
    "coins",
    "tickets",
    "boxes",
]
CHUNK = 50_000


def problem_text(i: int, leaks: list[str]) -> str:
    if i % 40 == 0:
        return f"{leaks[(i // 40) % len(leaks)]} (restated {i})"
    a, b = WORDS[i % 12], WORDS[(i * 7) % 12]
    return (
        f"Problem {i}: a shop has {i % 97} {a} and {i % 89} {b}. Each hour it sells {i % 13 + 1}"
        f" {a} and buys {i % 7 + 2} {b}. After {i % 11 + 3} hours, how many {a} and {b} are"
        f" left in total, if the owner also gives away {i % 5} of each at the end?"
    )


def build(root: Path, rows: int) -> Project:
    project = Project.init(root)
    store = project.store
    leaks = [item.problem for name in BUNDLED for item in load_benchmark(name).items]
    rng = random.Random(14)
    started = time.perf_counter()
    with store.db.tx() as conn:
        for start in range(0, rows, CHUNK):
            batch = [
                Problems.prepare(
                    NewProblem(
                        problem=problem_text(i, leaks),
                        answer=str(i),
                        source=SOURCES[i % 4],
                        split="train",
                    ),
                    None,
                )
                for i in range(start, min(rows, start + CHUNK))
            ]
            store.problems.insert_rows(conn, batch)
    print(f"problems: {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    ids = store.problems.ids()
    for start in range(0, len(ids), CHUNK):
        grades = []
        for pid in ids[start : start + CHUNK]:
            label = rng.choices(("E", "M", "H"), weights=(45, 17, 38))[0]
            roll = rng.random()
            grades.append(
                NewGrade(
                    pid,
                    "emh",
                    label,
                    "judge",
                    model="bench-judge",
                    prompt_version="v1",
                    conflict="judge vs check" if roll < 0.03 else None,
                    needs_review=0.03 <= roll < 0.05,
                )
            )
            if roll > 0.99:
                grades.append(NewGrade(pid, "emh", rng.choice(("E", "M", "H")), "human"))
        with store.db.tx() as conn:
            store.grades.insert(conn, grades)
    print(f"labels: {time.perf_counter() - started:.0f} s", flush=True)
    store.db.conn.execute("ANALYZE")
    (root / "BUILT").write_text(str(rows))
    return project


def timed(fn: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median wall time in ms over `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def cli(root: Path | None, *args: str, repeat: int = 5) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system), in ms, of `acotd ARGS -p ROOT`
    as a fresh process. On a shared machine the wall time mostly measures the other tenants;
    the CPU time is what the command itself costs."""
    exe = Path(sys.executable).with_name("acotd")
    walls, cpus = [], []
    for n in range(repeat):
        argv = [a.replace("{n}", str(n)) for a in args]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        project = ["-p", str(root)] if root is not None else []
        done = subprocess.run(
            [str(exe), *argv, *project], capture_output=True, text=True, check=False
        )
        walls.append((time.perf_counter() - started) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
        if done.returncode != 0:
            raise SystemExit(f"acotd {' '.join(argv)} failed: {done.stderr or done.stdout}")
    return statistics.median(walls), statistics.median(cpus)


async def keystroke_to_plan(project: Project, keys: int = 30) -> list[float]:
    """Pilot: a key typed into K until the plan for the new K is on the screen."""
    from textual.widgets import Input

    from acotd_tui.app import AcotdApp

    app = AcotdApp(project)
    timings: list[float] = []

    async def until(condition: Callable[[], bool]) -> None:
        deadline = time.perf_counter() + 20
        while time.perf_counter() < deadline:
            if condition():
                return
            await asyncio.sleep(0.001)
        notes = screen.query_one("#preview-notes").render()
        raise RuntimeError(
            f"plan never came (K field {k.value!r}, plan K {screen.plan.request.k}, notes {notes},"
            f" generation {screen._generation}, workers {list(app.workers)})"  # noqa: SLF001
        )

    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("5")
        screen = app.screen
        k = screen.query_one("#k", Input)
        await until(lambda: getattr(screen, "plan", None) is not None)
        k.select_on_focus = False  # type at the end of "20000", as a user would
        k.focus()
        await pilot.pause(0.2)
        k.value = "20000"
        k.action_end()
        await until(lambda: screen.plan.request.k == 20000)
        await pilot.pause(0.2)
        for n in range(keys):
            key, expected = ("backspace", 2000) if n % 2 == 0 else ("0", 20000)
            started = time.perf_counter()
            send_key(app, key)
            await until(lambda e=expected: screen.plan.request.k == e)  # show_plan has run
            screen._on_timer_update()  # noqa: SLF001  the repaint
            timings.append((time.perf_counter() - started) * 1000)
            await pilot.pause(0.1)
    return timings


def send_key(app, key: str) -> None:
    """Post a key as the terminal driver would (Pilot's `press` adds its own idle waits,
    which would be measured too); as in bench/tui_latency.py."""
    from textual import events

    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)  # noqa: SLF001


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--root", type=Path, default=Path("/tmp/acotd-scale"))
    ap.add_argument("-k", type=int, default=20_000, help="set size for preview, create, export")
    args = ap.parse_args()
    root = args.root
    if (root / "BUILT").exists() and int((root / "BUILT").read_text()) == args.rows:
        project = Project.open(root)
    else:
        if root.exists():
            raise SystemExit(f"{root} exists but is not a finished {args.rows}-row build")
        project = build(root, args.rows)
    store = project.store
    from acotd_tui.decontam import ensure_checked
    from acotd_tui.pipeline.export import ExportParams, export_dataset
    from acotd_tui.pipeline.sampling import SamplingService
    from acotd_tui.services import AppServices

    started = time.perf_counter()
    key = ensure_checked(store, project.config.eval.benchmarks, project.config.sampling.ngram)
    once_s = time.perf_counter() - started
    overlaps = store.pool.hit_count(key)
    print(f"decontamination (once; 0 when already stored): {once_s:.1f} s, {overlaps:,} overlaps")

    rows: list[tuple[str, str, str, str]] = []  # operation, acotd, baseline, ratio
    bare = lambda: store.db.query(  # noqa: E731
        "SELECT label, COUNT(*) FROM labels WHERE scheme = 'emh' GROUP BY label"
    )
    bare_ms, _ = timed(bare)
    startup, startup_cpu = cli(None, "--version")
    base = f"{startup:,.0f} ms, CPU {startup_cpu:,.0f} ms (`acotd --version`: start-up only)"

    def cli_row(what: str, wall: float, cpu: float) -> tuple[str, str, str, str]:
        return (
            what,
            f"{wall:,.0f} ms, CPU {cpu:,.0f} ms (after start-up: {cpu - startup_cpu:,.0f})",
            base,
            f"{cpu / startup_cpu:.2f} (CPU)",
        )

    rows.append(cli_row("`acotd status` (CLI process)", *cli(root, "status")))
    rows.append(
        cli_row(
            f"`acotd sample preview -k {args.k}` (CLI process)",
            *cli(root, "sample", "preview", "-k", str(args.k)),
        )
    )
    service = SamplingService(project)
    preview_ms, plan = timed(lambda: service.preview(service.default_request(k=args.k)))
    rows.append(
        (
            f"plan inside a process (`SamplingService.preview`, K={args.k:,})",
            f"{preview_ms:.2f} ms",
            f"{bare_ms:.1f} ms (bare `SELECT label, COUNT(*) … GROUP BY label`)",
            f"{preview_ms / bare_ms:.3f}",
        )
    )
    print("plan:", plan.available, plan.wanted, plan.excluded, flush=True)
    name = f"scale-{int(time.time())}"
    rows.append(
        cli_row(
            f"`acotd sample create NAME -k {args.k}` (CLI process, 3 sets)",
            *cli(root, "sample", "create", name + "-{n}", "-k", str(args.k), repeat=3),
        )
    )
    name += "-0"
    label_filter = ProblemFilter(labels=("M",))
    count_ms, count = timed(lambda: store.problems.count(label_filter))
    where, params = label_filter.where()
    scan_ms, scan = timed(
        lambda: store.db.scalar(f"SELECT COUNT(*) FROM problems p WHERE {where}", params), repeat=1
    )
    assert count == scan, (count, scan)
    rows.append(
        (
            f"Problems screen: count with label filter M ({count:,})",
            f"{count_ms:.2f} ms",
            f"{scan_ms:,.0f} ms (the scan it replaced)",
            f"{count_ms / scan_ms:.5f}",
        )
    )
    services = AppServices(project)

    def open_review() -> None:
        queue = services.review_queue("needs_review")
        services.review_item(queue[0])
        services.review_stats()

    review_ms, _ = timed(open_review)
    rows.append(
        (
            "review queue open (needs-review queue, first item, label statistics)",
            f"{review_ms:.0f} ms",
            "",
            "",
        )
    )
    timings = asyncio.run(keystroke_to_plan(Project.open(root)))  # the app closes its project
    rows.append(
        (
            f"Sampling screen: keystroke in K → plan on screen (Pilot, {len(timings)} keys)",
            f"p95 {p95(timings):.0f} ms (p50 {statistics.median(timings):.0f})",
            "",
            "",
        )
    )
    dataset = store.datasets.get(name)
    items = store.datasets.items(dataset.id)
    with store.db.tx() as conn:
        store.cots.insert(
            conn,
            [
                NewCot(
                    i.problem_id,
                    i.cot_kind,
                    "bench-teacher",
                    "v1",
                    0,
                    f"Step 1: read problem {i.problem_id}. Step 2: count. Step 3: add up.",
                    f"The answer is \\boxed{{{i.problem_id}}}.",
                    str(i.problem_id),
                )
                for i in items
            ],
        )
        cots = store.cots.for_problems([i.problem_id for i in items])
        store.cots.set_verification(
            conn, [(c.id, True, "bench", None) for cs in cots.values() for c in cs]
        )
    out = root / "export" / name
    export_ms, result = timed(
        lambda: export_dataset(project, ExportParams(dataset=name, formats=["trl"], out=str(out))),
        repeat=1,
    )
    rows.append(
        (f"export of {len(items):,} verified CoTs (TRL messages)", f"{export_ms:,.0f} ms", "", "")
    )
    print(
        json.dumps({"export": {k: v for k, v in result.items() if k != "card"}}, default=str)[:300]
    )
    print()
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"| operation ({args.rows:,} labelled problems) | acotd | baseline | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    project.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
