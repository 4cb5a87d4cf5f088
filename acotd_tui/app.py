"""The Textual application: one project, screens for every stage of the method."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from acotd_tui.project import Project
from acotd_tui.screens.dashboard import DashboardScreen
from acotd_tui.services import AppServices


class AcotdApp(App):
    CSS_PATH = "app.tcss"
    TITLE = "acotd"

    def __init__(self, project: Project) -> None:
        super().__init__()
        self.project = project
        self.services = AppServices(project)
        self.sub_title = f"{project.config.name} · {project.root}"

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.services))

    def on_unmount(self) -> None:
        self.project.close()


def run_app(root: Path) -> None:
    AcotdApp(Project.open(root)).run()
