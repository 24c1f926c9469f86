//! `submit`: envelopes to a server, one alone (its answer printed as it came) or many through the
//! batch endpoint, one line per envelope.

use super::read_input;
use crate::http::api::records::{BatchResponse, BatchResult, SubmitAnswer};
use crate::ledger::ingest::{MAX_BATCH_BODY_BYTES, MAX_BATCH_ENVELOPES, MAX_BODY_BYTES};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::value::RawValue;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;

/// An envelope to send, and the name it is printed under.
struct Input {
    name: String,
    body: Vec<u8>,
}

/// Exit 0 when the server accepted (201) or already had (200) every envelope, 1 when it refused
/// any, 2 when it could not be reached or an input could not be read.
pub fn submit(server: &str, paths: &[PathBuf]) -> ExitCode {
    let base = server.trim_end_matches('/');
    let alone = match paths {
        [] => Some(None),
        [path] if !path.is_dir() => Some(Some(path.as_path())),
        _ => None,
    };
    if let Some(path) = alone {
        return match read_input(path) {
            Ok(body) => submit_one(base, &body),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let inputs = match collect(paths) {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match submit_many(base, &inputs) {
        Ok(tally) => {
            eprintln!(
                "{} envelopes: {} stored, {} already stored, {} refused",
                inputs.len(),
                tally.created,
                tally.present,
                tally.refused
            );
            if tally.refused == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

pub(super) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs a JSON body: the status and the answer's text.
pub(super) fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(u16, String), String> {
    let mut response = agent
        .post(url)
        .content_type("application/json")
        .send(body)
        .map_err(|e| format!("cannot reach {url}: {e}"))?;
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("cannot read the answer of {url}: {e}"))?;
    Ok((response.status().as_u16(), text))
}

/// One envelope to `POST /api/v1/records`, printed as `STATUS BODY`.
pub(super) fn submit_one(base: &str, body: &[u8]) -> ExitCode {
    match post(&agent(), &format!("{base}/api/v1/records"), body) {
        Ok((status, text)) => {
            println!("{status} {text}");
            if (200..300).contains(&status) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The envelopes named by `paths`, in order: a file as it is, a directory's `*.json` files by
/// name, `-` for stdin.
fn collect(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut inputs = Vec::new();
    for path in paths {
        if !path.is_dir() {
            inputs.push(Input {
                name: path.display().to_string(),
                body: read_input(Some(path))?,
            });
            continue;
        }
        let entries =
            std::fs::read_dir(path).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let file = entry
                .map_err(|e| format!("cannot list {}: {e}", path.display()))?
                .path();
            if file.is_file() && file.extension().is_some_and(|ext| ext == "json") {
                files.push(file);
            }
        }
        files.sort();
        for file in files {
            inputs.push(Input {
                name: file.display().to_string(),
                body: read_input(Some(&file))?,
            });
        }
    }
    if inputs.is_empty() {
        return Err("no envelopes to submit (a directory's envelopes are its *.json files)".into());
    }
    Ok(inputs)
}

/// How a run went.
#[derive(Default)]
struct Tally {
    created: usize,
    present: usize,
    refused: usize,
}

/// How the envelopes travel, in their order.
enum Request {
    /// Consecutive envelopes in one `POST /api/v1/records/batch`.
    Batch(Range<usize>),
    /// One envelope that a batch cannot carry (it is not one JSON value, or it is over the size
    /// limit of an envelope), sent to `POST /api/v1/records` for the server's own answer.
    Alone(usize),
}

/// `{"envelopes":[` and `]}`.
const BATCH_FRAME_BYTES: usize = 16;

/// Cuts the envelopes into requests of up to `MAX_BATCH_ENVELOPES` and under
/// `MAX_BATCH_BODY_BYTES`, keeping their order.
fn plan(inputs: &[Input]) -> Vec<Request> {
    let mut requests = Vec::new();
    let mut open: Option<(Range<usize>, usize)> = None;
    for (i, input) in inputs.iter().enumerate() {
        let batchable = input.body.len() <= MAX_BODY_BYTES
            && serde_json::from_slice::<&RawValue>(&input.body).is_ok();
        if let Some((range, bytes)) = &mut open
            && batchable
            && range.len() < MAX_BATCH_ENVELOPES
            && *bytes + 1 + input.body.len() <= MAX_BATCH_BODY_BYTES
        {
            range.end = i + 1;
            *bytes += 1 + input.body.len();
            continue;
        }
        if let Some((range, _)) = open.take() {
            requests.push(Request::Batch(range));
        }
        if batchable {
            open = Some((i..i + 1, BATCH_FRAME_BYTES + input.body.len()));
        } else {
            requests.push(Request::Alone(i));
        }
    }
    if let Some((range, _)) = open {
        requests.push(Request::Batch(range));
    }
    requests
}

fn batch_body(inputs: &[Input]) -> Vec<u8> {
    let size = BATCH_FRAME_BYTES + inputs.iter().map(|i| i.body.len() + 1).sum::<usize>();
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(br#"{"envelopes":["#);
    for (i, input) in inputs.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&input.body);
    }
    body.extend_from_slice(b"]}");
    body
}

/// Sends every envelope, printing one line per envelope as its answer comes; an error only when
/// the server could not be reached or answered out of turn.
fn submit_many(base: &str, inputs: &[Input]) -> Result<Tally, String> {
    let agent = agent();
    let requests = plan(inputs);
    let bar = ProgressBar::new(inputs.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} submitting [{bar:40}] {pos}/{len} envelopes ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    // A run of one request is over before a bar would say anything.
    if requests.len() < 2 {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut tally = Tally::default();
    for request in requests {
        let (range, results) = match request {
            Request::Batch(range) => {
                let url = format!("{base}/api/v1/records/batch");
                let (status, text) = post(&agent, &url, &batch_body(&inputs[range.clone()]))?;
                (range.clone(), batch_results(status, &text, range.len())?)
            }
            Request::Alone(i) => {
                let url = format!("{base}/api/v1/records");
                let (status, text) = post(&agent, &url, &inputs[i].body)?;
                (i..i + 1, vec![single_result(status, &text)?])
            }
        };
        bar.suspend(|| {
            for (input, result) in inputs[range].iter().zip(&results) {
                println!("{}", line(&input.name, result));
            }
        });
        for result in &results {
            match (result.status, &result.body) {
                (201, SubmitAnswer::Stored(_)) => tally.created += 1,
                (200, SubmitAnswer::Stored(_)) => tally.present += 1,
                _ => tally.refused += 1,
            }
        }
        bar.inc(results.len() as u64);
    }
    bar.finish_and_clear();
    Ok(tally)
}

/// A batch's answer: one result per envelope sent. When the batch as a whole is refused (503,
/// say), each of its envelopes has that answer.
pub(super) fn batch_results(
    status: u16,
    text: &str,
    sent: usize,
) -> Result<Vec<BatchResult>, String> {
    if status != 200 {
        return Ok(vec![single_result(status, text)?; sent]);
    }
    let answer: BatchResponse = serde_json::from_str(text)
        .map_err(|e| format!("the server's batch answer is not understood: {e}"))?;
    if answer.results.len() != sent {
        return Err(format!(
            "the server answered {} results for {sent} envelopes",
            answer.results.len()
        ));
    }
    Ok(answer.results)
}

/// A single submission's answer, as a batch would have given it.
fn single_result(status: u16, text: &str) -> Result<BatchResult, String> {
    let body = serde_json::from_str(text).map_err(|_| {
        format!("the server answered {status} with a body that is not the API's: {text:?}")
    })?;
    Ok(BatchResult { status, body })
}

/// `NAME  STATUS  ID` or `NAME  STATUS  CODE: MESSAGE`.
pub(super) fn line(name: &str, result: &BatchResult) -> String {
    let detail = match &result.body {
        SubmitAnswer::Stored(stored) => format!("{} (log index {})", stored.id, stored.log_index),
        SubmitAnswer::Refused(refused) => match &refused.head {
            Some(head) => format!("{}: {} (head {head})", refused.error, refused.message),
            None => format!("{}: {}", refused.error, refused.message),
        },
    };
    format!("{name}  {}  {detail}", result.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(body: &[u8]) -> Input {
        Input {
            name: "x.json".into(),
            body: body.to_vec(),
        }
    }

    fn ranges(requests: &[Request]) -> Vec<String> {
        requests
            .iter()
            .map(|r| match r {
                Request::Batch(range) => format!("batch {range:?}"),
                Request::Alone(i) => format!("alone {i}"),
            })
            .collect()
    }

    #[test]
    fn batches_hold_at_most_the_limit_and_keep_the_order() {
        let inputs: Vec<Input> = (0..2_001).map(|_| input(b"{}")).collect();
        assert_eq!(
            ranges(&plan(&inputs)),
            ["batch 0..1000", "batch 1000..2000", "batch 2000..2001"]
        );
    }

    #[test]
    fn what_a_batch_cannot_carry_goes_alone_in_its_place() {
        let big = format!("\"{}\"", "x".repeat(MAX_BODY_BYTES));
        let inputs = [
            input(b"{}"),
            input(b"not json"),
            input(b"{}"),
            input(big.as_bytes()),
            input(b" {} \n"),
        ];
        assert_eq!(
            ranges(&plan(&inputs)),
            [
                "batch 0..1",
                "alone 1",
                "batch 2..3",
                "alone 3",
                "batch 4..5"
            ]
        );
        let body = batch_body(&inputs[..1]);
        assert_eq!(body.len(), BATCH_FRAME_BYTES + 2);
    }

    #[test]
    fn batches_stay_under_the_body_limit() {
        let envelope = format!("\"{}\"", "x".repeat(MAX_BODY_BYTES - 2));
        let inputs: Vec<Input> = (0..300).map(|_| input(envelope.as_bytes())).collect();
        let requests = plan(&inputs);
        for request in &requests {
            let Request::Batch(range) = request else {
                panic!("every envelope fits a batch")
            };
            assert!(batch_body(&inputs[range.clone()]).len() <= MAX_BATCH_BODY_BYTES);
        }
        // 8 MiB holds 127 envelopes of 64 KiB with the commas and the frame.
        assert_eq!(
            ranges(&requests),
            ["batch 0..127", "batch 127..254", "batch 254..300"]
        );
    }
}
