//! People: staff accounts, their sessions and the invitations that create them.

use super::DbConn;
use super::rows::{InviteRow, UserRow};
use super::schema::{invites, sessions, users};
use chrono::NaiveDateTime;
use diesel::prelude::*;

pub fn insert_user(conn: &mut DbConn, row: &UserRow) -> QueryResult<()> {
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn user_by_email(conn: &mut DbConn, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn users_of_org(conn: &mut DbConn, org: &str) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::org_id.eq(org))
        .order(users::created_at.asc())
        .select(UserRow::as_select())
        .load(conn)
}

pub fn insert_session(
    conn: &mut DbConn,
    hash: &str,
    user: &str,
    now: NaiveDateTime,
    expires: NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::token_hash.eq(hash),
            sessions::user_id.eq(user),
            sessions::created_at.eq(now),
            sessions::expires_at.eq(expires),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The user of an unexpired session.
pub fn session_user(
    conn: &mut DbConn,
    hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<UserRow>> {
    sessions::table
        .inner_join(users::table)
        .filter(
            sessions::token_hash
                .eq(hash)
                .and(sessions::expires_at.gt(now)),
        )
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn delete_session(conn: &mut DbConn, hash: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.find(hash))
        .execute(conn)
        .map(|_| ())
}

pub fn delete_expired_sessions(conn: &mut DbConn, now: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.le(now))).execute(conn)
}

pub fn insert_invite(conn: &mut DbConn, row: &InviteRow) -> QueryResult<()> {
    diesel::insert_into(invites::table)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find_invite(conn: &mut DbConn, hash: &str) -> QueryResult<Option<InviteRow>> {
    invites::table
        .find(hash)
        .select(InviteRow::as_select())
        .get_result(conn)
        .optional()
}

/// Marks an invitation used; false when it was used already (two tabs, a replayed form).
pub fn accept_invite(conn: &mut DbConn, hash: &str, now: NaiveDateTime) -> QueryResult<bool> {
    diesel::update(
        invites::table.filter(
            invites::token_hash
                .eq(hash)
                .and(invites::accepted_at.is_null()),
        ),
    )
    .set(invites::accepted_at.eq(now))
    .execute(conn)
    .map(|n| n == 1)
}

pub fn open_invites_of_org(
    conn: &mut DbConn,
    org: &str,
    now: NaiveDateTime,
) -> QueryResult<Vec<InviteRow>> {
    invites::table
        .filter(
            invites::org_id
                .eq(org)
                .and(invites::accepted_at.is_null())
                .and(invites::expires_at.gt(now)),
        )
        .order(invites::created_at.asc())
        .select(InviteRow::as_select())
        .load(conn)
}
