"""Bad input from the CLI (issue 15, items 3, 4 and 7): names that would become paths
outside the project, `-p` before the subcommand, a damaged store, non-positive counts,
errors on stderr with no job row left, conflicting review CSV rows, stale jobs."""

from __future__ import annotations

import csv
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from acotd_tui.cli import main
from acotd_tui.errors import AcotdError
from acotd_tui.names import BadName, NameKind, check_name, inside
from acotd_tui.pipeline.sampling import SamplingService
from acotd_tui.project import Project
from acotd_tui.ratios import parse_ratios

TRAVERSALS = [
    "../../evil",
    "../evil",
    "/abs",
    "/tmp/evil",
    ".hidden",
    "..",
    ".",
    "a/b",
    "a\\b",
    "",
    "a b",
    "évil",  # non-ASCII letter
    "ａｂｃ",  # full-width look-alikes
    "a\u2215b",  # division slash, looks like '/'
    "a\x00b",
    "x" * 101,
]


def run(*args: str, input: str | None = None):  # noqa: A002
    return CliRunner().invoke(main, list(args), input=input)


def one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert result.stdout == ""
    for needle in needles:
        assert needle in lines[0], lines[0]


def job_count(project: Project) -> int:
    return len(project.store.jobs.list(limit=100_000))


# -- names --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", TRAVERSALS)
def test_unsafe_names_are_refused(name):
    for kind in NameKind:
        with pytest.raises(BadName):
            check_name(name, kind)


@pytest.mark.parametrize("name", ["acotd-k1000", "paper_v2", "a.b-c_d", "K100", "x" * 100])
def test_safe_names_pass(name):
    assert check_name(name) == name


def test_inside_refuses_paths_leaving_the_root(tmp_path):
    (tmp_path / "runs").mkdir()
    assert inside(tmp_path, tmp_path / "runs" / "x") == (tmp_path / "runs" / "x").resolve()
    with pytest.raises(BadName):
        inside(tmp_path, tmp_path / "runs" / ".." / ".." / "evil")
    (tmp_path / "runs" / "link").symlink_to("/tmp")
    with pytest.raises(BadName):
        inside(tmp_path, tmp_path / "runs" / "link" / "evil")


def test_traversal_names_are_refused_by_every_command(demo_project):
    root = str(demo_project.root)
    service = SamplingService(demo_project)
    service.create("ds", service.default_request(k=10))
    before = job_count(demo_project)
    outside = demo_project.root.parent
    for name in ["../../evil", "/abs", ".hidden", "a/b"]:
        one_line_error(run("sample", "create", name, "-p", root, "-k", "5"), "dataset name")
        one_line_error(run("export", name, "-p", root), "dataset name")
        one_line_error(run("teach", name, "-p", root, "--from-reference"), "dataset name")
        one_line_error(run("train", "ds", "-p", root, "--name", name), "run name")
        one_line_error(run("experiment", name, "-p", root), "experiment name")
    one_line_error(run("sample", "create", "", "-p", root), "empty")
    assert job_count(demo_project) == before  # refused before any job row
    assert [d.name for d in demo_project.store.datasets.all()] == ["ds"]
    assert not (outside / "evil").exists() and not (outside / "evil.json").exists()
    assert not Path("/abs").exists()
    # The app's path refuses the same names the same way.
    from acotd_tui.services import AppServices

    services = AppServices(demo_project)
    with pytest.raises(BadName):
        services.sampling_create("../../evil", service.default_request(k=5))
    with pytest.raises(BadName):
        services.launch("train", {"dataset": "ds", "name": "../evil"})
    assert job_count(demo_project) == before


# -- -p anywhere --------------------------------------------------------------------------
def test_group_project_option_reaches_every_subcommand(tmp_path, shared_data):
    here, there = tmp_path / "here", tmp_path / "there"
    for p in (here, there):
        assert run("init", str(p)).exit_code == 0
    data = shared_data / "amc23" / "test.jsonl"
    env = {**os.environ, "ACOTD_PROJECT": ""}
    # From inside one project, -p before the subcommand names the other one.
    done = subprocess.run(
        [sys.executable, "-m", "acotd_tui", "-p", str(there), "import", str(data)],
        cwd=here,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    with Project.open(there) as p:
        assert p.store.problems.count() == 40
    with Project.open(here) as p:
        assert p.store.problems.count() == 0
    cwd = Path.cwd()
    try:
        os.chdir(here)
        status = run("-p", str(there), "status")
        assert str(there) in status.stdout and "problems" in status.stdout
        jobs = run("-p", str(there), "jobs")
        assert jobs.exit_code == 0
        # The subcommand's own -p wins over the group's.
        status = run("-p", str(there), "status", "-p", str(here))
        assert f"project {here}" in status.stdout
    finally:
        os.chdir(cwd)


# -- damaged store ------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["garbage", "truncated", "emptied"])
def test_a_damaged_store_is_one_line(tmp_path, shared_data, damage):
    root = tmp_path / "p"
    assert run("init", str(root)).exit_code == 0
    assert run("import", "-p", str(root), str(shared_data / "amc23" / "test.jsonl")).exit_code == 0
    db = root / "acotd.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    if damage == "garbage":
        db.write_bytes(b"this is not a database\n" * 10)
    else:
        size = db.stat().st_size
        with open(db, "r+b") as fh:
            fh.truncate(size // 2 if damage == "truncated" else 0)
    for args in (["status"], ["jobs"], ["sample", "list"], ["review", "stats"]):
        result = subprocess.run(
            [sys.executable, "-m", "acotd_tui", *args, "-p", str(root)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        said = "empty (0 bytes)" if damage == "emptied" else "damaged"
        assert str(db) in lines[0] and said in lines[0] and "Traceback" not in result.stderr
    if damage == "emptied":  # not quietly rebuilt as a new, empty store
        assert db.stat().st_size == 0


# -- counts, limits, ratios ---------------------------------------------------------------
def test_non_positive_counts_limits_and_ratios_are_refused(demo_project):
    root = str(demo_project.root)
    service = SamplingService(demo_project)
    service.create("ds", service.default_request(k=10))
    before = job_count(demo_project)
    cases = [
        (["diagnose", "--limit", "-3"], "--limit"),
        (["diagnose", "--limit", "0"], "--limit"),
        (["diagnose", "-n", "0"], "--samples"),
        (["grade", "--limit", "-1"], "--limit"),
        (["sample", "preview", "-k", "0"], "--size"),
        (["sample", "create", "x", "-k", "-5"], "--size"),
        (["sample", "preview", "--strategy", "fixed", "--ratios", "-1:3:1"], "0 or more"),
        (["sample", "preview", "--strategy", "fixed", "--ratios", "0:0:0"], "above 0"),
        (["sample", "preview", "--ratios", "6:3:[/x]"], "not a number"),
        (["sample", "preview", "--ratios", "easy=1,easy=2"], "twice"),
        (["sample", "preview", "--ratios", "6:3:nan"], "0 or more"),
        (["teach", "ds", "--limit", "-3"], "--limit"),
        (["verify", "ds", "--max-regenerations", "-1"], "--max-regenerations"),
        (["verify", "ds", "--spot-check", "1.5"], "--spot-check"),
        (["eval", "--limit", "-3"], "--limit"),
        (["eval", "-n", "0"], "--samples"),
        (["eval", "--max-tokens", "0"], "--max-tokens"),
        (["train", "ds", "--epochs", "0"], "--epochs"),
        (["train", "ds", "--lr", "-1"], "--lr"),
        (["train", "ds", "--max-steps", "0"], "--max-steps"),
        (["experiment", "x", "-k", "0"], "--size"),
        (["cots", "list", "--limit", "0"], "--limit"),
    ]
    for args, needle in cases:
        result = run(*args, "-p", root)
        one_line_error(result, needle)
    assert job_count(demo_project) == before
    assert [d.name for d in demo_project.store.datasets.all()] == ["ds"]


def test_ratio_parser_accepts_what_it_should():
    assert parse_ratios("6:3:1") == {"E": 6.0, "M": 3.0, "H": 1.0}
    assert parse_ratios("6:3:0") == {"E": 6.0, "M": 3.0, "H": 0.0}  # none of Hard: allowed
    assert parse_ratios("easy=1, 1=2", "zte") == {"easy": 1.0, "1": 2.0}
    assert parse_ratios("  ") == {}
    with pytest.raises(AcotdError):
        parse_ratios("6:3:1", "zte")  # ZTE has six labels: LABEL=weight only


# -- errors on stderr, no job row -----------------------------------------------------------
def test_job_commands_refuse_bad_input_on_stderr_without_a_job_row(demo_project):
    root = str(demo_project.root)
    before = job_count(demo_project)
    for args in (
        ["teach", "missing", "--from-reference"],
        ["verify", "missing"],
        ["export", "missing"],
        ["train", "missing"],
        ["teach", "missing", "--background"],
    ):
        one_line_error(run(*args, "-p", root), "no dataset 'missing'")
    assert job_count(demo_project) == before


def test_exporting_a_set_with_nothing_verified_leaves_no_job_row(demo_project):
    service = SamplingService(demo_project)
    service.create("ds", service.default_request(k=5))
    before = job_count(demo_project)
    result = run("export", "ds", "-p", str(demo_project.root))
    one_line_error(result, "no verified CoT")
    assert job_count(demo_project) == before


def test_grading_with_no_attempts_is_refused_unless_a_diagnose_is_on_its_way(demo_project):
    root = str(demo_project.root)
    before = job_count(demo_project)
    one_line_error(
        run("grade", "--attempts-of", "nobody/never", "-p", root), "no attempts by model"
    )
    assert job_count(demo_project) == before
    # A queued diagnose job will bring attempts: the grade may be queued behind it.
    from acotd_tui.preflight import check_job

    demo_project.store.jobs.create("diagnose", {})
    check_job(demo_project, "grade", {"attempts_of": ["nobody/never"]})


# -- review CSV --------------------------------------------------------------------------
def test_review_csv_with_conflicting_rows_is_refused(demo_project, tmp_path):
    root = str(demo_project.root)
    path = tmp_path / "labels.csv"
    assert run("review", "export", str(path), "-p", root).exit_code == 0
    rows = list(csv.DictReader(path.open()))
    assert len(rows) >= 3
    a, b = rows[0], rows[1]
    a["human_label"], b["human_label"] = "E", "H"
    conflict = dict(a, human_label="H")
    same = dict(b)  # the same decision twice: not a conflict
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([a, b, conflict, same])
    pid = int(a["problem_id"])
    history = len(demo_project.store.grades.history(pid, "emh"))
    result = run("review", "import", str(path), "-p", root)
    one_line_error(result, f"problem {pid}: line 2 says E, line 4 says H")
    assert len(demo_project.store.grades.history(pid, "emh")) == history  # nothing applied
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([a, b, same])
    result = run("review", "import", str(path), "-p", root)
    assert result.exit_code == 0, result.stderr
    assert "2 human labels set" in result.stderr


# -- a job whose process died -------------------------------------------------------------
def test_a_dead_job_reads_stale_in_status_and_jobs(demo_project):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    job = demo_project.store.jobs.create("export", {"dataset": "x"})
    demo_project.store.jobs.claim(job.id, pid=dead.pid, log_path="")
    root = str(demo_project.root)
    status = run("status", "-p", root)
    assert "jobs: 0 running, 1 stale" in status.stdout, status.stdout
    assert f"acotd jobs resume {job.id}" in status.stdout
    jobs = run("jobs", "-p", root)
    row = [line for line in jobs.stdout.splitlines() if line.startswith(str(job.id))][0]
    assert "stale" in row and "running" not in row


def test_paths_stay_inside_the_project_even_past_the_cli(demo_project):
    """Defence in depth: a job submitted without the CLI's checks (an old row, a script)
    still refuses a name that would leave the project."""
    from acotd_tui.jobs import submit

    service = SamplingService(demo_project)
    service.create("../../evil", service.default_request(k=5))  # the pipeline, unchecked
    outside = demo_project.root.parent.parent
    job = submit(demo_project, "export", {"dataset": "../../evil"})
    assert job.status == "failed" and "dataset name" in job.error
    job = submit(demo_project, "train", {"dataset": "../../evil", "name": "../../evil"})
    assert job.status == "failed"
    job = submit(demo_project, "experiment", {"name": "../../evil"})
    assert job.status == "failed" and "experiment name" in job.error
    assert not (outside / "evil").exists() and not (outside / "evil.json").exists()
