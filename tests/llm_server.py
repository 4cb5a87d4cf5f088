"""A scriptable OpenAI-compatible chat server for tests and benchmarks (loopback only).

Run as a process: `python tests/llm_server.py [--port 0]` prints `PORT <n>` once listening.
It speaks enough HTTP/1.1 (keep-alive, Content-Length) for the OpenAI and litellm clients.

Behaviour is set with POST /_admin/config (JSON, all keys optional):
  latency_s        seconds to wait before answering each request (default 0)
  default_reply    text returned when nothing else matches
  replies          {prefix: reply}: the first 80 characters of the last user message -> reply
  rules            [{"contains": s, "reply": t, "replies": [t...], "reasoning": r,
                     "finish_reason": f, "fault": kind, "times": n, "retry_after": s,
                     "latency_s": s, "max_uses": n}] checked in order; "replies" picks one by
                     a hash of the request, so the same request always gets the same reply;
                     "max_uses" retires the rule after n matching requests (any keys);
                     "by_prefix": {prefix: reply} makes the rule match only those requests
                     whose last user message starts with a listed prefix (80 characters)
  faults           kinds: "429" (with Retry-After), "500", "timeout" (sleep 3600 s),
                   "drop" (close the connection without answering), "malformed" (invalid
                   JSON body), "empty_choices", "400" (bad request), "401" (bad key)
                   "times": apply the fault to the first n calls of each distinct request
  fail_every       N: every Nth chat request (counting all of them) gets a 429 with
                   Retry-After `fail_retry_after` (default 0), before any rule applies
  prices           ignored here; clients price by config
GET /_admin/log returns [{"key", "status", "t"}] per request seen (key = hash of the body's
messages, model, sampling params); POST /_admin/reset clears log and config.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import sys
import time
from typing import Any

PREFIX_CHARS = 80


class ScriptState:
    def __init__(self) -> None:
        self.config: dict[str, Any] = {}
        self.log: list[dict[str, Any]] = []
        self.fault_counts: dict[tuple[int, str], int] = {}
        self.uses: dict[int, int] = {}
        self.chats = 0

    def reset(self) -> None:
        self.config, self.log, self.fault_counts, self.uses = {}, [], {}, {}
        self.chats = 0


def request_key(body: dict[str, Any]) -> str:
    keep = {
        k: body.get(k)
        for k in ("model", "messages", "temperature", "top_p", "max_tokens", "seed", "stop")
    }
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:24]


def last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content or "")
    return ""


def _all_text(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content") or "") for m in body.get("messages") or [])


def respond_json(status: int, payload: Any, extra_headers: dict[str, str] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    return raw_response(status, body, extra_headers)


def raw_response(status: int, body: bytes, extra_headers: dict[str, str] | None = None) -> bytes:
    reason = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
    }.get(status, "OK")
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        **(extra_headers or {}),
    }
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    )
    return head.encode() + body


def completion(
    body: dict[str, Any], text: str, reasoning: str | None, finish_reason: str
) -> dict[str, Any]:
    """A chat completion; a token is 4 characters, and max_tokens truncates like a real server."""
    prompt_tokens = max(1, len(_all_text(body)) // 4)
    limit = body.get("max_tokens") or body.get("max_completion_tokens")
    if limit is not None and len(text + (reasoning or "")) > int(limit) * 4:
        budget = int(limit) * 4
        reasoning = (reasoning or "")[:budget] if reasoning is not None else None
        text = text[: max(0, budget - len(reasoning or ""))]
        finish_reason = "length"
    completion_tokens = max(1, -(-len(text + (reasoning or "")) // 4))
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    return {
        "id": "chatcmpl-" + request_key(body)[:12],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "test-model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class Server:
    def __init__(self) -> None:
        self.state = ScriptState()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                method, path, _ = request_line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                raw = await reader.readexactly(length) if length else b""
                out = await self.route(method, path, raw)
                if out is None:  # drop the connection without answering
                    writer.transport.abort()
                    return
                writer.write(out)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def route(self, method: str, path: str, raw: bytes) -> bytes | None:
        path = path.split("?", 1)[0]
        if path == "/_admin/config" and method == "POST":
            self.state.config.update(json.loads(raw or b"{}"))
            return respond_json(200, {"ok": True})
        if path == "/_admin/reset":
            self.state.reset()
            return respond_json(200, {"ok": True})
        if path == "/_admin/log":
            return respond_json(200, self.state.log)
        if path.endswith("/models"):
            return respond_json(
                200, {"object": "list", "data": [{"id": "test-model", "object": "model"}]}
            )
        if path.endswith("/chat/completions") and method == "POST":
            return await self.chat(raw)
        return respond_json(404, {"error": {"message": f"no route {path}"}})

    async def chat(self, raw: bytes) -> bytes | None:
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            return respond_json(
                400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}}
            )
        cfg = self.state.config
        key = request_key(body)
        self.state.chats += 1
        every = int(cfg.get("fail_every") or 0)
        if every and self.state.chats % every == 0:
            after = cfg.get("fail_retry_after", 0)
            self.state.log.append(
                {"key": key, "t": time.time(), "status": 429, "fault": "fail_every",
                 "user": last_user(body)[:PREFIX_CHARS]}
            )
            return respond_json(
                429,
                {"error": {"message": "scripted 429", "type": "rate_limit_error"}},
                {"retry-after": str(after)},
            )
        text_all = _all_text(body)
        rule: dict[str, Any] = {}
        for index, candidate in enumerate(cfg.get("rules", [])):
            if candidate.get("contains", "") in text_all:
                if (
                    "by_prefix" in candidate
                    and last_user(body)[:PREFIX_CHARS] not in candidate["by_prefix"]
                ):
                    continue
                if "max_uses" in candidate:
                    if self.state.uses.get(index, 0) >= candidate["max_uses"]:
                        continue
                    self.state.uses[index] = self.state.uses.get(index, 0) + 1
                if "fault" in candidate and "times" in candidate:
                    seen = self.state.fault_counts.get((index, key), 0)
                    if seen >= candidate["times"]:
                        continue
                    self.state.fault_counts[(index, key)] = seen + 1
                rule = candidate
                break
        latency = float(rule.get("latency_s", cfg.get("latency_s", 0)))
        fault = rule.get("fault")
        entry = {
            "key": key,
            "t": time.time(),
            "status": 200,
            "fault": fault,
            "user": last_user(body)[:PREFIX_CHARS],
        }
        self.state.log.append(entry)
        if latency:
            await asyncio.sleep(latency)
        if fault == "timeout":
            await asyncio.sleep(3600)
        if fault == "drop":
            entry["status"] = 0
            return None
        if fault in ("429", "500", "400", "401"):
            entry["status"] = int(fault)
            extra = {"retry-after": str(rule.get("retry_after", 1))} if fault == "429" else {}
            kind = {
                "429": "rate_limit_error",
                "500": "server_error",
                "400": "invalid_request_error",
                "401": "authentication_error",
            }[fault]
            return respond_json(
                int(fault), {"error": {"message": f"scripted {fault}", "type": kind}}, extra
            )
        if fault == "malformed":
            return raw_response(
                200, b'{"id": "x", "choices": [{"message": {"content": "unterminated'
            )
        if fault == "empty_choices":
            return respond_json(
                200,
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model"),
                    "choices": [],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1},
                },
            )
        if "by_prefix" in rule:
            text = rule["by_prefix"][last_user(body)[:PREFIX_CHARS]]
        elif "replies" in rule:
            options = rule["replies"]
            text = options[int(key, 16) % len(options)]
        elif "reply" in rule:
            text = rule["reply"]
        else:
            text = cfg.get("replies", {}).get(
                last_user(body)[:PREFIX_CHARS],
                cfg.get("default_reply", "The answer is \\boxed{0}."),
            )
        return respond_json(
            200, completion(body, text, rule.get("reasoning"), rule.get("finish_reason", "stop"))
        )


async def serve(port: int) -> None:
    server = Server()
    srv = await asyncio.start_server(server.handle, "127.0.0.1", port, backlog=1024)
    actual = srv.sockets[0].getsockname()[1]
    print(f"PORT {actual}", flush=True)
    async with srv:
        await srv.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(serve(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
