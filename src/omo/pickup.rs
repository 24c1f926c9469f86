//! In-store pickup: a consumer reserves units of a product at a store that has it in stock;
//! the store's staff confirm the handover, and the store signs a `sell` record for that lot with
//! its hosted key, through the ledger's normal path. A reservation holds its units until it
//! expires or the store cancels it; units held by reservations cannot be reserved again. What
//! open reservations hold is limited per phone number, browser and client address, and together
//! to a share of each lot's units at a store, so that nobody can reserve a store's stock away.

use crate::accounts::hosted_keys::{self, Sealer};
use crate::db::reservations::{CANCELLED, HANDING_OVER, Holder, PICKED_UP, RESERVED};
use crate::db::rows::{OrgRow, ReservationRow};
use crate::db::{DbConn, lots, orgs, products, recalls, records, reservations, write_transaction};
use crate::domain::text::said;
use crate::domain::time::Reader;
use crate::domain::{Gtin, OrgId, Role};
use crate::error::{AppError, AppResult};
use crate::ledger::Ledger;
use crate::ledger::record::{LotRefJson, RECORD_TYPE, Record, RecordJson};
use crate::omo::activity::{Activity, Channel, Kind};
use crate::omo::stock;
use crate::settings::PickupLimits;
use chrono::{Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use sha2::{Digest, Sha256};
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

fn check_name(name: &str, zh: bool) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(invalid(said(
            zh,
            "enter a name of 1 to 60 characters for the pickup",
            "請輸入取貨人姓名（1 到 60 個字）",
        )));
    }
    if name
        .chars()
        .any(|c| c.is_control() || matches!(c, '<' | '>'))
    {
        return Err(invalid(said(
            zh,
            "the name may not contain <, > or control characters",
            "姓名不能包含 <、> 或控制字元",
        )));
    }
    Ok(name.to_owned())
}

fn check_phone(phone: &str, zh: bool) -> AppResult<String> {
    let phone = phone.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | ' ' | '(' | ')'));
    if !allowed || !(8..=15).contains(&digits) || phone.len() > 24 {
        return Err(invalid(said(
            zh,
            "enter a phone number of 8 to 15 digits, e.g. 0912-345-678",
            "請輸入 8 到 15 位數字的電話號碼，例如 0912-345-678",
        )));
    }
    Ok(phone.to_owned())
}

fn check_quantity(quantity: &str, zh: bool) -> AppResult<i64> {
    match quantity.trim().parse::<i64>() {
        Ok(n) if (1..=MAX_UNITS).contains(&n) => Ok(n),
        _ => Err(invalid(said(
            zh,
            format!("the quantity must be a whole number from 1 to {MAX_UNITS}"),
            format!("數量請填 1 到 {MAX_UNITS} 的整數"),
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

/// Who is reserving, besides the phone number on the form: the limits count what one browser
/// and one client address hold.
#[derive(Debug, Clone)]
pub struct Client {
    /// The form's CSRF token, already checked: one browser's (or one session's).
    pub browser_token: String,
    /// The client's address as limits count it (`client_addr::limit_key`); empty if unknown.
    pub address: String,
}

/// The rules a reservation is made under.
#[derive(Debug, Clone, Copy)]
pub struct Terms<'a> {
    /// How long a reservation holds its units.
    pub minutes: u32,
    pub limits: &'a PickupLimits,
}

/// Why a reservation was not made.
#[derive(Debug)]
pub enum Refused {
    /// A limit on what may be held at once (409), said in the consumer's language.
    Limit(Limit),
    /// Anything else.
    Error(AppError),
}

impl From<AppError> for Refused {
    fn from(e: AppError) -> Self {
        Self::Error(e)
    }
}

impl From<diesel::result::Error> for Refused {
    fn from(e: diesel::result::Error) -> Self {
        Self::Error(e.into())
    }
}

/// A limit a reservation would pass, with what the consumer needs to know to do something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// One phone number, browser or client address already holds this much in open reservations.
    Holder {
        holder: Holder,
        count: i64,
        units: i64,
        max_count: i64,
        max_units: i64,
        minutes: u32,
    },
    /// What open reservations may hold of the store's units of a lot: `left` more units (the
    /// share is `cap` of the lot's `on_hand`).
    Share {
        store: String,
        product: String,
        lot: String,
        left: i64,
        cap: i64,
        on_hand: i64,
        minutes: u32,
    },
}

impl Limit {
    /// What the limit is and what to do, in Traditional Chinese or English.
    pub fn message(&self, zh: bool) -> String {
        match self {
            Self::Holder {
                holder,
                count,
                units,
                max_count,
                max_units,
                minutes,
            } => {
                let (who, each) = match (holder, zh) {
                    (Holder::Phone, false) => ("this phone number", "one phone number"),
                    (Holder::Browser, false) => ("this browser", "one browser"),
                    (Holder::Address, false) => (
                        "your network address (everyone on the same network counts together)",
                        "one network address",
                    ),
                    (Holder::Phone, true) => ("這個手機號碼", "每個手機號碼"),
                    (Holder::Browser, true) => ("這個瀏覽器", "每個瀏覽器"),
                    (Holder::Address, true) => {
                        ("您的網路位址（同一網路的使用者合併計算）", "每個網路位址")
                    }
                };
                let room = (max_units - units).max(0);
                let full = count >= max_count || room == 0;
                if zh {
                    let mut m = String::new();
                    if *count > 0 {
                        m.push_str(&format!(
                            "{who}目前已有 {count} 筆未取貨的預約，共 {units} 件；"
                        ));
                    }
                    m.push_str(&format!(
                        "{each}同時最多只能保留 {max_count} 筆預約、共 {max_units} 件。"
                    ));
                    if !full {
                        m.push_str(&format!("請預約 {room} 件以內，或"));
                    } else {
                        m.push('請');
                    }
                    m.push_str(&format!(
                        "等預約結束（取貨、門市取消，或預約後 {minutes} 分鐘到期）後再預約。大量訂購請直接洽詢門市。"
                    ));
                    m
                } else {
                    let mut m = String::new();
                    if *count > 0 {
                        m.push_str(&format!(
                            "{who} already holds {count} open pickup reservation{} for {units} unit{} in all; ",
                            plural(*count),
                            plural(*units)
                        ));
                    }
                    m.push_str(&format!(
                        "{each} may hold at most {max_count} open reservations and {max_units} units at once. "
                    ));
                    if !full {
                        m.push_str(&format!("Reserve {room} or fewer, or wait"));
                    } else {
                        m.push_str("Wait");
                    }
                    m.push_str(&format!(
                        " until a reservation ends: when it is picked up, cancelled by the store, or {minutes} minutes after it was made. For a larger order, ask the store."
                    ));
                    m
                }
            }
            Self::Share {
                store,
                product,
                lot,
                left,
                cap,
                on_hand,
                minutes,
            } => {
                // When the share is every unit (a small store, or the operator's choice), there
                // is nothing kept for the store's shoppers to mention.
                let kept = cap < on_hand;
                match (zh, *left > 0) {
                    (false, true) => {
                        let mut m = format!("only {left} left to reserve at {store}");
                        if kept {
                            m.push_str(&format!(
                                ": reservations may hold at most {cap} of its {on_hand} units of lot {lot} at once, so that shoppers in the store can buy the rest"
                            ));
                        }
                        m.push_str(&format!("; reserve {left} or fewer"));
                        if kept {
                            m.push_str(", or buy in the store");
                        }
                        m
                    }
                    (false, false) => {
                        let mut m = format!(
                            "every unit of {product} at {store} that can be reserved is already reserved"
                        );
                        if kept {
                            m.push_str(&format!(
                                " (reservations may hold at most {cap} of its {on_hand} units of lot {lot} at once, so that shoppers in the store can buy the rest)"
                            ));
                        }
                        m.push_str(&format!(
                            ". Try another store, come to the store, or try again later: a reservation ends when it is picked up, cancelled by the store, or {minutes} minutes after it was made"
                        ));
                        m
                    }
                    (true, true) => {
                        let mut m = format!("{store}目前只剩 {left} 件可預約");
                        if kept {
                            m.push_str(&format!(
                                "：批號 {lot} 的 {on_hand} 件中，預約同時最多只能保留 {cap} 件，其餘留給到店購買的顧客"
                            ));
                        }
                        m.push_str(&format!("。請預約 {left} 件以內"));
                        if kept {
                            m.push_str("，或直接到門市購買");
                        }
                        m.push('。');
                        m
                    }
                    (true, false) => {
                        let mut m = format!("{store}的{product}可預約的數量都已被預約");
                        if kept {
                            m.push_str(&format!(
                                "（批號 {lot} 的 {on_hand} 件中，預約同時最多只能保留 {cap} 件，其餘留給到店購買的顧客）"
                            ));
                        }
                        m.push_str(&format!(
                            "。請改選其他門市、直接到門市購買，或稍後再試：預約在取貨、門市取消，或預約後 {minutes} 分鐘到期時結束。"
                        ));
                        m
                    }
                }
            }
        }
    }
}

fn plural(n: i64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The phone number as the limits count it: its digits, with Taiwan's country code (+886,
/// 00886) read as the leading 0 it stands for.
fn phone_key(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits
        .strip_prefix("00886")
        .or_else(|| digits.strip_prefix("886").filter(|rest| rest.len() >= 8))
    {
        Some(national) => format!("0{}", national.trim_start_matches('0')),
        None => digits,
    }
}

/// SHA-256 (hex) of a value that identifies a client, so that the value itself is not stored.
fn digest(what: &str, value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    hex::encode(Sha256::digest(format!(
        "truetrace reservation {what}\n{value}"
    )))
}

/// Refuses a reservation of `quantity` more units that would take one holder past its limits.
fn check_holder(
    conn: &mut DbConn,
    holder: Holder,
    key: &str,
    quantity: i64,
    (max_count, max_units): (u32, u32),
    terms: &Terms<'_>,
    now: NaiveDateTime,
) -> Result<(), Refused> {
    if key.is_empty() {
        return Ok(());
    }
    let (count, units) = reservations::held_by(conn, holder, key, now)?;
    let (max_count, max_units) = (i64::from(max_count), i64::from(max_units));
    if count + 1 > max_count || units + quantity > max_units {
        return Err(Refused::Limit(Limit::Holder {
            holder,
            count,
            units,
            max_count,
            max_units,
            minutes: terms.minutes,
        }));
    }
    Ok(())
}

/// Reserves units of a product at a store: the lot asked for, else the store's oldest lot with
/// enough units left to reserve. Refused, changing nothing, when it would take the phone
/// number, the browser or the client address past what one may hold at once, or the store's
/// open reservations of the lot past their share of its units.
pub fn reserve(
    conn: &mut DbConn,
    gtin: &str,
    form: &ReserveForm,
    terms: &Terms<'_>,
    client: &Client,
    zh: bool,
) -> Result<ReservationRow, Refused> {
    let gtin = Gtin::parse(gtin).map_err(invalid)?;
    let product = products::find(conn, gtin.as_str())?
        .ok_or_else(|| AppError::NotFound(format!("no product with GTIN {gtin}")))?;
    let store = find_store(conn, &form.store).map_err(|e| match e {
        AppError::InvalidField(_) => invalid(said(
            zh,
            "choose one of the stores listed for this product",
            "請從這項商品的門市清單中選擇一家",
        )),
        other => other,
    })?;
    let quantity = check_quantity(&form.quantity, zh)?;
    let name = check_name(&form.name, zh)?;
    let phone = check_phone(&form.phone, zh)?;
    let channel = Channel::parse(&form.ch).unwrap_or(Channel::Direct);
    let wanted_lot = form.lot.trim();
    let holder_phone = phone_key(&phone);
    let holder_browser = digest("browser", &client.browser_token);
    let holder_address = digest("address", &client.address);
    let limits = terms.limits;
    let (store_name, product_name) = match zh {
        true => (
            store.name_zh.clone().unwrap_or_else(|| store.name.clone()),
            product
                .name_zh
                .clone()
                .unwrap_or_else(|| product.name.clone()),
        ),
        false => (store.name.clone(), product.name.clone()),
    };
    write_transaction(conn, |conn| {
        let now = Utc::now().naive_utc();
        reservations::lock_holders(
            conn,
            &[
                &format!("phone:{holder_phone}"),
                &format!("browser:{holder_browser}"),
                &format!("address:{holder_address}"),
            ],
        )?;
        let per_holder = (limits.holder_reservations, limits.holder_units);
        let per_address = (limits.address_reservations, limits.address_units);
        for (holder, key, max) in [
            (Holder::Phone, &holder_phone, per_holder),
            (Holder::Browser, &holder_browser, per_holder),
            (Holder::Address, &holder_address, per_address),
        ] {
            check_holder(conn, holder, key, quantity, max, terms, now)?;
        }
        let mut candidates: Vec<String> = stock::of_product(conn, &product.gtin)?
            .into_iter()
            .filter(|line| line.store.id == store.id)
            .map(|line| line.lot.lot)
            .collect();
        if !wanted_lot.is_empty() && candidates.iter().any(|l| l == wanted_lot) {
            candidates.retain(|l| l == wanted_lot);
        }
        // A recalled lot is never reserved; asked for by name, the answer says why.
        let before = candidates.clone();
        let mut kept = Vec::with_capacity(candidates.len());
        for lot in candidates {
            if recalls::in_force_on(conn, &product.gtin, &lot)?.is_none() {
                kept.push(lot);
            }
        }
        let candidates = kept;
        if candidates.is_empty() && !before.is_empty() {
            let lot = before.first().map_or(wanted_lot, String::as_str);
            return Err(recalled_lot(&product_name, lot, zh).into());
        }
        if candidates.is_empty() {
            return Err(AppError::Conflict(said(
                zh,
                format!("{store_name} has no {product_name} in stock"),
                format!("{store_name}目前沒有{product_name}的庫存"),
            ))
            .into());
        }
        // The lot with the most left to reserve, for the message when none has enough.
        let mut best: Option<Limit> = None;
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
            // Open reservations together hold at most their share of the lot's units; the rest
            // stays for the people in the store.
            let cap = limits.share_of(on_hand);
            let left = (cap - reservations::held_units(conn, &product.gtin, &lot, now)?).max(0);
            if left < quantity {
                if best
                    .as_ref()
                    .is_none_or(|b| matches!(b, Limit::Share { left: most, .. } if left > *most))
                {
                    best = Some(Limit::Share {
                        store: store_name.clone(),
                        product: product_name.clone(),
                        lot,
                        left,
                        cap,
                        on_hand,
                        minutes: terms.minutes,
                    });
                }
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
                expires_at: now + Duration::minutes(i64::from(terms.minutes)),
                updated_at: now,
                confirmed_by: None,
                sell_record: None,
                holder_phone,
                holder_browser,
                holder_address,
                cancelled_by: None,
            };
            reservations::insert(conn, &row)?;
            return Ok(row);
        }
        Err(match best {
            Some(limit) => Refused::Limit(limit),
            None if uncounted => AppError::Conflict(said(
                zh,
                format!("{store_name} has not recorded how many it holds, so it cannot take reservations for this product; ask the store"),
                format!("{store_name}尚未記錄這項商品的庫存數量，因此無法接受預約；請直接洽詢門市"),
            ))
            .into(),
            None => AppError::Conflict(said(
                zh,
                format!("every unit of {product_name} at {store_name} is already reserved"),
                format!("{store_name}的{product_name}已全數被預約"),
            ))
            .into(),
        })
    })
}

/// How a reservation stands now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Reserved,
    Expired,
    HandingOver,
    PickedUp,
    /// Cancelled by the store's staff.
    Cancelled,
    /// Open, but its lot is under a recall in force: cancelled, and never handed over.
    Recalled,
}

pub fn standing(row: &ReservationRow, now: NaiveDateTime) -> Standing {
    match row.status.as_str() {
        PICKED_UP => Standing::PickedUp,
        CANCELLED => Standing::Cancelled,
        HANDING_OVER => Standing::HandingOver,
        _ if row.expires_at <= now => Standing::Expired,
        _ => Standing::Reserved,
    }
}

/// How a reservation stands now, recalls in force included.
pub fn standing_now(
    conn: &mut DbConn,
    row: &ReservationRow,
    now: NaiveDateTime,
) -> QueryResult<Standing> {
    let base = standing(row, now);
    if matches!(base, Standing::Reserved | Standing::HandingOver)
        && recalls::in_force_on(conn, &row.gtin, &row.lot)?.is_some()
    {
        return Ok(Standing::Recalled);
    }
    Ok(base)
}

/// The answer when the lot asked for is recalled, in the consumer's language.
fn recalled_lot(product: &str, lot: &str, zh: bool) -> AppError {
    AppError::Conflict(if zh {
        format!(
            "{product}批號 {lot} 回收中，不能預約或購買。請看該批號的履歷頁了解回收原因與處理方式。"
        )
    } else {
        format!(
            "lot {lot} of {product} is recalled and cannot be reserved or bought; its provenance page says why and what to do"
        )
    })
}

/// The answer for a code that names no reservation.
pub fn unknown_code(zh: bool) -> AppError {
    AppError::NotFound(said(
        zh,
        "no reservation has this code: check it and type it again (10 letters and digits)",
        "沒有這個代碼的預約：請確認後重新輸入（10 個英文字母與數字）",
    ))
}

pub fn find(conn: &mut DbConn, code: &str, zh: bool) -> AppResult<ReservationRow> {
    let code = normalize_code(code).ok_or_else(|| unknown_code(zh))?;
    reservations::find(conn, &code)?.ok_or_else(|| unknown_code(zh))
}

/// A reservation as a store's staff may see it: only the store it is for.
pub fn find_for_store(
    conn: &mut DbConn,
    code: &str,
    store: &OrgRow,
    zh: bool,
) -> AppResult<ReservationRow> {
    let row = find(conn, code, zh)?;
    if row.store_org != store.id {
        let other = orgs::find(conn, &row.store_org)?.map_or_else(String::new, |o| {
            if zh {
                o.name_zh.unwrap_or(o.name)
            } else {
                o.name
            }
        });
        return Err(AppError::Forbidden(said(
            zh,
            format!(
                "this reservation is for {other}: only that store's staff can open or hand it over"
            ),
            format!("這筆預約屬於{other}：只有該門市的員工可以開啟或交付"),
        )));
    }
    Ok(row)
}

/// What the counter was asked to do with a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CounterAction {
    HandOver,
    Cancel,
}

/// Why the counter cannot do it, for the staff in their page's language, with the times in
/// the store's offset. Nothing was changed in any case.
fn counter_refusal(
    action: CounterAction,
    row: &ReservationRow,
    standing: Standing,
    reader: &Reader,
) -> AppError {
    use CounterAction::{Cancel, HandOver};
    let (lot, zh) = (&row.lot, reader.zh);
    let (changed, expires) = (reader.time(row.updated_at), reader.time(row.expires_at));
    AppError::Conflict(match (standing, action) {
        (Standing::Recalled, HandOver) => said(
            zh,
            format!(
                "lot {lot} is under a recall in force: do not hand it over. The reservation is cancelled and nothing was changed; take the units off the shelf"
            ),
            format!("批號 {lot} 回收中：請勿交付。此預約已取消，沒有任何變更；請將這批商品下架"),
        ),
        (Standing::Recalled, Cancel) => said(
            zh,
            format!(
                "lot {lot} is under a recall in force, so this reservation is cancelled already; nothing was changed"
            ),
            format!("批號 {lot} 回收中，此預約已自動取消，沒有任何變更"),
        ),
        (Standing::PickedUp, HandOver) => said(
            zh,
            format!("this reservation was already picked up ({changed}); nothing was changed"),
            format!("此預約已於 {changed} 取貨，沒有任何變更"),
        ),
        (Standing::PickedUp, Cancel) => said(
            zh,
            format!(
                "this reservation was already picked up ({changed}) and cannot be cancelled; nothing was changed"
            ),
            format!("此預約已於 {changed} 取貨，無法取消，沒有任何變更"),
        ),
        (Standing::Expired, HandOver) => said(
            zh,
            format!(
                "this reservation expired at {expires}; the units are free again. Reserve anew if the customer still wants them"
            ),
            format!("此預約已於 {expires} 到期，保留的商品已釋出。顧客若仍需要，請重新預約"),
        ),
        (Standing::Expired, Cancel) => said(
            zh,
            format!(
                "this reservation expired at {expires}: its units are already free; nothing was changed"
            ),
            format!("此預約已於 {expires} 到期，保留的商品已釋出，沒有任何變更"),
        ),
        (Standing::Cancelled, _) => said(
            zh,
            format!(
                "this reservation was cancelled ({changed}); its units are free again and nothing was changed. Reserve anew if the customer still wants them"
            ),
            format!(
                "此預約已於 {changed} 取消，保留的商品已釋出，沒有任何變更。顧客若仍需要，請重新預約"
            ),
        ),
        (Standing::HandingOver, HandOver) => said(
            zh,
            "this reservation is being handed over right now at another counter; nothing was changed",
            "此預約正在另一個櫃台交付中，沒有任何變更",
        ),
        (Standing::HandingOver, Cancel) => said(
            zh,
            "this reservation is being handed over right now and cannot be cancelled; nothing was changed",
            "此預約正在交付中，無法取消，沒有任何變更",
        ),
        // Another counter changed it between reading and writing.
        (Standing::Reserved, HandOver) => said(
            zh,
            "this reservation was just confirmed at another counter; nothing was changed",
            "此預約剛在另一個櫃台確認，沒有任何變更",
        ),
        (Standing::Reserved, Cancel) => said(
            zh,
            "this reservation was just handed over or cancelled at another counter; nothing was changed",
            "此預約剛在另一個櫃台交付或取消，沒有任何變更",
        ),
    })
}

/// Starts a handover: only staff of the reservation's store, only while it is reserved.
fn begin_handover(
    conn: &mut DbConn,
    code: &str,
    store: &OrgRow,
    reader: &Reader,
) -> AppResult<ReservationRow> {
    let row = find_for_store(conn, code, store, reader.zh)?;
    let now = Utc::now().naive_utc();
    let from = match standing_now(conn, &row, now)? {
        Standing::Reserved => RESERVED,
        // A handover that crashed mid-way may be tried again once it is stale.
        Standing::HandingOver if now - row.updated_at >= Duration::seconds(STALE_HANDOVER_SECS) => {
            HANDING_OVER
        }
        standing => {
            return Err(counter_refusal(
                CounterAction::HandOver,
                &row,
                standing,
                reader,
            ));
        }
    };
    if !reservations::transition(conn, &row.code, from, HANDING_OVER, now)? {
        return Err(counter_refusal(
            CounterAction::HandOver,
            &row,
            Standing::Reserved,
            reader,
        ));
    }
    Ok(row)
}

/// Cancels a reservation at the store's counter: only staff of its store, only while it is
/// reserved (not being handed over, picked up or expired). Its units are free again at once.
pub fn cancel(
    conn: &mut DbConn,
    code: &str,
    store: &OrgRow,
    user_id: &str,
    reader: &Reader,
) -> AppResult<ReservationRow> {
    write_transaction(conn, |conn| {
        let row = find_for_store(conn, code, store, reader.zh)?;
        let now = Utc::now().naive_utc();
        let standing = standing_now(conn, &row, now)?;
        if standing != Standing::Reserved || !reservations::cancel(conn, &row.code, user_id, now)? {
            return Err(counter_refusal(
                CounterAction::Cancel,
                &row,
                standing,
                reader,
            ));
        }
        reservations::find(conn, &row.code)?
            .ok_or_else(|| AppError::internal("a reservation vanished"))
    })
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
    reader: Reader,
) -> AppResult<ReservationRow> {
    let pool = h.ledger.pool().clone();
    let (code, store_row) = (code.to_owned(), store.clone());
    let row = tokio::task::spawn_blocking(move || -> AppResult<ReservationRow> {
        let mut conn = pool.get()?;
        write_transaction(&mut conn, |conn| {
            begin_handover(conn, &code, &store_row, &reader)
        })
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
        assert!(check_name("王小明", false).is_ok());
        assert!(check_name("<script>alert(1)</script>", false).is_err());
        assert!(
            check_name("  ", true)
                .unwrap_err()
                .to_string()
                .contains("請輸入取貨人姓名")
        );
        assert!(check_phone("0912-345-678", false).is_ok());
        assert!(check_phone("+886 912 345 678", false).is_ok());
        assert!(
            check_phone("12345", false)
                .unwrap_err()
                .to_string()
                .contains("8 to 15 digits")
        );
        assert!(
            check_phone("0912<345>678", true)
                .unwrap_err()
                .to_string()
                .contains("電話號碼")
        );
        for bad in ["0", "-1", "1000000", "1.5", "", "two"] {
            assert!(check_quantity(bad, false).is_err(), "{bad}");
        }
        assert_eq!(check_quantity(" 2 ", true).unwrap(), 2);
    }

    #[test]
    fn one_phone_number_however_it_is_written() {
        for written in [
            "0912-345-678",
            "0912 345 678",
            "+886 912 345 678",
            "+886 (0)912-345-678",
            "00886912345678",
            "886912345678",
        ] {
            assert_eq!(phone_key(written), "0912345678", "{written}");
        }
        assert_eq!(phone_key("+1 415 555 0100"), "14155550100");
        assert_ne!(digest("browser", "a"), digest("address", "a"));
        assert_eq!(digest("browser", ""), "", "nothing to count by");
    }

    #[test]
    fn limits_say_what_they_are_and_what_to_do_in_both_languages() {
        let holder = Limit::Holder {
            holder: Holder::Phone,
            count: 2,
            units: 15,
            max_count: 3,
            max_units: 20,
            minutes: 120,
        };
        assert_eq!(
            holder.message(false),
            "this phone number already holds 2 open pickup reservations for 15 units in all; \
             one phone number may hold at most 3 open reservations and 20 units at once. \
             Reserve 5 or fewer, or wait until a reservation ends: when it is picked up, \
             cancelled by the store, or 120 minutes after it was made. For a larger order, ask \
             the store."
        );
        assert_eq!(
            holder.message(true),
            "這個手機號碼目前已有 2 筆未取貨的預約，共 15 件；每個手機號碼同時最多只能保留 3 筆預約、共 20 件。\
             請預約 5 件以內，或等預約結束（取貨、門市取消，或預約後 120 分鐘到期）後再預約。大量訂購請直接洽詢門市。"
        );
        let first = Limit::Holder {
            holder: Holder::Address,
            count: 0,
            units: 0,
            max_count: 10,
            max_units: 60,
            minutes: 120,
        };
        assert!(
            first
                .message(false)
                .starts_with("one network address may hold at most 10")
        );
        let share = |left, cap, on_hand| Limit::Share {
            store: "Store".into(),
            product: "Rice".into(),
            lot: "R1".into(),
            left,
            cap,
            on_hand,
            minutes: 120,
        };
        assert_eq!(
            share(3, 3, 6).message(false),
            "only 3 left to reserve at Store: reservations may hold at most 3 of its 6 units of \
             lot R1 at once, so that shoppers in the store can buy the rest; reserve 3 or fewer, \
             or buy in the store"
        );
        assert_eq!(
            share(1, 1, 1).message(false),
            "only 1 left to reserve at Store; reserve 1 or fewer",
            "a store's only unit: nothing is kept back to mention"
        );
        assert!(
            share(0, 3, 6)
                .message(true)
                .contains("Store的Rice可預約的數量都已被預約")
        );
        assert!(share(0, 3, 6).message(false).starts_with(
            "every unit of Rice at Store that can be reserved is already reserved (reservations may hold at most 3 of its 6"
        ));
    }
}
