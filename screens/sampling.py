"""Sampling: choose a strategy, K, ratios and seed; see the plan per level live; create it.

The preview reruns (debounced) on every change and shows what each level has, what the plan
takes, what is short and the nearest feasible plan. Creating writes a frozen dataset.
A plan is counting (issue 14: counters and stored decontamination), so it follows typing;
each request carries a generation number and only the newest one's result is shown, so a
slow, stale plan can never overwrite a newer one.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Select, Static, Switch

from acotd_tui.domain import EMH, SchemeName
from acotd_tui.errors import AcotdError
from acotd_tui.ratios import parse_ratios  # one parser for the CLI and this screen
from acotd_tui.services import SAMPLING_COT_MODES, SAMPLING_STRATEGIES
from acotd_tui.store import StoreError

from .base import AcotdScreen
from .widgets import PlainTable

STRATEGIES = SAMPLING_STRATEGIES  # (name, value) pairs, declared with the sampling service
COT_MODES = SAMPLING_COT_MODES
DEBOUNCE_S = 0.02  # coalesces keys of one burst; a superseded request is skipped anyway


class SamplingScreen(AcotdScreen):
    CSS_PATH = "sampling.tcss"
    BINDINGS = [Binding("ctrl+s", "create", "Create dataset")]

    def __init__(self) -> None:
        super().__init__()
        self._debounce: Timer | None = None
        self._generation = 0  # of the newest preview request
        self.plan = None  # the plan on screen (the newest request's)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="sampling"):
            with Vertical(id="form"):
                yield Label("Strategy")
                yield Select(STRATEGIES, value="adaptive", allow_blank=False, id="strategy")
                yield Label("K (set size; Alg. 2: the Medium count)")
                yield Input(id="k", type="integer")
                yield Label("Ratios (fixed / curriculum): 6:3:1 or easy=1,1=1,...")
                yield Input(id="ratios")
                yield Label("Seed")
                yield Input(id="seed", type="integer")
                yield Label("CoT kind")
                yield Select(COT_MODES, value="auto", allow_blank=False, id="cot")
                with Horizontal(classes="switch-row"):
                    yield Switch(value=True, id="decontaminate")
                    yield Label("drop benchmark overlaps")
                with Horizontal(classes="switch-row"):
                    yield Switch(value=False, id="nearest")
                    yield Label("accept the nearest plan if short")
                yield Label("Dataset name")
                yield Input(placeholder="e.g. acotd-k1000", id="name")
                yield Button("Create dataset (ctrl+s)", id="create", variant="primary")
            with Vertical(id="preview-box"):
                yield Static("Preview", classes="section-title")
                yield PlainTable(id="preview", cursor_type="none")
                yield Static("", id="preview-notes")
                yield Static("Datasets", classes="section-title")
                yield PlainTable(id="datasets", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        request = self.services.sampling_request()
        self.query_one("#strategy", Select).value = request.strategy
        self.query_one("#k", Input).value = str(request.k)
        ratios = request.ratios
        text = (
            ":".join(f"{ratios.get(k, 0):g}" for k in EMH.labels)
            if request.scheme == SchemeName.EMH
            else ",".join(f"{k}={v:g}" for k, v in ratios.items())
        )
        self.query_one("#ratios", Input).value = text
        self.query_one("#seed", Input).value = str(request.seed)
        self.query_one("#decontaminate", Switch).value = request.decontaminate
        self.query_one("#preview", DataTable).add_columns(
            "level", "available", "planned", "short by", "CoT"
        )
        self.query_one("#datasets", DataTable).add_columns(
            "name", "strategy", "size", "counts", "CoT", "seed"
        )
        self.refresh_datasets()
        self.schedule_preview()

    # -- request from the form ---------------------------------------------------------------
    def request(self):
        scheme = self.services.scheme
        k_text = self.query_one("#k", Input).value.strip()
        seed_text = self.query_one("#seed", Input).value.strip()
        if not k_text:
            raise AcotdError("K is required")
        k = int(k_text)
        return self.services.sampling_request(  # refuses K < 1
            strategy=str(self.query_one("#strategy", Select).value),
            k=k,
            seed=int(seed_text or 0),
            ratios=parse_ratios(self.query_one("#ratios", Input).value, scheme) or None,
            cot_mode=str(self.query_one("#cot", Select).value),
            decontaminate=self.query_one("#decontaminate", Switch).value,
            accept_nearest=self.query_one("#nearest", Switch).value,
        )

    # -- preview -----------------------------------------------------------------------------
    def schedule_preview(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_S, self.preview)

    def preview(self) -> None:
        self._generation += 1
        generation = self._generation
        try:
            request = self.request()
        except (AcotdError, ValueError) as exc:
            self.query_one("#preview-notes", Static).update(Text(str(exc), style="red"))
            return
        preview = self.services.sampling_preview

        def fetch():
            if generation != self._generation:
                return generation, None, None  # superseded while queued: skip the work
            try:
                return generation, preview(request), None
            except (AcotdError, StoreError, ValueError, KeyError) as exc:
                return generation, None, str(exc)

        self.call(fetch, then=self.preview_done, group="preview", exclusive=False)

    def preview_done(self, result) -> None:
        generation, plan, error = result
        if generation != self._generation:
            return  # a newer request is on its way: this result is stale
        if error is not None:
            self.query_one("#preview-notes", Static).update(Text(error, style="red"))
            return
        self.show_plan(plan)

    def show_plan(self, plan) -> None:
        self.plan = plan
        table = self.query_one("#preview", DataTable)
        table.clear()
        total = sum(plan.available.values())
        for label in plan.wanted:
            available = plan.available.get(label, total)
            kind = plan.cot_kind(label) if label != "*" else plan.request.cot_mode
            table.add_row(
                label,
                f"{available:,}",
                f"{plan.wanted[label]:,}",
                str(plan.shortfall.get(label, 0) or ""),
                kind,
            )
        # Rich Text, never markup: labels, sources and messages are user data.
        notes = Text(
            f"planned {sum(plan.wanted.values()):,} of {total:,} labelled; "
            f"excluded: {plan.excluded}"
        )
        if not plan.feasible:
            notes.append("\n" + plan.describe_shortfall(), style="yellow")
            notes.append("\nswitch on 'accept the nearest plan', or lower K")
        self.query_one("#preview-notes", Static).update(notes)

    def refresh_datasets(self) -> None:
        def show(datasets) -> None:
            table = self.query_one("#datasets", DataTable)
            table.clear()
            for d in datasets:
                table.add_row(
                    d.name,
                    d.strategy,
                    str(d.size),
                    str(d.params.get("counts", "")),
                    d.params.get("cot_mode", ""),
                    str(d.seed),
                )

        self.call(self.services.datasets, then=show, group="datasets")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "name" and self.is_mounted:
            self.schedule_preview()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.is_mounted:
            self.schedule_preview()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        if self.is_mounted:
            self.schedule_preview()

    # -- create ------------------------------------------------------------------------------
    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "create":
            self.action_create()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "name":
            self.action_create()

    def action_create(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        if not name:
            self.notify("give the dataset a name", severity="warning")
            self.query_one("#name", Input).focus()
            return
        try:
            request = self.request()
        except (AcotdError, ValueError) as exc:
            self.notify(str(exc), severity="error")
            return

        def created(dataset) -> None:
            self.notify(
                f"created dataset {dataset.name}: {dataset.size} problems {dataset.params.get('counts')}",
                timeout=4,
            )
            self.query_one("#name", Input).value = ""
            self.refresh_datasets()

        self.call(self.services.sampling_create, name, request, then=created, group="create")
