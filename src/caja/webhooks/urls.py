"""Which URLs may receive webhooks: http or https, and, unless the deployment allows
private networks (``CAJA_WEBHOOKS_ALLOW_PRIVATE=1``), never an address of a loopback,
private, link-local, shared, multicast or reserved network, so that webhooks cannot be
used to reach the deployment's own network."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from caja.core.errors import InvalidInput

__all__ = ["MAX_URL", "check_url", "public_address"]

MAX_URL = 2048


def check_url(url: object, *, allow_private: bool) -> str:
    """``url`` if it may receive webhooks; raises :class:`InvalidInput` (field ``url``)."""
    if not isinstance(url, str) or not url:
        raise InvalidInput("url", "A URL is required.", code="InvalidUrl")
    if len(url) > MAX_URL:
        raise InvalidInput("url", f"A URL has at most {MAX_URL} characters.", code="InvalidUrl")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a bad port raises here)
    except ValueError:
        raise InvalidInput("url", "The URL is malformed.", code="InvalidUrl") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("url", "Only http and https URLs receive webhooks.", code="InvalidUrl")
    if not parts.hostname or parts.username or parts.password:
        raise InvalidInput(
            "url", "The URL needs a host and no user or password.", code="InvalidUrl"
        )
    if not allow_private and not public_address(parts.hostname, parts.port):
        raise InvalidInput(
            "url",
            "The URL's host is a loopback or private address, or does not resolve.",
            code="PrivateUrl",
        )
    return url


def public_address(host: str, port: int | None) -> bool:
    """Whether every address ``host`` resolves to is public (none resolves: not public)."""
    try:
        found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]) for info in found}
    return bool(addresses) and all(_public(address) for address in addresses)


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast
