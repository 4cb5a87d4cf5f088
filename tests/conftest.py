"""Shared fixtures: real projects on disk, the bundled demo, the tiny model, shared data."""

from __future__ import annotations

import json as _json
import os
import shutil
import subprocess as _subprocess
import sys as _sys
import urllib.request as _urlreq
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


# -- the scripted OpenAI-compatible server --------------------------------------------------


class LLMServer:
    """Handle on a tests/llm_server.py process: configure it, read what it saw."""

    def __init__(self) -> None:
        self.proc = _subprocess.Popen(
            [_sys.executable, str(Path(__file__).with_name("llm_server.py"))],
            stdout=_subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        self.port = int(line.split()[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/v1"

    def _post(self, path: str, payload: dict) -> None:
        req = _urlreq.Request(
            self.base + path,
            data=_json.dumps(payload).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        _urlreq.urlopen(req, timeout=10).read()

    def configure(self, **config) -> None:
        self._post("/_admin/config", config)

    def reset(self) -> None:
        self._post("/_admin/reset", {})

    def log(self) -> list[dict]:
        return _json.loads(_urlreq.urlopen(self.base + "/_admin/log", timeout=10).read())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture(scope="session")
def _llm_server_process():
    server = LLMServer()
    yield server
    server.stop()


@pytest.fixture
def llm_server(_llm_server_process):
    _llm_server_process.reset()
    return _llm_server_process


def point_roles_at(
    project,
    server: LLMServer,
    roles=("student", "judge", "teacher_short", "teacher_long", "cotqs_judge", "consistency_judge"),
    *,
    price_in: float = 1.0,
    price_out: float = 2.0,
    extra: str = "",
) -> None:
    """Rewrite the project's config so the given roles use the test server (priced); `extra`
    is more TOML for each of these roles' tables."""
    import tomllib

    table = {
        "backend": "litellm",
        "api_base": server.url,
        "temperature": 0.0,
        "max_tokens": 512,
        "input_cost_per_mtok": price_in,
        "output_cost_per_mtok": price_out,
        **tomllib.loads(extra),
    }
    project.edit_config(
        {f"models.{role}": {"model": f"openai/test-{role}", **table} for role in roles},
    )


@pytest.fixture
def point_at():
    return point_roles_at
