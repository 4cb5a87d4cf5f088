"""The app opens on a project and the dashboard shows the store's counts."""

from __future__ import annotations

from textual.widgets import Static

from acotd_tui.app import AcotdApp


async def test_dashboard_shows_stage_counts(demo_project):
    app = AcotdApp(demo_project)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        stages = [str(card.render()) for card in app.screen.query(".stage")]
        assert any("695" in s and "problems" in s for s in stages)
        labels = str(app.screen.query_one("#labels", Static).render())
        assert "E: 126" in labels and "H: 105" in labels
