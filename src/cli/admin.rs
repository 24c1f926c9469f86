//! `truetrace admin ...`: the admin endpoints' operations, run directly on the configured database.

use crate::accounts::admin_token;
use crate::accounts::registry::{
    self, LocationRequest, MasterDataRequest, NewOrgRequest, NewProductRequest,
};
use crate::db::{self, DbConn, keys, orgs};
use crate::http::api::orgs::{KeyResponse, OrgResponse};
use crate::http::api::products::ProductResponse;
use crate::ledger::keyfile::KeyFile;
use crate::settings::Settings;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an organization; prints it as JSON.
    CreateOrg {
        #[arg(long)]
        name: String,
        #[arg(long)]
        name_zh: Option<String>,
        /// producer, processor, carrier, retailer, brand or regulator; repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        #[arg(long)]
        gln: Option<String>,
    },
    /// List organizations and their keys as JSON.
    ListOrgs,
    /// Enroll a public key for an organization.
    EnrollKey {
        #[arg(long)]
        org: String,
        /// Standard base64 of the 32 raw public-key bytes.
        #[arg(
            long,
            conflicts_with = "key_file",
            required_unless_present = "key_file"
        )]
        public_key: Option<String>,
        /// Or a key file from `truetrace keygen` (only its public key is read).
        #[arg(long)]
        key_file: Option<PathBuf>,
        #[arg(long)]
        hosted: bool,
    },
    /// Revoke a key: every record signed with it from now on is refused.
    RevokeKey {
        #[arg(long)]
        org: String,
        #[arg(long)]
        keyid: String,
    },
    /// Register a product (GTIN-14).
    RegisterProduct {
        #[arg(long)]
        gtin: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        name_zh: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        image_url: Option<String>,
        #[arg(long)]
        price: Option<String>,
        #[arg(long)]
        currency: Option<String>,
        #[arg(long)]
        listing_url: Option<String>,
        #[arg(long)]
        brand_org: Option<String>,
    },
    /// Let the platform hold a signing key for an organization (a store's pickup handovers are
    /// signed with it). Needs the server's secret key (TRUETRACE_SECRET_KEY or its file).
    EnableHostedKey {
        #[arg(long)]
        org: String,
    },
    /// Invite a person to an organization's staff; prints the link to send them.
    Invite {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        /// The person may invite others.
        #[arg(long)]
        admin: bool,
    },
    /// Set the sites allowed to embed a brand's provenance cards (frame-ancestors); none = any.
    SetEmbedOrigins {
        #[arg(long)]
        org: String,
        /// https://shop.example.com; repeat for several, or give none to allow any site.
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
    /// Set an organization's master data (FSMA 204 location descriptions); prints it as JSON.
    /// What is not given is kept; an empty --address or --phone clears it.
    SetMasterData {
        #[arg(long)]
        org: String,
        #[arg(long)]
        address: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// `NAME|GLN|ADDRESS` (GLN and address may be empty); repeat for several. Replaces the
        /// whole list of locations.
        #[arg(long = "location")]
        locations: Vec<String>,
        /// Remove every location.
        #[arg(long, conflicts_with = "locations")]
        no_locations: bool,
    },
    /// Replace the stored admin token with a new one and print it.
    RotateToken,
}

pub fn run(settings: &Settings, command: AdminCommand) -> Result<(), String> {
    let pool = db::connect(&settings.database()?, 2)?;
    let mut conn = pool
        .get()
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let fail = |e: crate::error::AppError| format!("{} ({})", e, e.code());
    let output = match command {
        AdminCommand::CreateOrg {
            name,
            name_zh,
            roles,
            gln,
        } => {
            let req = NewOrgRequest {
                name,
                name_zh,
                roles,
                gln,
            };
            let row = registry::create_org(&mut conn, &req).map_err(fail)?;
            json(&OrgResponse::new(row, Vec::new()))
        }
        AdminCommand::ListOrgs => {
            let list = list_orgs(&mut conn).map_err(fail)?;
            json(&list)
        }
        AdminCommand::EnrollKey {
            org,
            public_key,
            key_file,
            hosted,
        } => {
            let public_key = match (public_key, key_file) {
                (Some(k), _) => k,
                (None, Some(path)) => KeyFile::read(&path)?.public_key,
                (None, None) => return Err("give --public-key or --key-file".into()),
            };
            let (row, _) = registry::enroll_key(
                &mut conn,
                &org,
                &public_key,
                registry::KeyHolder::hosted_if(hosted),
            )
            .map_err(fail)?;
            json(&KeyResponse::from(row))
        }
        AdminCommand::RevokeKey { org, keyid } => {
            let row = registry::revoke_key(&mut conn, &org, &keyid).map_err(fail)?;
            json(&KeyResponse::from(row))
        }
        AdminCommand::RegisterProduct {
            gtin,
            name,
            name_zh,
            description,
            image_url,
            price,
            currency,
            listing_url,
            brand_org,
        } => {
            let req = NewProductRequest {
                gtin,
                name,
                name_zh,
                description,
                image_url,
                price,
                currency,
                listing_url,
                brand_org,
            };
            let row = registry::register_product(&mut conn, &req).map_err(fail)?;
            json(&ProductResponse::from(row))
        }
        AdminCommand::EnableHostedKey { org } => {
            let sealer = crate::accounts::hosted_keys::Sealer::load(settings)?;
            let keyid =
                crate::accounts::hosted_keys::enable(&mut conn, &sealer, &org).map_err(fail)?;
            json(&serde_json::json!({"org": org, "keyid": keyid, "hosted": true}))
        }
        AdminCommand::Invite { org, email, admin } => {
            let invitation = crate::accounts::staff::invite(
                &mut conn,
                &org,
                &email,
                admin,
                &settings.public_url(),
            )
            .map_err(fail)?;
            format!(
                "send this link to {} (valid until {} UTC, once): {}",
                invitation.email, invitation.expires_at, invitation.url
            )
        }
        AdminCommand::SetEmbedOrigins { org, origins } => {
            let origins = registry::embed_origins(&origins).map_err(fail)?;
            let org = registry::find_org(&mut conn, &org).map_err(fail)?;
            orgs::set_embed_origins(&mut conn, &org.id, &origins).map_err(|e| fail(e.into()))?;
            json(&serde_json::json!({"org": org.id, "origins": origins}))
        }
        AdminCommand::SetMasterData {
            org,
            address,
            phone,
            locations,
            no_locations,
        } => {
            let locations = (no_locations || !locations.is_empty())
                .then(|| locations.iter().map(|l| location_arg(l)).collect());
            let req = MasterDataRequest {
                address,
                phone,
                locations,
            };
            let (org, locations) =
                registry::set_master_data(&mut conn, &org, &req).map_err(fail)?;
            let keys = keys::of_org(&mut conn, &org.id).map_err(|e| fail(e.into()))?;
            json(&OrgResponse::new(org, keys).with_locations(locations))
        }
        AdminCommand::RotateToken => {
            let token = admin_token::rotate(&mut conn).map_err(fail)?;
            format!("new admin token (shown once; restart running servers to use it): {token}")
        }
    };
    println!("{output}");
    Ok(())
}

fn list_orgs(conn: &mut DbConn) -> Result<Vec<OrgResponse>, crate::error::AppError> {
    orgs::all(conn)?
        .into_iter()
        .map(|org| {
            let keys = keys::of_org(conn, &org.id)?;
            let locations = orgs::locations_of(conn, std::slice::from_ref(&org.id))?;
            Ok(OrgResponse::new(org, keys).with_locations(locations))
        })
        .collect()
}

/// `NAME|GLN|ADDRESS`, the last two optional.
fn location_arg(arg: &str) -> LocationRequest {
    let mut parts = arg.splitn(3, '|').map(str::trim);
    let name = parts.next().unwrap_or_default().to_owned();
    let mut optional = || parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
    LocationRequest {
        name,
        gln: optional(),
        address: optional(),
    }
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("cannot print the result: {e}"))
}
