"""Snapshot tests (pytest-textual-snapshot): every screen of the app on the demo project.

The project lives at a fixed path because the header shows it; everything shown is made
deterministically (no job logs, no timestamps). Update after an intended change with
`pytest tests/test_snapshots.py --snapshot-update`, and look at the SVGs before committing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from acotd_tui.app import AcotdApp
from acotd_tui.project import Project
from acotd_tui.store import EvalSample, NewCot, problem_hash

FIXED = Path("/tmp/acotd-snapshots/demo")
SIZE = (110, 34)


@pytest.fixture(autouse=True)
def fixed_isolation_line(monkeypatch):
    """The Settings screen says how code is isolated on *this* machine (bubblewrap, namespaces
    or none); the snapshot pins the bubblewrap wording so it does not depend on the host."""
    from acotd_tui.code import isolation

    line = (
        "bubblewrap (read-only filesystem, private /tmp, no network, own PIDs), "
        "runs as nobody; verdicts computed outside it"
    )
    monkeypatch.setattr(isolation, "isolation_summary", lambda *_a, **_k: line)


@pytest.fixture(scope="module")
def snapshot_project(demo_template):
    if FIXED.exists():
        shutil.rmtree(FIXED)
    FIXED.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(demo_template, FIXED)
    project = Project.open(FIXED)
    store = project.store
    from acotd_tui.pipeline.sampling import SamplingService

    service = SamplingService(project)
    dataset = service.create("snap", service.default_request(k=20))
    items = store.datasets.items(dataset.id)
    problems = {p.id: p for p in store.problems.get_many([i.problem_id for i in items])}
    store.cots.add(
        NewCot(
            i.problem_id,
            i.cot_kind,
            "teacher-a" if i.cot_kind == "short" else "teacher-b",
            "v1",
            0,
            f"Step one for {i.problem_id}.\n\nStep two.",
            f"Final answer: \\boxed{{{problems[i.problem_id].answer}}}",
            problems[i.problem_id].answer,
        )
        for i in items
    )
    cots = store.cots.list(
        __import__("acotd_tui.store", fromlist=["CotFilter"]).CotFilter(dataset_id=dataset.id)
    )
    with store.db.tx() as conn:
        store.cots.set_verification(
            conn,
            [
                (
                    c.id,
                    c.id % 5 != 0,
                    "answer matches" if c.id % 5 else "answer does not match",
                    None,
                )
                for c in cots
            ],
        )
    for name, acc in (("base", [1, 0, 0, 1]), ("acotd", [1, 1, 0, 1])):
        for bench in ("amc23", "math500"):
            ev = store.evals.ensure(
                name, bench, model="tiny", adapter="", n=1, params={}, items=4, job_id=None
            )
            with store.db.tx() as conn:
                store.evals.insert_samples(
                    conn,
                    ev.id,
                    [
                        EvalSample(
                            i, 0, problem_hash(f"{bench}{i}"), "1", "1", bool(ok), False, "", "", 1
                        )
                        for i, ok in enumerate(acc)
                    ],
                )
            store.evals.finish(
                ev.id, acc_mean=sum(acc) / 4, acc_std=0.0, cotqs=3.0 + sum(acc) / 4, detail={}
            )
    project.close()
    yield FIXED
    shutil.rmtree(FIXED.parent, ignore_errors=True)


def make_app() -> AcotdApp:
    return AcotdApp(Project.open(FIXED))


async def _settle(pilot) -> None:
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(0.1)


def open_screen(key: str):
    async def run_before(pilot) -> None:
        await _settle(pilot)
        if key:
            await pilot.press(key)
        await _settle(pilot)

    return run_before


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("", "dashboard"),
        ("2", "problems"),
        ("3", "review"),
        ("4", "cots"),
        ("5", "sampling"),
        ("6", "jobs"),
        ("7", "results"),
        ("8", "settings"),
    ],
)
def test_screen_snapshots(snapshot_project, snap_compare, monkeypatch, key, name):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=open_screen(key))


def test_problem_detail_snapshot(snapshot_project, snap_compare):
    async def run_before(pilot) -> None:
        await open_screen("2")(pilot)
        await pilot.press("enter")
        await _settle(pilot)

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=run_before)
