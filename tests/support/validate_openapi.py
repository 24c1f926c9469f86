"""Validates answers against the OpenAPI description's schemas (JSON Schema 2020-12).

Reads {"doc": <openapi.json>, "checks": [{"path", "method", "status", "body"}]} on stdin: each body
is checked against the schema of that operation's response. Prints every error; exits 1 if any.
"""
import json
import sys

from jsonschema import Draft202012Validator

request = json.load(sys.stdin)
doc = request["doc"]
for name, schema in doc["components"]["schemas"].items():
    Draft202012Validator.check_schema(schema)
failures = 0
for check in request["checks"]:
    operation = doc["paths"][check["path"]][check["method"]]
    response = operation["responses"][str(check["status"])]
    schema = response["content"]["application/json"]["schema"]
    root = dict(schema, components=doc["components"])
    for error in Draft202012Validator(root).iter_errors(check["body"]):
        failures += 1
        where = "/".join(str(p) for p in error.absolute_path)
        print(f"{check['method'].upper()} {check['path']} {check['status']}: at /{where}: {error.message}")
print(f"{len(request['checks'])} answers checked, {failures} errors")
sys.exit(1 if failures else 0)
