"""The litellm backend against a real HTTP server: retries, limits, faults, budget, cost."""

from __future__ import annotations

import time

import pytest

from acotd_tui.backends import Budget, ChatRequest, SamplingParams
from acotd_tui.backends.api import LiteLLMBackend
from acotd_tui.config import Limits, ModelRole
from acotd_tui.errors import BackendError


def role(server, **kw) -> ModelRole:
    settings = {"input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0, **kw}
    return ModelRole(backend="litellm", model="openai/test-model", api_base=server.url, **settings)


def requests(n: int, prefix: str = "q") -> list[ChatRequest]:
    return [
        ChatRequest(
            ({"role": "user", "content": f"{prefix}{i}"},),
            SamplingParams(temperature=0.0, max_tokens=32),
        )
        for i in range(n)
    ]


async def collect(backend, reqs):
    out = {}
    async for index, result in backend.stream(reqs):
        out[index] = result
    await backend.aclose()
    return out


async def test_replies_usage_and_cost(llm_server):
    llm_server.configure(
        rules=[{"contains": "q1", "reply": "R1", "reasoning": "because"}], default_reply="plain"
    )
    backend = LiteLLMBackend(role(llm_server), Limits(concurrency=4))
    assert backend.direct  # OpenAI-compatible: the fast path
    out = await collect(backend, requests(3))
    assert [out[i].text for i in range(3)] == ["plain", "R1", "plain"]
    assert out[1].reasoning == "because"
    r = out[0]
    assert r.tokens_in > 0 and r.tokens_out > 0 and r.finish_reason == "stop"
    assert r.cost == pytest.approx(r.tokens_in * 1e-6 + r.tokens_out * 2e-6)


async def test_litellm_path_gives_the_same_result(llm_server):
    llm_server.configure(default_reply="via litellm")
    backend = LiteLLMBackend(role(llm_server, extra={"direct": False}), Limits(concurrency=2))
    assert not backend.direct
    out = await collect(backend, requests(2))
    assert {r.text for r in out.values()} == {"via litellm"}
    assert all(r.cost > 0 for r in out.values())


@pytest.mark.parametrize("fault", ["500", "drop", "malformed", "empty_choices"])
async def test_transient_faults_are_retried(llm_server, fault):
    llm_server.configure(rules=[{"contains": "q", "fault": fault, "times": 2}], default_reply="ok")
    backend = LiteLLMBackend(
        role(llm_server), Limits(concurrency=2, backoff_base_s=0.01, max_retries=3)
    )
    out = await collect(backend, requests(2))
    assert all(r.ok and r.text == "ok" for r in out.values()), [r.error for r in out.values()]
    assert len(llm_server.log()) == 6  # two failures then a success, per request
    assert backend.stats["retries"] == 4


async def test_429_honours_retry_after_for_everyone(llm_server):
    llm_server.configure(
        rules=[{"contains": "q0", "fault": "429", "times": 1, "retry_after": 1}],
        default_reply="ok",
        latency_s=0.05,
    )
    backend = LiteLLMBackend(role(llm_server), Limits(concurrency=1, backoff_base_s=0.01))
    started = time.monotonic()
    out = await collect(backend, requests(3))
    elapsed = time.monotonic() - started
    assert all(r.ok for r in out.values())
    assert elapsed >= 1.0  # the whole backend paused for Retry-After, not just one request
    times = [e["t"] for e in llm_server.log()]
    assert times[1] - times[0] >= 0.95


async def test_timeout_is_retried_then_given_up(llm_server):
    llm_server.configure(rules=[{"contains": "q", "fault": "timeout"}])
    backend = LiteLLMBackend(
        role(llm_server), Limits(concurrency=2, timeout_s=0.3, max_retries=1, backoff_base_s=0.01)
    )
    out = await collect(backend, requests(1))
    assert not out[0].ok and "gave up after 2 tries" in out[0].error
    assert len(llm_server.log()) == 2


async def test_bad_request_is_not_retried_and_bad_key_stops_everything(llm_server):
    llm_server.configure(rules=[{"contains": "q0", "fault": "400"}], default_reply="ok")
    backend = LiteLLMBackend(role(llm_server), Limits(concurrency=1, backoff_base_s=0.01))
    out = await collect(backend, requests(2))
    assert not out[0].ok and "HTTP 400" in out[0].error and out[1].ok
    assert len(llm_server.log()) == 2

    llm_server.reset()
    llm_server.configure(rules=[{"contains": "q", "fault": "401"}])
    backend = LiteLLMBackend(role(llm_server), Limits(concurrency=1))
    with pytest.raises(BackendError, match="refused the credentials"):
        await collect(backend, requests(5))
    assert len(llm_server.log()) == 1


async def test_concurrency_and_rpm_limits(llm_server):
    llm_server.configure(latency_s=0.2, default_reply="ok")
    backend = LiteLLMBackend(role(llm_server), Limits(concurrency=2))
    started = time.monotonic()
    await collect(backend, requests(6))
    assert time.monotonic() - started >= 0.55  # 6 requests, 2 at a time, 0.2 s each

    llm_server.reset()
    llm_server.configure(default_reply="ok")
    backend = LiteLLMBackend(role(llm_server), Limits(concurrency=8, requests_per_minute=120))
    async for _ in backend.stream(requests(1)):  # builds the client and opens the connection,
        pass  # so their set-up time does not shorten the first gap
    llm_server.reset()
    llm_server.configure(default_reply="ok")
    await collect(backend, requests(4))
    starts = sorted(e["t"] for e in llm_server.log())
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # 120/min = one start per 0.5 s; arrival times at the server jitter by a few ms
    assert len(gaps) == 3 and min(gaps) >= 0.4 and starts[-1] - starts[0] >= 1.45, gaps


async def test_budget_stops_before_the_cap(llm_server):
    llm_server.configure(default_reply="x" * 400)
    # each request reserves ~(prompt/3 + 32 max tokens) tokens worth; with a tiny cap only a few fit
    budget = Budget(cap_usd=0.0002)
    backend = LiteLLMBackend(
        role(llm_server, input_cost_per_mtok=1.0, output_cost_per_mtok=2.0),
        Limits(concurrency=1),
        budget,
    )
    out = await collect(backend, requests(50))
    assert 0 < len(out) < 50
    assert backend.stop_reason and "budget cap" in backend.stop_reason
    assert budget.spent <= 0.0002
    assert len(llm_server.log()) == len(out)


def test_missing_api_key_is_a_clear_error(llm_server, monkeypatch):
    monkeypatch.delenv("ACOTD_TEST_KEY", raising=False)
    with pytest.raises(Exception, match="environment variable ACOTD_TEST_KEY is not set"):
        LiteLLMBackend(role(llm_server, api_key_env="ACOTD_TEST_KEY"), Limits())


def test_vllm_backend_fails_clearly_without_vllm(tiny_model_dir):
    import importlib.util

    from acotd_tui.backends import make_backend

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    backend = make_backend(ModelRole(backend="vllm", model=str(tiny_model_dir)), Limits())
    with pytest.raises(
        BackendError, match=r"vLLM is not installed: `pip install 'acotd-tui\[gpu\]'`"
    ):
        backend.load()


def test_transformers_backend_refuses_missing_gpu(tiny_model_dir):
    import torch

    from acotd_tui.backends import make_backend

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    backend = make_backend(
        ModelRole(backend="transformers", model=str(tiny_model_dir), device="cuda"), Limits()
    )
    with pytest.raises(BackendError, match="no CUDA GPU is visible"):
        backend.load()
