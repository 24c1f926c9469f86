//! POST /api/v1/records: every rule of DESIGN.md, and every bad input leaving the store as it was.

use crate::helpers::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

/// Submits `body`, expects the refusal, and checks that nothing was stored or moved.
fn assert_refused(f: &Farm, body: &[u8], status: u16, code: &str, message_part: &str) {
    let size = f.app.log_size();
    let answer = f.app.submit(body);
    assert_eq!(
        answer.status, status,
        "{:?} on {:?}",
        answer.body, f.app.backend
    );
    assert_eq!(answer.code(), code, "{:?}", answer.body);
    assert!(
        answer.message().contains(message_part),
        "message {:?} should mention {message_part:?}",
        answer.message()
    );
    assert_eq!(
        f.app.log_size(),
        size,
        "a refused record must not be stored"
    );
    assert_eq!(
        f.app.head(PADDY, f.lot),
        f.head,
        "a refused record must not move the head"
    );
}

#[test]
fn a_signed_harvest_is_accepted_and_readable() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        assert_eq!(f.app.log_size(), 1);
        let stored = f.app.get(&format!("/api/v1/records/{}", f.head));
        assert_eq!(stored.status, 200);
        assert_eq!(stored.body["log_index"], 0);
        assert_eq!(stored.body["record"]["event"], "harvest");
        // The envelope read back verifies on its own, with the key from the organization endpoint.
        let org = f.app.get(&format!("/api/v1/orgs/{}", f.farm.id));
        let public = B64
            .decode(org.body["keys"][0]["public_key"].as_str().unwrap())
            .unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
        let envelope = truetrace::ledger::envelope::Envelope::from_json(
            &serde_json::from_value(stored.body["envelope"].clone()).unwrap(),
        )
        .unwrap();
        envelope.verify(&key).unwrap();
        let next = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 10);
        let answer = f.app.submit(&sign(&f.farm.key, &next));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        assert_eq!(answer.body["log_index"], 1);
        assert_eq!(answer.body["id"], record_id(&next));
        assert_eq!(f.app.head(PADDY, f.lot), record_id(&next));
    }
}

#[test]
fn resubmitting_the_same_envelope_returns_the_stored_record_even_after_revocation() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let again = f
            .app
            .submit(&sign(&f.farm.key, &harvest(&f.farm, PADDY, f.lot, 0)));
        assert_eq!(again.status, 200, "{:?}", again.body);
        assert_eq!(again.body["id"], f.head);
        assert_eq!(again.body["log_index"], 0);
        let keyid = truetrace::ledger::envelope::KeyId::of(&f.farm.key.verifying_key());
        let revoked = f
            .app
            .admin_delete(&format!("/api/v1/orgs/{}/keys/{keyid}", f.farm.id));
        assert_eq!(revoked.status, 200, "{:?}", revoked.body);
        let again = f
            .app
            .submit(&sign(&f.farm.key, &harvest(&f.farm, PADDY, f.lot, 0)));
        assert_eq!(again.status, 200, "{:?}", again.body);
        assert_eq!(f.app.log_size(), 1);
    }
}

#[test]
fn malformed_envelopes_are_400() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        assert_refused(&f, b"{not json", 400, "malformed", "not valid JSON");
        assert_refused(&f, b"\xff\xfe", 400, "malformed", "JSON");
        let good: Value = serde_json::from_slice(&sign(
            &f.farm.key,
            &on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5),
        ))
        .unwrap();
        let mut bad = good.clone();
        bad["payload"] = json!("%%% not base64 %%%");
        assert_refused(
            &f,
            &serde_json::to_vec(&bad).unwrap(),
            400,
            "malformed",
            "base64",
        );
        let mut bad = good.clone();
        bad["payloadType"] = json!("application/json");
        assert_refused(
            &f,
            &serde_json::to_vec(&bad).unwrap(),
            400,
            "malformed",
            "payloadType",
        );
        let mut bad = good.clone();
        bad["signatures"] = json!([]);
        assert_refused(
            &f,
            &serde_json::to_vec(&bad).unwrap(),
            400,
            "malformed",
            "exactly one signature",
        );
        // A payload that is not JSON, or invalid UTF-8, or nested far too deep.
        for (payload, part) in [
            (b"not json".to_vec(), "payload is not valid JSON"),
            (
                b"{\"event\":\"\xff\xfe\"}".to_vec(),
                "payload is not valid JSON",
            ),
            (
                format!("{{\"a\":{}", "[".repeat(5000)).into_bytes(),
                "payload is not valid JSON",
            ),
        ] {
            let envelope = truetrace::ledger::envelope::sign(&f.farm.key, &payload).to_json();
            assert_refused(
                &f,
                &serde_json::to_vec(&envelope).unwrap(),
                400,
                "malformed",
                part,
            );
        }
        // Deep nesting in the envelope itself.
        let deep = format!("{{\"payloadType\":{}", "[".repeat(5000));
        assert_refused(&f, deep.as_bytes(), 400, "malformed", "JSON");
    }
}

#[test]
fn signature_problems_are_401() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let record = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
        // Unknown key.
        let stranger = truetrace::ledger::keyfile::generate().unwrap();
        assert_refused(&f, &sign(&stranger, &record), 401, "unknown_key", "no key");
        // Signed by another (enrolled) key but claiming the farm's keyid.
        let other = f.app.org("Other", &["producer"]);
        let mut forged: Value = serde_json::from_slice(&sign(&other.key, &record)).unwrap();
        forged["signatures"][0]["keyid"] =
            json!(truetrace::ledger::envelope::KeyId::of(&f.farm.key.verifying_key()).to_string());
        assert_refused(
            &f,
            &serde_json::to_vec(&forged).unwrap(),
            401,
            "bad_signature",
            "does not verify",
        );
        // Malleated signature: S + L.
        let mut env: Value = serde_json::from_slice(&sign(&f.farm.key, &record)).unwrap();
        let mut sig = B64
            .decode(env["signatures"][0]["sig"].as_str().unwrap())
            .unwrap();
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for (byte, l) in sig[32..].iter_mut().zip(L) {
            let sum = u16::from(*byte) + u16::from(l) + carry;
            *byte = sum as u8;
            carry = sum >> 8;
        }
        env["signatures"][0]["sig"] = json!(B64.encode(&sig));
        assert_refused(
            &f,
            &serde_json::to_vec(&env).unwrap(),
            401,
            "bad_signature",
            "does not verify",
        );
        // Revoked key: refused whatever time the record claims.
        let keyid = truetrace::ledger::envelope::KeyId::of(&f.farm.key.verifying_key());
        assert_eq!(
            f.app
                .admin_delete(&format!("/api/v1/orgs/{}/keys/{keyid}", f.farm.id))
                .status,
            200
        );
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            401,
            "revoked_key",
            "revoked",
        );
    }
}

#[test]
fn a_key_signing_for_another_organization_is_403_actor_mismatch() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let thief = f.app.org("Thief", &["producer"]);
        let record = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
        assert_refused(
            &f,
            &sign(&thief.key, &record),
            403,
            "actor_mismatch",
            "belongs to organization",
        );
    }
}

#[test]
fn a_stale_prev_is_409_with_the_current_head() {
    for backend in backends() {
        let mut f = farm_with_lot(backend);
        let first = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
        assert_eq!(f.app.submit(&sign(&f.farm.key, &first)).status, 201);
        let stale = on_lot("note", &f.farm, PADDY, f.lot, &f.head, 6);
        f.head = record_id(&first);
        let size = f.app.log_size();
        let answer = f.app.submit(&sign(&f.farm.key, &stale));
        assert_eq!(answer.status, 409, "{:?}", answer.body);
        assert_eq!(answer.code(), "stale_prev");
        assert_eq!(answer.body["head"], f.head);
        assert_eq!(f.app.log_size(), size);
    }
}

#[test]
fn custody_and_roles_are_403() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let mill = f.app.org("Mill", &["processor"]);
        let store = f.app.org("Store", &["retailer"]);
        // A lot not in the actor's custody.
        let record = on_lot("cool", &mill, PADDY, f.lot, &f.head, 5);
        assert_refused(
            &f,
            &sign(&mill.key, &record),
            403,
            "not_custodian",
            "custody",
        );
        // A receive by an organization the lot was not shipped to.
        let record = on_lot("receive", &store, PADDY, f.lot, &f.head, 5);
        assert_refused(
            &f,
            &sign(&store.key, &record),
            403,
            "not_custodian",
            "not been shipped",
        );
        // A harvest by a non-producer.
        let record = harvest(&mill, PADDY, "MILL-LOT", 5);
        let size = f.app.log_size();
        let answer = f.app.submit(&sign(&mill.key, &record));
        assert_eq!(
            (answer.status, answer.code()),
            (403, "role_not_allowed"),
            "{:?}",
            answer.body
        );
        assert!(answer.message().contains("producer"));
        assert_eq!(f.app.log_size(), size);
        // Ship to the mill; the store still cannot receive, the mill can.
        let mut ship = on_lot("ship", &f.farm, PADDY, f.lot, &f.head, 5);
        ship["to"] = json!(mill.id);
        assert_eq!(f.app.submit(&sign(&f.farm.key, &ship)).status, 201);
        let wrong = on_lot("receive", &store, PADDY, f.lot, &record_id(&ship), 6);
        let answer = f.app.submit(&sign(&store.key, &wrong));
        assert_eq!(
            (answer.status, answer.code()),
            (403, "not_custodian"),
            "{:?}",
            answer.body
        );
        assert!(answer.message().contains("shipped to"));
        let right = on_lot("receive", &mill, PADDY, f.lot, &record_id(&ship), 6);
        assert_eq!(f.app.submit(&sign(&mill.key, &right)).status, 201);
        let lot = f.app.get(&format!("/api/v1/lots/{PADDY}/{}", f.lot));
        assert_eq!(lot.body["custodian"]["id"], json!(mill.id));
    }
}

#[test]
fn field_errors_are_422_and_name_the_problem() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let mut record = harvest(&f.farm, PADDY, "NEW-1", 5);
        record["new_lots"][0]["gtin"] = json!("04712345000016");
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            "check digit",
        );
        let mut record = harvest(&f.farm, PADDY, "NEW-1", 5);
        record["new_lots"][0]["lot"] = json!("LOT#1");
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            "character set 82",
        );
        let mut record = harvest(&f.farm, PADDY, "NEW-1", 5);
        record["new_lots"][0]["lot"] = json!("A".repeat(21));
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            "at most 20",
        );
        let record = harvest(&f.farm, "04712345000039", "NEW-1", 5);
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "unknown_product",
            "04712345000039",
        );
        let record = harvest(&f.farm, PADDY, f.lot, 5);
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            "already exists",
        );
        let mut record = harvest(&f.farm, PADDY, "NEW-1", 5);
        record["kde"]["note"] = json!("x".repeat(1025));
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            r#"the string at ".kde.note" is 1025 bytes; strings in a record are limited to 1024 bytes"#,
        );
        let mut record = harvest(&f.farm, PADDY, "NEW-1", 5);
        let lots: Vec<Value> = (0..1001)
            .map(|i| json!({"gtin": PADDY, "lot": format!("L{i}")}))
            .collect();
        record["new_lots"] = json!(lots);
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            "at most 1000 lots",
        );
        let mut record = harvest(&f.farm, PADDY, "NEW-1", 5);
        record["event"] = json!("teleport");
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            "unknown event",
        );
    }
}

#[test]
fn time_rules_are_422_invalid_time() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let mut record = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
        record["time"] = json!(
            (chrono::Utc::now() + chrono::Duration::minutes(6))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
        );
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_time",
            "5 minutes ahead",
        );
        let record = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, -5);
        assert_refused(
            &f,
            &sign(&f.farm.key, &record),
            422,
            "invalid_time",
            "earlier than the previous record",
        );
        // Up to 5 minutes ahead is tolerated (clock skew).
        let mut record = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
        record["time"] = json!(
            (chrono::Utc::now() + chrono::Duration::minutes(4))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
        );
        assert_eq!(f.app.submit(&sign(&f.farm.key, &record)).status, 201);
    }
}

#[test]
fn an_envelope_over_64_kib_is_413() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let mut record = harvest(&f.farm, PADDY, "BIG", 5);
        for i in 0..80 {
            record["kde"][format!("k{i}")] = json!("x".repeat(1000));
        }
        let body = sign(&f.farm.key, &record);
        assert!(body.len() > 64 * 1024);
        assert_refused(&f, &body, 413, "too_large", "64 KiB");
    }
}

#[test]
fn checks_come_in_the_documented_order() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        // Unknown product AND a stranger's key: the 401 wins over the 422.
        let stranger = truetrace::ledger::keyfile::generate().unwrap();
        let record = harvest(&f.farm, "04712345000039", "X", 5);
        assert_refused(&f, &sign(&stranger, &record), 401, "unknown_key", "");
        // Stale prev AND not the custodian: the 409 wins over the 403.
        let mill = f.app.org("Mill", &["processor"]);
        let stale = on_lot("cool", &mill, PADDY, f.lot, &"0".repeat(64), 5);
        assert_refused(
            &f,
            &sign(&mill.key, &stale),
            409,
            "stale_prev",
            "current head",
        );
        // Not the custodian AND a time in the future: the 403 wins over the time rule.
        let mut record = on_lot("cool", &mill, PADDY, f.lot, &f.head, 5);
        record["time"] = json!(
            (chrono::Utc::now() + chrono::Duration::hours(1))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
        );
        assert_refused(&f, &sign(&mill.key, &record), 403, "not_custodian", "");
    }
}

#[test]
fn unknown_records_and_bad_ids() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        assert_eq!(
            f.app
                .get(&format!("/api/v1/records/{}", "a".repeat(64)))
                .status,
            404
        );
        let bad = f.app.get("/api/v1/records/not-an-id");
        assert_eq!((bad.status, bad.code()), (400, "malformed"));
        assert_eq!(f.app.get("/api/v1/nothing-here").code(), "not_found");
    }
}
