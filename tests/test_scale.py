"""Sampling at scale: plans and draws identical to the original (scan-everything) sampler.

`legacy_plan` / `legacy_draw` are the sampler as it was before counting moved into the store
(issue 14): every problem read, every label looked up, every text run through the n-gram
index on every preview. They are the oracle: the fast sampler must give the same counts per
level, the same exclusions, the same pool and the same problems for a seed, on a small store
with every kind of pool member (conflicts, human overrides, benchmark copies, several
sources and domains, both schemes).
"""

from __future__ import annotations

import random

import pytest

from acotd_tui.benchmarks import load_benchmark
from acotd_tui.decontam import benchmark_index
from acotd_tui.pipeline.sampling import (
    Plan,
    SamplingRequest,
    SamplingService,
    algorithm2,
    largest_remainder,
    nearest_plan,
)
from acotd_tui.store import SCHEME_LABELS, NewGrade, NewProblem, PoolScope, ProblemFilter

SOURCES = ("gsm8k", "math", "numina")


_INDEXES: dict = {}


def _legacy_index(project):
    """The benchmark n-gram index, built once per test store (the bundled sets never change)."""
    key = (str(project.root), tuple(project.config.eval.benchmarks), project.config.sampling.ngram)
    if key not in _INDEXES:
        _INDEXES.clear()
        _INDEXES[key] = benchmark_index(key[1], key[2], project.store)
    return _INDEXES[key]


def legacy_pool(project, request: SamplingRequest):
    store = project.store
    labels = SCHEME_LABELS[request.scheme]
    ids = store.problems.ids(
        ProblemFilter(
            sources=tuple(request.sources),
            domain=request.domain,
            labels=labels,
            scheme=request.scheme,
        )
    )
    current = store.grades.labels(request.scheme, ids)
    excluded = {"conflict": 0, "contaminated": 0}
    keep = []
    for pid in ids:
        lab = current[pid]
        if lab.conflict and lab.human_label is None and not request.include_conflicts:
            excluded["conflict"] += 1
            continue
        keep.append(pid)
    if request.decontaminate and keep:
        index = _legacy_index(project)
        clean = []
        for problem in store.problems.get_many(keep):
            if index.contaminated(problem.problem):
                excluded["contaminated"] += 1
            else:
                clean.append(problem.id)
        keep = clean
    by_label: dict[str, list[int]] = {label: [] for label in labels}
    for pid in keep:
        by_label[current[pid].label].append(pid)
    return by_label, excluded


def legacy_plan(project, request: SamplingRequest) -> dict:
    labels = SCHEME_LABELS[request.scheme]
    pool, excluded = legacy_pool(project, request)
    available = {label: len(pool[label]) for label in labels}
    total = sum(available.values())
    if request.strategy == "adaptive":
        wanted = largest_remainder(request.k, {lab: float(available[lab]) for lab in labels})
    elif request.strategy == "adaptive_medium":
        wanted = algorithm2(request.k, available)
    elif request.strategy in ("fixed", "curriculum"):
        wanted = largest_remainder(
            request.k, {lab: float(request.ratios.get(lab, 0)) for lab in labels}
        )
    else:
        short = max(0, request.k - total)
        return {
            "available": available,
            "wanted": {"*": request.k},
            "shortfall": {"*": short},
            "nearest": {"*": total} if short else None,
            "excluded": excluded,
            "pool": pool,
        }
    shortfall = {lab: max(0, wanted[lab] - available[lab]) for lab in labels}
    nearest = nearest_plan(wanted, available) if any(shortfall.values()) else None
    return {
        "available": available,
        "wanted": wanted,
        "shortfall": shortfall,
        "nearest": nearest,
        "excluded": excluded,
        "pool": pool,
    }


def legacy_draw(project, request: SamplingRequest) -> list[tuple[int, str]]:
    """(problem id, label) in dataset order, as the original `create` drew them."""
    plan = legacy_plan(project, request)
    rng = random.Random(request.seed)
    if request.strategy == "random":
        everything = sorted((pid, lab) for lab, ids in plan["pool"].items() for pid in ids)
        return rng.sample(everything, min(request.k, len(everything)))
    final = plan["wanted"] if not any(plan["shortfall"].values()) else plan["nearest"]
    items: list[tuple[int, str]] = []
    for label in SCHEME_LABELS[request.scheme]:
        chosen = rng.sample(sorted(plan["pool"][label]), final.get(label, 0))
        items += [(pid, label) for pid in chosen]
    rng.shuffle(items)
    return items


def build_pool(project, n: int = 900, seed: int = 5) -> dict[str, list[int]]:
    """A small store with every kind of pool member; returns notable problem ids."""
    rng = random.Random(seed)
    store = project.store
    leaks = [item.problem for item in load_benchmark("math500").items[:12]]
    leaks += [item.problem for item in load_benchmark("gsm8k_test").items[:8]]
    problems = []
    for i in range(n):
        text = f"Problem {i}: a tank holds {i % 37} litres and fills at {i % 11} litres per minute; how long until {i} litres?"
        if i % 45 == 0 and leaks:
            text = leaks.pop() + ("" if i % 2 else f" (variant {i})")
        problems.append(
            NewProblem(
                problem=text,
                answer=str(i),
                source=SOURCES[i % 3],
                split="train" if i % 5 else "test",
                domain="code" if i % 17 == 0 else "math",
            )
        )
    store.problems.add(problems)
    ids = store.problems.ids()
    grades = []
    emh, zte = SCHEME_LABELS["emh"], SCHEME_LABELS["zte"]
    for pid in ids:
        if rng.random() < 0.08:
            continue  # ungraded
        weights = (6, 3, 1) if pid % 2 else (2, 5, 3)
        label = rng.choices(emh, weights=weights)[0]
        conflict = "judge vs check" if rng.random() < 0.06 else None
        grades.append(NewGrade(pid, "emh", label, "judge", conflict=conflict))
        if rng.random() < 0.7:
            grades.append(NewGrade(pid, "zte", rng.choice(zte), "judge", conflict=conflict))
    store.grades.add(grades)
    conflicts = [pid for pid in ids if (lab := store.grades.label(pid, "emh")) and lab.conflict]
    humans = []
    for pid in rng.sample(ids, 60):  # human labels, some on conflicts, some cleared again
        store.grades.add([NewGrade(pid, "emh", rng.choice(emh), "human")])
        humans.append(pid)
    for pid in conflicts[:5]:
        store.grades.add([NewGrade(pid, "emh", "H", "human")])
    for pid in humans[:10]:
        store.grades.add([NewGrade(pid, "emh", None, "human")])
    # A later automatic grade that resolves a conflict, and one that introduces one.
    store.grades.add([NewGrade(conflicts[-1], "emh", "M", "judge")])
    store.grades.add([NewGrade(ids[3], "emh", "E", "rule", conflict="new conflict")])
    return {"ids": ids, "conflicts": conflicts, "humans": humans}


REQUESTS = [
    dict(k=50),
    dict(k=400),
    dict(k=800, accept_nearest=True),
    dict(k=300, strategy="fixed", ratios={"E": 6, "M": 3, "H": 1}),
    dict(k=300, strategy="fixed", ratios={"E": 6, "M": 3, "H": 1}, accept_nearest=True),
    dict(k=60, strategy="adaptive_medium"),
    dict(k=500, strategy="adaptive_medium", accept_nearest=True),
    dict(k=120, strategy="random", seed=7),
    dict(k=5000, strategy="random", accept_nearest=True),
    dict(k=100, include_conflicts=True),
    dict(k=100, decontaminate=False),
    dict(k=90, sources=["math", "numina"], seed=3),
    dict(k=40, domain="code"),
    dict(k=70, sources=["gsm8k"], domain="math", include_conflicts=True, decontaminate=False),
    dict(
        k=12,
        strategy="curriculum",
        scheme="zte",
        ratios={"easy": 1, "1": 1, "2": 2, "3": 3, "4": 3, "5": 2},
    ),
    dict(k=200, scheme="zte", seed=11),
]


def _plan_dict(plan: Plan) -> dict:
    return {
        "available": plan.available,
        "wanted": plan.wanted,
        "shortfall": plan.shortfall,
        "nearest": plan.nearest,
        "excluded": plan.excluded,
        "pool": {label: sorted(ids) for label, ids in plan.pool.items()},
    }


@pytest.fixture
def pooled(project):
    # The plans were pinned under the "checked" grading rule (conflicts left out of the pool
    # unless asked), so that both the held-out and the kept cases are exercised.
    assert project.config.grading.rule == "paper"
    project.edit_config({"grading.rule": "checked"})
    notable = build_pool(project)
    return project, notable


def test_plans_are_identical_to_the_original_sampler(pooled):
    project, _ = pooled
    service = SamplingService(project)
    for changes in REQUESTS:
        request = service.default_request(**changes)
        expected = legacy_plan(project, request)
        expected["pool"] = {label: sorted(ids) for label, ids in expected["pool"].items()}
        got = _plan_dict(service.preview(request))
        assert got == expected, changes
    # The store is not trivial: something of every kind is excluded or kept.
    plan = service.preview(service.default_request(k=10))
    assert plan.excluded["conflict"] > 10 and plan.excluded["contaminated"] >= 10


def test_draws_are_identical_to_the_original_sampler_and_deterministic(pooled):
    project, _ = pooled
    service = SamplingService(project)
    for n, changes in enumerate(REQUESTS):
        request = service.default_request(**changes)
        if not service.preview(request).feasible and not request.accept_nearest:
            continue
        dataset = service.create(f"set-{n}", request)
        items = project.store.datasets.items(dataset.id)
        assert [(i.problem_id, i.label) for i in items] == legacy_draw(project, request), changes
        again = service.create(f"again-{n}", request)
        assert [i.problem_id for i in project.store.datasets.items(again.id)] == [
            i.problem_id for i in items
        ]


def test_maintained_counts_match_a_recount_after_every_kind_of_change(pooled):
    project, notable = pooled
    store = project.store

    def recount():
        rows = store.db.query(
            "SELECT l.scheme, l.label, p.source, p.domain,"
            " (l.conflict = 1 AND l.human_label IS NULL), COUNT(*)"
            " FROM labels l JOIN problems p ON p.id = l.problem_id WHERE l.label IS NOT NULL"
            " GROUP BY 1, 2, 3, 4, 5"
        )
        return {tuple(r[:5]): r[5] for r in rows}

    def maintained():
        rows = store.db.query("SELECT scheme, label, source, domain, held, n FROM label_counts")
        return {tuple(r[:5]): r[5] for r in rows if r[5]}

    def recount_hits():
        rows = store.db.query(
            "SELECT h.fingerprint, l.scheme, l.label, p.source, p.domain,"
            " (l.conflict = 1 AND l.human_label IS NULL), COUNT(*)"
            " FROM decontam_hits h JOIN labels l ON l.problem_id = h.problem_id"
            " JOIN problems p ON p.id = h.problem_id WHERE l.label IS NOT NULL"
            " GROUP BY 1, 2, 3, 4, 5, 6"
        )
        return {tuple(r[:6]): r[6] for r in rows}

    def maintained_hits():
        rows = store.db.query("SELECT * FROM decontam_counts")
        return {tuple(r[:6]): r[6] for r in rows if r[6]}

    assert maintained() == recount()
    service = SamplingService(project)
    key = service.decontam_fingerprint()
    hits = store.pool.hit_ids(key)
    assert len(hits) >= 10 and maintained_hits() == recount_hits()
    pid = notable["conflicts"][0]
    store.grades.add([NewGrade(pid, "emh", "E", "human")])  # conflict resolved by a human
    store.grades.add([NewGrade(pid, "emh", None, "human")])  # and handed back
    store.grades.add([NewGrade(notable["ids"][0], "emh", None, "judge")])  # label cleared
    store.grades.add([NewGrade(hits[0], "emh", "H", "human")])  # an overlap relabelled
    store.grades.add([NewGrade(hits[1], "emh", "M", "judge", conflict="c")])  # and held
    with store.db.tx() as conn:  # problems moved to another source, deleted, rewritten
        for moved in (notable["ids"][1], hits[2]):
            conn.execute("UPDATE problems SET source = 'moved' WHERE id = ?", (moved,))
        for gone in (notable["ids"][2], hits[3]):
            conn.execute("DELETE FROM problems WHERE id = ?", (gone,))
        conn.execute("UPDATE problems SET problem = 'now clean' WHERE id = ?", (hits[4],))
    assert maintained() == recount()
    assert maintained_hits() == recount_hits()
    # The rewritten problem is checked again (and found clean); the counts follow.
    service.decontam_fingerprint()
    assert hits[4] not in store.pool.hit_ids(key) and hits[5] in store.pool.hit_ids(key)
    assert maintained_hits() == recount_hits()
    scanned: dict = {}
    for r in store.db.query(
        "SELECT p.source, l.label, COUNT(*) FROM labels l JOIN problems p ON p.id = l.problem_id"
        " WHERE l.scheme = 'emh' AND l.label IS NOT NULL GROUP BY p.source, l.label"
    ):
        scanned.setdefault(r[0], {})[r[1]] = r[2]
        scanned.setdefault("(all)", {})
        scanned["(all)"][r[1]] = scanned["(all)"].get(r[1], 0) + r[2]
    assert store.grades.distribution("emh") == scanned


def test_label_filtered_counts_match_the_scan(pooled):
    project, _ = pooled
    store = project.store
    filters = [
        ProblemFilter(labels=("E",)),
        ProblemFilter(labels=("E", "H"), sources=("math",)),
        ProblemFilter(labels=("M",), domain="code"),
        ProblemFilter(labels=("3",), scheme="zte", sources=("gsm8k", "numina")),
        ProblemFilter(unlabelled=True),
        ProblemFilter(unlabelled=True, sources=("math",), domain="math"),
        ProblemFilter(labels=("E",), text="tank"),
    ]
    for flt in filters:
        where, params = flt.where()
        scan = store.db.scalar(f"SELECT COUNT(*) FROM problems p WHERE {where}", params)
        assert store.problems.count(flt) == scan > 0, flt


def test_decontamination_is_computed_once_and_only_for_what_changed(project, tmp_path, monkeypatch):
    import json

    from acotd_tui import decontam
    from acotd_tui.importing import ImportOptions, import_files

    as_math_test = ImportOptions(source="math", split="test")
    build_pool(project, n=200)
    checked: list[str] = []
    original = decontam.NgramIndex.contaminated

    def spy(self, text):
        checked.append(text)
        return original(self, text)

    monkeypatch.setattr(decontam.NgramIndex, "contaminated", spy)
    service = SamplingService(project)
    first = service.preview(service.default_request(k=10))
    assert len(checked) == 200  # every problem once, labelled or not
    checked.clear()
    again = service.preview(service.default_request(k=20, strategy="fixed", ratios={"E": 1}))
    assert checked == [] and again.excluded == first.excluded  # a preview is counting
    # An import checks only its new problems, for the set in use, and the plan follows.
    leak = load_benchmark("aime25").items[0].problem
    path = tmp_path / "new.jsonl"
    path.write_text(
        json.dumps({"problem": leak, "answer": "1"})
        + "\n"
        + json.dumps(
            {"problem": "A fresh problem about seven apples and two pears.", "answer": "9"}
        )
        + "\n"
    )
    import_files(project.store, [path])
    assert sorted(checked) == sorted([leak, "A fresh problem about seven apples and two pears."])
    checked.clear()
    leaked = project.store.problems.id_by_hash(leak)
    project.store.grades.add([NewGrade(leaked, "emh", "H", "judge")])
    plan = service.preview(service.default_request(k=10))
    assert checked == [] and plan.excluded["contaminated"] == first.excluded["contaminated"] + 1
    assert leaked not in plan.pool["H"]
    # Another n-gram size is another benchmark set: checked in full, once.
    project.config.sampling.ngram = 8
    SamplingService(project).preview(service.default_request(k=10))
    assert len(checked) == 202
    checked.clear()
    SamplingService(project).preview(service.default_request(k=10))
    assert checked == []
    # An imported benchmark split changes the set's version when its problems change.
    project.config.eval.benchmarks = [*project.config.eval.benchmarks, "math/test"]
    bench = tmp_path / "math_test.jsonl"
    bench.write_text(
        json.dumps({"problem": "Benchmark problem number one about a square.", "answer": "4"})
        + "\n"
    )
    import_files(project.store, [bench], as_math_test)
    before = decontam.fingerprint(project.config.eval.benchmarks, 8, project.store)
    bench.write_text(
        json.dumps({"problem": "Benchmark problem number two about a circle.", "answer": "5"})
        + "\n"
    )
    import_files(project.store, [bench], as_math_test)
    assert decontam.fingerprint(project.config.eval.benchmarks, 8, project.store) != before


async def test_sampling_screen_drops_a_stale_plan_that_finishes_last(pooled, monkeypatch):
    import asyncio
    import threading

    from textual.widgets import DataTable, Input

    from acotd_tui.app import AcotdApp

    project, _ = pooled
    app = AcotdApp(project)

    async def until(condition, timeout=10.0):
        for _ in range(int(timeout / 0.01)):
            if condition():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("timed out")

    async with app.run_test(size=(140, 45)) as pilot:
        await pilot.press("5")
        screen = app.screen
        await until(lambda: getattr(screen, "plan", None) is not None)
        real = app.services.sampling_preview
        release, started = threading.Event(), threading.Event()

        def slow_for_seven(request):
            if request.k == 7:
                started.set()
                release.wait(10)  # the older request finishes after the newer one
            return real(request)

        monkeypatch.setattr(app.services, "sampling_preview", slow_for_seven)
        screen.query_one("#k", Input).value = "7"
        await until(started.is_set)
        screen.query_one("#k", Input).value = "100"
        await until(lambda: screen.plan.request.k == 100)
        release.set()
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause(0.1)
        assert screen.plan.request.k == 100
        table = screen.query_one("#preview", DataTable)
        planned = [int(table.get_row_at(i)[2].replace(",", "")) for i in range(table.row_count)]
        assert sum(planned) == 100


def test_migration_counts_the_labels_already_there(tmp_path):
    from acotd_tui.store import MIGRATIONS, Database, Grades, Problems, Store, migrate

    path = tmp_path / "old.db"
    db = Database(path)
    before = MIGRATIONS.index(next(m for m in MIGRATIONS if m.__name__ == "m007_pool_counts"))
    migrate(db.conn, MIGRATIONS[:before])
    Problems(db).add(
        [NewProblem(f"old problem {i}", str(i), SOURCES[i % 3], domain="math") for i in range(30)]
    )
    Grades(db).add(
        [
            NewGrade(pid, "emh", "EMH"[pid % 3], "judge", conflict="c" if pid % 7 == 0 else None)
            for pid in range(1, 31)
        ]
    )
    db.close()
    with Store(path) as store:
        counts = store.pool.counts(PoolScope("emh", ("E", "M", "H")))
        assert sum(counts.values()) == 30
        assert sum(n for (_, held), n in counts.items() if held) == 4  # ids 7, 14, 21, 28
        assert store.problems.count(ProblemFilter(labels=("E",))) == 10


def test_the_one_off_check_runs_as_a_job_from_the_cli(project, monkeypatch):
    from click.testing import CliRunner

    from acotd_tui import decontam
    from acotd_tui.cli import main

    build_pool(project, n=120)
    result = CliRunner().invoke(main, ["sample", "decontaminate", "-p", str(project.root)])
    assert result.exit_code == 0, result.output
    key = decontam.fingerprint(project.config.eval.benchmarks, project.config.sampling.ngram)
    state = project.store.pool.decontam_set(key)
    assert state is not None and state.checked_through == project.store.pool.max_problem_id()
    assert project.store.pool.hit_count(key) >= 2
    job = project.store.jobs.list(limit=1)[0]
    assert job.kind == "decontaminate" and job.status == "done" and job.result["overlaps"] >= 2

    def fail(self, text):
        raise AssertionError("a preview after the job checks nothing")

    monkeypatch.setattr(decontam.NgramIndex, "contaminated", fail)
    SamplingService(project).preview(SamplingService(project).default_request(k=10))
