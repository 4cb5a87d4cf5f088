"""Results in the paper's layout: Table 3 (baselines vs ACoTD) and Table 4 (ablations vs
ACoTD), each with Acc and CoTQS mean ± std per benchmark, a fair Avg and the cut-off count;
under them, any training set verification left short of K. Loss curves and accuracy bars
are drawn in the terminal. ctrl+r reloads; ↑↓ in the runs list picks a curve."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from .base import AcotdScreen
from .widgets import PlainTable


class ResultsScreen(AcotdScreen):
    CSS_PATH = "results.tcss"
    BINDINGS = [Binding("ctrl+r", "reload", "Reload")]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list = []

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="result-tabs"):
            with TabPane("Table 3: baselines vs ACoTD", id="tab-acc"):
                yield PlainTable(id="table3", cursor_type="row")
                yield PlotextPlot(id="acc-plot")
            with TabPane("Table 4: ablations vs ACoTD", id="tab-cotqs"):
                yield PlainTable(id="table4", cursor_type="row")
            with TabPane("Transitions", id="tab-transitions"):
                yield Static("", id="transitions-note", markup=False)
                yield PlainTable(id="transitions", cursor_type="row")
            with TabPane("Training", id="tab-train"):
                yield PlainTable(id="runs", cursor_type="row")
                yield PlotextPlot(id="loss-plot")
        yield Static("", id="results-note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#runs", DataTable).add_columns(
            "run", "status", "base model", "dataset", "adapter"
        )
        self.action_reload()

    def action_reload(self) -> None:
        self.call(
            lambda: (self.services.results(), self.services.train_runs()),
            then=self.show,
            group="results",
        )
        self.call(self.services.transitions, then=self.show_transitions, group="transitions")

    def show_transitions(self, t) -> None:
        """E/M/H before (the student) → after (its trained version), counts per cell."""
        note = self.query_one("#transitions-note", Static)
        dt = self.query_one("#transitions", DataTable)
        dt.clear(columns=True)
        if t is None:
            note.update(
                "No next round yet: `acotd diagnose --adapter RUN`, then "
                "`acotd grade --attempts-of MODEL+RUN --regrade`."
            )
            return
        used = [a for a in t.labels if any(t.count(a, b) or t.count(b, a) for b in t.labels)]
        dt.add_columns("before \\ after", *used)
        for a in used:
            dt.add_row(a, *(str(t.count(a, b)) for b in used))
        moved = sum(len(v) for v in t.moved.values())
        note.update(
            f"{t.before} → {t.after}: {t.compared} problems graded for both, {moved} moved "
            "(`acotd results --transitions` lists them)"
        )

    def show(self, data) -> None:
        table, runs = data
        self.runs = runs
        for widget_id, (header, rows) in (("#table3", table.table3()), ("#table4", table.table4())):
            dt = self.query_one(widget_id, DataTable)
            dt.clear(columns=True)
            dt.add_columns(*header)
            for row in rows:
                dt.add_row(*row)
        note = (
            "No finished evaluations yet: run `acotd eval` or launch an eval job (Jobs: n)."
            if not table.rows
            else "\n".join(
                [
                    f"{len(table.rows)} models × {len(table.benchmarks)} benchmarks",
                    *table.footnotes(),
                ]
            )
        )
        self.query_one("#results-note", Static).update(note)
        self.plot_accuracy(table)
        runs_table = self.query_one("#runs", DataTable)
        runs_table.clear()
        for r in runs:
            runs_table.add_row(
                r.name,
                r.status,
                r.base_model,
                str(r.dataset_id or ""),
                r.adapter_path or "",
                key=str(r.id),
            )
        if runs:
            self.plot_run(runs[0].id)

    def plot_accuracy(self, table) -> None:
        plot = self.query_one("#acc-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        if table.rows:
            labels = [table.title(b) for b in table.benchmarks]
            series = [
                [
                    100 * (table.cells[(r, b)].acc_mean or 0) if (r, b) in table.cells else 0
                    for b in table.benchmarks
                ]
                for r in table.rows
            ]
            # plotext takes labels= (one per series); textual-plotext's annotation lacks it.
            plt.multiple_bar(labels, series, labels=table.rows)  # type: ignore[call-arg]
            plt.ylim(0, 100)
            plt.title("accuracy (%)")
        plot.refresh()

    def plot_run(self, run_id: int) -> None:
        def draw(metrics) -> None:
            plot = self.query_one("#loss-plot", PlotextPlot)
            plt = plot.plt
            plt.clear_data()
            plt.clear_figure()
            for split in ("train", "eval"):
                points = [
                    (m.step, m.loss) for m in metrics if m.split == split and m.loss is not None
                ]
                if points:
                    plt.plot([p[0] for p in points], [p[1] for p in points], label=split)
            plt.title("loss")
            plt.xlabel("step")
            plot.refresh()

        self.call(self.services.run_metrics, run_id, then=draw, group="metrics")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "runs" and event.row_key.value is not None:
            self.plot_run(int(event.row_key.value))
