"""Invalid variable values over HTTP: GraphQL's coercion errors in the words of Railway's server (graphql-js),
for the standard scalars and for Railway's custom ones."""
from __future__ import annotations

from typing import Any

import pytest

from railway_emulator.server import DEFAULT_TOKEN
from tests.conftest import Emulator

UPSERT = ("mutation($v:EnvironmentVariables!){ variableCollectionUpsert(input:{projectId:\"p\", environmentId:\"e\", "
          "variables:$v}) }")
PATCH = "mutation($c:EnvironmentConfig){ environmentPatchCommit(environmentId:\"e\", patch:$c) }"
PROJECT = "query($id:String!){ project(id:$id){ id } }"


def errors(emulator: Emulator, query: str, variables: dict[str, Any]) -> list[str]:
    resp = emulator.http.post(emulator.url, json={"query": query, "variables": variables},
                              headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"})
    assert resp.status_code == 200 and resp.json()["data"] is None, resp.text
    return [e["message"] for e in resp.json()["errors"]]


@pytest.mark.parametrize("value, literal", [(None, None), (True, "true"), ("x", None), ({"a": [1, None, "x"]},
                                                                                       '{ a: [1, null, "x"] }')])
def test_coercion_errors_print_graphql_literals(emulator: Emulator, value: Any, literal: str | None) -> None:
    """A value that does not coerce is printed as a GraphQL/JSON literal (null, true, "x", { a: [1, null] }),
    names in double quotes, as graphql-js prints them; never Python's None, True or 'x'."""
    query = "query($n:Int){ project(id:\"x\"){ id environments(first:$n){ edges { node { id } } } } }" \
        if value == "x" else PROJECT
    name = "n" if value == "x" else "id"
    [message] = errors(emulator, query, {name: value})
    if value is None:
        assert message == 'Variable "$id" of non-null type "String!" must not be null.'
    elif value == "x":
        assert message == 'Variable "$n" got invalid value "x"; Int cannot represent non-integer value: "x"'
    else:
        assert message == (f'Variable "$id" got invalid value {literal}; String cannot represent a non string '
                           f"value: {literal}")
    assert not any(python in message for python in ("None", "True", "'"))


@pytest.mark.parametrize("query, variables, scalar", [
    (UPSERT, {"v": "x"}, "EnvironmentVariables"),
    (UPSERT, {"v": {"A": 5}}, "EnvironmentVariables"),
    (PATCH, {"c": [1]}, "EnvironmentConfig"),
])
def test_an_invalid_custom_scalar_is_a_validation_error(emulator: Emulator, query: str, variables: dict[str, Any],
                                                        scalar: str) -> None:
    """A value of the wrong shape for one of Railway's custom scalars is refused by coercion, naming the scalar,
    before any operation runs: not "Problem processing request" nor an operation's own error."""
    [message] = errors(emulator, query, variables)
    assert message.startswith(f'Variable "${next(iter(variables))}" got invalid value ') and \
        f'Expected type "{scalar}".' in message, message


def test_a_missing_input_field_is_named_in_double_quotes(emulator: Emulator) -> None:
    messages = errors(emulator, "mutation($i:ServiceCreateInput!){ serviceCreate(input:$i){ id } }", {"i": "x"})
    assert messages == ['Variable "$i" got invalid value "x"; Expected type "ServiceCreateInput" to be an object.']
