//! Signed checkpoints (C2SP tlog-checkpoint) and the log's own Ed25519 key.
//!
//! A checkpoint is a signed note (C2SP signed-note, read and written with the `signed_note`
//! crate) whose text is the log's origin, the tree size and the base64 root hash. The log's key
//! is kept outside the database, in the Go note format `PRIVATE+KEY+<name>+<id>+<base64>`:
//! `TRUETRACE_LOG_KEY`, or the file `TRUETRACE_LOG_KEY_FILE`, created (mode 0600) on first
//! start. The key's name is the log's origin. A key file may hold several keys, one a line (a
//! rotation, docs/transparency.md): every checkpoint is signed by each of them.

use super::merkle::Hash;
use crate::settings::Settings;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{SigningKey, VerifyingKey};
use signed_note::{Note, Signer as _, StandardSigner, VerifierList};
use std::io::Write as _;
use zeroize::Zeroizing;

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;

/// A tree head: what a checkpoint says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, each ending in a newline.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Reads a checkpoint's note text (extension lines are allowed and ignored).
    pub fn parse_text(text: &str) -> Result<Self, String> {
        let mut lines = text.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty());
        let size = lines.next();
        let root = lines.next();
        let (Some(origin), Some(size), Some(root)) = (origin, size, root) else {
            return Err("a checkpoint has an origin, a size and a root hash, one a line".into());
        };
        let size: u64 = match size.parse::<u64>() {
            Ok(n) if size == n.to_string() => n,
            _ => {
                return Err(format!(
                    "the checkpoint's size {size:?} is not a decimal number without leading zeros"
                ));
            }
        };
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("the checkpoint's root {root:?} is not 32 bytes of base64"))?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// A note verifier key (`<name>+<hex id>+<base64(0x01 || key)>`), checked with `verify_strict`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl LogVerifier {
    /// Reads a verifier key as `GET /api/v1/log/key` prints it.
    pub fn parse(vkey: &str) -> Result<Self, String> {
        let vkey = vkey.trim();
        let bad = |why: &str| format!("{vkey:?} is not a log verifier key: {why}");
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<key id>+<base64 key>"));
        };
        if !signed_note::is_key_name_valid(name) {
            return Err(bad("the name is empty or holds a space or a plus"));
        }
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key id is 8 hex digits"));
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| bad("the key id is 8 hex digits"))?;
        let material = B64
            .decode(key)
            .map_err(|_| bad("the key is not standard base64"))?;
        let [alg, rest @ ..] = material.as_slice() else {
            return Err(bad("the key is empty"));
        };
        if *alg != ED25519 {
            return Err(bad("only Ed25519 keys (type 0x01) are known"));
        }
        let bytes: [u8; 32] = rest
            .try_into()
            .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("not an Ed25519 point"))?;
        if key.is_weak() {
            return Err(bad("a weak (small-order) key"));
        }
        if signed_note::key_id(name, &material) != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    pub fn of(name: &str, key: &VerifyingKey) -> Self {
        let material = [&[ED25519][..], key.as_bytes()].concat();
        Self {
            name: name.to_owned(),
            id: signed_note::key_id(name, &material),
            key: *key,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The verifier key's text.
    pub fn to_vkey(&self) -> String {
        signed_note::new_ed25519_verifier_key(&self.name, &self.key)
    }
}

impl signed_note::Verifier for LogVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.key
            .verify_strict(msg, &ed25519_dalek::Signature::from_bytes(&sig))
            .is_ok()
    }
}

/// Checks a signed checkpoint with the log's verifier key and reads it; the origin must be the
/// key's name. Names what fails: the note's form, the signature, or the text.
pub fn open(note: &str, verifier: &LogVerifier) -> Result<Checkpoint, String> {
    let parsed = Note::from_bytes(note.as_bytes())
        .map_err(|e| format!("the checkpoint is not a signed note: {e}"))?;
    let known = VerifierList::new(vec![Box::new(verifier.clone())]);
    parsed.verify(&known).map_err(|e| match e {
        signed_note::NoteError::UnverifiedNote => format!(
            "the checkpoint carries no signature by the log key {}",
            verifier.to_vkey()
        ),
        other => format!("the checkpoint's signature does not verify: {other}"),
    })?;
    let text = std::str::from_utf8(parsed.text())
        .map_err(|_| "the checkpoint's text is not UTF-8".to_owned())?;
    let checkpoint = Checkpoint::parse_text(text)?;
    if checkpoint.origin != verifier.name {
        return Err(format!(
            "the checkpoint's origin {:?} is not the log key's name {:?}",
            checkpoint.origin, verifier.name
        ));
    }
    Ok(checkpoint)
}

/// The text of a signed note, unverified (for comparing a stored checkpoint's tree head).
pub fn note_text(note: &str) -> Result<String, String> {
    let parsed = Note::from_bytes(note.as_bytes())
        .map_err(|e| format!("the checkpoint is not a signed note: {e}"))?;
    String::from_utf8(parsed.text().to_vec()).map_err(|_| "the checkpoint is not UTF-8".into())
}

/// The log's signing key(s).
pub struct LogKey {
    signers: Vec<(StandardSigner, LogVerifier)>,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("verifiers", &self.verifier_keys())
            .finish()
    }
}

impl LogKey {
    /// The configured key, else the key file, else a new key file named for the log's origin
    /// (`default_origin`).
    pub fn load(settings: &Settings) -> Result<Self, String> {
        if let Some(text) = settings.log_key.as_deref().filter(|t| !t.is_empty()) {
            return Self::from_text(text, "TRUETRACE_LOG_KEY");
        }
        let path = &settings.log_key_file;
        let source = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_text(&text, &source),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let text = Self::generate_text(&default_origin(settings))?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(text.as_bytes())
                            .map_err(|e| format!("cannot write {source}: {e}"))?;
                        let key = Self::from_text(&text, "the new log key")?;
                        tracing::info!(file = %source, vkey = %key.verifier_keys()[0], "created the transparency log's signing key; back it up and publish its verifier key");
                        Ok(key)
                    }
                    // Another server created it meanwhile.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        let text = std::fs::read_to_string(path)
                            .map_err(|e| format!("cannot read {source}: {e}"))?;
                        Self::from_text(&text, &source)
                    }
                    Err(e) => Err(format!("cannot create {source}: {e}")),
                }
            }
            Err(e) => Err(format!("cannot read {source}: {e}")),
        }
    }

    /// The verifier key(s) of the configured log key, without creating one.
    pub fn configured_verifiers(settings: &Settings) -> Result<Vec<LogVerifier>, String> {
        let text = match settings.log_key.as_deref().filter(|t| !t.is_empty()) {
            Some(text) => Zeroizing::new(text.to_owned()),
            None => Zeroizing::new(
                std::fs::read_to_string(&settings.log_key_file)
                    .map_err(|e| format!("cannot read {}: {e}", settings.log_key_file.display()))?,
            ),
        };
        Ok(Self::from_text(&text, "the log key")?
            .signers
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// A new key named `origin`, as the text of a key file.
    pub fn generate_text(origin: &str) -> Result<String, String> {
        if !signed_note::is_key_name_valid(origin) {
            return Err(format!(
                "the log origin {origin:?} may not be empty or hold spaces or a plus"
            ));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        crate::random::fill(seed.as_mut()).map_err(|e| e.to_string())?;
        let key = SigningKey::from_bytes(&seed);
        let public = [&[ED25519][..], key.verifying_key().as_bytes()].concat();
        let private = Zeroizing::new([&[ED25519][..], seed.as_ref()].concat());
        Ok(format!(
            "PRIVATE+KEY+{origin}+{:08x}+{}\n",
            signed_note::key_id(origin, &public),
            B64.encode(private.as_slice())
        ))
    }

    /// Reads one key a line (blank lines and lines starting with `#` skipped); every key must
    /// have the same name, the log's origin.
    pub fn from_text(text: &str, source: &str) -> Result<Self, String> {
        let mut signers = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let signer = StandardSigner::new(line).map_err(|e| {
                format!(
                    "{source} holds a line that is not a note signing key (PRIVATE+KEY+...): {e}"
                )
            })?;
            // PRIVATE+KEY+<name>+<id>+<base64>: the key may hold a plus itself.
            let seed: [u8; 32] = line
                .splitn(5, '+')
                .nth(4)
                .and_then(|b| B64.decode(b).ok())
                .and_then(|b| b.get(1..).and_then(|s| s.try_into().ok()))
                .ok_or_else(|| format!("{source}: a key is not 32 bytes"))?;
            let verifier = LogVerifier::of(
                signer.name(),
                &SigningKey::from_bytes(&seed).verifying_key(),
            );
            signers.push((signer, verifier));
        }
        let Some((first, _)) = signers.first() else {
            return Err(format!("{source} holds no log key"));
        };
        if signers.iter().any(|(s, _)| s.name() != first.name()) {
            return Err(format!(
                "{source}: every log key must carry the same name, the log's origin"
            ));
        }
        Ok(Self { signers })
    }

    /// The log's origin: its keys' name.
    pub fn origin(&self) -> &str {
        self.signers[0].1.name()
    }

    /// The verifier keys, one for each signing key, the first being the current one.
    pub fn verifier_keys(&self) -> Vec<String> {
        self.signers.iter().map(|(_, v)| v.to_vkey()).collect()
    }

    pub fn verifiers(&self) -> Vec<LogVerifier> {
        self.signers.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The signed note of the checkpoint of a tree of `size` leaves with this root.
    pub fn sign(&self, size: u64, root: &Hash) -> Result<String, String> {
        let checkpoint = Checkpoint {
            origin: self.origin().to_owned(),
            size,
            root: *root,
        };
        let mut note = Note::new(checkpoint.text().as_bytes(), &[])
            .map_err(|e| format!("cannot make the checkpoint note: {e}"))?;
        let signers: Vec<&dyn signed_note::Signer> = self
            .signers
            .iter()
            .map(|(s, _)| s as &dyn signed_note::Signer)
            .collect();
        note.add_sigs(&signers)
            .map_err(|e| format!("cannot sign the checkpoint: {e}"))?;
        String::from_utf8(note.to_bytes()).map_err(|_| "the checkpoint is not UTF-8".to_owned())
    }
}

/// The configured origin, else the public URL without its scheme: C2SP tlog-tiles names a log
/// by the prefix its `checkpoint` and `tile/` are served under, here the site's root.
pub fn default_origin(settings: &Settings) -> String {
    if let Some(origin) = settings.log_origin.as_deref().filter(|o| !o.is_empty()) {
        return origin.to_owned();
    }
    let url = settings.public_url();
    url.split_once("://")
        .map_or(url.as_str(), |(_, rest)| rest)
        .trim_end_matches('/')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of c2sp.org/signed-note: this verifier key verifies this note.
    const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
    const SPEC_NOTE: &str = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";

    #[test]
    fn the_signed_note_spec_example_verifies_and_a_changed_byte_does_not() {
        let verifier = LogVerifier::parse(SPEC_VKEY).unwrap();
        assert_eq!(verifier.to_vkey(), SPEC_VKEY);
        let note = Note::from_bytes(SPEC_NOTE.as_bytes()).unwrap();
        let known = VerifierList::new(vec![Box::new(verifier.clone())]);
        assert!(note.verify(&known).is_ok());
        let changed = SPEC_NOTE.replace("example message", "example massage");
        let note = Note::from_bytes(changed.as_bytes()).unwrap();
        assert!(note.verify(&known).is_err());
        // It is not a checkpoint, and says so.
        assert!(
            open(SPEC_NOTE, &verifier)
                .unwrap_err()
                .contains("checkpoint")
        );
    }

    #[test]
    fn checkpoints_are_signed_and_opened() {
        let key =
            LogKey::from_text(&LogKey::generate_text("trace.example/log").unwrap(), "t").unwrap();
        let root = [7u8; 32];
        let note = key.sign(42, &root).unwrap();
        let lines: Vec<&str> = note.lines().collect();
        assert_eq!(lines[0], "trace.example/log");
        assert_eq!(lines[1], "42");
        assert_eq!(lines[2], B64.encode(root));
        assert_eq!(lines[3], "");
        assert!(lines[4].starts_with("— trace.example/log "));
        let verifier = LogVerifier::parse(&key.verifier_keys()[0]).unwrap();
        let opened = open(&note, &verifier).unwrap();
        assert_eq!(opened.size, 42);
        assert_eq!(opened.root, root);
        // Signing is deterministic: two servers with one key sign the same note.
        assert_eq!(key.sign(42, &root).unwrap(), note);

        let other =
            LogKey::from_text(&LogKey::generate_text("trace.example/log").unwrap(), "t").unwrap();
        let err = open(&note, &other.verifiers()[0]).unwrap_err();
        assert!(err.contains("no signature by the log key"), "{err}");
        let forged = note.replace("\n42\n", "\n43\n");
        let err = open(&forged, &verifier).unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
    }

    #[test]
    fn bad_verifier_keys_are_named() {
        for (bad, why) in [
            ("example.com/foo", "expected"),
            (
                "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "key id",
            ),
            (
                "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYc",
                "32 bytes",
            ),
            (
                "example.com/foo+530d90+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                "8 hex",
            ),
        ] {
            let err = LogVerifier::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn a_rotated_key_file_signs_with_both_keys() {
        let text = format!(
            "{}# the new key\n{}",
            LogKey::generate_text("t.example/log").unwrap(),
            LogKey::generate_text("t.example/log").unwrap()
        );
        let key = LogKey::from_text(&text, "t").unwrap();
        let note = key.sign(1, &[1; 32]).unwrap();
        for vkey in key.verifier_keys() {
            open(&note, &LogVerifier::parse(&vkey).unwrap()).unwrap();
        }
        let mixed = format!(
            "{}{}",
            LogKey::generate_text("a.example/log").unwrap(),
            LogKey::generate_text("b.example/log").unwrap()
        );
        assert!(
            LogKey::from_text(&mixed, "t")
                .unwrap_err()
                .contains("same name")
        );
    }
}
