//! `POST /api/v1/records/batch`: each envelope judged as if submitted alone, in order; bad items
//! do not stop good ones; a body that is not a batch stores nothing.

use crate::helpers::*;
use serde_json::{Value, json};

/// The results of a batch answered 200, one per envelope.
fn results(answer: &Answer) -> &Vec<Value> {
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["results"].as_array().expect("results")
}

/// A batch's result less its status: the body a single submission answers.
fn body_of(result: &Value) -> Value {
    let mut body = result.clone();
    body.as_object_mut().expect("an object").remove("status");
    body
}

#[test]
fn a_chain_inside_one_batch_lands_in_order() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        let farm = app.org("Chishang Farm", &["producer"]);
        let mill = app.org("Chishang Mill", &["processor"]);
        let harvest = harvest(&farm, PADDY, "PADDY-A", 0);
        let mut ship = on_lot("ship", &farm, PADDY, "PADDY-A", &record_id(&harvest), 1);
        ship["to"] = json!(mill.id);
        let receive = on_lot("receive", &mill, PADDY, "PADDY-A", &record_id(&ship), 2);
        let before = app.log_size();

        let answer = app.submit_batch(&[
            sign(&farm.key, &harvest),
            sign(&farm.key, &ship),
            sign(&mill.key, &receive),
        ]);
        let expected: Vec<Value> = [&harvest, &ship, &receive]
            .iter()
            .enumerate()
            .map(|(i, record)| {
                json!({"status": 201, "id": record_id(record), "log_index": before + i as i64})
            })
            .collect();
        assert_eq!(results(&answer), &expected);
        assert_eq!(app.log_size(), before + 3);
        assert_eq!(app.head(PADDY, "PADDY-A"), record_id(&receive));
        let lot = app.get(&format!("/api/v1/lots/{PADDY}/PADDY-A"));
        assert_eq!(lot.body["custodian"]["id"], json!(mill.id));
        let stored = app.get(&format!("/api/v1/records/{}", record_id(&ship)));
        assert_eq!(stored.body["log_index"], json!(before + 1));
    }
}

#[test]
fn bad_items_do_not_stop_good_ones_and_each_answers_as_it_would_alone() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let app = &f.app;
        let stranger = truetrace::ledger::keyfile::generate().unwrap();
        let good_harvest = harvest(&f.farm, PADDY, "PADDY-B", 1);
        let cool = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 2);
        let mut big = harvest(&f.farm, PADDY, "BIG", 3);
        for i in 0..80 {
            big["kde"][format!("k{i}")] = json!("x".repeat(1000));
        }
        let big = sign(&f.farm.key, &big);
        assert!(big.len() > 64 * 1024);
        // Earlier than the harvest the first item makes.
        let too_early = on_lot(
            "note",
            &f.farm,
            PADDY,
            "PADDY-B",
            &record_id(&good_harvest),
            0,
        );
        let envelopes = vec![
            sign(&f.farm.key, &good_harvest),
            // Not an envelope: an object of another shape, and a string.
            br#"{"payloadType": "application/vnd.truetrace.record+json"}"#.to_vec(),
            br#""an envelope""#.to_vec(),
            sign(&stranger, &harvest(&f.farm, PADDY, "PADDY-C", 5)),
            sign(&f.farm.key, &cool),
            // After the cool, so the head it names is the cool's.
            sign(
                &f.farm.key,
                &on_lot("note", &f.farm, PADDY, f.lot, &"0".repeat(64), 6),
            ),
            sign(&f.farm.key, &harvest(&f.farm, "04712345000039", "X", 7)),
            // On the lot the first item made: an earlier item's work is seen.
            sign(&f.farm.key, &too_early),
            big,
        ];
        let before = app.log_size();
        let answer = app.submit_batch(&envelopes);
        let results = results(&answer).clone();
        let statuses: Vec<(u64, &str)> = results
            .iter()
            .map(|r| {
                (
                    r["status"].as_u64().unwrap(),
                    r["error"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            statuses,
            [
                (201, ""),
                (400, "malformed"),
                (400, "malformed"),
                (401, "unknown_key"),
                (201, ""),
                (409, "stale_prev"),
                (422, "unknown_product"),
                (422, "invalid_time"),
                (413, "too_large"),
            ]
        );
        assert_eq!(results[0]["log_index"], json!(before));
        assert_eq!(results[4]["log_index"], json!(before + 1));
        assert_eq!(results[5]["head"], json!(record_id(&cool)));
        assert!(
            results[8]["message"].as_str().unwrap().contains("64 KiB"),
            "{}",
            results[8]
        );
        assert_eq!(app.log_size(), before + 2);

        // Alone, each envelope gets the very body it got in the batch: the refused ones are
        // refused alike, the stored ones are found with the id and index the batch gave them.
        for (envelope, result) in envelopes.iter().zip(&results) {
            let alone = app.submit(envelope);
            assert_eq!(body_of(result), alone.body, "{result}");
            let status = result["status"].as_u64().unwrap() as u16;
            let resent = if status == 201 { 200 } else { status };
            assert_eq!(alone.status, resent, "{result}");
        }
        assert_eq!(app.log_size(), before + 2);
    }
}

#[test]
fn a_batch_sent_again_is_found_stored_with_the_same_ids_and_indexes() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let app = &f.app;
        let cool = on_lot("cool", &f.farm, PADDY, f.lot, &f.head, 1);
        let note = on_lot("note", &f.farm, PADDY, f.lot, &record_id(&cool), 2);
        let envelopes = [
            sign(&f.farm.key, &cool),
            sign(&f.farm.key, &note),
            sign(&f.farm.key, &harvest(&f.farm, PADDY, "PADDY-B", 3)),
        ];
        let before = app.log_size();
        let first = results(&app.submit_batch(&envelopes)).clone();
        assert!(first.iter().all(|r| r["status"] == 201), "{first:?}");
        let again = results(&app.submit_batch(&envelopes)).clone();
        for (first, again) in first.iter().zip(&again) {
            assert_eq!(again["status"], 200, "{again}");
            assert_eq!(body_of(first), body_of(again));
        }
        assert_eq!(app.log_size(), before + 3);

        // Sent twice in one batch: stored once, then found.
        let twice = sign(&f.farm.key, &harvest(&f.farm, PADDY, "PADDY-C", 4));
        let answer = app.submit_batch(&[twice.clone(), twice]);
        let results = results(&answer);
        assert_eq!(
            (results[0]["status"].as_u64(), results[1]["status"].as_u64()),
            (Some(201), Some(200))
        );
        assert_eq!(body_of(&results[0]), body_of(&results[1]));
        assert_eq!(app.log_size(), before + 4);
    }
}

#[test]
fn a_body_that_is_not_a_batch_stores_nothing() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let app = &f.app;
        let good = sign(&f.farm.key, &harvest(&f.farm, PADDY, "PADDY-B", 1));
        let good_text = String::from_utf8(good.clone()).unwrap();
        let many: Vec<Vec<u8>> = (0..1_001).map(|_| good.clone()).collect();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "not JSON",
                format!("{{\"envelopes\": [{good_text}").into_bytes(),
            ),
            ("an array", format!("[{good_text}]").into_bytes()),
            ("a string", b"\"envelopes\"".to_vec()),
            ("an empty object", b"{}".to_vec()),
            ("no envelopes", br#"{"envelopes": []}"#.to_vec()),
            (
                "envelopes not an array",
                format!(r#"{{"envelopes": {good_text}}}"#).into_bytes(),
            ),
            ("1,001 envelopes", batch(&many)),
            (
                "envelopes twice",
                format!(r#"{{"envelopes": [{good_text}], "envelopes": [{good_text}]}}"#)
                    .into_bytes(),
            ),
            (
                "another member",
                format!(r#"{{"envelopes": [{good_text}], "atomic": true}}"#).into_bytes(),
            ),
            (
                "trailing bytes",
                [batch(std::slice::from_ref(&good)), b"{}".to_vec()].concat(),
            ),
        ];
        let before = app.log_size();
        for (case, body) in cases {
            let answer = app.post_raw("/api/v1/records/batch", &body);
            assert_eq!(
                (answer.status, answer.code()),
                (400, "malformed"),
                "{case}: {:?}",
                answer.body
            );
            assert!(
                answer.message().contains("1 to 1000 envelopes"),
                "{case}: {}",
                answer.message()
            );
        }
        let twice = app.post_raw(
            "/api/v1/records/batch",
            format!(r#"{{"envelopes": [{good_text}], "envelopes": []}}"#).as_bytes(),
        );
        assert!(
            twice
                .message()
                .contains(r#"duplicate member name "envelopes""#),
            "{}",
            twice.message()
        );
        // Past 8 MiB: refused from its length, before it is read.
        let mut huge = batch(std::slice::from_ref(&good));
        huge.resize(8 * 1024 * 1024 + 1, b' ');
        let answer = app.post_raw("/api/v1/records/batch", &huge);
        assert_eq!((answer.status, answer.code()), (413, "too_large"));
        assert!(answer.message().contains("8 MiB"), "{}", answer.message());
        // Exactly 8 MiB is a batch.
        huge.truncate(8 * 1024 * 1024);
        let answer = app.post_raw("/api/v1/records/batch", &huge);
        assert_eq!(results(&answer)[0]["status"], 201);
        assert_eq!(app.log_size(), before + 1);
    }
}

/// A body sent in chunks, with no length to refuse it by, is refused once it passes 8 MiB.
#[test]
fn a_chunked_batch_past_8_mib_is_refused_while_it_is_read() {
    use std::io::{Read, Write};
    let app = spawn_app(Backend::Sqlite);
    let address = app.address().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /api/v1/records/batch HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b' '; 1024 * 1024];
    for _ in 0..9 {
        // The server may answer and close before every chunk is sent.
        if write!(stream, "{:x}\r\n", chunk.len()).is_err()
            || stream.write_all(&chunk).is_err()
            || stream.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("the batch is more than 8388608 bytes"),
        "{answer}"
    );
}

#[test]
fn a_batch_of_1000_envelopes_is_stored_in_the_order_sent() {
    for backend in backends() {
        let f = farm_with_lot(backend);
        let app = &f.app;
        // A chain of 1,000 notes on one lot: each names the one before it.
        let mut head = f.head.clone();
        let envelopes: Vec<Vec<u8>> = (0..1_000)
            .map(|i| {
                let note = on_lot("note", &f.farm, PADDY, f.lot, &head, 1 + i / 100);
                head = record_id(&note);
                sign(&f.farm.key, &note)
            })
            .collect();
        let before = app.log_size();
        let answer = app.submit_batch(&envelopes);
        let results = results(&answer);
        assert_eq!(results.len(), 1_000);
        for (i, result) in results.iter().enumerate() {
            assert_eq!(result["status"], 201, "{i}: {result}");
            assert_eq!(result["log_index"], json!(before + i as i64), "{i}");
        }
        assert_eq!(app.head(PADDY, f.lot), head);
        assert_eq!(app.log_size(), before + 1_000);
    }
}
