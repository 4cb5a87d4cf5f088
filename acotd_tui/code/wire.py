"""Values that cross between the solution's process and the checker: plain data, nothing else.

A function problem's arguments go in and its return value comes out as JSON text. Python
values that JSON cannot tell apart (tuple vs list, set, bytes, dict with non-string keys)
are tagged objects `{"$": kind, "v": ...}`. Decoding builds exact built-in types only, so an
object whose `__eq__` always answers True, a list subclass or anything with behaviour of its
own cannot reach the comparison: the checker compares values it built itself.

Standard library only: both `checker.py` (trusted) and `harness.py` (inside the sandbox) load
this file by path.
"""

from __future__ import annotations

import base64
import json
import numbers

MAX_DEPTH = 200


class WireError(ValueError):
    """A value that is not plain data (or a reply that does not decode to plain data)."""


def encode(value, depth: int = 0):  # any plain value
    """Plain data to JSON-able form. Numbers and sequences of foreign types (numpy scalars,
    list subclasses) become their plain equivalents; anything else is refused."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return str(value) if isinstance(value, str) else value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, numbers.Complex):
        return {"$": "complex", "v": [float(value.real), float(value.imag)]}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"$": "tuple", "v": [encode(v, depth + 1) for v in value]}
    if isinstance(value, (set, frozenset)):
        kind = "frozenset" if isinstance(value, frozenset) else "set"
        return {"$": kind, "v": [encode(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {
            "$": "dict",
            "v": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()],
        }
    if isinstance(value, (bytes, bytearray)):
        return {"$": "bytes", "v": base64.b64encode(bytes(value)).decode("ascii")}
    raise WireError(f"a {type(value).__name__} is not plain data")


def decode(data, depth: int = 0):
    """JSON-parsed data to exact built-in values; anything unexpected raises WireError."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode(v, depth + 1) for v in data]
    if kind is not dict or set(data) != {"$", "v"}:
        raise WireError(f"not a plain value: {str(data)[:80]}")
    tag, body = data["$"], data["v"]
    try:
        if tag == "bytes" and type(body) is str:
            return base64.b64decode(body, validate=True)
        if type(body) is not list:
            raise WireError(f"malformed {tag}")
        if tag == "tuple":
            return tuple(decode(v, depth + 1) for v in body)
        if tag == "set":
            return {decode(v, depth + 1) for v in body}
        if tag == "frozenset":
            return frozenset(decode(v, depth + 1) for v in body)
        if tag == "dict":
            out = {}
            for pair in body:
                if type(pair) is not list or len(pair) != 2:
                    raise WireError("malformed dict")
                out[decode(pair[0], depth + 1)] = decode(pair[1], depth + 1)
            return out
        if tag == "complex" and len(body) == 2 and all(type(x) in (int, float) for x in body):
            return complex(body[0], body[1])
    except TypeError as exc:  # an unhashable member of a set or dict key
        raise WireError(str(exc)) from exc
    raise WireError(f"unknown tag {str(tag)[:40]}")


def dumps(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def loads(line: bytes) -> dict:
    """One message; anything but a JSON object is a WireError."""
    try:
        message = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"malformed message: {exc}") from exc
    if type(message) is not dict:
        raise WireError("malformed message: not an object")
    return message
