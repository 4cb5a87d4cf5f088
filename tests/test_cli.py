"""The CLI end to end, in a subprocess where it matters (exit codes, one-line errors)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from acotd_tui.cli import main

STAGES = ["init", "import", "status", "demo"]


def acotd(
    *args: str, cwd: Path | None = None, env: dict | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "acotd_tui", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_help_lists_the_stage_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in STAGES:
        assert f"  {name} " in result.output


def test_issue_example_gsm8k_import_twice_then_broken_line(tmp_path, shared_data):
    project = tmp_path / "p"
    assert acotd("init", str(project)).returncode == 0
    first = acotd("import", "--project", str(project), str(shared_data / "gsm8k" / "test.jsonl"))
    assert first.returncode == 0, first.stderr
    assert "added 1319 problems" in first.stderr
    again = acotd("import", "--project", str(project), str(shared_data / "gsm8k" / "test.jsonl"))
    assert "added 0 problems (1319 duplicates" in again.stderr

    lines = (shared_data / "gsm8k" / "test.jsonl").read_text().splitlines()
    lines[41] = '{"question": "broken'
    bad = tmp_path / "broken.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    failed = acotd("import", "-p", str(project), str(bad))
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        f"error: {bad}, line 42: not valid JSON (Unterminated string starting at)"
        " (1 of 1319 rows cannot be imported: 1 bad; --skip-bad skips them);"
        " nothing was imported"
    ]
    status = acotd("status", "-p", str(project))
    assert "problems   1319" in status.stdout


def test_project_from_environment_and_not_a_project(tmp_path):
    assert acotd("init", str(tmp_path / "envp")).returncode == 0
    ok = acotd("status", env={"ACOTD_PROJECT": str(tmp_path / "envp")}, cwd=tmp_path)
    assert ok.returncode == 0 and "problems" in ok.stdout
    bad = acotd("status", cwd=tmp_path, env={"ACOTD_PROJECT": ""})
    assert bad.returncode == 1
    assert "is not an acotd project" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_bad_config_is_one_line(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path / "c")]).exit_code == 0
    cfg = tmp_path / "c" / "acotd.toml"
    broken = cfg.read_text().replace("concurrency = 32", "concurency = 32")
    broken = broken.replace("k = 1000", "k = -5")
    assert "concurency = 32" in broken and "k = -5" in broken  # the edits are not no-ops
    cfg.write_text(broken)
    result = runner.invoke(main, ["status", "-p", str(tmp_path / "c")])
    assert result.exit_code == 1
    assert "limits.concurency: unknown key" in result.output
    assert "sampling.k: Input should be greater than or equal to 1" in result.output
    cfg.write_text("[models.student\n")
    result = runner.invoke(main, ["status", "-p", str(tmp_path / "c")])
    assert "not valid TOML" in result.output and result.exit_code == 1


def test_init_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(tmp_path / "x")]).exit_code == 0
    result = runner.invoke(main, ["init", str(tmp_path / "x")])
    assert result.exit_code == 1 and "not overwriting" in result.output


def test_import_options_via_cli(tmp_path):
    runner = CliRunner()
    runner.invoke(main, ["init", str(tmp_path / "p")])
    data = tmp_path / "custom.jsonl"
    data.write_text('{"q": "Q1?", "gold": "1"}\n{"q": "Q2?"}\n')
    result = runner.invoke(
        main,
        [
            "import",
            "-p",
            str(tmp_path / "p"),
            str(data),
            "--map",
            "q=problem,gold=answer",
            "--source",
            "mine",
            "--skip-bad",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "added 1 problems" in result.output
    bad_map = runner.invoke(main, ["import", "-p", str(tmp_path / "p"), str(data), "--map", "q"])
    assert bad_map.exit_code == 1 and "bad --map entry" in bad_map.output
