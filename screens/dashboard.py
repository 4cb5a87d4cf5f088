"""Dashboard: the pipeline as stages with counts, the label mix, jobs, tokens and cost."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from acotd_tui.services import AppServices, DashboardData

REFRESH_S = 1.0


class StageCard(Static):
    """One stage of the pipeline and its count."""


class DashboardScreen(Screen):
    CSS_PATH = "dashboard.tcss"

    def __init__(self, services: AppServices) -> None:
        super().__init__()
        self.services = services

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="dashboard"):
            yield Static("Pipeline", classes="section-title")
            yield Horizontal(id="stages")
            yield Static("", id="labels")
            yield Static("", id="review")
            yield Static("", id="spend")
        yield Footer()

    def on_mount(self) -> None:
        self.load()
        self.set_interval(REFRESH_S, self.load)

    @work(thread=True, exclusive=True, group="dashboard")
    def load(self) -> None:
        data = self.services.dashboard()
        self.app.call_from_thread(self.show, data)

    def show(self, data: DashboardData) -> None:
        stages = self.query_one("#stages", Horizontal)
        counts = data.counts
        cards = list(stages.query(StageCard))
        items = counts.stages()
        if len(cards) != len(items):
            stages.remove_children()
            cards = [StageCard(classes="stage") for _ in items]
            stages.mount_all(cards)
        for card, (name, value) in zip(cards, items, strict=True):
            card.update(f"[b]{value:,}[/b]\n{name}")
        dist = counts.label_distribution
        total = sum(dist.values())
        if total:
            parts = [f"{k}: {v:,} ({100 * v / total:.0f}%)" for k, v in sorted(dist.items())]
            self.query_one("#labels", Static).update(
                f"Labels ({data.scheme}): " + "   ".join(parts)
            )
        else:
            self.query_one("#labels", Static).update(f"Labels ({data.scheme}): none yet")
        self.query_one("#review", Static).update(
            f"Review: {counts.needs_review} need review · {counts.conflicts} judge/check conflicts · "
            f"{counts.human_labelled} human-labelled"
        )
        self.query_one("#spend", Static).update(
            f"Jobs: {counts.jobs_running} running, {counts.jobs_queued} queued · "
            f"tokens {counts.tokens:,} · cost ${counts.cost:.4f}"
        )
