"""Problem search: the FTS5 index (migration m010), safe queries, the CLI and the screen."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main
from acotd_tui.store import (
    NewProblem,
    ProblemFilter,
    QueryCancelled,
    Store,
    search_query,
)
from acotd_tui.store.migrations import MIGRATIONS, m010_problem_search, migrate

TEXTS = [
    "A triangle has sides 3, 4 and 5. Find its area.",
    "Solve x^2 + 3x = 0 over the reals.",
    "The café sells a naïve pie for $5; how many pies for $35?",
    "Near the river, NEAR(1, 2) is a function: find f(2) - f(1).",
    "Triangles ABC and DEF are similar; find the ratio of their areas.",
]


def problems(texts: list[str], source: str = "s") -> list[NewProblem]:
    return [NewProblem(problem=t, answer="1", source=source) for t in texts]


def found(store: Store, text: str, **kw) -> list[str]:
    flt = ProblemFilter(text=text, **kw)
    rows = store.problems.page(flt, limit=100)
    assert store.problems.count(flt) == len(rows)
    # The generic WHERE (used by other callers) selects the same problems.
    where, params = flt.where()
    scanned = [
        r[0]
        for r in store.db.query(f"SELECT p.id FROM problems p WHERE {where} ORDER BY p.id", params)
    ]
    assert scanned == [r.id for r in rows]
    return [r.problem for r in rows]


def test_words_match_whole_words_and_a_star_asks_for_a_prefix(tmp_path):
    store = Store(tmp_path / "a.db")
    store.problems.add(problems(TEXTS))
    assert found(store, "triangle") == [TEXTS[0]]
    assert found(store, "TRIANGLE area") == [TEXTS[0]]  # any case; every word must occur
    assert found(store, "area triangle") == [TEXTS[0]]  # any order
    assert found(store, "triang") == []  # whole words by default
    assert found(store, "triang*") == [TEXTS[0], TEXTS[4]]
    assert found(store, "cafe naive") == [TEXTS[2]]  # diacritics folded
    assert found(store, "x^2") == [TEXTS[1]]  # punctuation splits words: phrase "x 2"
    assert found(store, "triangle zebra") == []
    assert found(store, "find", sources=("other",)) == []
    assert len(found(store, "find")) == 3


HOSTILE = [
    '"',
    '""',
    '"triangle',
    "*",
    "**",
    "tri*angle",
    "NEAR(",
    "NEAR(1, 2)",
    "-",
    "-triangle",
    "triangle -area",
    ":",
    "problem:triangle",
    "{problem}: triangle",
    "AND",
    "OR triangle",
    "NOT",
    "triangle AND",
    "^",
    "(",
    ")",
    "+",
    "$",
    "'",
    "\\",
    "a\x00b",
    "\x00",
    "\t\n",
    "é" * 3,
    "x" * 5000,
    " ".join(["find"] * 2000),
]


def test_hostile_search_text_never_raises_and_stays_plain_text(tmp_path):
    store = Store(tmp_path / "a.db")
    store.problems.add(problems(TEXTS))
    for text in HOSTILE:
        query = search_query(text)
        assert query is None or query.count('"') % 2 == 0, text
        found(store, text)  # no sqlite3.OperationalError (fts5: syntax error)
    # Syntax characters are text: NEAR( is the word "near", "-" negates nothing.
    assert found(store, "NEAR(") == [TEXTS[3]]
    assert found(store, "river -function") == [TEXTS[3]]  # "-" is no NOT: both words occur
    assert found(store, "river -triangle") == []  # (as a NOT it would find TEXTS[3])
    assert found(store, "OR triangle") == []  # "or" is a word like any other
    assert found(store, '"triangle') == [TEXTS[0]]
    # No word at all: nothing matches (the index holds only letters and digits).
    assert found(store, "$") == [] and found(store, '"') == []
    assert found(store, "   ") == found(store, "")  # blank is no search
    assert len(found(store, "")) == len(TEXTS)


def test_index_follows_insert_update_and_delete(tmp_path):
    store = Store(tmp_path / "a.db")
    result = store.problems.add(problems(TEXTS[:2]))
    assert (result.added, result.duplicates) == (2, 0)  # the index's writes are not counted
    again = store.problems.add(problems(TEXTS[:1] + TEXTS[2:3]))
    assert (again.added, again.duplicates) == (1, 1)
    assert found(store, "cafe") == [TEXTS[2]]
    with store.db.tx() as conn:  # an insert not made by insert_rows: the trigger indexes it
        conn.execute(
            "INSERT INTO problems (hash, source, problem, answer) VALUES (?, 's', ?, '1')",
            (b"x" * 16, "A lone hexagon."),
        )
    assert found(store, "hexagon") == ["A lone hexagon."]
    assert not store.db.query("SELECT * FROM search_bulk")  # insert_rows leaves no flag
    with store.db.tx() as conn:
        conn.execute(
            "UPDATE problems SET problem = 'A square with side 7.' WHERE problem = ?", (TEXTS[0],)
        )
    assert found(store, "triangle") == [] and found(store, "square") == ["A square with side 7."]
    with store.db.tx() as conn:
        conn.execute("UPDATE problems SET answer = '2'")  # other columns: the text is kept
        conn.execute("DELETE FROM problems WHERE problem LIKE 'Solve%'")
    assert found(store, "solve") == [] and found(store, "square") == ["A square with side 7."]
    # The index matches the table exactly (FTS5's own check against the content table).
    store.db.query("INSERT INTO problems_fts(problems_fts) VALUES ('integrity-check')")


def test_migration_backfills_existing_problems_and_is_atomic(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    before = MIGRATIONS[: MIGRATIONS.index(m010_problem_search)]
    migrate(conn, before)
    conn.close()
    store = Store(path)  # opening migrates; add the rows on a pre-search schema instead:
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE problems_fts")
    conn.execute("DROP TABLE search_bulk")
    for trigger in ("problems_ai", "problems_ad", "problems_au"):
        conn.execute(f"DROP TRIGGER {trigger}")
    conn.execute("DELETE FROM schema_version WHERE name = 'm010_problem_search'")
    conn.executemany(
        "INSERT INTO problems (hash, source, problem, answer) VALUES (?, 's', ?, '1')",
        [(bytes([i]) * 16, t) for i, t in enumerate(TEXTS)],
    )

    def m010_then_fail(c: sqlite3.Connection) -> None:
        m010_problem_search(c)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        migrate(conn, [*before, m010_then_fail])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "problems_fts" not in tables and "problems_ai" not in tables  # rolled back whole
    conn.close()
    store = Store(path)
    assert found(store, "triangle") == [TEXTS[0]]  # backfilled
    store.problems.add(problems(["One more triangle."]))
    assert found(store, "triangle") == [TEXTS[0], "One more triangle."]  # and kept in sync


def test_a_count_no_longer_wanted_stops(tmp_path):
    from tests.bulk import fill_problems

    store = Store(tmp_path / "a.db")
    fill_problems(store, 20_000)
    flt = ProblemFilter(text="train")
    assert store.problems.count(flt) == 20_000
    with pytest.raises(QueryCancelled):
        store.problems.count(flt, cancelled=lambda: True)
    polls = 0

    def after_a_while() -> bool:  # the answer stops being wanted mid-query
        nonlocal polls
        polls += 1
        return polls > 2

    with pytest.raises(QueryCancelled):
        store.problems.count(flt, cancelled=after_a_while)
    assert polls > 2
    with pytest.raises(QueryCancelled):
        store.problems.page(ProblemFilter(text="train"), cancelled=after_a_while)
    # The connection is left as it was: later queries run to the end.
    assert store.problems.count(flt) == 20_000
    assert len(store.problems.page(flt, limit=5)) == 5


def test_cli_problems_list_search(project):
    project.store.problems.add(problems(TEXTS))
    runner = CliRunner()
    root = str(project.root)
    result = runner.invoke(main, ["problems", "list", "-p", root, "--search", "find"])
    assert result.exit_code == 0, result.output
    assert "1 of 3" not in result.output and "3 shown of 3 matching" in result.output
    result = runner.invoke(
        main, ["problems", "list", "-p", root, "--search", 'triang* "NEAR(', "--limit", "1"]
    )
    assert result.exit_code == 0 and "0 shown of 0 matching" in result.output
    result = runner.invoke(
        main, ["problems", "list", "-p", root, "--search", "find", "--limit", "2"]
    )
    lines = [line for line in result.stdout.splitlines() if line[:1].isdigit()]
    assert len(lines) == 2 and "2 shown of 3 matching" in result.output


# -- the Problems screen ---------------------------------------------------------------------


async def settle(app) -> None:
    from textual.worker import WorkerCancelled

    for _ in range(3):
        try:
            await app.workers.wait_for_complete()
        except WorkerCancelled:
            continue


async def test_screen_searches_as_you_type_and_drops_stale_results(project):
    from textual.widgets import DataTable, Static

    from acotd_tui.app import AcotdApp

    project.store.problems.add(problems(TEXTS))
    app = AcotdApp(project)
    release = threading.Event()
    services = app.services
    page, count = services.problem_page, services.problem_count

    def held(result, flt):  # the answer for "find" comes back late, after newer ones
        if flt.text == "find":
            release.wait(10)
        return result

    services.problem_page = lambda flt, **kw: held(page(flt, **kw), flt)
    services.problem_count = lambda flt, **kw: held(count(flt, **kw), flt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(app)
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#table", DataTable)
        assert table.row_count == len(TEXTS)
        await pilot.press("slash", *"find")  # no Enter: the search runs as you type
        await pilot.press(*" triangles")
        for _ in range(500):  # deterministic end condition; the bound only stops a hang
            await pilot.pause(0.02)
            if screen.shown_page_request == screen.page_request and screen.total is not None:
                break
        rows = [table.get_row_at(i)[-1] for i in range(table.row_count)]
        assert rows == [TEXTS[4][:89] + "…"] or rows == [TEXTS[4]]
        assert "of 1 matching" in str(screen.query_one("#status", Static).render())
        release.set()  # now the stale "find" page (3 rows) and count (3) arrive
        await settle(app)
        await pilot.pause(0.1)
        assert table.row_count == 1
        assert "of 1 matching" in str(screen.query_one("#status", Static).render())
        screen.query_one("#search").value = "$"  # no word: nothing matches, nothing raises
        await settle(app)
        await pilot.pause(0.1)
        assert table.row_count == 0
        assert "no problems match (of 0)" in str(screen.query_one("#status", Static).render())


# -- the Problems table: what a keystroke costs (bench/tui_latency.py times it) ---------------

ODD_CELLS = [
    ("1", "gsm8k", "train", "E", "-", "", "A train leaves at 7 o'clock."),
    ("2", "src [b]x[/b]", "te\tst", "M*", "1/2", "3", "markup [red]stays[/] text \\"),
    ("3", "三角形", "", "-", "-", "", "wide 🚂 cells and é"),
    ("40", "a\x00b", "train", "H", "2/2", "", "x" * 120),
]


def twin_app():
    from textual.app import App

    from acotd_tui.screens.problems import PagedTable
    from acotd_tui.screens.widgets import PlainTable

    class Twin(App):
        CSS = "DataTable { height: 8; }"
        AUTO_FOCUS = None  # a focused table has other colours: neither is

        def compose(self):
            yield PagedTable(id="fast", zebra_stripes=True, cursor_type="row")
            yield PlainTable(id="stock", zebra_stripes=True, cursor_type="row")

    return Twin()


async def test_paged_table_shows_rows_as_the_stock_table_does():
    """show_rows (widths from plain text, rows added in bulk, one-segment cells) gives the
    same cells, widths and rendered lines as DataTable.add_row and DataTable's renderer."""
    from textual.coordinate import Coordinate
    from textual.widgets.data_table import DuplicateKey

    app = twin_app()
    async with app.run_test(size=(200, 20)) as pilot:
        fast, stock = app.query_one("#fast"), app.query_one("#stock")
        columns = ("id", "source", "split", "label", "student", "CoTs", "problem")
        for table in (fast, stock):
            table.add_columns(*columns)
        for rows in (ODD_CELLS, ODD_CELLS[:2], []):  # a new page, a shorter one, none
            keys = [f"k{c[0]}" for c in rows]
            fast.show_rows(list(rows), keys)
            stock.clear()
            for cells, key in zip(rows, keys, strict=True):
                stock.add_row(*cells, key=key)
            for cursor in (0, 1):
                for table in (fast, stock):
                    table.move_cursor(row=cursor)
                    table.hover_coordinate = Coordinate(1 - cursor, 3)  # the mouse's row
                    table._show_hover_cursor = cursor == 1
                await pilot.pause()
                assert fast.row_count == stock.row_count == len(rows)
                for i in range(len(rows)):
                    assert fast.get_row_at(i) == stock.get_row_at(i)
                    assert fast.get_row_at(i)[1] == rich_escaped(rows[i][1])
                assert [c.get_render_width(fast) for c in fast.ordered_columns] == [
                    c.get_render_width(stock) for c in stock.ordered_columns
                ]
                for y in range(fast.size.height):
                    mine, theirs = fast.render_line(y).simplify(), stock.render_line(y).simplify()
                    assert [(s.text, s.style) for s in mine] == [
                        (s.text, s.style) for s in theirs
                    ], (rows, cursor, y)
                whole = fast.size.region  # a repaint: lines drawn with per-pass values
                for y, (mine, theirs) in enumerate(
                    zip(fast.render_lines(whole), stock.render_lines(whole), strict=True)
                ):
                    assert [(s.text, s.style) for s in mine.simplify()] == [
                        (s.text, s.style) for s in theirs.simplify()
                    ], (rows, cursor, y)
        with pytest.raises(DuplicateKey):
            fast.show_rows([ODD_CELLS[0], ODD_CELLS[0]], ["same", "same"])


def rich_escaped(text: str) -> str:
    from rich.markup import escape

    return escape(text)


async def test_a_search_keystroke_redraws_only_what_fits_on_screen(project):
    """A keystroke that brings a new page of 200 rows measures none of its cells and renders
    only the rows that fit in the table, whatever the page size (the cost that made a
    keystroke at 1M problems take ~150 ms to reach the screen)."""
    import textual.widgets._data_table as data_table
    from textual.widgets import DataTable

    from acotd_tui.app import AcotdApp
    from acotd_tui.screens.problems import PAGE, PagedTable

    from .bulk import fill_problems

    fill_problems(project.store, PAGE + 50)
    app = AcotdApp(project)
    measured = rendered = 0
    measure, render_cell = data_table.measure, PagedTable._render_cell
    row_cells = PagedTable._plain_row_cells  # a row's plain cells, drawn together

    def counting_measure(*args, **kwargs):
        nonlocal measured
        measured += 1
        return measure(*args, **kwargs)

    def counting_render(self, *args, **kwargs):
        nonlocal rendered
        rendered += 1
        return render_cell(self, *args, **kwargs)

    def counting_row_cells(self, *args, **kwargs):
        nonlocal rendered
        cells = row_cells(self, *args, **kwargs)
        rendered += len(cells)
        return cells

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(app)
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#table", DataTable)
        await pilot.press("slash", *"zebr")  # no match: an empty table
        await settle(app)
        await pilot.pause()
        assert table.row_count == 0
        data_table.measure = counting_measure
        PagedTable._render_cell = counting_render
        PagedTable._plain_row_cells = counting_row_cells
        try:
            screen.query_one("#search").value = "train"  # every problem: a full page
            for _ in range(500):  # deterministic end condition; the bound only stops a hang
                await pilot.pause(0.02)
                if screen.shown_page_request == screen.page_request and screen.total:
                    break
            await pilot.pause()
        finally:
            data_table.measure = measure
            PagedTable._render_cell = render_cell
            PagedTable._plain_row_cells = row_cells
        assert table.row_count == PAGE
        assert screen.total == PAGE + 50
        assert measured == 0
        visible_cells = table.size.height * len(table.columns)
        assert 0 < rendered <= 2 * visible_cells < PAGE * len(table.columns) / 2


async def test_typing_a_search_never_lays_out_the_screen_again(project):
    """A keystroke repaints the field, the table and the status line but never lays out the
    screen (~15-25 ms at 1M problems): not for the field's text, not for a page of another
    length. The field still scrolls sideways to keep its cursor in view."""
    from textual.screen import Screen

    from acotd_tui.app import AcotdApp
    from acotd_tui.screens.problems import PAGE

    from .bulk import fill_problems

    fill_problems(project.store, PAGE + 50)
    app = AcotdApp(project)
    layouts = 0
    refresh_layout = Screen._refresh_layout

    def counting(self, *args, **kwargs):
        nonlocal layouts
        layouts += 1
        return refresh_layout(self, *args, **kwargs)

    async def typed(pilot, screen, *keys: str) -> None:
        await pilot.press(*keys)
        for _ in range(500):  # deterministic end condition; the bound only stops a hang
            await pilot.pause(0.02)
            if screen.shown_page_request == screen.page_request and screen.total is not None:
                break
        await pilot.pause()

    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(app)
        await pilot.pause()
        screen = app.screen
        table = screen.query_one("#table")
        search = screen.query_one("#search")
        await pilot.press("slash")
        await pilot.pause()
        Screen._refresh_layout = counting
        try:
            await typed(pilot, screen, *"zebr")  # a full page, then none
            assert table.row_count == 0
            await typed(pilot, screen, "backspace", "backspace", "backspace", "backspace")
            await typed(pilot, screen, *"train")  # none, then a full page again
            assert table.row_count == PAGE
        finally:
            Screen._refresh_layout = refresh_layout
        assert layouts == 0
        search.insert_text_at_cursor(" compute" * 8)  # wider than the field
        await typed(pilot, screen)
        assert search.scroll_offset.x > 0
        region = search.content_region  # the cursor in view (at most on the cell after the text)
        assert region.x <= search.cursor_screen_offset.x <= region.right
