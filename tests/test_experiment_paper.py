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
