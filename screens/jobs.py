"""Jobs: launch any stage with a form prefilled from acotd.toml, and watch it live.

Jobs run in worker processes; this screen only reads the store once a second: progress
(done/total, rate, ETA, tokens, cost), the log tail, and for training the loss curve.
Keys: n new job, c cancel, r resume (failed, cancelled, stopped: budget or stale jobs), ↑↓ choose.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    Log,
    ProgressBar,
    Select,
    Static,
    Switch,
)
from textual_plotext import PlotextPlot

from acotd_tui.domain import JobStatus
from acotd_tui.errors import AcotdError
from acotd_tui.formatting import duration
from acotd_tui.services import JOB_KINDS, JobForm
from acotd_tui.stages import FormField
from acotd_tui.store import Job

from .base import AcotdScreen
from .widgets import PlainTable

REFRESH_S = 1.0


class JobsScreen(AcotdScreen):
    CSS_PATH = "jobs.tcss"
    BINDINGS = [
        Binding("n", "new_job", "New job"),
        Binding("c", "cancel_job", "Cancel"),
        Binding("r", "resume_job", "Resume"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.jobs: list[Job] = []
        self.selected: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield PlainTable(id="job-table", cursor_type="row", zebra_stripes=True)
        with Horizontal(id="job-detail"):
            with Vertical(id="job-info"):
                yield Static("", id="job-title", markup=False)
                yield ProgressBar(id="job-progress", show_eta=False)
                yield Static("", id="job-stats", markup=False)
                yield Log(id="job-log", max_lines=400)
            yield PlotextPlot(id="loss-plot")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#job-table", DataTable).add_columns(
            "id", "kind", "status", "progress", "rate", "ETA", "tokens", "cost", "note"
        )
        self.query_one("#loss-plot", PlotextPlot).display = False
        self.query_one("#job-progress", ProgressBar).display = False
        self.refresh_jobs()
        self.set_interval(REFRESH_S, self.refresh_jobs)
        self.query_one("#job-table").focus()

    def refresh_jobs(self) -> None:
        self.call(self.services.jobs, then=self.show_jobs, group="jobs")

    def show_jobs(self, jobs: list[Job]) -> None:
        self.jobs = jobs
        table = self.query_one("#job-table", DataTable)
        keep = self.selected
        table.clear()
        for j in jobs:
            progress = f"{j.done}/{j.total}" if j.total else f"{j.done}/?"
            if j.total:
                progress += f" {100 * j.done / j.total:3.0f}%"
            note = (j.error or j.message or "")[:60]
            table.add_row(
                str(j.id),
                j.kind,
                j.display_status,
                progress,
                f"{j.rate:.1f}/s" if j.rate and j.display_status == JobStatus.RUNNING else "",
                duration(j.eta_s) if j.display_status == JobStatus.RUNNING else "",
                f"{j.tokens_in + j.tokens_out:,}",
                f"${j.cost:.4f}",
                note,
                key=str(j.id),
            )
        if jobs:
            ids = [j.id for j in jobs]
            table.move_cursor(row=ids.index(keep) if keep in ids else 0, animate=False)
            self.show_detail()
        else:
            self.query_one("#job-title", Static).update("No jobs yet: press n to launch one.")
            self.query_one("#job-progress", ProgressBar).display = False

    def current(self) -> Job | None:
        table = self.query_one("#job-table", DataTable)
        if not self.jobs or table.cursor_row >= len(self.jobs):
            return None
        return self.jobs[table.cursor_row]

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        job = self.current()
        if job is not None and job.id != self.selected:
            self.selected = job.id
            self.query_one("#job-log", Log).clear()
            self.show_detail()

    def show_detail(self) -> None:
        job = self.current()
        if job is None:
            return
        self.selected = job.id
        title = f"Job {job.id}: {job.kind} · {job.display_status}" + (
            f" · {job.error}" if job.error else ""
        )
        self.query_one("#job-title", Static).update(title)
        bar = self.query_one("#job-progress", ProgressBar)
        bar.display = True
        bar.update(total=job.total, progress=job.done)
        stats = f"{job.done}/{job.total if job.total is not None else '?'} done"
        if job.failed:
            stats += f", {job.failed} failed"
        if job.rate and job.status == JobStatus.RUNNING:
            stats += f" · {job.rate:.2f}/s · ETA {duration(job.eta_s)}"
        stats += f" · {job.tokens_in + job.tokens_out:,} tokens · ${job.cost:.4f}"
        if job.message:
            stats += f"\n{job.message}"
        self.query_one("#job-stats", Static).update(stats)
        self.call(
            lambda: (self.services.job_log(job, 200), self.services.train_metrics_for_job(job)),
            then=self.show_log_and_plot,
            group="log",
        )

    def show_log_and_plot(self, data) -> None:
        text, metrics = data
        log = self.query_one("#job-log", Log)
        log.clear()
        if text:
            log.write(text)
        plot = self.query_one("#loss-plot", PlotextPlot)
        train = [(m.step, m.loss) for m in metrics if m.split == "train" and m.loss is not None]
        plot.display = bool(train)
        if train:
            plt = plot.plt
            plt.clear_data()
            plt.clear_figure()
            plt.plot([s for s, _ in train], [v for _, v in train], label="train")
            evals = [(m.step, m.loss) for m in metrics if m.split == "eval" and m.loss is not None]
            if evals:
                plt.plot([s for s, _ in evals], [v for _, v in evals], label="eval")
            plt.title("loss")
            plt.xlabel("step")
            plot.refresh()

    # -- actions -----------------------------------------------------------------------------
    def action_new_job(self) -> None:
        self.open_job_form("diagnose")

    def open_job_form(self, kind: str) -> None:
        def launched(result) -> None:
            if result is None:
                return
            kind, params = result
            self.call(
                self.services.launch,
                kind,
                params,
                then=lambda job: self._notify_and_refresh(f"job {job.id} ({job.kind}) started"),
                group="launch",
            )

        self.app.push_screen(JobFormScreen(self.services, kind), launched)

    def _notify_and_refresh(self, message: str) -> None:
        self.notify(message)
        self.refresh_jobs()

    def action_cancel_job(self) -> None:
        job = self.current()
        if job is not None:
            self.call(
                self.services.cancel_job,
                job.id,
                then=lambda j: self._notify_and_refresh(f"job {j.id}: cancel requested"),
                group="action",
            )

    def action_resume_job(self) -> None:
        job = self.current()
        if job is not None:
            self.call(
                self.services.resume_job,
                job.id,
                then=lambda j: self._notify_and_refresh(f"job {j.id} resumed"),
                group="action",
            )


class JobFormScreen(ModalScreen[tuple[str, dict] | None]):
    """Choose a stage and fill in its parameters (prefilled from acotd.toml)."""

    CSS_PATH = "jobs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "launch", "Launch")]

    def __init__(self, services, kind: str) -> None:
        super().__init__()
        self.services = services
        self.kind = kind
        self.form: JobForm = services.job_form(kind)

    def compose(self) -> ComposeResult:
        with Vertical(id="job-form"):
            yield Label("New job", classes="section-title")
            yield Select([(k, k) for k in JOB_KINDS], value=self.kind, allow_blank=False, id="kind")
            yield VerticalScroll(id="fields")
            yield Static("", id="form-error", markup=False)
            with Horizontal(id="form-buttons"):
                yield Button("Launch (ctrl+s)", id="launch", variant="primary")
                yield Button("Cancel", id="cancel")

    async def on_mount(self) -> None:
        await self.build_fields()

    async def build_fields(self) -> None:
        """A widget per field type: a switch for yes/no, a select for a choice (and for an
        optional yes/no, blank = the default), a text input for the rest."""
        box = self.query_one("#fields", VerticalScroll)
        await box.remove_children()  # the new fields reuse the old ids
        widgets: list[Widget] = []
        for spec in self.form.fields:
            widgets.append(
                Label(f"{spec.name}  ({spec.help})", classes="field-label", markup=False)
            )
            widgets.append(field_widget(spec))
        await box.mount_all(widgets)

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "kind" and str(event.value) != self.form.kind:
            self.form = self.services.job_form(str(event.value))
            await self.build_fields()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch":
            self.action_launch()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_launch()

    def action_launch(self) -> None:
        values = {spec.name: field_value(self, spec) for spec in self.form.fields}
        try:
            params = self.services.job_params(self.form, values)
        except (AcotdError, ValueError, TypeError) as exc:
            self.query_one("#form-error", Static).update(Text(str(exc), style="red"))
            return
        self.dismiss((self.form.kind, params))

    def action_cancel(self) -> None:
        self.dismiss(None)


YES_NO = (("yes", "yes"), ("no", "no"))


def field_widget(spec: FormField) -> Widget:
    """The widget of one form field, named `field-NAME`."""
    wid = f"field-{spec.name}"
    if spec.kind == "bool" and not spec.optional:
        return Switch(value=bool(spec.value), id=wid)
    if spec.kind == "bool":
        value = Select.NULL if spec.value is None else ("yes" if spec.value else "no")
        return Select(YES_NO, value=value, allow_blank=True, id=wid, prompt="default")
    if spec.kind == "choice":
        options = [(c, c) for c in spec.choices]
        value = spec.value if spec.value in spec.choices else Select.NULL
        return Select(options, value=value, allow_blank=spec.optional, id=wid, prompt="default")
    return Input(value=str(spec.value), id=wid)


def field_value(screen: ModalScreen, spec: FormField) -> object:
    """What a field's widget holds: a bool, a choice, None (blank select) or text."""
    widget = screen.query_one(f"#field-{spec.name}")
    if isinstance(widget, Switch):
        return widget.value
    if isinstance(widget, Select):
        value = widget.value
        if value is Select.NULL or value is None:
            return None
        return value == "yes" if spec.kind == "bool" else str(value)
    return screen.query_one(f"#field-{spec.name}", Input).value
