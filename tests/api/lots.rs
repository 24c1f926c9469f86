//! Lots and their upstream DAG through transforms.

use crate::helpers::*;
use serde_json::json;

#[test]
fn a_transform_joins_two_farms_into_the_upstream_of_the_milled_lot() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        app.product(RICE);
        let farm_a = app.org("Farm A", &["producer"]);
        let farm_b = app.org("Farm B", &["producer"]);
        let mill = app.org("Mill", &["processor"]);
        let mut heads = Vec::new();
        for (farm, lot) in [(&farm_a, "PA"), (&farm_b, "PB")] {
            let h = harvest(farm, PADDY, lot, 0);
            assert_eq!(app.submit(&sign(&farm.key, &h)).status, 201);
            let mut ship = on_lot("ship", farm, PADDY, lot, &record_id(&h), 1);
            ship["to"] = json!(mill.id);
            assert_eq!(app.submit(&sign(&farm.key, &ship)).status, 201);
            let receive = on_lot("receive", &mill, PADDY, lot, &record_id(&ship), 2);
            assert_eq!(app.submit(&sign(&mill.key, &receive)).status, 201);
            heads.push(record_id(&receive));
        }
        let transform = json!({"type": "truetrace.record/v1", "event": "transform", "actor": mill.id, "time": at(3),
            "lots": [{"gtin": PADDY, "lot": "PA", "prev": heads[0]}, {"gtin": PADDY, "lot": "PB", "prev": heads[1]}],
            "new_lots": [{"gtin": RICE, "lot": "R/1", "quantity": {"amount": "300", "unit": "H87"}}]});
        let answer = app.submit(&sign(&mill.key, &transform));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        // A lot code with "/" travels percent-encoded.
        let lot = app.get(&format!("/api/v1/lots/{RICE}/R%2F1"));
        assert_eq!(lot.status, 200, "{:?}", lot.body);
        assert_eq!(lot.body["lot"], "R/1");
        assert_eq!(lot.body["custodian"]["name"], "Mill");
        assert_eq!(lot.body["chain"].as_array().unwrap().len(), 1);
        assert!(
            lot.body["digital_link"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/01/{RICE}/10/R%2F1"))
        );
        let up = app.get(&format!("/api/v1/lots/{RICE}/R%2F1/upstream"));
        assert_eq!(up.status, 200);
        let lots: Vec<&str> = up.body["lots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["lot"].as_str().unwrap())
            .collect();
        assert_eq!(lots, ["R/1", "PA", "PB"]);
        assert_eq!(
            up.body["lots"][1]["chain"].as_array().unwrap().len(),
            4,
            "harvest, ship, receive, transform"
        );
        assert_eq!(up.body["edges"].as_array().unwrap().len(), 2);
        assert_eq!(up.body["truncated"], false);
        let missing = app.get(&format!("/api/v1/lots/{RICE}/NOPE"));
        assert_eq!((missing.status, missing.code()), (404, "not_found"));
        let bad = app.get("/api/v1/lots/04712345000023/X");
        assert_eq!((bad.status, bad.code()), (400, "malformed"));
        assert!(bad.message().contains("check digit"));
    }
}
