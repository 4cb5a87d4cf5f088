"""Result tables in the layout of the ACoTD paper, and plots.

Table 3 (the main comparison): the baselines (the untrained student with thinking on and
off, any `[experiment] baselines` model) against ACoTD. Table 4 (the ablations): random
sampling, fixed 6:3:1, only short and only long CoTs against ACoTD. Every row shows, per
benchmark, accuracy (%) and CoTQS (1-5), each as mean ± std over the n sample runs, then an
Avg over the benchmarks *every row of that table has* (named in the header when that is not
all of them), and how many samples were cut off at max_tokens (they count as wrong).
The paper's four benchmark columns come first (`PAPER_BENCHMARKS`, the `[eval]` default).

Written as Markdown, CSV and LaTeX (booktabs), plus PNG plots: accuracy per benchmark, the
per-benchmark gain of ACoTD over every other row (in the style of the paper's Figure 6)
and training loss curves. Rows from the paper itself (`--paper-reference`) are marked
"(paper)" and are never mixed into an Avg with ours. The TUI's Results screen renders the
same `ResultsTable`.
"""

from __future__ import annotations

import csv
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

from acotd_tui.config import EvalConfig
from acotd_tui.domain import RunStatus
from acotd_tui.store import Eval, Store

BENCHMARK_TITLES = {
    "amc23": "AMC23",
    "aime24": "AIME24",
    "aime25": "AIME25",
    "math500": "MATH500",
    "gsm8k_test": "GSM8K",
}
PAPER_BENCHMARKS: tuple[str, ...] = tuple(EvalConfig().benchmarks)
ABLATION_METHODS = ("random", "fixed_6_3_1", "only_short", "only_long")
ACOTD_METHOD = "acotd"
REFERENCE_FILE = "paper_reference.json"


class Role(StrEnum):
    BASELINE = "baseline"
    ACOTD = "acotd"
    ABLATION = "ablation"


def infer_role(name: str) -> Role:
    """A row's part in the tables, from the names `acotd experiment` gives its rows."""
    if name == ACOTD_METHOD or name.endswith(f"-{ACOTD_METHOD}"):
        return Role.ACOTD
    if any(name == m or name.endswith(f"-{m}") for m in ABLATION_METHODS):
        return Role.ABLATION
    return Role.BASELINE


@dataclass(frozen=True)
class Cell:
    """One (row, benchmark): accuracy and CoTQS, each mean ± std over the sample runs."""

    acc_mean: float | None
    acc_std: float | None
    cotqs_mean: float | None = None
    cotqs_std: float | None = None
    truncated: int = 0
    samples: int = 0

    @classmethod
    def from_eval(cls, e: Eval) -> Cell:
        detail = e.cotqs_detail or {}
        return cls(
            e.acc_mean,
            e.acc_std,
            e.cotqs,
            detail.get("cotqs_std"),
            int(detail.get("truncated") or 0),
            int(detail.get("samples") or 0),
        )


@dataclass(frozen=True)
class ReferenceRow:
    """A row published in the paper, with where it comes from."""

    name: str
    table: int
    cells: dict[str, dict[str, float]]
    source: str


def load_reference(path: Path | None = None) -> tuple[list[ReferenceRow], str]:
    """The paper's published rows bundled with the app (or from `path`), and a note."""
    if path is None:
        text = resources.files("acotd_tui.data").joinpath(REFERENCE_FILE).read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text)
    rows = [
        ReferenceRow(r["name"], int(r["table"]), r.get("cells", {}), r.get("source", ""))
        for r in data.get("rows", [])
    ]
    return rows, data.get("note", "")


@dataclass
class ResultsTable:
    rows: list[str]  # evaluation names (models/methods)
    benchmarks: list[str]
    cells: dict[tuple[str, str], Eval]
    roles: dict[str, Role] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # display names
    reference: list[ReferenceRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_store(
        cls,
        store: Store,
        names: Sequence[str] | None = None,
        benchmarks: Sequence[str] | None = None,
        roles: dict[str, Role] | None = None,
    ) -> ResultsTable:
        evals = [e for e in store.evals.all() if e.status == RunStatus.DONE]
        row_names = list(names) if names else list(dict.fromkeys(e.name for e in evals))
        if benchmarks:
            bench = list(benchmarks)
        else:
            present = list(dict.fromkeys(e.benchmark for e in evals if e.name in row_names))
            bench = [b for b in PAPER_BENCHMARKS if b in present]
            bench += [b for b in present if b not in bench]
        cells = {
            (e.name, e.benchmark): e for e in evals if e.name in row_names and e.benchmark in bench
        }
        rows = [r for r in row_names if any((r, b) in cells for b in bench)]
        given = roles or {}
        table = cls(rows, bench, cells, {r: given.get(r) or infer_role(r) for r in rows})
        table.notes = shortfall_notes(store, table)
        return table

    # -- cells ------------------------------------------------------------------------------

    def title(self, bench: str) -> str:
        return BENCHMARK_TITLES.get(bench, bench)

    def cell(self, row: str, bench: str) -> Cell | None:
        e = self.cells.get((row, bench))
        return None if e is None else Cell.from_eval(e)

    def accuracy(self, row: str, bench: str) -> str:
        c = self.cell(row, bench)
        if c is None or c.acc_mean is None:
            return "-"
        return f"{100 * c.acc_mean:.1f} ± {100 * (c.acc_std or 0):.1f}"

    def cotqs(self, row: str, bench: str) -> str:
        c = self.cell(row, bench)
        if c is None or c.cotqs_mean is None:
            return "-"
        std = "" if c.cotqs_std is None else f" ± {c.cotqs_std:.2f}"
        return f"{c.cotqs_mean:.2f}{std}"

    def cut_off(self, row: str) -> str:
        cells = [c for b in self.benchmarks if (c := self.cell(row, b)) is not None]
        samples = sum(c.samples for c in cells)
        return f"{sum(c.truncated for c in cells)}/{samples}" if samples else "-"

    # -- the two tables ---------------------------------------------------------------------

    def table_rows(self, number: int) -> list[str]:
        """Table 3: baselines then ACoTD; Table 4: ablations then ACoTD."""
        wanted = Role.BASELINE if number == 3 else Role.ABLATION
        ours = [r for r in self.rows if self.roles.get(r) == wanted]
        return ours + [r for r in self.rows if self.roles.get(r) == Role.ACOTD]

    def common_benchmarks(self, rows: Sequence[str]) -> list[str]:
        """The benchmarks every row has an accuracy for: the only fair Avg."""
        return [
            b
            for b in self.benchmarks
            if rows
            and all((c := self.cell(r, b)) is not None and c.acc_mean is not None for r in rows)
        ]

    def _avg(self, row: str, bench: list[str], field_name: str) -> float | None:
        values = [getattr(self.cell(row, b), field_name) for b in bench]
        values = [v for v in values if v is not None]
        return statistics.fmean(values) if values and len(values) == len(bench) else None

    def header(self, number: int) -> list[str]:
        rows = self.table_rows(number)
        common = self.common_benchmarks(rows)
        avg = (
            "Avg"
            if common == self.benchmarks
            else f"Avg ({', '.join(self.title(b) for b in common) or 'none'})"
        )
        out = ["model"]
        for b in self.benchmarks:
            out += [f"{self.title(b)} Acc", f"{self.title(b)} CoTQS"]
        return [*out, f"{avg} Acc", f"{avg} CoTQS", "cut off"]

    def body(self, number: int) -> list[list[str]]:
        rows = self.table_rows(number)
        common = self.common_benchmarks(rows)
        out = []
        for r in rows:
            line = [self.labels.get(r, r)]
            for b in self.benchmarks:
                line += [self.accuracy(r, b), self.cotqs(r, b)]
            acc = self._avg(r, common, "acc_mean")
            cq = self._avg(r, common, "cotqs_mean")
            line += [
                "-" if acc is None else f"{100 * acc:.1f}",
                "-" if cq is None else f"{cq:.2f}",
                self.cut_off(r),
            ]
            out.append(line)
        for ref in self.reference:
            if ref.table != number:
                continue
            line = [f"{ref.name} (paper)"]
            for b in self.benchmarks:
                cell = ref.cells.get(b, {})
                acc, cq = cell.get("acc"), cell.get("cotqs")
                line += [
                    "-" if acc is None else f"{100 * acc:.1f}",
                    "-" if cq is None else f"{cq:.2f}",
                ]
            line += ["-", "-", "-"]  # the paper's rows never enter our Avg
            out.append(line)
        return out

    def table3(self) -> tuple[list[str], list[list[str]]]:
        return self.header(3), self.body(3)

    def table4(self) -> tuple[list[str], list[list[str]]]:
        return self.header(4), self.body(4)

    def footnotes(self) -> list[str]:
        notes = [
            "Acc: accuracy (%), CoTQS: 1-5 (mean of logical coherence, step completeness and "
            "factual correctness); both mean ± std over the n sample runs. "
            "cut off: samples that hit max_tokens (counted as wrong) / samples."
        ]
        if self.reference:
            notes.append(
                "Rows marked (paper) are the paper's published numbers, not ours; they are left out of every Avg."
            )
        return notes + self.notes

    # -- gains (Figure 6 style) -------------------------------------------------------------

    def gains(self) -> dict[str, dict[str, float]]:
        """ACoTD's accuracy minus every other row's, per benchmark (percentage points)."""
        acotd = [r for r in self.rows if self.roles.get(r) == Role.ACOTD]
        if not acotd:
            return {}
        mine = acotd[0]
        out: dict[str, dict[str, float]] = {}
        for r in self.rows:
            if r == mine:
                continue
            per = {}
            for b in self.benchmarks:
                a, o = self.cell(mine, b), self.cell(r, b)
                if a and o and a.acc_mean is not None and o.acc_mean is not None:
                    per[b] = 100 * (a.acc_mean - o.acc_mean)
            if per:
                out[self.labels.get(r, r)] = per
        return out


def shortfall_notes(store: Store, table: ResultsTable) -> list[str]:
    """A line for every row trained on a set that verification left short of its plan."""
    from .verify import set_status

    notes = []
    adapters: dict[str, str] = {}
    for (row, _), e in table.cells.items():
        if e.adapter:
            adapters.setdefault(row, e.adapter)
    for row, adapter in adapters.items():
        try:
            run = store.train_runs.get(adapter)
            if run.dataset_id is None:
                continue
            status = set_status(store, store.datasets.by_id(run.dataset_id).name)
        except Exception:  # an adapter folder, or a run whose set is gone: nothing to state
            continue
        if status["shortfall"]:
            notes.append(
                f"{table.labels.get(row, row)}: trained on {status['verified']} of {status['planned']} "
                f"planned items (short by {status['shortfall']}: {status['shortfall_by_label']})"
            )
    return notes


CAPTIONS = {
    3: "Table 3: baselines vs ACoTD",
    4: "Table 4: ablations vs ACoTD",
}


def markdown(
    header: list[str], rows: list[list[str]], caption: str, notes: Sequence[str] = ()
) -> str:
    lines = [f"**{caption}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    for a, b in (
        ("\\", r"\textbackslash{}"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("_", r"\_"),
        ("#", r"\#"),
    ):
        text = text.replace(a, b)
    return text.replace("±", r"$\pm$")


def latex(header: list[str], rows: list[list[str]], caption: str) -> str:
    """A booktabs table (needs `\\usepackage{booktabs}`)."""
    spec = "l" + "c" * (len(header) - 1)
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        rf"\caption{{{_latex_escape(caption)}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_latex_escape(h) for h in header) + r" \\",
        r"\midrule",
        *[" & ".join(_latex_escape(c) for c in r) + r" \\" for r in rows],
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"


def write_report(
    store: Store,
    out: Path,
    names: Sequence[str] | None = None,
    benchmarks: Sequence[str] | None = None,
    runs: Sequence[str] = (),
    *,
    table: ResultsTable | None = None,
) -> list[Path]:
    """Tables 3 and 4 as Markdown, CSV, LaTeX and PNG, the gain plot and the loss curves."""
    out.mkdir(parents=True, exist_ok=True)
    table = table or ResultsTable.from_store(store, names, benchmarks)
    files = []
    for number in (3, 4):
        header, rows = header_rows = (table.header(number), table.body(number))
        caption = CAPTIONS[number]
        md = out / f"table{number}.md"
        md.write_text(markdown(header, rows, caption, table.footnotes()), encoding="utf-8")
        with open(out / f"table{number}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows)
        tex = out / f"table{number}.tex"
        tex.write_text(latex(header, rows, caption), encoding="utf-8")
        files += [md, out / f"table{number}.csv", tex]
        files += plot_table(table, number, out / f"table{number}.png", header_rows)
    files += plot_accuracy(table, out / "accuracy.png")
    files += plot_gains(table, out / "gains.png")
    files += plot_losses(store, runs, out / "loss.png")
    return files


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_table(
    table: ResultsTable, number: int, path: Path, header_rows: tuple[list[str], list[list[str]]]
) -> list[Path]:
    """The table itself as an image (for slides and the README)."""
    header, rows = header_rows
    if not rows:
        return []
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(header)), 0.5 + 0.4 * (len(rows) + 1)))
    ax.axis("off")
    grid = ax.table(cellText=rows, colLabels=header, loc="center", cellLoc="center")
    grid.auto_set_font_size(False)
    grid.set_fontsize(7)
    grid.scale(1, 1.3)
    ax.set_title(CAPTIONS[number], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return [path]


def _grouped_bars(
    table: ResultsTable,
    series: list[tuple[str, list[float], tuple[list[float], list[float]] | None]],
    ylabel: str,
    path: Path,
    *,
    per_inch: float,
    zero_line: bool = False,
) -> list[Path]:
    """One bar group per benchmark, one bar per series (label, values, and the error bars'
    lengths below and above, or None)."""
    plt = _pyplot()
    benches = table.benchmarks
    fig, ax = plt.subplots(figsize=(max(6, per_inch * len(benches) * max(1, len(series))), 4))
    width = 0.8 / len(series)
    for i, (label, values, errors) in enumerate(series):
        xs = [x + i * width for x in range(len(benches))]
        if errors is None:
            ax.bar(xs, values, width, label=label)
        else:
            ax.bar(xs, values, width, yerr=list(errors), label=label, capsize=2)
    if zero_line:
        ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(benches))], map(table.title, benches))
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]


def plot_accuracy(table: ResultsTable, path: Path) -> list[Path]:
    """Accuracy mean ± std of every row, per benchmark."""
    if not table.rows:
        return []
    series: list[tuple[str, list[float], tuple[list[float], list[float]] | None]] = []
    for row in table.rows:
        cells = [table.cell(row, b) for b in table.benchmarks]
        means = [100 * (c.acc_mean or 0) if c else 0 for c in cells]
        stds = [100 * (c.acc_std or 0) if c else 0 for c in cells]
        # ± std, kept inside 0-100 %: an accuracy bar's whisker never reaches below zero.
        below = [min(sd, m) for m, sd in zip(means, stds, strict=True)]
        above = [min(sd, 100 - m) for m, sd in zip(means, stds, strict=True)]
        series.append((table.labels.get(row, row), means, (below, above)))
    return _grouped_bars(table, series, "accuracy (%)", path, per_inch=1.6 / 3)


def plot_gains(table: ResultsTable, path: Path) -> list[Path]:
    """ACoTD minus every other row, per benchmark, in percentage points (Figure 6 style)."""
    gains = table.gains()
    if not gains:
        return []
    series: list[tuple[str, list[float], tuple[list[float], list[float]] | None]] = [
        (f"vs {name}", [by_bench.get(b, 0.0) for b in table.benchmarks], None)
        for name, by_bench in gains.items()
    ]
    return _grouped_bars(
        table, series, "ACoTD gain (accuracy points)", path, per_inch=1.4 / 2, zero_line=True
    )


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
    plt = _pyplot()
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
