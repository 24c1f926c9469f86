//! The transparency log over HTTP and from the CLI, on both engines: checkpoints signed by the
//! log key, inclusion and consistency proofs that verify against them, tiles in the C2SP
//! layout with their cache headers, the provenance bundle and each of its failure modes,
//! `verify-bundle`, `check-checkpoint`, `monitor` and `verify`.

use crate::helpers::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use truetrace::ledger::bundle::{self, Bundle, Failed};
use truetrace::ledger::checkpoint::{self, Checkpoint, LogVerifier};
use truetrace::ledger::merkle::{self, Hash};
use truetrace::ledger::tlog;

pub fn verifier() -> LogVerifier {
    LogVerifier::parse(crate::spawn::TEST_LOG_VKEY).unwrap()
}

/// A GET answered as bytes: status, Cache-Control, Content-Type, body.
pub struct Raw {
    pub status: u16,
    pub cache: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

pub fn get_raw(url: &str) -> Raw {
    let mut response = agent().get(url).call().unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (cache, content_type) = (header("cache-control"), header("content-type"));
    Raw {
        status: response.status().as_u16(),
        cache,
        content_type,
        body: response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .unwrap(),
    }
}

/// Waits until the server's checkpoint covers `size` records; the note and what it says.
pub fn checkpoint_of(base: &str, size: u64) -> (String, Checkpoint) {
    let start = Instant::now();
    loop {
        let raw = get_raw(&format!("{base}/api/v1/log/checkpoint"));
        assert_eq!(raw.status, 200);
        let note = String::from_utf8(raw.body).unwrap();
        let opened = checkpoint::open(&note, &verifier()).unwrap();
        if opened.size >= size {
            return (note, opened);
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no checkpoint of {size} records within 10 s (latest: {})",
            opened.size
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The leaf hash of an envelope as sent.
fn leaf_of(envelope: &[u8]) -> Hash {
    let e = truetrace::ledger::envelope::Envelope::parse(envelope).unwrap();
    let keyid: [u8; 32] = hex::decode(e.keyid.as_str()).unwrap().try_into().unwrap();
    tlog::leaf_hash(&keyid, &e.signature, &e.payload)
}

fn hashes(body: &Value) -> Vec<Hash> {
    body["hashes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

#[test]
fn checkpoints_proofs_and_tiles_match_the_records_on_both_engines() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        let farm = app.org("Chishang Farm", &["producer"]);
        // 300 harvests: a full level-0 tile and a partial one.
        let envelopes: Vec<Vec<u8>> = (0..300)
            .map(|i| sign(&farm.key, &harvest(&farm, PADDY, &format!("T-{i}"), i)))
            .collect();
        let mut leaves = Vec::new();
        for (chunk_index, chunk) in envelopes.chunks(100).enumerate() {
            let answer = app.submit_batch(chunk);
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            for (i, result) in answer.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
            {
                assert_eq!(result["status"], 201, "{result}");
                assert_eq!(result["log_index"], chunk_index * 100 + i);
            }
            leaves.extend(chunk.iter().map(|e| leaf_of(e)));
            if chunk_index == 0 {
                // The first checkpoint of 100, kept for the consistency proof.
                let (_, first) = checkpoint_of(app.address(), 100);
                assert_eq!(first.size, 100, "{backend:?}");
                assert_eq!(first.root, merkle::root_of(&leaves));
            }
        }
        let (note, signed) = checkpoint_of(app.address(), 300);
        assert_eq!(signed.size, 300, "{backend:?}");
        assert_eq!(signed.origin, "truetrace.test/log");
        assert_eq!(signed.root, merkle::root_of(&leaves), "{backend:?}");
        assert!(note.starts_with("truetrace.test/log\n300\n"), "{note}");
        let raw = get_raw(&app.url("/checkpoint"));
        assert_eq!(
            raw.body,
            note.as_bytes(),
            "the tlog-tiles path serves the same note"
        );
        assert!(
            raw.content_type.starts_with("text/plain"),
            "{}",
            raw.content_type
        );

        for index in [0u64, 1, 137, 255, 256, 299] {
            for size in [index + 1, 257, 300] {
                if index >= size {
                    continue;
                }
                let proof = app.get(&format!(
                    "/api/v1/log/proof/inclusion?index={index}&size={size}"
                ));
                assert_eq!(proof.status, 200, "{:?}", proof.body);
                assert_eq!(proof.body["index"], index);
                assert_eq!(proof.body["size"], size);
                let root = merkle::root_of(&leaves[..size as usize]);
                merkle::verify_inclusion(
                    index,
                    size,
                    &leaves[index as usize],
                    &hashes(&proof.body),
                    &root,
                )
                .unwrap_or_else(|e| panic!("{backend:?}: leaf {index} in {size}: {e}"));
            }
        }
        for (from, to) in [
            (100u64, 300u64),
            (1, 300),
            (256, 300),
            (255, 257),
            (300, 300),
        ] {
            let proof = app.get(&format!(
                "/api/v1/log/proof/consistency?from={from}&to={to}"
            ));
            assert_eq!(proof.status, 200, "{:?}", proof.body);
            assert_eq!(
                (proof.body["from"].as_u64(), proof.body["to"].as_u64()),
                (Some(from), Some(to))
            );
            merkle::verify_consistency(
                from,
                to,
                &hashes(&proof.body),
                &merkle::root_of(&leaves[..from as usize]),
                &merkle::root_of(&leaves[..to as usize]),
            )
            .unwrap_or_else(|e| panic!("{backend:?}: {from} -> {to}: {e}"));
        }

        let full = get_raw(&app.url("/tile/0/000"));
        assert_eq!(full.status, 200);
        assert_eq!(full.body, leaves[..256].concat(), "{backend:?}");
        assert_eq!(full.cache, "public, max-age=31536000, immutable");
        assert_eq!(full.content_type, "application/octet-stream");
        let partial = get_raw(&app.url("/tile/0/001.p/44"));
        assert_eq!(partial.status, 200);
        assert_eq!(partial.body, leaves[256..300].concat());
        assert_eq!(partial.cache, "public, max-age=10");
        let narrower = get_raw(&app.url("/tile/0/001.p/3"));
        assert_eq!(narrower.body, leaves[256..259].concat());
        let level1 = get_raw(&app.url("/tile/1/000.p/1"));
        assert_eq!(level1.body, merkle::root_of(&leaves[..256]).to_vec());
        let entries = get_raw(&app.url("/tile/entries/001.p/2"));
        assert_eq!(entries.status, 200);
        let first_len = u16::from_be_bytes([entries.body[0], entries.body[1]]) as usize;
        assert_eq!(
            merkle::leaf_hash(&entries.body[2..2 + first_len]),
            leaves[256],
            "an entry bundle holds the leaves themselves"
        );
    }
}

#[test]
fn bad_proof_and_tile_requests_are_named_and_the_key_is_in_verifier_form() {
    for backend in backends() {
        let farm = farm_with_lot(backend);
        let app = &farm.app;
        checkpoint_of(app.address(), 1);
        let key = get_raw(&app.url("/api/v1/log/key"));
        assert_eq!(key.status, 200);
        assert_eq!(
            String::from_utf8(key.body).unwrap(),
            format!("{}\n", crate::spawn::TEST_LOG_VKEY)
        );
        for (path, status, says) in [
            (
                "/api/v1/log/proof/inclusion?size=1",
                400,
                "index is missing",
            ),
            (
                "/api/v1/log/proof/inclusion?index=0",
                400,
                "size is missing",
            ),
            (
                "/api/v1/log/proof/inclusion?index=x&size=1",
                400,
                "whole number",
            ),
            (
                "/api/v1/log/proof/inclusion?index=-1&size=1",
                400,
                "whole number",
            ),
            (
                "/api/v1/log/proof/inclusion?index=00&size=1",
                400,
                "leading zeros",
            ),
            (
                "/api/v1/log/proof/inclusion?index=1&size=1",
                400,
                "must be below size",
            ),
            (
                "/api/v1/log/proof/inclusion?index=0&size=2",
                404,
                "no signed tree of 2",
            ),
            (
                "/api/v1/log/proof/consistency?from=0&to=1",
                400,
                "at least 1",
            ),
            (
                "/api/v1/log/proof/consistency?from=2&to=1",
                400,
                "larger than to",
            ),
            ("/api/v1/log/proof/consistency?from=1", 400, "to is missing"),
            (
                "/api/v1/log/proof/consistency?from=1&to=5",
                404,
                "latest checkpoint is of 1",
            ),
            ("/tile/0/1", 400, "not a tile path"),
            ("/tile/0/x000/001", 400, "leading zero"),
            ("/tile/64/000", 400, "0 to 63"),
            ("/tile/0/000.p/0", 400, "1 to 255"),
            ("/tile/0/000", 404, "no tile 0/000"),
            ("/tile/0/000.p/2", 404, "no tile"),
            ("/tile/entries/000.p/2", 404, "no tile"),
            ("/tile/1/000.p/1", 404, "no tile"),
        ] {
            let answer = app.get(path);
            assert_eq!(
                answer.status, status,
                "{backend:?} {path}: {:?}",
                answer.body
            );
            let code = if status == 400 {
                "malformed"
            } else {
                "not_found"
            };
            assert_eq!(answer.code(), code, "{path}");
            assert!(
                answer.message().contains(says),
                "{path}: {}",
                answer.message()
            );
        }
        let one = app.get("/api/v1/log/proof/inclusion?index=0&size=1");
        assert_eq!(one.status, 200);
        assert_eq!(one.body["hashes"], json!([]));
        let partial = get_raw(&app.url("/tile/0/000.p/1"));
        assert_eq!(partial.status, 200);
        assert_eq!(partial.body.len(), 32);
    }
}

/// A journey of three lots: paddy harvested by a farm and shipped to a mill, which receives it
/// and mills it into rice. The bundle of the rice holds all of it.
pub struct Journey {
    pub app: TestApp,
    pub rice: &'static str,
    pub records: usize,
}

pub fn journey(backend: Backend) -> Journey {
    let app = spawn_app(backend);
    app.product(PADDY);
    app.product(RICE);
    let farm = app.org("Chishang Farm", &["producer"]);
    let mill = app.org("Chishang Mill", &["processor"]);
    let harvest_record = harvest(&farm, PADDY, "PADDY-J", 0);
    let mut ship = on_lot(
        "ship",
        &farm,
        PADDY,
        "PADDY-J",
        &record_id(&harvest_record),
        10,
    );
    ship["to"] = json!(mill.id);
    let receive = on_lot("receive", &mill, PADDY, "PADDY-J", &record_id(&ship), 20);
    let mut mill_it = on_lot(
        "transform",
        &mill,
        PADDY,
        "PADDY-J",
        &record_id(&receive),
        30,
    );
    mill_it["new_lots"] =
        json!([{"gtin": RICE, "lot": "RICE-J", "quantity": {"amount": "70", "unit": "KGM"}}]);
    for (record, key) in [
        (&harvest_record, &farm.key),
        (&ship, &farm.key),
        (&receive, &mill.key),
        (&mill_it, &mill.key),
    ] {
        let answer = app.submit(&sign(key, record));
        assert_eq!(answer.status, 201, "{:?}", answer.body);
    }
    // Unrelated records, so that the proofs are not trivial.
    for i in 0..5 {
        let answer = app.submit(&sign(
            &farm.key,
            &harvest(&farm, PADDY, &format!("OTHER-{i}"), 40 + i),
        ));
        assert_eq!(answer.status, 201);
    }
    Journey {
        app,
        rice: "RICE-J",
        records: 4,
    }
}

pub fn bundle_text(app: &TestApp, lot: &str) -> String {
    checkpoint_of(app.address(), app.log_size() as u64);
    let raw = get_raw(&app.url(&format!("/api/v1/lots/{RICE}/{lot}/bundle")));
    assert_eq!(raw.status, 200, "{}", String::from_utf8_lossy(&raw.body));
    String::from_utf8(raw.body).unwrap()
}

fn failed(report: &bundle::Report) -> Vec<Failed> {
    report.failures.iter().map(|f| f.check).collect()
}

fn altered(text: &str, change: impl FnOnce(&mut Bundle)) -> Vec<u8> {
    let mut b: Bundle = serde_json::from_str(text).unwrap();
    change(&mut b);
    serde_json::to_vec(&b).unwrap()
}

#[test]
fn a_bundle_verifies_offline_and_every_failure_mode_is_named() {
    for backend in backends() {
        let j = journey(backend);
        let text = bundle_text(&j.app, j.rice);
        let b: Bundle = serde_json::from_str(&text).unwrap();
        assert_eq!(
            b.records.len(),
            j.records,
            "the lot's upstream journey, nothing else"
        );
        assert_eq!(b.keys.len(), 2);
        assert_eq!(b.orgs.len(), 2);
        assert_eq!(b.pending, 0);
        let report = bundle::verify(text.as_bytes(), &verifier());
        assert!(report.ok(), "{backend:?}: {:?}", report.failures);
        assert_eq!(report.records, 4);
        assert_eq!(report.lots, 2);
        assert_eq!(report.checkpoint.as_ref().unwrap().size, 9);

        // Each failure mode, named.
        let sig = altered(&text, |b| {
            let mut s = B64
                .decode(&b.records[1].envelope.signatures[0].sig)
                .unwrap();
            s[10] ^= 1;
            b.records[1].envelope.signatures[0].sig = B64.encode(s);
        });
        let r = bundle::verify(&sig, &verifier());
        assert!(failed(&r).contains(&Failed::Signature), "{:?}", r.failures);
        assert!(
            r.failures
                .iter()
                .any(|f| f.log_index == Some(b.records[1].log_index))
        );

        let revoked = altered(&text, |b| {
            b.keys[0].revoked_at = Some("2000-01-01T00:00:00.000000Z".into());
        });
        let r = bundle::verify(&revoked, &verifier());
        assert!(
            failed(&r).contains(&Failed::KeyValidity),
            "{:?}",
            r.failures
        );
        assert!(r.failures.iter().any(|f| f.message.contains("revoked")));
        let late = altered(&text, |b| {
            b.keys[1].enrolled_at = "2999-01-01T00:00:00.000000Z".into()
        });
        assert!(failed(&bundle::verify(&late, &verifier())).contains(&Failed::KeyValidity));
        let swapped = altered(&text, |b| {
            let other = b.keys[1].org.clone();
            b.keys[0].org = other;
        });
        assert!(failed(&bundle::verify(&swapped, &verifier())).contains(&Failed::KeyValidity));

        let gap = altered(&text, |b| {
            b.records.remove(1);
        });
        let r = bundle::verify(&gap, &verifier());
        assert_eq!(failed(&r), vec![Failed::ChainLink], "{:?}", r.failures);
        assert!(r.failures[0].message.contains("is not in the bundle"));
        let no_start = altered(&text, |b| {
            b.records.remove(0);
        });
        assert!(failed(&bundle::verify(&no_start, &verifier())).contains(&Failed::ChainLink));

        let proof = altered(&text, |b| {
            let mut h = B64.decode(&b.records[2].inclusion[0]).unwrap();
            h[0] ^= 1;
            b.records[2].inclusion[0] = B64.encode(h);
        });
        let r = bundle::verify(&proof, &verifier());
        assert_eq!(failed(&r), vec![Failed::Inclusion], "{:?}", r.failures);
        let moved = altered(&text, |b| b.records[3].log_index += 1);
        assert!(failed(&bundle::verify(&moved, &verifier())).contains(&Failed::Inclusion));

        let forged = altered(&text, |b| {
            b.checkpoint = b.checkpoint.replacen("\n9\n", "\n8\n", 1)
        });
        let r = bundle::verify(&forged, &verifier());
        assert_eq!(failed(&r), vec![Failed::Checkpoint], "{:?}", r.failures);
        // The same name, another key: the checkpoint carries no signature by it.
        let other = truetrace::ledger::checkpoint::LogKey::from_text(
            &truetrace::ledger::checkpoint::LogKey::generate_text("truetrace.test/log").unwrap(),
            "another key",
        )
        .unwrap()
        .verifiers()
        .remove(0);
        assert_eq!(
            failed(&bundle::verify(text.as_bytes(), &other)),
            vec![Failed::Checkpoint]
        );
        let not_json = bundle::verify(b"{\"records\": [", &verifier());
        assert_eq!(failed(&not_json), vec![Failed::Form]);
    }
}

fn truetrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_truetrace"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("TRUETRACE_LOG_KEY")
        .output()
        .expect("the binary runs")
}

/// `truetrace verify` checking the checkpoint against the test servers' log key, given as an
/// auditor gives it.
fn verify_with_log_key(database_url: &str) -> Output {
    truetrace_on(
        database_url,
        &[
            "verify",
            "--quiet",
            "--log-key",
            crate::spawn::TEST_LOG_VKEY,
        ],
    )
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn verify_bundle_names_what_fails_and_exits_accordingly() {
    let j = journey(Backend::Sqlite);
    let text = bundle_text(&j.app, j.rice);
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("bundle.json");
    std::fs::write(&good, &text).unwrap();
    let vkey = crate::spawn::TEST_LOG_VKEY;
    let ok = truetrace(&["verify-bundle", good.to_str().unwrap(), "--log-key", vkey]);
    assert_eq!(ok.status.code(), Some(0), "{}", out(&ok));
    assert!(out(&ok).contains("ok: 4 records on 2 lots"), "{}", out(&ok));
    assert!(
        out(&ok).contains("checkpoint truetrace.test/log of 9 records"),
        "{}",
        out(&ok)
    );
    // The key from a file, as published.
    let key_file = dir.path().join("log.vkey");
    std::fs::write(&key_file, format!("{vkey}\n")).unwrap();
    let from_file = truetrace(&[
        "verify-bundle",
        good.to_str().unwrap(),
        "--log-key",
        key_file.to_str().unwrap(),
    ]);
    assert_eq!(from_file.status.code(), Some(0), "{}", out(&from_file));

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        altered(&text, |b| {
            let mut s = B64
                .decode(&b.records[0].envelope.signatures[0].sig)
                .unwrap();
            s[3] ^= 0x40;
            b.records[0].envelope.signatures[0].sig = B64.encode(s);
        }),
    )
    .unwrap();
    let failed = truetrace(&[
        "verify-bundle",
        bad.to_str().unwrap(),
        "--log-key",
        vkey,
        "--json",
    ]);
    assert_eq!(failed.status.code(), Some(1), "{}", out(&failed));
    let report: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let checks: Vec<&str> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"signature"), "{checks:?}");
    let plain = truetrace(&["verify-bundle", bad.to_str().unwrap(), "--log-key", vkey]);
    assert!(
        out(&plain).contains("FAILED signature of record #0"),
        "{}",
        out(&plain)
    );

    let no_key = truetrace(&[
        "verify-bundle",
        good.to_str().unwrap(),
        "--log-key",
        "nonsense",
    ]);
    assert_eq!(no_key.status.code(), Some(2), "{}", out(&no_key));
}

#[test]
fn the_monitor_and_check_checkpoint_catch_a_log_that_shows_two_histories() {
    // Two servers with the same log key and different stores: one log showing two histories.
    let honest = spawn_app(Backend::Sqlite);
    let forked = spawn_app(Backend::Sqlite);
    for (app, n) in [(&honest, 3), (&forked, 5)] {
        app.product(PADDY);
        let farm = app.org("Farm", &["producer"]);
        for i in 0..n {
            let answer = app.submit(&sign(
                &farm.key,
                &harvest(&farm, PADDY, &format!("M-{i}"), i),
            ));
            assert_eq!(answer.status, 201);
        }
        checkpoint_of(app.address(), n as u64);
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("last-checkpoint");
    let vkey = crate::spawn::TEST_LOG_VKEY;
    let monitor = |server: &str| {
        truetrace(&[
            "monitor",
            "--server",
            server,
            "--log-key",
            vkey,
            "--state",
            state.to_str().unwrap(),
            "--once",
        ])
    };
    let first = monitor(honest.address());
    assert_eq!(first.status.code(), Some(0), "{}", out(&first));
    assert!(out(&first).contains("at 3 records"), "{}", out(&first));
    let three = std::fs::read_to_string(&state).unwrap();
    // The honest log grows: still consistent.
    let farm = honest.org("Second Farm", &["producer"]);
    let answer = honest.submit(&sign(&farm.key, &harvest(&farm, PADDY, "M-late", 9)));
    assert_eq!(answer.status, 201);
    checkpoint_of(honest.address(), 4);
    let grown = monitor(honest.address());
    assert_eq!(grown.status.code(), Some(0), "{}", out(&grown));
    assert!(out(&grown).contains("at 4 records"));
    let saved = std::fs::read_to_string(&state).unwrap();

    let caught = monitor(forked.address());
    assert_eq!(caught.status.code(), Some(1), "{}", out(&caught));
    let evidence = out(&caught);
    assert!(evidence.contains("INCONSISTENT"), "{evidence}");
    assert!(
        evidence.contains(&saved),
        "the earlier signed checkpoint is printed: {evidence}"
    );
    let (forked_note, _) = checkpoint_of(forked.address(), 5);
    assert!(
        evidence.contains(&forked_note),
        "the later signed checkpoint is printed: {evidence}"
    );

    let old = dir.path().join("old");
    let new = dir.path().join("new");
    std::fs::write(&old, &saved).unwrap();
    std::fs::write(&new, &forked_note).unwrap();
    let check = truetrace(&[
        "check-checkpoint",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--log-key",
        vkey,
        "--server",
        forked.address(),
    ]);
    assert_eq!(check.status.code(), Some(1), "{}", out(&check));
    assert!(out(&check).contains("does not extend"), "{}", out(&check));
    let (honest_now, _) = checkpoint_of(honest.address(), 4);
    let first_note = dir.path().join("first");
    std::fs::write(&first_note, &three).unwrap();
    let same_log = dir.path().join("same");
    std::fs::write(&same_log, &honest_now).unwrap();
    let fine = truetrace(&[
        "check-checkpoint",
        first_note.to_str().unwrap(),
        same_log.to_str().unwrap(),
        "--log-key",
        vkey,
        "--server",
        honest.address(),
    ]);
    assert_eq!(fine.status.code(), Some(0), "{}", out(&fine));
    // Given in the other order (an older checkpoint seen later), they are no fork either.
    let reversed = truetrace(&[
        "check-checkpoint",
        same_log.to_str().unwrap(),
        first_note.to_str().unwrap(),
        "--log-key",
        vkey,
        "--server",
        honest.address(),
    ]);
    assert_eq!(reversed.status.code(), Some(0), "{}", out(&reversed));
    assert!(
        out(&reversed).contains("of 4 records extends the one of 3"),
        "{}",
        out(&reversed)
    );
    // A checkpoint not signed by the log key is refused, not compared.
    std::fs::write(&new, forked_note.replace("\n5\n", "\n6\n")).unwrap();
    let unsigned = truetrace(&[
        "check-checkpoint",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--log-key",
        vkey,
        "--server",
        forked.address(),
    ]);
    assert_eq!(unsigned.status.code(), Some(2), "{}", out(&unsigned));
    assert!(
        out(&unsigned).contains("does not verify"),
        "{}",
        out(&unsigned)
    );
}

#[test]
fn verify_rebuilds_the_tree_and_names_a_changed_tile_or_checkpoint() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        let farm = app.org("Farm", &["producer"]);
        let envelopes: Vec<Vec<u8>> = (0..260)
            .map(|i| sign(&farm.key, &harvest(&farm, PADDY, &format!("V-{i}"), i)))
            .collect();
        for chunk in envelopes.chunks(130) {
            assert_eq!(app.submit_batch(chunk).status, 200);
        }
        checkpoint_of(app.address(), 260);
        let verify = || verify_with_log_key(&app.database_url);
        let fine = verify();
        assert_eq!(fine.status.code(), Some(0), "{backend:?}: {}", out(&fine));
        assert!(
            out(&fine).contains("matches checkpoint truetrace.test/log of 260 records"),
            "{}",
            out(&fine)
        );
        let exec = |sql: &str| {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            match backend {
                Backend::Sqlite => {
                    let path = app.database_url.trim_start_matches("sqlite://");
                    diesel::SqliteConnection::establish(path)
                        .unwrap()
                        .batch_execute(sql)
                        .unwrap();
                }
                Backend::Postgres => {
                    diesel::PgConnection::establish(&app.database_url)
                        .unwrap()
                        .batch_execute(sql)
                        .unwrap();
                }
            }
        };
        // A tile whose hashes were changed behind the server's back.
        let zeros = if backend == Backend::Sqlite {
            "zeroblob(8192)"
        } else {
            "decode(repeat('00', 8192), 'hex')"
        };
        exec(&format!(
            "UPDATE log_tiles SET hashes = {zeros} WHERE level = 0 AND idx = 0"
        ));
        let tile = verify();
        assert_eq!(tile.status.code(), Some(1), "{}", out(&tile));
        assert!(
            out(&tile).contains("tile 0/0 of the log is missing or differs"),
            "{}",
            out(&tile)
        );
        // A checkpoint the log key did not sign.
        exec(if backend == Backend::Sqlite {
            "UPDATE log_checkpoint SET note = replace(note, char(10) || '260' || char(10), char(10) || '261' || char(10))"
        } else {
            "UPDATE log_checkpoint SET note = replace(note, E'\n260\n', E'\n261\n')"
        });
        let note = verify();
        assert_eq!(note.status.code(), Some(1), "{}", out(&note));
        assert!(
            out(&note).contains("the latest checkpoint"),
            "{}",
            out(&note)
        );
    }
}

#[test]
fn the_log_key_is_made_on_first_start_kept_out_of_the_database_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("k.db").display());
    let key_file = dir.path().join("log.key");
    let mut settings = settings(&database_url);
    settings.log_key = None;
    settings.log_key_file = key_file.clone();
    settings.public_url = Some("https://trace.example.com/".into());
    let first = serve_with(settings.clone());
    let vkey = String::from_utf8(get_raw(&format!("{}/api/v1/log/key", &*first)).body).unwrap();
    assert!(vkey.starts_with("trace.example.com+"), "{vkey}");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        text.starts_with("PRIVATE+KEY+trace.example.com+"),
        "the Go note key format"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let db = std::fs::read(dir.path().join("k.db")).unwrap();
    let secret_part = text.trim().rsplit('+').next().unwrap();
    assert!(
        !db.windows(secret_part.len())
            .any(|w| w == secret_part.as_bytes()),
        "the key is not in the database"
    );
    let note =
        String::from_utf8(get_raw(&format!("{}/api/v1/log/checkpoint", &*first)).body).unwrap();
    let verifier = LogVerifier::parse(vkey.trim()).unwrap();
    assert_eq!(
        checkpoint::open(&note, &verifier).unwrap().size,
        0,
        "an empty log is signed at start"
    );
    drop(first);
    let again = serve_with(settings);
    let vkey_again =
        String::from_utf8(get_raw(&format!("{}/api/v1/log/key", &*again)).body).unwrap();
    assert_eq!(vkey, vkey_again, "the key file is reused");
}

/// The bundle's and the proofs' JSON, as clients written from DESIGN.md read them; what changes
/// from run to run (ids, keys, signatures, hashes, times) is replaced by a name.
#[test]
fn the_bundle_and_proof_json_keep_their_shape() {
    for backend in backends() {
        let j = journey(backend);
        let text = bundle_text(&j.app, j.rice);
        let mut bundle: Value = serde_json::from_str(&text).unwrap();
        let mut names: Vec<(String, String)> = Vec::new();
        for (i, record) in bundle["records"].as_array().unwrap().iter().enumerate() {
            names.push((
                record["id"].as_str().unwrap().to_owned(),
                format!("[record {i}]"),
            ));
            names.push((
                record["envelope"]["payload"].as_str().unwrap().to_owned(),
                format!("[payload {i}]"),
            ));
            names.push((
                record["envelope"]["signatures"][0]["sig"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                format!("[signature {i}]"),
            ));
        }
        for (i, key) in bundle["keys"].as_array().unwrap().iter().enumerate() {
            names.push((
                key["keyid"].as_str().unwrap().to_owned(),
                format!("[key {i}]"),
            ));
            names.push((
                key["public_key"].as_str().unwrap().to_owned(),
                format!("[public key {i}]"),
            ));
            names.push((
                key["org"].as_str().unwrap().to_owned(),
                format!("[org {i}]"),
            ));
        }
        let lines: Vec<String> = bundle["checkpoint"]
            .as_str()
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        names.push((lines[2].clone(), "[root]".into()));
        names.push((
            lines[4].rsplit(' ').next().unwrap().to_owned(),
            "[log signature]".into(),
        ));
        fn scrub(value: &mut Value, names: &[(String, String)]) {
            match value {
                Value::String(s) => {
                    for (actual, name) in names {
                        *s = s.replace(actual.as_str(), name);
                    }
                    if s.len() == 44 && s.ends_with('=') {
                        *s = "[hash]".into();
                    }
                    if s.len() == 27 && s.ends_with('Z') {
                        *s = "[time]".into();
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(|v| scrub(v, names)),
                Value::Object(map) => map.values_mut().for_each(|v| scrub(v, names)),
                _ => {}
            }
        }
        scrub(&mut bundle, &names);
        let mut inclusion = j.app.get("/api/v1/log/proof/inclusion?index=2&size=9").body;
        let mut consistency = j.app.get("/api/v1/log/proof/consistency?from=3&to=9").body;
        scrub(&mut inclusion, &names);
        scrub(&mut consistency, &names);
        insta::assert_json_snapshot!("bundle", bundle);
        insta::assert_json_snapshot!(
            "proofs",
            json!({"inclusion": inclusion, "consistency": consistency})
        );
    }
}

/// Two servers on one database append in turn: each writer finds the log grown by the other
/// and reloads the tree's edge; the tiles both stored make one tree, whose root the checkpoint
/// signs, and `truetrace verify` finds every tile right.
#[test]
fn two_servers_on_one_database_keep_one_tree() {
    for backend in backends() {
        let app = spawn_app(backend);
        let second = serve(&app.database_url);
        app.product(PADDY);
        let farm = app.org("Farm", &["producer"]);
        let mut leaves: Vec<Option<Hash>> = vec![None; 600];
        for round in 0..12 {
            let envelopes: Vec<Vec<u8>> = (0..50)
                .map(|i| {
                    sign(
                        &farm.key,
                        &harvest(&farm, PADDY, &format!("S-{round}-{i}"), i),
                    )
                })
                .collect();
            let server: &str = if round % 2 == 0 {
                app.address()
            } else {
                &second
            };
            let mut response = agent()
                .post(&format!("{server}/api/v1/records/batch"))
                .content_type("application/json")
                .send(&batch(&envelopes))
                .unwrap();
            let body: Value =
                serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
            for (envelope, result) in envelopes.iter().zip(body["results"].as_array().unwrap()) {
                assert_eq!(result["status"], 201, "{result}");
                leaves[result["log_index"].as_u64().unwrap() as usize] = Some(leaf_of(envelope));
            }
        }
        let leaves: Vec<Hash> = leaves.into_iter().map(Option::unwrap).collect();
        let (_, signed) = checkpoint_of(app.address(), 600);
        assert_eq!(signed.size, 600);
        assert_eq!(signed.root, merkle::root_of(&leaves), "{backend:?}");
        let (_, seen_by_second) = checkpoint_of(&second, 600);
        assert_eq!(seen_by_second.root, signed.root);
        for tile in ["0/000", "0/001", "0/002.p/88", "1/000.p/2"] {
            let raw = get_raw(&format!("{}/tile/{tile}", &*second));
            assert_eq!(raw.status, 200, "{tile}");
        }
        assert_eq!(
            get_raw(&app.url("/tile/0/001")).body,
            leaves[256..512].concat()
        );
        let verify = verify_with_log_key(&app.database_url);
        assert_eq!(
            verify.status.code(),
            Some(0),
            "{backend:?}: {}",
            out(&verify)
        );
    }
}

/// While records arrive, the signer follows them: a record sent after the last was covered gets
/// a checkpoint of its own (the signer signs at most once a second, and at once when it has not
/// signed for a second).
#[test]
fn every_arrival_gets_a_checkpoint_of_its_own() {
    let app = spawn_app(Backend::Sqlite);
    app.product(PADDY);
    let farm = app.org("Farm", &["producer"]);
    let mut sizes = std::collections::BTreeSet::new();
    for i in 0..6 {
        let answer = app.submit(&sign(
            &farm.key,
            &harvest(&farm, PADDY, &format!("C-{i}"), i),
        ));
        assert_eq!(answer.status, 201);
        let index = answer.body["log_index"].as_u64().unwrap();
        let (_, signed) = checkpoint_of(app.address(), index + 1);
        sizes.insert(signed.size);
    }
    // Each record is covered before the next is sent, so each signing can cover only it (a
    // signing may rarely fall between the commit and its answer and cover two). How soon the
    // checkpoint follows a record is measured by the ingest benchmark, not bounded here.
    assert!(
        sizes.len() >= 5,
        "a checkpoint for (nearly) every arrival: {sizes:?}"
    );
}

/// A store whose records were appended without the log (a store older than it) gets its tiles
/// and a checkpoint of every record when a server first opens it.
#[test]
fn a_store_older_than_the_log_gets_its_tree_at_start() {
    for backend in backends() {
        let app = spawn_app_with(backend, |s| s.without_log_tree = true);
        app.product(PADDY);
        let farm = app.org("Farm", &["producer"]);
        let envelopes: Vec<Vec<u8>> = (0..300)
            .map(|i| sign(&farm.key, &harvest(&farm, PADDY, &format!("U-{i}"), i)))
            .collect();
        for chunk in envelopes.chunks(100) {
            assert_eq!(app.submit_batch(chunk).status, 200);
        }
        let leaves: Vec<Hash> = envelopes.iter().map(|e| leaf_of(e)).collect();
        let (_, at_start) = checkpoint_of(app.address(), 0);
        assert_eq!(at_start.size, 0, "no tree was kept: {backend:?}");
        let upgraded = serve(&app.database_url);
        let (_, signed) = checkpoint_of(&upgraded, 300);
        assert_eq!(signed.root, merkle::root_of(&leaves), "{backend:?}");
        assert_eq!(
            get_raw(&format!("{}/tile/0/000", &*upgraded)).body,
            leaves[..256].concat()
        );
        let proof = agent()
            .get(&format!(
                "{}/api/v1/log/proof/inclusion?index=299&size=300",
                &*upgraded
            ))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let proof: Value = serde_json::from_str(&proof).unwrap();
        merkle::verify_inclusion(299, 300, &leaves[299], &hashes(&proof), &signed.root).unwrap();
    }
}

/// `truetrace verify` over several pages (2,000 records each), checked by one thread per core
/// and replayed in order: a clean store holds, and a record removed from the middle is named.
#[test]
fn verify_checks_pages_on_every_core_and_replays_them_in_order() {
    for backend in backends() {
        let app = spawn_app(backend);
        app.product(PADDY);
        let farm = app.org("Farm", &["producer"]);
        let envelopes: Vec<Vec<u8>> = (0..4500)
            .map(|i| {
                sign(
                    &farm.key,
                    &harvest(&farm, PADDY, &format!("P-{i}"), i % 600),
                )
            })
            .collect();
        for chunk in envelopes.chunks(1000) {
            assert_eq!(app.submit_batch(chunk).status, 200);
        }
        checkpoint_of(app.address(), 4500);
        let verify = || verify_with_log_key(&app.database_url);
        let fine = verify();
        assert_eq!(fine.status.code(), Some(0), "{backend:?}: {}", out(&fine));
        assert!(
            out(&fine).contains("ok: 4500 records and 4500 lots verified"),
            "{}",
            out(&fine)
        );
        // A record cut from the second page (with its lot): named, wherever its page was checked.
        let cut = "DELETE FROM record_lots WHERE log_index = 3001; \
                   DELETE FROM lots WHERE created_log_index = 3001; \
                   DELETE FROM records WHERE log_index = 3001;";
        {
            use diesel::Connection;
            use diesel::connection::SimpleConnection;
            match backend {
                Backend::Sqlite => {
                    let path = app.database_url.trim_start_matches("sqlite://");
                    diesel::SqliteConnection::establish(path)
                        .unwrap()
                        .batch_execute(&format!("DROP TRIGGER records_no_delete; {cut}"))
                        .unwrap();
                }
                Backend::Postgres => diesel::PgConnection::establish(&app.database_url)
                    .unwrap()
                    .batch_execute(&format!("DROP TRIGGER records_no_update ON records; {cut}"))
                    .unwrap(),
            }
        }
        let broken = verify();
        assert_eq!(broken.status.code(), Some(1), "{}", out(&broken));
        assert!(
            out(&broken).contains("BROKEN the log is missing record #3001\n"),
            "{}",
            out(&broken)
        );
    }
}
