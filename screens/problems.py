"""Problems: a filterable, searchable table that pages through SQLite, and a detail view.

Only one page (PAGE rows) is ever in memory: moving past the last row loads the next page by
keyset (`id > last`), past the first row the previous one (`id < first`), so a store with a
million problems scrolls as fast as one with a hundred. The total is counted in a worker.

Search runs as you type (`/`, full-text index, see `acotd_tui.store.search_query`). Every
threaded page or count carries the request it answers; a result for a superseded request is
dropped (thread workers cannot be stopped, so `exclusive=True` alone would let a slow old
answer paint over a fresh one), and a superseded query is abandoned inside SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import chain, zip_longest
from typing import Any, TypeGuard

from rich.cells import cell_len, set_cell_size
from rich.markup import escape as rich_escape
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.coordinate import Coordinate
from textual.css.query import NoMatches
from textual.geometry import Region, Size
from textual.message import Message
from textual.render import measure
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Collapsible, DataTable, Footer, Header, Input, Select, Static
from textual.widgets.data_table import Column, DuplicateKey, Row, RowKey

from acotd_tui.domain import SCHEMES, GradeSource
from acotd_tui.render import latexish
from acotd_tui.services import ProblemDetail
from acotd_tui.store import ProblemFilter, ProblemRow, QueryCancelled

from .base import AcotdScreen
from .widgets import PlainTable, TextPanel, safe

PAGE = 200
HeaderLine = tuple[list[list[Segment]], list[list[Segment]]]
LABEL_CHOICES = {str(s.name): s.labels for s in SCHEMES.values()}


def fit_cell(text: str, width: int) -> str:
    """`rich.cells.set_cell_size(text, width)`: padded with spaces or cropped to `width`
    cells. A page's cells fit their columns (show_rows sizes them), so this is mostly
    padding, without set_cell_size's grapheme split of any text that is not all
    single-width (a `…` ends every long problem line: ~0.2 ms a cell)."""
    length = cell_len(text)
    return text + " " * (width - length) if length <= width else set_cell_size(text, width)


def escape_cell(text: str) -> str:
    """`rich.markup.escape(text)`, without its regular expression for the many cells that
    it leaves as they are (no `[`, no trailing backslash)."""
    return rich_escape(text) if "[" in text or text.endswith("\\") else text


class PagedTable(PlainTable):
    """A DataTable that asks for the neighbouring page when the cursor runs off an edge, and
    shows a new page of plain one-line cells without re-measuring and re-parsing them.

    A stock DataTable spends ~80 ms (1,400 cells, 2 cores under load) measuring every cell of
    a new page through Rich to size its auto-width columns, and as long again rendering the
    visible cells through Rich's Padding/Styled pipeline (markup parsed twice per cell). Here
    `show_rows` sizes the columns from the cells' plain text (`cell_len`: what Rich's
    measure returns for one plain line), so the table never measures, and a one-line plain
    cell is rendered as the one segment Rich would have produced (`_render_cell`; any other
    cell, the header included, goes the stock way). Widths only grow, as auto widths do.
    tests/test_search.py checks the fast render against the stock one, line by line.
    """

    class Edge(Message):
        def __init__(self, forward: bool) -> None:
            super().__init__()
            self.forward = forward

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._row_styles: dict[tuple[int, bool, Style, object], Style] = {}
        self._line_style: Style | None = None  # the widget's style during one render_lines
        self._rows_resized = False  # a new page is being sized (see refresh)
        self._pass_columns: list[Column] | None = None  # during one render_lines
        self._pass_widths: list[int] | None = None
        self._pass_width: int | None = None  # the table's width during one render_lines
        self._header_lines: dict[tuple[object, ...], HeaderLine] = {}
        self._meta_styles: dict[tuple[Style, int, int, bool], Style] = {}

    def show_rows(self, rows: list[tuple[str, ...]], keys: list[str]) -> None:
        """Replace the rows: columns widened to fit `rows` (plain text), then added."""
        console = self.app.console
        for column, cells in zip(self.ordered_columns, zip(*rows, strict=True), strict=False):
            widest = max(
                cell_len(c) if c.isprintable() else measure(console, Text(c), 1) for c in cells
            )
            column.width = max(column.width, column.content_width, widest)
            column.auto_width = False  # sized here: the table must not measure again
        self.clear()
        self._add_one_line_rows(rows, keys)

    def _add_one_line_rows(self, rows: list[tuple[str, ...]], keys: list[str]) -> None:
        """`add_row(*cells, key=key)` for each row (cells escaped as PlainTable does), with
        the table's per-row bookkeeping (a reactive cursor re-set, the columns sorted twice)
        done once for the page: 200 rows cost ~15 ms less. Checked against add_row in
        tests/test_search.py."""
        columns = [column.key for column in self.ordered_columns]
        was_empty = not self.rows
        for cells, key in zip(rows, keys, strict=True):
            if len(cells) > len(columns):
                raise ValueError("More values provided than there are columns.")
            row_key = RowKey(key)
            if row_key in self._row_locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            self._row_locations[row_key] = len(self.rows)
            self._data[row_key] = dict(zip_longest(columns, map(escape_cell, cells)))
            self.rows[row_key] = Row(row_key, 1, None, False)
            self._new_rows.add(row_key)
        if not rows:
            return
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()
        self._update_count += 1
        self.check_idle()

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        if any(column.auto_width for column in self.columns.values()):
            super()._update_dimensions(new_rows)
            return
        # Widths set by show_rows; rows are one line: nothing to measure.
        self._rows_resized = not self.styles.auto_dimensions
        try:
            super()._update_dimensions(())
        finally:
            self._rows_resized = False

    def refresh(
        self,
        *regions: Region,
        repaint: bool = True,
        layout: bool = False,
        recompose: bool = False,
    ) -> PagedTable:
        """A new page changes what the table scrolls over (its virtual size), which asks the
        whole screen for a new layout (~15-25 ms at 1M problems); the table's box is fixed by
        problems.tcss, so only its scrollbars follow. A scrollbar that appears or goes asks
        for the layout itself."""
        if layout and self._rows_resized and not recompose:
            self._rows_resized = False
            super().refresh(*regions, repaint=repaint)
            self._scroll_update(self.virtual_size)
            return self
        super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)
        return self

    def _plain(self, value: object, width: int) -> TypeGuard[str]:
        """A cell drawn as one segment: one line of printable text with no markup to parse
        and room beside its padding; any other cell is rendered the stock way (control codes
        and tabs by Rich, `[`/`\\` as escaped markup)."""
        return (
            isinstance(value, str)
            and value.isprintable()
            and "[" not in value
            and "\\" not in value
            and width > 2 * self.cell_padding
        )

    def _plain_style(self, base_style: Style, *, cursor: bool, hover: bool) -> Style:
        """The style of a plain cell on a row with `base_style`, as DataTable works it out."""
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        return base_style + component_style + post_style

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        padding = self.cell_padding
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row = self.rows.get(row_key)
        value = self._data.get(row_key, {}).get(column_key)
        if (
            row is None
            or row.height != 1
            or not self._plain(value, width)
        ):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        lines = self._cell_render_cache.get(key)
        if lines is None:
            # Rich caches the sum of the row's styles; the (row, column) meta differs per cell.
            style = self._plain_style(base_style, cursor=cursor, hover=hover)
            style += Style.from_meta({"row": row_index, "column": column_index})
            pad = " " * padding
            text = pad + fit_cell(value, width - 2 * padding) + pad
            lines = [[Segment(text, style)]]
            self._cell_render_cache[key] = lines
        return lines

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        """The stock method for a row-cursor table without row labels or fixed columns,
        minus its per-line costs: the header's CSS style resolved and the columns sorted
        twice on every line of a repaint."""
        if (
            self.cursor_type != "row"
            or self.fixed_columns
            or (self._labelled_row_exists and self.show_row_labels)
        ):
            return super()._render_line_in_row(
                row_key, line_no, base_style, cursor_location, hover_location
            )
        key = (
            row_key,
            line_no,
            base_style,
            cursor_location,
            hover_location,
            self.cursor_type,
            self.show_cursor,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._row_render_cache.get(key)
        if cached is not None:
            return cached
        found = self._row_locations.get(row_key) if row_key in self._row_locations else None
        row_index = -1 if found is None else found  # the header: -1
        widths = self._pass_widths or [
            column.get_render_width(self) for column in self.ordered_columns
        ]
        header_key = None
        if row_index == -1:  # the header outlives pages: its own cache, not per update
            header_key = (
                line_no,
                base_style,
                tuple(widths),
                tuple(str(column.label) for column in self.ordered_columns),
                self.size.width,
                hover_location.row == -1,
                self.show_cursor,
                self._show_hover_cursor,
                self._pseudo_class_state,
            )
            header = self._header_lines.get(header_key)
            if header is not None:
                self._row_render_cache[key] = header
                return header
        row_style = self._get_row_style(row_index, base_style)
        highlight = self._should_highlight
        if row_index >= 0 and not self.fixed_rows and line_no == 0:
            cells = self._plain_row_cells(
                row_key,
                row_index,
                row_style,
                widths,
                cursor=row_index == cursor_location.row,
                hover=row_index == hover_location.row,
            )
        else:
            cells = [
                self._render_cell(
                    row_index,
                    column_index,
                    row_style,
                    width,
                    cursor=highlight(cursor_location, Coordinate(row_index, column_index), "row"),
                    hover=highlight(hover_location, Coordinate(row_index, column_index), "row"),
                )[line_no]
                for column_index, width in enumerate(widths)
            ]
        extend_style, _ = self._get_styles_to_render_cell(
            row_index == -1,
            False,
            False,
            highlight(hover_location, Coordinate(row_index or 0, 0), "row"),
            row_index == cursor_location.row,
            self.show_cursor,
            self._show_hover_cursor,
            False,
            False,
        )
        extend_style = self._with_meta(row_style + extend_style, row_index, 0, out_of_bounds=True)
        table_width = self._pass_width if self._pass_width is not None else self.size.width
        remaining = max(0, table_width - sum(widths) - self._row_label_column_width)
        cells.append([Segment(" " * remaining, extend_style)])
        pair: tuple[list[list[Segment]], list[list[Segment]]] = ([], cells)
        self._row_render_cache[key] = pair
        if header_key is not None:
            if len(self._header_lines) > 64:
                self._header_lines.clear()
            self._header_lines[header_key] = pair
        return pair

    def _plain_row_cells(
        self,
        row_key: RowKey,
        row_index: int,
        row_style: Style,
        widths: list[int],
        *,
        cursor: bool,
        hover: bool,
    ) -> list[list[Segment]]:
        """A row's cells for a row cursor, as `_render_cell` renders each (the cursor and
        hover are the row's, so the cells' style is worked out once per row, not once per
        cell); a cell that is not plain one-line text goes through `_render_cell`."""
        data = self._data.get(row_key, {})
        padding = self.cell_padding
        pad = " " * padding
        style: Style | None = None
        cells: list[list[Segment]] = []
        for column_index, (column, width) in enumerate(
            zip(self._pass_columns or self.ordered_columns, widths, strict=True)
        ):
            value = data.get(column.key)
            if not self._plain(value, width):
                cells.append(
                    self._render_cell(row_index, column_index, row_style, width, cursor, hover)[0]
                )
                continue
            if style is None:
                style = self._plain_style(row_style, cursor=cursor, hover=hover)
            text = pad + fit_cell(value, width - 2 * padding) + pad
            cells.append([Segment(text, self._with_meta(style, row_index, column_index))])
        return cells

    def _with_meta(self, style: Style, row: int, column: int, out_of_bounds: bool = False) -> Style:
        """`style` plus the cell's (row, column) meta, remembered across pages: the same
        cells of the next page get the same styles, so a new page's repaint builds (and the
        garbage collector later walks) ~250 fewer Style objects and pickles no meta."""
        key = (style, row, column, out_of_bounds)
        styled = self._meta_styles.get(key)
        if styled is None:
            if len(self._meta_styles) > 20_000:  # many styles (themes, focus): start over
                self._meta_styles.clear()
            meta: dict[str, object] = {"row": row, "column": column}
            if out_of_bounds:
                meta["out_of_bounds"] = True
            styled = self._meta_styles[key] = style + Style.from_meta(meta)
        return styled

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        """The stock method, remembered: it resolves the CSS of a component each call, and
        every visible line of a new page asks for it (~0.5 ms each on a loaded machine)."""
        if self.fixed_rows:
            return super()._get_row_style(row_index, base_style)
        parity = -1 if row_index < 0 else row_index % 2  # the header, even or odd rows
        key = (parity, self.zebra_stripes, base_style, self._pseudo_class_state)
        style = self._row_styles.get(key)
        if style is None:
            style = self._row_styles[key] = super()._get_row_style(row_index, base_style)
        return style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._line_style = self.rich_style  # resolved once, not once per line
        self._pass_columns = self.ordered_columns  # sorted once, not three times per line
        self._pass_widths = [column.get_render_width(self) for column in self._pass_columns]
        self._pass_width = self.size.width
        try:
            return super().render_lines(crop)
        finally:
            self._line_style = None
            self._pass_columns = None
            self._pass_widths = None
            self._pass_width = None

    def render_line(self, y: int) -> Strip:
        """The stock method for a table without fixed rows or columns, with the widget's
        style and the column widths worked out once per render_lines (the style walks the
        CSS ancestors: ~0.5 ms a line under load)."""
        if self.fixed_rows or self.fixed_columns or self._line_style is None:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        width = self._pass_width if self._pass_width is not None else self.size.width
        return self._render_unfixed_line(y, scroll_x, scroll_x + width, self._line_style)

    def _render_unfixed_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """DataTable._render_line without fixed columns (the same cache, the same line; its
        segments are not merged: cells differ in their meta, so Strip.simplify joins none
        and would only build one more Strip, seven caches each, per line)."""
        width = self._pass_width if self._pass_width is not None else self.size.width
        try:
            row_key, y_offset_in_row = self._get_offsets(y)
        except LookupError:
            return Strip.blank(width, base_style)
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        cache_key = (
            y,
            x1,
            x2,
            width,
            cursor,
            hover,
            base_style,
            self.cursor_type,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        strip = self._line_cache.get(cache_key)
        if strip is None:
            _, scrollable = self._render_line_in_row(
                row_key, y_offset_in_row, base_style, cursor, hover
            )
            segments = line_crop(list(chain.from_iterable(scrollable)), x1, x2, width)
            strip = Strip(segments).adjust_cell_length(width, base_style)
            self._line_cache[cache_key] = strip
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._row_styles.clear()
        self._header_lines.clear()
        self._meta_styles.clear()

    def _at_end(self) -> bool:
        return self.row_count > 0 and self.cursor_row >= self.row_count - 1

    def action_cursor_down(self) -> None:
        if self._at_end():
            self.post_message(self.Edge(True))
        else:
            super().action_cursor_down()

    def action_cursor_up(self) -> None:
        if self.row_count and self.cursor_row == 0:
            self.post_message(self.Edge(False))
        else:
            super().action_cursor_up()

    def action_page_down(self) -> None:
        if self._at_end():
            self.post_message(self.Edge(True))
        else:
            super().action_page_down()

    def action_page_up(self) -> None:
        if self.row_count and self.cursor_row == 0:
            self.post_message(self.Edge(False))
        else:
            super().action_page_up()


class SearchInput(Input):
    """The search field. Its box is fixed by problems.tcss, so a keystroke only repaints it.

    Input records the width of its text as its virtual size (how far it can scroll
    sideways) on every change, and a changed virtual size asks the whole screen for a new
    layout: ~15 ms of a search keystroke at 1M problems for a box that does not move. Here
    the size is recorded without that request when the box does not depend on its text."""

    def _watch_value(self, value: str) -> None:
        if not self.styles.auto_dimensions:
            self.set_reactive(Input.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)


def row_cells(r: ProblemRow) -> tuple[str, ...]:
    """One problem as the table's cells: id, source, split, label, student, CoTs, problem."""
    student = f"{r.correct}/{r.attempts}" if r.attempts else "-"
    label = (r.label or "-") + ("*" if r.label_source == GradeSource.HUMAN else "")
    return (
        str(r.id),
        r.source,
        r.split,
        label,
        student,
        str(r.cots) if r.cots else "",
        first_line(r.problem),
    )


def first_line(text: str, width: int = 90) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


class ProblemsScreen(AcotdScreen):
    CSS_PATH = "problems.tcss"
    BINDINGS = [
        Binding("slash", "search", "Search"),
        Binding("home,g", "first_page", "First"),
        Binding("end,G", "last_page", "Last"),
        Binding("ctrl+r", "reload", "Reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.filter = ProblemFilter()
        self.rows: list[ProblemRow] = []
        self.total: int | None = None
        # The newest filter (for counts) and page request; results for older ones are dropped.
        self.filter_request = 0
        self.page_request = 0
        self.shown_page_request = 0  # the request whose page is on screen (bench, tests)
        self.status_line = ""
        self.status_lines = 1  # lines the status text wraps to at the widget's width

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filters"):
            yield SearchInput(placeholder="/ search problem text", id="search")
            # In their own box: a repaint of the search field (every keystroke) then leaves
            # the four Selects (16 widgets) alone; Textual redraws every widget whose box
            # holds the repainted region.
            with Horizontal(id="selects"):
                yield Select([], prompt="source", id="source", allow_blank=True)
                yield Select([], prompt="label", id="label", allow_blank=True)
                yield Select(
                    [("correct", "yes"), ("wrong", "no"), ("not attempted", "none")],
                    prompt="student",
                    id="correct",
                    allow_blank=True,
                )
                yield Select(
                    [("with CoT", "yes"), ("without CoT", "no")],
                    prompt="CoT",
                    id="cot",
                    allow_blank=True,
                )
        yield PagedTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(PagedTable)
        table.add_columns("id", "source", "split", "label", "student", "CoTs", "problem")
        labels = LABEL_CHOICES[self.services.scheme]
        self.query_one("#label", Select).set_options(
            [(label, label) for label in labels] + [("unlabelled", "-")]
        )
        self.call(
            self.services.sources,
            then=lambda s: self.query_one("#source", Select).set_options(
                [(Text(x), x) for x in s]  # source names come from files: shown as typed
            ),
            group="sources",
        )
        self.reload()
        table.focus()

    # -- data --------------------------------------------------------------------------------
    def build_filter(self) -> ProblemFilter:
        def value(widget_id: str) -> str | None:
            v = self.query_one(f"#{widget_id}", Select).value
            return None if v is Select.NULL else str(v)

        label, correct, cot = value("label"), value("correct"), value("cot")
        source = value("source")
        return ProblemFilter(
            sources=(source,) if source else (),
            labels=(label,) if label and label != "-" else (),
            unlabelled=label == "-",
            scheme=self.services.scheme,
            correct={"yes": True, "no": False}.get(correct or ""),
            has_attempt=False if correct == "none" else None,
            has_cot={"yes": True, "no": False}.get(cot or ""),
            text=self.query_one("#search", Input).value.strip(),
        )

    def reload(self) -> None:
        self.filter = self.build_filter()
        self.filter_request += 1
        self.total = None
        request = self.filter_request
        self.load_page(
            after_id=0,
            cursor=0,
            fresh=True,
            shown=lambda: self.call_after_refresh(self.count_matches, request),
        )

    def count_matches(self, request: int) -> None:
        """Count the matches of filter `request` in a worker, started once its first page is
        on screen (the count of a common word at 1M takes ~80 ms: a keystroke's page neither
        waits for it nor shares the CPU with it); a superseded filter is not counted."""
        if request != self.filter_request:
            return
        flt = self.filter

        def stale() -> bool:
            return request != self.filter_request

        def count() -> int | None:
            try:
                return self.services.problem_count(flt, cancelled=stale)
            except QueryCancelled:
                return None

        self.call(count, then=lambda total: self.set_total(total, request), group="count")

    def set_total(self, total: int | None, request: int) -> None:
        if total is None or request != self.filter_request:
            return  # the count of a filter that has since changed
        if not self.has_widget("status"):
            return  # the screen is closing (the app quit while the count ran)
        self.total = total
        self.update_status()

    def load_page(
        self,
        *,
        after_id: int | None = None,
        before_id: int | None = None,
        cursor: int = 0,
        fresh: bool = False,
        shown: Callable[[], object] | None = None,
    ) -> None:
        """Load a page of `self.filter`; `fresh` (a new filter) shows it even when empty;
        `shown` runs once it is shown (not for a superseded request)."""
        flt = self.filter
        self.page_request += 1
        request = self.page_request

        def stale() -> bool:
            return request != self.page_request

        def fetch() -> list[ProblemRow] | None:
            try:
                if before_id is not None:
                    return self.services.problem_page(
                        flt, before_id=before_id, limit=PAGE, cancelled=stale
                    )
                return self.services.problem_page(
                    flt, after_id=after_id or 0, limit=PAGE, cancelled=stale
                )
            except QueryCancelled:
                return None

        def then(rows: list[ProblemRow] | None) -> None:
            if rows is not None and not stale() and self.has_widget("table"):
                self.show_page(rows, cursor, fresh)
                self.shown_page_request = request
                if shown is not None:
                    shown()

        self.call(fetch, then=then, group="page")

    def show_page(self, rows: list[ProblemRow], cursor: int, fresh: bool = False) -> None:
        if not rows and self.rows and not fresh:
            return  # ran off the end: stay where we are
        self.rows = rows
        table = self.query_one(PagedTable)
        if rows or table.row_count:  # (no rows before or after: nothing to redraw)
            table.show_rows([row_cells(r) for r in rows], [str(r.id) for r in rows])
        if rows:
            table.move_cursor(row=max(0, min(cursor, len(rows) - 1)), animate=False)
        self.update_status()

    def has_widget(self, widget_id: str) -> bool:
        """Whether the screen still holds `#widget_id` (not while it closes). A lookup by
        id, not `self.query`, which walks every widget (~0.5 ms a keystroke)."""
        try:
            self.query_one(f"#{widget_id}")
        except NoMatches:
            return False
        return True

    def update_status(self) -> None:
        total = "…" if self.total is None else f"{self.total:,}"
        if not self.rows:
            status = f"no problems match (of {total})"
        else:
            first, last = self.rows[0].id, self.rows[-1].id
            status = f"{len(self.rows)} rows, ids {first:,}–{last:,} of {total} matching · ↑↓ move across pages · g/G first/last · Enter opens · * = human label"
        if status != self.status_line:
            widget = self.query_one("#status", Static)
            # Repainted in place, unless the new text wraps to another number of lines (an
            # 80-column terminal: the key hints take a second line): only then laid out.
            width = max(1, widget.content_region.width)
            lines = len(Content(status).wrap(width)) if widget.content_region.width else 0
            self.status_line = status
            widget.update(status, layout=lines != self.status_lines)
            self.status_lines = lines

    # -- events ------------------------------------------------------------------------------
    def on_paged_table_edge(self, event: PagedTable.Edge) -> None:
        if not self.rows:
            return
        if event.forward:
            if len(self.rows) == PAGE:
                self.load_page(after_id=self.rows[-1].id, cursor=0)
        else:
            self.load_page(before_id=self.rows[0].id, cursor=PAGE - 1)

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.is_mounted and self.build_filter() != self.filter:
            self.reload()  # search as you type

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self.build_filter() != self.filter:
            self.reload()
        self.query_one(PagedTable).focus()

    def on_select_changed(self, event: Select.Changed) -> None:
        if self.is_mounted:
            self.reload()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.open_problem(int(event.row_key.value))

    def open_problem(self, problem_id: int) -> None:
        self.call(
            self.services.problem_detail,
            problem_id,
            then=lambda d: self.app.push_screen(ProblemDetailScreen(d)),
            group="detail",
        )

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_first_page(self) -> None:
        self.load_page(after_id=0, cursor=0)

    def action_last_page(self) -> None:
        self.load_page(before_id=2**62, cursor=PAGE - 1)

    def action_reload(self) -> None:
        self.reload()


class ProblemDetailScreen(Screen):
    """One problem with all its attempts, grades and CoTs."""

    CSS_PATH = "problems.tcss"
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back")]

    def __init__(self, detail: ProblemDetail) -> None:
        super().__init__()
        self.detail = detail

    def compose(self) -> ComposeResult:
        d = self.detail
        p = d.problem
        yield Header()
        with VerticalScroll(id="detail"):
            label = d.label.label if d.label else None
            source = d.label.source if d.label else "ungraded"
            yield Static(
                f"Problem {p.id} · {p.source}/{p.split or '-'} · {p.domain}"
                + (f" · level {p.level}" if p.level else "")
                + (f" · {p.subject}" if p.subject else ""),
                classes="section-title",
                markup=False,
            )
            yield TextPanel(p.problem, classes="problem-text")
            yield Static(
                f"Reference answer: {p.answer}    Current label: {label or '-'} ({source})",
                classes="facts",
                markup=False,
            )
            yield Static(f"Attempts ({len(d.attempts)})", classes="section-title")
            for a in d.attempts:
                mark = {True: "✓", False: "✗", None: "?"}[a.correct]
                title = (
                    f"{mark} {a.model} #{a.sample_index}: answer {latexish(a.final_answer or '(none)')}"
                    + (" · truncated" if a.truncated else "")
                )
                with Collapsible(title=safe(title), collapsed=True):
                    yield TextPanel(a.cot or a.raw_text)
            yield Static(f"Grades ({len(d.grades)})", classes="section-title")
            grades = PlainTable(id="grades", cursor_type="row")
            yield grades
            yield Static(f"Teacher CoTs ({len(d.cots)})", classes="section-title")
            for c in d.cots:
                state = {None: "unchecked", True: "verified", False: "failed"}[c.verified]
                with Collapsible(
                    title=safe(
                        f"{c.kind} · {c.teacher} · gen {c.generation} · {state} · {c.review} · answer {latexish(c.final_answer or '(none)')}"
                    ),
                    collapsed=True,
                ):
                    yield TextPanel(c.final_reasoning + "\n\n" + c.final_answer_text)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#detail", VerticalScroll).focus()  # scroll keys work at once
        table = self.query_one("#grades", DataTable)
        table.add_columns(
            "scheme", "source", "attempt", "label", "grader", "flags", "rationale / note"
        )
        for g in self.detail.grades:
            flags = ("needs review " if g.needs_review else "") + (g.conflict or "")
            table.add_row(
                g.scheme,
                g.source,
                str(g.attempt_id or ""),
                g.label or "-",
                g.model or "",
                flags,
                first_line(g.note or g.rationale or "", 70),
            )
