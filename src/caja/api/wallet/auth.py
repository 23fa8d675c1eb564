"""The wallet's log-in tokens: issued by ``POST /auth/login``, checked on every other
route by the :func:`caller` dependency.

A request without a valid token is refused with one of the errors below, which the
wallet's renderer answers as the API guide shows them: 401 in JSON, 498 and 403 in plain
text.

Hosts' clocks differ a little: a token issued by a host whose clock is ahead would be
"not yet valid" (``iat``, ``nbf``) on the others, and one expiring would end at
slightly different times. Each check allows ``CAJA_WALLET_TOKEN_LEEWAY_SECONDS``
(default 30) either way.
"""

from __future__ import annotations

import os
import time
from typing import Annotated

import jwt
from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from caja.api.deps import DatabaseDep, WalletSettingsDep, refuse_nul
from caja.config import WalletSettings
from caja.core.errors import CajaError
from caja.wallet import service as wallet
from caja.wallet.service import Profile

__all__ = [
    "HEADER",
    "PREFIX",
    "Caller",
    "TokenExpired",
    "TokenMissing",
    "TokenRefused",
    "caller",
    "issue_token",
]

PREFIX = "/api/wallet/v1"
DEFAULT_LEEWAY_SECONDS = 30
HEADER = "X-Authorization"

_token = APIKeyHeader(
    name=HEADER,
    scheme_name="WalletToken",
    description="The token of `POST /auth/login`, alone or after `Bearer `.",
    auto_error=False,
)


class TokenMissing(CajaError):
    code = "TokenMissing"
    message = "X-Authorization header is blank or missing"


class TokenExpired(CajaError):
    code = "TokenExpired"
    message = "Token has expired"


class TokenRefused(CajaError):
    """Any other bad token; the guide words it differently on ``GET /contact``."""

    code = "TokenRefused"
    message = "request requires user authentication"


def token_leeway() -> int:
    """Seconds a token's times may be off: ``CAJA_WALLET_TOKEN_LEEWAY_SECONDS``."""
    raw = os.environ.get("CAJA_WALLET_TOKEN_LEEWAY_SECONDS", "")
    if not raw:
        return DEFAULT_LEEWAY_SECONDS
    if not raw.isdigit():
        raise ValueError("CAJA_WALLET_TOKEN_LEEWAY_SECONDS must be a whole number of seconds")
    return int(raw)


def issue_token(settings: WalletSettings, profile: Profile) -> str:
    now = int(time.time())
    claims = {"sub": profile.profile_id, "iat": now, "exp": now + settings.token_seconds}
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def _bare_token(header: str | None) -> str:
    """The token of the header: alone, or after ``Bearer``."""
    token = (header or "").strip()
    scheme, _, rest = token.partition(" ")
    if scheme.lower() == "bearer":
        token = rest.strip()
    return token


async def caller(
    request: Request,
    database: DatabaseDep,
    settings: WalletSettingsDep,
    header: Annotated[str | None, Security(_token)],
) -> Profile:
    """The profile of the request's token: 401 without one, 498 expired, 403 otherwise."""
    token = _bare_token(header)
    if not token:
        raise TokenMissing()
    refused = TokenRefused()
    if request.url.path.endswith(f"{PREFIX}/contact"):
        refused = TokenRefused("find request requires user authentication")
    try:
        claims = jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"]},
            leeway=token_leeway(),
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired() from None
    except jwt.InvalidTokenError:
        raise refused from None
    found = await wallet.profile(database, str(claims["sub"]))
    if found is None:
        raise refused
    refuse_nul(request)
    return found


Caller = Annotated[Profile, Depends(caller)]
