"""What every screen shares: the services, threaded calls with error reporting, the frame."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.screen import Screen

from acotd_tui.errors import AcotdError
from acotd_tui.store import StoreError

if TYPE_CHECKING:
    from acotd_tui.services import AppServices


class AcotdScreen(Screen):
    """A screen of the app. Store access happens in threads via `call`, never in the UI loop."""

    @property
    def services(self) -> AppServices:
        return self.app.services  # type: ignore[attr-defined]

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        then: Callable[[Any], object] | None = None,
        group: str = "default",
        exclusive: bool = True,
    ) -> None:
        """Run `fn(*args)` in a worker thread; hand the result to `then` on the UI thread.

        User-facing errors become a notification instead of a crash.
        """

        def work() -> None:
            try:
                result = fn(*args)
            except (AcotdError, StoreError, ValueError, KeyError) as exc:
                self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
                return
            if then is not None:
                self.app.call_from_thread(then, result)

        self.run_worker(work, thread=True, group=group, exclusive=exclusive)

    def notify(self, message: str, *, markup: bool = False, **kwargs: Any) -> None:
        """Notifications carry error texts and names the user typed: plain text unless a
        caller asks for markup on purpose."""
        super().notify(message, markup=markup, **kwargs)
