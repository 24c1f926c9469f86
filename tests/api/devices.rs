//! Device keys and the field app's JSON, over HTTP on both engines: a staff member's browser
//! enrolls its key, waits for an admin's approval, signs, and is refused once revoked; what the
//! field pages offer on a lot is what the rules allow; the hosted-key fallback signs only for the
//! staff member's own organization; and every bad input is refused with a message, storing
//! nothing.

use crate::helpers::*;
use crate::omo::{Browser, staff, staff_member};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

fn body(page: &crate::omo::Page) -> Value {
    serde_json::from_str(&page.body).unwrap_or(Value::Null)
}

/// The session's CSRF token, as the field app reads it from app.json.
fn csrf(browser: &mut Browser) -> String {
    let context = browser.get("/field/app.json");
    assert_eq!(context.status, 200, "{}", context.body);
    body(&context)["csrf"].as_str().unwrap().to_owned()
}

fn public_key(key: &SigningKey) -> String {
    B64.encode(key.verifying_key().as_bytes())
}

fn enroll(browser: &mut Browser, key: &str, label: &str) -> crate::omo::Page {
    let token = csrf(browser);
    browser.post_json(
        "/field/devices",
        &json!({"public_key": key, "label": label}),
        Some(&token),
    )
}

/// An account page button (approve or revoke) pressed by `browser`.
fn press(browser: &mut Browser, keyid: &str, action: &str) -> crate::omo::Page {
    let account = browser.get("/account");
    assert_eq!(account.status, 200);
    browser.post(
        &format!("/account/devices/{keyid}/{action}"),
        &[("csrf", &account.csrf())],
    )
}

#[test]
fn a_device_waits_for_approval_signs_once_approved_and_is_refused_once_revoked() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        let farm = app.org("Chishang Farm", &["producer"]);
        let mut admin = staff(&app, &farm, "boss@farm.example");
        let mut ana = staff_member(&app, &farm, "ana@farm.example", false);
        let phone = truetrace::ledger::keyfile::generate().unwrap();
        let device = Org {
            id: farm.id.clone(),
            key: phone.clone(),
        };

        let enrolled = enroll(&mut ana, &public_key(&phone), "Ana's phone");
        assert_eq!(enrolled.status, 201, "{}", enrolled.body);
        assert_eq!(body(&enrolled)["status"], "pending");
        let keyid = body(&enrolled)["keyid"].as_str().unwrap().to_owned();
        // Pending: not a signing key yet.
        let early = app.submit(&sign(&phone, &harvest(&device, PADDY, "D1", 0)));
        assert_eq!(
            (early.status, early.code()),
            (401, "unknown_key"),
            "{:?}",
            early.body
        );
        // Enrolling the same key again answers its state; nobody but an admin approves.
        let again = enroll(&mut ana, &public_key(&phone), "Ana's phone");
        assert_eq!(
            (again.status, body(&again)["status"].as_str()),
            (200, Some("pending"))
        );
        let refused = press(&mut ana, &keyid, "approve");
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(
            refused
                .body
                .contains("only your organization&#39;s admins can approve devices"),
            "{}",
            refused.body
        );

        let listed = admin.get("/account");
        assert!(
            listed.body.contains("Ana&#39;s phone") && listed.body.contains("waiting for approval"),
            "{}",
            listed.body
        );
        let approved = press(&mut admin, &keyid, "approve");
        assert_eq!(
            (approved.status, approved.location.as_str()),
            (303, "/account#devices")
        );
        let state = ana.get(&format!("/field/devices/{keyid}"));
        assert_eq!(body(&state)["status"], "active");

        let record = harvest(&device, PADDY, "D1", 0);
        let stored = app.submit(&sign(&phone, &record));
        assert_eq!(stored.status, 201, "{:?}", stored.body);
        let provenance = app.get(&format!("/api/v1/lots/{PADDY}/D1/provenance"));
        assert_eq!(
            provenance.body["steps"][0]["device_key"], true,
            "{:?}",
            provenance.body
        );
        let listed = admin.get("/account");
        assert!(
            listed
                .body
                .contains(&format!("(UTC+08:00) · <code>{}</code>", &keyid[..12])),
            "last use shown: {}",
            listed.body
        );

        // Ana revokes her own phone (lost): its next record is refused, the first stays valid.
        let revoked = press(&mut ana, &keyid, "revoke");
        assert_eq!(revoked.status, 303, "{}", revoked.body);
        let next = on_lot("note", &device, PADDY, "D1", &record_id(&record), 5);
        let answer = app.submit(&sign(&phone, &next));
        assert_eq!(
            (answer.status, answer.code()),
            (401, "revoked_key"),
            "{:?}",
            answer.body
        );
        let provenance = app.get(&format!("/api/v1/lots/{PADDY}/D1/provenance"));
        assert_eq!(
            provenance.body["records_failing"], 0,
            "{:?}",
            provenance.body
        );
        assert_eq!(provenance.body["steps"][0]["verified"], true);
        // A revoked device cannot be approved back; it is enrolled afresh with a new key.
        let back = press(&mut admin, &keyid, "approve");
        assert_eq!(back.status, 409, "{}", back.body);
        assert!(
            back.body.contains("was revoked and cannot be approved"),
            "{}",
            back.body
        );
        assert_eq!(
            body(&ana.get(&format!("/field/devices/{keyid}")))["status"],
            "revoked"
        );
    }
}

#[test]
fn an_admins_device_is_active_at_once_and_other_organizations_cannot_see_it() {
    for backend in backends() {
        let app = spawn_app(backend);
        let farm = app.org("Chishang Farm", &["producer"]);
        let mill = app.org("Chishang Mill", &["processor"]);
        let mut admin = staff(&app, &farm, "boss@farm.example");
        let mut miller = staff(&app, &mill, "boss@mill.example");
        let phone = truetrace::ledger::keyfile::generate().unwrap();
        let enrolled = enroll(&mut admin, &public_key(&phone), "Office phone");
        assert_eq!(
            (enrolled.status, body(&enrolled)["status"].as_str()),
            (201, Some("active"))
        );
        let keyid = body(&enrolled)["keyid"].as_str().unwrap().to_owned();
        let elsewhere = miller.get(&format!("/field/devices/{keyid}"));
        assert_eq!(
            (elsewhere.status, body(&elsewhere)["error"].as_str()),
            (404, Some("not_found"))
        );
        let pressed = press(&mut miller, &keyid, "revoke");
        assert_eq!(pressed.status, 404, "{}", pressed.body);
        // The same key for another person is a conflict, not a second device.
        let taken = enroll(&mut miller, &public_key(&phone), "Mill phone");
        assert_eq!(
            (taken.status, body(&taken)["error"].as_str()),
            (409, Some("conflict"))
        );
        // A key enrolled by the operator (a key file) cannot be taken over as a device either.
        let taken = enroll(&mut miller, &public_key(&mill.key), "Mill phone");
        assert_eq!(
            (taken.status, body(&taken)["error"].as_str()),
            (409, Some("conflict"))
        );
        assert_eq!(
            body(&admin.get(&format!("/field/devices/{keyid}")))["status"],
            "active"
        );
    }
}

#[test]
fn bad_enrollments_are_refused_with_a_message_and_store_nothing() {
    for backend in backends() {
        let app = spawn_app(backend);
        let farm = app.org("Chishang Farm", &["producer"]);
        let mut ana = staff_member(&app, &farm, "ana@farm.example", false);
        let good = public_key(&truetrace::ledger::keyfile::generate().unwrap());
        // The identity point: a weak (small-order) key.
        let mut weak = [0u8; 32];
        weak[0] = 1;
        let weak = B64.encode(weak);
        for (key, label, status, code, says) in [
            (
                good.as_str(),
                "",
                422,
                "invalid_field",
                "1 to 60 characters",
            ),
            (
                good.as_str(),
                &"x".repeat(61),
                422,
                "invalid_field",
                "it has 61",
            ),
            (
                good.as_str(),
                "Ana\u{202e}enohp",
                422,
                "invalid_field",
                "U+202E",
            ),
            (good.as_str(), "Ana\u{7}", 422, "invalid_field", "U+0007"),
            (
                "not base64!",
                "Ana's phone",
                422,
                "invalid_field",
                "not standard base64",
            ),
            (
                &B64.encode([7u8; 31]),
                "Ana's phone",
                422,
                "invalid_field",
                "this one has 31",
            ),
            (weak.as_str(), "Ana's phone", 422, "invalid_field", "weak"),
        ] {
            let answer = enroll(&mut ana, key, label);
            assert_eq!(
                (answer.status, body(&answer)["error"].as_str()),
                (status, Some(code)),
                "{label}: {}",
                answer.body
            );
            assert!(
                body(&answer)["message"].as_str().unwrap().contains(says),
                "{}",
                answer.body
            );
        }
        let token = csrf(&mut ana);
        let extra = ana.post_json(
            "/field/devices",
            &json!({"public_key": good, "label": "x", "admin": true}),
            Some(&token),
        );
        assert_eq!(extra.status, 400, "{}", extra.body);
        let no_token = ana.post_json(
            "/field/devices",
            &json!({"public_key": good, "label": "x"}),
            None,
        );
        assert_eq!(
            (no_token.status, body(&no_token)["error"].as_str()),
            (403, Some("forbidden"))
        );
        let mut stranger = Browser::new(app.address());
        let anonymous = stranger.post_json(
            "/field/devices",
            &json!({"public_key": good, "label": "x"}),
            Some(&token),
        );
        assert_eq!(
            (anonymous.status, body(&anonymous)["error"].as_str()),
            (401, Some("unauthorized"))
        );
        assert_eq!(stranger.get("/field/app.json").status, 401);
        // Nothing was stored: the account page lists no device.
        assert!(ana.get("/account").body.contains("id=\"no-devices\""));
    }
}

#[test]
fn the_field_lot_view_offers_what_the_rules_allow_and_the_whole_shipment_to_receive() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        let farm = app.org("Chishang Farm", &["producer"]);
        let store = app.org("Green Leaf", &["retailer"]);
        let mut farmer = staff(&app, &farm, "boss@farm.example");
        let mut grocer = staff(&app, &store, "boss@store.example");
        let (a, b) = (harvest(&farm, PADDY, "A", 0), harvest(&farm, PADDY, "B", 1));
        for r in [&a, &b] {
            assert_eq!(app.submit(&sign(&farm.key, r)).status, 201);
        }
        let lot = body(&farmer.get(&format!("/field/lots/{PADDY}/A")));
        assert_eq!(lot["head"], record_id(&a).as_str());
        assert_eq!(lot["head_event"], "harvest");
        assert_eq!(
            lot["open_events"],
            json!([
                "cool",
                "pack",
                "transform",
                "ship",
                "store",
                "dispose",
                "note"
            ])
        );
        assert_eq!(
            body(&grocer.get(&format!("/field/lots/{PADDY}/A")))["open_events"],
            json!([])
        );

        let ship = json!({"type": "truetrace.record/v1", "event": "ship", "actor": farm.id, "time": at(5), "to": store.id,
            "lots": [{"gtin": PADDY, "lot": "A", "prev": record_id(&a)}, {"gtin": PADDY, "lot": "B", "prev": record_id(&b)}]});
        assert_eq!(app.submit(&sign(&farm.key, &ship)).status, 201);
        let seen = body(&grocer.get(&format!("/field/lots/{PADDY}/B")));
        assert_eq!(seen["open_events"], json!(["receive"]));
        assert_eq!(
            seen["shipment"],
            json!([
                {"gtin": PADDY, "lot": "A", "head": record_id(&ship)},
                {"gtin": PADDY, "lot": "B", "head": record_id(&ship)},
            ])
        );
        // Until the receipt the shipper may still append, and sees no receive.
        assert!(
            !body(&farmer.get(&format!("/field/lots/{PADDY}/B")))["open_events"]
                .as_array()
                .unwrap()
                .contains(&json!("receive"))
        );
        // A code typed without its product.
        let found = body(&grocer.get("/field/lots?code=B"));
        assert_eq!(found.as_array().map(Vec::len), Some(1));
        for (path, status, code) in [
            (format!("/field/lots/{PADDY}/NOPE"), 404, "not_found"),
            ("/field/lots/123/A".to_owned(), 422, "invalid_field"),
            (format!("/field/lots/{PADDY}/.."), 422, "invalid_field"),
            (
                "/field/lots?code=%E6%B1%A0".to_owned(),
                422,
                "invalid_field",
            ),
        ] {
            let answer = grocer.get(&path);
            assert_eq!(
                (answer.status, body(&answer)["error"].as_str()),
                (status, Some(code)),
                "{path}: {}",
                answer.body
            );
        }
        assert_eq!(body(&grocer.get("/field/lots?code=NOPE")), json!([]));
        // The pages: a store has no harvest page; a visitor without a session is sent to log in.
        let harvest_page = grocer.get("/field/harvest");
        assert_eq!(harvest_page.status, 403);
        assert!(
            harvest_page
                .body
                .contains("harvests are recorded by producers"),
            "{}",
            harvest_page.body
        );
        assert_eq!(farmer.get("/field/harvest").status, 200);
        let visitor = Browser::new(app.address()).get("/field/scan");
        assert_eq!(
            (visitor.status, visitor.location.as_str()),
            (303, "/login?next=%2Ffield%2Fscan")
        );
    }
}

#[test]
fn the_hosted_fallback_signs_only_for_the_staff_members_own_organization() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        let farm = app.org("Chishang Farm", &["producer"]);
        let other = app.org("Guanshan Farm", &["producer"]);
        let mut farmer = staff(&app, &farm, "boss@farm.example");
        let token = csrf(&mut farmer);
        let record = |actor: &Org, lot: &str| {
            json!({"record": {"type": "truetrace.record/v1", "event": "harvest", "actor": actor.id, "time": at(0),
                   "new_lots": [{"gtin": PADDY, "lot": lot, "quantity": {"amount": "5", "unit": "KGM"}}]}})
        };
        let size = app.log_size();
        let none = farmer.post_json("/field/hosted", &record(&farm, "H1"), Some(&token));
        assert_eq!(
            (none.status, body(&none)["error"].as_str()),
            (409, Some("conflict")),
            "{}",
            none.body
        );
        assert!(none.body.contains("no hosted signing key"));
        let enabled = app.admin_post(&format!("/api/v1/orgs/{}/hosted-key", farm.id), &json!({}));
        assert_eq!(enabled.status, 201);
        let foreign = farmer.post_json("/field/hosted", &record(&other, "H1"), Some(&token));
        assert_eq!(
            (foreign.status, body(&foreign)["error"].as_str()),
            (403, Some("forbidden"))
        );
        let no_token = farmer.post_json("/field/hosted", &record(&farm, "H1"), None);
        assert_eq!(no_token.status, 403);
        let mut bad = record(&farm, "H1");
        bad["record"]["event"] = json!("teleport");
        let bad = farmer.post_json("/field/hosted", &bad, Some(&token));
        assert_eq!(
            (bad.status, body(&bad)["error"].as_str()),
            (422, Some("invalid_record")),
            "{}",
            bad.body
        );
        assert_eq!(app.log_size(), size);
        let signed = farmer.post_json("/field/hosted", &record(&farm, "H1"), Some(&token));
        assert_eq!(signed.status, 201, "{}", signed.body);
        let provenance = app.get(&format!("/api/v1/lots/{PADDY}/H1/provenance"));
        assert_eq!(provenance.body["steps"][0]["hosted_key"], true);
    }
}
