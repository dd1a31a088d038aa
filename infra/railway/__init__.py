"""A small Railway GraphQL client: named operations, retries, a shared rate cap, typed errors."""
from infra.railway.client import RailwayClient, client_from_env
from infra.railway.errors import (AmbiguousWriteError, ApiUnavailableError, NotAuthorizedError, NotFoundError,
                                  RailwayApiError, RateLimitedError, ValidationError)

__all__ = ["RailwayClient", "client_from_env", "RailwayApiError", "NotAuthorizedError", "NotFoundError",
           "RateLimitedError", "ValidationError", "ApiUnavailableError", "AmbiguousWriteError"]
