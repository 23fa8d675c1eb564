"""Public identifiers, API keys and request digests."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

__all__ = ["digest_key", "new_api_key", "new_token", "new_tokens", "request_digest"]


_TOKEN_BYTES = 18


def new_token(prefix: str) -> str:
    """A random public identifier such as ``acc-sen2h7an42w2smdtpqhpscr6bwlh`` (144 bits)."""
    return _token(prefix, secrets.token_bytes(_TOKEN_BYTES))


def new_tokens(prefix: str, count: int) -> list[str]:
    """``count`` identifiers for rows written in bulk: the time in milliseconds (48 bits),
    then 96 random bits from one read of the OS's random source.

    Tokens made later sort later, so a unique index on them grows at its end instead of
    touching a random page for every row; the time they show is no secret (the rows carry
    it), and 96 random bits keep them unguessable.
    """
    stamp = time.time_ns() // 1_000_000 % 2**48
    random_part = _TOKEN_BYTES - 6
    pool = secrets.token_bytes(random_part * count)
    head = stamp.to_bytes(6, "big")
    return [
        _token(prefix, head + pool[start : start + random_part])
        for start in range(0, len(pool), random_part)
    ]


def _token(prefix: str, random_bytes: bytes) -> str:
    return f"{prefix}-{base64.b32encode(random_bytes).decode().rstrip('=').lower()}"


def new_api_key(prefix: str) -> str:
    """32 random bytes, URL-safe: shown once, stored only as its digest."""
    return f"{prefix}-{secrets.token_urlsafe(32)}"


def digest_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def request_digest(*parts: object) -> str:
    """A digest of a request's meaningful fields, to tell a replay from a different request."""
    text = "\x1f".join(repr(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()
