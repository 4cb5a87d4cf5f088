"""Diagnosis end to end: test server or tiny model, resume after kill -9, cancel, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from click.testing import CliRunner

from acotd_tui.backends import ChatRequest, GenerationResult, SamplingParams
from acotd_tui.backends.api import LiteLLMBackend
from acotd_tui.cli import main
from acotd_tui.importing import import_files
from acotd_tui.jobs import JobContext, WorkItem, cancel, resume, run_requests, spawn_worker, submit
from acotd_tui.pipeline.diagnose import DiagnoseParams

PROBLEMS = [
    {"problem": "What is half of one?", "answer": "0.5"},
    {"problem": "Expand (x+1)^2.", "answer": "x^2+2x+1"},
    {"problem": "What is 2+3?", "answer": "5"},
    {"problem": "What is 7*6?", "answer": "42"},
]


def small_project(project, tmp_path, rows=PROBLEMS):
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    import_files(project.store, [path])
    return project


def replies(**by_problem: str) -> dict:
    return {text: reply for text, reply in by_problem.items()}


def test_diagnose_against_server_checks_answers_symbolically(
    project, tmp_path, llm_server, point_at
):
    small_project(project, tmp_path)
    point_at(project, llm_server, roles=("student",))
    llm_server.configure(
        rules=[
            {"contains": "half of one", "reply": "So it is \\boxed{\\frac{1}{2}}."},
            {
                "contains": "Expand",
                "reply": "<think>square it</think>\nThe result is \\boxed{(x+1)(x+1)}",
            },
            {"contains": "2+3", "reply": "Easy: \\boxed{6}", "reasoning": "add them"},
            {"contains": "7*6", "reply": "x" * 4000},  # longer than max_tokens: cut off
        ]
    )
    result = CliRunner().invoke(main, ["diagnose", "-p", str(project.root), "-n", "2"])
    assert result.exit_code == 0, result.output
    assert "8 samples stored" in result.output
    store = project.store
    by_problem = {
        p.problem: store.attempts.for_problem(p.id)
        for p in store.problems.get_many(store.problems.ids())
    }
    half = by_problem["What is half of one?"]
    assert [a.sample_index for a in half] == [0, 1] and all(a.correct for a in half)
    expand = by_problem["Expand (x+1)^2."][0]
    assert (
        expand.correct is True and expand.cot == "square it" and expand.final_answer == "(x+1)(x+1)"
    )
    wrong = by_problem["What is 2+3?"][0]
    assert wrong.correct is False and wrong.cot == "add them" and "<think>" in wrong.raw_text
    cut = by_problem["What is 7*6?"][0]
    assert cut.truncated and cut.correct is False and cut.finish_reason == "length"
    seen = len(llm_server.log())
    again = CliRunner().invoke(main, ["diagnose", "-p", str(project.root), "-n", "2"])
    assert "nothing to do" in again.output
    assert len(llm_server.log()) == seen
    assert store.attempts.duplicates() == 0


async def test_engine_replays_cache_without_requests(project, llm_server, point_at):
    point_at(project, llm_server, roles=("student",))
    llm_server.configure(default_reply="cached?")
    written: list = []

    class Sink:
        async def prepare(self, batch):
            return batch

        def write(self, conn, prepared):
            written.extend((item.payload, result.cached) for item, result in prepared)

    role = project.config.role("student")
    items = [
        WorkItem(
            key=f"k{i}",
            request=ChatRequest(
                ({"role": "user", "content": f"c{i}"},), SamplingParams(max_tokens=8)
            ),
            payload=i,
        )
        for i in range(5)
    ]
    job = project.store.jobs.create("diagnose", {})
    import logging

    ctx = JobContext(project=project, job=job, log=logging.getLogger("t"))
    from acotd_tui.config import Limits

    summary = await run_requests(ctx, LiteLLMBackend(role, Limits()), items, Sink())
    assert (summary.written, summary.from_cache) == (5, 0)
    summary = await run_requests(ctx, LiteLLMBackend(role, Limits()), items, Sink())
    assert (summary.written, summary.from_cache) == (5, 5)
    assert len(llm_server.log()) == 5
    assert sorted(p for p, cached in written if cached) == [0, 1, 2, 3, 4]


def test_failures_are_not_cached_and_retried_next_run(project, tmp_path, llm_server, point_at):
    small_project(project, tmp_path)
    point_at(project, llm_server, roles=("student",))
    project.edit_config({"limits.max_retries": 0})
    llm_server.configure(rules=[{"contains": "7*6", "fault": "500"}], default_reply="\\boxed{5}")
    job = submit(project, "diagnose", DiagnoseParams().to_job())
    assert job.status == "done" and job.failed == 1 and "run again to retry" in job.message
    assert project.store.attempts.count() == 3
    llm_server.configure(rules=[])
    job = submit(project, "diagnose", DiagnoseParams().to_job())
    assert job.result["generated"] == 1 and project.store.attempts.count() == 4


def wait_for(predicate, timeout=60.0, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def many_problems(project, tmp_path, n=60):
    rows = [{"problem": f"Compute {i} plus {i}.", "answer": str(2 * i)} for i in range(n)]
    return small_project(project, tmp_path, rows)


def test_kill_9_mid_run_then_resume(project, tmp_path, llm_server, point_at):
    many_problems(project, tmp_path)
    point_at(project, llm_server, roles=("student",))
    project.edit_config({"limits.concurrency": 4})
    llm_server.configure(latency_s=0.15, default_reply="\\boxed{0}")
    job = project.store.jobs.create("diagnose", DiagnoseParams(samples=2).to_job())
    pid = spawn_worker(project.root, job.id)
    assert wait_for(lambda: project.store.attempts.count() >= 20)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    stored_at_kill = project.store.attempts.count()
    keys_at_kill = {
        r["request_key"] for r in project.store.db.query("SELECT request_key FROM attempts")
    }
    assert 20 <= stored_at_kill < 120
    killed = project.store.jobs.get(job.id)
    assert killed.status == "running" and killed.stale and killed.resumable

    resumed = resume(project, job.id)
    assert resumed.status == "done"
    assert project.store.attempts.count() == 120
    assert project.store.attempts.duplicates() == 0
    # The server saw every request once, except those in flight when the worker died.
    counts = Counter(e["key"] for e in llm_server.log())
    repeated = {k for k, c in counts.items() if c > 1}
    assert len(counts) == 120
    assert len(repeated) <= 4 + 1  # concurrency, plus at most one result not yet written
    stored_keys_server = {e["key"] for e in llm_server.log()}
    assert len(stored_keys_server) == 120
    assert len(keys_at_kill) == stored_at_kill


def test_cancel_then_resume(project, tmp_path, llm_server, point_at):
    many_problems(project, tmp_path, n=40)
    point_at(project, llm_server, roles=("student",))
    project.edit_config({"limits.concurrency": 2})
    llm_server.configure(latency_s=0.1, default_reply="\\boxed{0}")
    job = project.store.jobs.create("diagnose", DiagnoseParams().to_job())
    spawn_worker(project.root, job.id)
    assert wait_for(lambda: project.store.attempts.count() >= 5)
    cancel(project, job.id)
    assert wait_for(lambda: project.store.jobs.get(job.id).status == "cancelled", timeout=30)
    partial = project.store.attempts.count()
    assert partial < 40
    done = resume(project, job.id)
    assert done.status == "done" and project.store.attempts.count() == 40


def test_api_key_is_never_stored_or_logged(project, tmp_path, llm_server, point_at, monkeypatch):
    small_project(project, tmp_path)
    point_at(project, llm_server, roles=("student",), extra='api_key_env = "ACOTD_TEST_SECRET"')
    secret = "sk-test-do-not-store-4711"
    monkeypatch.setenv("ACOTD_TEST_SECRET", secret)
    job = submit(project, "diagnose", DiagnoseParams().to_job())
    assert job.status == "done"
    project.store.db.conn.execute("PRAGMA wal_checkpoint(FULL)")
    for path in [project.db_path, *project.root.rglob("*.log"), *project.root.rglob("*-wal")]:
        assert secret.encode() not in path.read_bytes(), path
    monkeypatch.delenv("ACOTD_TEST_SECRET")
    failed = submit(project, "diagnose", DiagnoseParams(samples=2).to_job())
    assert failed.status == "failed" and "ACOTD_TEST_SECRET is not set" in failed.error


def test_math_verify_runs_inside_a_worker_process(project, tmp_path, llm_server, point_at):
    small_project(project, tmp_path, PROBLEMS[:2])
    point_at(project, llm_server, roles=("student",))
    llm_server.configure(
        rules=[
            {"contains": "half", "reply": "\\boxed{\\dfrac{2}{4}}"},
            {"contains": "Expand", "reply": "\\boxed{1+2x+x^2}"},
        ]
    )
    job = project.store.jobs.create("diagnose", DiagnoseParams().to_job())
    pid = spawn_worker(project.root, job.id)
    assert wait_for(lambda: project.store.jobs.get(job.id).status == "done", timeout=60)
    os.waitpid(pid, 0)
    assert [
        a.correct
        for pid_ in project.store.problems.ids()
        for a in project.store.attempts.for_problem(pid_)
    ] == [True, True]


def test_tiny_model_diagnosis_via_transformers(demo_project):
    result = CliRunner().invoke(
        main,
        ["diagnose", "-p", str(demo_project.root), "--source", "math", "--limit", "6", "-n", "2"],
    )
    assert result.exit_code == 0, result.output
    student = demo_project.store.models.ensure("runs/tiny-student")
    assert demo_project.store.attempts.count(student.id) == 12
    attempts = demo_project.store.attempts.for_problem(
        demo_project.store.problems.ids(
            __import__("acotd_tui.store", fromlist=["ProblemFilter"]).ProblemFilter(
                sources=("math",)
            ),
            limit=1,
        )[0]
    )
    tiny = [a for a in attempts if a.model == "runs/tiny-student"]
    assert len(tiny) == 2 and all(a.tokens_out and a.tokens_in for a in tiny)
    # A random tiny model runs into max_tokens (64): marked truncated, never counted correct.
    assert all(a.truncated or a.finish_reason == "stop" for a in tiny)
    assert not any(a.correct for a in tiny if a.truncated)


def test_generation_result_cache_roundtrip():
    r = GenerationResult(
        text="t",
        reasoning="r",
        finish_reason="stop",
        tokens_in=3,
        tokens_out=4,
        latency_s=0.5,
        cost=0.1,
    )
    back = GenerationResult.from_cache(r.to_cache())
    assert back.cached and (back.text, back.reasoning, back.tokens_out, back.cost) == (
        "t",
        "r",
        4,
        0.1,
    )


def test_two_workers_drain_one_queue_without_repeating_work(
    project, tmp_path, llm_server, point_at
):
    """Scale-out: several `--all` workers share a queue; each job runs once, in one of them."""
    for source in ("alpha", "beta", "gamma", "delta"):
        path = tmp_path / f"{source}.jsonl"
        rows = [
            {"problem": f"{source}: compute {i} plus {i}.", "answer": str(2 * i)} for i in range(8)
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        import_files(project.store, [path])
    point_at(project, llm_server, roles=("student",))
    project.edit_config({"limits.concurrency": 2})
    llm_server.configure(latency_s=0.3, default_reply="\\boxed{0}")
    jobs = [
        project.store.jobs.create("diagnose", DiagnoseParams(sources=[s]).to_job())
        for s in ("alpha", "beta", "gamma", "delta")
    ]
    cmd = [sys.executable, "-m", "acotd_tui.jobs.worker", "--project", str(project.root), "--all"]
    workers = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [(w.wait(timeout=120), w.stderr.read()) for w in workers]
    assert outcomes == [(0, ""), (0, "")]
    finished = [project.store.jobs.get(j.id) for j in jobs]
    assert [j.status for j in finished] == ["done"] * 4
    assert {j.pid for j in finished} == {w.pid for w in workers}
    assert project.store.attempts.count() == 32
    assert len(llm_server.log()) == 32  # no request was sent twice


def test_drain_queue_skips_a_job_claimed_between_look_and_claim(project, monkeypatch):
    """The race two workers can hit: another process claims the job we just looked up."""
    from acotd_tui.jobs.runner import drain_queue
    from acotd_tui.store import Store

    first = project.store.jobs.create("diagnose", DiagnoseParams().to_job())
    second = project.store.jobs.create("diagnose", DiagnoseParams().to_job())
    other_worker = Store(project.db_path, create=False)
    look = project.store.jobs.next_queued
    raced: list[int] = []

    def look_then_lose_the_race():
        job = look()
        if job is not None and not raced:  # the other worker claims it right after our look
            other_worker.jobs.claim(job.id, pid=os.getppid(), log_path="elsewhere.log")
            raced.append(job.id)
        return job

    monkeypatch.setattr(project.store.jobs, "next_queued", look_then_lose_the_race)
    ran = drain_queue(project)
    other_worker.close()
    assert raced == [first.id] and ran == 1
    assert project.store.jobs.get(first.id).status == "running"  # still the other worker's
    assert project.store.jobs.get(second.id).status == "done"


def test_worker_ignores_a_source_tree_in_the_launch_directory(project, tmp_path, monkeypatch):
    """`python -m` puts the working directory first on sys.path: a worker started from a
    folder holding another `acotd_tui` (a checkout, a stale copy) must not import that one."""
    shadow = tmp_path / "elsewhere"
    (shadow / "acotd_tui").mkdir(parents=True)
    (shadow / "acotd_tui" / "__init__.py").write_text("raise ImportError('the shadow copy')\n")
    monkeypatch.chdir(shadow)
    job = project.store.jobs.create("diagnose", DiagnoseParams().to_job())
    pid = spawn_worker(project.root, job.id)
    os.waitpid(pid, 0)
    assert project.store.jobs.get(job.id).status == "done"


def test_a_dead_server_stops_the_job_early_with_one_clear_line(project, tmp_path):
    """Connection refused on every request: the job stops within seconds, not after every
    request's retry schedule, and says why in one line naming the endpoint."""
    import socket

    many_problems(project, tmp_path, n=40)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    project.edit_config({"limits.concurrency": 2})
    args = ["diagnose", "-p", str(project.root), "--backend", "litellm"]
    args += ["--model", "openai/nobody-home", "--api-base", dead]
    started = time.monotonic()
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert time.monotonic() - started < 10
    job = project.store.jobs.list()[0]
    assert job.status == "failed" and job.resumable
    assert f"cannot reach {dead}: connection refused" in job.error
    assert "\n" not in job.error
    assert job.failed < 40  # it did not try every problem
    assert project.store.attempts.count() == 0
