"""Label review: one problem at a time, the student's work beside the judge's verdict.

Queues: needs review (the grader could not decide), judge-vs-check conflicts,
judge-vs-human disagreements, a random spot check of automatic labels, or everything.
Keys: e/m/h set the human label (ZTE: e = easy, 1-5 = level), n/p move, u undoes the last
human action, x clears the human label, / filters by source, [ and ] switch queues. A label
set here is a human grade in the store at once, and moves on to the next problem.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header, Input, Select, Static

from acotd_tui.domain import SCHEMES, ZTE, ReviewQueue, SchemeName
from acotd_tui.render import latexish
from acotd_tui.services import REVIEW_QUEUES, ReviewItem

from .base import AcotdScreen
from .widgets import TextPanel


class ReviewScreen(AcotdScreen):
    CSS_PATH = "review.tcss"
    BINDINGS = [
        Binding("e", "label('e')", "Easy"),
        Binding("m", "label('m')", "Medium", show=False),
        Binding("h", "label('h')", "Hard", show=False),
        *(Binding(str(i), f"label('{i}')", f"Level {i}", show=False) for i in range(1, 6)),
        Binding("n,right", "move(1)", "Next"),
        Binding("p,left", "move(-1)", "Prev"),
        Binding("u", "undo", "Undo"),
        Binding("x", "clear", "Clear"),
        Binding("slash", "filter", "Filter"),
        Binding("right_square_bracket", "queue(1)", "Next queue"),
        Binding("left_square_bracket", "queue(-1)", "Prev queue", show=False),
    ]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Under E/M/H the digit keys are not labels: let them reach the app (switch screens)."""
        return not (
            action == "label"
            and parameters
            and str(parameters[0]).isdigit()
            and self.services.scheme == SchemeName.EMH
        )

    def __init__(self) -> None:
        super().__init__()
        self.queue: list[int] = []
        self.position = 0
        self.item: ReviewItem | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="review-top"):
            yield Select(
                [(q.heading, q.value) for q in REVIEW_QUEUES],
                value=ReviewQueue.NEEDS_REVIEW.value,
                allow_blank=False,
                id="queue",
            )
            yield Input(placeholder="/ source filter (comma separated)", id="source-filter")
            yield Static("", id="position")
        with Horizontal(id="review-body"):
            yield VerticalScroll(id="item")
            with Vertical(id="side"):
                yield Static("", id="keys")
                yield Static("", id="agreement")
        yield Footer()

    def on_mount(self) -> None:
        scheme = self.services.scheme
        keys = "e/m/h  Easy/Medium/Hard" if scheme == SchemeName.EMH else "e  easy   1-5  level"
        self.query_one("#keys", Static).update(
            f"{keys}\nn/p   next/previous\nu     undo\nx     clear human label\n/     filter by source\n[ ]   switch queue"
        )
        self.load_queue()
        self.load_stats()

    # -- loading -----------------------------------------------------------------------------
    @property
    def queue_kind(self) -> str:
        return str(self.query_one("#queue", Select).value)

    def load_queue(self, keep: int | None = None) -> None:
        sources = tuple(
            s.strip() for s in self.query_one("#source-filter", Input).value.split(",") if s.strip()
        )
        kind = self.queue_kind

        def done(ids: list[int]) -> None:
            self.queue = ids
            self.position = ids.index(keep) if keep in ids else 0
            self.show_current()

        self.call(
            lambda: self.services.review_queue(kind, sources=sources), then=done, group="queue"
        )

    def _reload(self) -> None:
        self.load_stats()
        self.show_current()

    def load_stats(self) -> None:
        def show(stats) -> None:
            lines = [f"[b]Labels[/b] {stats.scheme}: {':'.join(stats.labels)} = {stats.ratio()}"]
            if stats.compared:
                kappa = "-" if stats.kappa is None else f"{stats.kappa:.3f}"
                lines.append(
                    f"[b]Judge vs human[/b] on {stats.compared}: {stats.agreement:.0%} agree, κ {kappa}"
                )
                lines.append("auto\\human " + " ".join(f"{h:>3}" for h in stats.labels))
                for a in stats.labels:
                    lines.append(
                        f"{a:>10} " + " ".join(f"{stats.confusion[a][h]:>3}" for h in stats.labels)
                    )
            else:
                lines.append("Judge vs human: no problem has both labels yet")
            self.query_one("#agreement", Static).update("\n".join(lines))

        self.call(self.services.review_stats, then=show, group="stats")

    def show_current(self) -> None:
        if not self.queue:
            self.item = None
            self.query_one("#position", Static).update(f"{ReviewQueue(self.queue_kind).heading}: empty")
            box = self.query_one("#item", VerticalScroll)
            box.remove_children()
            box.mount(Static("Nothing in this queue. [ ] switches queues.", classes="empty"))
            return
        self.position = max(0, min(self.position, len(self.queue) - 1))
        self.query_one("#position", Static).update(
            f"{ReviewQueue(self.queue_kind).heading}: {self.position + 1} / {len(self.queue)}"
        )
        self.call(
            self.services.review_item,
            self.queue[self.position],
            then=self.render_item,
            group="item",
        )

    def render_item(self, item: ReviewItem) -> None:
        self.item = item
        p, label, judge = item.problem, item.label, item.judge
        box = self.query_one("#item", VerticalScroll)
        box.remove_children()
        widgets = [
            Static(
                f"Problem {p.id} · {p.source}/{p.split or '-'}"
                + (f" · level {p.level}" if p.level else ""),
                classes="section-title",
                markup=False,
            ),
            TextPanel(p.problem, classes="problem-text"),
            Static(f"Reference answer: {p.answer}", classes="facts", markup=False),
        ]
        current = (
            "-" if not label or not label.label else f"{_display(label.label)} ({label.source})"
        )
        human = label.human_label if label else None
        lines = [f"Current label: {current}" + (f"   human: {human}" if human else "")]
        if judge is not None:
            verdict = _display(judge.label) if judge.label else "none (needs review)"
            who = ", ".join(str(x) for x in (judge.source, judge.model) if x)
            lines.append(f"Grader ({who}): {verdict}")
            if judge.rationale:
                lines.append(f"  {judge.rationale}")
            if judge.conflict:
                lines.append(f"  ⚠ conflict: {judge.conflict}")
        widgets.append(Static("\n".join(lines), classes="verdict", markup=False))
        widgets.append(Static(f"Student attempts ({len(item.attempts)})", classes="section-title"))
        for a in item.attempts:
            sample = item.samples.get(a.id)
            mark = {True: "✓ right", False: "✗ wrong", None: "? unchecked"}[a.correct]
            head = (
                f"{a.model} #{a.sample_index}: {mark} · answer {latexish(a.final_answer or '(none)')}"
                + (" · truncated" if a.truncated else "")
            )
            if sample is not None:
                head += f" · judge {sample.label or '-'}" + (
                    f" ({sample.rationale[:80]})" if sample.rationale else ""
                )
            widgets.append(Static(head, classes="attempt-head", markup=False))
            check = a.params.get("check")
            if check and "tests" in check:  # a code answer: its test results beside the code
                lines = [
                    f"tests: {check['passed']}/{check['total']} passed ({check['status']}) in {check.get('seconds', 0):.2f} s"
                ]
                for i, t in enumerate(check["tests"], start=1):
                    mark = "✓" if t["status"] == "pass" else "✗"
                    lines.append(
                        f"  {mark} test {i}: {t['status']}"
                        + (f" - {t['detail']}" if t.get("detail") else "")
                    )
                widgets.append(Static("\n".join(lines), classes="tests", markup=False))
                if check.get("code"):
                    widgets.append(TextPanel(check["code"], raw=True, classes="cot"))
            widgets.append(TextPanel(a.cot or a.raw_text, classes="cot"))
        box.mount_all(widgets)
        box.scroll_home(animate=False)

    # -- actions -----------------------------------------------------------------------------
    def action_label(self, key: str) -> None:
        if self.item is None:
            return
        scheme = self.services.scheme
        if scheme == SchemeName.EMH and key not in "emh":
            return
        if scheme == SchemeName.ZTE and key not in "e12345":
            return
        label = key if scheme == SchemeName.EMH else (ZTE.easy if key == "e" else key)
        pid = self.item.problem.id

        def saved(value: str) -> None:
            self.notify(f"problem {pid}: human label {value}", timeout=2)
            self.load_stats()
            if self.position < len(self.queue) - 1:
                self.position += 1
            self.show_current()

        self.call(self.services.set_label, pid, label, then=saved, group="write", exclusive=False)

    def action_undo(self) -> None:
        if self.item is None:
            return
        pid = self.item.problem.id

        def undone(value: str | None) -> None:
            self.notify(f"problem {pid}: human label now {value or '(none)'}", timeout=2)
            self.load_stats()
            self.show_current()

        self.call(self.services.undo_label, pid, then=undone, group="write", exclusive=False)

    def action_clear(self) -> None:
        if self.item is None:
            return
        pid = self.item.problem.id
        self.call(
            self.services.clear_label,
            pid,
            then=lambda _: self._reload(),
            group="write",
            exclusive=False,
        )

    def action_move(self, step: int) -> None:
        if self.queue:
            self.position = max(0, min(self.position + step, len(self.queue) - 1))
            self.show_current()

    def action_queue(self, step: int) -> None:
        select = self.query_one("#queue", Select)
        index = (REVIEW_QUEUES.index(str(select.value)) + step) % len(REVIEW_QUEUES)
        select.value = REVIEW_QUEUES[index]

    def action_filter(self) -> None:
        self.query_one("#source-filter", Input).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "queue" and self.is_mounted:
            self.load_queue()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.load_queue()
        self.query_one("#item").focus()


def _display(label: str) -> str:
    """A label as a person reads it ("Medium"); a text that is no label is shown as it is."""
    for s in SCHEMES.values():
        if s.is_label(label):
            return s.display_name(label)
    return label
