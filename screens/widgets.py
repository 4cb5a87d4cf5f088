"""Small widgets the screens share: a scrollable text panel and a one-line prompt."""

from __future__ import annotations

from typing import Any

from rich.markup import escape as rich_escape
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static
from textual.widgets.data_table import RowKey

from acotd_tui.render import latexish


def safe(value: object) -> str:
    """A user- or model-written string made safe to put inside markup: `[/x]` shows as
    typed instead of crashing the app (MarkupError) or, with `[@click=...]`, running an
    action. Use it for every such string in text that is parsed as markup.

    Every `[` is escaped, not only tag-like ones: Textual's own `escape` left `'[/' for H`
    (the ratios field while `6:3:[/x]` is being typed) as a closing tag, a MarkupError.
    A trailing backslash would escape the caller's closing tag: a zero-width space ends it."""
    text = str(value).replace("[", "\\[")
    return text + "\u200b" if text.endswith("\\") else text


class PlainTable(DataTable):
    """A DataTable whose string cells are shown as typed, never parsed as markup.

    DataTable parses `str` cells as Rich markup; cells here hold problem text, sources,
    model answers, job errors and names, any of which may contain `[...]`. Cells stay
    strings (Rich-escaped, so unchanged unless they hold something tag-like)."""

    def add_row(self, *cells: Any, **kwargs: Any) -> RowKey:
        return super().add_row(
            *(rich_escape(c) if isinstance(c, str) else c for c in cells), **kwargs
        )


class TextPanel(VerticalScroll):
    """Scrollable, LaTeX-ish rendered text (long CoTs scroll; markup is never interpreted)."""

    DEFAULT_CSS = """
    TextPanel { height: auto; max-height: 100%; }
    TextPanel > Static { width: 100%; }
    """

    def __init__(self, text: str = "", *, raw: bool = False, **kwargs) -> None:
        super().__init__(**kwargs)
        self._text = text
        self._raw = raw

    def compose(self) -> ComposeResult:
        yield Static(self._format(self._text), markup=False)

    def _format(self, text: str) -> str:
        return text if self._raw else latexish(text)

    def set_text(self, text: str) -> None:
        self._text = text
        self.query_one(Static).update(self._format(text))
        self.scroll_home(animate=False)


class Prompt(ModalScreen[str | None]):
    """Ask for one line of text (Enter accepts, Escape cancels)."""

    BINDINGS = [("escape", "cancel", "Cancel")]
    DEFAULT_CSS = """
    Prompt { align: center middle; }
    Prompt > Vertical { width: 70; height: auto; border: round $accent; padding: 1 2; background: $surface; }
    """

    def __init__(self, question: str, placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, markup=False)
            yield Input(placeholder=self.placeholder, id="answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
