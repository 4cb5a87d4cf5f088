"""Issue 15 as a hostile user found it after the merge: inputs the first round let through.

Each test is one input that once slipped past (a failed job row left behind, a traceback, a
silently ignored or silently chosen value)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main
from acotd_tui.pipeline.sampling import SamplingService
from acotd_tui.project import Project

from .test_cli_hardening import job_count, one_line_error


def run(*args: str):
    return CliRunner().invoke(main, list(args))




def test_unknown_benchmark_is_refused_before_a_job_row(demo_project):
    """`eval --benchmark nosuch` and `experiment --benchmark nosuch` left `failed` rows."""
    root = str(demo_project.root)
    before = job_count(demo_project)
    for args in (
        ["eval", "--benchmark", "nosuch"],
        ["eval", "--benchmark", "nosource/nosplit"],
        ["eval", "--benchmark", "nosuch", "--background"],
        ["experiment", "e1", "--benchmark", "nosuch", "--no-baseline"],
        ["experiment", "e1", "--benchmark", "nosuch"],
    ):
        one_line_error(run(*args, "-p", root), "nosuch" if "nosuch" in args else "nosource")
    assert job_count(demo_project) == before


def test_ratios_with_a_strategy_that_ignores_them_are_refused(demo_project):
    """`sample create x --ratios 1:2:3` under the default adaptive strategy planned the
    adaptive mix and said nothing: the typed ratios were silently dropped."""
    root = str(demo_project.root)
    for strategy in ("adaptive", "adaptive_medium", "random"):
        one_line_error(
            run("sample", "preview", "--strategy", strategy, "--ratios", "1:2:3", "-p", root),
            "--ratios",
            strategy,
        )
    one_line_error(run("sample", "create", "x", "--ratios", "1:2:3", "-p", root), "--ratios")
    assert [d.name for d in demo_project.store.datasets.all()] == []
    ok = run("sample", "preview", "--strategy", "fixed", "--ratios", "1:2:3", "-p", root)
    assert ok.exit_code == 0, ok.stderr


def _review_csv(demo_project: Project, tmp_path: Path) -> tuple[Path, int]:
    path = tmp_path / "labels.csv"
    assert run("review", "export", str(path), "-p", str(demo_project.root)).exit_code == 0
    pid = demo_project.store.problems.ids()[0]
    return path, pid


def test_review_csv_with_a_malformed_record_is_one_line(demo_project, tmp_path):
    """A csv.Error (here a stray character after a closing quote) is one line, nothing applied.
    It used to be a 200 KB field over csv's default limit; that limit is process-wide and the
    import raises it, so whether it failed depended on test order. Both readers now set it."""
    path, pid = _review_csv(demo_project, tmp_path)
    path.write_text(f'problem_id,human_label,note\n{pid},E,"a note"x\n')
    history = len(demo_project.store.grades.history(pid, "emh"))
    one_line_error(run("review", "import", str(path), "-p", str(demo_project.root)), str(path))
    assert len(demo_project.store.grades.history(pid, "emh")) == history


def test_review_csv_with_a_huge_field_reads_like_the_import(demo_project, tmp_path):
    """A 200 KB note reads the same whichever CSV reader ran first in the process."""
    import csv

    csv.field_size_limit(131072)  # the csv module's default, as in a fresh process
    path, pid = _review_csv(demo_project, tmp_path)
    path.write_text(f"problem_id,human_label,note\n{pid},E,{'x' * 200_000}\n")
    result = run("review", "import", str(path), "-p", str(demo_project.root))
    assert result.exit_code == 0, result.output
    assert demo_project.store.grades.label(pid, "emh").human_label == "E"


def test_review_csv_with_two_label_columns_is_refused(demo_project, tmp_path):
    """`problem_id,human_label,human_label` / `7,E,H`: the reader kept the last column."""
    path, pid = _review_csv(demo_project, tmp_path)
    path.write_text(f"problem_id,human_label,human_label\n{pid},E,H\n")
    history = len(demo_project.store.grades.history(pid, "emh"))
    one_line_error(
        run("review", "import", str(path), "-p", str(demo_project.root)), "human_label", "twice"
    )
    assert len(demo_project.store.grades.history(pid, "emh")) == history


def test_review_csv_with_a_non_numeric_id_names_it(demo_project, tmp_path):
    path, _ = _review_csv(demo_project, tmp_path)
    path.write_text("problem_id,human_label\nabc,E\n")
    one_line_error(
        run("review", "import", str(path), "-p", str(demo_project.root)),
        "line 2",
        "problem_id 'abc'",
    )


def test_sampling_service_still_takes_ratios_from_the_screen(demo_project):
    """The refusal is the CLI's: the service (and so the Sampling screen) is unchanged."""
    service = SamplingService(demo_project)
    plan = service.preview(service.default_request(strategy="fixed", k=6, ratios={"E": 1.0}))
    assert plan.wanted["E"] == 6


async def test_a_fatal_error_stops_a_budget_narrowed_stream_at_once(llm_server):
    """With the budget room for one request at a time, the feeder waits on the budget. A
    fatal error (bad key, dead endpoint) closed the stream while the request's settlement
    woke that wait: Python 3.11's `wait_for` then swallowed the cancel and the feeder went on
    paying for every remaining request, one by one, after the job had failed (a dead endpoint
    took 40 s to stop instead of 2; a 401 sent all of them)."""
    from acotd_tui.backends import Budget
    from acotd_tui.backends.api import LiteLLMBackend
    from acotd_tui.config import Limits
    from acotd_tui.errors import BackendError

    from .test_backend_api import collect, requests, role

    llm_server.configure(rules=[{"contains": "q", "fault": "401"}])
    backend_role = role(llm_server)
    reqs = requests(12)
    probe = LiteLLMBackend(backend_role, Limits())
    worst = probe.pricing.cost(*probe._estimate_tokens(reqs[0]))
    for _ in range(3):  # the race was lost most of the time; three tries make it certain
        llm_server.reset()
        llm_server.configure(rules=[{"contains": "q", "fault": "401"}])
        budget = Budget(cap_usd=1.5 * worst)  # room for one request in flight
        backend = LiteLLMBackend(backend_role, Limits(concurrency=4), budget)
        with pytest.raises(BackendError, match="refused the credentials"):
            await collect(backend, reqs)
        assert len(llm_server.log()) == 1
        assert budget.reserved == 0


BAD_API_BASES = ["ftp://x", "127.0.0.1:9", "http://[::1:9/v1", "http://", "localhost/v1"]


def test_an_api_base_that_is_no_http_url_is_refused_before_a_job_row(demo_project):
    """`--api-base ftp://x` (or a URL without its scheme) was retried with the full backoff
    for minutes; the malformed IPv6 one left a `failed` row."""
    root = str(demo_project.root)
    before = job_count(demo_project)
    for base in BAD_API_BASES:
        one_line_error(run("diagnose", "--limit", "1", "--api-base", base, "-p", root), "api_base")
        one_line_error(run("eval", "--limit", "1", "--api-base", base, "-p", root), "api_base")
    assert job_count(demo_project) == before


async def test_a_configured_api_base_that_is_no_http_url_fails_at_once():
    """The same URL from acotd.toml (no preflight for config) stops the backend at once."""
    from acotd_tui.backends.api import LiteLLMBackend
    from acotd_tui.config import Limits, ModelRole
    from acotd_tui.errors import BackendError

    for base in BAD_API_BASES:
        role = ModelRole(backend="litellm", model="openai/m", api_base=base)
        with pytest.raises(BackendError, match="api_base"):
            LiteLLMBackend(role, Limits())
    LiteLLMBackend(
        ModelRole(backend="litellm", model="openai/m", api_base="http://h:1/v1"), Limits()
    )


def test_jobs_resume_that_the_cap_stops_again_exits_non_zero_on_stderr(
    project, tmp_path, llm_server, point_at
):
    """A stage stopped by the cap exits 1 with its line on stderr; `jobs resume` of such a
    job, still over the cap, printed the same line on stdout and exited 0."""
    from acotd_tui.jobs import submit
    from acotd_tui.pipeline.diagnose import DiagnoseParams

    from .test_diagnose import many_problems
    from .test_spend import set_limits

    many_problems(project, tmp_path, n=20)
    point_at(project, llm_server, roles=("student",), price_in=20.0, price_out=20.0)
    set_limits(project, concurrency=4, budget_usd=0.013)
    llm_server.configure(default_reply="\\boxed{4}")
    job = submit(project, "diagnose", DiagnoseParams().to_job())
    assert job.status == "stopped"
    result = run("jobs", "resume", str(job.id), "-p", str(project.root))
    assert result.exit_code == 1, result.output
    assert "stopped: budget" in result.stderr and result.stdout == ""


def test_an_adapter_that_is_no_run_folder_or_pending_training_is_refused(demo_project):
    """`eval --adapter nosuchrun` left a `failed` eval row. A run a queued training job will
    create is still accepted (`train --background` then `eval --adapter`)."""
    root = str(demo_project.root)
    before = job_count(demo_project)
    for ref in ("nosuchrun", "../../nowhere"):
        one_line_error(run("eval", "--adapter", ref, "--limit", "1", "-p", root), repr(ref))
    assert job_count(demo_project) == before
    demo_project.store.jobs.create("train", {"dataset": "ds", "name": "later"})
    from acotd_tui.preflight import check_job

    check_job(demo_project, "eval", {"adapter": "later", "benchmarks": ["amc23"]})
    check_job(demo_project, "eval", {"adapter": str(demo_project.root), "benchmarks": ["amc23"]})


def test_sample_create_with_a_taken_name_prints_only_the_error(demo_project):
    """The plan table went to stdout before the name was found taken: an error with output."""
    root = str(demo_project.root)
    assert run("sample", "create", "taken", "-k", "5", "-p", root).exit_code == 0
    one_line_error(run("sample", "create", "taken", "-k", "5", "-p", root), "already exists")


def test_safe_shows_every_bracket_as_typed():
    """`safe` (Textual's escape) let `'[/' for H` through as a closing tag: typing `6:3:[/x]`
    into the Sampling screen crashed the app on the half-typed `6:3:[/`."""
    from textual.markup import to_content  # noqa: I001 (acotd_tui.screens: see pyproject)

    from acotd_tui.screens.widgets import safe

    for text in ["ratios: '[/' for H", "[/", "[bold", "[@click=app.quit]q[/]", "a\\[b", "[["]:
        assert to_content(f"[red]{safe(text)}[/red]").plain == text
    assert to_content(f"[red]{safe('a' + chr(92))}[/red]").plain.startswith("a" + chr(92))
