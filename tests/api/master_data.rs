//! Organization master data (address, phone, locations) and the key data elements it checks.

use crate::helpers::*;
use serde_json::json;

#[test]
fn master_data_is_set_by_patch_and_put_and_shown_with_the_organization() {
    for backend in backends() {
        let app = spawn_app(backend);
        let farm = app.org("Yilan Greens", &["producer"]);
        let path = format!("/api/v1/orgs/{}", farm.id);
        let set = app.admin_send(
            "PATCH",
            &path,
            &json!({"address": "No. 8, Sanxing Rd, Yilan 266", "phone": "+886 3 989 1234",
                    "locations": [{"name": "Block B", "gln": "4712345000015", "address": "Sanxing Block B"},
                                  {"name": "Packhouse"}]}),
        );
        assert_eq!(set.status, 200, "{:?}", set.body);
        assert_eq!(set.body["phone"], "+886 3 989 1234");
        assert_eq!(set.body["locations"][0]["gln"], "4712345000015");
        // A field left out is kept; an empty one clears.
        let kept = app.admin_send("PATCH", &path, &json!({"phone": ""}));
        assert_eq!(kept.status, 200, "{:?}", kept.body);
        assert_eq!(kept.body["address"], "No. 8, Sanxing Rd, Yilan 266");
        assert_eq!(kept.body["phone"], json!(null));
        assert_eq!(kept.body["locations"].as_array().map(Vec::len), Some(2));
        let put = app.admin_send(
            "PUT",
            &format!("{path}/locations"),
            &json!({"locations": [{"name": "Packhouse", "address": "Sanxing Rd 8"}]}),
        );
        assert_eq!(put.status, 200, "{:?}", put.body);
        let shown = app.get(&path);
        assert_eq!(
            shown.body["locations"],
            json!([{"name": "Packhouse", "gln": null, "address": "Sanxing Rd 8"}])
        );
        for (body, part) in [
            (json!({"phone": "call me"}), "phone"),
            (
                json!({"locations": [{"name": "A"}, {"name": "A"}]}),
                "locations[1].name",
            ),
            (
                json!({"locations": [{"name": "A", "gln": "4712345000016"}]}),
                "locations[0].gln",
            ),
            (json!({"locations": [{"name": " "}]}), "locations[0].name"),
            (json!({"address": "x".repeat(501)}), "address"),
        ] {
            let refused = app.admin_send("PATCH", &path, &body);
            assert_eq!(refused.status, 422, "{body} -> {:?}", refused.body);
            assert_eq!(refused.code(), "invalid_field");
            assert!(refused.message().contains(part), "{:?}", refused.message());
        }
        let unknown_field = app.admin_send("PATCH", &path, &json!({"fax": "1234"}));
        assert_eq!(unknown_field.status, 400, "{:?}", unknown_field.body);
        let no_token = answer_of(app.agent.patch(&app.url(&path)).send_json(json!({})));
        assert_eq!(no_token, 401);
        let missing = app.admin_send(
            "PATCH",
            "/api/v1/orgs/01936f4e-0000-7000-8000-000000000001",
            &json!({}),
        );
        assert_eq!(missing.status, 404);
    }
}

fn answer_of(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> u16 {
    result.expect("the server answers").status().as_u16()
}

#[test]
fn key_data_elements_are_refused_with_their_name_when_malformed() {
    for backend in backends() {
        let Farm { app, farm, .. } = farm_with_lot(backend);
        app.admin_send(
            "PATCH",
            &format!("/api/v1/orgs/{}", farm.id),
            &json!({"locations": [{"name": "Block B"}]}),
        );
        for (n, (key, value, accepted)) in [
            ("harvest_date", "2026-02-30", false),
            ("temperature_c", "cold", false),
            ("tlc_source", "4712345000016", false),
            ("tlc_source", "Somewhere else", false),
            ("tlc_source", "Block B", true),
            ("tlc_source", "4712345000015", true),
            ("temperature_c", "-0.5", true),
        ]
        .into_iter()
        .enumerate()
        {
            let mut record = harvest(&farm, PADDY, &format!("KDE-{n}"), 1);
            record["kde"][key] = json!(value);
            let answer = app.submit(&sign(&farm.key, &record));
            if accepted {
                assert_eq!(answer.status, 201, "{key}={value}: {:?}", answer.body);
            } else {
                assert_eq!(answer.status, 422, "{key}={value}: {:?}", answer.body);
                assert_eq!(answer.code(), "invalid_record");
                assert!(
                    answer.message().contains(&format!("kde.{key}")),
                    "{:?}",
                    answer.message()
                );
            }
        }
    }
}
