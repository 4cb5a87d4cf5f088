"""CoT approval: teacher CoTs beside the reference answer and their verification result.

Keys: a approve, r reject (asks for a reason), E edit in $EDITOR (the edited answer is
re-verified at once), ↑↓ move. Filters: dataset, level, review state. Rejected CoTs and CoTs
that fail verification never reach an export.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Footer, Header, Select, Static

from acotd_tui.domain import ReviewState
from acotd_tui.domain import scheme as label_scheme
from acotd_tui.render import latexish
from acotd_tui.services import CotItem
from acotd_tui.store import Cot, CotFilter

from .base import AcotdScreen
from .widgets import PlainTable, Prompt, TextPanel

ANSWER_MARKER = "----- answer (keep \\boxed{...}) -----"
FAILED_VERIFICATION = "failed"  # not a review state: the filter for verified = 0
STATES = [
    ("review queue", ReviewState.QUEUED),
    ("not reviewed", ReviewState.NONE),
    ("approved", ReviewState.APPROVED),
    ("rejected", ReviewState.REJECTED),
    ("failed verification", FAILED_VERIFICATION),
]


class CotsScreen(AcotdScreen):
    CSS_PATH = "cots.tcss"
    BINDINGS = [
        Binding("a", "approve", "Approve"),
        Binding("r", "reject", "Reject"),
        Binding("E", "edit", "Edit"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.cots: list[Cot] = []
        self.current: CotItem | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="cot-filters"):
            yield Select([], prompt="dataset", id="dataset")
            yield Select([], prompt="level", id="level")
            yield Select(STATES, prompt="state", id="state")
        with Horizontal(id="cot-body"):
            yield PlainTable(id="cot-table", cursor_type="row", zebra_stripes=True)
            with Vertical(id="cot-detail"):
                yield Static("", id="cot-facts", markup=False)
                yield TextPanel("", id="cot-text")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#cot-table", DataTable)
        table.add_columns("id", "problem", "kind", "teacher", "gen", "check", "review")
        labels = label_scheme(self.services.scheme).labels
        self.query_one("#level", Select).set_options([(x, x) for x in labels])
        self.call(
            self.services.datasets,
            then=lambda ds: self.query_one("#dataset", Select).set_options(
                [(Text(d.name), d.id) for d in ds]  # names made before validation too
            ),
            group="datasets",
        )
        self.reload()
        table.focus()

    def _value(self, widget_id: str):
        value = self.query_one(f"#{widget_id}", Select).value
        return None if value is Select.NULL else value

    def reload(self, keep: int | None = None) -> None:
        state = self._value("state")
        flt = CotFilter(
            dataset_id=self._value("dataset"),
            label=self._value("level"),
            review=None if state in (None, FAILED_VERIFICATION) else state,
            verified=False if state == FAILED_VERIFICATION else None,
        )
        self.call(
            self.services.cot_list, flt, then=lambda cots: self.show_list(cots, keep), group="list"
        )

    def show_list(self, cots: list[Cot], keep: int | None) -> None:
        self.cots = cots
        table = self.query_one("#cot-table", DataTable)
        table.clear()
        for c in cots:
            check = {None: "·", True: "pass", False: "fail"}[c.verified] + (
                " ed" if c.edited else ""
            )
            table.add_row(
                str(c.id),
                str(c.problem_id),
                c.kind,
                c.teacher[-18:],
                str(c.generation),
                check,
                c.review,
                key=str(c.id),
            )
        if not cots:
            self.current = None
            self.query_one("#cot-facts", Static).update(
                "No CoTs match. Teach a dataset first (Jobs screen: n, teach)."
            )
            self.query_one("#cot-text", TextPanel).set_text("")
            return
        ids = [c.id for c in cots]
        table.move_cursor(row=ids.index(keep) if keep in ids else 0, animate=False)
        self.show_selected()

    def show_selected(self) -> None:
        table = self.query_one("#cot-table", DataTable)
        if not self.cots or table.cursor_row >= len(self.cots):
            return
        cot_id = self.cots[table.cursor_row].id
        self.call(self.services.cot_item, cot_id, then=self.show_item, group="item")

    def show_item(self, item: CotItem) -> None:
        self.current = item
        c, p = item.cot, item.problem
        verdict = {None: "not checked yet", True: "verified", False: "FAILED"}[c.verified]
        facts = [
            f"CoT {c.id} · problem {p.id} · level {item.level or '-'} · {c.kind} CoT by {c.teacher} (generation {c.generation})",
            f"reference answer: {p.answer}",
            f"CoT answer:       {latexish(c.final_answer or '(none)')}   → {verdict}"
            + (f" ({c.verify_detail})" if c.verify_detail else ""),
            f"review: {c.review}"
            + (f" - {c.review_note}" if c.review_note else "")
            + (" · edited by a person" if c.edited else ""),
        ]
        self.query_one("#cot-facts", Static).update("\n".join(facts))
        self.query_one("#cot-text", TextPanel).set_text(
            f"PROBLEM\n{p.problem}\n\nREASONING\n{c.final_reasoning}\n\nANSWER\n{c.final_answer_text}"
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_selected()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.is_mounted:
            self.reload()

    # -- actions -----------------------------------------------------------------------------
    def _after_change(self, cot: Cot) -> None:
        self.notify(
            f"CoT {cot.id}: {cot.review}" + ("" if cot.verified else " (not verified)"), timeout=2
        )
        self.reload(keep=cot.id)

    def action_approve(self) -> None:
        if self.current:
            self.call(
                self.services.approve, self.current.cot.id, then=self._after_change, group="write"
            )

    def action_reject(self) -> None:
        if not self.current:
            return
        cot_id = self.current.cot.id

        def with_reason(reason: str | None) -> None:
            if reason:
                self.call(
                    self.services.reject, cot_id, reason, then=self._after_change, group="write"
                )
            else:
                self.notify("not rejected: a rejection needs a reason", severity="warning")

        self.app.push_screen(
            Prompt(f"Why reject CoT {cot_id}?", "e.g. skips the key step"), with_reason
        )

    def action_edit(self) -> None:
        if not self.current:
            return
        cot = self.current.cot
        text = run_editor(
            f"{cot.final_reasoning}\n\n{ANSWER_MARKER}\n{cot.final_answer_text}\n", self.app
        )
        if text is None or ANSWER_MARKER not in text:
            self.notify(
                "edit not saved (unchanged, or the answer marker line was removed)",
                severity="warning",
            )
            return
        reasoning, _, answer = text.partition(ANSWER_MARKER)
        if (
            reasoning.strip() == cot.final_reasoning.strip()
            and answer.strip() == cot.final_answer_text.strip()
        ):
            self.notify("no change", timeout=2)
            return
        self.call(
            self.services.edit_cot,
            cot.id,
            reasoning,
            answer,
            then=self._after_change,
            group="write",
        )

    def action_reload(self) -> None:
        self.reload()


def run_editor(text: str, app) -> str | None:
    """Edit text in $VISUAL/$EDITOR with the terminal handed over; None if it failed."""
    from textual.app import SuspendNotSupported

    command = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as fh:
        fh.write(text)
        path = Path(fh.name)
    try:
        try:
            with app.suspend():
                code = subprocess.call([*command, str(path)])
        except SuspendNotSupported:  # headless (tests): no terminal to hand over
            code = subprocess.call([*command, str(path)])
        return path.read_text(encoding="utf-8") if code == 0 else None
    finally:
        path.unlink(missing_ok=True)
