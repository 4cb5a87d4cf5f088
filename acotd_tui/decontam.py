"""Decontamination: keep benchmark problems (and near copies) out of training data.

Word n-grams (lower-cased alphanumeric tokens, n = `sampling.ngram`, 13 by default as in the
GPT-3 and Llama reports) of every benchmark problem go into a set of hashes; a pool problem
that shares any n-gram with it, or equals a benchmark problem shorter than n words, is
contaminated. Used by sampling (drop) and evaluation (refuse to evaluate on trained items).

The check runs once per problem and benchmark set, not per preview (issue 14): the result is
stored under the set's fingerprint (n-gram size plus the current version of every benchmark
in it), with the highest problem id checked. A preview only checks problems newer than that
(none, usually); an import checks its new problems for every set already in use; a changed
benchmark or n gives a new fingerprint and so a full check, once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from acotd_tui.errors import AcotdError

if TYPE_CHECKING:
    from acotd_tui.jobs.context import JobContext
    from acotd_tui.store import Store

_TOKEN = re.compile(r"\w+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _key(words: list[str]) -> bytes:
    return hashlib.blake2b(" ".join(words).encode(), digest_size=8).digest()


class NgramIndex:
    def __init__(self, n: int = 13) -> None:
        self.n = n
        self.grams: set[bytes] = set()
        self.texts = 0

    @classmethod
    def from_texts(cls, texts: Iterable[str], n: int = 13) -> NgramIndex:
        index = cls(n)
        for text in texts:
            index.add(text)
        return index

    def add(self, text: str) -> None:
        words = _tokens(text)
        self.texts += 1
        if len(words) < self.n:
            self.grams.add(_key(words))
            return
        for i in range(len(words) - self.n + 1):
            self.grams.add(_key(words[i : i + self.n]))

    def contaminated(self, text: str) -> bool:
        words = _tokens(text)
        if _key(words) in self.grams:
            return True
        return any(
            _key(words[i : i + self.n]) in self.grams for i in range(len(words) - self.n + 1)
        )


def benchmark_index(names: Iterable[str], n: int, store: Store | None = None) -> NgramIndex:
    from acotd_tui.benchmarks import load_benchmark

    index = NgramIndex(n)
    for name in names:
        for item in load_benchmark(name, store).items:
            index.add(item.problem)
    return index


def fingerprint(names: Sequence[str], n: int, store: Store | None = None) -> str:
    """Identifies a benchmark set's content: its n-gram size and every benchmark's version."""
    from acotd_tui.benchmarks import benchmark_version

    digest = hashlib.blake2b(f"ngram={n}".encode(), digest_size=16)
    for name in sorted(set(names)):
        digest.update(f"\x00{name}={benchmark_version(name, store)}".encode())
    return digest.hexdigest()


def ensure_checked(
    store: Store,
    names: Sequence[str],
    n: int,
    progress: Callable[[int, int], None] | None = None,
) -> str:
    """Make the stored overlaps of this benchmark set cover every problem; return its
    fingerprint. Only problems newer than the last check are read (none, usually); each
    chunk is committed as it is checked, so an interrupted check resumes where it stopped."""
    key = fingerprint(names, n, store)
    state = store.pool.decontam_set(key)
    if state is None:
        store.pool.register_decontam_set(key, n, sorted(set(names)))
        state = store.pool.decontam_set(key)
    assert state is not None
    last = store.pool.max_problem_id()
    if state.checked_through >= last:
        return key
    index = benchmark_index(state.benchmarks, n, store)
    done = 0
    todo = last - state.checked_through
    for rows in store.pool.problems_after(state.checked_through):
        hits = [pid for pid, text in rows if index.contaminated(text)]
        store.pool.record_checked(key, hits, rows[-1][0])
        done += len(rows)
        if progress:
            progress(done, todo)
    return key


def mark_new_problems(store: Store) -> None:
    """After an import: check the new problems against every benchmark set already in use.

    A set whose benchmarks the import itself changed (an imported SOURCE/SPLIT) now has a
    new fingerprint; the next preview checks it in full."""
    for state in store.pool.decontam_sets():
        try:
            current = fingerprint(state.benchmarks, state.ngram, store)
        except AcotdError:  # a benchmark no longer loads: the next preview says so
            continue
        if current == state.fingerprint:
            ensure_checked(store, state.benchmarks, state.ngram)


def run_job(ctx: JobContext) -> dict[str, object]:
    """The one-off check of every problem not yet checked against the configured benchmark
    set (after an upgrade, or a change of `eval.benchmarks` / `sampling.ngram`), as a job:
    progress, cancel and resume (each checked chunk is committed)."""
    names = ctx.project.config.eval.benchmarks
    n = ctx.project.config.sampling.ngram

    def progress(done: int, todo: int) -> None:
        if ctx.progress.total != todo:
            ctx.set_total(todo)
        ctx.advance(done - ctx.progress.done)
        ctx.check_cancelled()

    key = ensure_checked(ctx.store, names, n, progress)
    hits = ctx.store.pool.hit_count(key)
    return {
        "fingerprint": key,
        "overlaps": hits,
        "message": f"{hits} problems overlap {', '.join(names)} ({n}-grams)",
    }
