//! Racing submitters: one lot never gets two heads, the log stays dense, on both backends and
//! across two servers sharing one database.

use crate::helpers::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

/// Submits `bodies` at once, each from its own thread against `servers` in turn; returns the statuses.
fn race(servers: &[String], bodies: Vec<Vec<u8>>) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(bodies.len()));
    let handles: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let url = format!("{}/api/v1/records", servers[i % servers.len()]);
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let agent = agent();
                barrier.wait();
                agent
                    .post(&url)
                    .content_type("application/json")
                    .send(&body[..])
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

fn racing_notes(farm: &Org, lot: &str, head: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let mut note = on_lot("note", farm, PADDY, lot, head, 5);
            note["kde"] = json!({"attempt": i.to_string()});
            sign(&farm.key, &note)
        })
        .collect()
}

#[test]
fn racing_records_on_one_lot_give_exactly_one_201_and_the_rest_409() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        for round in 0..3 {
            let head = f.app.head(PADDY, f.lot);
            let statuses = race(
                &[f.app.address().to_owned()],
                racing_notes(&f.farm, f.lot, &head, 8),
            );
            assert_eq!(
                statuses.iter().filter(|s| **s == 201).count(),
                1,
                "round {round}: {statuses:?}"
            );
            assert_eq!(
                statuses.iter().filter(|s| **s == 409).count(),
                7,
                "round {round}: {statuses:?}"
            );
        }
        assert_eq!(f.app.log_size(), 4);
    }
}

#[test]
fn two_servers_on_one_database_never_fork_a_lot() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let second = serve(&f.app.database_url);
        let statuses = race(
            &[f.app.address().to_owned(), second.to_string()],
            racing_notes(&f.farm, f.lot, &f.head, 10),
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 409).count(),
            9,
            "{statuses:?}"
        );
        assert_eq!(f.app.log_size(), 2);
    }
}

#[test]
fn concurrent_independent_records_get_a_dense_log() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let second = serve(&f.app.database_url);
        let bodies: Vec<Vec<u8>> = (0..60)
            .map(|i| sign(&f.farm.key, &harvest(&f.farm, PADDY, &format!("L{i}"), 1)))
            .collect();
        let statuses = race(&[f.app.address().to_owned(), second.to_string()], bodies);
        assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
        assert_eq!(f.app.log_size(), 61);
        let indexes: BTreeSet<i64> = (0..60)
            .map(|i| {
                let id = record_id(&harvest(&f.farm, PADDY, &format!("L{i}"), 1));
                f.app.get(&format!("/api/v1/records/{id}")).body["log_index"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            indexes,
            (1..=60).collect::<BTreeSet<i64>>(),
            "every index used once, no gaps"
        );
    }
}
