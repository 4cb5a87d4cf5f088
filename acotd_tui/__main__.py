from acotd_tui.cli import run

run()
