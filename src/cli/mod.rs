//! The `truetrace` command line. Every subcommand reads the same settings as `serve`.

mod admin;
pub mod demo;
mod epcis;
mod fsma;
pub mod log;
mod recall;
mod serve;
mod sign;
mod submit;
mod trace;
mod verify;

use crate::settings::Settings;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "truetrace",
    version,
    about = "Farm-to-shelf traceability: signed, hash-chained records behind GS1 Digital Link QR codes"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (API and pages).
    Serve {
        /// Seed the demo story first (once) and print the URLs to open.
        #[arg(long)]
        demo: bool,
        /// Where the demo keeps its organizations' signing keys.
        #[arg(long, default_value = "truetrace-demo")]
        demo_dir: PathBuf,
    },
    /// Seed the demo story into the database through the signed submission path, then exit.
    Demo {
        #[arg(long, default_value = "truetrace-demo")]
        demo_dir: PathBuf,
    },
    /// Make a new Ed25519 signing key; writes a key file (mode 0600) and prints the public key and keyid.
    Keygen {
        /// The key file to write.
        #[arg(long, short)]
        out: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Sign a record (JSON, from a file or stdin) into a DSSE envelope, printed on stdout.
    Sign {
        /// The key file (from `truetrace keygen`).
        #[arg(long, short)]
        key: PathBuf,
        /// The record JSON file; `-` or nothing reads stdin.
        record: Option<PathBuf>,
        /// Set the record's time to now.
        #[arg(long)]
        now: bool,
    },
    /// Submit envelopes to a server and print its answers. One file (or stdin) is sent alone and
    /// its answer printed as it came; several files or a directory go through the batch endpoint,
    /// with one line per envelope. Exits 0 when every one is stored, 1 when any is refused, 2
    /// when the server cannot be reached or a file read.
    Submit {
        /// The server's base URL (default: the public URL setting).
        #[arg(long)]
        server: Option<String>,
        /// Envelope files, and directories whose `*.json` files are sent in name order; `-` or
        /// nothing reads one envelope from stdin.
        envelopes: Vec<PathBuf>,
    },
    /// Verify the whole store: ids, signatures, keys, chains, custody and derived state.
    /// Exits 0 when everything holds, 1 when a record is broken (each is named), 2 when it cannot run.
    Verify {
        /// Print only problems and the summary line.
        #[arg(long)]
        quiet: bool,
        /// The log's verifier key (or a file holding it) to check the latest checkpoint's
        /// signature with; default: the configured log key.
        #[arg(long)]
        log_key: Option<String>,
    },
    /// Trace a lot through transforms and packs, read from the configured database: backward (what
    /// it was made from, the default) or forward (what was made from it, and the stores that
    /// received it). Prints an indented tree, or with --json the API's answer.
    Trace {
        /// The lot's GTIN-14.
        gtin: String,
        /// The lot code.
        lot: String,
        /// Follow what was made from the lot.
        #[arg(long, conflicts_with = "backward")]
        forward: bool,
        /// Follow what the lot was made from (the default).
        #[arg(long)]
        backward: bool,
        /// Print the API's JSON body.
        #[arg(long)]
        json: bool,
        /// Lots per page (default 1000, at most 5000).
        #[arg(long)]
        limit: Option<String>,
        /// Where to start: the next_cursor of the page before.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Issue a recall of lots (everything made from them is covered too), or with --lift end
    /// one: the notice is signed with the issuer's key and submitted to the server. Exits 0 when
    /// the server stores it, 1 when it refuses it (the answer says why), 2 when it cannot run.
    Recall(recall::RecallArgs),
    /// Check a lot's provenance bundle (GET /api/v1/lots/{gtin}/{lot}/bundle) offline with the
    /// log's verifier key: every signature, key validity, chain link and inclusion proof, and
    /// the checkpoint's signature. Exits 0 when all hold, 1 naming each failure, 2 when it
    /// cannot run.
    VerifyBundle {
        /// The bundle (JSON); `-` reads stdin.
        file: PathBuf,
        /// The log's verifier key (as GET /api/v1/log/key prints it), or a file holding it.
        #[arg(long)]
        log_key: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check that a newer signed checkpoint extends an older one: both signatures, then the
    /// consistency proof asked of the server. Exits 1 with both checkpoints when they are
    /// inconsistent.
    CheckCheckpoint {
        /// The older checkpoint (a signed note, as GET /api/v1/log/checkpoint gives it).
        old: PathBuf,
        /// The newer checkpoint.
        new: PathBuf,
        /// The log's verifier key, or a file holding it.
        #[arg(long)]
        log_key: String,
        /// The server to ask for the consistency proof (default: the public URL setting).
        #[arg(long)]
        server: Option<String>,
    },
    /// Follow a server's checkpoints: each must carry the log's signature and extend the last
    /// one seen. Exits 1 with the evidence (the two signed checkpoints) when one does not.
    Monitor {
        /// The server's base URL.
        #[arg(long)]
        server: String,
        /// The log's verifier key, or a file holding it (without it, the key the server shows
        /// at the first look is trusted from then on).
        #[arg(long)]
        log_key: Option<String>,
        /// A file keeping the last checkpoint seen, across runs.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Seconds between two looks.
        #[arg(long, default_value_t = 5)]
        interval: u64,
        /// Look once and exit (for cron).
        #[arg(long)]
        once: bool,
    },
    /// The FDA's electronic sortable spreadsheet (FSMA 204) of lots, a recall or a date range, from the
    /// configured database: one row per critical tracking event with its key data elements. The
    /// completeness report (what each event lacks) goes to stderr.
    Fsma204 {
        /// A lot, GTIN/LOT; repeat for several. Their trace closure both ways is included unless
        /// --lots-only.
        #[arg(long = "lot")]
        lots: Vec<String>,
        /// The first day, YYYY-MM-DD (with --to).
        #[arg(long)]
        from: Option<String>,
        /// The last day, YYYY-MM-DD (with --from).
        #[arg(long)]
        to: Option<String>,
        /// Only the lots named, not what they were made from or what was made from them.
        #[arg(long)]
        lots_only: bool,
        /// A recall in force, by its notice's record id: every lot it covers (the lots it names
        /// and every lot made from them), instead of --lot.
        #[arg(long)]
        recall: Option<String>,
        /// csv, xlsx or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write to this file (needed for xlsx) instead of stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// EPCIS 2.0: import a partner's document as signed records.
    Epcis {
        #[command(subcommand)]
        command: EpcisCommand,
    },
    /// Administration on the configured database: organizations, keys, products, the admin token.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum EpcisCommand {
    /// Check an EPCIS 2.0 JSON(-LD) document against the official schema, map each event to a
    /// record of the key's organization, sign them with the key and submit them through the
    /// batch endpoint; one line per event. Events truetrace cannot express are refused, each
    /// named with the reason. Exits 0 when every event is stored, 1 when any is refused, 2 when
    /// the document, the key or the server cannot be had.
    Import {
        /// The EPCIS document.
        document: PathBuf,
        /// The key file (from `truetrace keygen`) of the organization the events are by.
        #[arg(long, short)]
        key: PathBuf,
        /// The organization, when the key file does not name it.
        #[arg(long)]
        org: Option<String>,
        /// The server's base URL (default: the public URL setting).
        #[arg(long)]
        server: Option<String>,
    },
}

pub fn run(cli: Cli) -> ExitCode {
    let settings = cli.settings;
    let result = match cli.command {
        Command::Serve { demo, demo_dir } => {
            serve::serve(&settings, demo.then_some(demo_dir.as_path()))
        }
        Command::Demo { demo_dir } => serve::demo(&settings, &demo_dir),
        Command::Keygen { out, force } => sign::keygen(&out, force),
        Command::Sign { key, record, now } => sign::sign(&key, record.as_deref(), now),
        Command::Submit { server, envelopes } => {
            let server = server.unwrap_or_else(|| settings.public_url());
            return submit::submit(&server, &envelopes);
        }
        Command::Verify { quiet, log_key } => {
            return verify::verify(&settings, quiet, log_key.as_deref());
        }
        Command::Trace {
            gtin,
            lot,
            forward,
            backward: _,
            json,
            limit,
            cursor,
        } => trace::trace(
            &settings,
            trace::TraceArgs {
                gtin,
                lot,
                forward,
                json,
                limit,
                cursor,
            },
        ),
        Command::Recall(args) => return recall::recall(args, settings.public_url()),
        Command::VerifyBundle {
            file,
            log_key,
            json,
        } => return log::verify_bundle(&file, &log_key, json),
        Command::CheckCheckpoint {
            old,
            new,
            log_key,
            server,
        } => {
            let server = server.unwrap_or_else(|| settings.public_url());
            return log::check_checkpoint(&old, &new, &log_key, &server);
        }
        Command::Monitor {
            server,
            log_key,
            state,
            interval,
            once,
        } => {
            return log::monitor(&log::MonitorArgs {
                server,
                log_key,
                state,
                interval,
                once,
            });
        }
        Command::Fsma204 {
            lots,
            from,
            to,
            lots_only,
            recall,
            format,
            out,
        } => fsma::sheet(
            &settings,
            fsma::SheetArgs {
                lots,
                from,
                to,
                lots_only,
                recall,
                format,
                out,
            },
        ),
        Command::Epcis {
            command:
                EpcisCommand::Import {
                    document,
                    key,
                    org,
                    server,
                },
        } => {
            let server = server.unwrap_or_else(|| settings.public_url());
            return epcis::import(&server, &document, &key, org.as_deref());
        }
        Command::Admin { command } => admin::run(&settings, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// Reads a file, or stdin for `-` or no path.
fn read_input(path: Option<&std::path::Path>) -> Result<Vec<u8>, String> {
    use std::io::Read;
    match path {
        Some(p) if p.as_os_str() != "-" => {
            std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            Ok(buf)
        }
    }
}
