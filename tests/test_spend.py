"""Spend integrity: one paid call per request key across jobs, every paid call on the books,
a cap that holds and stops jobs as "stopped: budget" (resumable), and faults that cost
seconds: an unreachable endpoint, Retry-After honoured as given."""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from acotd_tui.backends import Budget
from acotd_tui.backends.api import LiteLLMBackend
from acotd_tui.backends.limits import Reservation
from acotd_tui.cli import main
from acotd_tui.config import Limits
from acotd_tui.jobs import resume, spawn_worker, submit
from acotd_tui.pipeline.diagnose import DiagnoseParams
from acotd_tui.store.migrations import MIGRATIONS, migrate

from .test_backend_api import collect, requests, role
from .test_budget import dead_pid, record_call, running_job
from .test_diagnose import many_problems, wait_for


def set_limits(project, **values) -> None:
    project.edit_config({f"limits.{name}": value for name, value in values.items()})


# -- the books ---------------------------------------------------------------------------------


def test_every_paid_call_is_on_the_books_duplicates_too(project):
    store = project.store
    a, b = running_job(store), running_job(store)
    record_call(store, "same-key", 0.25, a.id)
    record_call(store, "same-key", 0.25, b.id)  # a second job paid for the same answer
    assert store.llm_calls.count() == 1  # the cache keeps one answer
    assert store.llm_calls.paid_calls() == 2  # the ledger keeps both payments
    assert store.llm_calls.total_cost() == pytest.approx(0.5)
    assert store.stats.pipeline().cost == pytest.approx(0.5)  # what `acotd status` shows
    store.jobs.finish(a.id, "done")
    store.jobs.finish(b.id, "done")
    assert store.budget.spent() == pytest.approx(0.5)  # and what the cap counts


def test_migration_6_keeps_recorded_spending_and_parent_links(tmp_path):
    conn = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    migrate(conn, MIGRATIONS[:5])
    conn.execute("INSERT INTO jobs (kind, params, created_at) VALUES ('experiment', '{}', 't')")
    conn.execute(
        "INSERT INTO jobs (kind, params, created_at, parent_id) VALUES ('diagnose', '{}', 't', 1)"
    )
    conn.execute(
        "INSERT INTO llm_calls (key, model, backend, response, cost, job_id, created_at)"
        " VALUES ('k', 'm', 'litellm', '{}', 0.75, 2, 't')"
    )
    assert migrate(conn, MIGRATIONS[:6]) == [6]
    assert conn.execute("SELECT key, cost, job_id FROM llm_spend").fetchall() == [("k", 0.75, 2)]
    assert conn.execute("SELECT id, parent_id FROM jobs ORDER BY id").fetchall() == [
        (1, None),
        (2, 1),
    ]
    conn.execute("UPDATE jobs SET status = 'stopped' WHERE id = 2")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE jobs SET status = 'bogus' WHERE id = 2")
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


# -- claims ------------------------------------------------------------------------------------


def test_a_claimed_key_is_not_given_to_another_job_until_its_owner_stops(project):
    store = project.store
    a, b = running_job(store), running_job(store)
    assert store.llm_calls.claim(a.id, ["k1", "k2"]) == {"k1", "k2"}
    assert store.llm_calls.claim(b.id, ["k1", "k2", "k3"]) == {"k3"}
    record_call(store, "k1", 0.1, a.id)  # answered: its claim goes, the cache has it
    assert store.llm_calls.claim(b.id, ["k1"]) == set()  # cached keys are read, not claimed
    store.llm_calls.release(a.id, ["k2"])  # a failed request: someone else may try it
    assert store.llm_calls.claim(b.id, ["k2"]) == {"k2"}
    store.jobs.finish(b.id, "done")  # a job that ends holds nothing
    ghost = running_job(store, pid=dead_pid())  # killed with kill -9: still "running"
    assert store.llm_calls.claim(ghost.id, ["k4"]) == {"k4"}
    assert store.llm_calls.claim(a.id, ["k2", "k3", "k4"]) == {"k2", "k3", "k4"}


@pytest.mark.slow
@pytest.mark.parametrize("cap", [0.0, 0.1])
def test_overlapping_diagnose_jobs_pay_once_per_request(
    project, tmp_path, llm_server, point_at, cap
):
    """Issue 15: three overlapping diagnose jobs over the same problems paid 900 calls for
    300 results, and the ledger lost 600 of them. Now each request key is paid once, every
    paid call is on the books, and under a small cap the three stop together below it."""
    n = 24
    many_problems(project, tmp_path, n=n)
    point_at(project, llm_server, roles=("student",), price_in=20.0, price_out=20.0)
    set_limits(project, concurrency=4, budget_usd=cap)
    # ~350 tokens a reply: about $0.007 a call against a worst case of about $0.011
    reply = "step " * 280 + "\\boxed{4}"
    llm_server.configure(default_reply=reply, latency_s=0.5)  # 3 s per job alone
    store = project.store
    jobs = [store.jobs.create("diagnose", DiagnoseParams().to_job()) for _ in range(3)]
    pids = [spawn_worker(project.root, job.id) for job in jobs]
    for pid in pids:
        os.waitpid(pid, 0)
    finished = [store.jobs.get(j.id) for j in jobs]
    paid = [e for e in llm_server.log() if e["status"] == 200]
    per_key = Counter(e["key"] for e in paid)
    assert max(per_key.values()) == 1, per_key.most_common(3)
    # every paid call is on the books, and the books agree with the jobs and `status`
    assert store.llm_calls.paid_calls() == len(paid)
    assert sum(j.cost for j in finished) == pytest.approx(store.llm_calls.total_cost())
    assert store.stats.pipeline().cost == pytest.approx(store.llm_calls.total_cost())
    assert store.llm_calls.claimed() == 0
    if not cap:
        assert [j.status for j in finished] == ["done"] * 3, [j.error for j in finished]
        assert len(per_key) == n and store.attempts.count() == n
        # the jobs that waited report the answers they reused, not calls they made
        assert sum(j.result["generated"] - j.result["from_cache"] for j in finished) == n
    else:
        assert store.llm_calls.total_cost() <= cap
        assert store.llm_calls.total_cost() > cap / 2  # the cap was used, not left idle
        assert [j.display_status for j in finished] == ["stopped: budget"] * 3, [
            (j.status, j.error) for j in finished
        ]
        assert 0 < store.attempts.count() == len(per_key) < n


# -- the cap -----------------------------------------------------------------------------------


async def test_a_tight_budget_runs_fewer_requests_at_once_instead_of_stopping(llm_server):
    """The cap covers three worst cases, the real costs are far smaller: every request runs,
    a few at a time, and the cap is never passed."""
    llm_server.configure(default_reply="ok", latency_s=0.02)
    backend_role = role(llm_server, input_cost_per_mtok=1.0, output_cost_per_mtok=2.0)
    probe = LiteLLMBackend(backend_role, Limits())
    reqs = requests(20)
    worst = probe.pricing.cost(*probe._estimate_tokens(reqs[0]))
    budget = Budget(cap_usd=3.2 * worst)
    backend = LiteLLMBackend(backend_role, Limits(concurrency=8), budget)
    out = await collect(backend, reqs)
    assert len(out) == 20 and all(r.ok for r in out.values())
    assert backend.stop_reason is None
    assert budget.spent == pytest.approx(sum(r.cost for r in out.values()))
    assert budget.spent <= budget.cap and budget.reserved == 0


@pytest.mark.parametrize("shared", [False, True])
def test_settled_reservations_leave_nothing_in_flight(project, shared):
    """0.1 + 0.2 - 0.1 - 0.2 is not 0.0 in floating point: a budget that read that as money
    in flight waited forever for it instead of stopping at the cap."""
    grants = None
    if shared:
        grants = project.store.budget.for_job(running_job(project.store).id, 1.0)
    budget = Budget(1.0, grants=grants)
    assert budget.reserve(0.1) is Reservation.GRANTED
    assert budget.reserve(0.2) is Reservation.GRANTED
    budget.settle(0.1, 0.1)
    budget.settle(0.2, 0.2)
    assert budget.in_flight == 0 and budget.reserved == 0.0
    if shared:
        record_call(project.store, "a", 0.1, grants.job_id)
        record_call(project.store, "b", 0.2, grants.job_id)
    assert budget.reserve(0.8) is Reservation.EXHAUSTED
    assert budget.reserve(0.7) is Reservation.GRANTED


def test_a_job_stopped_by_the_cap_reads_stopped_budget_and_resumes_when_raised(
    project, tmp_path, llm_server, point_at
):
    many_problems(project, tmp_path, n=30)
    point_at(project, llm_server, roles=("student",), price_in=20.0, price_out=20.0)
    set_limits(project, concurrency=4, budget_usd=0.013)
    llm_server.configure(default_reply="\\boxed{4}")
    store = project.store
    job = submit(project, "diagnose", DiagnoseParams().to_job())
    assert job.status == "stopped" and job.display_status == "stopped: budget", job.error
    assert job.error is None and "budget cap $0.01 reached" in job.message
    assert job.resumable and 0 < store.attempts.count() < 30
    assert store.llm_calls.total_cost() <= 0.013

    runner = CliRunner()
    listing = runner.invoke(main, ["jobs", "-p", str(project.root)])
    assert "stopped: budget" in listing.output, listing.output
    status = runner.invoke(main, ["status", "-p", str(project.root)])
    assert "1 stopped by the budget" in status.output, status.output
    # a stage run in the foreground that the cap stopped does not exit 0
    again = runner.invoke(main, ["diagnose", "-p", str(project.root)])
    assert again.exit_code != 0 and "stopped: budget" in again.output

    set_limits(project, budget_usd=10.0)
    done = resume(project, job.id)
    assert done.status == "done", done.error
    assert store.attempts.count() == 30
    paid = [e for e in llm_server.log() if e["status"] == 200]
    assert store.llm_calls.paid_calls() == len(paid) == 30  # nothing asked twice


# -- faults that cost seconds ------------------------------------------------------------------


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/v1"


@contextlib.contextmanager
def silent_host_url() -> Iterator[str]:
    """A port whose accept queue is full: the kernel drops further SYNs, so a connection is
    neither accepted nor refused (a firewalled or frozen host)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        for sock in (*fillers, server):
            sock.close()


@pytest.mark.parametrize("where", ["refused", "unresolvable", "silent"])
def test_an_unreachable_endpoint_stops_the_job_within_seconds(project, tmp_path, where):
    many_problems(project, tmp_path, n=40)
    with contextlib.ExitStack() as stack:
        if where == "silent":
            endpoint = stack.enter_context(silent_host_url())
            # timeout_s stays 600: only reaching the server is bounded
            set_limits(project, concurrency=8, connect_timeout_s=0.5)
        else:
            endpoint = closed_port_url() if where == "refused" else "http://no-such-host.invalid/v1"
            set_limits(project, concurrency=8)  # every request in flight, default retries
        _run_unreachable(project, endpoint, where)


def _run_unreachable(project, endpoint: str, where: str) -> None:
    args = ["diagnose", "-p", str(project.root), "--backend", "litellm"]
    args += ["--model", "openai/nobody-home", "--api-base", endpoint]
    started = time.monotonic()
    result = CliRunner().invoke(main, args)
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert elapsed < 10, elapsed
    job = project.store.jobs.list()[0]
    assert job.status == "failed" and job.resumable
    assert f"cannot reach {endpoint}" in job.error and "\n" not in job.error
    said = {"refused": "connection refused", "unresolvable": "host not found"}
    assert said.get(where, "no answer to the connection") in job.error
    assert project.store.attempts.count() == 0


async def test_retry_after_zero_retries_at_once(llm_server):
    llm_server.configure(
        rules=[{"contains": "q", "fault": "429", "times": 2, "retry_after": 0}],
        default_reply="ok",
    )
    # a full backoff would take 5 s, then 10 s
    backend = LiteLLMBackend(role(llm_server), Limits(concurrency=2, backoff_base_s=5.0))
    started = time.monotonic()
    out = await collect(backend, requests(2))
    assert all(r.ok for r in out.values())
    assert time.monotonic() - started < 2.0
    assert len(llm_server.log()) == 6


async def test_retry_after_is_honoured_as_given_not_stretched(llm_server):
    llm_server.configure(
        rules=[{"contains": "q0", "fault": "429", "times": 1, "retry_after": 0.5}],
        default_reply="ok",
    )
    backend = LiteLLMBackend(role(llm_server), Limits(concurrency=1, backoff_base_s=5.0))
    started = time.monotonic()
    out = await collect(backend, requests(1))
    elapsed = time.monotonic() - started
    assert out[0].ok and 0.5 <= elapsed < 2.5, elapsed


async def test_one_request_in_three_rate_limited_still_finishes_everything(llm_server):
    """More 429s in a row than max_retries for some request is likely over 120 requests:
    a rate limit is the server pacing us, so it does not use up the retries."""
    llm_server.configure(default_reply="ok", fail_every=3)
    backend = LiteLLMBackend(
        role(llm_server), Limits(concurrency=16, max_retries=1, backoff_base_s=5.0)
    )
    started = time.monotonic()
    out = await collect(backend, requests(120))
    assert len(out) == 120 and all(r.ok for r in out.values())
    assert time.monotonic() - started < 5.0
    assert sum(1 for e in llm_server.log() if e["status"] == 429) >= 40


def test_the_circuit_breaker_still_stops_a_server_that_only_errs(
    project, tmp_path, llm_server, point_at
):
    many_problems(project, tmp_path, n=40)
    point_at(project, llm_server, roles=("student",))
    set_limits(project, concurrency=2, max_retries=0)
    llm_server.configure(rules=[{"contains": "plus", "fault": "500"}])
    job = submit(project, "diagnose", DiagnoseParams().to_job())
    assert job.status == "failed" and "failed requests in a row" in job.error
    assert job.failed < 40
    assert wait_for(lambda: project.store.llm_calls.claimed() == 0, timeout=1)


async def test_the_jobs_screen_shows_a_job_stopped_by_the_budget(project):
    from textual.widgets import DataTable

    from acotd_tui.app import AcotdApp

    job = running_job(project.store)
    reason = "budget cap $1.00 reached; raise limits.budget_usd and resume to continue"
    project.store.jobs.finish(job.id, "stopped", result={"stopped_by": "budget"}, message=reason)
    app = AcotdApp(project)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        for _ in range(3):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause(0.05)
        table = app.screen.query_one("#job-table", DataTable)
        row = [str(cell) for cell in table.get_row_at(0)]
        assert "stopped: budget" in row, row


def test_retry_after_reads_seconds_and_http_dates():
    from email.utils import formatdate

    import httpx
    import openai

    from acotd_tui.backends.api import _retry_after

    def rate_limited(value: str) -> openai.RateLimitError:
        request = httpx.Request("POST", "http://x/v1/chat/completions")
        response = httpx.Response(429, headers={"retry-after": value}, request=request)
        return openai.RateLimitError("429", response=response, body=None)

    assert _retry_after(rate_limited("0")) == 0.0
    assert _retry_after(rate_limited("1.5")) == 1.5
    assert 25 < _retry_after(rate_limited(formatdate(time.time() + 30, usegmt=True))) <= 30
    assert _retry_after(rate_limited("soon")) is None  # our own backoff then
