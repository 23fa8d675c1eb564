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
    # As base32 of the 18 bytes would write them: 29 characters, the first 9 and 3 bits
    # the time's; then 96 random bits (2 + 18 * 5 + 4; the last character's lowest bit
    # is 0), each character made from one random byte by a table, for all at once.
    head = base64.b32encode(stamp.to_bytes(6, "big")).decode()[:9].lower()
    pool = secrets.token_bytes(20 * count)
    text = pool.translate(_FIVE_BITS).decode()
    joined = pool[0::20].translate(_TIME_AND_TWO_BITS[stamp & 7]).decode()
    last = pool[19::20].translate(_LAST_FOUR_BITS).decode()
    return [
        f"{prefix}-{head}{joined[n]}{text[20 * n + 1 : 20 * n + 19]}{last[n]}" for n in range(count)
    ]


_ALPHABET = b"abcdefghijklmnopqrstuvwxyz234567"
# Random byte to character: its low 5 bits; with the time's low 3 bits and 2 random ones;
# 4 random bits and a 0 bit.
_FIVE_BITS = bytes(_ALPHABET[byte & 31] for byte in range(256))
_TIME_AND_TWO_BITS = [
    bytes(_ALPHABET[low << 2 | byte & 3] for byte in range(256)) for low in range(8)
]
_LAST_FOUR_BITS = bytes(_ALPHABET[(byte & 15) << 1] for byte in range(256))


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
