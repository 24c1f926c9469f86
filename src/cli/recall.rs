//! `recall`: a recall notice (or its lift) signed with the issuer's key and submitted like any
//! envelope. The lots are named as `GTIN/LOT` or by their Digital Link.

use crate::domain::RecordId;
use crate::domain::digital_link::parse_lot_reference;
use crate::ledger::envelope::{self, PayloadType};
use crate::ledger::keyfile::KeyFile;
use crate::ledger::recall::{Notice, NoticeJson, NoticeLotJson, RECALL_TYPE};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct RecallArgs {
    /// The issuer's key file (from `truetrace keygen`).
    #[arg(long, short)]
    pub key: PathBuf,
    /// The issuing organization's id (default: the key file's `org`).
    #[arg(long)]
    pub org: Option<String>,
    /// The server's base URL (default: the public URL setting).
    #[arg(long)]
    pub server: Option<String>,
    /// End the issuer's recall of these lots instead of issuing one.
    #[arg(long)]
    pub lift: bool,
    /// I (serious harm), II (temporary harm) or III (unlikely to harm); needed to recall.
    #[arg(long)]
    pub class: Option<String>,
    /// Why, in English (or give --reason-zh).
    #[arg(long)]
    pub reason: Option<String>,
    /// Why, in Traditional Chinese.
    #[arg(long)]
    pub reason_zh: Option<String>,
    /// What consumers and stores should do, in English.
    #[arg(long)]
    pub instructions: Option<String>,
    /// What consumers and stores should do, in Traditional Chinese.
    #[arg(long)]
    pub instructions_zh: Option<String>,
    /// Whom to contact (a phone number, an address).
    #[arg(long)]
    pub contact: Option<String>,
    /// Print the signed envelope instead of submitting it.
    #[arg(long)]
    pub print: bool,
    /// The lots: `GTIN/LOT` (such as 04712345000015/PADDY-2611-A) or a Digital Link URL.
    #[arg(required = true)]
    pub lots: Vec<String>,
}

pub fn recall(args: RecallArgs, default_server: String) -> ExitCode {
    let envelope = match sign(&args) {
        Ok(envelope) => envelope,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.print {
        println!("{envelope}");
        return ExitCode::SUCCESS;
    }
    let server = args.server.unwrap_or(default_server);
    super::submit::submit_one(server.trim_end_matches('/'), envelope.as_bytes())
}

/// The signed envelope, as JSON text; refused locally when the server would refuse its fields.
fn sign(args: &RecallArgs) -> Result<String, String> {
    let file = KeyFile::read(&args.key)?;
    let actor = args
        .org
        .clone()
        .or_else(|| file.org.clone())
        .ok_or("name the issuing organization with --org (the key file does not say)")?;
    let key = file.signing_key()?;
    let lots = args
        .lots
        .iter()
        .map(|l| parse_lot_reference(l))
        .collect::<Result<Vec<_>, _>>()?;
    let json = NoticeJson {
        notice_type: RECALL_TYPE.to_owned(),
        action: if args.lift { "lift" } else { "recall" }.to_owned(),
        actor,
        time: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        lots: lots
            .iter()
            .map(|k| NoticeLotJson {
                gtin: k.gtin.to_string(),
                lot: k.lot.to_string(),
            })
            .collect(),
        class: args.class.clone(),
        reason: args.reason.clone(),
        reason_zh: args.reason_zh.clone(),
        instructions: args.instructions.clone(),
        instructions_zh: args.instructions_zh.clone(),
        contact: args.contact.clone(),
    };
    let value = serde_json::to_value(&json).map_err(|e| e.to_string())?;
    Notice::from_value(value).map_err(|e| format!("the notice is not valid: {e}"))?;
    let payload = serde_json::to_vec(&json).map_err(|e| e.to_string())?;
    let signed = envelope::sign_as(PayloadType::Recall, &key, &payload);
    eprintln!("notice id: {}", RecordId::of_payload(&payload));
    serde_json::to_string(&signed.to_json()).map_err(|e| e.to_string())
}
