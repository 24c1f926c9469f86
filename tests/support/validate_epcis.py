#!/usr/bin/env python3
"""Validates an EPCIS 2.0 JSON document (stdin) against the official EPCIS JSON schema.

Usage: validate_epcis.py SCHEMA_DIR < document.json ; exit 0 valid, 1 invalid (errors printed).
Needs the `jsonschema` package (4.18 or later, for `referencing`).
"""
import json
import pathlib
import sys

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

schema_dir = pathlib.Path(sys.argv[1])
resources = []
for path in schema_dir.rglob("*.json"):
    if "test" in path.parts:
        continue
    schema = json.loads(path.read_text())
    if "$id" in schema:
        resources.append((schema["$id"], Resource.from_contents(schema, default_specification=DRAFT7)))
registry = Registry().with_resources(resources)
root = json.loads((schema_dir / "EPCIS-Document-JSON-Schema.json").read_text())
validator = Draft7Validator(root, registry=registry)
document = json.load(sys.stdin)
errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
for error in errors[:20]:
    print(f"{'/'.join(map(str, error.path))}: {error.message[:300]}")
sys.exit(1 if errors else 0)
