"""Is a final answer equivalent to the reference? Our rules around math-verify.

The order (see `decide`): value-neutral notation removed (`answer_forms.canonical`), a
left-hand side name dropped; plain numbers compared exactly for integers and to a relative
tolerance otherwise, words and lists of those decided in the calling thread (`quick_check`);
everything else goes to math-verify, whose "equal" is still held to our numeric tolerance;
for tuples, intervals, sets and several answers whose shapes pair up, the parts compared one
by one decide (math-verify compares sets and tuples loosely).

math-verify bounds its sympy work with `signal.alarm`, which only works in a process's main
thread; our callers are asyncio loops, Textual workers and threads. So comparisons that need
sympy run in a small pool of worker processes, where math-verify's own timeouts work and a
comparison that hangs anyway can be killed (the pool is replaced). Plain numbers and
identical strings, most of GSM8K, never leave the calling thread.
"""

from __future__ import annotations

import multiprocessing as mp
import re
import threading
from collections.abc import Callable, Sequence
from fractions import Fraction
from multiprocessing.pool import Pool

from acotd_tui.answer_forms import (
    ABS_FLOOR,
    REL_TOL,
    Form,
    Kind,
    Number,
    canonical,
    compare_words,
    numbers_match,
    parse_number,
    strip_names,
    structure,
)


def _compare_parts(
    answer: Form, reference: Form, atom: Callable[[str, str], bool | None]
) -> bool | None:
    """Compare two structured answers part by part; None when the shapes do not pair up.

    Several answers and sets: order does not matter (each reference part matched by its own
    answer part). Tuples, points and intervals: same brackets, same order. Unions: as sets.
    Mixed shapes: a reference list answered in parentheses, `(1, 2)` for `1, 2`, is the same
    answers (any order); a bare `1, 2` for the pair `(1, 2)` counts in order; a set or bare
    list is never a closed or half-open interval, nor a set a tuple.
    """
    kinds = {answer.kind, reference.kind}
    unordered = {Kind.ANSWERS, Kind.SET}
    if Kind.ATOM in kinds:
        return None
    if len(answer.parts) != len(reference.parts) or len(answer.parts) > _MAX_PARTS:
        return None
    if kinds <= unordered or kinds == {Kind.UNION}:
        return _matching(answer.parts, reference.parts, atom)
    if kinds == {Kind.BRACKETED}:
        if answer.brackets != reference.brackets:
            return False
        return _all_in_order(answer.parts, reference.parts, atom)
    if kinds == {Kind.BRACKETED, Kind.ANSWERS}:
        bracketed = answer if answer.kind is Kind.BRACKETED else reference
        if bracketed.brackets != "()":
            return False
        if reference.kind is Kind.ANSWERS:
            return _matching(answer.parts, reference.parts, atom)
        return _all_in_order(answer.parts, reference.parts, atom)
    if kinds == {Kind.BRACKETED, Kind.SET}:
        return False
    return None


def _all_in_order(
    answer: Sequence[str], reference: Sequence[str], atom: Callable[[str, str], bool | None]
) -> bool | None:
    verdicts = [atom(a, r) for a, r in zip(answer, reference, strict=True)]
    if False in verdicts:
        return False
    return None if None in verdicts else True


def _matching(
    answer: Sequence[str], reference: Sequence[str], atom: Callable[[str, str], bool | None]
) -> bool | None:
    """A perfect matching under `atom` (parts are few: a small backtracking search)."""
    table = [[atom(a, r) for a in answer] for r in reference]
    if any(all(v is False for v in row) for row in table):
        return False

    def assign(i: int, used: frozenset[int]) -> bool:
        if i == len(table):
            return True
        return any(
            v is True and j not in used and assign(i + 1, used | {j})
            for j, v in enumerate(table[i])
        )

    if assign(0, frozenset()):
        return True
    unknown = any(v is None for row in table for v in row)
    return None if unknown else False


def _quick_atom(answer: str, reference: str) -> bool | None:
    if answer == reference:
        return True
    na, nr = parse_number(answer), parse_number(reference)
    if na is not None and nr is not None:
        return numbers_match(na, nr)
    words = compare_words(answer, reference)
    if words is not None:
        return words
    if _is_nested(answer) or _is_nested(reference):
        return _quick_structured(answer, reference)
    return None


def _is_nested(text: str) -> bool:
    return structure(text).kind is not Kind.ATOM


def _quick_structured(answer: str, reference: str) -> bool | None:
    fa, fr = structure(answer), structure(reference)
    if fa.kind is Kind.ATOM and fr.kind is Kind.ATOM:
        return None
    return _compare_parts(fa, fr, _quick_atom)


def quick_check(answer: str | None, reference: str) -> bool | None:
    """True/False when decidable without sympy, None when math-verify must decide.

    Plain numbers, words, times and lists of those are decided here, in the calling thread.
    """
    if answer is None or not answer.strip():
        return False
    a, r = " ".join(answer.split()), " ".join(reference.split())
    if a == r:
        return True
    if len(a) > _MAX_CHARS or len(r) > _MAX_CHARS:
        return None  # a worked solution, not an answer: math-verify extracts from it
    if _SIGNED_PLAIN.match(a) and _SIGNED_PLAIN.match(r):  # most of GSM8K: no parsing
        return numbers_match(Number(Fraction(a), False), Number(Fraction(r), False))
    try:
        a, r = strip_names(canonical(a), canonical(r))
        if not a:
            return False
        return _quick_atom(a, r)
    except (ValueError, ArithmeticError, IndexError, RecursionError):
        return None  # never let odd text break the caller: math-verify decides


_MAX_PARTS = 12
_MAX_CHARS = 1000
_SIGNED_PLAIN = re.compile(r"^[-+]?(?:\d{1,60}(?:\.\d{0,60})?|\.\d{1,60})$")


def _mv_parse(text: str) -> list:
    from math_verify import parse

    return parse(f"\\boxed{{{text}}}", parsing_timeout=5)


def _numeric_guard(gold: list, pred: list) -> bool:
    """math-verify said equal: hold two plain numbers to our own tolerance as well.

    math-verify rounds to 6 decimals, so `0` would match `5.158e-07`; here an integer
    reference must be met exactly and any other within `REL_TOL` (see `numbers_match`).
    """
    import sympy

    g, p = gold[0], pred[0]
    if not (isinstance(g, sympy.Expr) and isinstance(p, sympy.Expr)):
        return True
    if not (g.is_number and p.is_number) or g.free_symbols or p.free_symbols:
        return True
    try:
        gv, pv = complex(sympy.N(g, 30)), complex(sympy.N(p, 30))
    except (TypeError, ValueError):
        return True
    diff, size = abs(gv - pv), abs(gv)
    if g.is_Integer or (g.is_Rational and g.q == 1):
        return diff <= 1e-12 * max(1.0, size)
    return diff <= max(REL_TOL * size, float(ABS_FLOOR))


def _mv_equal(answer: str, reference: str) -> bool | None:
    from math_verify import verify

    gold, pred = _mv_parse(reference), _mv_parse(answer)
    if not gold or not pred:
        return False if gold else None
    if not verify(gold, pred, timeout_seconds=5):
        return False
    return _numeric_guard(gold, pred)


def decide(answer: str | None, reference: str, _depth: int = 0) -> bool | None:
    """The full comparison: our rules, math-verify, then structure-aware fallbacks.

    Order: `quick_check` (numbers, words, lists of them); math-verify on the canonical
    texts (a `True` still held to our numeric tolerance); then, for tuples, intervals, sets
    and several answers, the parts compared one by one (math-verify on each) decide where
    the shapes pair up. A left-hand side name is dropped first. Needs math-verify's signal
    timeouts: call it in a main thread (the checker's worker processes do).
    """
    quick = quick_check(answer, reference)
    if quick is not None or answer is None:
        return quick
    a, r = strip_names(canonical(answer), canonical(reference))
    try:
        verdict = _mv_equal(a, r)
    except Exception:
        verdict = None
    fa, fr = structure(a), structure(r)
    if _depth >= 2 or (fa.kind is Kind.ATOM and fr.kind is Kind.ATOM):
        return verdict
    # math-verify reads `(1, 2)` as an interval and compares sets and tuples loosely: where
    # the shapes are clear, they decide; otherwise its verdict stands.
    parts = _compare_parts(fa, fr, lambda x, y: decide(x, y, _depth + 1))
    if parts is not None:
        return parts
    return verdict


def _verify_in_worker(pair: tuple[str, str]) -> bool | None:
    """Runs in a pool process (main thread), so math-verify's signal timeouts are active."""
    answer, reference = pair
    try:
        return decide(answer, reference)
    except Exception:
        return None


def _warm() -> None:
    import math_verify  # noqa: F401  (import once per worker, not per task)
    import sympy  # noqa: F401


class AnswerChecker:
    """Thread-safe; create one per process and `close()` it (or use it as a context manager)."""

    def __init__(self, workers: int = 1, hard_timeout_s: float = 30.0) -> None:
        self.workers = workers
        self.hard_timeout_s = hard_timeout_s
        self._pool: Pool | None = None
        self._lock = threading.Lock()
        self.sympy_checks = 0

    def _get_pool(self) -> Pool:
        with self._lock:
            if self._pool is None:
                # forkserver: never fork a process that runs threads (Textual, asyncio helpers).
                ctx = mp.get_context("forkserver")
                self._pool = ctx.Pool(self.workers, initializer=_warm)
            return self._pool

    def _reset_pool(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None

    def check_many(self, pairs: Sequence[tuple[str | None, str]]) -> list[bool | None]:
        """Correctness per (answer, reference); None where it could not be decided."""
        results: list[bool | None] = [quick_check(a, r) for a, r in pairs]
        pending = [i for i, v in enumerate(results) if v is None and pairs[i][0]]
        if not pending:
            return results
        # K samples of one problem often give the same answer: each distinct pair once.
        work = list(dict.fromkeys((str(pairs[i][0]), pairs[i][1]) for i in pending))
        self.sympy_checks += len(work)
        try:
            outcome = self._get_pool().map_async(_verify_in_worker, work, chunksize=8)
            values = outcome.get(timeout=self.hard_timeout_s + 2 * len(work))
        except mp.TimeoutError:
            # A comparison hung past math-verify's own timeouts: replace the pool, decide
            # the batch one by one so only the culprit stays undecided.
            self._reset_pool()
            values = [self._one(w) for w in work]
        decided = dict(zip(work, values, strict=True))
        for i in pending:
            results[i] = decided[(str(pairs[i][0]), pairs[i][1])]
        return results

    def _one(self, pair: tuple[str, str]) -> bool | None:
        try:
            return (
                self._get_pool()
                .apply_async(_verify_in_worker, (pair,))
                .get(timeout=self.hard_timeout_s)
            )
        except mp.TimeoutError:
            self._reset_pool()
            return None

    def check(self, answer: str | None, reference: str) -> bool | None:
        return self.check_many([(answer, reference)])[0]

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool.join()
                self._pool = None

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
