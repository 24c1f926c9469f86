//! The CLI from a shell: keygen, admin, sign, submit, verify and demo.

use crate::helpers::*;
use diesel::Connection;
use diesel::connection::SimpleConnection;
use std::process::{Command, Output};

fn truetrace(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_truetrace"))
        .args(args)
        .env("TRUETRACE_DATABASE_URL", database_url)
        .env("TRUETRACE_ADMIN_TOKEN", TOKEN)
        .env("TRUETRACE_SECRET_KEY", SECRET_KEY)
        .env("TRUETRACE_LOG_KEY", crate::spawn::TEST_LOG_KEY)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

/// `truetrace admin register-product` for the paddy GTIN, in both languages.
fn register_paddy(database_url: &str) -> Output {
    truetrace(
        database_url,
        &[
            "admin",
            "register-product",
            "--gtin",
            PADDY,
            "--name",
            "Paddy",
            "--name-zh",
            "稻穀",
        ],
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_out(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{} {}", stdout(o), stderr(o));
    serde_json::from_str(&stdout(o)).expect("JSON output")
}

#[test]
fn a_producer_signs_and_submits_from_the_shell_and_verify_catches_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let key = dir.path().join("farm.key.json");
    let key_s = key.to_str().unwrap();

    let out = truetrace(&db, &["keygen", "--out", key_s]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("keyid:"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(
        !truetrace(&db, &["keygen", "--out", key_s]).status.success(),
        "no silent overwrite"
    );

    let org = json_out(&truetrace(
        &db,
        &[
            "admin",
            "create-org",
            "--name",
            "Chishang Farm",
            "--name-zh",
            "池上農場",
            "--role",
            "producer",
        ],
    ));
    let org_id = org["id"].as_str().unwrap();
    let enrolled = json_out(&truetrace(
        &db,
        &["admin", "enroll-key", "--org", org_id, "--key-file", key_s],
    ));
    assert_eq!(enrolled["org_id"], org_id);
    json_out(&register_paddy(&db));
    let bad = truetrace(
        &db,
        &[
            "admin",
            "register-product",
            "--gtin",
            "04712345000016",
            "--name",
            "X",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("check digit"), "{}", stderr(&bad));

    // The server runs on the same database while the CLI works.
    let server = serve(&db);
    let record = dir.path().join("harvest.json");
    std::fs::write(
        &record,
        serde_json::json!({"type": "truetrace.record/v1", "event": "harvest", "actor": org_id, "time": at(0),
                           "new_lots": [{"gtin": PADDY, "lot": "CLI-1"}]})
        .to_string(),
    )
    .unwrap();
    let signed = truetrace(&db, &["sign", "--key", key_s, record.to_str().unwrap()]);
    assert!(signed.status.success(), "{}", stderr(&signed));
    let envelope = dir.path().join("harvest.envelope.json");
    std::fs::write(&envelope, &signed.stdout).unwrap();
    let submitted = truetrace(
        &db,
        &["submit", "--server", &server, envelope.to_str().unwrap()],
    );
    assert!(
        submitted.status.success(),
        "{} {}",
        stdout(&submitted),
        stderr(&submitted)
    );
    assert!(
        stdout(&submitted).starts_with("201 "),
        "{}",
        stdout(&submitted)
    );
    let again = truetrace(
        &db,
        &["submit", "--server", &server, envelope.to_str().unwrap()],
    );
    assert!(stdout(&again).starts_with("200 "), "{}", stdout(&again));

    // An invalid record is refused before signing, naming the problem.
    std::fs::write(&record, serde_json::json!({"type": "truetrace.record/v1", "event": "harvest", "actor": org_id, "time": "yesterday"}).to_string()).unwrap();
    let refused = truetrace(&db, &["sign", "--key", key_s, record.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("RFC 3339"),
        "{}",
        stderr(&refused)
    );
    // A refused submission exits 1 and prints the server's answer.
    // (A changed payload under the old signature; an unchanged payload would be "already stored".)
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut tampered: serde_json::Value = serde_json::from_slice(&signed.stdout).unwrap();
    let payload =
        String::from_utf8(b64.decode(tampered["payload"].as_str().unwrap()).unwrap()).unwrap();
    tampered["payload"] = serde_json::json!(b64.encode(payload.replace("CLI-1", "CLI-9")));
    std::fs::write(&envelope, tampered.to_string()).unwrap();
    let refused = truetrace(
        &db,
        &["submit", "--server", &server, envelope.to_str().unwrap()],
    );
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains("bad_signature"),
        "{}",
        stdout(&refused)
    );
    let unreachable = truetrace(
        &db,
        &[
            "submit",
            "--server",
            "http://127.0.0.1:9",
            envelope.to_str().unwrap(),
        ],
    );
    assert_eq!(unreachable.status.code(), Some(2));

    let ok = truetrace(&db, &["verify"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(stdout(&ok).contains("ok: 1 records"), "{}", stdout(&ok));

    // Edit the stored payload behind the server's back (the attacker drops the append-only trigger).
    let path = dir.path().join("cli.db");
    let mut conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    conn.batch_execute(
        "DROP TRIGGER records_no_update; UPDATE records SET payload = CAST(REPLACE(CAST(payload AS TEXT), 'CLI-1', 'CLI-2') AS BLOB);",
    )
    .unwrap();
    let broken = truetrace(&db, &["verify"]);
    assert_eq!(broken.status.code(), Some(1), "{}", stdout(&broken));
    assert!(
        stdout(&broken).contains("BROKEN record #0"),
        "{}",
        stdout(&broken)
    );
    assert!(
        stdout(&broken).contains("payload was altered"),
        "{}",
        stdout(&broken)
    );

    let cannot = truetrace("mysql://localhost/x", &["verify"]);
    assert_eq!(cannot.status.code(), Some(2));
    assert!(stderr(&cannot).contains("unsupported database URL scheme"));
}

#[test]
fn the_demo_seeds_a_verifiable_story_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let demo_dir = dir.path().join("demo");
    let out = truetrace(&db, &["demo", "--demo-dir", demo_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("RICE-2611-01"), "{}", stdout(&out));
    assert!(demo_dir.join("keys/chishang-farm.json").exists());
    let again = truetrace(&db, &["demo", "--demo-dir", demo_dir.to_str().unwrap()]);
    assert!(again.status.success());
    let verified = truetrace(&db, &["verify"]);
    assert_eq!(verified.status.code(), Some(0), "{}", stdout(&verified));
    assert!(
        stdout(&verified).contains("ok: 24 records"),
        "{}",
        stdout(&verified)
    );
    // A user can sign more records by hand with the demo keys.
    let lot = serve(&db);
    let answer = agent()
        .get(&format!("{lot}/api/v1/lots/04712345000022/RICE-2611-01"))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let lot: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(lot["custodian"]["name"], "Green Leaf Market Xinyi");
    assert_eq!(lot["product"]["name_zh"], "池上米 2 公斤");
}

/// Starts `truetrace serve` on a random port; returns the child, its base URL and what it printed.
fn start_serve(database_url: &str) -> (std::process::Child, String, Vec<String>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_truetrace"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("TRUETRACE_DATABASE_URL", database_url)
        .env_remove("TRUETRACE_ADMIN_TOKEN")
        .env("TRUETRACE_SECRET_KEY", SECRET_KEY)
        .env("TRUETRACE_LOG_KEY", crate::spawn::TEST_LOG_KEY)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut lines = Vec::new();
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    for line in reader.by_ref() {
        let line = line.expect("a line");
        let done = line.starts_with("truetrace is serving on ");
        lines.push(line);
        if done {
            break;
        }
    }
    // Keep reading what the server prints for as long as it runs.
    std::thread::spawn(move || reader.for_each(drop));
    let base = lines
        .last()
        .and_then(|l| l.strip_prefix("truetrace is serving on "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the server says where it listens")
        .to_owned();
    (child, base, lines)
}

fn stored_token_hash(path: &std::path::Path) -> String {
    let conn = diesel::SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let mut conn = truetrace::db::DbConn::Sqlite(conn);
    truetrace::db::kv::get(&mut conn, "admin_token_sha256")
        .unwrap()
        .expect("a stored hash")
}

#[test]
fn serve_generates_an_admin_token_once_and_stores_only_its_hash() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.db");
    let db = format!("sqlite://{}", path.display());
    let (mut child, base, lines) = start_serve(&db);
    let token = lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("admin token (generated now, shown once; only its hash is stored): ")
        })
        .expect("the first start prints the token")
        .to_owned();
    let agent = agent();
    let create = |token: &str| {
        agent
            .post(&format!("{base}/api/v1/orgs"))
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({"name": "Farm", "roles": ["producer"]}))
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(create(&token), 201);
    assert_eq!(create("tt_wrong"), 401);
    child.kill().unwrap();
    child.wait().unwrap();

    let stored = stored_token_hash(&path);
    assert_eq!(stored, hex::encode(sha2::Sha256::digest(token.as_bytes())));
    for file in [path.clone(), path.with_extension("db-wal")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "the token itself is never stored"
        );
    }

    let (mut child, _, lines) = start_serve(&db);
    assert!(
        lines.iter().any(|l| l.contains("set at first start")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains(&token)));
    child.kill().unwrap();
    child.wait().unwrap();

    let rotated = truetrace(&db, &["admin", "rotate-token"]);
    assert!(rotated.status.success());
    assert!(stdout(&rotated).contains("new admin token"));
    assert_ne!(stored_token_hash(&path), stored);
}

#[test]
fn the_operator_enables_a_hosted_key_invites_staff_and_sets_embed_origins_from_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("omo.db").display());
    let store = json_out(&truetrace(
        &db,
        &[
            "admin",
            "create-org",
            "--name",
            "Green Leaf",
            "--role",
            "retailer",
        ],
    ));
    let id = store["id"].as_str().unwrap();

    // Without TRUETRACE_SECRET_KEY, the key file is created with mode 0600 and reused.
    let secret = dir.path().join("secret.key");
    let enable = |secret: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_truetrace"))
            .args(["admin", "enable-hosted-key", "--org", id])
            .env("TRUETRACE_DATABASE_URL", &db)
            .env("TRUETRACE_SECRET_KEY_FILE", secret)
            .env_remove("TRUETRACE_SECRET_KEY")
            .output()
            .unwrap()
    };
    let first = json_out(&enable(&secret));
    assert_eq!(first["hosted"], true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        json_out(&enable(&secret))["keyid"],
        first["keyid"],
        "idempotent"
    );
    let orgs = json_out(&truetrace(&db, &["admin", "list-orgs"]));
    assert_eq!(orgs[0]["keys"][0]["hosted"], true, "{orgs}");
    let unknown = truetrace(&db, &["admin", "enable-hosted-key", "--org", "nope"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("not_found"),
        "{}",
        stderr(&unknown)
    );

    let invite = truetrace(
        &db,
        &[
            "admin",
            "invite",
            "--org",
            id,
            "--email",
            "Mei@GreenLeaf.tw",
            "--admin",
        ],
    );
    assert!(invite.status.success(), "{}", stderr(&invite));
    assert!(
        stdout(&invite).contains("send this link to mei@greenleaf.tw")
            && stdout(&invite).contains("/invite/")
    );
    let bad = truetrace(
        &db,
        &["admin", "invite", "--org", id, "--email", "not-an-address"],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("is not an e-mail address"),
        "{}",
        stderr(&bad)
    );

    let set = json_out(&truetrace(
        &db,
        &[
            "admin",
            "set-embed-origins",
            "--org",
            id,
            "--origin",
            "https://shop.example.com/",
        ],
    ));
    assert_eq!(
        set["origins"],
        serde_json::json!(["https://shop.example.com"])
    );
    let bad = truetrace(
        &db,
        &[
            "admin",
            "set-embed-origins",
            "--org",
            id,
            "--origin",
            "ftp://x",
        ],
    );
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains("must look like https://"),
        "{}",
        stderr(&bad)
    );
}

#[test]
fn a_pool_too_small_for_the_ledger_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("small.db").display());
    let out = truetrace(&db, &["serve", "--db-pool-size", "2"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--db-pool-size") && err.contains("4.."),
        "{err}"
    );
    assert!(
        !dir.path().join("small.db").exists(),
        "nothing may be created"
    );
}

/// A server killed (SIGKILL) while clients submit has lost none of the records it answered 201
/// to, and the store it leaves verifies, on both engines: no answer goes out before its commit,
/// and a commit cut short leaves nothing half-written. (A process crash leaves the operating
/// system's caches alone; what a power loss would take is the flush's part, which the tests in
/// src/db/wal.rs check.)
#[test]
fn a_killed_server_loses_no_acknowledged_record() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_database(backend, &dir);
        let key_file = dir.path().join("farm.key.json");
        let key_path = key_file.to_str().unwrap();
        assert!(
            truetrace(&db, &["keygen", "--out", key_path])
                .status
                .success()
        );
        let org = json_out(&truetrace(
            &db,
            &[
                "admin",
                "create-org",
                "--name",
                "Farm",
                "--role",
                "producer",
            ],
        ));
        let org_id = org["id"].as_str().unwrap().to_owned();
        json_out(&truetrace(
            &db,
            &[
                "admin",
                "enroll-key",
                "--org",
                &org_id,
                "--key-file",
                key_path,
            ],
        ));
        json_out(&register_paddy(&db));
        let key = truetrace::ledger::keyfile::KeyFile::read(&key_file)
            .and_then(|k| k.signing_key())
            .unwrap();

        let (mut server, base, _) = start_serve(&db);
        let clients: Vec<_> = (0..8)
            .map(|client| {
                let (base, farm) = (
                    base.clone(),
                    Org {
                        id: org_id.clone(),
                        key: key.clone(),
                    },
                );
                std::thread::spawn(move || {
                    let agent = agent();
                    let mut acknowledged = Vec::new();
                    for n in 0.. {
                        let record = harvest(&farm, PADDY, &format!("K{client}-{n}"), 5);
                        let sent = agent
                            .post(&format!("{base}/api/v1/records"))
                            .header("Content-Type", "application/json")
                            .send(&sign(&farm.key, &record)[..]);
                        match sent {
                            Ok(r) if r.status() == 201 => acknowledged.push(record_id(&record)),
                            Ok(r) => panic!("refused: {}", r.status()),
                            // The server is gone.
                            Err(_) => return acknowledged,
                        }
                    }
                    acknowledged
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1500));
        server.kill().expect("SIGKILL");
        server.wait().unwrap();
        let acknowledged: Vec<String> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        assert!(
            !acknowledged.is_empty(),
            "{backend:?}: nothing was accepted"
        );

        let (mut again, base, _) = start_serve(&db);
        let agent = agent();
        for id in &acknowledged {
            let status = agent
                .get(&format!("{base}/api/v1/records/{id}"))
                .call()
                .unwrap()
                .status();
            assert_eq!(
                status, 200,
                "{backend:?}: record {id} was answered 201 and is gone"
            );
        }
        again.kill().unwrap();
        again.wait().unwrap();
        let verified = truetrace(&db, &["verify"]);
        assert!(
            verified.status.success(),
            "{backend:?}: {} {}",
            stdout(&verified),
            stderr(&verified)
        );
        drop_database(&db);
    }
}

#[test]
fn submit_sends_a_directory_through_the_batch_endpoint_one_line_per_envelope() {
    let app = spawn_app(Backend::Sqlite);
    app.product(PADDY);
    let farm = app.org("Chishang Farm", &["producer"]);
    let mill = app.org("Chishang Mill", &["processor"]);
    let harvest = harvest(&farm, PADDY, "CLI-DIR", 0);
    let mut ship = on_lot("ship", &farm, PADDY, "CLI-DIR", &record_id(&harvest), 1);
    ship["to"] = serde_json::json!(mill.id);
    let receive = on_lot("receive", &mill, PADDY, "CLI-DIR", &record_id(&ship), 2);
    // Refused (its prev is not the head), and the rest goes on.
    let stale = on_lot("note", &farm, PADDY, "CLI-DIR", &"0".repeat(64), 3);

    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("queue");
    std::fs::create_dir(&queue).unwrap();
    // Sent in name order, not in the order written; files that are not *.json are left alone.
    let files = [
        ("03-receive.json", sign(&mill.key, &receive)),
        ("01-harvest.json", sign(&farm.key, &harvest)),
        ("02-ship.json", sign(&farm.key, &ship)),
        ("04-stale.json", sign(&farm.key, &stale)),
        ("05-broken.json", b"{not json".to_vec()),
        ("notes.txt", b"not an envelope".to_vec()),
    ];
    for (name, body) in &files {
        std::fs::write(queue.join(name), body).unwrap();
    }
    let queue_s = queue.to_str().unwrap();
    let before = app.log_size();
    let out = truetrace("unused", &["submit", "--server", app.address(), queue_s]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    let name = |file: &str| queue.join(file).display().to_string();
    // The refusals read as the server words them for the envelope alone.
    let stale_alone = app.submit(&sign(&farm.key, &stale));
    let broken_alone = app.submit(b"{not json");
    assert_eq!(
        lines,
        [
            format!(
                "{}  201  {} (log index {before})",
                name("01-harvest.json"),
                record_id(&harvest)
            ),
            format!(
                "{}  201  {} (log index {})",
                name("02-ship.json"),
                record_id(&ship),
                before + 1
            ),
            format!(
                "{}  201  {} (log index {})",
                name("03-receive.json"),
                record_id(&receive),
                before + 2
            ),
            format!(
                "{}  409  stale_prev: {} (head {})",
                name("04-stale.json"),
                stale_alone.message(),
                record_id(&receive)
            ),
            format!(
                "{}  400  malformed: {}",
                name("05-broken.json"),
                broken_alone.message()
            ),
        ]
    );
    assert!(
        stderr(&out).contains("5 envelopes: 3 stored, 0 already stored, 2 refused"),
        "{}",
        stderr(&out)
    );
    assert_eq!(app.log_size(), before + 3);

    // Without the bad ones, and with a file named beside the directory: all found, exit 0.
    std::fs::remove_file(queue.join("04-stale.json")).unwrap();
    std::fs::remove_file(queue.join("05-broken.json")).unwrap();
    let extra = dir.path().join("extra.json");
    std::fs::write(&extra, sign(&farm.key, &harvest)).unwrap();
    let again = truetrace(
        "unused",
        &[
            "submit",
            "--server",
            app.address(),
            queue_s,
            extra.to_str().unwrap(),
        ],
    );
    assert_eq!(
        again.status.code(),
        Some(0),
        "{}{}",
        stdout(&again),
        stderr(&again)
    );
    let again_out = stdout(&again);
    let statuses: Vec<&str> = again_out
        .lines()
        .map(|l| l.split("  ").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["200", "200", "200", "200"], "{again_out}");
    assert!(again_out.ends_with(&format!(
        "{}  200  {} (log index {before})\n",
        extra.display(),
        record_id(&harvest)
    )));
    assert_eq!(app.log_size(), before + 3);

    let empty = tempfile::tempdir().unwrap();
    let nothing = truetrace(
        "unused",
        &[
            "submit",
            "--server",
            app.address(),
            empty.path().to_str().unwrap(),
        ],
    );
    assert_eq!(nothing.status.code(), Some(2));
    assert!(
        stderr(&nothing).contains("no envelopes"),
        "{}",
        stderr(&nothing)
    );
}
