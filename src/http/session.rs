//! Staff sessions over HTTP: the session and CSRF cookies, the CSRF check of every form, and the
//! `Staff` extractor that sends a visitor without a session to the login page.

use crate::accounts::staff::{self, CSRF_COOKIE, SESSION_COOKIE, SESSION_HOURS};
use crate::db::rows::{OrgRow, UserRow};
use crate::error::{AppError, AppResult};
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieAge};
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub fn session_cookie(token: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token.to_owned())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(CookieAge::hours(SESSION_HOURS))
        .finish()
}

pub fn expired_session_cookie() -> Cookie<'static> {
    let mut cookie = Cookie::build(SESSION_COOKIE, "").path("/").finish();
    cookie.make_removal();
    cookie
}

/// The CSRF token a form must carry, and the cookie to set for it when there is no session.
pub struct Csrf {
    pub token: String,
    pub cookie: Option<Cookie<'static>>,
}

fn session_csrf(session: &str) -> String {
    hex::encode(&Sha256::digest(format!("truetrace csrf\n{session}").as_bytes())[..16])
}

pub fn csrf_for(req: &HttpRequest, secure: bool) -> AppResult<Csrf> {
    if let Some(session) = req.cookie(SESSION_COOKIE).filter(|c| !c.value().is_empty()) {
        return Ok(Csrf {
            token: session_csrf(session.value()),
            cookie: None,
        });
    }
    if let Some(existing) = req.cookie(CSRF_COOKIE).filter(|c| c.value().len() >= 32) {
        return Ok(Csrf {
            token: existing.value().to_owned(),
            cookie: None,
        });
    }
    let token = crate::random::token()?;
    let cookie = Cookie::build(CSRF_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Strict)
        .finish();
    Ok(Csrf {
        token,
        cookie: Some(cookie),
    })
}

/// Refuses a form whose CSRF token is not the one this browser was given.
pub fn check_csrf(req: &HttpRequest, submitted: &str) -> AppResult<()> {
    let expected = match req.cookie(SESSION_COOKIE).filter(|c| !c.value().is_empty()) {
        Some(session) => session_csrf(session.value()),
        None => req
            .cookie(CSRF_COOKIE)
            .map(|c| c.value().to_owned())
            .unwrap_or_default(),
    };
    let matches = !expected.is_empty()
        && expected.len() == submitted.len()
        && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()));
    if !matches {
        return Err(AppError::Forbidden(
            "the form's security token (CSRF) is missing or wrong: reload the page and send the form again".into(),
        ));
    }
    Ok(())
}

/// A logged-in member of an organization's staff. Pages that need one send a visitor without a
/// session to the login page.
pub struct Staff {
    pub user: UserRow,
    pub org: OrgRow,
    pub session: String,
}

impl FromRequest for Staff {
    type Error = actix_web::Error;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let pool = crate::http::state::shared::<crate::db::DbPool>(req).ok();
        let session = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let next = req
            .uri()
            .path_and_query()
            .map_or("/account".to_owned(), |p| p.as_str().to_owned());
        Box::pin(async move {
            let to_login = || {
                let location = format!(
                    "/login?next={}",
                    percent_encoding::utf8_percent_encode(
                        &next,
                        percent_encoding::NON_ALPHANUMERIC
                    )
                );
                actix_web::error::InternalError::from_response(
                    "login required",
                    HttpResponse::SeeOther()
                        .insert_header(("Location", location))
                        .finish(),
                )
                .into()
            };
            let (Some(pool), Some(session)) = (pool, session.filter(|s| !s.is_empty())) else {
                return Err(to_login());
            };
            let token = session.clone();
            let found =
                crate::db::run(&pool, move |conn| staff::session_staff(conn, &token)).await?;
            match found {
                Some((user, org)) => Ok(Staff { user, org, session }),
                None => Err(to_login()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_csrf_tokens_depend_on_the_session() {
        assert_ne!(session_csrf("a"), session_csrf("b"));
        assert_eq!(session_csrf("a").len(), 32);
    }
}
