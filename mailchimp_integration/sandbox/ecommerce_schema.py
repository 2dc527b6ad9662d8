"""The spec as the e-commerce endpoints use it: request bodies checked against, and responses
cut to, the schemas of `OPENAPI_SPEC` for each operation.

`check` enforces what the schema states (type, required, enum, maxLength, minItems,
date-time) with the field named as Mailchimp names it ("lines.item:0.product_id"); readOnly
and unknown keys are dropped, so the account stores only what the spec lets a client set.
"""
from __future__ import annotations

import json
from functools import cache

from . import OPENAPI_SPEC, validation
from .api import ApiRequest, ApiResponse
from .errors import schema_error


@cache
def _spec() -> dict:
    with open(OPENAPI_SPEC) as handle:
        return json.load(handle)


def _resolve(schema: dict) -> dict:
    while True:
        if "$ref" in schema:
            schema = _spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1:
            schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
        else:
            return schema


def _operation_schema(spec_path: str, method: str, *, response: bool) -> dict:
    operation = _spec()["paths"][spec_path][method.lower()]
    if response:
        content = operation["responses"]["200"]["content"]
    else:
        content = operation["requestBody"]["content"]
    return _resolve(content["application/json"]["schema"])


def join(field: str, name: str) -> str:
    return f"{field}.{name}" if field else name


def check(value, schema: dict, field: str = ""):
    """`value` as the request schema allows it (readOnly and unknown keys dropped), else
    Mailchimp's 400 naming the field."""
    schema = _resolve(schema)
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    if kind == "object":
        validation.expect(value, "object", field)
        for name in schema.get("required", []):
            if name not in value:
                raise schema_error(join(field, name), f"Required property '{name}' was not "
                                   "present.")
        return {name: check(value[name], sub, join(field, name))
                for name, sub in schema.get("properties", {}).items()
                if name in value and not _resolve(sub).get("readOnly")}
    if kind == "array":
        validation.expect(value, "array", field)
        if len(value) < schema.get("minItems", 0):
            raise schema_error(field, f"This collection should contain {schema['minItems']} "
                               "element or more.")
        return [check(item, schema.get("items", {}), f"{field}.item:{n}")
                for n, item in enumerate(value)]
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise schema_error(field, f"Schema describes integer, {validation.json_type(value)} "
                               "found instead")
        return value
    if kind in {"string", "number", "boolean"}:
        validation.expect(value, kind, field)
    if "enum" in schema:
        validation.expect_enum(value, tuple(schema["enum"]), field)
    if kind == "string":
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise schema_error(field, f"This value is too long. It should have "
                               f"{schema['maxLength']} characters or less.")
        if schema.get("format") == "date-time":
            return validation.timestamp(value, field)
    return value


def shape(value, schema: dict):
    """`value` cut to the response schema's properties; empty date-times left out."""
    schema = _resolve(schema)
    if isinstance(value, list):
        return [shape(item, schema.get("items", {})) for item in value]
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    shaped = {}
    for name, sub in schema["properties"].items():
        if name not in value:
            continue
        if value[name] == "" and _resolve(sub).get("format") == "date-time":
            continue
        shaped[name] = shape(value[name], sub)
    return shaped


def checked_body(request: ApiRequest, spec_path: str) -> dict:
    body = validation.body_object(request.body)
    return check(body, _operation_schema(spec_path, request.method, response=False))


def respond(request: ApiRequest, spec_path: str, body: dict) -> ApiResponse:
    return ApiResponse(200, shape(body, _operation_schema(spec_path, request.method,
                                                          response=True)))
