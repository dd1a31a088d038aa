"""GraphQL execution for the emulator's `POST /graphql/v2`: request checks, parsing with bounds, validation
(cached per query text), execution under the backend's lock, and Railway's error shape. No HTTP here."""
from __future__ import annotations

from typing import Any

from graphql import (FieldNode, GraphQLError, GraphQLSchema, InlineFragmentNode, OperationDefinitionNode,
                     OperationType, execute, parse, validate)

from railway_emulator import models as m
from railway_emulator.coercion import variable_errors
from railway_emulator.errors import RailwayError

# Request bounds. Railway documents none of them; these are the emulator's own assumptions, far above what any
# client operation needs (the largest the product sends is ~260 tokens, depth 7).
MAX_QUERY_TOKENS = 5000
MAX_QUERY_DEPTH = 15


class BadRequest(Exception):
    """A request the emulator refuses before running it: answered with `status` and Railway's error shape."""

    def __init__(self, message: str, status: int = 400, unread: bool = False) -> None:
        super().__init__(message)
        self.message, self.status, self.unread = message, status, unread


def check_body(body: Any) -> dict[str, Any]:
    """A GraphQL request is one JSON object with a string `query` and optional object `variables`."""
    if isinstance(body, list):
        raise BadRequest("Batched requests are not supported: send one operation per request")
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object with a query")
    if not isinstance(body.get("query"), str):
        raise BadRequest("query must be a string")
    if body.get("variables") is not None and not isinstance(body["variables"], dict):
        raise BadRequest("variables must be a JSON object")
    if body.get("operationName") is not None and not isinstance(body["operationName"], str):
        raise BadRequest("operationName must be a string")
    return body


def _depth(node: Any) -> int:
    selections = getattr(getattr(node, "selection_set", None), "selections", None) or []
    deeper = max((_depth(s) for s in selections), default=0)
    return deeper + (1 if isinstance(node, FieldNode) else 0) if not isinstance(node, InlineFragmentNode) else deeper


class Executor:
    """Runs GraphQL requests against one backend with one schema."""

    def __init__(self, schema: GraphQLSchema, backend: m.Backend) -> None:
        self.schema, self.backend = schema, backend
        self._documents: dict[str, tuple[Any, list[dict[str, Any]]]] = {}

    def _document(self, query: str) -> tuple[Any, list[dict[str, Any]]]:
        """Parsed and validated documents, cached: clients send the same few operations over and over."""
        cached = self._documents.get(query)
        if cached is None:
            try:
                document = parse(query, max_tokens=MAX_QUERY_TOKENS)
                if max(_depth(d) for d in document.definitions) > MAX_QUERY_DEPTH:
                    raise BadRequest(f"Query is too complex: nested deeper than {MAX_QUERY_DEPTH} fields")
                cached = (document, [e.formatted for e in validate(self.schema, document)])
            except GraphQLError as exc:
                if "more than" in exc.message and "tokens" in exc.message:
                    raise BadRequest(f"Query is too complex: more than {MAX_QUERY_TOKENS} tokens") from None
                cached = (None, [{"message": exc.message}])
            if len(self._documents) < 2048:
                self._documents[query] = cached
        return cached

    def run(self, body: dict[str, Any], token: m.Token) -> tuple[dict[str, Any], bool]:
        """Executes one request; returns (response body, whether it was a mutation)."""
        document, errors = self._document(body.get("query") or "")
        if errors:
            return {"errors": errors, "data": None}, False
        mutation = _is_mutation(document, body.get("operationName"))
        errors = variable_errors(self.schema, document, body.get("operationName"), body.get("variables") or {})
        if errors:
            return {"errors": errors, "data": None}, mutation
        with self.backend.lock:
            result = execute(self.schema, document, variable_values=body.get("variables") or {},
                             operation_name=body.get("operationName"),
                             context_value={"backend": self.backend, "token": token})
            if mutation and not result.errors:
                self.backend.save()
        if result.errors:
            # Railway answers an error with `data: null` and the message it raised.
            messages = [{"message": _message(e), **({"path": e.path} if e.path else {})} for e in result.errors]
            return {"errors": messages, "data": None}, mutation
        return {"data": result.data}, mutation


def _message(error: GraphQLError) -> str:
    original = error.original_error
    if isinstance(original, RailwayError):
        return original.message
    if original is not None and not isinstance(original, GraphQLError):  # a fault of ours, not of the request
        return "Problem processing request"
    return error.message  # GraphQL's own, e.g. a variable that cannot be coerced to its declared type


def _is_mutation(document: Any, operation_name: str | None) -> bool:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    op = next((o for o in ops if o.name and o.name.value == operation_name), ops[0] if ops else None)
    return bool(op and op.operation == OperationType.MUTATION)


def operation_label(body: dict[str, Any]) -> str:
    """The operation name, or the first root field when the request has none."""
    if body.get("operationName"):
        return body["operationName"]
    try:
        doc = parse(body.get("query") or "", max_tokens=MAX_QUERY_TOKENS)
        op = next(d for d in doc.definitions if isinstance(d, OperationDefinitionNode))
        return op.name.value if op.name else op.selection_set.selections[0].name.value  # type: ignore[attr-defined]
    except Exception:
        return "<invalid>"
