//! Accounts for people: organizations' staff log in with a password (argon2id hashes), hold a
//! session cookie (only its SHA-256 is stored), and join by invitation. Every form carries a
//! CSRF token: derived from the session when there is one, else a double-submit cookie.

use crate::db::rows::{InviteRow, OrgRow, UserRow};
use crate::db::{DbConn, accounts, orgs, write_transaction};
use crate::error::{AppError, AppResult};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{Duration, Utc};
use sha2::{Digest, Sha256};

pub const SESSION_COOKIE: &str = "tt_session";
pub const CSRF_COOKIE: &str = "tt_csrf";
pub const SESSION_HOURS: i64 = 12;
const INVITE_DAYS: i64 = 7;
const MIN_PASSWORD: usize = 10;
const MAX_PASSWORD: usize = 256;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn hash_password(password: &str) -> AppResult<String> {
    let mut salt = [0u8; 16];
    crate::random::fill(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(AppError::internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(AppError::internal)
}

pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// Whether text a person typed holds a control character other than tab and newline.
pub fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && c != '\t' && c != '\n')
}

/// A new password: 10 to 256 characters, none of them a control character.
pub fn check_new_password(password: &str) -> AppResult<()> {
    let length = password.chars().count();
    if !(MIN_PASSWORD..=MAX_PASSWORD).contains(&length) {
        return Err(AppError::InvalidField(format!(
            "the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long"
        )));
    }
    if has_control(password) {
        return Err(AppError::InvalidField(
            "the password may not contain control characters".into(),
        ));
    }
    Ok(())
}

/// A plausible e-mail address, lower-cased: something@domain.tld, at most 254 bytes.
pub fn normalize_email(email: &str) -> AppResult<String> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>');
    if !valid {
        return Err(AppError::InvalidField(format!(
            "{email:?} is not an e-mail address"
        )));
    }
    Ok(email)
}

/// A person's name as shown to colleagues: 1 to 100 characters, no control characters.
pub fn display_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::InvalidField(
            "the name must be 1 to 100 characters, without control characters".into(),
        ));
    }
    Ok(name.to_owned())
}

/// An invitation: the link to send (only its hash is stored).
pub struct Invitation {
    pub email: String,
    pub url: String,
    pub expires_at: chrono::NaiveDateTime,
}

pub fn invite(
    conn: &mut DbConn,
    org_id: &str,
    email: &str,
    is_admin: bool,
    public_url: &str,
) -> AppResult<Invitation> {
    let org = crate::accounts::registry::find_org(conn, org_id)?;
    let email = normalize_email(email)?;
    if accounts::user_by_email(conn, &email)?.is_some() {
        return Err(AppError::Conflict(format!(
            "{email} already has an account"
        )));
    }
    let token = crate::random::token()?;
    let now = Utc::now().naive_utc();
    let row = InviteRow {
        token_hash: token_hash(&token),
        org_id: org.id,
        email: email.clone(),
        is_admin,
        created_at: now,
        expires_at: now + Duration::days(INVITE_DAYS),
        accepted_at: None,
    };
    accounts::insert_invite(conn, &row)?;
    Ok(Invitation {
        email,
        url: format!("{public_url}/invite/{token}"),
        expires_at: row.expires_at,
    })
}

/// The open invitation behind a link.
pub fn find_invite(conn: &mut DbConn, token: &str) -> AppResult<InviteRow> {
    let gone = || {
        AppError::NotFound(
            "this invitation link is unknown, already used or expired; ask for a new one".into(),
        )
    };
    let row = accounts::find_invite(conn, &token_hash(token))?.ok_or_else(gone)?;
    if row.accepted_at.is_some() || row.expires_at <= Utc::now().naive_utc() {
        return Err(gone());
    }
    Ok(row)
}

/// Creates the account an invitation promised; the invitation can be used once. The password
/// was checked (`check_new_password`) and hashed (`hash_password`) before, without a database
/// connection held for the argon2 work.
pub fn accept_invite(
    conn: &mut DbConn,
    token: &str,
    name: &str,
    password_hash: String,
) -> AppResult<UserRow> {
    let name = display_name(name)?;
    write_transaction(conn, |conn| {
        let invite = find_invite(conn, token)?;
        let now = Utc::now().naive_utc();
        if !accounts::accept_invite(conn, &invite.token_hash, now)? {
            return Err(AppError::Conflict("this invitation was just used".into()));
        }
        if accounts::user_by_email(conn, &invite.email)?.is_some() {
            return Err(AppError::Conflict(format!(
                "{} already has an account",
                invite.email
            )));
        }
        let user = UserRow {
            id: uuid::Uuid::now_v7().to_string(),
            org_id: invite.org_id,
            email: invite.email,
            display_name: name,
            password_hash,
            is_admin: invite.is_admin,
            created_at: now,
        };
        accounts::insert_user(conn, &user)?;
        Ok(user)
    })
}

/// Creates an account directly (the operator's CLI and the demo).
pub fn create_user(
    conn: &mut DbConn,
    org_id: &str,
    email: &str,
    name: &str,
    password: &str,
    is_admin: bool,
) -> AppResult<UserRow> {
    let org = crate::accounts::registry::find_org(conn, org_id)?;
    let email = normalize_email(email)?;
    let name = display_name(name)?;
    check_new_password(password)?;
    if accounts::user_by_email(conn, &email)?.is_some() {
        return Err(AppError::Conflict(format!(
            "{email} already has an account"
        )));
    }
    let user = UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        org_id: org.id,
        email,
        display_name: name,
        password_hash: hash_password(password)?,
        is_admin,
        created_at: Utc::now().naive_utc(),
    };
    accounts::insert_user(conn, &user)?;
    Ok(user)
}

/// The account a login names, if any (an address that is not one names none).
pub fn login_account(conn: &mut DbConn, email: &str) -> AppResult<Option<UserRow>> {
    match normalize_email(email) {
        Ok(email) => Ok(accounts::user_by_email(conn, &email)?),
        Err(_) => Ok(None),
    }
}

/// The answer to a wrong e-mail address or password, the same for both.
pub fn wrong_login() -> AppError {
    AppError::Unauthorized("wrong e-mail address or password".into())
}

/// Whether `password` is the account's. Without an account, the same argon2 work is done on a
/// dummy hash, so that timing does not tell who has one. CPU-bound (tens of milliseconds): run
/// it on a blocking thread, with no database connection held.
pub fn password_matches(account: Option<&UserRow>, password: &str) -> bool {
    match account {
        Some(user) => verify_password(&user.password_hash, password),
        None => {
            let _ = verify_password(DUMMY_HASH, password);
            false
        }
    }
}

/// Opens a session for a user whose password was checked; returns the token for the cookie.
pub fn open_session(conn: &mut DbConn, user_id: &str) -> AppResult<String> {
    let token = crate::random::token()?;
    let now = Utc::now().naive_utc();
    accounts::delete_expired_sessions(conn, now)?;
    accounts::insert_session(
        conn,
        &token_hash(&token),
        user_id,
        now,
        now + Duration::hours(SESSION_HOURS),
    )?;
    Ok(token)
}

/// Checks a password and opens a session, all on one connection (the CLI and benchmarks; the
/// login page runs the same steps without holding the connection during argon2).
pub fn login(conn: &mut DbConn, email: &str, password: &str) -> AppResult<String> {
    let account = login_account(conn, email)?;
    match account {
        Some(user) if password_matches(Some(&user), password) => open_session(conn, &user.id),
        Some(_) => Err(wrong_login()),
        None => {
            password_matches(None, password);
            Err(wrong_login())
        }
    }
}

/// argon2id of a random password nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$9Lm2mPJhYbJJzVLPg9mTkVwO5LN/ILhuqQY3MJ23Azs";

pub fn logout(conn: &mut DbConn, token: &str) -> AppResult<()> {
    accounts::delete_session(conn, &token_hash(token))?;
    Ok(())
}

/// The staff member a session token belongs to, with their organization, while the session lasts.
pub fn session_staff(conn: &mut DbConn, session: &str) -> AppResult<Option<(UserRow, OrgRow)>> {
    let Some(user) = accounts::session_user(conn, &token_hash(session), Utc::now().naive_utc())?
    else {
        return Ok(None);
    };
    let org = orgs::find(conn, &user.org_id)?
        .ok_or_else(|| AppError::internal("a user's organization is missing"))?;
    Ok(Some((user, org)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse battery!"));
        assert!(!verify_password("not a hash", "x"));
        assert_ne!(
            hash,
            hash_password("correct horse battery").unwrap(),
            "salted"
        );
        assert!(
            PasswordHash::new(DUMMY_HASH).is_ok(),
            "the dummy hash parses"
        );
    }

    #[test]
    fn emails_and_passwords_are_checked() {
        assert_eq!(normalize_email(" Ana@Shop.TW ").unwrap(), "ana@shop.tw");
        for bad in [
            "",
            "ana",
            "ana@",
            "@shop.tw",
            "ana@shop",
            "a b@shop.tw",
            "<a>@x.tw",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough pass").is_ok());
    }
}
