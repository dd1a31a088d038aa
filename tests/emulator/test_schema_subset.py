"""The emulator's SDL is a strict subset of Railway's real schema: same types, fields, arguments, enum values."""
from __future__ import annotations

import pytest
from graphql import (GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLObjectType,
                     GraphQLScalarType, GraphQLUnionType, build_schema)

from railway_emulator.resolvers import SCHEMA_PATH
from tests.conftest import SHARED_REF

pytestmark = pytest.mark.skipif(not SHARED_REF.exists(), reason="../shared/ref is not present")


def test_emulator_schema_is_a_subset_of_railways() -> None:
    real = build_schema((SHARED_REF / "railway-schema.graphql").read_text())
    ours = build_schema(SCHEMA_PATH.read_text())
    problems: list[str] = []
    for name, ours_type in ours.type_map.items():
        if name.startswith("__"):
            continue
        real_type = real.type_map.get(name)
        if real_type is None or type(real_type) is not type(ours_type):
            problems.append(f"type {name} is not in Railway's schema as a {type(ours_type).__name__}")
            continue
        if isinstance(ours_type, GraphQLEnumType):
            problems += [f"enum value {name}.{v}" for v in ours_type.values if v not in real_type.values]
        if isinstance(ours_type, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, field in ours_type.fields.items():
                real_field = real_type.fields.get(fname)
                if real_field is None or str(real_field.type) != str(field.type):
                    problems.append(f"field {name}.{fname}: {field.type}")
                    continue
                for aname, arg in getattr(field, "args", {}).items():
                    real_arg = real_field.args.get(aname)
                    if real_arg is None or str(real_arg.type) != str(arg.type):
                        problems.append(f"argument {name}.{fname}({aname}: {arg.type})")
        if isinstance(ours_type, GraphQLUnionType):
            problems += [f"union member {name}.{t.name}" for t in ours_type.types
                         if t.name not in {x.name for x in real_type.types}]
        assert not isinstance(ours_type, GraphQLScalarType) or real_type is not None
    assert not problems, "\n".join(problems)
    assert len(ours.query_type.fields) >= 20 and len(ours.mutation_type.fields) >= 40
