"""The app driven through Textual's Pilot with real key presses, against the demo store."""

from __future__ import annotations

import os
import stat
import sys
import textwrap

import pytest
from textual.widgets import DataTable, Input, Select, Static, Switch

from acotd_tui.app import AcotdApp
from acotd_tui.jobs import submit
from acotd_tui.pipeline.sampling import SamplingService
from acotd_tui.pipeline.teach import TeachParams
from acotd_tui.pipeline.verify import VerifyParams
from acotd_tui.store import CotFilter, ProblemFilter

SIZE = (120, 40)


async def settle(pilot, extra: float = 0.05) -> None:
    """Let workers finish and their results render."""
    for _ in range(3):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause(extra)


def text(widget) -> str:
    return str(widget.render())


async def test_dashboard(demo_project):
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        stages = text(app.screen.query_one("#stages", Static))
        assert "problems" in stages and "695" in stages and "attempted" in stages
        labels = text(app.screen.query_one("#labels", Static))
        dist = demo_project.store.stats.pipeline().label_distribution
        assert dist == {"E": 124, "M": 49, "H": 106}  # as test_demo_project_contents
        assert all(str(n) in labels for n in dist.values())
        assert "cap" not in text(app.screen.query_one("#spend", Static))
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.query("HelpPanel")


async def test_dashboard_shows_what_is_left_of_the_spending_cap(demo_project):
    project = demo_project
    project.edit_config({"limits.budget_usd": 25.0})
    with project.store.db.tx() as conn:
        project.store.llm_calls.put(conn, [("k", "m", "litellm", {"text": "", "cost": 5.5}, None)])
    app = AcotdApp(project)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        spend = text(app.screen.query_one("#spend", Static))
        assert "$5.5000 of $25.00 cap" in spend and "$19.50 left" in spend


async def test_problems_filter_search_and_detail(demo_project):
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#table", DataTable)
        assert table.row_count == 200
        assert "of 695 matching" in text(screen.query_one("#status", Static))
        screen.query_one("#source", Select).value = "math"
        await settle(pilot, 0.2)
        assert table.row_count == 200 and {
            table.get_row_at(i)[1] for i in range(table.row_count)
        } == {"math"}
        await pilot.press("slash")
        await pilot.press(*"cubic")
        await pilot.press("enter")
        await settle(pilot, 0.2)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert rows and all(r[1] == "math" for r in rows)
        problem_id = int(rows[0][0])
        assert "cubic" in demo_project.store.problems.get(problem_id).problem
        table.focus()
        await pilot.press("enter")
        await settle(pilot, 0.2)
        assert type(app.screen).__name__ == "ProblemDetailScreen"
        assert f"Problem {problem_id}" in text(app.screen.query(".section-title").first())
        await pilot.press("escape")
        await pilot.pause()
        assert type(app.screen).__name__ == "ProblemsScreen"


async def test_paging_crosses_pages_with_arrow_keys(demo_project):
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one("#table", DataTable)
        await pilot.press("G")
        await settle(pilot)
        assert table.get_row_at(table.row_count - 1)[0] == str(
            max(demo_project.store.problems.ids())
        )
        await pilot.press("g")
        await settle(pilot)
        table.move_cursor(row=199)
        await pilot.press("down")
        await settle(pilot)
        assert table.get_row_at(0)[0] == "201" and table.cursor_row == 0
        await pilot.press("up")
        await settle(pilot)
        assert table.get_row_at(199)[0] == "200" and table.cursor_row == 199


async def test_review_keys_write_human_labels(demo_project):
    store = demo_project.store
    queue = store.grades.queue("emh", "needs_review")
    assert len(queue) == 20  # the demo's count (test_demo_project_contents)
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        assert f"needs review: 1 / {len(queue)}" in text(app.screen.query_one("#position", Static))
        await pilot.press("h")
        await settle(pilot)
        label = store.grades.label(queue[0], "emh")
        assert (label.label, label.source, label.human_label) == ("H", "human", "H")
        assert f"needs review: 2 / {len(queue)}" in text(app.screen.query_one("#position", Static))
        await pilot.press("p")  # back to the first one
        await settle(pilot)
        await pilot.press("u")  # undo: no human label any more
        await settle(pilot)
        assert store.grades.label(queue[0], "emh").human_label is None
        await pilot.press("m")
        await settle(pilot)
        assert store.grades.label(queue[0], "emh").human_label == "M"
        assert [g.source for g in store.grades.history(queue[0], "emh")][-3:] == [
            "human",
            "human",
            "human",
        ]
        await pilot.press("right_square_bracket")  # conflicts queue
        await settle(pilot)
        assert "judge vs check conflicts" in text(app.screen.query_one("#position", Static))
        await pilot.press("4")  # digits are not labels under E/M/H: they switch screens
        await settle(pilot)
        assert type(app.screen).__name__ == "CotsScreen"


async def test_cot_approval_keys(demo_project, tmp_path, monkeypatch):
    service = SamplingService(demo_project)
    service.create("ds", service.default_request(k=12))
    submit(demo_project, "teach", TeachParams(dataset="ds", from_reference=True).to_job())
    submit(demo_project, "verify", VerifyParams(dataset="ds").to_job())
    editor = tmp_path / "editor.py"
    editor.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import sys
        path = sys.argv[1]
        text = open(path).read()
        reasoning, marker, answer = text.partition("----- answer")
        open(path, "w").write("Rewritten by a person.\\n\\n" + marker + answer.split("\\n", 1)[0] + "\\nFinal answer: \\\\boxed{{424242}}\\n")
    """)
    )
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.delenv("VISUAL", raising=False)
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(pilot)
        table = app.screen.query_one("#cot-table", DataTable)
        assert table.row_count == 12
        first, second, third = (int(table.get_row_at(i)[0]) for i in range(3))
        await pilot.press("a")
        await settle(pilot)
        assert demo_project.store.cots.get(first).review == "approved"
        table.move_cursor(row=1)
        await settle(pilot)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press(*"too terse")
        await pilot.press("enter")
        await settle(pilot)
        rejected = demo_project.store.cots.get(second)
        assert rejected.review == "rejected" and rejected.review_note == "too terse"
        table.move_cursor(row=2)
        await settle(pilot)
        await pilot.press("E")
        await settle(pilot, 0.3)
        edited = demo_project.store.cots.get(third)
        assert (
            edited.edited_reasoning == "Rewritten by a person." and edited.final_answer == "424242"
        )
        assert edited.verified is False  # re-verified: 424242 is not the reference
        assert demo_project.store.cots.review_log(third)[-1][0] == "edited"
    assert len(demo_project.store.cots.list(CotFilter(review="rejected"))) == 1


async def test_sampling_form_creates_a_dataset(demo_project):
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(pilot, 0.5)
        k = app.screen.query_one("#k", Input)
        k.value = "100"
        await settle(pilot, 0.5)
        preview = app.screen.query_one("#preview", DataTable)
        assert [preview.get_row_at(i)[2] for i in range(preview.row_count)] == ["44", "18", "38"]  # 124:49:106 over 100, largest remainder
        app.screen.query_one("#name", Input).focus()
        await pilot.press(*"from-the-app")
        await pilot.press("ctrl+s")
        await settle(pilot, 0.3)
    dataset = demo_project.store.datasets.get("from-the-app")
    assert dataset.size == 100 and dataset.params["counts"] == {"E": 44, "M": 18, "H": 38}


async def test_jobs_screen_launches_and_watches_a_job(demo_project):
    service = SamplingService(demo_project)
    service.create("ds", service.default_request(k=10))
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("6")
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        form.query_one("#kind", Select).value = "teach"
        await settle(pilot)
        field = form.query_one("#field-from_reference", Switch)  # a yes/no field is a switch
        field.value = True
        assert (
            form.query_one("#field-dataset", Input).value == "ds"
        )  # prefilled with the latest dataset
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert type(app.screen).__name__ == "JobsScreen"
        for _ in range(200):  # the worker process runs it; the screen watches the store
            job = demo_project.store.jobs.list(limit=1)[0]
            if job.status == "done":
                break
            await pilot.pause(0.1)
        assert job.kind == "teach" and job.status == "done"
        await pilot.pause(1.2)
        await settle(pilot)
        table = app.screen.query_one("#job-table", DataTable)
        assert table.get_row_at(0)[2] == "done"
        assert "10 reference CoTs stored" in text(app.screen.query_one("#job-stats", Static))
    assert demo_project.store.cots.count() == 10


async def test_results_and_settings(demo_project, monkeypatch):
    from acotd_tui.store import EvalSample, problem_hash

    store = demo_project.store
    for name, acc in (("base", [True, False]), ("acotd", [True, True])):
        ev = store.evals.ensure(
            name, "amc23", model="m", adapter="", n=1, params={}, items=2, job_id=None
        )
        with store.db.tx() as conn:
            store.evals.insert_samples(
                conn,
                ev.id,
                [
                    EvalSample(i, 0, problem_hash(f"p{i}"), "1", "1", ok, False, "", "", 1)
                    for i, ok in enumerate(acc)
                ],
            )
        store.evals.finish(ev.id, acc_mean=sum(acc) / 2, acc_std=0.0, cotqs=3.5, detail={})
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app = AcotdApp(demo_project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("7")
        await settle(pilot)
        table = app.screen.query_one("#table3", DataTable)
        rows = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(table.row_count)}
        assert rows["base"][1] == "50.0 ± 0.0" and rows["acotd"][1] == "100.0 ± 0.0"
        await pilot.press("8")
        await settle(pilot)
        roles = app.screen.query_one("#roles", DataTable)
        by_role = {roles.get_row_at(i)[0]: roles.get_row_at(i) for i in range(roles.row_count)}
        assert by_role["judge"][2] == "MISSING" and by_role["student"][2] == "not needed"
        monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
        await pilot.press("ctrl+r")
        await settle(pilot)
        roles = app.screen.query_one("#roles", DataTable)
        row = next(
            roles.get_row_at(i) for i in range(roles.row_count) if roles.get_row_at(i)[0] == "judge"
        )
        assert row[2] == "set" and "sk-secret-value" not in " ".join(map(str, row))


@pytest.mark.slow
async def test_a_million_problems_stay_responsive(tmp_path):
    """1,000,000 problems: the Problems screen opens, counts and pages (timing: bench/tui_latency.py)."""
    from acotd_tui.project import Project

    from .bulk import fill_problems

    project = Project.init(tmp_path / "big")
    fill_problems(project.store, 1_000_000)
    app = AcotdApp(project)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot, 0.2)
        screen = app.screen
        table = screen.query_one("#table", DataTable)
        assert table.row_count == 200
        assert "of 1,000,000 matching" in text(screen.query_one("#status", Static))
        await pilot.press("G")
        await settle(pilot)
        assert table.get_row_at(table.row_count - 1)[0] == "1000000"
        table.move_cursor(row=0)
        await pilot.press("up")  # off the top of the last page: the previous page loads
        await settle(pilot)
        assert table.get_row_at(0)[0] == "999601" and table.cursor_row == 199
    project.close()
    assert os.path.exists(tmp_path / "big" / "acotd.db")


def test_no_sql_in_screens():
    """Screens call services; the store owns every query."""
    from pathlib import Path

    for path in Path(__file__).resolve().parents[1].joinpath("screens").glob("*.py"):
        source = path.read_text()
        for word in ("SELECT ", "INSERT ", "UPDATE ", ".execute("):
            assert word not in source, f"{path.name} contains {word!r}"
    assert ProblemFilter  # imported from the store, used by screens through services
