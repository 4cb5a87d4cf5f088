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
    kinds_of_hard = {i.cot_kind for i in items if i.problem_id in labels and labels[i.problem_id].label == "H"}
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


def test_top_up_replaces_failing_items_by_the_same_level(demo_project, llm_server, point_at, tmp_path):
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
    assert by_replaced[hard[0].problem_id].label == "H" and by_replaced[hard[0].problem_id].cot_kind == "long"
    assert by_replaced[easy[0].problem_id].label == "E" and by_replaced[easy[0].problem_id].cot_kind == "short"
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
    assert {i.problem_id for i in items2} <= {t.replaced_problem_id for t in store.topups.list(ds2.id)}
