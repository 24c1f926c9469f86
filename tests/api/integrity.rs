//! One meaning per signed byte string, and a log that cannot be cut short unseen: the probes of
//! the hardening issue against the ledger, on every engine.

use crate::helpers::*;
use diesel::Connection as _;
use diesel::connection::SimpleConnection as _;
use serde_json::{Value, json};
use std::process::Output;

/// Submits `body`, expects the refusal with `code` and a message naming `part`, and checks that the
/// log did not grow.
fn assert_refused(app: &TestApp, body: &[u8], status: u16, code: &str, part: &str) {
    let size = app.log_size();
    let answer = app.submit(body);
    assert_eq!(
        answer.status, status,
        "{:?} on {:?}",
        answer.body, app.backend
    );
    assert_eq!(answer.code(), code, "{:?}", answer.body);
    assert!(
        answer.message().contains(part),
        "message {:?} should mention {part:?}",
        answer.message()
    );
    assert_eq!(app.log_size(), size, "a refused record must not be stored");
}

/// A payload signed as sent, byte for byte (the JSON text may hold what serde_json would not write).
fn sign_text(key: &ed25519_dalek::SigningKey, payload: &str) -> Vec<u8> {
    serde_json::to_vec(&truetrace::ledger::envelope::sign(key, payload.as_bytes()).to_json())
        .unwrap()
}

fn verify(database_url: &str) -> Output {
    verify_store(database_url)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs SQL on the store behind the server's back, as anyone holding the database can.
fn tamper(app: &TestApp, sql_sqlite: &str, sql_postgres: &str) {
    match app.backend {
        Backend::Sqlite => {
            let path = app.database_url.trim_start_matches("sqlite://");
            let mut conn = diesel::SqliteConnection::establish(path).unwrap();
            conn.batch_execute(sql_sqlite).unwrap();
        }
        Backend::Postgres => {
            let mut conn = diesel::PgConnection::establish(&app.database_url).unwrap();
            conn.batch_execute(sql_postgres).unwrap();
        }
    }
}

#[test]
fn a_time_past_microseconds_or_on_a_leap_second_is_invalid_time_and_what_is_stored_verifies() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let base = &at(5)[..19]; // 2026-11-30T14:05:00, before its offset
        for (time, part) in [
            (format!("{base}.1234567+08:00"), "7 fractional digits"),
            (format!("{base}.1234560+08:00"), "7 fractional digits"),
            (format!("{}60+08:00", &base[..17]), "leap second"),
            (base.to_owned(), "RFC 3339 with an offset"),
        ] {
            let mut record = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
            record["time"] = json!(time);
            assert_refused(
                &f.app,
                &sign(&f.farm.key, &record),
                422,
                "invalid_time",
                part,
            );
        }
        // Microseconds are kept exactly, on every engine: verify finds the store intact.
        let mut record = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
        record["time"] = json!(format!("{base}.123456+08:00"));
        let answer = f.app.submit(&sign(&f.farm.key, &record));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        let checked = verify(&f.app.database_url);
        assert_eq!(checked.status.code(), Some(0), "{}", stdout(&checked));
        assert!(
            stdout(&checked).contains("ok: 2 records"),
            "{}",
            stdout(&checked)
        );
    }
}

#[test]
fn duplicate_member_names_are_malformed_at_any_depth() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let (actor, time) = (&f.farm.id, at(5));
        let head = &f.head;
        let lots = format!(
            r#"[{{"gtin":"{PADDY}","lot":"{}","prev":"{head}"}}]"#,
            f.lot
        );
        for (payload, name) in [
            (
                format!(
                    r#"{{"type":"truetrace.record/v1","event":"cool","event":"dispose","actor":"{actor}","time":"{time}","lots":{lots}}}"#
                ),
                "event",
            ),
            (
                format!(
                    r#"{{"type":"truetrace.record/v1","event":"cool","actor":"{actor}","actor":"{actor}","time":"{time}","lots":{lots}}}"#
                ),
                "actor",
            ),
            (
                format!(
                    r#"{{"type":"truetrace.record/v1","event":"harvest","actor":"{actor}","time":"{time}","new_lots":[{{"gtin":"{PADDY}","lot":"B"}}],"new_lots":[{{"gtin":"{PADDY}","lot":"C"}}]}}"#
                ),
                "new_lots",
            ),
            (
                format!(
                    r#"{{"type":"truetrace.record/v1","event":"harvest","actor":"{actor}","time":"{time}","new_lots":[{{"gtin":"{PADDY}","lot":"B","lot":"C"}}]}}"#
                ),
                "lot",
            ),
            (
                format!(
                    r#"{{"type":"truetrace.record/v1","event":"cool","actor":"{actor}","time":"{time}","lots":{lots},"kde":{{"temperature_c":"4","temperature_c":"40"}}}}"#
                ),
                "temperature_c",
            ),
        ] {
            assert_refused(
                &f.app,
                &sign_text(&f.farm.key, &payload),
                400,
                "malformed",
                &format!("duplicate member name {name:?}"),
            );
        }
        // The envelope too: two payloads under one signature.
        let good: Value = serde_json::from_slice(&sign(
            &f.farm.key,
            &on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5),
        ))
        .unwrap();
        let text = serde_json::to_string(&good).unwrap();
        let doubled = text.replacen(
            r#""payload":"#,
            &format!(r#""payload":{},"payload":"#, good["payload"]),
            1,
        );
        assert_refused(&f.app, doubled.as_bytes(), 400, "malformed", "payload");
        assert_eq!(f.app.head(PADDY, f.lot), f.head);
    }
}

#[test]
fn nesting_is_limited_to_64_levels_in_the_envelope_and_the_payload() {
    let nested = |depth: usize| format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    for backend in backends() {
        let f = farm_with_lot(backend);
        let record = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 5);
        let mut envelope: Value = serde_json::from_slice(&sign(&f.farm.key, &record)).unwrap();
        // An unknown envelope member is ignored, but not past the limit: the object is level 1.
        envelope["x"] = json!("HOLE");
        let text = serde_json::to_string(&envelope).unwrap();
        assert_refused(
            &f.app,
            text.replace(r#""HOLE""#, &nested(64)).as_bytes(),
            400,
            "malformed",
            "nested deeper than 64 levels",
        );
        let accepted = f
            .app
            .submit(text.replace(r#""HOLE""#, &nested(63)).as_bytes());
        assert_eq!(accepted.status, 201, "{:?}", accepted.body);
        // In the payload: 64 levels pass the syntax stage (the member is then refused as unknown).
        let payload = |depth: usize| {
            let mut record = harvest(&f.farm, PADDY, "DEEP-1", 6);
            record["deep"] = json!("HOLE");
            serde_json::to_string(&record)
                .unwrap()
                .replace(r#""HOLE""#, &nested(depth))
        };
        assert_refused(
            &f.app,
            &sign_text(&f.farm.key, &payload(64)),
            400,
            "malformed",
            "nested deeper than 64 levels",
        );
        assert_refused(
            &f.app,
            &sign_text(&f.farm.key, &payload(63)),
            422,
            "invalid_record",
            "deep",
        );
    }
}

#[test]
fn control_characters_are_refused_naming_the_path_and_tab_and_newline_pass() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        for (path, value, code_point) in [
            ("note", "a\u{0}b", "U+0000"),
            ("field", "\u{202E}3 dleiF", "U+202E"),
            ("field", "3\u{2066}", "U+2066"),
            ("note", "line\r\n", "U+000D"),
            ("note", "\u{85}", "U+0085"),
        ] {
            let mut record = harvest(&f.farm, PADDY, "CTRL-1", 5);
            record["kde"][path] = json!(value);
            assert_refused(
                &f.app,
                &sign(&f.farm.key, &record),
                422,
                "invalid_record",
                &format!(r#"the string at ".kde.{path}" holds the control character {code_point}"#),
            );
        }
        let mut record = harvest(&f.farm, PADDY, "CTRL-1", 5);
        record["location"] = json!({"name": "Field\u{1b}[2J 3"});
        assert_refused(
            &f.app,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            r#"".location.name" holds the control character U+001B"#,
        );
        let mut record = harvest(&f.farm, PADDY, "CTRL-1", 5);
        record["kde"]["bad\u{7}key"] = json!("x");
        assert_refused(
            &f.app,
            &sign(&f.farm.key, &record),
            422,
            "invalid_record",
            r#"a key in ".kde" holds the control character U+0007"#,
        );
        // Names given through the admin API follow the same rule.
        let org = f.app.admin_post(
            "/api/v1/orgs",
            &json!({"name": "Farm \u{202E}nwoT", "roles": ["producer"]}),
        );
        assert_eq!(org.status, 422, "{:?}", org.body);
        assert!(org.message().contains("U+202E"), "{:?}", org.body);
        let mut record = harvest(&f.farm, PADDY, "CTRL-1", 5);
        record["kde"]["note"] = json!("row 1\tdry\nrow 2\twet, 田 3 號");
        let answer = f.app.submit(&sign(&f.farm.key, &record));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }
}

#[test]
fn dot_segments_are_not_lot_codes() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        for lot in [".", ".."] {
            assert_refused(
                &f.app,
                &sign(&f.farm.key, &harvest(&f.farm, PADDY, lot, 5)),
                422,
                "invalid_record",
                "browsers remove",
            );
        }
        let answer = f
            .app
            .submit(&sign(&f.farm.key, &harvest(&f.farm, PADDY, "...", 5)));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }
}

#[test]
fn verify_names_every_record_cut_from_the_log() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let mut head = f.head.clone();
        for minutes in 1..=4 {
            let record = on_lot("note", &f.farm, PADDY, f.lot, &head, minutes);
            let answer = f.app.submit(&sign(&f.farm.key, &record));
            assert_eq!(answer.status, 201, "{:?}", answer.body);
            head = record_id(&record);
        }
        let intact = verify(&f.app.database_url);
        assert_eq!(intact.status.code(), Some(0), "{}", stdout(&intact));

        // Cut the last record and point the lot back at the one before: every derived row agrees.
        let cut = |from: i64| {
            format!(
                "DELETE FROM record_lots WHERE log_index >= {from}; DELETE FROM records WHERE log_index >= {from}; \
                 UPDATE lots SET head = (SELECT id FROM records WHERE log_index = {prev}), \
                                 head_time = (SELECT event_time FROM records WHERE log_index = {prev});",
                prev = from - 1
            )
        };
        tamper(
            &f.app,
            &format!("DROP TRIGGER records_no_delete; {}", cut(4)),
            &format!("DROP TRIGGER records_no_update ON records; {}", cut(4)),
        );
        let broken = verify(&f.app.database_url);
        assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
        assert!(
            stdout(&broken).contains("BROKEN the log is missing record #4\n"),
            "{}",
            stdout(&broken)
        );
        // Three more cut: each of them named.
        tamper(&f.app, &cut(2), &cut(2));
        let broken = verify(&f.app.database_url);
        assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
        assert!(
            stdout(&broken).contains("the log is missing the 3 records #2 to #4"),
            "{}",
            stdout(&broken)
        );
    }
}

/// Stores a signed record at the end of the log behind the server's back, as it would have been
/// stored had the server accepted it: the log is append-only, not proof against a writer.
fn append_behind_the_back(app: &TestApp, key: &ed25519_dalek::SigningKey, record: &Value) {
    use truetrace::db::rows::{RecordLotRow, RecordRow};
    let pool = truetrace::db::connect(
        &truetrace::db::DatabaseUrl::parse(&app.database_url).unwrap(),
        1,
    )
    .unwrap();
    let mut conn = pool.get().unwrap();
    let log_index = truetrace::db::records::next_index(&mut conn).unwrap();
    let envelope = truetrace::ledger::envelope::sign(key, &serde_json::to_vec(record).unwrap());
    let time = chrono::DateTime::parse_from_rfc3339(record["time"].as_str().unwrap()).unwrap();
    let row = RecordRow {
        log_index,
        id: record_id(record),
        payload: envelope.payload.clone(),
        keyid: envelope.keyid.to_string(),
        sig: envelope.signature.to_vec(),
        event: record["event"].as_str().unwrap().to_owned(),
        actor: record["actor"].as_str().unwrap().to_owned(),
        event_time: time.naive_utc(),
        accepted_at: chrono::Utc::now().naive_utc(),
    };
    let lots: Vec<RecordLotRow> = record["lots"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(position, l)| RecordLotRow {
            log_index,
            position: position as i32,
            gtin: l["gtin"].as_str().unwrap().to_owned(),
            lot: l["lot"].as_str().unwrap().to_owned(),
            prev: Some(l["prev"].as_str().unwrap().to_owned()),
        })
        .collect();
    truetrace::db::records::insert_many(&mut conn, &[row], &lots).unwrap();
    truetrace::db::records::set_next_index(&mut conn, log_index + 1).unwrap();
}

/// The problems verify names holding at most `held_lots` lot states, as text.
fn problems_holding(app: &TestApp, held_lots: usize) -> Vec<String> {
    let pool = truetrace::db::connect(
        &truetrace::db::DatabaseUrl::parse(&app.database_url).unwrap(),
        1,
    )
    .unwrap();
    let mut conn = pool.get().unwrap();
    let report =
        truetrace::ledger::audit::verify_store_holding(&mut conn, held_lots, |_, _| {}).unwrap();
    let mut problems: Vec<String> = report.problems.iter().map(ToString::to_string).collect();
    problems.sort();
    problems
}

#[test]
fn a_lot_let_go_past_the_cap_is_judged_by_its_rules_when_named_again() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let (app, farm, lot_a) = (&f.app, &f.farm, f.lot);
        let mill = app.org("Kuanshan Mill", &["processor"]);
        let mut heads = std::collections::HashMap::from([(lot_a, f.head.clone())]);
        let mut submit = |actor: &Org, lot: &'static str, event: &str, minutes: i64| {
            let mut record = if event == "harvest" {
                harvest(actor, PADDY, lot, minutes)
            } else {
                on_lot(event, actor, PADDY, lot, &heads[lot], minutes)
            };
            if event == "ship" {
                record["to"] = json!(mill.id);
            }
            let answer = app.submit(&sign(&actor.key, &record));
            assert_eq!(answer.status, 201, "{:?}", answer.body);
            heads.insert(lot, record_id(&record));
            record_id(&record)
        };
        // Records #1 to #9. With one lot state held, each lets another lot's go, so lot A's
        // custody (the mill's since its receipt, #6) and head come back from the log.
        submit(farm, "PADDY-B", "harvest", 1);
        submit(farm, "PADDY-C", "harvest", 2);
        submit(farm, lot_a, "ship", 3);
        submit(farm, "PADDY-B", "note", 4);
        submit(farm, "PADDY-C", "note", 5);
        let received = submit(&mill, lot_a, "receive", 6);
        submit(farm, "PADDY-B", "note", 7);
        submit(&mill, lot_a, "note", 8);
        submit(farm, "PADDY-C", "note", 9);
        assert_eq!(verify(&app.database_url).status.code(), Some(0));
        assert_eq!(problems_holding(app, 1), Vec::<String>::new());

        // #10: the farm's note on lot A, which it no longer holds; #11: the mill's note on the
        // receipt, a head two records old.
        let not_custodian = on_lot("note", farm, PADDY, lot_a, &heads[lot_a], 10);
        append_behind_the_back(app, &farm.key, &not_custodian);
        let stale = on_lot("note", &mill, PADDY, lot_a, &received, 11);
        append_behind_the_back(app, &mill.key, &stale);
        let broken = verify(&app.database_url);
        assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
        let whole = problems_holding(app, truetrace::ledger::audit::HELD_LOTS);
        assert_eq!(problems_holding(app, 1), whole, "one lot held or all");
        for (index, rule) in [(10, "custody"), (11, "is not its current head")] {
            assert!(
                whole
                    .iter()
                    .any(|p| p.starts_with(&format!("record #{index} "))
                        && p.contains("breaks a ledger rule")
                        && p.contains(rule)),
                "#{index}: {whole:?}"
            );
        }
    }
}

/// Each derived table compared with the log: an edit behind the server's back, alone in an
/// otherwise intact store, is named (some show only as a table holding more rows than the log
/// implies), and the store verifies again once it is undone.
#[test]
fn verify_names_each_edit_of_a_derived_table() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let (app, farm) = (&f.app, &f.farm);
        let mill = app.org("Kuanshan Mill", &["processor"]);
        let mut b = harvest(farm, PADDY, "PADDY-B", 1);
        b["kde"] = json!({"epcis_event_id": "urn:uuid:b"});
        let transform = json!({"type": "truetrace.record/v1", "event": "transform", "actor": farm.id, "time": at(2),
            "lots": [{"gtin": PADDY, "lot": f.lot, "prev": f.head}, {"gtin": PADDY, "lot": "PADDY-B", "prev": record_id(&b)}],
            "new_lots": [{"gtin": PADDY, "lot": "MIX-R", "quantity": {"amount": "200", "unit": "KGM"}}]});
        for record in [&b, &transform] {
            let answer = app.submit(&sign(&farm.key, record));
            assert_eq!(answer.status, 201, "{:?}", answer.body);
        }
        assert_eq!(verify(&app.database_url).status.code(), Some(0));
        let ghost = "INSERT INTO lots (gtin, lot, custodian, head, head_time, shipped_to, created_log_index) \
             SELECT gtin, 'GHOST', custodian, head, head_time, shipped_to, created_log_index FROM lots WHERE lot = 'MIX-R'";
        let edits = [
            (
                "DELETE FROM lot_inputs WHERE input_lot = 'PADDY-B'".to_owned(),
                format!(
                    "INSERT INTO lot_inputs (gtin, lot, input_gtin, input_lot, log_index) VALUES ('{PADDY}', 'MIX-R', '{PADDY}', 'PADDY-B', 2)"
                ),
                format!("lineage ({PADDY}, MIX-R) <- ({PADDY}, PADDY-B) at #2 differs"),
            ),
            (
                format!(
                    "INSERT INTO lot_inputs (gtin, lot, input_gtin, input_lot, log_index) VALUES ('{PADDY}', 'PADDY-B', '{PADDY}', 'PADDY-A', 1)"
                ),
                "DELETE FROM lot_inputs WHERE lot = 'PADDY-B'".to_owned(),
                format!("lineage ({PADDY}, PADDY-B) <- ({PADDY}, PADDY-A) at #1 differs"),
            ),
            (
                ghost.to_owned(),
                "DELETE FROM lots WHERE lot = 'GHOST'".to_owned(),
                format!("lot (01){PADDY}(10)GHOST is stored but no record created it"),
            ),
            (
                "UPDATE lots SET lot = 'PADDY-Z' WHERE lot = 'PADDY-B'".to_owned(),
                "UPDATE lots SET lot = 'PADDY-B' WHERE lot = 'PADDY-Z'".to_owned(),
                "1 lots created by records are missing from the lot table".to_owned(),
            ),
            (
                format!(
                    "UPDATE lots SET custodian = '{}' WHERE lot = 'PADDY-A'",
                    mill.id
                ),
                format!(
                    "UPDATE lots SET custodian = '{}' WHERE lot = 'PADDY-A'",
                    farm.id
                ),
                format!(
                    "lot (01){PADDY}(10)PADDY-A: the stored head, custodian or shipment differs"
                ),
            ),
            (
                "UPDATE epcis_events SET log_index = 0".to_owned(),
                "UPDATE epcis_events SET log_index = 1".to_owned(),
                "EPCIS event urn:uuid:b of organization".to_owned(),
            ),
            (
                "DELETE FROM epcis_events".to_owned(),
                format!(
                    "INSERT INTO epcis_events (actor, event_id, log_index) VALUES ('{}', 'urn:uuid:b', 1)",
                    farm.id
                ),
                "EPCIS event urn:uuid:b of organization".to_owned(),
            ),
        ];
        for (edit, undo, named) in edits {
            tamper(app, &edit, &edit);
            let broken = verify(&app.database_url);
            assert_eq!(broken.status.code(), Some(1), "{edit}: {}", stdout(&broken));
            assert!(
                stdout(&broken).contains(&named),
                "{edit}: {}",
                stdout(&broken)
            );
            tamper(app, &undo, &undo);
            let intact = verify(&app.database_url);
            assert_eq!(intact.status.code(), Some(0), "{undo}: {}", stdout(&intact));
        }
    }
}
