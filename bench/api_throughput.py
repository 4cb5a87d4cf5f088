"""Diagnose-stage throughput against a loopback server, as ratios measured in one run.

A scripted OpenAI-compatible server (tests/llm_server.py, its own process) answers every
request after 100 ms. Three numbers, same server, same prompts:
  ideal:  concurrency / latency (64 / 0.1 s = 640 requests/s)
  bare:   an `openai.AsyncOpenAI` loop at concurrency 64 that only awaits the responses
  acotd:  `acotd diagnose` as a job: plan, request, parse reasoning and answer, check the
          answer against the reference, store attempt + cache entry, report progress
Prints acotd/bare (goal >= 0.8) and both against ideal. With --budget USD the project has
a spending cap, so every request also reserves its cost from the store's grant ledger.

With --fail-every N the server answers every Nth request with 429 and `Retry-After: 0`;
acotd then runs twice in the same run, without and with the faults, and prints the ratio
(goal for N=3: >= 0.6 of the no-fault rate). --dead times how long a diagnose job takes to
stop against an endpoint that refuses connections (goal: < 10 s, one line naming it).

    python bench/api_throughput.py [--requests 2000] [--concurrency 64] [--latency 0.1]
                                   [--budget USD] [--fail-every N] [--dead]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def configure(url: str, **config: object) -> None:
    base = url.removesuffix("/v1")
    req = urllib.request.Request(
        f"{base}/_admin/config", data=json.dumps(config).encode(), method="POST"
    )
    urllib.request.urlopen(req).read()


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "llm_server.py")], stdout=subprocess.PIPE, text=True
    )
    port = int(proc.stdout.readline().split()[1])  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    reply = "<think>Add the numbers step by step.</think>\nSo the total is \\boxed{42}."
    req = urllib.request.Request(
        f"{base}/_admin/config",
        data=json.dumps({"latency_s": latency, "default_reply": reply}).encode(),
        method="POST",
    )
    urllib.request.urlopen(req).read()
    return proc, f"{base}/v1"


def make_project(root: Path, url: str, n: int, concurrency: int, budget: float):
    from acotd_tui.importing import import_files
    from acotd_tui.project import Project

    project = Project.init(root)
    project.edit_config(
        {
            "models.student.backend": "litellm",
            "models.student.model": "openai/bench-student",
            "models.student.api_base": url,
            "models.student.input_cost_per_mtok": 0.1,
            "models.student.output_cost_per_mtok": 0.2,
            "limits.concurrency": concurrency,
            "limits.budget_usd": budget,
        }
    )
    rows = (SHARED / "gsm8k" / "train.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    data = root / "pool.jsonl"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    import_files(project.store, [data])
    return project


def prompts(project) -> list[list[dict[str, str]]]:
    from acotd_tui.templates import load_template

    template = load_template(project.config.diagnose.prompt)
    store = project.store
    return [
        list(template.render(problem=p.problem))
        for p in store.problems.get_many(store.problems.ids())
    ]


async def bare_loop(url: str, messages: list[list[dict[str, str]]], concurrency: int) -> float:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=url, api_key="EMPTY", max_retries=0)
    slots = asyncio.Semaphore(concurrency)

    async def one(m: list[dict[str, str]]) -> None:
        async with slots:
            await client.chat.completions.create(
                model="bench-student", messages=m, temperature=0.6, top_p=0.95, max_tokens=4096
            )

    start = time.perf_counter()
    await asyncio.gather(*(one(m) for m in messages))
    elapsed = time.perf_counter() - start
    await client.close()
    return len(messages) / elapsed


def fault_run(url: str, root: Path, args: argparse.Namespace) -> int:
    """acotd without faults, then with every Nth request rate-limited, in one run."""
    rates = []
    for every in (0, args.fail_every):
        configure(url, fail_every=every, fail_retry_after=0)
        project = make_project(
            root / f"every{every}", url, args.requests, args.concurrency, args.budget
        )
        rate, stored = acotd_run(project)
        project.close()
        if stored != args.requests:
            print(f"FAIL: stored {stored} attempts for {args.requests}", file=sys.stderr)
            return 1
        rates.append(rate)
    print(
        f"requests: {args.requests}, concurrency {args.concurrency},"
        f" latency {args.latency * 1000:.0f} ms; every {args.fail_every}th request"
        " answered 429 Retry-After: 0"
    )
    print(f"no faults:   {rates[0]:7.0f} req/s")
    print(f"with faults: {rates[1]:7.0f} req/s")
    print(f"ratio faults/no-faults: {rates[1] / rates[0]:.2f}  (goal >= 0.6)")
    return 0


def dead_run(root: Path, args: argparse.Namespace) -> int:
    """Time `acotd diagnose` against an endpoint that refuses connections."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    project = make_project(root / "dead", dead, args.requests, args.concurrency, 0.0)
    project.close()
    cmd = [str(Path(sys.executable).parent / "acotd"), "diagnose", "-p", str(root / "dead")]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
    elapsed = time.perf_counter() - start
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    print(f"dead endpoint {dead}: {args.requests} problems, concurrency {args.concurrency}")
    job_s = _job_seconds(root / "dead")
    print(
        f"stopped after {elapsed:.1f} s from the shell (the job itself: {job_s:.1f} s,"
        f" goal < 10 s), exit {done.returncode}"
    )
    print("its output:", *lines, sep="\n  ")
    log = next((root / "dead" / "runs" / "jobs").glob("*-diagnose.log"))
    print("its log:", *log.read_text(encoding="utf-8").splitlines()[:8], sep="\n  ")
    return 0 if done.returncode != 0 and job_s < 10 else 1


def _job_seconds(root: Path) -> float:
    """From the job's claim to its end, as the store recorded them."""
    from datetime import datetime

    from acotd_tui.project import Project

    with Project.open(root) as project:
        job = project.store.jobs.list()[0]
    stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
    started = datetime.strptime(job.started_at or "", stamp)
    return (datetime.strptime(job.finished_at or "", stamp) - started).total_seconds()


def acotd_run(project) -> tuple[float, int]:
    from acotd_tui.jobs import submit
    from acotd_tui.pipeline.diagnose import DiagnoseParams

    start = time.perf_counter()
    job = submit(project, "diagnose", DiagnoseParams().to_job())
    elapsed = time.perf_counter() - start
    if job.status != "done":
        raise SystemExit(f"diagnose job ended {job.status}: {job.error}")
    return project.store.attempts.count() / elapsed, project.store.attempts.count()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--budget", type=float, default=0.0, help="spending cap in USD (0 = none)")
    ap.add_argument(
        "--fail-every", type=int, default=0, help="429 Retry-After: 0 on every Nth request"
    )
    ap.add_argument("--dead", action="store_true", help="time to stop on a dead endpoint")
    args = ap.parse_args()
    if args.dead:
        with tempfile.TemporaryDirectory() as tmp:
            return dead_run(Path(tmp), args)
    proc, url = start_server(args.latency)
    if args.fail_every:
        try:
            with tempfile.TemporaryDirectory() as tmp:
                return fault_run(url, Path(tmp), args)
        finally:
            proc.kill()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = make_project(
                Path(tmp) / "bench", url, args.requests, args.concurrency, args.budget
            )
            messages = prompts(project)
            bare = asyncio.run(bare_loop(url, messages, args.concurrency))
            ours, stored = acotd_run(project)
            project.close()
    finally:
        proc.kill()
    if stored != args.requests:
        print(f"FAIL: stored {stored} attempts for {args.requests} problems", file=sys.stderr)
        return 1
    ideal = args.concurrency / args.latency
    print(
        f"requests: {args.requests}, concurrency {args.concurrency},"
        f" latency {args.latency * 1000:.0f} ms, budget cap {args.budget or 'none'}"
    )
    print(f"ideal:  {ideal:7.0f} req/s")
    print(f"bare:   {bare:7.0f} req/s  ({bare / ideal:.2f} of ideal)")
    print(f"acotd:  {ours:7.0f} req/s  ({ours / ideal:.2f} of ideal)")
    print(f"ratio acotd/bare: {ours / bare:.2f}  (goal >= 0.8)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
