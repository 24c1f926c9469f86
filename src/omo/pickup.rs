//! In-store pickup: a consumer reserves units of a product at a store that has it in stock;
//! the store's staff confirm the handover, and the store signs a `sell` record for that lot with
//! its hosted key, through the ledger's normal path. A reservation holds its units until it
//! expires; units held by reservations cannot be reserved again.

use crate::accounts::hosted_keys::{self, Sealer};
use crate::db::reservations::{HANDING_OVER, PICKED_UP, RESERVED};
use crate::db::rows::{OrgRow, ReservationRow};
use crate::db::{DbConn, lots, orgs, products, records, reservations, write_transaction};
use crate::domain::{Gtin, OrgId, Role};
use crate::error::{AppError, AppResult};
use crate::ledger::Ledger;
use crate::ledger::record::{LotRefJson, RECORD_TYPE, Record, RecordJson};
use crate::omo::activity::{Activity, Channel, Kind};
use crate::omo::stock;
use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use std::collections::BTreeMap;

/// The most units one reservation may hold.
pub const MAX_UNITS: i64 = 50;
/// Crockford's base32: no I, L, O or U, so a code read aloud or typed is not mistaken.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CODE_LEN: usize = 10;
/// A handover that has not finished after this long (a crash mid-way) may be tried again.
const STALE_HANDOVER_SECS: i64 = 120;

/// A new reservation code: 10 characters, 50 bits of randomness.
fn new_code() -> AppResult<String> {
    let mut bytes = [0u8; CODE_LEN];
    crate::random::fill(&mut bytes)?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect())
}

/// A code as typed or scanned: upper case, dashes and spaces dropped, O read as 0, I and L as 1.
pub fn normalize_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// "ABCDE-FGHJK", for reading.
pub fn display_code(code: &str) -> String {
    if code.len() == CODE_LEN {
        format!("{}-{}", &code[..5], &code[5..])
    } else {
        code.to_owned()
    }
}

/// What a consumer sends to reserve.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct ReserveForm {
    pub store: String,
    #[serde(default)]
    pub lot: String,
    pub quantity: String,
    pub name: String,
    pub phone: String,
    #[serde(default)]
    pub ch: String,
    #[serde(default)]
    pub csrf: String,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::InvalidField(message.into())
}

fn check_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(invalid("enter a name of 1 to 60 characters for the pickup"));
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '<' | '>'))
    {
        return Err(invalid(
            "the name may not contain <, > or control characters",
        ));
    }
    Ok(name.to_owned())
}

fn check_phone(phone: &str) -> AppResult<String> {
    let phone = phone.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'));
    if !allowed || !(8..=15).contains(&digits) || phone.len() > 24 {
        return Err(invalid(
            "enter a phone number of 8 to 15 digits, e.g. 0912-345-678",
        ));
    }
    Ok(phone.to_owned())
}

fn check_quantity(quantity: &str) -> AppResult<i64> {
    match quantity.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_UNITS).contains(&n) => Ok(n),
        _ => Err(invalid(format!(
            "the quantity must be a whole number from 1 to {MAX_UNITS}"
        ))),
    }
}

/// The store a consumer picked: an organization with the retailer role.
pub fn find_store(conn: &mut DbConn, id: &str) -> AppResult<OrgRow> {
    let not_a_store = || invalid("choose one of the stores listed for this product");
    let id = OrgId::parse(id.trim()).map_err(|_| not_a_store())?;
    let org = orgs::find(conn, &id.to_string())?.ok_or_else(not_a_store)?;
    if !org.has_role(Role::Retailer) {
        return Err(not_a_store());
    }
    Ok(org)
}

/// Takes the lot's row lock on PostgreSQL so that concurrent reservations of the same lot run
/// one after the other. SQLite's write transaction (BEGIN IMMEDIATE) already does.
fn lock_lot(conn: &mut DbConn, gtin: &str, lot: &str) -> QueryResult<()> {
    use crate::db::schema::lots::dsl as l;
    if let crate::db::DbConn::Postgres(c) = conn {
        l::lots
            .filter(l::gtin.eq(gtin).and(l::lot.eq(lot)))
            .select(l::lot)
            .for_update()
            .load::<String>(c)?;
    }
    Ok(())
}

/// Reserves units of a product at a store: the lot asked for, else the store's oldest lot with
/// enough units not held by other reservations.
pub fn reserve(
    conn: &mut DbConn,
    gtin: &str,
    form: &ReserveForm,
    minutes: u32,
) -> AppResult<ReservationRow> {
    let gtin = Gtin::parse(gtin).map_err(invalid)?;
    let product = products::find(conn, gtin.as_str())?
        .ok_or_else(|| AppError::NotFound(format!("no product with GTIN {gtin}")))?;
    let store = find_store(conn, &form.store)?;
    let quantity = check_quantity(&form.quantity)?;
    let name = check_name(&form.name)?;
    let phone = check_phone(&form.phone)?;
    let channel = Channel::parse(&form.ch).unwrap_or(Channel::Direct);
    let wanted_lot = form.lot.trim();
    write_transaction(conn, |conn| {
        let mut candidates: Vec<String> = stock::of_product(conn, &product.gtin)?
            .into_iter()
            .filter(|line| line.store.id == store.id)
            .map(|line| line.lot.lot)
            .collect();
        if !wanted_lot.is_empty() && candidates.iter().any(|l| l == wanted_lot) {
            candidates.retain(|l| l == wanted_lot);
        }
        if candidates.is_empty() {
            return Err(AppError::Conflict(format!(
                "{} has no {} in stock",
                store.name, product.name
            )));
        }
        let now = Utc::now().naive_utc();
        let mut most_available = 0;
        let mut uncounted = false;
        for lot in candidates {
            lock_lot(conn, &product.gtin, &lot)?;
            // Read again under the lock: a sale or a reservation may have just landed.
            let Some(holding) = stock::of_lot_at(conn, &product.gtin, &lot, &store)? else {
                continue;
            };
            let Some(on_hand) = holding.whole_units() else {
                uncounted = true;
                continue;
            };
            let available = on_hand - reservations::held_units(conn, &product.gtin, &lot, now)?;
            most_available = most_available.max(available);
            if available < quantity {
                continue;
            }
            let row = ReservationRow {
                code: new_code()?,
                store_org: store.id.clone(),
                gtin: product.gtin.clone(),
                lot,
                quantity,
                unit: holding.unit.unwrap_or_else(|| "H87".into()),
                customer_name: name,
                customer_phone: phone,
                channel: channel.as_str().to_owned(),
                status: RESERVED.to_owned(),
                created_at: now,
                expires_at: now + Duration::minutes(i64::from(minutes)),
                updated_at: now,
                confirmed_by: None,
                sell_record: None,
            };
            reservations::insert(conn, &row)?;
            return Ok(row);
        }
        Err(AppError::Conflict(if most_available > 0 {
            format!(
                "only {most_available} left to reserve at {}; reserve {most_available} or fewer",
                store.name
            )
        } else if uncounted {
            format!(
                "{} has not recorded how many it holds, so it cannot take reservations for this product; ask the store",
                store.name
            )
        } else {
            format!(
                "every unit of {} at {} is already reserved",
                product.name, store.name
            )
        }))
    })
}

/// How a reservation stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Reserved,
    Expired,
    HandingOver,
    PickedUp,
}

pub fn standing(row: &ReservationRow, now: NaiveDateTime) -> Standing {
    match row.status.as_str() {
        PICKED_UP => Standing::PickedUp,
        HANDING_OVER => Standing::HandingOver,
        _ if row.expires_at <= now => Standing::Expired,
        _ => Standing::Reserved,
    }
}

/// The answer for a code that names no reservation.
pub fn unknown_code() -> AppError {
    AppError::NotFound(
        "no reservation has this code: check it and type it again (10 letters and digits)".into(),
    )
}

pub fn find(conn: &mut DbConn, code: &str) -> AppResult<ReservationRow> {
    let code = normalize_code(code).ok_or_else(unknown_code)?;
    reservations::find(conn, &code)?.ok_or_else(unknown_code)
}

/// A reservation as a store's staff may see it: only the store it is for.
pub fn find_for_store(conn: &mut DbConn, code: &str, store: &OrgRow) -> AppResult<ReservationRow> {
    let row = find(conn, code)?;
    if row.store_org != store.id {
        let other = orgs::find(conn, &row.store_org)?.map_or_else(String::new, |o| o.name);
        return Err(AppError::Forbidden(format!(
            "this reservation is for {other}: only that store's staff can open or hand it over"
        )));
    }
    Ok(row)
}

/// Starts a handover: only staff of the reservation's store, only while it is reserved.
fn begin_handover(conn: &mut DbConn, code: &str, store: &OrgRow) -> AppResult<ReservationRow> {
    let row = find_for_store(conn, code, store)?;
    let now = Utc::now().naive_utc();
    match standing(&row, now) {
        Standing::PickedUp => Err(AppError::Conflict(format!(
            "this reservation was already picked up ({} UTC); nothing was changed",
            row.updated_at.format("%Y-%m-%d %H:%M")
        ))),
        Standing::Expired => Err(AppError::Conflict(format!(
            "this reservation expired at {} UTC; the units are free again. Reserve anew if the customer still wants them",
            row.expires_at.format("%Y-%m-%d %H:%M")
        ))),
        Standing::HandingOver if now - row.updated_at < Duration::seconds(STALE_HANDOVER_SECS) => {
            Err(AppError::Conflict(
                "this reservation is being handed over right now at another counter".into(),
            ))
        }
        from => {
            let from = if from == Standing::HandingOver {
                HANDING_OVER
            } else {
                RESERVED
            };
            if !reservations::transition(conn, &row.code, from, HANDING_OVER, now)? {
                return Err(AppError::Conflict(
                    "this reservation was just confirmed at another counter".into(),
                ));
            }
            Ok(row)
        }
    }
}

/// The `sell` record already stored for this reservation, if a handover got that far before.
fn sell_already_stored(conn: &mut DbConn, row: &ReservationRow) -> QueryResult<Option<String>> {
    Ok(records::chain_of(conn, &row.gtin, &row.lot)?
        .into_iter()
        .find(|r| {
            r.event == "sell"
                && Record::from_payload(&r.payload)
                    .is_ok_and(|rec| rec.kde.get("reservation") == Some(&row.code))
        })
        .map(|r| r.id))
}

/// The store's signed `sell` record for a reservation, against the lot's current head.
fn sell_envelope(conn: &mut DbConn, sealer: &Sealer, row: &ReservationRow) -> AppResult<Vec<u8>> {
    let key = hosted_keys::signing_key(conn, sealer, &row.store_org)?;
    let lot = lots::find(conn, &row.gtin, &row.lot)?
        .ok_or_else(|| AppError::internal("a reserved lot is missing"))?;
    let json = RecordJson {
        record_type: RECORD_TYPE.into(),
        event: "sell".into(),
        actor: row.store_org.clone(),
        time: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        location: None,
        lots: vec![LotRefJson {
            gtin: row.gtin.clone(),
            lot: row.lot.clone(),
            prev: lot.head,
            quantity: Some(crate::domain::Quantity {
                amount: row.quantity.to_string(),
                unit: row.unit.clone(),
            }),
        }],
        new_lots: Vec::new(),
        to: None,
        kde: BTreeMap::from([
            ("reservation".to_owned(), row.code.clone()),
            ("sale_channel".to_owned(), "in-store pickup".to_owned()),
        ]),
    };
    let payload = serde_json::to_vec(&json).map_err(AppError::internal)?;
    serde_json::to_vec(&crate::ledger::envelope::sign(&key, &payload).to_json())
        .map_err(AppError::internal)
}

/// Everything a handover needs from the server.
pub struct Handover<'a> {
    pub ledger: &'a Ledger,
    pub sealer: &'a Sealer,
    pub activity: &'a Activity,
}

/// Confirms a pickup: the store signs and stores a `sell` record for the reserved units, then
/// the reservation is marked picked up. On any failure the reservation stays as it was.
pub async fn confirm(
    h: Handover<'_>,
    code: &str,
    store: &OrgRow,
    user_id: &str,
) -> AppResult<ReservationRow> {
    let pool = h.ledger.pool().clone();
    let (code, store_row) = (code.to_owned(), store.clone());
    let row = tokio::task::spawn_blocking(move || -> AppResult<ReservationRow> {
        let mut conn = pool.get()?;
        write_transaction(&mut conn, |conn| begin_handover(conn, &code, &store_row))
    })
    .await??;
    let outcome = hand_over(&h, &row).await;
    let pool = h.ledger.pool().clone();
    let (user, done_row) = (user_id.to_owned(), row.clone());
    let finished = tokio::task::spawn_blocking(move || -> AppResult<ReservationRow> {
        let mut conn = pool.get()?;
        let now = Utc::now().naive_utc();
        match outcome {
            Ok(record_id) => {
                reservations::mark_picked_up(&mut conn, &done_row.code, &user, &record_id, now)?;
            }
            Err(e) => {
                reservations::transition(&mut conn, &done_row.code, HANDING_OVER, RESERVED, now)?;
                return Err(e);
            }
        }
        reservations::find(&mut conn, &done_row.code)?
            .ok_or_else(|| AppError::internal("a reservation vanished"))
    })
    .await??;
    let channel = Channel::parse(&finished.channel).unwrap_or(Channel::Direct);
    h.activity.record(
        Kind::Pickup,
        channel,
        &finished.gtin,
        &finished.lot,
        &finished.store_org,
    );
    Ok(finished)
}

/// Stores the `sell` record (or finds the one a crashed handover stored); returns its id.
async fn hand_over(h: &Handover<'_>, row: &ReservationRow) -> AppResult<String> {
    for _attempt in 0..4 {
        let pool = h.ledger.pool().clone();
        let (sealer, reservation) = (h.sealer.clone(), row.clone());
        let prepared =
            tokio::task::spawn_blocking(move || -> AppResult<Result<String, Vec<u8>>> {
                let mut conn = pool.get()?;
                if let Some(id) = sell_already_stored(&mut conn, &reservation)? {
                    return Ok(Ok(id));
                }
                Ok(Err(sell_envelope(&mut conn, &sealer, &reservation)?))
            })
            .await??;
        let envelope = match prepared {
            Ok(existing) => return Ok(existing),
            Err(envelope) => envelope,
        };
        match h.ledger.submit(&envelope).await {
            Ok(submitted) => return Ok(submitted.id),
            // Another record landed on the lot between reading its head and storing: sign again.
            Err(AppError::StalePrev { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(AppError::Unavailable(
        "the lot is changing too fast to record the sale; try again".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_ten_unambiguous_characters_and_typing_is_forgiving() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), 10);
        assert_eq!(normalize_code(&code), Some(code.clone()));
        assert_eq!(
            normalize_code(&display_code(&code).to_lowercase()),
            Some(code)
        );
        assert_eq!(normalize_code("abcde-fghjk").as_deref(), Some("ABCDEFGHJK"));
        assert_eq!(
            normalize_code("o1iL0-00000").as_deref(),
            Some("01110".to_owned() + "00000").as_deref()
        );
        assert_eq!(normalize_code("ABCDE-FGHJ"), None);
        assert_eq!(
            normalize_code("ABCDE-FGHJU"),
            None,
            "U is not in the alphabet"
        );
    }

    #[test]
    fn names_phones_and_quantities_are_checked() {
        assert!(check_name("王小明").is_ok());
        assert!(check_name("<script>alert(1)</script>").is_err());
        assert!(check_name("  ").is_err());
        assert!(check_phone("0912-345-678").is_ok());
        assert!(check_phone("+886 912 345 678").is_ok());
        assert!(check_phone("12345").is_err());
        assert!(check_phone("0912<345>678").is_err());
        for bad in ["0", "-1", "1000000", "1.5", "", "two"] {
            assert!(check_quantity(bad).is_err(), "{bad}");
        }
        assert_eq!(check_quantity(" 2 ").unwrap(), 2);
    }
}
