"""Sampling: exact counts by formula, seeds, shortfalls, filters, human labels first."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main
from acotd_tui.decontam import NgramIndex
from acotd_tui.errors import AcotdError
from acotd_tui.pipeline.review import ReviewService
from acotd_tui.pipeline.sampling import SamplingService, algorithm2, largest_remainder, nearest_plan
from acotd_tui.store import NewGrade, StoreError


@pytest.mark.parametrize(
    ("total", "weights", "expected"),
    [
        (100, {"E": 126, "M": 48, "H": 105}, {"E": 45, "M": 17, "H": 38}),
        (10, {"E": 6, "M": 3, "H": 1}, {"E": 6, "M": 3, "H": 1}),
        (7, {"a": 1, "b": 1, "c": 1}, {"a": 3, "b": 2, "c": 2}),
        (5, {"a": 0, "b": 2}, {"a": 0, "b": 5}),
    ],
)
def test_largest_remainder(total, weights, expected):
    assert largest_remainder(total, weights) == expected


def test_largest_remainder_always_sums_exactly():
    import random

    rng = random.Random(3)
    for _ in range(500):
        weights = {k: rng.randint(0, 50) for k in "EMH"}
        if not any(weights.values()):
            continue
        total = rng.randint(1, 5000)
        counts = largest_remainder(total, weights)
        assert sum(counts.values()) == total
        for k, w in weights.items():  # each count within 1 of its exact share
            assert abs(counts[k] - total * w / sum(weights.values())) < 1


def test_algorithm2_and_nearest_plan():
    assert algorithm2(30, {"E": 126, "M": 48, "H": 105}) == {
        "E": 79,
        "M": 30,
        "H": 66,
    }  # 78.75, 65.6
    assert nearest_plan({"E": 120, "M": 60, "H": 20}, {"E": 126, "M": 48, "H": 105}) == {
        "E": 126,
        "M": 48,
        "H": 26,
    }
    assert nearest_plan({"E": 5, "M": 5}, {"E": 3, "M": 2}) == {"E": 3, "M": 2}


def test_adaptive_k100_on_the_demo_matches_the_formula(demo_project):
    service = SamplingService(demo_project)
    request = service.default_request(k=100)
    plan = service.preview(request)
    n = sum(plan.available.values())
    exact = {label: 100 * plan.available[label] / n for label in plan.labels}
    assert plan.wanted == largest_remainder(100, plan.available)
    assert all(abs(plan.wanted[label] - exact[label]) < 1 for label in plan.labels)
    dataset = service.create("k100", request)
    items = demo_project.store.datasets.items(dataset.id)
    assert len(items) == 100
    counts = {label: sum(1 for i in items if i.label == label) for label in plan.labels}
    assert counts == plan.wanted
    assert {i.cot_kind for i in items if i.label in ("E", "M")} == {"short"}
    assert {i.cot_kind for i in items if i.label == "H"} == {"long"}
    # Frozen: the same name cannot be written again.
    with pytest.raises(StoreError, match="already exists"):
        service.create("k100", request)
    # The same seed picks the same problems; another seed does not.
    again = service.create("k100-again", request)
    other = service.create("k100-seed1", service.default_request(k=100, seed=1))
    ids = lambda d: [i.problem_id for i in demo_project.store.datasets.items(d.id)]  # noqa: E731
    assert ids(again) == ids(dataset) and ids(other) != ids(dataset)


def test_shortfall_is_reported_and_nearest_plan_taken_on_request(demo_project):
    service = SamplingService(demo_project)
    request = service.default_request(k=200, strategy="fixed", ratios={"E": 6, "M": 3, "H": 1})
    plan = service.preview(request)
    assert not plan.feasible and plan.shortfall["M"] > 0
    with pytest.raises(AcotdError, match="not enough problems for the plan"):
        service.create("too-big", request)
    dataset = service.create(
        "nearest",
        service.default_request(
            k=200, strategy="fixed", ratios={"E": 6, "M": 3, "H": 1}, accept_nearest=True
        ),
    )
    assert dataset.size == 200 and dataset.params["counts"]["M"] == plan.available["M"]


def test_other_strategies_and_ablations(demo_project):
    service = SamplingService(demo_project)
    rnd = service.create("random", service.default_request(k=50, strategy="random", seed=7))
    assert rnd.size == 50
    medium = service.create("alg2", service.default_request(k=10, strategy="adaptive_medium"))
    assert medium.params["counts"]["M"] == 10
    short_only = service.create("short", service.default_request(k=40, cot_mode="short"))
    assert {i.cot_kind for i in demo_project.store.datasets.items(short_only.id)} == {"short"}
    long_only = service.create("long", service.default_request(k=40, cot_mode="long"))
    assert {i.cot_kind for i in demo_project.store.datasets.items(long_only.id)} == {"long"}


def test_zte_curriculum(demo_project):
    store = demo_project.store
    ids = store.problems.ids(limit=60)
    levels = ["easy", "1", "2", "3", "4", "5"]
    store.grades.add([NewGrade(pid, "zte", levels[i % 6], "judge") for i, pid in enumerate(ids)])
    service = SamplingService(demo_project)
    request = service.default_request(
        k=12,
        strategy="curriculum",
        scheme="zte",
        ratios={"easy": 1, "1": 1, "2": 2, "3": 3, "4": 3, "5": 2},
        cot_mode="auto",  # keep the short/long split (the ZTE default is long for all)
    )
    dataset = service.create("curr", request)
    assert dataset.params["counts"] == {"easy": 1, "1": 1, "2": 2, "3": 3, "4": 3, "5": 2}
    kinds = {i.label: i.cot_kind for i in store.datasets.items(dataset.id)}
    assert kinds["5"] == "long" and kinds["2"] == "short"
    # The ZTE defaults: weights decrease with level, and every CoT is long.
    weights = demo_project.config.sampling.curriculum
    order = ["easy", "1", "2", "3", "4", "5"]
    assert all(weights[a] > weights[b] for a, b in zip(order, order[1:], strict=False))
    default = service.create(
        "curr-default",
        service.default_request(k=12, strategy="curriculum", scheme="zte", ratios=dict(weights)),
    )
    assert {i.cot_kind for i in store.datasets.items(default.id)} == {"long"}
    counts = default.params["counts"]
    assert counts["easy"] >= counts["3"] >= counts["5"]


def test_human_labels_take_precedence_and_conflicts_follow_the_grading_rule(demo_project):
    service = SamplingService(demo_project)
    before = service.preview(service.default_request(k=10)).available
    easy = demo_project.store.problems.ids(
        __import__("acotd_tui.store", fromlist=["ProblemFilter"]).ProblemFilter(labels=("E",))
    )[:3]
    review = ReviewService(demo_project.store, "emh")
    for pid in easy:
        review.set_label(pid, "H")
    after = service.preview(service.default_request(k=10)).available
    assert after["E"] == before["E"] - 3 and after["H"] == before["H"] + 3
    # A fresh judge-vs-check conflict keeps its problem out, unless asked. The demo already
    # holds some conflicts (experts who disagree, issue 16): count them under "checked" first.
    def use_rule(rule: str) -> SamplingService:
        other = "checked" if rule == "paper" else "paper"
        assert demo_project.config.grading.rule == other
        demo_project.edit_config({"grading.rule": rule})
        return SamplingService(demo_project)

    held_before = use_rule("checked").preview(service.default_request(k=10)).excluded["conflict"]
    service = use_rule("paper")
    target = demo_project.store.problems.ids(
        __import__("acotd_tui.store", fromlist=["ProblemFilter"]).ProblemFilter(labels=("M",))
    )[0]
    demo_project.store.grades.add(
        [
            NewGrade(
                target, "emh", "M", "judge", conflict="judge says Medium but the answer is right"
            )
        ]
    )
    # Under the paper's rule (the default) the judge's verdict stands: the conflict is queued
    # for review but stays in the pool.
    assert demo_project.config.grading.rule == "paper"
    assert target in service.preview(service.default_request(k=10)).pool["M"]
    # Under the "checked" rule it stays out, unless asked.
    service = use_rule("checked")
    plan = service.preview(service.default_request(k=10))
    assert plan.excluded["conflict"] == held_before + 1 and target not in plan.pool["M"]
    assert (
        target in service.preview(service.default_request(k=10, include_conflicts=True)).pool["M"]
    )


def test_decontamination_drops_benchmark_copies(demo_project, tmp_path):
    from acotd_tui.benchmarks import load_benchmark
    from acotd_tui.importing import import_files

    bench = load_benchmark("math500").items[:3]
    path = tmp_path / "leak.jsonl"
    path.write_text(
        "".join(json.dumps({"problem": b.problem + " ", "answer": b.answer}) + "\n" for b in bench)
    )
    import_files(demo_project.store, [path])
    leaked = [demo_project.store.problems.id_by_hash(b.problem) for b in bench]
    demo_project.store.grades.add([NewGrade(pid, "emh", "M", "judge") for pid in leaked])
    service = SamplingService(demo_project)
    plan = service.preview(service.default_request(k=10))
    assert plan.excluded["contaminated"] >= 3 and not set(leaked) & set(plan.pool["M"])
    kept = service.preview(service.default_request(k=10, decontaminate=False))
    assert set(leaked) <= set(kept.pool["M"])


def test_ngram_index():
    index = NgramIndex.from_texts(
        ["What is the sum of all positive divisors of 36 that are also perfect squares here?"], n=8
    )
    assert index.contaminated(
        "Reworded: what is the sum of all positive divisors of 36 that are even?"
    )
    assert not index.contaminated("Compute the product of all divisors of 36.")
    short = NgramIndex.from_texts(["Find x."], n=8)
    assert short.contaminated("find  X.") and not short.contaminated("Find y.")


def test_sample_cli(demo_project):
    runner = CliRunner()
    preview = runner.invoke(main, ["sample", "preview", "-p", str(demo_project.root), "-k", "100"])
    assert preview.exit_code == 0 and "total planned: 100" in preview.output
    create = ["sample", "create", "x", "-p", str(demo_project.root), "-k", "300"]
    create += ["--strategy", "fixed", "--ratios", "6:3:1"]
    bad = runner.invoke(main, create)
    assert bad.exit_code == 1 and "not enough problems" in bad.output
    assert demo_project.store.datasets.all() == []
    ok = runner.invoke(main, [*create, "--accept-nearest"])
    assert ok.exit_code == 0, ok.output
    listing = runner.invoke(main, ["sample", "list", "-p", str(demo_project.root)])
    assert "x" in listing.output and "fixed" in listing.output
    wrong = runner.invoke(
        main, ["sample", "preview", "-p", str(demo_project.root), "--ratios", "6:3"]
    )
    assert wrong.exit_code == 1 and "needs three numbers" in wrong.output
