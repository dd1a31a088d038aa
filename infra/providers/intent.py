"""When a create was meant, and which objects it can have made: how `recover` tells what a killed run of the
stack made from what someone made by hand afterwards (adversarial issue 14, B2 and B9).

A create records the time it was meant (its `check` stamps its inputs; the engine saves them in the pending
operation before the call) and is never sent later than SEND_WINDOW after that (`RailwayClient.mutate`'s
`not_after`, which stops its retries and rate-limit waits too). So an object the create made has a `createdAt` in
`window(intent)`: from the intent (less the clock skew) to the deadline plus one request's longest answer (the
client's connect and read timeouts) plus the skew. Anything made outside it is someone else's.

Assumptions (Railway documents neither): Railway's clock and this machine's differ by at most SKEW, and Railway
stamps `createdAt` while it answers the request (within the client's timeouts of receiving it).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

SKEW = timedelta(seconds=30)
SEND_WINDOW = timedelta(seconds=60)  # check to the create's last send: one engine step, paced and retried


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


def parse(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def stamp(key: str, olds: dict[str, Any], inputs: dict[str, Any]) -> None:
    """In `check`: a create gets the time it is meant; an existing object keeps the one it was made with (none
    is invented for an object made before the record existed)."""
    if not olds:
        inputs[key] = now()
    elif olds.get(key):
        inputs[key] = olds[key]


def deadline(intent: str | None) -> float | None:
    """The epoch second after which the create of this intent is not sent (None: no intent recorded)."""
    return (parse(intent) + SEND_WINDOW).timestamp() if intent else None


def window(intent: str, longest_answer: float, skew: timedelta = SKEW) -> tuple[datetime, datetime]:
    at = parse(intent)
    return at - skew, at + SEND_WINDOW + timedelta(seconds=longest_answer) + skew


def not_made_by(intent: str, created_at: str, longest_answer: float, skew: timedelta = SKEW) -> str | None:
    """Why an object created at `created_at` is not what the create meant at `intent` made; None when it can be.
    `skew`: how far `intent` may be from Railway's clock (none when it is a `createdAt` too, only the time its
    answer took)."""
    low, high = window(intent, longest_answer, skew)
    if low <= parse(created_at) <= high:
        return None
    return (f"created at {created_at}, outside the window of the create recorded at {intent} "
            f"({low.isoformat(timespec='seconds')} to {high.isoformat(timespec='seconds')})")
