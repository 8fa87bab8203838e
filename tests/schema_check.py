"""A small JSON-schema checker, independent of zshbench's own record checks.

It reads the keywords ``zshbench schema record`` uses (type, const, properties, required,
additionalProperties, items, anyOf, $ref into $defs, minimum, minLength), as a tool outside
Python would, so a test can hold a real record file against the printed schema. Where the
``jsonschema`` package is installed, :func:`schema_errors` asks it too.
"""

from __future__ import annotations

from typing import Any

JSON_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def violations(value: Any, schema: dict[str, Any], root: dict[str, Any], at: str = "") -> list:
    """Where ``value`` breaks ``schema`` (``root`` holds the $defs), as 'path: why' lines."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return violations(value, root["$defs"][name], root, at)
    if "anyOf" in schema:
        if any(not violations(value, option, root, at) for option in schema["anyOf"]):
            return []
        return [f"{at}: matches none of anyOf"]
    if "const" in schema and value != schema["const"]:
        return [f"{at}: {value!r} is not {schema['const']!r}"]
    kind = schema.get("type")
    if kind is not None and not JSON_TYPES[kind](value):
        return [f"{at}: {value!r} is not of type {kind}"]
    found = []
    if "minimum" in schema and value < schema["minimum"]:
        found.append(f"{at}: {value} < {schema['minimum']}")
    if "minLength" in schema and len(value) < schema["minLength"]:
        found.append(f"{at}: shorter than {schema['minLength']}")
    if kind == "array" and "items" in schema:
        for i, item in enumerate(value):
            found += violations(item, schema["items"], root, f"{at}[{i}]")
    if kind == "object":
        found += _object_violations(value, schema, root, at)
    return found


def _object_violations(value: dict, schema: dict, root: dict, at: str) -> list:
    found = [f"{at}: '{key}' is required" for key in schema.get("required", ()) if key not in value]
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            found += violations(item, properties[key], root, f"{at}.{key}")
        elif extra is False:
            found.append(f"{at}: '{key}' is not allowed")
        elif isinstance(extra, dict):
            found += violations(item, extra, root, f"{at}.{key}")
    return found


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    """The checker's findings, plus jsonschema's (Draft 2020-12) where it is installed."""
    found = violations(value, schema, schema)
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - not a dependency of zshbench
        return found
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    return found + [f"jsonschema: {error.message}" for error in validator.iter_errors(value)]
