"""Shared fixtures: real projects on disk, the bundled demo, the tiny model, shared data."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout. CI always has it; elsewhere tests that need it skip."""
    if not SHARED_DATA.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_DATA} is missing (CI must run with shared/ beside the clone)")
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture
def project(tmp_path: Path):
    from acotd_tui.project import Project

    p = Project.init(tmp_path / "proj")
    yield p
    p.close()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from acotd_tui.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-student")


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    """The demo project, built once per session; tests get a copy (`demo_project`)."""
    from acotd_tui.demo import build_demo

    root = tmp_path_factory.mktemp("demo-template") / "demo"
    project = build_demo(root, with_model=False)
    project.close()
    shutil.copytree(tiny_model_dir, root / "runs" / "tiny-student")
    return root


@pytest.fixture
def demo_project(demo_template: Path, tmp_path: Path):
    from acotd_tui.project import Project

    root = tmp_path / "demo"
    shutil.copytree(demo_template, root)
    p = Project.open(root)
    yield p
    p.close()
