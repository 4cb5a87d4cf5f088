"""Client-side rate limits and the project's spending cap, shared by all requests of a job.

The rate limiter spaces request starts to honour requests-per-minute and tokens-per-minute,
and a 429 from the server puts every request on hold until its Retry-After has passed, not
just the one that got it (otherwise the others keep hammering a limited server).
The budget reserves each request's worst-case cost before it is sent, so concurrent
requests can never together push spending past the cap. When what is left cannot cover one
more worst case, the answer is "wait" while money is held by requests in flight (they
settle at their real, smaller cost), and "exhausted" only when the spending already paid
leaves no room: a job then runs fewer requests at once, and stops only at the real end.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class RateLimiter:
    def __init__(self, requests_per_minute: int = 0, tokens_per_minute: int = 0) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self._lock = asyncio.Lock()
        self._next_request_at = 0.0
        self._tokens = float(tokens_per_minute)
        self._tokens_at = time.monotonic()
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request for `seconds` (a 429's Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, estimated_tokens: int = 0) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                wait = self._paused_until - now
                if self.rpm:
                    wait = max(wait, self._next_request_at - now)
                if self.tpm and estimated_tokens:
                    self._tokens = min(
                        self.tpm, self._tokens + (now - self._tokens_at) * self.tpm / 60.0
                    )
                    self._tokens_at = now
                    need = min(estimated_tokens, self.tpm)
                    if self._tokens < need:
                        wait = max(wait, (need - self._tokens) * 60.0 / self.tpm)
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            if self.rpm:
                self._next_request_at = max(now, self._next_request_at) + 60.0 / self.rpm
            if self.tpm and estimated_tokens:
                self._tokens -= min(estimated_tokens, self.tpm)

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token bucket once the real usage is known."""
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + estimated_tokens - actual_tokens)


@dataclass(frozen=True)
class Pricing:
    """USD per token; zero when neither config nor litellm's price map knows the model."""

    input_per_token: float = 0.0
    output_per_token: float = 0.0
    known: bool = False

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return tokens_in * self.input_per_token + tokens_out * self.output_per_token


class Grants(Protocol):
    """Where a job's budget draws money from when several jobs share the cap (the store)."""

    def grant(self, need: float, want: float) -> float: ...
    def give_back(self, amount: float) -> None: ...
    def spent(self) -> float: ...
    def recorded(self) -> float: ...


class Reservation(StrEnum):
    GRANTED = "granted"
    WAIT = "wait"  # the money is held by requests in flight, here or in other jobs
    EXHAUSTED = "exhausted"  # spending already paid leaves no room for this request


# A job asks the shared ledger for this share of the cap at a time (or what one request
# needs, if more): few store transactions, and little left idle in one job's hands.
GRANT_SHARE = 0.02


class Budget:
    """The project's API spending cap (0 = none), shared by every request of a job.

    Alone (no `grants`), it starts from `spent_usd` and keeps the cap by itself. With
    `grants`, `spent` is this budget's own spending, and it reserves only out of money the
    shared ledger granted it, so jobs running at once cannot together pass the cap.
    """

    def __init__(
        self, cap_usd: float, spent_usd: float = 0.0, grants: Grants | None = None
    ) -> None:
        self.cap = cap_usd
        self.spent = spent_usd
        self.reserved = 0.0
        # requests holding a reservation: a count, since the float sum of reservations
        # settled in another order need not come back to exactly 0.0
        self.in_flight = 0
        self.grants = grants
        self.granted = 0.0

    def try_reserve(self, amount: float) -> bool:
        return self.reserve(amount) is Reservation.GRANTED

    def reserve(self, amount: float) -> Reservation:
        """Reserve `amount` (a request's worst case) if the cap allows it now."""
        if self.cap <= 0:
            return Reservation.GRANTED
        if self.grants is None:
            if self.spent + self.reserved + amount > self.cap:
                if self.in_flight:
                    return Reservation.WAIT
                return Reservation.EXHAUSTED
        else:
            headroom = self.granted - self.spent - self.reserved
            if amount > headroom:
                need = amount - headroom
                got = self.grants.grant(need, max(need, self.cap * GRANT_SHARE))
                if got < need:
                    if self.in_flight:
                        return Reservation.WAIT
                    # Nothing of ours in flight: hand our idle headroom back (another job
                    # may be waiting on it), then wait only if paid spending leaves room.
                    self.close()
                    if self.grants.recorded() + amount > self.cap + 1e-12:
                        return Reservation.EXHAUSTED
                    return Reservation.WAIT
                self.granted += got
        self.reserved += amount
        self.in_flight += 1
        return Reservation.GRANTED

    def settle(self, reserved: float, actual: float) -> None:
        if self.cap > 0:
            self.in_flight = max(0, self.in_flight - 1)
            self.reserved = max(0.0, self.reserved - reserved) if self.in_flight else 0.0
        self.spent += actual

    def project_spent(self) -> float:
        """What the whole project has spent or promised, for messages."""
        return self.grants.spent() if self.grants is not None else self.spent

    def close(self) -> None:
        """Hand the unused part of this budget's grants back to the other jobs."""
        if self.grants is not None and self.cap > 0:
            unused = self.granted - self.spent - self.reserved
            if unused > 0:
                self.grants.give_back(unused)
                self.granted -= unused
