"""The demo project and how the package is laid out once installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import acotd_tui.screens
import acotd_tui.store

REPO = Path(__file__).resolve().parents[1]


def test_demo_project_contents(demo_project):
    counts = demo_project.store.stats.pipeline()
    assert counts.problems == 695
    assert counts.attempts == 1100  # 200 x 4 GPT-3 systems + 300 ProcessBench solutions
    # 295 problems, 5 with two ProcessBench solutions: the label is the majority of their
    # expert labels, ties to the harder (importing/label_rule.py), and any disagreement is
    # queued for review (before issue 16 the file's last row won: E 126, M 48, H 105, 16).
    assert counts.label_distribution == {"E": 124, "M": 49, "H": 106}
    assert counts.needs_review == 20
    models = {m.name for m in demo_project.store.models.all()}
    assert {"6b_finetuning", "175b_verification", "Qwen2-7B-Instruct"} <= models
    assert (demo_project.root / "runs" / "tiny-student" / "model.safetensors").exists()
    assert demo_project.config.models["student"].backend == "transformers"


def test_store_and_screens_ship_inside_the_package(tmp_path):
    assert Path(acotd_tui.store.__file__).parent == REPO / "store"
    assert Path(acotd_tui.screens.__file__).parent == REPO / "screens"
    # From a neutral directory (no repo on sys.path) the install exposes no generic names.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u, acotd_tui.store as s, acotd_tui.screens as c;"
            "print(u.find_spec('store'), u.find_spec('screens'), s.__name__, c.__name__)",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.split() == ["None", "None", "acotd_tui.store", "acotd_tui.screens"]


def test_wheel_layout(tmp_path):
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(tmp_path.glob("acotd_tui-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "acotd_tui/store/__init__.py" in names and "acotd_tui/store/migrations.py" in names
    assert "acotd_tui/screens/__init__.py" in names and "acotd_tui/screens/dashboard.tcss" in names
    assert "acotd_tui/data/demo/gsm8k_model_solutions.jsonl" in names
    assert "acotd_tui/data/benchmarks/math500.jsonl" in names
    assert not any(n.startswith(("store/", "screens/", "tests/", "bench/")) for n in names)
    # Every source package is listed in pyproject.toml (a forgotten one would be left out).
    packages = {
        str(p.parent.relative_to(REPO / "acotd_tui"))
        for p in (REPO / "acotd_tui").rglob("__init__.py")
    }
    for package in packages - {"."}:
        assert f"acotd_tui/{package}/__init__.py" in names, package
