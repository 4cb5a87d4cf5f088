"""`acotd demo`: a project built from real data bundled in the package.

It needs no GPU, API key or network:
- 200 GSM8K test problems with the solutions of four GPT-3 systems (correctness known);
- 200 MATH train problems nobody has attempted yet;
- 300 GSM8K/MATH problems with a solution by an open model whose earliest wrong step was
  labelled by human experts (ProcessBench), turned into E/M/H labels by a documented rule,
  so review, agreement and sampling have real labels to work with.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from .config import (
    PAPER_EVAL_MAX_TOKENS,
    TrainingConfig,
    default_config_text,
    set_config_values,
)
from .errors import AcotdError
from .importing import ImportOptions, import_files
from .importing.attempts import import_attempts
from .project import Project

DEMO_NOTE = """
# --- demo project -------------------------------------------------------------------
# The demo's GSM8K problems come from GSM8K *test*, so this project does not evaluate on
# GSM8K-test. Judge and teachers point at OpenAI by default: set OPENAI_API_KEY, or point
# them at any OpenAI-compatible server with api_base (e.g. a local vLLM). The student is the
# tiny local model built by `acotd demo` (runs/tiny-student), so diagnose, train and eval
# run on a CPU; swap in Qwen/Qwen3-1.7B on a GPU box.
"""


def demo_data(name: str) -> Path:
    return Path(str(resources.files("acotd_tui") / "data" / "demo" / name))


# How the demo's config differs from `acotd init`'s, and why: key -> (value, note).
DEMO_SETTINGS: dict[str, tuple[Any, str]] = {
    "models.student.backend": ("transformers", "use vllm with Qwen/Qwen3-1.7B on a GPU box"),
    "models.student.model": ("runs/tiny-student", "built by `acotd demo`"),
    "models.student.max_tokens": (64, "the tiny student"),
    "models.student.device": ("cpu", "the tiny student runs on a CPU"),
    "eval.benchmarks": (
        ["amc23", "aime25", "math500"],
        "not gsm8k_test: the demo pool draws from it",
    ),
    "eval.max_tokens": (
        64,
        f"the tiny student; {PAPER_EVAL_MAX_TOKENS} (the paper's Table 2) for real runs",
    ),
    "training.max_length": (1024, f"the tiny student; {TrainingConfig().max_length} for real runs"),
}


def demo_config_text() -> str:
    text = set_config_values(
        default_config_text("acotd-demo"),
        {key: value for key, (value, _) in DEMO_SETTINGS.items()},
        notes={key: note for key, (_, note) in DEMO_SETTINGS.items()},
    )
    return DEMO_NOTE.lstrip() + text


def build_demo(root: Path | str, *, with_model: bool = True) -> Project:
    """Create the demo project at `root` (refuses to touch an existing project)."""
    root = Path(root)
    project = Project.init(root, config_text=demo_config_text())
    store = project.store
    import_files(
        store, [demo_data("gsm8k_problems.jsonl")], ImportOptions(source="gsm8k", split="test")
    )
    import_files(
        store, [demo_data("math_problems.jsonl")], ImportOptions(source="math", split="train")
    )
    import_files(
        store,
        [demo_data("processbench_problems.jsonl")],
        ImportOptions(source="processbench", split="test"),
    )
    import_attempts(store, [demo_data("gsm8k_model_solutions.jsonl")], source="gsm8k")
    import_attempts(
        store, [demo_data("processbench_attempts.jsonl")], source="processbench", labels=True
    )
    if with_model:
        from .tiny_model import build_tiny_model

        build_tiny_model(project.runs_dir / "tiny-student")
    return project


def open_or_build_demo(root: Path | str, *, rebuild: bool = False) -> Project:
    root = Path(root)
    if (root / "acotd.toml").exists() and not rebuild:
        return Project.open(root)
    if rebuild and root.exists():
        if not (root / "acotd.toml").exists():
            raise AcotdError(f"{root} exists and is not an acotd project; not deleting it")
        import shutil

        shutil.rmtree(root)
    return build_demo(root)
