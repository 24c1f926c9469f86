//! The administrative operations (organizations, keys, products), shared by the admin HTTP
//! endpoints and the `truetrace admin` commands. Each validates its input and names what is wrong.

use crate::db::rows::{KeyRow, LocationRow, OrgRow, ProductRow};
use crate::db::{DbConn, keys, orgs, products};
use crate::domain::{Gln, Gtin, OrgId, Roles};
use crate::error::{AppError, AppResult};
use crate::ledger::envelope::{KeyId, parse_public_key};
use chrono::Utc;
use serde::Deserialize;

/// What `POST /api/v1/orgs` and `truetrace admin create-org` take.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrgRequest {
    pub name: String,
    #[serde(default)]
    pub name_zh: Option<String>,
    pub roles: Vec<String>,
    #[serde(default)]
    pub gln: Option<String>,
}

/// What `POST /api/v1/products` and `truetrace admin register-product` take.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProductRequest {
    pub gtin: String,
    pub name: String,
    #[serde(default)]
    pub name_zh: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub image_url: Option<String>,
    #[serde(default)]
    pub price: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub listing_url: Option<String>,
    /// The brand organization that owns the product's listing and embeds.
    #[serde(default)]
    pub brand_org: Option<String>,
}

const MAX_NAME_CHARS: usize = 200;
const MAX_TEXT_CHARS: usize = 4000;
const MAX_URL_CHARS: usize = 2048;

fn invalid(message: String) -> AppError {
    AppError::InvalidField(message)
}

/// A person-written text field: trimmed, non-empty, bounded, without control characters.
fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(invalid(format!("{field} must not be empty")));
    }
    if value.chars().count() > max {
        return Err(invalid(format!("{field} is longer than {max} characters")));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !crate::domain::text::is_allowed_char(*c))
    {
        return Err(invalid(format!(
            "{field} contains the control character U+{:04X}",
            u32::from(c)
        )));
    }
    Ok(value.to_owned())
}

fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| text(field, v, max))
        .transpose()
}

/// An absolute http(s) URL (or, for images, a path on this server).
fn url(field: &str, value: Option<&str>, allow_path: bool) -> AppResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let absolute = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'));
    let path = allow_path && crate::domain::site_path::same_site_path(value).is_some();
    if !(absolute || path)
        || value.len() > MAX_URL_CHARS
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid(format!(
            "{field} must be an http:// or https:// URL, got {value:?}"
        )));
    }
    Ok(Some(value.to_owned()))
}

pub fn create_org(conn: &mut DbConn, req: &NewOrgRequest) -> AppResult<OrgRow> {
    let roles = Roles::parse(&req.roles).map_err(invalid)?;
    let gln = req
        .gln
        .as_deref()
        .filter(|g| !g.is_empty())
        .map(Gln::parse)
        .transpose()
        .map_err(invalid)?;
    let row = OrgRow {
        id: OrgId::new().to_string(),
        name: text("name", &req.name, MAX_NAME_CHARS)?,
        name_zh: optional_text("name_zh", req.name_zh.as_deref(), MAX_NAME_CHARS)?,
        roles: roles.to_stored(),
        gln: gln.map(|g| g.to_string()),
        created_at: Utc::now().naive_utc(),
        address: None,
        phone: None,
    };
    if let Some(gln) = &row.gln
        && let Some(other) = orgs::find_by_gln(conn, gln)?
    {
        return Err(AppError::Conflict(format!(
            "GLN {gln} already belongs to organization {} ({})",
            other.id, other.name
        )));
    }
    orgs::insert(conn, &row)?;
    Ok(row)
}

pub fn find_org(conn: &mut DbConn, id: &str) -> AppResult<OrgRow> {
    let not_found = || AppError::NotFound(format!("no organization with id {id}"));
    OrgId::parse(id).map_err(|_| not_found())?;
    orgs::find(conn, id)?.ok_or_else(not_found)
}

/// What `PATCH /api/v1/orgs/{id}` and `truetrace admin set-master-data` take: the fields given
/// are replaced (an empty address or phone clears it; `locations` replaces the whole list), the
/// others kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MasterDataRequest {
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub locations: Option<Vec<LocationRequest>>,
}

/// One location of an organization: a field, a packhouse, a store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationRequest {
    pub name: String,
    #[serde(default)]
    pub gln: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

const MAX_ADDRESS_CHARS: usize = 500;
const MAX_LOCATIONS: usize = 200;

/// A phone number as people write it: digits with `+`, spaces, dashes, dots, parentheses and
/// slashes; 4 to 20 digits, at most 40 characters.
fn phone_number(value: &str) -> AppResult<String> {
    let value = value.trim();
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().,/#".contains(c) || c == 'x');
    if !allowed || !(4..=20).contains(&digits) || value.chars().count() > 40 {
        return Err(invalid(format!(
            "phone {value:?} must be a phone number such as \"+886 89 123 456\""
        )));
    }
    Ok(value.to_owned())
}

/// Checks a list of locations: names unique within the organization, GLNs valid.
pub fn locations(org_id: &str, list: &[LocationRequest]) -> AppResult<Vec<LocationRow>> {
    if list.len() > MAX_LOCATIONS {
        return Err(invalid(format!(
            "an organization has at most {MAX_LOCATIONS} locations"
        )));
    }
    let mut rows: Vec<LocationRow> = Vec::with_capacity(list.len());
    for (i, location) in list.iter().enumerate() {
        let name = text(
            &format!("locations[{i}].name"),
            &location.name,
            MAX_NAME_CHARS,
        )?;
        if rows.iter().any(|r| r.name == name) {
            return Err(invalid(format!(
                "locations[{i}].name {name:?} is given twice; each location needs its own name"
            )));
        }
        let gln = location
            .gln
            .as_deref()
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(|g| Gln::parse(g).map_err(|e| invalid(format!("locations[{i}].gln: {e}"))))
            .transpose()?;
        rows.push(LocationRow {
            org_id: org_id.to_owned(),
            name,
            gln: gln.map(|g| g.to_string()),
            address: optional_text(
                &format!("locations[{i}].address"),
                location.address.as_deref(),
                MAX_ADDRESS_CHARS,
            )?,
        });
    }
    Ok(rows)
}

/// Updates an organization's master data (address, phone, locations); answers the organization
/// and its locations as stored.
pub fn set_master_data(
    conn: &mut DbConn,
    org_id: &str,
    req: &MasterDataRequest,
) -> AppResult<(OrgRow, Vec<LocationRow>)> {
    let org = find_org(conn, org_id)?;
    let address = match &req.address {
        Some(a) => optional_text("address", Some(a), MAX_ADDRESS_CHARS)?,
        None => org.address.clone(),
    };
    let phone = match req.phone.as_deref().map(str::trim) {
        Some("") => None,
        Some(p) => Some(phone_number(p)?),
        None => org.phone.clone(),
    };
    let new_locations = req
        .locations
        .as_deref()
        .map(|list| locations(&org.id, list))
        .transpose()?;
    crate::db::write_transaction(conn, |conn| {
        orgs::set_contact(conn, &org.id, address.as_deref(), phone.as_deref())?;
        if let Some(rows) = &new_locations {
            orgs::set_locations(conn, &org.id, rows)?;
        }
        Ok::<_, AppError>(())
    })?;
    let org = find_org(conn, &org.id)?;
    let rows = orgs::locations_of(conn, std::slice::from_ref(&org.id))?;
    Ok((org, rows))
}

/// Who holds a signing key's private half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHolder {
    /// The organization itself (a key file, the CLI, its own systems).
    Organization,
    /// The platform, sealed at rest (`accounts::hosted_keys`).
    Platform,
    /// A staff member's browser, non-extractable (`accounts::devices`).
    Device,
}

impl KeyHolder {
    /// The admin API's and CLI's `hosted` flag.
    pub fn hosted_if(hosted: bool) -> Self {
        if hosted {
            Self::Platform
        } else {
            Self::Organization
        }
    }
}

/// Enrolls a public key for an organization. Enrolling the same key for the same organization
/// again returns it unchanged (`false`); a key of another organization is a conflict.
pub fn enroll_key(
    conn: &mut DbConn,
    org_id: &str,
    public_key: &str,
    holder: KeyHolder,
) -> AppResult<(KeyRow, bool)> {
    let org = find_org(conn, org_id)?;
    let key = parse_public_key(public_key).map_err(invalid)?;
    let keyid = KeyId::of(&key);
    if let Some(existing) = keys::find(conn, keyid.as_str())? {
        if existing.org_id != org.id {
            return Err(AppError::Conflict(format!(
                "key {keyid} is already enrolled for another organization"
            )));
        }
        return Ok((existing, false));
    }
    let row = KeyRow {
        keyid: keyid.to_string(),
        org_id: org.id,
        public_key: key.as_bytes().to_vec(),
        hosted: holder == KeyHolder::Platform,
        enrolled_at: Utc::now().naive_utc(),
        revoked_at: None,
        device: holder == KeyHolder::Device,
    };
    keys::insert(conn, &row)?;
    Ok((row, true))
}

/// Revokes a key: from now on every record signed with it is refused. Revoking twice keeps the
/// first revocation time.
pub fn revoke_key(conn: &mut DbConn, org_id: &str, keyid: &str) -> AppResult<KeyRow> {
    let org = find_org(conn, org_id)?;
    let not_found = || AppError::NotFound(format!("organization {} has no key {keyid}", org.id));
    let key = keys::find(conn, keyid)?
        .filter(|k| k.org_id == org.id)
        .ok_or_else(not_found)?;
    keys::revoke(conn, &key.keyid, Utc::now().naive_utc())?;
    keys::find(conn, &key.keyid)?.ok_or_else(not_found)
}

pub fn register_product(conn: &mut DbConn, req: &NewProductRequest) -> AppResult<ProductRow> {
    let gtin = Gtin::parse(req.gtin.trim()).map_err(invalid)?;
    let price = req
        .price
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    if let Some(price) = price {
        let (int, frac) = price.split_once('.').unwrap_or((price, ""));
        let ok = !int.is_empty()
            && int.len() <= 12
            && frac.len() <= 2
            && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
            && !(price.contains('.') && frac.is_empty());
        if !ok {
            return Err(invalid(format!(
                "price {price:?} must be a decimal amount such as \"380\" or \"12.50\""
            )));
        }
    }
    let currency = match req
        .currency
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => Some(c.to_owned()),
        Some(c) => {
            return Err(invalid(format!(
                "currency {c:?} must be an ISO 4217 code such as TWD"
            )));
        }
        None => price.map(|_| "TWD".to_owned()),
    };
    let brand_org = match req.brand_org.as_deref().filter(|b| !b.is_empty()) {
        Some(b) => Some(
            find_org(conn, b)
                .map_err(|_| invalid(format!("brand_org {b} is not a known organization")))?
                .id,
        ),
        None => None,
    };
    let row = ProductRow {
        gtin: gtin.to_string(),
        name: text("name", &req.name, MAX_NAME_CHARS)?,
        name_zh: optional_text("name_zh", req.name_zh.as_deref(), MAX_NAME_CHARS)?,
        description: optional_text("description", req.description.as_deref(), MAX_TEXT_CHARS)?,
        image_url: url("image_url", req.image_url.as_deref(), true)?,
        price: price.map(str::to_owned),
        currency,
        listing_url: url("listing_url", req.listing_url.as_deref(), false)?,
        brand_org,
        created_at: Utc::now().naive_utc(),
    };
    if products::find(conn, &row.gtin)?.is_some() {
        return Err(AppError::Conflict(format!(
            "a product with GTIN {gtin} is already registered"
        )));
    }
    products::insert(conn, &row)?;
    Ok(row)
}

/// Origins allowed to frame embeds: `https://host[:port]` (or `http://localhost...`), no path;
/// at most 20.
pub fn embed_origins(origins: &[String]) -> AppResult<Vec<String>> {
    if origins.len() > 20 {
        return Err(invalid("at most 20 embed origins".into()));
    }
    let mut out = Vec::new();
    for origin in origins {
        let origin = origin.trim().trim_end_matches('/');
        let rest = origin.strip_prefix("https://").or_else(|| {
            origin
                .strip_prefix("http://")
                .filter(|r| r.starts_with("localhost") || r.starts_with("127.0.0.1"))
        });
        let valid = rest.is_some_and(|host| {
            !host.is_empty()
                && host.len() <= 253
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '*'))
        });
        if !valid {
            return Err(invalid(format!(
                "embed origin {origin:?} must look like https://shop.example.com (no path; http only for localhost)"
            )));
        }
        if !out.iter().any(|o| o == origin) {
            out.push(origin.to_owned());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embed_origins_are_bare_https_origins() {
        let ok = embed_origins(&[
            "https://shop.example.com/".into(),
            "http://localhost:3000".into(),
        ])
        .unwrap();
        assert_eq!(ok, ["https://shop.example.com", "http://localhost:3000"]);
        for bad in [
            "http://shop.example.com",
            "https://shop.example.com/path",
            "javascript:alert(1)",
            "https://",
            "https://a b",
        ] {
            assert!(embed_origins(&[bad.into()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_and_locations() {
        assert_eq!(
            phone_number(" +886 89-123 456 ").unwrap(),
            "+886 89-123 456"
        );
        assert_eq!(
            phone_number("(089) 123456 x12").unwrap(),
            "(089) 123456 x12"
        );
        for bad in ["12", "call me", "+886 89 123 456 <b>", &"9".repeat(21)] {
            assert!(phone_number(bad).is_err(), "{bad}");
        }
        let at = |name: &str, gln: Option<&str>| LocationRequest {
            name: name.into(),
            gln: gln.map(Into::into),
            address: None,
        };
        let rows = locations(
            "org",
            &[at(" Field 3 ", Some("4712345000015")), at("Shed", None)],
        )
        .unwrap();
        assert_eq!(rows[0].name, "Field 3");
        assert_eq!(rows[0].gln.as_deref(), Some("4712345000015"));
        let twice = locations("org", &[at("Shed", None), at("Shed", None)]).unwrap_err();
        assert!(twice.to_string().contains("locations[1].name"), "{twice}");
        let bad = locations("org", &[at("Shed", Some("4712345000016"))]).unwrap_err();
        assert!(bad.to_string().contains("locations[0].gln"), "{bad}");
    }

    #[test]
    fn urls_and_texts() {
        assert!(
            url("u", Some("https://shop.example/rice"), false)
                .unwrap()
                .is_some()
        );
        assert!(url("u", Some("/static/rice.svg"), true).unwrap().is_some());
        assert!(url("u", Some("/static/rice.svg"), false).is_err());
        for off_site in [
            "//evil.example/x.png",
            "/\\evil.example/x.png",
            "/%5Cevil.example/x.png",
        ] {
            assert!(url("u", Some(off_site), true).is_err(), "{off_site}");
        }
        assert!(url("u", Some("javascript:alert(1)"), false).is_err());
        assert!(url("u", Some("https:///x"), false).is_err());
        assert!(text("name", "  ", 10).is_err());
        assert!(text("name", "a\u{0}b", 10).is_err());
        assert_eq!(text("name", " 池上農場 ", 10).unwrap(), "池上農場");
    }
}
