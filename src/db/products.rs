//! Product queries.

use super::DbConn;
use super::rows::ProductRow;
use super::schema::products::dsl::*;
use diesel::dsl::exists;
use diesel::prelude::*;

pub fn insert(conn: &mut DbConn, row: &ProductRow) -> QueryResult<()> {
    diesel::insert_into(products)
        .values(row)
        .execute(conn)
        .map(|_| ())
}

pub fn find(conn: &mut DbConn, wanted: &str) -> QueryResult<Option<ProductRow>> {
    products
        .find(wanted)
        .select(ProductRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn exists_gtin(conn: &mut DbConn, wanted: &str) -> QueryResult<bool> {
    native!(conn, |c| {
        diesel::select(exists(products.find(wanted))).get_result(c)
    })
}

/// The brand organization of a product, if it names one.
pub fn brand_of(conn: &mut DbConn, wanted: &str) -> QueryResult<Option<String>> {
    Ok(products
        .find(wanted)
        .select(brand_org)
        .get_result::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// The GTINs among `wanted` that are registered products.
pub fn registered(conn: &mut DbConn, wanted: &[&str]) -> QueryResult<Vec<String>> {
    products.filter(gtin.eq_any(wanted)).select(gtin).load(conn)
}

pub fn all(conn: &mut DbConn) -> QueryResult<Vec<ProductRow>> {
    products
        .order(gtin.asc())
        .select(ProductRow::as_select())
        .load(conn)
}

/// The products with these GTINs.
pub fn by_gtins(conn: &mut DbConn, wanted: &[String]) -> QueryResult<Vec<ProductRow>> {
    products
        .filter(gtin.eq_any(wanted))
        .select(ProductRow::as_select())
        .load(conn)
}
