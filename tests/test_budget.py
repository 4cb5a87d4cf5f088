"""The spending cap is the project's, not each job's: jobs running at once share it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from acotd_tui.backends.limits import Budget
from acotd_tui.jobs import spawn_worker
from acotd_tui.pipeline.grade import GradeParams

from .test_diagnose import wait_for
from .test_grade import EASY, HARD, MEDIUM


def record_call(store, key: str, cost: float, job_id: int | None) -> None:
    with store.db.tx() as conn:
        store.llm_calls.put(conn, [(key, "m", "litellm", {"text": "x", "cost": cost}, job_id)])


def running_job(store, pid: int | None = None):
    job = store.jobs.create("grade", {})
    return store.jobs.claim(job.id, pid=pid or os.getpid(), log_path="-")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_grants_share_the_cap_between_running_jobs(project):
    store = project.store
    record_call(store, "before", 0.30, None)  # spent before either job started
    a, b = running_job(store), running_job(store)
    assert store.budget.grant(a.id, need=0.2, want=0.5, cap=1.0) == pytest.approx(0.5)
    # b sees a's grant: only 0.2 is left, and a need above that gets nothing
    assert store.budget.grant(b.id, need=0.25, want=0.3, cap=1.0) == 0.0
    assert store.budget.grant(b.id, need=0.1, want=0.3, cap=1.0) == pytest.approx(0.2)
    assert store.budget.spent() == pytest.approx(1.0)

    # a's calls are covered by its grant, not counted a second time
    record_call(store, "a1", 0.25, a.id)
    assert store.budget.spent() == pytest.approx(1.0)
    # when a ends, its recorded spending counts and the unused rest of its grant is free again
    store.jobs.finish(a.id, "done")
    assert store.budget.spent() == pytest.approx(0.30 + 0.25 + 0.2)
    assert store.budget.grant(b.id, need=0.1, want=0.5, cap=1.0) == pytest.approx(0.25)


def test_a_dead_jobs_grant_lapses(project):
    store = project.store
    ghost = running_job(store, pid=dead_pid())  # killed with kill -9: still "running"
    with store.db.tx() as conn:
        conn.execute(
            "INSERT INTO budget_grants (job_id, granted, created_at, updated_at)"
            " VALUES (?, 0.9, '2020-01-01T00:00:00.000000Z', '2020-01-01T00:00:00.000000Z')",
            (ghost.id,),
        )
    record_call(store, "g1", 0.1, ghost.id)
    live = running_job(store)
    assert store.budget.grant(live.id, need=0.5, want=0.5, cap=1.0) == pytest.approx(0.5)
    assert store.budget.granted(ghost.id) == 0.0
    assert store.budget.spent() == pytest.approx(0.6)  # the ghost's recorded call still counts


def test_resumed_job_counts_its_earlier_spending_once(project):
    store = project.store
    job = running_job(store)
    store.budget.grant(job.id, need=0.4, want=0.4, cap=1.0)
    record_call(store, "r1", 0.3, job.id)
    store.jobs.finish(job.id, "failed", error="x")
    job = store.jobs.claim(job.id, pid=os.getpid(), log_path="-")
    assert store.budget.spent() == pytest.approx(0.3)
    assert store.budget.grant(job.id, need=0.1, want=1.0, cap=1.0) == pytest.approx(0.7)
    record_call(store, "r2", 0.5, job.id)
    assert store.budget.spent() == pytest.approx(1.0)  # 0.3 recorded before + 0.7 granted


def test_budget_draws_grants_and_gives_back_the_rest(project):
    store = project.store
    job = running_job(store)
    budget = Budget(10.0, grants=store.budget.for_job(job.id, 10.0))
    assert budget.try_reserve(0.05)  # one grant of 2% of the cap covers several requests
    assert store.budget.granted(job.id) == pytest.approx(0.2)
    assert budget.try_reserve(0.05) and budget.try_reserve(0.05)
    assert store.budget.granted(job.id) == pytest.approx(0.2)
    budget.settle(0.05, 0.01)
    budget.settle(0.05, 0.01)
    budget.settle(0.05, 0.01)
    budget.close()
    assert store.budget.granted(job.id) == pytest.approx(0.03)
    other = running_job(store)
    assert not Budget(10.0, grants=store.budget.for_job(other.id, 10.0)).try_reserve(9.98)
    assert Budget(10.0, grants=store.budget.for_job(other.id, 10.0)).try_reserve(9.97)


def test_two_jobs_at_once_stay_under_the_cap_together(demo_project, llm_server, point_at):
    """Two graders started together, each alone able to spend the whole cap."""
    project = demo_project
    point_at(project, llm_server, roles=("judge",), price_in=20.0, price_out=20.0)
    project.edit_config({"limits.concurrency": 2, "limits.budget_usd": 0.5})
    assert project.config.limits.budget_usd == 0.5
    llm_server.configure(
        rules=[{"contains": "strict grader", "replies": [EASY, MEDIUM, HARD]}], latency_s=0.2
    )
    store = project.store
    jobs = [
        store.jobs.create("grade", GradeParams(attempts_of=["6b_finetuning"]).to_job()),
        store.jobs.create(
            "grade",
            GradeParams(
                attempts_of=["6b_finetuning"], overrides={"model": "openai/judge-b"}
            ).to_job(),
        ),
    ]
    pids = [spawn_worker(project.root, job.id) for job in jobs]
    for pid in pids:
        os.waitpid(pid, 0)
    assert wait_for(lambda: all(store.jobs.get(j.id).status != "running" for j in jobs))

    spent = store.llm_calls.total_cost()
    per_job = [
        store.db.scalar("SELECT COALESCE(SUM(cost), 0) FROM llm_spend WHERE job_id = ?", (j.id,))
        for j in jobs
    ]
    assert all(cost > 0 for cost in per_job), per_job  # both ran, side by side
    assert spent <= 0.5 + 1e-9, per_job
    assert spent > 0.4  # and the cap was used, not left idle in grants
    finished = [store.jobs.get(j.id) for j in jobs]
    # the cap stops a job as "stopped: budget", not failed, and it can be resumed
    assert any(
        j.status == "stopped"
        and j.display_status == "stopped: budget"
        and "budget cap $0.50 reached" in j.message
        and j.resumable
        for j in finished
    ), [(j.status, j.message, j.error) for j in finished]
    assert not any(j.status == "failed" for j in finished)
    assert store.db.scalar("SELECT COUNT(*) FROM budget_grants") == 0
