"""API models through litellm: any provider, or any OpenAI-compatible server.

Two paths behind one backend:
- OpenAI-compatible endpoints (provider `openai` or `hosted_vllm`: OpenAI itself, a vLLM or
  SGLang server, the test server) are called through one shared `openai.AsyncOpenAI`
  client. litellm's per-call machinery (cost calculation, logging payloads, model-info
  lookups) costs several milliseconds of CPU per request, which capped a 64-way loop at
  about half the bare client's throughput here; bench/api_throughput.py measures it.
- Every other provider goes through `litellm.acompletion`, which translates the request.
Prices come from the config or, once per model, from litellm's price map. litellm's
exception classes subclass the OpenAI SDK's, so one retry policy serves both paths.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from acotd_tui.config import Limits, ModelRole
from acotd_tui.errors import BackendError

from .base import ChatRequest, GenerationResult
from .limits import Budget, Pricing, RateLimiter, Reservation

log = logging.getLogger("acotd.backend")

DIRECT_PROVIDERS = {"openai", "hosted_vllm"}
# Statuses a request is retried on; anything else 4xx is the request's own fault.
RETRY_STATUSES = {408, 409, 425, 429, 500, 502, 503, 504, 529}
FATAL_STATUSES = {401, 403}
# An endpoint that refuses connections or whose host does not resolve is tried this many
# times (UNREACHABLE_PAUSE_S apart: a server restarting) before the whole job stops with one
# line naming it; the full retry schedule of every request in flight took nearly a minute.
UNREACHABLE_TRIES = 3
UNREACHABLE_PAUSE_S = 0.5
# A 429 is the server pacing us, not failing: it is retried after its Retry-After (0 means
# at once) this many times before the request counts as failed.
RATE_LIMIT_TRIES = 30
# While the spending cap cannot cover one more request's worst case but money is held by
# requests in flight, the feeder re-asks at least this often (or as soon as one settles).
BUDGET_WAIT_S = 0.25


def import_litellm():
    """Import litellm quietly and offline.

    Without LITELLM_LOCAL_MODEL_COST_MAP it downloads a price map at import (these machines
    have no internet: ~10 s of retries); it also prints help banners on every error.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def resolve_provider(role: ModelRole) -> tuple[str, str]:
    """(provider, model name as the provider knows it).

    An explicit OpenAI-compatible prefix is resolved here, so the fast path never pays
    litellm's ~4 s import; anything else asks litellm.
    """
    prefix, _, rest = role.model.partition("/")
    if rest and prefix in DIRECT_PROVIDERS:
        return prefix, rest
    litellm = import_litellm()
    try:
        model, provider, _, _ = litellm.get_llm_provider(model=role.model, api_base=role.api_base)
    except Exception as exc:
        raise BackendError(
            f"litellm does not know how to reach model {role.model!r}: {exc}"
        ) from None
    return provider, model


@functools.cache
def litellm_price_map() -> dict[str, dict]:
    """litellm's bundled price map, read without importing litellm (same data, no 4 s import)."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = (
        Path(next(iter(spec.submodule_search_locations)))
        / "model_prices_and_context_window_backup.json"
    )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def lookup_pricing(role: ModelRole) -> Pricing:
    if role.input_cost_per_mtok is not None or role.output_cost_per_mtok is not None:
        return Pricing(
            (role.input_cost_per_mtok or 0) / 1e6, (role.output_cost_per_mtok or 0) / 1e6, True
        )
    prices = litellm_price_map()
    for name in (role.model, role.model.split("/", 1)[-1]):
        info = prices.get(name)
        if info and (info.get("input_cost_per_token") or info.get("output_cost_per_token")):
            return Pricing(
                float(info.get("input_cost_per_token") or 0),
                float(info.get("output_cost_per_token") or 0),
                True,
            )
    return Pricing()


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # the other form RFC 9110 allows: an HTTP date
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def api_base_problem(api_base: str | None) -> str | None:
    """Why `api_base` cannot be an OpenAI-compatible endpoint, or None (None: not set).

    `ftp://x` or `127.0.0.1:9` (no scheme) reach the client as a 500-like error and were
    retried with the whole backoff schedule, for minutes; they are refused at once instead."""
    if not api_base:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(api_base)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"api_base {api_base!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"api_base {api_base!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:8000/v1"
    return None


def _unreachable(exc: BaseException) -> str | None:
    """Why the endpoint cannot be reached at all (refused, unknown host, no answer to the
    connection within `limits.connect_timeout_s`), or None.

    Read from the exception's causes: the OpenAI SDK wraps httpx's ConnectError, litellm
    wraps the SDK's. Other timeouts and dropped connections are not this: the server is there.
    """
    import socket

    import httpx

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # By name: the OpenAI SDK may bring its own copy of httpx (httpx2), litellm aiohttp.
        if type(current).__name__ in ("ConnectTimeout", "ConnectionTimeoutError"):
            return "no answer to the connection (limits.connect_timeout_s)"
        if isinstance(current, httpx.TimeoutException):
            return None
        if isinstance(current, socket.gaierror):
            return f"host not found ({current.strerror or current})"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, httpx.ConnectError):
            text = str(current)
            lowered = text.lower()
            if "refused" in lowered:
                return "connection refused"
            if "name or service" in lowered or "nodename" in lowered or "resolv" in lowered:
                return f"host not found ({text})"
            return text or "cannot connect"
        current = current.__cause__ or current.__context__
    return None


class TransientError(Exception):
    """A reply we could not use (malformed, empty) that deserves another try."""


class LiteLLMBackend:
    name = "litellm"

    def __init__(self, role: ModelRole, limits: Limits, budget: Budget | None = None) -> None:
        self.role = role
        self.model = role.model
        self.limits = limits
        self.budget = budget or Budget(0.0)
        if problem := api_base_problem(role.api_base):
            raise BackendError(f"{role.model}: {problem}")
        self.stop_reason: str | None = None
        self.stop_kind: str | None = None  # "budget" when the spending cap stopped it
        self.limiter = RateLimiter(limits.requests_per_minute, limits.tokens_per_minute)
        self.provider, self.provider_model = resolve_provider(role)
        self.direct = self.provider in DIRECT_PROVIDERS and role.extra.get("direct", True)
        self.pricing = lookup_pricing(role)
        self._api_key = role.api_key()
        self._schema_supported = True
        self._client: Any = None
        self.stats = {"requests": 0, "retries": 0, "failed": 0}
        if self.budget.cap > 0 and not self.pricing.known:
            log.warning(
                "model %s has no known price: the budget cap cannot limit its spending"
                " (set input_cost_per_mtok / output_cost_per_mtok in acotd.toml)",
                role.model,
            )

    # -- one request ----------------------------------------------------------------------
    def _client_for_direct(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI

            # The SDK's own HTTP client: its pool (1000 connections) is larger than any
            # concurrency we allow, and the semaphore in `stream` is what bounds it.
            self._client = AsyncOpenAI(
                base_url=self.role.api_base,
                api_key=self._api_key or "EMPTY",
                max_retries=0,
                timeout=self._timeout(),
            )
        return self._client

    def _timeout(self) -> Any:
        """The whole request may take `timeout_s`; reaching the server only `connect_timeout_s`."""
        import httpx

        limits = self.limits
        return httpx.Timeout(
            limits.timeout_s, connect=min(limits.connect_timeout_s, limits.timeout_s)
        )

    def _kwargs(self, request: ChatRequest) -> dict[str, Any]:
        p = request.params
        kwargs: dict[str, Any] = {
            "messages": list(request.messages),
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
        }
        if p.seed is not None:
            kwargs["seed"] = p.seed
        if p.stop:
            kwargs["stop"] = list(p.stop)
        if p.json_schema is not None and self._schema_supported:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": p.json_schema},
            }
        if p.enable_thinking is not None and self.provider == "hosted_vllm":
            kwargs["extra_body"] = {"chat_template_kwargs": {"enable_thinking": p.enable_thinking}}
        kwargs.update(self.role.extra.get("request", {}))
        return kwargs

    async def _call(self, request: ChatRequest) -> GenerationResult:
        kwargs = self._kwargs(request)
        started = time.perf_counter()
        if self.direct:
            response = await self._client_for_direct().chat.completions.create(
                model=self.provider_model, **kwargs
            )
        else:
            litellm = import_litellm()
            # OpenAI-compatible servers need some key; other providers read their own env vars.
            key = self._api_key or ("EMPTY" if self.provider in DIRECT_PROVIDERS else None)
            response = await litellm.acompletion(
                model=self.role.model,
                api_base=self.role.api_base,
                api_key=key,
                timeout=self._timeout(),
                num_retries=0,
                drop_params=True,
                **kwargs,
            )
        latency = time.perf_counter() - started
        choices = getattr(response, "choices", None)
        if not choices:
            raise TransientError("the server returned no choices")
        message = choices[0].message
        text = message.content or ""
        reasoning = getattr(message, "reasoning_content", None) or getattr(
            message, "reasoning", None
        )
        usage = getattr(response, "usage", None)
        tokens_in = int(getattr(usage, "prompt_tokens", 0) or 0)
        tokens_out = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = self.pricing.cost(tokens_in, tokens_out)
        if not self.pricing.known and not self.direct:
            cost = float(
                (getattr(response, "_hidden_params", None) or {}).get("response_cost") or 0.0
            )
        return GenerationResult(
            text=text,
            reasoning=reasoning if isinstance(reasoning, str) else None,
            finish_reason=choices[0].finish_reason,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            latency_s=latency,
            cost=cost,
        )

    def _estimate_tokens(self, request: ChatRequest) -> tuple[int, int]:
        prompt = sum(len(m.get("content") or "") for m in request.messages) // 3 + 8
        return prompt, request.params.max_tokens

    def endpoint(self) -> str:
        return self.role.api_base or f"{self.provider} ({self.role.model})"

    async def _with_retries(self, request: ChatRequest, reserve: float) -> GenerationResult:
        """Send with retries; `reserve` is this request's budget reservation, settled here."""
        import openai

        est_in, est_out = self._estimate_tokens(request)
        attempt = 0  # failures that count against limits.max_retries
        rate_limited = 0  # 429s: counted apart (RATE_LIMIT_TRIES)
        unreachable = 0
        while True:
            await self.limiter.acquire(est_in + est_out)
            self.stats["requests"] += 1
            try:
                result = await self._call(request)
            except (
                TransientError,
                openai.APIConnectionError,
                openai.APITimeoutError,
                openai.APIResponseValidationError,
                ValueError,
            ) as exc:
                error, status, wait_hint = f"{type(exc).__name__}: {exc}", None, None
                why = _unreachable(exc)
                if why is not None:
                    unreachable += 1
                    if unreachable >= UNREACHABLE_TRIES:
                        self.budget.settle(reserve, 0.0)
                        raise BackendError(
                            f"cannot reach {self.endpoint()}: {why}; check that the server"
                            f" is running and api_base for {self.role.model}"
                        ) from None
                    self.stats["retries"] += 1
                    await asyncio.sleep(UNREACHABLE_PAUSE_S)
                    continue
            except openai.APIStatusError as exc:
                status = _status_of(exc)
                error, wait_hint = f"HTTP {status}: {_short(exc)}", _retry_after(exc)
                if status in FATAL_STATUSES:
                    self.budget.settle(reserve, 0.0)
                    raise BackendError(
                        f"{self.role.model}: the server refused the credentials (HTTP {status})"
                        + (f"; check {self.role.api_key_env}" if self.role.api_key_env else "")
                    ) from None
                if status == 400 and "response_format" in str(exc) and self._schema_supported:
                    self._schema_supported = (
                        False  # server lacks structured output: parse text instead
                    )
                    log.warning(
                        "%s does not support response_format; continuing without it",
                        self.role.model,
                    )
                    continue
                if status not in RETRY_STATUSES:
                    self.budget.settle(reserve, 0.0)
                    self.stats["failed"] += 1
                    return GenerationResult(error=error)
                if status == 429:
                    rate_limited += 1
                    delay = wait_hint if wait_hint is not None else self._backoff(rate_limited - 1)
                    # everyone holds for the server's word; Retry-After: 0 means go on now
                    self.limiter.pause(delay)
                    if rate_limited < RATE_LIMIT_TRIES:
                        self.stats["retries"] += 1
                        if delay > 0:
                            log.info("rate limited; retrying in %.2fs", delay)
                            await asyncio.sleep(delay)
                        continue
                    self.budget.settle(reserve, 0.0)
                    self.stats["failed"] += 1
                    return GenerationResult(
                        error=f"{error} (still rate limited after {rate_limited} tries)"
                    )
            else:
                self.limiter.settle(est_in + est_out, result.tokens_in + result.tokens_out)
                self.budget.settle(reserve, result.cost)
                return result
            if attempt >= self.limits.max_retries:
                self.budget.settle(reserve, 0.0)
                self.stats["failed"] += 1
                return GenerationResult(error=f"{error} (gave up after {attempt + 1} tries)")
            # the server's Retry-After is honoured as given; our own schedule otherwise
            delay = wait_hint if wait_hint is not None else self._backoff(attempt)
            log.info("retrying in %.1fs after %s", delay, error)
            self.stats["retries"] += 1
            attempt += 1
            if delay > 0:
                await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        base = min(self.limits.backoff_max_s, self.limits.backoff_base_s * (2**attempt))
        return base * random.uniform(0.5, 1.0)

    # -- many requests ----------------------------------------------------------------------
    async def stream(
        self, requests: Sequence[ChatRequest]
    ) -> AsyncIterator[tuple[int, GenerationResult]]:
        done: asyncio.Queue[tuple[int, GenerationResult] | BaseException] = asyncio.Queue()
        slots = asyncio.Semaphore(self.limits.concurrency)
        tasks: set[asyncio.Task] = set()
        settled = asyncio.Event()

        async def run_one(index: int, request: ChatRequest, reserve: float) -> None:
            try:
                result = await self._with_retries(request, reserve)
                await done.put((index, result))
            except BaseException as exc:  # a fatal error (bad credentials) ends the stream
                await done.put(exc)
            finally:
                slots.release()
                settled.set()

        narrowed = False

        async def reserve_for(reserve: float) -> bool:
            """Reserve a worst case, waiting while money is held in flight; False at the cap."""
            nonlocal narrowed
            while True:
                settled.clear()
                outcome = self.budget.reserve(reserve)
                if outcome is Reservation.GRANTED:
                    return True
                if outcome is Reservation.EXHAUSTED:
                    return False
                if not narrowed:
                    narrowed = True
                    log.info(
                        "budget left cannot cover every request in flight: running fewer at once"
                    )
                # Not `wait_for`: on Python 3.11 it swallows a cancel that lands as the wait
                # ends, and the feeder, closed after a fatal error, went on paying for every
                # request left. `asyncio.wait` lets the cancel through.
                waiter = asyncio.ensure_future(settled.wait())
                try:
                    await asyncio.wait({waiter}, timeout=BUDGET_WAIT_S)
                finally:
                    waiter.cancel()

        async def feed() -> int:
            started = 0
            for index, request in enumerate(requests):
                await slots.acquire()
                est_in, est_out = self._estimate_tokens(request)
                reserve = self.pricing.cost(est_in, est_out)
                if not await reserve_for(reserve):
                    self.stop_kind = "budget"
                    self.stop_reason = (
                        f"budget cap ${self.budget.cap:.2f} reached"
                        f" (${self.budget.project_spent():.4f} spent or in flight);"
                        " raise limits.budget_usd and resume to continue"
                    )
                    slots.release()
                    break
                task = asyncio.create_task(run_one(index, request, reserve))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                started += 1
            return started

        feeder = asyncio.create_task(feed())
        received = 0
        try:
            while True:
                if feeder.done() and received >= feeder.result():
                    break
                getter = asyncio.ensure_future(done.get())
                await asyncio.wait(
                    {getter, feeder} if not feeder.done() else {getter},
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not getter.done():
                    getter.cancel()
                    continue
                item = getter.result()
                if isinstance(item, BaseException):
                    raise item
                received += 1
                yield item
        finally:
            feeder.cancel()
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(feeder, *tasks, return_exceptions=True)
            self.budget.close()

    async def aclose(self) -> None:
        self.budget.close()
        if self._client is not None:
            await self._client.close()
            self._client = None


def _short(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        message = (
            (body.get("error") or {}).get("message")
            if isinstance(body.get("error"), dict)
            else body.get("message")
        )
        if message:
            return str(message)[:200]
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
