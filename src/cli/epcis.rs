//! `truetrace epcis import DOC --key KEY`: an EPCIS 2.0 document checked against the official
//! schema, each event mapped to a record of the key's organization (`exchange::epcis`), signed
//! with the key, and the records submitted in one batch; one line per event. Lots, parties and
//! the events recorded before are looked up on the server (`GET /api/v1/lots/...`,
//! `GET /api/v1/orgs?gln=`, `GET /api/v1/epcis/events`).

use super::submit::{agent, batch_results, line, post};
use crate::domain::epcis::gln_of;
use crate::domain::{LotKey, OrgId, RecordId};
use crate::exchange::epcis::{Lookup, MapError, Mapped, Recorded, check_schema, map_document};
use crate::http::api::epcis::{EventResponse, envelopes, results};
use crate::ledger::keyfile::KeyFile;
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;

/// The server's view, over its public API.
struct HttpLookup {
    agent: ureq::Agent,
    base: String,
}

impl HttpLookup {
    fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let url = format!("{}{path}", self.base);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        match response.status().as_u16() {
            200 => {
                let text = response
                    .body_mut()
                    .read_to_string()
                    .map_err(|e| format!("cannot read the answer of {url}: {e}"))?;
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| format!("{url} answered something that is not JSON: {e}"))
            }
            400 | 404 => Ok(None),
            other => Err(format!("{url} answered {other}")),
        }
    }
}

fn segment(text: &str) -> String {
    crate::domain::digital_link::path_segment(text)
}

impl Lookup for HttpLookup {
    fn head(&mut self, key: &LotKey) -> Result<Option<RecordId>, String> {
        let found = self.get(&format!(
            "/api/v1/lots/{}/{}",
            key.gtin,
            segment(key.lot.as_str())
        ))?;
        found
            .and_then(|lot| lot["head"].as_str().map(RecordId::parse))
            .transpose()
    }

    fn org(&mut self, uri: &str) -> Result<Option<OrgId>, String> {
        if let Some(id) = uri.strip_prefix("urn:uuid:") {
            let Ok(id) = OrgId::parse(id) else {
                return Ok(None);
            };
            return Ok(self.get(&format!("/api/v1/orgs/{id}"))?.map(|_| id));
        }
        let Some(gln) = gln_of(uri) else {
            return Ok(None);
        };
        let found = self.get(&format!("/api/v1/orgs?gln={gln}"))?;
        Ok(found.and_then(|answer| {
            answer["orgs"][0]["id"]
                .as_str()
                .and_then(|id| OrgId::parse(id).ok())
        }))
    }

    fn location_name(&mut self, org: OrgId, gln: &str) -> Result<Option<String>, String> {
        let found = self.get(&format!("/api/v1/orgs/{org}"))?;
        Ok(found.and_then(|answer| {
            answer["locations"]
                .as_array()?
                .iter()
                .find(|l| l["gln"].as_str() == Some(gln))
                .and_then(|l| l["name"].as_str().map(str::to_owned))
        }))
    }

    fn recorded(&mut self, actor: OrgId, event_id: &str) -> Result<Option<Recorded>, String> {
        let encoded =
            percent_encoding::utf8_percent_encode(event_id, percent_encoding::NON_ALPHANUMERIC);
        let Some(found) = self.get(&format!(
            "/api/v1/epcis/events?org={actor}&event_id={encoded}"
        ))?
        else {
            return Ok(None);
        };
        let found: EventResponse = serde_json::from_value(found).map_err(|e| {
            format!("the server's answer for event {event_id} is not an event: {e}")
        })?;
        Ok(Some(Recorded {
            id: RecordId::parse(&found.record.id)?,
            log_index: found.record.log_index,
        }))
    }
}

/// Exit 0 when every event is stored (or was already), 1 when any is refused (by the schema, as
/// inexpressible, or by the ledger), 2 when the document, the key or the server cannot be had.
pub fn import(server: &str, document: &Path, key: &Path, org: Option<&str>) -> ExitCode {
    match run(server, document, key, org) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(server: &str, path: &Path, key: &Path, org: Option<&str>) -> Result<ExitCode, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let document: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    if let Err(complaint) = check_schema(&document)? {
        println!("{complaint}");
        return Ok(ExitCode::from(1));
    }
    let file = KeyFile::read(key)?;
    let actor = org
        .map(str::to_owned)
        .or(file.org.clone())
        .ok_or("the key file names no organization: give --org ORG_ID")?;
    let actor = OrgId::parse(&actor)?;
    let signing = file.signing_key()?;
    let base = server.trim_end_matches('/').to_owned();
    let mut lookup = HttpLookup {
        agent: agent(),
        base: base.clone(),
    };
    let mapped = map_document(&document, actor, &mut lookup)
        .map_err(|e| match e {
            MapError::Document(m) | MapError::Lookup(m) => m,
        })?
        .into_iter()
        .map(|m| m.signed(&signing))
        .collect::<Result<Vec<Mapped>, String>>()?;
    let envelopes = envelopes(&mapped);
    let submitted = if envelopes.is_empty() {
        Vec::new()
    } else {
        let mut body = br#"{"envelopes": ["#.to_vec();
        body.extend_from_slice(&envelopes.join(&b','));
        body.extend_from_slice(b"]}");
        let (status, text) = post(&agent(), &format!("{base}/api/v1/records/batch"), &body)?;
        batch_results(status, &text, envelopes.len())?
    };
    let results = results(&mapped, submitted)
        .map_err(|_| "the server answered fewer results than events sent".to_owned())?;
    let mut refused = 0;
    for (i, result) in results.iter().enumerate() {
        if !matches!(result.status, 200 | 201) {
            refused += 1;
        }
        println!("{}", line(&format!("event {i}"), result));
    }
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
