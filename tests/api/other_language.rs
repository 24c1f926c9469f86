//! A client written in another language from DESIGN.md alone (docs/examples/sign_and_submit.py,
//! Python with the `cryptography` package) enrolls, signs and submits against the real server.

use crate::helpers::*;
use std::process::Command;

#[test]
fn the_python_example_client_works_against_the_server() {
    let probe = Command::new("python3")
        .args(["-c", "import cryptography"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "note: Python client test skipped: python3 with the `cryptography` package is not installed (pip install cryptography)"
        );
        return;
    }
    for backend in backends() {
        let app = spawn_app(backend);
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/examples/sign_and_submit.py"
        );
        let out = Command::new("python3")
            .args([script, "--server", app.address(), "--admin-token", TOKEN])
            .output()
            .expect("python3 runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("submit harvest: 201"), "{stdout}");
        assert!(
            stdout.contains("submit a fork on the old head: 409"),
            "{stdout}"
        );
        assert_eq!(app.log_size(), 2);
    }
}
