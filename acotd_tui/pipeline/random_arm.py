"""The Random Sampling ablation as the paper defines it (§4.3.4): no difficulty classification.

"Directly sample an equal amount of distillation data randomly": K problems drawn uniformly
from the whole imported pool, labels ignored (no diagnosis or grading is needed). What is
removed is the classification, not the CoT mix: CoT kinds are assigned *without* labels,
long to a seeded random share of the drawn problems equal to the ACoTD arm's long share
(671 short + 329 long of 1,000 in the paper), so the arm differs from ACoTD only in which
problems get which kind. `kinds = "short"` / `"long"` give every problem one kind instead.

Items carry the label `UNLABELLED` ("-"): the set has no levels. Decontamination against
the evaluation benchmarks applies as for every other strategy. The strategy `random` of
`SamplingService` (K uniformly from the *labelled* pool, kinds by label) stays available as
an option for those who want it; `acotd experiment` uses this one.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, get_args

from acotd_tui.decontam import benchmark_index
from acotd_tui.domain import CotKind
from acotd_tui.errors import AcotdError
from acotd_tui.project import Project
from acotd_tui.stages import RandomKinds
from acotd_tui.store import Dataset, ProblemFilter

from .sampling import SamplingService, largest_remainder

UNLABELLED = "-"
RANDOM_POOL = "random_pool"  # the dataset strategy of this arm
KIND_MODES: tuple[str, ...] = get_args(RandomKinds)  # declared with the experiment stage


@dataclass(frozen=True)
class RandomArmRequest:
    k: int
    seed: int = 0
    kinds: RandomKinds = "acotd"  # acotd: the ACoTD arm's short:long proportion | short | long
    long_share: float | None = None  # with kinds="acotd": None = from the ACoTD plan
    sources: list[str] = field(default_factory=list)
    domain: str | None = None
    decontaminate: bool = True
    accept_nearest: bool = False

    def to_params(self) -> dict[str, Any]:
        return asdict(self)


def acotd_long_share(project: Project, k: int, seed: int = 0) -> float:
    """The long share of the ACoTD arm: its adaptive plan for K over the labelled pool."""
    service = SamplingService(project)
    plan = service.preview(
        service.default_request(strategy="adaptive", k=k, seed=seed, accept_nearest=True)
    )
    if not sum(plan.available.values()):
        raise AcotdError(
            "the ACoTD arm's short:long proportion needs graded problems; "
            "give the long share, or all-short / all-long CoTs"
        )
    counts = plan.final
    total = sum(counts.values())
    return sum(n for label, n in counts.items() if plan.cot_kind(label) == CotKind.LONG) / total


def random_pool(project: Project, request: RandomArmRequest) -> tuple[list[int], dict[str, int]]:
    """Every imported problem (labelled or not) that may be trained on; what was left out."""
    store = project.store
    ids = store.problems.ids(ProblemFilter(sources=tuple(request.sources), domain=request.domain))
    excluded = {"contaminated": 0}
    if request.decontaminate and ids:
        index = benchmark_index(
            project.config.eval.benchmarks, project.config.sampling.ngram, store
        )
        clean = []
        for start in range(0, len(ids), 2000):
            for problem in store.problems.get_many(ids[start : start + 2000]):
                if index.contaminated(problem.problem):
                    excluded["contaminated"] += 1
                else:
                    clean.append(problem.id)
        ids = clean
    return sorted(ids), excluded


def kind_counts(request: RandomArmRequest, k: int, long_share: float) -> dict[str, int]:
    if request.kinds in tuple(CotKind):
        return {kind: k if kind == request.kinds else 0 for kind in CotKind}
    return largest_remainder(k, {CotKind.SHORT: 1.0 - long_share, CotKind.LONG: long_share})


def create_random_arm(project: Project, name: str, request: RandomArmRequest) -> Dataset:
    """Draw the random arm and store it as a frozen dataset (strategy `random_pool`)."""
    if request.kinds not in KIND_MODES:
        raise AcotdError(f"kinds must be one of {', '.join(KIND_MODES)}, not {request.kinds!r}")
    if request.k < 1:
        raise AcotdError("K must be at least 1")
    share = request.long_share
    if request.kinds == "acotd" and share is None:
        share = acotd_long_share(project, request.k, request.seed)
    if share is not None and not 0.0 <= share <= 1.0:
        raise AcotdError(f"the long share must lie in [0, 1], not {share}")
    pool, excluded = random_pool(project, request)
    if len(pool) < request.k and not request.accept_nearest:
        raise AcotdError(
            f"only {len(pool)} problems in the pool for K={request.k} (accept the nearest plan, or lower K)"
        )
    rng = random.Random(request.seed)
    chosen = rng.sample(pool, min(request.k, len(pool)))
    counts = kind_counts(request, len(chosen), share or 0.0)
    long_positions = set(rng.sample(range(len(chosen)), counts[CotKind.LONG]))
    items = [
        (pid, UNLABELLED, CotKind.LONG if i in long_positions else CotKind.SHORT)
        for i, pid in enumerate(chosen)
    ]
    if not items:
        raise AcotdError("the pool is empty: import problems first")
    params = {
        **request.to_params(),
        "long_share": share,
        "pool": len(pool),
        "counts": counts,
        "wanted": request.k,
        "shortfall": max(0, request.k - len(chosen)),
        "excluded": excluded,
        "labels": "ignored (random arm: no difficulty classification)",
    }
    return project.store.datasets.create(
        name,
        strategy=RANDOM_POOL,
        scheme=project.config.grading.scheme,
        params=params,
        seed=request.seed,
        items=items,
    )
