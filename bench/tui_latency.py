"""Keypress-to-render latency of the Problems screen: 1,000,000 problems vs an empty store.

Drives the real app headless with Textual's Pilot. For each key the time runs from the
press until its effects are on screen: the key handled, any page query finished in its
worker, the resulting messages processed and the screen repainted. (Pilot's own `pause`
waits for the process to go idle, which would measure Pilot, so the steps are done here.) Keys: cursor moves, page moves, jumps to the
last and first page, and crossings of page edges (which query SQLite). Prints p50/p95 per
store and the ratio to the empty-store baseline (goal: p95 under 50 ms with 1M problems).

    python bench/tui_latency.py [--rows 1000000] [--store DIR] [--only keys|search]

`--store DIR` keeps the large project (filling a million problems takes minutes) and reuses
it on the next run. Search keystrokes also report the CPU time of the app's thread, the
figure that does not grow with the load of a shared machine (each report prints it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from acotd_tui.app import AcotdApp  # noqa: E402
from acotd_tui.project import Project  # noqa: E402
from tests.bulk import fill_problems  # noqa: E402

# Typed into the search field: common words (every synthetic problem has "train"), rare
# numbers, a word in no problem, and punctuation that must stay plain text.
SEARCHES = ["train leaves", "compute 12345", "zebra", "o'clock 7 km", 'x^2 "NEAR(" -:']
KEYS = ["down"] * 40 + ["pagedown"] * 8 + ["G", "g"] * 3 + ["up", "down"] * 5


async def measure(project: Project) -> list[float]:
    app = AcotdApp(project)
    timings: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        table = app.screen.query_one("#table")
        for round_ in range(3):
            for key in KEYS:
                if key == "up" and round_ >= 0 and table.row_count:  # make "up" cross the top edge
                    table.move_cursor(row=0)
                    await pilot.pause()
                await pilot.pause()  # start each key from an idle app
                started = time.perf_counter()
                send_key(app, key)
                await pilot._wait_for_screen()  # noqa: SLF001  the key's handlers ran
                await app.workers.wait_for_complete()  # a page query, if the key needed one
                await pilot._wait_for_screen()  # noqa: SLF001  its results are in the table
                app.screen._on_timer_update()  # noqa: SLF001  the repaint
                timings.append((time.perf_counter() - started) * 1000)
            await pilot.press("G")
            await app.workers.wait_for_complete()
    return timings


async def settle(app: AcotdApp) -> None:
    """Wait for every worker; superseded (cancelled) ones count as done."""
    from textual.worker import WorkerCancelled

    while True:
        try:
            await app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue


def shows(screen, search, text: str) -> bool:
    """The field holds `text`, the screen's filter is its search, and that page is shown."""
    return (
        search.value == text
        and screen.filter.text == text.strip()
        and screen.shown_page_request == screen.page_request
    )


async def measure_search(project: Project) -> tuple[list[float], list[float], list[float]]:
    """(keystroke to its page's rows handed to the table, keystroke to the repainted screen,
    the CPU time the app's thread spent on that keystroke).

    The CPU time is the app's own work, whatever else the machine runs: on a shared machine
    the wall times grow with its load (the count and page queries run in other threads and
    are not in it; the bench's own polling is, a few ms at most)."""
    app = AcotdApp(project)
    answered: list[float] = []
    timings: list[float] = []
    cpu: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        for _ in range(3):
            await app.workers.wait_for_complete()
            await pilot.pause()
        screen = app.screen
        search = screen.query_one("#search")
        for _round in range(3):
            for query in SEARCHES:
                search.value = ""
                await settle(app)
                await pilot.pause()
                search.focus()  # as `/` does (typing `/` once the field has focus is text)
                await pilot.pause()
                for typed, char in enumerate(query, start=1):
                    started, cpu_started = time.perf_counter(), time.thread_time()
                    send_key(app, KEY_NAMES.get(char, char))
                    await pilot._wait_for_screen()  # noqa: SLF001  the key's handlers ran
                    while not shows(screen, search, query[:typed]):  # its page is in
                        await asyncio.sleep(0.0005)
                    answered.append((time.perf_counter() - started) * 1000)
                    await pilot._wait_for_screen()  # noqa: SLF001  the table laid out
                    screen._on_timer_update()  # noqa: SLF001  the repaint
                    timings.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.thread_time() - cpu_started) * 1000)
                assert screen.filter.text == query.strip(), (screen.filter.text, query)
    return answered, timings, cpu


KEY_NAMES = {
    " ": "space",
    "'": "apostrophe",
    '"': "quotation_mark",
    "^": "circumflex_accent",
    "(": "left_parenthesis",
    "-": "minus",
    ":": "colon",
}


def send_key(app: AcotdApp, key: str) -> None:
    """Post a key event as the terminal driver would (Pilot's press adds two idle waits)."""
    from textual import events

    char = {v: k for k, v in KEY_NAMES.items()}.get(key, key)
    event = events.Key(key, char if len(char) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)  # noqa: SLF001


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def large_project(rows: int, where: Path) -> Project:
    """The project with `rows` problems in `where`, filled there unless it already is."""
    if (where / "acotd.toml").exists():
        project = Project.open(where)
        if project.store.problems.count() == rows:
            return project
        raise SystemExit(f"{where} holds another number of problems; remove it or pick another")
    project = Project.init(where)
    started = time.perf_counter()
    fill_problems(project.store, rows)
    print(f"filled {rows:,} problems in {time.perf_counter() - started:.1f} s")
    return project


def report(title: str, base: list[float], loaded: list[float], rows: int) -> None:
    print(f"{title} (load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})")
    print(f"{'store':>12} {'keys':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, t in (("empty", base), (f"{rows:,}", loaded)):
        print(f"{name:>12} {len(t):>5} {statistics.median(t):>8.1f} {p95(t):>8.1f} {max(t):>8.1f}")
    print(
        f"p95 ratio large/empty: {p95(loaded) / p95(base):.2f}   p95 with {rows:,} problems: {p95(loaded):.1f} ms (goal < 50 ms)"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--store", type=Path, default=None, help="keep the large project here")
    ap.add_argument("--only", choices=["keys", "search"], default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        empty = Project.init(Path(tmp) / "empty")
        big = large_project(args.rows, args.store or Path(tmp) / "big")
        if args.only != "search":
            base = asyncio.run(measure(empty))
            loaded = asyncio.run(measure(big))
            report("cursor and page keys", base, loaded, args.rows)
        if args.only != "keys":
            base_answered, base, base_cpu = asyncio.run(measure_search(empty))
            answered, loaded, loaded_cpu = asyncio.run(measure_search(big))
            report(
                "search keystrokes: the page's rows reach the table",
                base_answered,
                answered,
                args.rows,
            )
            report(
                "search keystrokes: that page on screen (laid out, repainted)",
                base,
                loaded,
                args.rows,
            )
            report(
                "search keystrokes: CPU time of the app's thread (keystroke to repainted page)",
                base_cpu,
                loaded_cpu,
                args.rows,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
