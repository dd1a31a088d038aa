"""Variable coercion the way Railway's GraphQL server words it, and the value checks of the custom scalars.

Railway's server is graphql-js: its coercion errors print values as GraphQL/JSON literals (`null`, `true`, `"x"`,
`{ a: [1, null] }`) and names in double quotes. graphql-core prints Python's (`None`, `True`, `'x'`), so the
emulator coerces the variables itself, before executing, with graphql-core's own coercion and graphql-js's
wording. The custom scalars check their values here too: a value of the wrong shape is a GraphQL error naming
the scalar, not a failure inside an operation ("Problem processing request").
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, Callable

from graphql import (DocumentNode, GraphQLError, GraphQLSchema, coerce_input_value, get_operation_ast,
                     is_input_type, is_non_null_type, type_from_ast)
from graphql.pyutils import inspect as py_inspect, print_path_list

_QUOTED = re.compile(r"'([^']*)'")


def js_inspect(value: Any) -> str:
    """A value as graphql-js's `inspect` prints it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(int(value) if isinstance(value, float) and value.is_integer() else value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(js_inspect(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k}: {js_inspect(v)}" for k, v in value.items()) + " }" if value else "{}"
    return json.dumps(str(value))


def _js_reason(message: str, invalid: Any) -> str:
    """graphql-core's reason in graphql-js's words: the value's literal, names in double quotes."""
    parts = message.split(py_inspect(invalid))
    parts = [_QUOTED.sub(r'"\1"', p).replace(" to be a dict.", " to be an object.").replace(" to be a mapping.", " to be an object.") for p in parts]
    return js_inspect(invalid).join(parts)


def variable_errors(schema: GraphQLSchema, document: DocumentNode, operation_name: str | None,
                    inputs: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's variable coercion errors, worded as Railway's server words them ([] when they coerce)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return []  # execution reports a missing or ambiguous operation
    errors: list[str] = []
    for var_def in operation.variable_definitions or ():
        name, var_type = var_def.variable.name.value, type_from_ast(schema, var_def.type)
        if var_type is None or not is_input_type(var_type):
            continue  # validation has reported it
        if name not in inputs:
            if var_def.default_value is None and is_non_null_type(var_type):
                errors.append(f'Variable "${name}" of required type "{var_type}" was not provided.')
            continue
        if inputs[name] is None and is_non_null_type(var_type):
            errors.append(f'Variable "${name}" of non-null type "{var_type}" must not be null.')
            continue

        def on_error(path: list[Any], invalid: Any, error: GraphQLError, name: str = name) -> None:
            at = f' at "{name}{print_path_list(path)}"' if path else ""
            errors.append(f'Variable "${name}" got invalid value {js_inspect(invalid)}{at}; '
                          f"{_js_reason(error.message, invalid)}")

        coerce_input_value(inputs[name], var_type, on_error)  # type: ignore[arg-type]
    return [{"message": message} for message in errors]


# ---- custom scalars ----------------------------------------------------------------------------------------
# Railway's schema declares them without a format. The shapes are the emulator's assumptions, from what the
# operations carry (ledger: COVERAGE.md): a JSON object for the config-like scalars, names to string values for
# EnvironmentVariables, an ISO-8601 string for DateTime, an integer (or its decimal string) for BigInt.
def _object(name: str) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if not isinstance(value, dict):
            raise TypeError(f"{name} must be an object")
        return value
    return parse


def _variables(value: Any) -> Any:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise TypeError("EnvironmentVariables must be an object of variable names to string values")
    return value


def _datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
            return value
        except ValueError:
            pass
    raise TypeError("DateTime must be an ISO-8601 date-time string")


def _bigint(value: Any) -> Any:
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and
                                                                 value.lstrip("-").isdigit())):
        raise TypeError("BigInt must be an integer")
    return int(value)


PARSERS: dict[str, Callable[[Any], Any]] = {
    "EnvironmentVariables": _variables, "DateTime": _datetime, "BigInt": _bigint,
    **{name: _object(name) for name in ("EnvironmentConfig", "ServiceInstanceLimit", "DeploymentMeta",
                                        "NotificationChannelConfig", "SerializedTemplateConfig")},
}


def bind_scalars(schema: GraphQLSchema) -> None:
    """Gives the schema's custom scalars their value checks (literals go through the same check)."""
    for name, parse in PARSERS.items():
        if name in schema.type_map:
            schema.type_map[name].parse_value = parse  # type: ignore[attr-defined]
