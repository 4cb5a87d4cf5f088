"""Dashboard: the pipeline as stages with counts, the label mix, running jobs, tokens and cost."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, ProgressBar, Static

from acotd_tui.domain import SCHEMES
from acotd_tui.services import DashboardData

from .base import AcotdScreen

REFRESH_S = 1.0
BAR = 24


def bar(value: int, total: int, width: int = BAR) -> str:
    filled = 0 if total <= 0 else round(width * min(value, total) / total)
    return "█" * filled + "░" * (width - filled)


class JobLine(Horizontal):
    """One running job: what it is, a progress bar, rate and spend."""

    def __init__(self, job_id: int) -> None:
        super().__init__(classes="job-line")
        self.job_id = job_id

    def compose(self) -> ComposeResult:
        yield Static("", classes="job-title")
        yield ProgressBar(show_eta=False, classes="job-bar")
        yield Static("", classes="job-stats")


class DashboardScreen(AcotdScreen):
    CSS_PATH = "dashboard.tcss"

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="dashboard"):
            with Vertical(id="pipeline-box"):
                yield Static("Pipeline", classes="section-title")
                yield Static("", id="stages")
            with Vertical(id="side"):
                yield Static("Labels", classes="section-title")
                yield Static("", id="labels")
                yield Static("Review", classes="section-title")
                yield Static("", id="review")
                yield Static("Spend", classes="section-title")
                yield Static("", id="spend")
        yield Static("Jobs", classes="section-title", id="jobs-title")
        yield Vertical(id="jobs")
        yield Footer()

    def on_mount(self) -> None:
        self.load()
        self.set_interval(REFRESH_S, self.load)

    def load(self) -> None:
        if not self.is_current:  # issue 14: a hidden dashboard must not keep the store busy
            return
        self.call(self.services.dashboard, then=self.show, group="dashboard")

    def show(self, data: DashboardData) -> None:
        counts = data.counts
        stages = counts.stages()
        top = max(counts.problems, 1)
        widget = self.query_one("#stages", Static)
        width = max(4, min(BAR, widget.size.width - 23))
        widget.update(
            "\n".join(f"{name:<10} {value:>9,}  {bar(value, top, width)}" for name, value in stages)
        )
        dist = counts.label_distribution
        total = sum(dist.values())
        if total:
            lines = [
                f"{k:>5} {v:>7,} {100 * v / total:4.0f}% {bar(v, total, 12)}"
                for k, v in sorted(dist.items(), key=lambda kv: _label_order(kv[0]))
            ]
            self.query_one("#labels", Static).update(f"scheme {data.scheme}\n" + "\n".join(lines))
        else:
            self.query_one("#labels", Static).update(f"scheme {data.scheme}\nnothing graded yet")
        self.query_one("#review", Static).update(
            f"{counts.needs_review:,} need review\n{counts.conflicts:,} judge/check conflicts\n{counts.human_labelled:,} human-labelled"
        )
        spend = f"{counts.tokens:,} tokens\n${counts.cost:,.4f}"
        if data.budget_usd > 0:
            left = max(0.0, data.budget_usd - counts.cost)
            spend += f" of ${data.budget_usd:,.2f} cap\n${left:,.2f} left"
        self.query_one("#spend", Static).update(spend)
        self.show_jobs(data)

    def show_jobs(self, data: DashboardData) -> None:
        box = self.query_one("#jobs", Vertical)
        lines = {line.job_id: line for line in box.query(JobLine)}
        wanted = [j.id for j in data.active_jobs]
        for job_id, line in lines.items():
            if job_id not in wanted:
                line.remove()
        for job in data.active_jobs:
            found = lines.get(job.id)
            if found is None:
                line = JobLine(job.id)
                box.mount(line)
                self.call_after_refresh(self._fill, line, job)
            else:
                self._fill(found, job)
        self.query_one("#jobs-title", Static).update(
            f"Jobs ({len(wanted)} active)"
            if wanted
            else "Jobs (none running; key 6 opens the Jobs screen)"
        )

    def _fill(self, line: JobLine, job) -> None:
        if not line.is_mounted:
            return
        line.query_one(".job-title", Static).update(f"#{job.id} {job.kind} · {job.display_status}")
        line.query_one(ProgressBar).update(total=job.total, progress=job.done)
        rate = f"{job.rate:.1f}/s" if job.rate else ""
        line.query_one(".job-stats", Static).update(
            f"{job.done}/{job.total if job.total is not None else '?'} {rate} ${job.cost:.4f}"
        )


def _label_order(label: str) -> tuple[int, str]:
    """Easiest first, whichever scheme the label belongs to; anything else last."""
    for s in SCHEMES.values():
        if s.is_label(label):
            return (s.index(label), label)
    return (9, label)
