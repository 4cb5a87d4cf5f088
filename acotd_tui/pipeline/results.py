"""Result tables in the shape of the ACoTD paper, and plots.

Table 3: accuracy (mean ± std over samples, in %) per benchmark for each model/method, with
the average over benchmarks; Table 4: CoTQS per benchmark. Written as Markdown and CSV,
plus PNG plots (matplotlib, headless): accuracy per benchmark and training loss curves.
The TUI's Results screen renders the same `ResultsTable`.
"""

from __future__ import annotations

import csv
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from acotd_tui.store import Eval, Store

BENCHMARK_TITLES = {
    "amc23": "AMC23",
    "aime24": "AIME24",
    "aime25": "AIME25",
    "math500": "MATH500",
    "gsm8k_test": "GSM8K",
}


@dataclass
class ResultsTable:
    rows: list[str]  # evaluation names (models/methods)
    benchmarks: list[str]
    cells: dict[tuple[str, str], Eval]

    @classmethod
    def from_store(
        cls,
        store: Store,
        names: Sequence[str] | None = None,
        benchmarks: Sequence[str] | None = None,
    ) -> ResultsTable:
        evals = [e for e in store.evals.all() if e.status == "done"]
        row_names = list(names) if names else list(dict.fromkeys(e.name for e in evals))
        bench = (
            list(benchmarks)
            if benchmarks
            else list(dict.fromkeys(e.benchmark for e in evals if e.name in row_names))
        )
        cells = {
            (e.name, e.benchmark): e for e in evals if e.name in row_names and e.benchmark in bench
        }
        return cls([r for r in row_names if any((r, b) in cells for b in bench)], bench, cells)

    def title(self, bench: str) -> str:
        return BENCHMARK_TITLES.get(bench, bench)

    def accuracy(self, row: str, bench: str) -> str:
        e = self.cells.get((row, bench))
        if e is None or e.acc_mean is None:
            return "-"
        return f"{100 * e.acc_mean:.1f} ± {100 * (e.acc_std or 0):.1f}"

    def _mean_over_benchmarks(self, row: str, field: str) -> float | None:
        """The plain mean over the benchmarks this row has a value for (the tables' Avg)."""
        values = [
            value
            for b in self.benchmarks
            if (cell := self.cells.get((row, b))) is not None
            and (value := getattr(cell, field)) is not None
        ]
        return statistics.fmean(values) if values else None

    def average(self, row: str) -> str:
        mean = self._mean_over_benchmarks(row, "acc_mean")
        return "-" if mean is None else f"{100 * mean:.1f}"

    def cotqs(self, row: str, bench: str) -> str:
        e = self.cells.get((row, bench))
        return "-" if e is None or e.cotqs is None else f"{e.cotqs:.2f}"

    def cotqs_average(self, row: str) -> str:
        mean = self._mean_over_benchmarks(row, "cotqs")
        return "-" if mean is None else f"{mean:.2f}"

    def table3(self) -> tuple[list[str], list[list[str]]]:
        header = ["model", *(self.title(b) for b in self.benchmarks), "Avg"]
        return header, [
            [r, *(self.accuracy(r, b) for b in self.benchmarks), self.average(r)] for r in self.rows
        ]

    def table4(self) -> tuple[list[str], list[list[str]]]:
        header = ["model", *(self.title(b) for b in self.benchmarks), "Avg"]
        return header, [
            [r, *(self.cotqs(r, b) for b in self.benchmarks), self.cotqs_average(r)]
            for r in self.rows
        ]


def markdown(header: list[str], rows: list[list[str]], caption: str) -> str:
    lines = [f"**{caption}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_report(
    store: Store,
    out: Path,
    names: Sequence[str] | None = None,
    benchmarks: Sequence[str] | None = None,
    runs: Sequence[str] = (),
) -> list[Path]:
    """Tables 3/4 as Markdown and CSV, plus accuracy and loss plots; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    table = ResultsTable.from_store(store, names, benchmarks)
    files = []
    for number, (header, rows), caption in (
        (3, table.table3(), "Table 3: accuracy (%) mean ± std over samples"),
        (
            4,
            table.table4(),
            "Table 4: CoTQS (1-5): mean of logical coherence, step completeness, factual correctness",
        ),
    ):
        md = out / f"table{number}.md"
        md.write_text(markdown(header, rows, caption), encoding="utf-8")
        with open(out / f"table{number}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        files += [md, out / f"table{number}.csv"]
    files += plot_accuracy(table, out / "accuracy.png")
    files += plot_losses(store, runs, out / "loss.png")
    return files


def plot_accuracy(table: ResultsTable, path: Path) -> list[Path]:
    if not table.rows:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(
        figsize=(max(6, 1.6 * len(table.benchmarks) * max(1, len(table.rows)) / 3), 4)
    )
    width = 0.8 / len(table.rows)
    for i, row in enumerate(table.rows):
        means = [
            100 * (table.cells[(row, b)].acc_mean or 0) if (row, b) in table.cells else 0
            for b in table.benchmarks
        ]
        stds = [
            100 * (table.cells[(row, b)].acc_std or 0) if (row, b) in table.cells else 0
            for b in table.benchmarks
        ]
        ax.bar(
            [x + i * width for x in range(len(table.benchmarks))],
            means,
            width,
            yerr=stds,
            label=row,
            capsize=2,
        )
    ax.set_xticks(
        [x + 0.4 - width / 2 for x in range(len(table.benchmarks))],
        [table.title(b) for b in table.benchmarks],
    )
    ax.set_ylabel("accuracy (%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def plot_losses(store: Store, runs: Sequence[str], path: Path) -> list[Path]:
    series = []
    for name in runs:
        try:
            run = store.train_runs.get(name)
        except Exception:
            continue
        points = [
            (m.step, m.loss)
            for m in store.train_runs.metrics(run.id, "train")
            if m.loss is not None
        ]
        if points:
            series.append((name, points))
    if not series:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, points in series:
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
