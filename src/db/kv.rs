//! Small named values the server keeps (the admin token's hash).

use super::DbConn;
use super::schema::settings::dsl::*;
use diesel::prelude::*;

pub fn get(conn: &mut DbConn, key: &str) -> QueryResult<Option<String>> {
    settings.find(key).select(value).get_result(conn).optional()
}

/// Removes a value; nothing happens when there is none.
pub fn delete(conn: &mut DbConn, key: &str) -> QueryResult<()> {
    diesel::delete(settings.find(key)).execute(conn)?;
    Ok(())
}

pub fn put(conn: &mut DbConn, key: &str, new_value: &str) -> QueryResult<()> {
    diesel::delete(settings.find(key)).execute(conn)?;
    diesel::insert_into(settings)
        .values((name.eq(key), value.eq(new_value)))
        .execute(conn)?;
    Ok(())
}
