"""Decontamination: keep benchmark problems (and near copies) out of training data.

Word n-grams (lower-cased alphanumeric tokens, n = `sampling.ngram`, 13 by default as in the
GPT-3 and Llama reports) of every benchmark problem go into a set of hashes; a pool problem
that shares any n-gram with it, or equals a benchmark problem shorter than n words, is
contaminated. Used by sampling (drop) and evaluation (refuse to evaluate on trained items).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

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


def benchmark_index(names: Iterable[str], n: int, store=None) -> NgramIndex:  # noqa: ANN001
    from acotd_tui.benchmarks import load_benchmark

    index = NgramIndex(n)
    for name in names:
        for item in load_benchmark(name, store).items:
            index.add(item.problem)
    return index
