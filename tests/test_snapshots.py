"""Snapshot tests (pytest-textual-snapshot): every screen of the app, and the interactions a
person goes through (the job form, rejecting a CoT with a reason, help, an error message,
the ZTE scheme, an 80×24 terminal).

Every test runs on its own copy of the project (under its `tmp_path`, so `pytest -n` runs
never share a folder). The header and the Settings screen show the project folder the way
the app always does, `~/…` under the home folder: each test sets HOME to its `tmp_path`, so
the frames read `~/demo` wherever the copy lives. Everything else shown is made
deterministically (no job logs, no timestamps).

Waits are conditions, never sleeps: `settle` waits until no worker runs, the screen has
handled its messages, animations are done and (optionally) a predicate on the app holds,
within a bounded number of rounds.

Update after an intended change with `pytest tests/test_snapshots.py --snapshot-update`, and
look at the SVGs before committing.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import tomlkit
from textual.pilot import Pilot
from textual.worker import WorkerState

from acotd_tui.app import AcotdApp
from acotd_tui.project import Project
from acotd_tui.store import CotFilter, EvalSample, NewCot, NewGrade, problem_hash

SIZE = (110, 34)
SMALL = (80, 24)  # the smallest terminal the app is meant for

Predicate = Callable[[AcotdApp], bool]


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


# -- the projects -------------------------------------------------------------------------


def _add_dataset_cots_and_evals(root: Path) -> None:
    """A sampled dataset with teacher CoTs (every fifth fails verification) and two finished
    evaluations, so the CoT, Sampling and Results screens have something to show."""
    from acotd_tui.pipeline.sampling import SamplingService

    project = Project.open(root)
    store = project.store
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
    cots = store.cots.list(CotFilter(dataset_id=dataset.id))
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


ZTE_LEVELS = {"E": ("easy",), "M": ("1", "2", "3"), "H": ("4", "5")}
ZTE_ALL = ("easy", "1", "2", "3", "4", "5")
JUDGE = "openai/gpt-4o-mini"


def _regrade_as_zte(root: Path) -> None:
    """Switch the project to the ZTE scheme and give every problem a ZTE grade by a fixed
    rule: a graded problem's level follows its E/M/H label (Easy → easy, Medium → 1-3, Hard →
    4-5, by id), an ungraded E/M/H one needs review, and a problem never graded gets a level
    from its id, so the first page of the Problems table already shows ZTE labels. The config
    is edited as data."""
    config = root / "acotd.toml"
    doc = tomlkit.parse(config.read_text(encoding="utf-8"))
    doc["grading"]["scheme"] = "zte"  # type: ignore[index]
    config.write_text(tomlkit.dumps(doc), encoding="utf-8")
    project = Project.open(root)
    assert project.config.grading.scheme == "zte"
    store = project.store
    emh = store.grades.labels("emh")
    grades = []
    for pid in store.problems.ids():
        label = emh.get(pid)
        if label is None:
            level = ZTE_ALL[pid % len(ZTE_ALL)]
            grades.append(NewGrade(pid, "zte", level, "judge", model=JUDGE))
        elif label.label is None:
            grades.append(NewGrade(pid, "zte", None, "judge", model=JUDGE, needs_review=True))
        else:
            levels = ZTE_LEVELS[label.label]
            grades.append(NewGrade(pid, "zte", levels[pid % len(levels)], "judge", model=JUDGE))
    store.grades.add(grades)
    project.close()


@pytest.fixture(scope="module")
def snapshot_template(demo_template, tmp_path_factory) -> Path:
    """The demo with a dataset, CoTs and evaluations: built once, copied for every test."""
    root = tmp_path_factory.mktemp("snapshot-template") / "demo"
    shutil.copytree(demo_template, root)
    _add_dataset_cots_and_evals(root)
    return root


@pytest.fixture(scope="module")
def zte_template(snapshot_template, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("snapshot-zte") / "demo"
    shutil.copytree(snapshot_template, root)
    _regrade_as_zte(root)
    return root


def _own_copy(template: Path, tmp_path: Path, monkeypatch) -> Path:
    """This test's copy of a template at `tmp_path/demo`, shown as `~/demo`."""
    root = tmp_path / "demo"
    shutil.copytree(template, root)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    return root


@pytest.fixture
def project_root(snapshot_template, tmp_path, monkeypatch) -> Path:
    return _own_copy(snapshot_template, tmp_path, monkeypatch)


@pytest.fixture
def zte_root(zte_template, tmp_path, monkeypatch) -> Path:
    return _own_copy(zte_template, tmp_path, monkeypatch)


def make_app(root: Path) -> AcotdApp:
    return AcotdApp(Project.open(root))


# -- deterministic waits ------------------------------------------------------------------


async def settle(pilot: Pilot, until: Predicate | None = None, rounds: int = 200) -> None:
    """Wait until no worker runs, the screen has handled its messages, animations are over,
    and `until(app)` holds (timers, e.g. a debounced preview, start work later than a key).

    Each round waits for the running workers (a thread worker hands its result to the UI
    with `call_from_thread`, which may start the next worker) and for the screen to be idle.
    Fails, instead of taking a frame of a half-drawn screen, when it does not get there."""
    app = pilot.app
    for _ in range(rounds):
        await pilot.pause()
        busy = [w for w in app.workers if not w.is_finished and w.state != WorkerState.PENDING]
        if busy:
            await asyncio.gather(*(w.wait() for w in busy), return_exceptions=True)
            continue
        if any(w.state == WorkerState.PENDING for w in app.workers):
            continue
        await pilot.wait_for_scheduled_animations()
        if until is None or until(app):
            return
    raise AssertionError(f"the app did not settle in {rounds} rounds")


def shown(app: AcotdApp, selector: str) -> str:
    """The plain text a Static on the current screen shows."""
    return str(app.screen.query_one(selector).visual)


def on_screen(name: str) -> Predicate:
    return lambda app: type(app.screen).__name__ == name


# What each screen is waiting for before its first frame is complete.
READY: dict[str, Predicate] = {
    "dashboard": lambda app: bool(shown(app, "#stages")),
    "problems": lambda app: app.screen.total is not None,  # type: ignore[attr-defined]
    "review": lambda app: app.screen.item is not None,  # type: ignore[attr-defined]
    "cots": lambda app: app.screen.current is not None,  # type: ignore[attr-defined]
    "sampling": lambda app: app.screen.plan is not None,  # type: ignore[attr-defined]
    "jobs": lambda app: True,
    "results": lambda app: True,
    "settings": lambda app: bool(shown(app, "#paths")),
}
KEYS = {
    "dashboard": "",
    "problems": "2",
    "review": "3",
    "cots": "4",
    "sampling": "5",
    "jobs": "6",
    "results": "7",
    "settings": "8",
}


async def go_to(pilot: Pilot, screen: str) -> None:
    """Switch to a screen with its number key and wait until its first frame is complete."""
    await settle(pilot, READY["dashboard"])
    if KEYS[screen]:
        await pilot.press(KEYS[screen])
    await settle(pilot, lambda app: app.current_mode == screen and READY[screen](app))


def open_screen(screen: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await go_to(pilot, screen)

    return run_before


# -- the opening frame of every screen -------------------------------------------------------


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
def test_screen_snapshots(project_root, snap_compare, key, name):
    assert KEYS[name] == key
    assert snap_compare(make_app(project_root), terminal_size=SIZE, run_before=open_screen(name))


def test_problem_detail_snapshot(project_root, snap_compare):
    async def run_before(pilot: Pilot) -> None:
        await go_to(pilot, "problems")
        await pilot.press("enter")
        await settle(pilot, on_screen("ProblemDetailScreen"))

    assert snap_compare(make_app(project_root), terminal_size=SIZE, run_before=run_before)


# -- interactions ------------------------------------------------------------------------------


def test_job_form_for_a_chosen_stage(project_root, snap_compare):
    """Jobs → n opens the form (diagnose); choosing `grade` in the stage list rebuilds the
    fields from the grade stage's model in acotd_tui/stages.py."""

    async def run_before(pilot: Pilot) -> None:
        await go_to(pilot, "jobs")
        await pilot.press("n")
        await settle(pilot, on_screen("JobFormScreen"))
        await pilot.click("#kind")  # open the stage list
        await settle(pilot)
        await pilot.press("down", "enter")  # diagnose → grade
        await settle(pilot, lambda app: bool(app.screen.query("#field-scheme")))
        assert pilot.app.screen.form.kind == "grade"  # type: ignore[attr-defined]

    assert snap_compare(make_app(project_root), terminal_size=SIZE, run_before=run_before)


def test_job_form_refuses_a_bad_value(project_root, snap_compare):
    """A value the stage's model refuses stays in the form with one red line saying why;
    nothing is launched."""

    async def run_before(pilot: Pilot) -> None:
        await go_to(pilot, "jobs")
        await pilot.press("n")
        await settle(pilot, on_screen("JobFormScreen"))
        field = pilot.app.screen.query_one("#field-samples")
        field.focus()
        field.value = ""  # type: ignore[attr-defined]
        await pilot.press(*"-3")
        await pilot.press("ctrl+s")
        await settle(pilot, lambda app: bool(shown(app, "#form-error")))
        assert pilot.app.project.store.jobs.list() == []

    assert snap_compare(make_app(project_root), terminal_size=SIZE, run_before=run_before)


def test_reject_a_cot_with_a_reason(project_root, snap_compare):
    """CoTs → r asks why; the frame shows the dialog with the reason typed in."""

    async def run_before(pilot: Pilot) -> None:
        await go_to(pilot, "cots")
        await pilot.press("r")
        await settle(pilot, on_screen("Prompt"))
        await pilot.press(*"skips the key step")
        await settle(pilot)

    assert snap_compare(make_app(project_root), terminal_size=SIZE, run_before=run_before)


def test_rejected_cot_shows_its_reason(project_root, snap_compare):
    """Enter in the dialog rejects the CoT: the table and the detail show the reason."""

    async def run_before(pilot: Pilot) -> None:
        await go_to(pilot, "cots")
        first = pilot.app.screen.current.cot.id  # type: ignore[attr-defined]
        await pilot.press("r")
        await settle(pilot, on_screen("Prompt"))
        await pilot.press(*"skips the key step", "enter")
        await settle(pilot, lambda app: "rejected - skips" in shown(app, "#cot-facts"))
        assert pilot.app.project.store.cots.get(first).review == "rejected"
        pilot.app.clear_notifications()  # the toast's text is in the detail already

    assert snap_compare(make_app(project_root), terminal_size=SIZE, run_before=run_before)


def test_help_panel(project_root, snap_compare):
    """`?` shows the keys of the current screen beside it."""

    async def run_before(pilot: Pilot) -> None:
        await go_to(pilot, "problems")
        await pilot.press("question_mark")
        await settle(pilot, lambda app: bool(app.screen.query("HelpPanel")))

    assert snap_compare(make_app(project_root), terminal_size=SIZE, run_before=run_before)


def test_error_notification(project_root, snap_compare):
    """Bad ratios on the Sampling screen: the preview says why in red, and creating the
    dataset is refused with a one-line error notification; no dataset is written."""

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        app.NOTIFICATION_TIMEOUT = 3600  # the toast must outlast a slow machine's frame
        await go_to(pilot, "sampling")
        before = len(app.project.store.datasets.all())
        screen = app.screen
        screen.query_one("#strategy").value = "fixed"  # type: ignore[attr-defined]
        ratios = screen.query_one("#ratios")
        ratios.focus()
        ratios.value = ""  # type: ignore[attr-defined]
        await pilot.press(*"6:3:x")
        screen.query_one("#name").focus()
        await pilot.press(*"broken")
        await settle(pilot, lambda app: "not a number" in shown(app, "#preview-notes"))
        await pilot.press("ctrl+s")
        await settle(pilot, lambda app: bool(app.screen.query("Toast")))
        assert len(app.project.store.datasets.all()) == before

    assert snap_compare(make_app(project_root), terminal_size=SIZE, run_before=run_before)


# -- the ZTE scheme ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["problems", "review", "sampling"])
def test_zte_scheme(zte_root, snap_compare, name):
    """A project graded easy / 1-5: the labels in the table and its filter, the review keys
    and agreement, the plan per level."""
    assert snap_compare(make_app(zte_root), terminal_size=SIZE, run_before=open_screen(name))


# -- an 80×24 terminal --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["dashboard", "problems", "sampling"])
def test_small_terminal(project_root, snap_compare, name):
    """The smallest terminal the app is meant for: nothing essential cut off."""
    assert snap_compare(make_app(project_root), terminal_size=SMALL, run_before=open_screen(name))


def test_shown_path_abbreviates_the_home_folder_only(tmp_path, monkeypatch):
    """The header's path: `~/…` under HOME, the home folder itself as `~`, anything else as
    it is (a sibling folder whose name starts like HOME's is not under it)."""
    from acotd_tui.formatting import shown_path

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    assert shown_path(home / "projects" / "demo") == "~/projects/demo"
    assert shown_path(home) == "~"
    assert shown_path(tmp_path / "home2" / "demo") == str(tmp_path / "home2" / "demo")
    assert shown_path(Path("/srv/demo")) == "/srv/demo"
