#!/usr/bin/env python3
"""Sign and submit truetrace records from Python, using only DESIGN.md's wire format.

Needs the `cryptography` package (pip install cryptography); everything else is the standard
library. Run against a server:

    python3 docs/examples/sign_and_submit.py --server http://127.0.0.1:8080 --admin-token TOKEN

It creates an organization, enrolls a fresh Ed25519 key, registers a product, then signs and
submits a harvest and a cooling record chained to it, and shows the server's idempotency (200)
and fork refusal (409). It exits non-zero if the server answers anything unexpected.
"""

import argparse
import base64
import datetime
import hashlib
import json
import sys
import urllib.error
import urllib.request
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PAYLOAD_TYPE = "application/vnd.truetrace.record+json"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: the exact bytes that are signed."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign(key: Ed25519PrivateKey, record: dict) -> tuple[bytes, str]:
    """Returns (envelope bytes, record id). The payload bytes are signed as they are sent."""
    payload = json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{
            "keyid": hashlib.sha256(public).hexdigest(),
            "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, payload))).decode(),
        }],
    }
    return json.dumps(envelope).encode(), hashlib.sha256(payload).hexdigest()


def call(method: str, url: str, body: bytes | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def expect(what: str, got: tuple[int, dict], status: int) -> dict:
    print(f"{what}: {got[0]} {json.dumps(got[1], ensure_ascii=False)}")
    if got[0] != status:
        sys.exit(f"expected {status} for {what}")
    return got[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:8080")
    parser.add_argument("--admin-token", required=True)
    parser.add_argument("--gtin", default="04712345000015")
    args = parser.parse_args()
    api = args.server.rstrip("/") + "/api/v1"

    org = expect("create organization", call("POST", f"{api}/orgs", json.dumps(
        {"name": "Python Farm", "name_zh": "派森農場", "roles": ["producer"]}).encode(), args.admin_token), 201)
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    enrolled = expect("enroll key", call("POST", f"{api}/orgs/{org['id']}/keys", json.dumps(
        {"public_key": base64.b64encode(public).decode()}).encode(), args.admin_token), 201)
    assert enrolled["keyid"] == hashlib.sha256(public).hexdigest()
    status, _ = call("POST", f"{api}/products", json.dumps(
        {"gtin": args.gtin, "name": "Paddy rice"}).encode(), args.admin_token)
    if status not in (201, 409):  # 409: already registered
        sys.exit(f"cannot register product: {status}")

    taipei = datetime.timezone(datetime.timedelta(hours=8))
    now = datetime.datetime.now(taipei).replace(microsecond=0)
    lot = "PY-" + uuid.uuid4().hex[:8].upper()
    harvest = {
        "type": "truetrace.record/v1", "event": "harvest", "actor": org["id"],
        "time": (now - datetime.timedelta(hours=2)).isoformat(),
        "location": {"name": "Field 1", "lat": 23.12, "lon": 121.22},
        "new_lots": [{"gtin": args.gtin, "lot": lot, "quantity": {"amount": "980.5", "unit": "KGM"}}],
        "kde": {"harvest_date": now.date().isoformat()},
    }
    envelope, harvest_id = sign(key, harvest)
    accepted = expect("submit harvest", call("POST", f"{api}/records", envelope), 201)
    assert accepted["id"] == harvest_id, "the record id is the SHA-256 of the payload bytes"
    expect("submit the same envelope again", call("POST", f"{api}/records", envelope), 200)

    cool = {
        "type": "truetrace.record/v1", "event": "cool", "actor": org["id"],
        "time": (now - datetime.timedelta(hours=1)).isoformat(),
        "lots": [{"gtin": args.gtin, "lot": lot, "prev": harvest_id}],
        "kde": {"temperature_c": "4.0"},
    }
    envelope, cool_id = sign(key, cool)
    expect("submit cooling chained to the harvest", call("POST", f"{api}/records", envelope), 201)

    fork = dict(cool, kde={"temperature_c": "5.0"})
    envelope, _ = sign(key, fork)
    refused = expect("submit a fork on the old head", call("POST", f"{api}/records", envelope), 409)
    assert refused["error"] == "stale_prev" and refused["head"] == cool_id

    status, chain = call("GET", f"{api}/lots/{args.gtin}/{lot}")
    assert status == 200 and chain["head"] == cool_id, chain
    print(f"lot {lot}: {len(chain['chain'])} records, head {cool_id}")


if __name__ == "__main__":
    main()
