"""The architecture the tools cannot check: the CLI starts without the heavy libraries.

`acotd --help`, `acotd problems list` and the rest must answer at once; torch, transformers,
litellm, datasets and textual take seconds to import, so the commands that need them import
them inside the command. Each check runs in a fresh interpreter: this test process has long
since imported all of them. (The import contracts live in pyproject.toml, checked by
`make lint`.)
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "litellm", "datasets", "textual")

PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def heavy_modules_after(body: str) -> list[str]:
    code = PROBE.format(body=body, heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "body",
    [
        "import acotd_tui.cli",
        # the help lists every command: building it must not import the commands' libraries
        "from acotd_tui.cli import main\n"
        "try:\n"
        "    main.main(['--help'], prog_name='acotd', standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass",
    ],
    ids=["import", "help"],
)
def test_cli_loads_no_heavy_library(body):
    assert heavy_modules_after(body) == []


def test_the_probe_sees_a_heavy_import():
    """The check can fail: importing the app does load textual."""
    assert "textual" in heavy_modules_after("import acotd_tui.app")
