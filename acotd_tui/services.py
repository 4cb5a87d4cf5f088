"""The services the screens call: every read and action of the app, testable without a UI.

Screens hold no business logic and no SQL; they call these methods (from worker threads
for anything that touches the store) and render the dataclasses that come back.
"""

from __future__ import annotations

from dataclasses import dataclass

from acotd_tui.project import Project
from acotd_tui.store import PipelineCounts


@dataclass(frozen=True)
class DashboardData:
    project_name: str
    scheme: str
    counts: PipelineCounts


class AppServices:
    def __init__(self, project: Project) -> None:
        self.project = project

    @property
    def store(self):  # noqa: ANN201 (the Store type is re-exported by acotd_tui.store)
        return self.project.store

    @property
    def scheme(self) -> str:
        return self.project.config.grading.scheme

    def dashboard(self) -> DashboardData:
        return DashboardData(
            self.project.config.name, self.scheme, self.store.stats.pipeline(self.scheme)
        )
