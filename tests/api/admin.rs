//! The admin endpoints: the token, and every bad input to organizations, keys and products.

use crate::helpers::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::json;

#[test]
fn admin_calls_need_the_token() {
    let app = spawn_app(Backend::Sqlite);
    let agent = agent();
    for token in [None, Some("wrong")] {
        let mut request = agent.post(&app.url("/api/v1/orgs"));
        if let Some(token) = token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request
            .send_json(json!({"name": "X", "roles": ["producer"]}))
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["WWW-Authenticate"], "Bearer");
        let body: serde_json::Value =
            serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        assert_eq!(body["error"], "unauthorized");
    }
}

#[test]
fn organizations_validate_roles_and_glns() {
    for backend in backends() {
        let app = spawn_app(backend);
        let created = app.admin_post(
            "/api/v1/orgs",
            &json!({"name": "Chishang Farm", "name_zh": "池上農場", "roles": ["producer", "brand"], "gln": "4712345000015"}),
        );
        assert_eq!(created.status, 201, "{:?}", created.body);
        assert_eq!(created.body["name_zh"], "池上農場");
        assert_eq!(created.body["roles"], json!(["producer", "brand"]));
        for (body, status, part) in [
            (
                json!({"name": "X", "roles": ["producer"], "gln": "4712345000016"}),
                422,
                "check digit",
            ),
            (
                json!({"name": "X", "roles": ["farmer"]}),
                422,
                "unknown role",
            ),
            (json!({"name": "X", "roles": []}), 422, "at least one role"),
            (
                json!({"name": "  ", "roles": ["producer"]}),
                422,
                "name must not be empty",
            ),
            (
                json!({"name": "X", "roles": ["producer"], "gln": "4712345000015"}),
                409,
                "already belongs",
            ),
            (json!({"roles": ["producer"]}), 400, "name"),
            (
                json!({"name": "X", "roles": ["producer"], "colour": "red"}),
                400,
                "colour",
            ),
        ] {
            let answer = app.admin_post("/api/v1/orgs", &body);
            assert_eq!(answer.status, status, "{body} -> {:?}", answer.body);
            assert!(
                answer.message().contains(part),
                "{:?} should mention {part:?}",
                answer.message()
            );
        }
        let missing = app.get("/api/v1/orgs/01936f4e-0000-7000-8000-000000000001");
        assert_eq!(missing.status, 404);
        assert_eq!(app.get("/api/v1/orgs/not-a-uuid").status, 404);
    }
}

#[test]
fn keys_are_checked_at_enrollment_and_can_be_revoked() {
    for backend in backends() {
        let app = spawn_app(backend);
        let org = app.org("Farm", &["producer"]);
        let other = app.org("Other", &["producer"]);
        let path = format!("/api/v1/orgs/{}/keys", org.id);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        for (key, part) in [
            (B64.encode(identity), "weak"),
            ("not base64!".to_owned(), "base64"),
            (B64.encode([7u8; 16]), "32 bytes"),
        ] {
            let answer = app.admin_post(&path, &json!({"public_key": key}));
            assert_eq!(
                (answer.status, answer.code()),
                (422, "invalid_field"),
                "{:?}",
                answer.body
            );
            assert!(answer.message().contains(part), "{}", answer.message());
        }
        let public = B64.encode(org.key.verifying_key().as_bytes());
        let again = app.admin_post(&path, &json!({"public_key": public}));
        assert_eq!(
            again.status, 200,
            "enrolling the same key twice is idempotent"
        );
        let stolen = app.admin_post(
            &format!("/api/v1/orgs/{}/keys", other.id),
            &json!({"public_key": public}),
        );
        assert_eq!(stolen.status, 409);
        let nobody = app.admin_post(
            "/api/v1/orgs/01936f4e-0000-7000-8000-000000000001/keys",
            &json!({"public_key": public}),
        );
        assert_eq!(nobody.status, 404);
        let keyid = again.body["keyid"].as_str().unwrap();
        let revoked = app.admin_delete(&format!("{path}/{keyid}"));
        assert_eq!(revoked.status, 200);
        assert!(revoked.body["revoked_at"].is_string());
        let shown = app.get(&format!("/api/v1/orgs/{}", org.id));
        assert_eq!(
            shown.body["keys"][0]["revoked_at"],
            revoked.body["revoked_at"]
        );
        assert_eq!(
            app.admin_delete(&format!("{path}/{}", "0".repeat(64)))
                .status,
            404
        );
    }
}

#[test]
fn products_validate_gtins_prices_and_urls() {
    for backend in backends() {
        let app = spawn_app(backend);
        let created = app.admin_post(
            "/api/v1/products",
            &json!({"gtin": RICE, "name": "Chishang rice 2 kg", "name_zh": "池上米 2 公斤", "price": "380",
                    "listing_url": "https://shop.example.com/rice"}),
        );
        assert_eq!(created.status, 201, "{:?}", created.body);
        assert_eq!(created.body["currency"], "TWD");
        assert_eq!(
            app.get(&format!("/api/v1/products/{RICE}")).body["name_zh"],
            "池上米 2 公斤"
        );
        for (body, status, part) in [
            (
                json!({"gtin": "04712345000023", "name": "X"}),
                422,
                "check digit",
            ),
            (
                json!({"gtin": "4712345000022", "name": "X"}),
                422,
                "14 digits",
            ),
            (
                json!({"gtin": RICE, "name": "X"}),
                409,
                "already registered",
            ),
            (
                json!({"gtin": PADDY, "name": "X", "price": "12,5"}),
                422,
                "price",
            ),
            (
                json!({"gtin": PADDY, "name": "X", "currency": "twd", "price": "1"}),
                422,
                "ISO 4217",
            ),
            (
                json!({"gtin": PADDY, "name": "X", "listing_url": "javascript:alert(1)"}),
                422,
                "listing_url",
            ),
        ] {
            let answer = app.admin_post("/api/v1/products", &body);
            assert_eq!(answer.status, status, "{body} -> {:?}", answer.body);
            assert!(
                answer.message().contains(part),
                "{:?} should mention {part:?}",
                answer.message()
            );
        }
    }
}
