"""Settings: the models and endpoints of acotd.toml, and whether each API key is set.

Keys are never shown: only whether the environment variable a role names is present.
Edit acotd.toml in any editor, then ctrl+r reloads it here (errors are reported, the old
configuration stays in force).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from acotd_tui.formatting import shown_path

from .base import AcotdScreen
from .widgets import PlainTable


class SettingsScreen(AcotdScreen):
    CSS_PATH = "settings.tcss"
    BINDINGS = [Binding("ctrl+r", "reload", "Reload acotd.toml")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="paths", markup=False)
        yield Static("Models", classes="section-title")
        yield PlainTable(id="roles", cursor_type="row")
        yield Static("", id="missing", markup=False)
        yield Static("API limits", classes="section-title")
        yield Static("", id="limits", markup=False)
        yield Static("", id="sandbox", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#roles", DataTable).add_columns(
            "role", "backend", "API key", "model", "endpoint", "key variable"
        )
        self.load()

    def load(self) -> None:
        self.call(self.services.settings, then=self.show, group="settings")

    def show(self, data) -> None:
        self.query_one("#paths", Static).update(
            f"project {shown_path(data.root)}\nconfig  {shown_path(data.config_path)}   grading scheme {data.scheme}"
        )
        table = self.query_one("#roles", DataTable)
        table.clear()
        for r in data.roles:
            key = "not needed" if r.key_present is None else ("set" if r.key_present else "MISSING")
            table.add_row(
                r.role, r.backend, key, r.model, r.api_base or "(provider default)", r.key_env or ""
            )
        self.query_one("#missing", Static).update(
            f"not configured: {', '.join(data.missing_roles)}" if data.missing_roles else ""
        )
        self.query_one("#limits", Static).update(
            "   ".join(f"{k} {v}" for k, v in data.limits.items())
        )
        self.query_one("#sandbox", Static).update(Text(f"code sandbox: {data.sandbox}"))

    def action_reload(self) -> None:
        def reload() -> None:
            self.services.reload_config()

        def done(_) -> None:
            self.notify("acotd.toml reloaded", timeout=2)
            self.load()

        self.call(reload, then=done, group="reload")  # a bad file is reported, the old config stays
