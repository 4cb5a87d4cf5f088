"""The Textual application: one project, a screen for every step a person takes part in.

Screens are modes (1-8 switch between them, each keeps its state); `?` shows the keys of
the current screen; the command palette (ctrl+p) lists screens and new jobs. Nothing slow
runs on the UI thread: screens call `AppServices` from worker threads, and jobs run in
worker processes that the app watches through the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from acotd_tui.formatting import shown_path
from acotd_tui.project import Project
from acotd_tui.screens.cots import CotsScreen
from acotd_tui.screens.dashboard import DashboardScreen
from acotd_tui.screens.jobs import JobsScreen
from acotd_tui.screens.problems import ProblemsScreen
from acotd_tui.screens.results import ResultsScreen
from acotd_tui.screens.review import ReviewScreen
from acotd_tui.screens.sampling import SamplingScreen
from acotd_tui.screens.settings import SettingsScreen
from acotd_tui.services import JOB_KINDS, AppServices

SCREENS = (
    ("dashboard", "Dashboard", DashboardScreen),
    ("problems", "Problems", ProblemsScreen),
    ("review", "Label review", ReviewScreen),
    ("cots", "CoT approval", CotsScreen),
    ("sampling", "Sampling", SamplingScreen),
    ("jobs", "Jobs", JobsScreen),
    ("results", "Results", ResultsScreen),
    ("settings", "Settings", SettingsScreen),
)


class AcotdApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "acotd"
    MODES = {mode: cls for mode, _, cls in SCREENS}
    DEFAULT_MODE = "dashboard"
    BINDINGS = [
        *(
            Binding(str(i), f"switch_mode('{mode}')", title, show=False)
            for i, (mode, title, _) in enumerate(SCREENS, start=1)
        ),
        Binding("question_mark", "toggle_help", "Keys"),
    ]

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.services = AppServices(project)
        self.sub_title = f"{project.config.name} · {shown_path(project.root)}"

    def action_toggle_help(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for number, (mode, title, _) in enumerate(SCREENS, start=1):
            yield SystemCommand(
                f"Go to {title}",
                f"Switch to the {title} screen (key {number})",
                partial(self.switch_mode, mode),
            )
        for kind in JOB_KINDS:
            yield SystemCommand(
                f"New {kind} job", f"Open the form for a {kind} job", partial(self.new_job, kind)
            )

    def new_job(self, kind: str) -> None:
        self.switch_mode("jobs")
        self.call_later(lambda: self.screen.open_job_form(kind))  # type: ignore[attr-defined]

    def on_unmount(self) -> None:
        self.project.close()


def run_app(root: Path) -> None:
    AcotdApp(Project.open(root)).run()
