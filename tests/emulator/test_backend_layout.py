"""The emulator's layout holds: every root field of the SDL is answered by the backend operation named after it
(with parameters for all its arguments), and no backend module outgrows 400 lines."""
from __future__ import annotations

import inspect
from pathlib import Path

from graphql import GraphQLNonNull, build_schema

from railway_emulator.models import Backend
from railway_emulator.resolvers import PAGE_ARGS, SCHEMA_PATH, method_name, snake


def test_every_root_field_binds_to_its_backend_operation() -> None:
    schema = build_schema(SCHEMA_PATH.read_text())
    problems = []
    for root in (schema.query_type, schema.mutation_type):
        for name, field in root.fields.items():
            wanted = method_name(schema, root.name, name)
            method = getattr(Backend, wanted, None)
            if method is None:
                problems.append(f"{root.name}.{name}: no Backend.{wanted}")
                continue
            every = {snake(a): None for a in field.args if a not in PAGE_ARGS}
            required = {snake(a): None for a, arg in field.args.items() if isinstance(arg.type, GraphQLNonNull)}
            for args in (every, required):
                try:
                    inspect.signature(method).bind(None, None, **args)
                except TypeError as exc:
                    problems.append(f"{root.name}.{name} -> Backend.{wanted}: {exc}")
    assert not problems, "\n".join(problems)


def test_backend_modules_stay_small() -> None:
    root = Path(__file__).resolve().parents[2] / "railway_emulator"
    files = [*(root / "models").glob("*.py"), root / "resolvers.py"]
    sizes = {p.name: len(p.read_text().splitlines()) for p in files}
    assert len(sizes) >= 10 and max(sizes.values()) <= 400, sizes
