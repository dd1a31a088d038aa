"""A small Railway GraphQL client: named operations, retries, a shared rate cap, typed errors.

The client (httpx, graphql-core, tenacity: 0.3 s of imports) loads on first use of one of its names, not with
the package: the Pulumi program imports `infra.railway.facts` and the errors on every preview and update and
never calls Railway itself (its dynamic providers do, in their own process)."""
from typing import TYPE_CHECKING, Any

from infra.railway.errors import (AmbiguousWriteError, ApiUnavailableError, NotAuthorizedError, NotFoundError,
                                  RailwayApiError, RateLimitedError, ValidationError)

if TYPE_CHECKING:
    from infra.railway.client import RailwayClient, client_from_env

__all__ = ["RailwayClient", "client_from_env", "RailwayApiError", "NotAuthorizedError", "NotFoundError",
           "RateLimitedError", "ValidationError", "ApiUnavailableError", "AmbiguousWriteError"]


def __getattr__(name: str) -> Any:
    if name in ("RailwayClient", "client_from_env"):
        from infra.railway import client
        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
