"""Sampling a distillation set from graded problems.

Strategies (labels are E/M/H, or easy/1-5 under ZTE):
- adaptive:        proportional stratified sampling of size K: K·N_l/N per label, rounded
                   by largest remainder so the total is exactly K (ACoTD);
- adaptive_medium: the paper's Algorithm 2, anchored on the Medium count k:
                   (k·N_E/N_M, k, k·N_H/N_M), each rounded half up;
- fixed:           fixed ratios (e.g. 6:3:1), largest remainder over K;
- random:          K problems uniformly from the labelled pool (the baseline);
- curriculum:      ZTE weights per level (easy, 1..5), largest remainder over K.
Each selected problem gets a CoT kind: short for Easy/Medium (ZTE: easy-3), long for Hard
(ZTE: 4-5); `cot_mode` short/long forces one kind for the only-short/only-long ablations.
Human labels take precedence (the store's current label already puts them first).
The pool excludes unlabelled problems, unresolved judge/check conflicts (unless asked),
and, with decontamination on, anything sharing an n-gram with an evaluation benchmark.
When a label has fewer problems than the plan asks for, the preview says so and offers the
nearest feasible plan (shortfall spread over the other labels in proportion).

At scale (issue 14) a preview is counting: levels come from the store's maintained
`label_counts`, the benchmark overlaps from the stored decontamination result (computed once
per problem and benchmark set, see decontam.py); ids are read only by `create`, as sorted
numpy arrays per level, and drawn by position with the same `random.Random(seed)` calls as
before, so a seed picks the same problems it always did.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, get_args

from acotd_tui.config import GradingConfig, SamplingConfig, Strategy
from acotd_tui.decontam import ensure_checked
from acotd_tui.domain import EMH, CotKind, SchemeName, ZteCot, is_scheme
from acotd_tui.domain import scheme as label_scheme
from acotd_tui.errors import AcotdError
from acotd_tui.project import Project
from acotd_tui.stages import COT_MODES, CotMode
from acotd_tui.store import SCHEME_LABELS, Dataset, PoolScope, Store

if TYPE_CHECKING:  # numpy is imported by `create`, not by every start-up
    import numpy as np

STRATEGIES: tuple[str, ...] = get_args(Strategy)  # declared with sampling.strategy
RATIO_STRATEGIES = ("fixed", "curriculum")  # the strategies that read `ratios`
# How the app's choices name them (a value without a name is shown as itself).
STRATEGY_NAMES: dict[str, str] = {
    "adaptive": "adaptive (ACoTD, proportional)",
    "adaptive_medium": "adaptive, anchored on Medium (Alg. 2)",
    "fixed": "fixed ratios",
    "random": "random",
    "curriculum": "ZTE curriculum",
}
COT_MODE_NAMES: dict[str, str] = {
    "auto": "short E/M, long H",
    "short": "only short",
    "long": "only long",
}


def choices(values: tuple[str, ...], names: Mapping[str, str]) -> list[tuple[str, str]]:
    """(display name, value) pairs for a Select, in the vocabulary's order."""
    return [(names.get(value, value), value) for value in values]



def largest_remainder(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer counts proportional to weights that sum to exactly `total`.

    Ties in the remainders go to the label listed first, so the result is deterministic.
    """
    positive = {k: w for k, w in weights.items() if w > 0}
    if total <= 0 or not positive:
        return dict.fromkeys(weights, 0)
    scale = sum(positive.values())
    exact = {k: total * w / scale for k, w in positive.items()}
    counts = {k: math.floor(v) for k, v in exact.items()}
    left = total - sum(counts.values())
    order = sorted(positive, key=lambda k: (-(exact[k] - counts[k]), list(weights).index(k)))
    for k in order[:left]:
        counts[k] += 1
    return {k: counts.get(k, 0) for k in weights}


def algorithm2(k_medium: int, available: dict[str, int]) -> dict[str, int]:
    """ACoTD Algorithm 2: anchored on k Medium problems, the others in the pool's proportion."""
    easy, medium, hard = EMH.labels
    n_m = available.get(medium, 0)
    if n_m == 0:
        raise AcotdError("adaptive_medium needs Medium-labelled problems, and the pool has none")

    def half_up(x: float) -> int:
        return int(math.floor(x + 0.5))

    return {
        easy: half_up(k_medium * available.get(easy, 0) / n_m),
        medium: k_medium,
        hard: half_up(k_medium * available.get(hard, 0) / n_m),
    }


def nearest_plan(wanted: dict[str, int], available: dict[str, int]) -> dict[str, int]:
    """Cap each label at what exists and spread the shortfall over labels with room left,
    in proportion to what they were asked for; the total shrinks only if the pool is too small."""
    plan = {k: min(v, available.get(k, 0)) for k, v in wanted.items()}
    missing = sum(wanted.values()) - sum(plan.values())
    while missing > 0:
        room = {k: available.get(k, 0) - plan[k] for k in plan if available.get(k, 0) > plan[k]}
        if not room:
            break
        extra = largest_remainder(missing, {k: max(wanted[k], 1) for k in room})
        for k, n in extra.items():
            plan[k] += min(n, room[k])
        missing = sum(wanted.values()) - sum(plan.values())
    return plan


class LazyPool(Mapping[str, list[int]]):
    """The pool's sorted problem ids per level, read from the store only when asked for:
    a preview needs counts, only `create` (or a caller inspecting the pool) needs ids."""

    def __init__(
        self, store: Store, scope: PoolScope, include_held: bool, fingerprint: str | None
    ) -> None:
        self._store = store
        self._scope = scope
        self._include_held = include_held
        self._fingerprint = fingerprint
        self._arrays: dict[str, np.ndarray] = {}
        self._dropped: np.ndarray | None = None

    def array(self, label: str) -> np.ndarray:
        if label not in self._scope.labels:
            raise KeyError(label)
        if label not in self._arrays:
            self._arrays[label] = self._store.pool.label_ids(self._scope, label, self._drop())
        return self._arrays[label]

    def _drop(self) -> np.ndarray | None:
        """Held conflicts and benchmark overlaps, read once for every level."""
        if self._dropped is None:
            import numpy as np

            parts = []
            if not self._include_held:
                parts.append(self._store.pool.held_ids(self._scope.scheme))
            if self._fingerprint is not None:
                parts.append(self._store.pool.hit_array(self._fingerprint))
            self._dropped = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        return self._dropped

    def __getitem__(self, label: str) -> list[int]:
        ids: list[int] = self.array(label).tolist()
        return ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._scope.labels)

    def __len__(self) -> int:
        return len(self._scope.labels)


def _array(pool: Mapping[str, list[int]], label: str) -> np.ndarray:
    import numpy as np

    if isinstance(pool, LazyPool):
        return pool.array(label)
    return np.array(sorted(pool[label]), dtype=np.int64)


_SAMPLING, _GRADING = SamplingConfig(), GradingConfig()


@dataclass(frozen=True)
class SamplingRequest:
    # The defaults are `[sampling]`'s and `[grading]`'s (a dataset's stored request that lacks
    # a key reads them); `default_request` fills them from the project's config instead.
    strategy: Strategy = _SAMPLING.strategy
    k: int = _SAMPLING.k
    seed: int = _SAMPLING.seed
    scheme: str = _GRADING.scheme
    ratios: dict[str, float] = field(default_factory=dict)
    cot_mode: CotMode = "auto"
    sources: list[str] = field(default_factory=list)
    domain: str | None = None
    decontaminate: bool = _SAMPLING.decontaminate
    include_conflicts: bool = False
    accept_nearest: bool = False

    def to_params(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    request: SamplingRequest
    labels: tuple[str, ...]
    available: dict[str, int]
    wanted: dict[str, int]
    shortfall: dict[str, int]
    nearest: dict[str, int] | None
    excluded: dict[str, int]
    pool: Mapping[str, list[int]] = field(repr=False, default_factory=dict)

    @property
    def feasible(self) -> bool:
        return not any(self.shortfall.values())

    @property
    def final(self) -> dict[str, int]:
        if self.feasible:
            return self.wanted
        if self.request.accept_nearest and self.nearest is not None:
            return self.nearest
        raise AcotdError(self.describe_shortfall() + " (accept the nearest plan, or lower K)")

    def describe_shortfall(self) -> str:
        total = sum(self.available.values())
        short = ", ".join(
            f"{label}: {self.available.get(label, total)} available, {self.wanted[label]} wanted"
            for label, n in self.shortfall.items()
            if n
        )
        keys = list(self.nearest or {}) if "*" in (self.nearest or {}) else list(self.labels)
        near = ":".join(str((self.nearest or {}).get(label, 0)) for label in keys)
        return f"not enough problems for the plan ({short}); nearest plan {near} = {sum((self.nearest or {}).values())}"

    def cot_kind(self, label: str) -> CotKind:
        """`cot_mode` short or long for every label; "auto": by level (the scheme's split)."""
        if self.request.cot_mode in tuple(CotKind):
            return CotKind(self.request.cot_mode)
        return label_scheme(self.request.scheme).split_cot_kind(label)


class SamplingService:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.store = project.store

    def default_request(self, **changes: Any) -> SamplingRequest:
        cfg = self.project.config.sampling
        scheme = SchemeName(self.project.config.grading.scheme)
        ratios = dict(cfg.ratios if scheme == SchemeName.EMH else cfg.curriculum)
        base = SamplingRequest(
            strategy=cfg.strategy,
            k=cfg.k,
            seed=cfg.seed,
            scheme=scheme,
            ratios=ratios,
            decontaminate=cfg.decontaminate,
            # Algorithm 1 as written keeps judge-vs-check conflicts in the pool (grading.rule)
            include_conflicts=self.project.config.grading.rule == "paper",
        )
        given = {k: v for k, v in changes.items() if v is not None}
        chosen = given.get("scheme", scheme)
        if is_scheme(chosen) and label_scheme(chosen).long_for_all and "cot_mode" not in given:
            # ZTE distils long CoTs for every question unless `sampling.zte_cot = "split"`
            given["cot_mode"] = CotKind.LONG if ZteCot(cfg.zte_cot) is ZteCot.LONG else "auto"
        return SamplingRequest(**{**asdict(base), **given})

    def scope(self, request: SamplingRequest) -> PoolScope:
        return PoolScope(
            scheme=request.scheme,
            labels=SCHEME_LABELS[request.scheme],
            sources=tuple(request.sources),
            domain=request.domain,
        )

    def decontam_fingerprint(self, progress: Callable[[int, int], None] | None = None) -> str:
        """The stored benchmark overlaps for the configured benchmarks and n, brought up to
        date first (a no-op unless problems were added since the last check)."""
        return ensure_checked(
            self.store,
            self.project.config.eval.benchmarks,
            self.project.config.sampling.ngram,
            progress,
        )

    def counts(self, request: SamplingRequest) -> tuple[dict[str, int], dict[str, int], str | None]:
        """Available problems per level and what was excluded, from counters: a plan at a
        million problems reads a few dozen rows. Returns the decontamination fingerprint
        used (None with decontamination off)."""
        labels = SCHEME_LABELS[request.scheme]
        scope = self.scope(request)
        counts = self.store.pool.counts(scope)
        held_ok = request.include_conflicts

        def kept(held: int) -> bool:
            return held_ok or not held

        available = {
            label: sum(n for (lab, held), n in counts.items() if lab == label and kept(held))
            for label in labels
        }
        excluded = {
            "conflict": 0 if held_ok else sum(n for (_, held), n in counts.items() if held),
            "contaminated": 0,
        }
        key = None
        if request.decontaminate and any(available.values()):
            key = self.decontam_fingerprint()
            for (label, held), n in self.store.pool.contaminated_counts(scope, key).items():
                if kept(held):
                    available[label] -= n
                    excluded["contaminated"] += n
        return available, excluded, key

    def pool(self, request: SamplingRequest) -> tuple[dict[str, list[int]], dict[str, int]]:
        """Problem ids per level (sorted) and what was excluded."""
        _, excluded, key = self.counts(request)
        lazy = LazyPool(self.store, self.scope(request), request.include_conflicts, key)
        return {label: lazy[label] for label in SCHEME_LABELS[request.scheme]}, excluded

    def preview(self, request: SamplingRequest) -> Plan:
        if request.strategy not in STRATEGIES:
            raise AcotdError(f"unknown strategy {request.strategy!r} ({', '.join(STRATEGIES)})")
        if request.cot_mode not in COT_MODES:
            raise AcotdError(
                f"cot_mode must be one of {', '.join(COT_MODES)}, not {request.cot_mode!r}"
            )
        if request.k < 1:
            raise AcotdError("K must be at least 1")
        labels = SCHEME_LABELS[request.scheme]
        available, excluded, key = self.counts(request)
        pool = LazyPool(self.store, self.scope(request), request.include_conflicts, key)
        total = sum(available.values())
        if request.strategy == "adaptive":
            wanted = largest_remainder(
                request.k, {label: float(available[label]) for label in labels}
            )
        elif request.strategy == "adaptive_medium":
            if request.scheme != SchemeName.EMH:
                raise AcotdError("adaptive_medium (Algorithm 2) is defined for E/M/H labels")
            wanted = algorithm2(request.k, available)
        elif request.strategy in RATIO_STRATEGIES:
            unknown = set(request.ratios) - set(labels)
            if unknown:
                raise AcotdError(
                    f"ratios name unknown labels {sorted(unknown)} (labels: {', '.join(labels)})"
                )
            wanted = largest_remainder(
                request.k, {label: float(request.ratios.get(label, 0)) for label in labels}
            )
        else:  # random: the label mix is whatever the draw gives; only the total is planned
            short = max(0, request.k - total)
            return Plan(
                request,
                labels,
                available,
                {"*": request.k},
                {"*": short},
                {"*": total} if short else None,
                excluded,
                pool,
            )
        shortfall = {label: max(0, wanted[label] - available[label]) for label in labels}
        nearest = nearest_plan(wanted, available) if any(shortfall.values()) else None
        return Plan(request, labels, available, wanted, shortfall, nearest, excluded, pool)

    def create(self, name: str, request: SamplingRequest) -> Dataset:
        """Draw the plan with `random.Random(seed)` and write it, all in one transaction, so
        the counts, the ids and the written set come from one state of the store even while
        graders write. A pending benchmark-overlap check runs first, outside that transaction
        (it can take minutes the first time and commits as it goes)."""
        if request.decontaminate:
            self.decontam_fingerprint()
        with self.store.db.tx():
            return self._draw(name, request)

    def _draw(self, name: str, request: SamplingRequest) -> Dataset:
        """Only index positions are drawn (`rng.sample(range(n), k)` picks the same positions
        as sampling the sorted id list itself would), then looked up in the level's sorted
        id array: the same problems as drawing from Python lists, at a fraction of the cost."""
        import numpy as np

        plan = self.preview(request)
        rng = random.Random(request.seed)
        items: list[tuple[int, str, str]] = []
        pool = plan.pool
        if request.strategy == "random":
            if plan.shortfall.get("*") and not request.accept_nearest:
                raise AcotdError(
                    f"only {sum(plan.available.values())} labelled problems for K={request.k} (accept the nearest plan, or lower K)"
                )
            arrays = [_array(pool, label) for label in plan.labels]
            ids = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
            codes = np.repeat(np.arange(len(plan.labels)), [len(a) for a in arrays])
            order = np.argsort(ids, kind="stable")
            ids, codes = ids[order], codes[order]
            picks = rng.sample(range(len(ids)), min(request.k, len(ids)))
            for pid, code in zip(ids[picks].tolist(), codes[picks].tolist(), strict=True):
                label = plan.labels[code]
                items.append((pid, label, plan.cot_kind(label)))
        else:
            counts = plan.final
            for label in plan.labels:
                ids = _array(pool, label)
                picks = rng.sample(range(len(ids)), counts.get(label, 0))
                kind = plan.cot_kind(label)
                items += [(pid, label, kind) for pid in ids[picks].tolist()]
            rng.shuffle(items)
        if not items:
            raise AcotdError("the plan selects no problems (is anything graded?)")
        params = {
            **request.to_params(),
            "counts": {
                label: sum(1 for _, lab, _ in items if lab == label) for label in plan.labels
            },
            "excluded": plan.excluded,
        }
        return self.store.datasets.create(
            name,
            strategy=request.strategy,
            scheme=request.scheme,
            params=params,
            seed=request.seed,
            items=items,
        )
