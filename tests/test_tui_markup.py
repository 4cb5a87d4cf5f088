"""Markup typed or stored by a user never crashes a screen (issue 15, item 7).

Typing `6:3:[/x]` into the Sampling screen's ratios crashed the app with a MarkupError. Here
markup goes into every Input of every screen (and the job form's fields for every kind, and
the CoT rejection prompt), and into stored strings the screens show: a problem's source and
text, a job's error, a rejection note. The app must keep running and show them as typed.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from click.testing import CliRunner
from textual.widgets import Input, Select, Static
from textual.worker import WorkerCancelled

from acotd_tui.app import SCREENS, AcotdApp
from acotd_tui.cli import main
from acotd_tui.jobs import submit
from acotd_tui.pipeline.sampling import SamplingService
from acotd_tui.pipeline.teach import TeachParams
from acotd_tui.services import JOB_KINDS
from acotd_tui.store import CotFilter

SIZE = (120, 40)
PAYLOADS = ["6:3:[/x]", "[bold", "[@click=app.quit]q[/]"]
EVIL = "[/x][bold"


async def settle(pilot, extra: float = 0.05) -> None:
    for _ in range(3):
        with contextlib.suppress(WorkerCancelled):  # an exclusive worker replaced: fine
            await pilot.app.workers.wait_for_complete()
        await pilot.pause(extra)


async def type_into_every_input(pilot, screen) -> int:
    """Each payload into each enabled Input of `screen`, submitted with Enter."""
    typed = 0
    for payload in PAYLOADS:
        for field in list(screen.query(Input)):
            if not field.is_mounted or field.disabled:
                continue
            field.focus()
            field.value = ""
            await pilot.press(*payload)
            await pilot.press("enter")
            await settle(pilot)
            typed += 1
            if pilot.app.screen is not screen:  # a submit closed a modal: stop here
                return typed
    return typed


@pytest.fixture
def marked_project(demo_project, tmp_path):
    """The demo project plus strings with markup where screens show them."""
    data = tmp_path / "evil.jsonl"
    data.write_text(
        json.dumps({"problem": f"What is 1+1? {EVIL} [a, b]", "answer": "2[/x]"}) + "\n"
    )
    result = CliRunner().invoke(
        main, ["import", "-p", str(demo_project.root), str(data), "--source", "src[/x]"]
    )
    assert result.exit_code == 0, result.output
    service = SamplingService(demo_project)
    service.create("ds", service.default_request(k=6))
    submit(demo_project, "teach", TeachParams(dataset="ds", from_reference=True).to_job())
    job = demo_project.store.jobs.create("export", {"dataset": "ds"})
    demo_project.store.jobs.claim(job.id, pid=1, log_path="")
    demo_project.store.jobs.finish(job.id, "failed", error=f"no dataset {EVIL!r}")
    return demo_project


@pytest.mark.slow
async def test_markup_typed_into_every_input_of_every_screen(marked_project, monkeypatch):
    import acotd_tui.jobs as jobs_pkg

    spawned: list[int] = []
    monkeypatch.setattr(jobs_pkg, "spawn_worker", lambda root, job_id: spawned.append(job_id))
    jobs_before = len(marked_project.store.jobs.list())
    app = AcotdApp(marked_project)
    typed = 0
    async with app.run_test(size=SIZE) as pilot:
        for mode, _, _ in SCREENS:
            app.set_focus(None)
            await app.switch_mode(mode)
            await settle(pilot, 0.35)  # the Sampling preview is debounced
            assert app.current_mode == mode
            typed += await type_into_every_input(pilot, app.screen)
            await pilot.press("escape")
            await settle(pilot)
        # The job form: every field of every kind, launched with ctrl+s.
        app.set_focus(None)
        await app.switch_mode("jobs")
        await settle(pilot)
        for kind in JOB_KINDS:
            await pilot.press("n")
            await settle(pilot)
            form = app.screen
            form.query_one("#kind", Select).value = kind
            await settle(pilot)
            for field in form.query(Input):
                field.value = EVIL
            await pilot.press("ctrl+s")
            await settle(pilot)
            typed += 1
            if app.screen is form:  # refused in the form: its error is shown as typed
                assert str(form.query_one("#form-error", Static).render()).strip()
                await pilot.press("escape")
                await settle(pilot)
        # The rejection prompt on the CoT screen.
        app.set_focus(None)
        await app.switch_mode("cots")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        await pilot.press(*EVIL)
        await pilot.press("enter")
        await settle(pilot)
        assert app.is_running
    assert typed >= 20
    rejected = [c for c in marked_project.store.cots.list(CotFilter(review="rejected"))]
    assert rejected and rejected[0].review_note == EVIL
    # Only filters may carry markup into a job; names and datasets are refused before a row.
    new_jobs = marked_project.store.jobs.list()[
        : len(marked_project.store.jobs.list()) - jobs_before
    ]
    for job in new_jobs:
        assert job.kind not in ("teach", "verify", "export", "train", "experiment")
    assert len(spawned) == len(new_jobs)


async def test_stored_markup_is_shown_as_typed(marked_project):
    app = AcotdApp(marked_project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#source", Select).value = "src[/x]"
        await settle(pilot, 0.2)
        table = screen.query_one("#table")
        assert table.row_count == 1
        rendered = table._get_row_renderables(0).cells[1]  # what the screen draws
        assert rendered.plain == "src[/x]"
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is not screen  # the detail opened
        shown = " ".join(str(w.render()) for w in app.screen.query(Static))
        assert "src[/x]" in shown and "2[/x]" in shown
        await pilot.press("escape")
        await pilot.press("6")
        await settle(pilot)
        table = app.screen.query_one("#job-table")
        notes = [table._get_row_renderables(i).cells[-1].plain for i in range(table.row_count)]
        assert any(EVIL in n for n in notes)
        assert app.is_running


async def test_a_dead_job_reads_stale_on_the_jobs_screen(demo_project):
    """The same word as `acotd status` and `acotd jobs` (tests/test_cli_hardening.py)."""
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job = demo_project.store.jobs.create("export", {"dataset": "x"})
    demo_project.store.jobs.claim(job.id, pid=dead.pid, log_path="")
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await app.switch_mode("jobs")
        await settle(pilot)
        table = app.screen.query_one("#job-table")
        row = table.get_row_at(0)
        assert row[2] == "stale" and row[4] == "" and row[5] == ""  # no rate or ETA
        assert "stale" in str(app.screen.query_one("#job-title", Static).render())
