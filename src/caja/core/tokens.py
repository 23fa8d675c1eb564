"""Public identifiers, API keys and request digests."""

from __future__ import annotations

import base64
import hashlib
import secrets

__all__ = ["digest_key", "new_api_key", "new_token", "request_digest"]


def new_token(prefix: str) -> str:
    """A random public identifier such as ``acc-sen2h7an42w2smdtpqhpscr6bwlh`` (144 bits)."""
    random_part = base64.b32encode(secrets.token_bytes(18)).decode().rstrip("=").lower()
    return f"{prefix}-{random_part}"


def new_api_key(prefix: str) -> str:
    """32 random bytes, URL-safe: shown once, stored only as its digest."""
    return f"{prefix}-{secrets.token_urlsafe(32)}"


def digest_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def request_digest(*parts: object) -> str:
    """A digest of a request's meaningful fields, to tell a replay from a different request."""
    text = "\x1f".join(repr(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()
