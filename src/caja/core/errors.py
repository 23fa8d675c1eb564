"""Domain errors. Each surface maps these to its own status codes and error body."""

from __future__ import annotations

__all__ = [
    "NO_VALUE",
    "AccountConflict",
    "AlreadyResolved",
    "AssetMismatch",
    "CajaError",
    "Contended",
    "DuplicateRequest",
    "Forbidden",
    "IdempotencyConflict",
    "InvalidInput",
    "NoFunds",
    "NotFound",
    "PayloadTooLarge",
    "SameAccount",
    "Unauthorized",
    "Unavailable",
]


class CajaError(Exception):
    """Base of every error a client can be told about."""

    code = "Error"
    message = "The request failed."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        super().__init__(self.message)


NO_VALUE = object()


class InvalidInput(CajaError):
    """A field is missing or malformed; ``value`` is the offending value when it is shown."""

    code = "InvalidData"

    def __init__(
        self, field: str, problem: str, *, code: str | None = None, value: object = NO_VALUE
    ) -> None:
        self.field = field
        self.problem = problem
        self.value = value
        super().__init__(f"{field}: {problem}" if field else problem, code=code)


class NotFound(CajaError):
    """The thing does not exist, or belongs to another client (answered alike)."""

    code = "NotFound"


class SameAccount(InvalidInput):
    """A transfer whose debit and credit accounts are one."""

    def __init__(self) -> None:
        super().__init__("", "The two accounts of a transfer must differ.")


class AssetMismatch(InvalidInput):
    """A transfer between accounts of different assets."""

    def __init__(self) -> None:
        super().__init__("", "The two accounts of a transfer hold different assets.")


class NoFunds(CajaError):
    code = "NoFunds"
    message = "Not enough funds in the account to debit."


class IdempotencyConflict(CajaError):
    """A key already used for a request with a different body."""

    code = "UniqueTransferTokenReused"
    message = "The idempotency key was already used for a different request."


class DuplicateRequest(CajaError):
    """A request key already used: by a request still in flight, or by a finished one."""

    code = "DuplicateRequest"

    def __init__(self, *, in_flight: bool) -> None:
        self.in_flight = in_flight
        super().__init__(
            "A request with this key is still being processed."
            if in_flight
            else "A request with this key was already answered."
        )


class AlreadyResolved(CajaError):
    """A pending transfer already posted or voided, or a transfer already reversed."""

    code = "AlreadyResolved"
    message = "The transfer was already resolved."


class AccountConflict(CajaError):
    """Account data clashes with an existing owner or phone number."""

    code = "AccountConflict"


class Unauthorized(CajaError):
    code = "Unauthorized"
    message = "Invalid authorization token was provided."


class Forbidden(CajaError):
    code = "Forbidden"
    message = (
        "You do not have enough permissions to perform this action, "
        "please contact the support team."
    )


class PayloadTooLarge(CajaError):
    code = "PayloadTooLarge"
    message = "The request body is too large."


class Unavailable(CajaError):
    """A temporary failure that changed nothing: the same request may be retried."""

    code = "TemporarilyUnavailable"
    message = "Temporary failure, nothing was changed; it is safe to retry the request."


class Contended(Unavailable):
    """A write that changed nothing because the rows it needed stayed locked or in
    conflict past the bound: the same request may be retried."""
