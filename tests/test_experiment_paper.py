"""The paper's experiment, faithfully: the random arm, top-up to K, thinking off, the tables."""

from __future__ import annotations

from collections import Counter

import pytest

from acotd_tui.errors import AcotdError
from acotd_tui.pipeline.random_arm import (
    UNLABELLED,
    RandomArmRequest,
    acotd_long_share,
    create_random_arm,
    random_pool,
)
from acotd_tui.pipeline.sampling import SamplingService
from acotd_tui.store import ProblemFilter


def test_random_arm_ignores_labels_and_keeps_the_acotd_cot_mix(demo_project):
    """No classification: K problems from the whole pool (unlabelled ones too), kinds assigned
    without labels in the ACoTD arm's short:long proportion."""
    project, store = demo_project, demo_project.store
    service = SamplingService(project)
    acotd = service.create("acotd", service.default_request(k=60, accept_nearest=True))
    acotd_items = store.datasets.items(acotd.id)
    acotd_long = sum(i.cot_kind == "long" for i in acotd_items)
    assert 0 < acotd_long < 60
    assert acotd_long_share(project, 60) == pytest.approx(acotd_long / 60)

    pool, excluded = random_pool(project, RandomArmRequest(k=60))
    everything = store.problems.ids(ProblemFilter())
    labelled = set(store.problems.ids(ProblemFilter(labels=("E", "M", "H"))))
    assert len(pool) + excluded["contaminated"] == len(everything)
    assert set(pool) - labelled  # the pool holds problems nobody graded

    ds = create_random_arm(project, "rand", RandomArmRequest(k=200, seed=7, long_share=0.329))
    items = store.datasets.items(ds.id)
    assert len(items) == 200 and {i.label for i in items} == {UNLABELLED}
    assert Counter(i.cot_kind for i in items) == {"short": 134, "long": 66}  # 671:329 of 200
    assert {i.problem_id for i in items} - labelled  # drawn without regard to labels
    # Kinds do not follow labels: among labelled problems drawn, Hard ones get short CoTs too.
    labels = store.grades.labels("emh", [i.problem_id for i in items])
    kinds_of_hard = {
        i.cot_kind for i in items if i.problem_id in labels and labels[i.problem_id].label == "H"
    }
    assert kinds_of_hard == {"short", "long"}
    assert ds.strategy == "random_pool" and ds.params["counts"] == {"short": 134, "long": 66}

    again = create_random_arm(project, "rand2", RandomArmRequest(k=200, seed=7, long_share=0.329))
    assert [(i.problem_id, i.cot_kind) for i in store.datasets.items(again.id)] == [
        (i.problem_id, i.cot_kind) for i in items
    ]  # seeded
    shorts = create_random_arm(project, "rand-short", RandomArmRequest(k=30, kinds="short"))
    assert {i.cot_kind for i in store.datasets.items(shorts.id)} == {"short"}
    longs = create_random_arm(project, "rand-long", RandomArmRequest(k=30, kinds="long"))
    assert {i.cot_kind for i in store.datasets.items(longs.id)} == {"long"}
    # The default share is the ACoTD plan's.
    default = create_random_arm(project, "rand-acotd", RandomArmRequest(k=60))
    assert sum(i.cot_kind == "long" for i in store.datasets.items(default.id)) == acotd_long

    with pytest.raises(AcotdError, match="accept the nearest plan"):
        create_random_arm(project, "too-big", RandomArmRequest(k=len(pool) + 1, kinds="short"))
    nearest = create_random_arm(
        project, "too-big", RandomArmRequest(k=len(pool) + 1, kinds="short", accept_nearest=True)
    )
    assert nearest.params["shortfall"] == 1 and nearest.size == len(pool)
    with pytest.raises(AcotdError, match="kinds must be"):
        create_random_arm(project, "bad", RandomArmRequest(k=5, kinds="medium"))


def _teacher_rules(project, problem_ids, *, hopeless=()):
    """Short and long teacher replies with the right answer, or a wrong one for `hopeless`."""
    short, long_ = {}, {}
    for problem in project.store.problems.get_many(sorted(problem_ids)):
        answer = "999999" if problem.id in hopeless else problem.answer
        key = problem.problem[:80]
        short[key] = f"Key step.\n\nFinal answer: \\boxed{{{answer}}}"
        long_[key] = "Explained step. " * 30 + f"\n\nFinal answer: \\boxed{{{answer}}}"
    return [
        {"contains": "SHORT chain", "by_prefix": short},
        {"contains": "LONG, careful", "by_prefix": long_},
    ]


def test_top_up_replaces_failing_items_by_the_same_level(
    demo_project, llm_server, point_at, tmp_path
):
    """An item whose CoTs all fail is retired and replaced by an unused problem of the same
    level and kind (seeded, recorded), so the verified set is exactly K; when a level runs
    out, the shortfall is stated in the result and the dataset card."""
    from acotd_tui.jobs import submit
    from acotd_tui.pipeline.export import ExportParams, export_dataset
    from acotd_tui.pipeline.teach import TeachParams, active_items
    from acotd_tui.pipeline.verify import VerifyParams

    project, store = demo_project, demo_project.store
    point_at(project, llm_server, roles=("teacher_short", "teacher_long"))
    service = SamplingService(project)
    ds = service.create("ds", service.default_request(k=12, seed=3))
    first = store.datasets.items(ds.id)
    hard = [i for i in first if i.label == "H"]
    easy = [i for i in first if i.label == "E"]
    hopeless = {hard[0].problem_id, easy[0].problem_id}
    everything = store.problems.ids(ProblemFilter())
    llm_server.configure(rules=_teacher_rules(project, everything, hopeless=hopeless))
    assert submit(project, "teach", TeachParams(dataset="ds").to_job()).status == "done"
    job = submit(
        project,
        "verify",
        VerifyParams(dataset="ds", max_regenerations=0, spot_check_fraction=0.0).to_job(),
    )
    assert job.status == "done", job.error
    assert job.result["replaced"] == 2 and job.result["exportable"] == 12
    assert job.result["shortfall"] == 0
    topups = store.topups.list(ds.id)
    assert {t.replaced_problem_id for t in topups} == hopeless
    by_replaced = {t.replaced_problem_id: t for t in topups}
    assert (
        by_replaced[hard[0].problem_id].label == "H"
        and by_replaced[hard[0].problem_id].cot_kind == "long"
    )
    assert (
        by_replaced[easy[0].problem_id].label == "E"
        and by_replaced[easy[0].problem_id].cot_kind == "short"
    )
    labels = store.grades.labels("emh", [t.problem_id for t in topups])
    assert all(labels[t.problem_id].label == t.label for t in topups)
    active = active_items(store, ds.id)
    assert len(active) == 12 and not hopeless & {i.problem_id for i in active}
    assert Counter(i.label for i in active) == Counter(i.label for i in first)  # the planned mix
    # The first draw is kept as it was; the retired items are traced, not deleted.
    assert [i.problem_id for i in store.datasets.items(ds.id)][:12] == [i.problem_id for i in first]
    card_dir = tmp_path / "export"
    export_dataset(project, ExportParams(dataset="ds", formats=["trl"], out=str(card_dir)))
    card = (card_dir / "README.md").read_text()
    assert "no shortfall" in card and "2 items replaced" in card
    assert "distillation round: 1" in card

    # Items that keep failing after every top-up round: the shortfall is stated by level.
    ds2 = service.create(
        "hard-only",
        service.default_request(k=3, seed=3, strategy="fixed", ratios={"E": 0, "M": 0, "H": 1}),
    )
    items2 = store.datasets.items(ds2.id)
    all_hard = set(store.problems.ids(ProblemFilter(labels=("H",))))
    llm_server.configure(rules=_teacher_rules(project, everything, hopeless=all_hard))
    assert submit(project, "teach", TeachParams(dataset="hard-only").to_job()).status == "done"
    job2 = submit(
        project,
        "verify",
        VerifyParams(dataset="hard-only", max_regenerations=0, spot_check_fraction=0.0).to_job(),
    )
    assert job2.status == "done", job2.error
    assert job2.result["exportable"] == 0 and job2.result["shortfall"] == 3
    assert job2.result["shortfall_by_label"] == {"H": 3}
    assert job2.result["replaced"] == 3 * demo_project.config.verification.max_topup_rounds
    assert "short of the planned 3" in job2.result["message"]
    assert {i.problem_id for i in items2} <= {
        t.replaced_problem_id for t in store.topups.list(ds2.id)
    }


def _fake_eval(store, name, bench, correct, *, cotqs=(4.0, 4.0), truncated=(), adapter=""):
    """A finished evaluation with n = len(correct[0]) samples per item (no model needed)."""
    import statistics

    from acotd_tui.pipeline.evaluate import accuracy
    from acotd_tui.store import EvalSample, problem_hash

    n = len(correct[0])
    ev = store.evals.ensure(
        name, bench, model="m", adapter=adapter, n=n, params={}, items=len(correct), job_id=None
    )
    samples = [
        EvalSample(
            i, j, problem_hash(f"{bench}{i}"), "1", "1", ok, (i, j) in truncated, "", "cot", 1
        )
        for i, row in enumerate(correct)
        for j, ok in enumerate(row)
    ]
    with store.db.tx() as conn:
        store.evals.insert_samples(conn, ev.id, samples)
    mean, std = accuracy(store.evals.samples(ev.id), n)
    store.evals.finish(
        ev.id,
        acc_mean=mean,
        acc_std=std,
        cotqs=statistics.fmean(cotqs),
        detail={
            "cotqs_std": statistics.stdev(cotqs),
            "truncated": len(truncated),
            "samples": len(samples),
        },
    )


def test_paper_tables_layout_avg_and_reference_rows(project, tmp_path):
    from acotd_tui.pipeline.results import ResultsTable, load_reference, write_report

    store = project.store
    both = ("amc23", "aime25")
    _fake_eval(
        store,
        "x-base",
        "amc23",
        [[True, False], [False, False]],
        cotqs=(3.0, 3.5),
        truncated={(1, 1)},
    )
    _fake_eval(store, "x-base", "aime25", [[False, False], [False, False]])
    _fake_eval(store, "x-base-nothink", "amc23", [[False, False], [False, False]])  # no AIME25
    for name, ok in (("x-acotd", True), ("x-random", False), ("x-only_long", True)):
        for bench in both:
            _fake_eval(store, name, bench, [[ok, True], [ok, ok]], cotqs=(4.0, 5.0))
    table = ResultsTable.from_store(store)
    header3, body3 = table.table3()
    header4, body4 = table.table4()
    assert [r[0] for r in body3] == ["x-base", "x-base-nothink", "x-acotd"]
    assert [r[0] for r in body4] == ["x-random", "x-only_long", "x-acotd"]
    assert header3[:5] == ["model", "AMC23 Acc", "AMC23 CoTQS", "AIME25 Acc", "AIME25 CoTQS"]
    # Table 3's rows do not all have AIME25: its Avg is over AMC23 only, and says so.
    assert header3[5:] == ["Avg (AMC23) Acc", "Avg (AMC23) CoTQS", "cut off"]
    assert header4[5:] == ["Avg Acc", "Avg CoTQS", "cut off"]
    base = body3[0]
    assert base[1] == "25.0 ± 35.4" and base[2] == "3.25 ± 0.35"  # runs: 1/2 and 0/2
    assert base[5] == "25.0"  # AMC23 only, not the mean with AIME25's 0
    assert base[7] == "1/8"  # one cut-off sample of 8
    acotd = body4[-1]
    assert acotd[1] == "100.0 ± 0.0" and acotd[5] == "100.0" and acotd[6] == "4.50"
    random_row = body4[0]
    assert random_row[1] == "25.0 ± 35.4"  # runs: 0/2 and 1/2
    gains = table.gains()
    assert gains["x-random"]["amc23"] == pytest.approx(75.0)
    assert "aime25" not in gains["x-base-nothink"]

    table.reference, _ = load_reference()
    _, body4 = table.table4()
    paper_rows = [r for r in body4 if r[0].endswith("(paper)")]
    assert paper_rows and all(r[5] == "-" for r in paper_rows)  # never in an Avg
    assert not any(r[0].endswith("(paper)") for r in table.table3()[1])
    out = tmp_path / "report"
    names = {f.name for f in write_report(store, out, table=table)}
    assert {
        "table3.md",
        "table3.csv",
        "table3.tex",
        "table3.png",
        "table4.tex",
        "gains.png",
    } <= names
    tex = (out / "table4.tex").read_text()
    assert "\\toprule" in tex and "\\bottomrule" in tex and "$\\pm$" in tex
    md = (out / "table4.md").read_text()
    assert "Table 4: ablations vs ACoTD" in md and "(paper)" in md and "not ours" in md


def test_label_transition_matrix(demo_project):
    """Before/after labels from two students' attempts: counts and the problems that moved."""
    from click.testing import CliRunner

    from acotd_tui.cli import main
    from acotd_tui.pipeline.transitions import label_transitions
    from acotd_tui.store import NewAttempt, NewGrade

    store = demo_project.store
    pids = store.problems.ids(limit=6)
    before_model = store.models.ensure("student").id
    after_model = store.models.ensure("student+round1").id
    plan = {
        pids[0]: ("H", "E"),
        pids[1]: ("H", "M"),
        pids[2]: ("M", "E"),
        pids[3]: ("E", "E"),
        pids[4]: ("M", "H"),
    }
    for model_id in (before_model, after_model):
        store.attempts.add(
            [NewAttempt(pid, model_id, "p", 0, "raw", "cot", "1", True) for pid in plan]
        )
    for pid, (before, after) in plan.items():
        for model_id, label in ((before_model, before), (after_model, after)):
            attempt = store.attempts.for_problems([pid], [model_id])[pid][0]
            store.grades.add(
                [
                    NewGrade(
                        pid, "emh", label, "judge", detail={"samples": [{"attempt_id": attempt.id}]}
                    )
                ]
            )
    t = label_transitions(demo_project, "student", "student+round1", "emh")
    assert t.compared == 5
    assert t.count("H", "E") == 1 and t.count("H", "M") == 1 and t.count("E", "E") == 1
    assert t.moved == {
        ("H", "E"): [pids[0]],
        ("H", "M"): [pids[1]],
        ("M", "E"): [pids[2]],
        ("M", "H"): [pids[4]],
    }
    result = CliRunner().invoke(
        main,
        ["results", "-p", str(demo_project.root), "--transitions", "student", "student+round1"],
    )
    assert result.exit_code == 0, result.output
    assert "| H | 1 | 1 | 0 |" in result.output and f"H → E: problems {pids[0]}" in result.output
    bad = CliRunner().invoke(
        main, ["results", "-p", str(demo_project.root), "--transitions", "student", "nobody"]
    )
    assert bad.exit_code != 0 and "no attempts by model 'nobody'" in bad.output
    # A second round samples from the labels now current, and says which round it is.
    made = CliRunner().invoke(
        main,
        ["sample", "create", "round2", "-p", str(demo_project.root), "-k", "5", "--round", "2"],
    )
    assert made.exit_code == 0, made.output
    assert store.topups.round(store.datasets.get("round2").id) == 2


PAPER_FIXED = "/tmp/acotd-snapshots/paper"


def test_results_screen_snapshot_with_both_tables(demo_template, snap_compare, monkeypatch):
    """The Results screen on Table 4 (ablations vs ACoTD); Table 3 is the snapshot of
    tests/test_snapshots.py's results screen."""
    import shutil
    from pathlib import Path

    from acotd_tui.app import AcotdApp
    from acotd_tui.project import Project

    fixed = Path(PAPER_FIXED)
    if fixed.exists():
        shutil.rmtree(fixed)
    fixed.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(demo_template, fixed)
    project = Project.open(fixed)
    for name, ok in (
        ("p-base", False),
        ("p-base-nothink", False),
        ("p-acotd", True),
        ("p-random", False),
        ("p-only_long", True),
    ):
        for bench in ("amc23", "aime25", "math500"):
            _fake_eval(
                project.store,
                name,
                bench,
                [[ok, True], [ok, False]],
                cotqs=(3.5, 4.0),
                truncated={(1, 1)},
            )
    project.close()
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    async def run_before(pilot) -> None:
        for _ in range(3):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.1)
        await pilot.press("7")
        for _ in range(4):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.1)
        pilot.app.screen.query_one("#result-tabs").active = "tab-cotqs"
        await pilot.pause(0.2)
        await pilot.press("ctrl+r")  # reload with the tab shown, so the table is laid out
        for _ in range(4):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.1)

    try:
        assert snap_compare(
            AcotdApp(Project.open(fixed)), terminal_size=(130, 34), run_before=run_before
        )
    finally:
        shutil.rmtree(fixed, ignore_errors=True)


@pytest.mark.slow
def test_thinking_off_on_the_tiny_student(demo_project):
    """--no-thinking reaches the chat template (the tiny Qwen3 template pre-fills an empty
    think block), is stored apart from thinking-on runs, and an unknown adapter is refused."""
    from click.testing import CliRunner

    from acotd_tui.cli import main

    root = str(demo_project.root)
    store = demo_project.store
    args = ["diagnose", "-p", root, "--source", "math", "--limit", "2", "-n", "1"]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = CliRunner().invoke(main, [*args, "--no-thinking"])
    assert result.exit_code == 0, result.output
    on = store.models.ensure("runs/tiny-student")
    off = store.models.ensure("runs/tiny-student#no-thinking")
    assert store.attempts.count(on.id) == 2 and store.attempts.count(off.id) == 2

    ev = [
        "eval",
        "-p",
        root,
        "--benchmark",
        "amc23",
        "--limit",
        "1",
        "-n",
        "1",
        "--max-tokens",
        "8",
        "--no-cotqs",
    ]
    result = CliRunner().invoke(main, [*ev, "--no-thinking"])
    assert result.exit_code == 0, result.output
    evals = {e.name: e for e in store.evals.all()}
    assert evals["runs/tiny-student#no-thinking"].params["sampling"]["enable_thinking"] is False
    result = CliRunner().invoke(main, ev)
    assert result.exit_code == 0, result.output
    assert (
        store.evals.get("runs/tiny-student", "amc23").params["sampling"]["enable_thinking"] is True
    )

    bad = CliRunner().invoke(main, [*args, "--adapter", "no-such-run"])
    assert bad.exit_code != 0 and "no training run 'no-such-run'" in bad.output


def test_experiment_refuses_a_short_plan_and_checked_labels_under_paper(demo_project):
    """Nothing is evaluated or taught when a plan cannot be filled (unless --accept-nearest),
    and --paper refuses a pool labelled under the "checked" rule."""
    from acotd_tui.jobs import submit
    from acotd_tui.pipeline.experiment import ExperimentParams
    from acotd_tui.store import NewGrade

    store = demo_project.store
    hard = len(store.problems.ids(ProblemFilter(labels=("H",))))
    params = ExperimentParams(
        name="short", methods=["fixed_6_3_1"], k=20 * hard, n=1, limit=1, from_reference=True
    )
    job = submit(demo_project, "experiment", params.to_job())
    assert job.status == "failed" and "give --accept-nearest" in job.error
    assert store.evals.all() == [] and not [j for j in store.jobs.list() if j.kind == "teach"]

    pool = store.problems.ids(ProblemFilter(labels=("E",)))[:3]
    store.grades.add(
        [NewGrade(pid, "emh", "E", "judge", detail={"grading_rule": "checked"}) for pid in pool]
    )
    paper = ExperimentParams(name="p", methods=["acotd"], k=10, paper=True, baseline=False)
    job = submit(demo_project, "experiment", paper.to_job())
    assert job.status == "failed" and "made under the 'checked' rule" in job.error
    with pytest.raises(Exception, match="no dataset"):
        store.datasets.get("p-acotd")


def _two_rounds(store, before, after, plan):
    """Attempts and per-problem grades for two students: plan = {pid: (label, label)}."""
    from acotd_tui.store import NewAttempt, NewGrade

    ids = (store.models.ensure(before).id, store.models.ensure(after).id)
    for model_id in ids:
        store.attempts.add(
            [NewAttempt(pid, model_id, "p", 0, "raw", "cot", "1", True) for pid in plan]
        )
    for pid, labels in plan.items():
        for model_id, label in zip(ids, labels, strict=True):
            attempt = store.attempts.for_problems([pid], [model_id])[pid][0]
            store.grades.add(
                [
                    NewGrade(
                        pid, "emh", label, "judge", detail={"samples": [{"attempt_id": attempt.id}]}
                    )
                ]
            )


async def test_results_screen_shows_the_transition_matrix(demo_project, monkeypatch):
    from textual.widgets import DataTable, Static

    from acotd_tui.app import AcotdApp

    store = demo_project.store
    pids = store.problems.ids(limit=3)
    student = demo_project.config.role("student").model
    _two_rounds(
        store,
        student,
        f"{student}+r1",
        {pids[0]: ("H", "E"), pids[1]: ("H", "H"), pids[2]: ("M", "E")},
    )
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    app = AcotdApp(demo_project)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.press("7")
        for _ in range(4):
            await app.workers.wait_for_complete()
            await pilot.pause(0.1)
        app.screen.query_one("#result-tabs").active = "tab-transitions"
        await pilot.pause(0.2)
        table = app.screen.query_one("#transitions", DataTable)
        rows = {table.get_row_at(i)[0]: table.get_row_at(i)[1:] for i in range(table.row_count)}
        assert rows["H"] == ["1", "0", "1"] and rows["M"] == ["1", "0", "0"]  # columns E, M, H
        note = str(app.screen.query_one("#transitions-note", Static).render())
        assert "3 problems graded for both, 2 moved" in note
