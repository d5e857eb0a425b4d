"""The one place the error tree becomes HTTP statuses (see ``rlmx.errors``)."""

from __future__ import annotations

from ..errors import BudgetError, CapacityError, ConfigError, ContextError, RlmxError
from ..lm.choice import ModelNotAllowed

CLIENT_ERRORS = (RlmxError, ValueError)  # what a request handler turns into a status


def http_status(exc: BaseException) -> int:
    """404 for a model the server does not offer, 400 for a request that cannot work,
    402 for a spent budget, 429 for a full capacity, 500 for anything else."""
    if isinstance(exc, ModelNotAllowed):
        return 404
    if isinstance(exc, CapacityError):
        return 429
    if isinstance(exc, ConfigError | ContextError | ValueError):
        return 400
    if isinstance(exc, BudgetError):
        return 402
    return 500


RETRY_AFTER_SECONDS = 5  # told to a client refused for capacity (429)


def http_headers(exc: BaseException) -> dict[str, str] | None:
    """Headers of the status: ``Retry-After`` for a full capacity."""
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if isinstance(exc, CapacityError) else None
