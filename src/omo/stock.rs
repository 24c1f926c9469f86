//! Store stock, read from the ledger and never edited by hand: a lot is in a store's stock from
//! its `receive` by a retailer until a `sell` or `dispose` empties it (or a `ship` moves it on).
//! Quantities count when the records carry them: the quantity on hand is the one the receive
//! states, else the last one stated for the lot, less every sale and disposal that states one.

use crate::db::rows::{LotRow, OrgRow};
use crate::db::{DbConn, lots, orgs, records};
use crate::domain::quantity::{MICRO, format_micro};
use crate::domain::{EventType, LotKey, Quantity, Role};
use crate::ledger::record::Record;
use chrono::{DateTime, FixedOffset};
use diesel::QueryResult;
use std::collections::HashMap;

/// What a store holds of one lot.
#[derive(Debug, Clone, PartialEq)]
pub struct Holding {
    pub store: String,
    /// The unit of `on_hand`, e.g. H87 (pieces) or KGM.
    pub unit: Option<String>,
    /// Micro-units on hand; None when no record says how much.
    pub on_hand: Option<i128>,
    pub since: DateTime<FixedOffset>,
}

impl Holding {
    /// Whole units on hand, the most that can be reserved; None when the amount is unknown.
    pub fn whole_units(&self) -> Option<i64> {
        self.on_hand
            .map(|m| i64::try_from(m / MICRO).unwrap_or(i64::MAX))
    }

    /// What is on hand as a person reads it, "12 件" or "12 pcs"; None when the amount is unknown.
    pub fn describe(&self, zh: bool) -> Option<String> {
        let amount = format_micro(self.on_hand?);
        Some(match &self.unit {
            Some(unit) => crate::domain::quantity::in_words(&amount, unit, zh),
            None => amount,
        })
    }
}

/// The quantity a record states for this lot, whether it acts on it or creates it.
fn stated(record: &Record, lot: &LotKey) -> Option<Quantity> {
    record
        .lots
        .iter()
        .find(|l| &l.key == lot)
        .and_then(|l| l.quantity.clone())
        .or_else(|| {
            record
                .new_lots
                .iter()
                .find(|l| &l.key == lot)
                .and_then(|l| l.quantity.clone())
        })
}

/// Replays a lot's records, oldest first, and says who holds it for sale now.
pub fn replay<'a>(
    lot: &LotKey,
    chain: impl IntoIterator<Item = &'a Record>,
    is_retailer: impl Fn(&str) -> bool,
) -> Option<Holding> {
    let mut last_known: Option<Quantity> = None;
    let mut holding: Option<Holding> = None;
    for record in chain {
        let actor = record.actor.to_string();
        let quantity = stated(record, lot);
        let by_holder = holding.as_ref().is_some_and(|h| h.store == actor);
        match record.event {
            EventType::Receive if is_retailer(&actor) => {
                let amount = quantity.clone().or_else(|| last_known.clone());
                holding = Some(Holding {
                    store: actor,
                    unit: amount.as_ref().map(|q| q.unit.clone()),
                    on_hand: amount.as_ref().and_then(Quantity::micro_units),
                    since: record.time,
                });
            }
            EventType::Receive => holding = None,
            EventType::Sell | EventType::Dispose if by_holder => {
                let remaining = holding.as_ref().and_then(|h| {
                    let sold = quantity.as_ref()?;
                    if h.unit.as_deref() != Some(sold.unit.as_str()) {
                        return None;
                    }
                    Some(h.on_hand? - sold.micro_units()?)
                });
                match (remaining, holding.as_mut()) {
                    (Some(left), Some(h)) if left > 0 => h.on_hand = Some(left),
                    _ => holding = None,
                }
            }
            EventType::Ship | EventType::Transform if by_holder => holding = None,
            _ => {}
        }
        // Sales and disposals state what left, not what is there.
        if !matches!(record.event, EventType::Sell | EventType::Dispose) && quantity.is_some() {
            last_known = quantity;
        }
    }
    holding
}

/// Retailers among these organizations.
fn retailers(rows: &[OrgRow]) -> HashMap<String, OrgRow> {
    rows.iter()
        .filter(|o| o.has_role(Role::Retailer))
        .map(|o| (o.id.clone(), o.clone()))
        .collect()
}

/// One lot in one store's stock.
#[derive(Debug, Clone)]
pub struct StockLine {
    pub lot: LotRow,
    pub store: OrgRow,
    pub holding: Holding,
}

fn holding_of(
    conn: &mut DbConn,
    lot: &LotRow,
    stores: &HashMap<String, OrgRow>,
) -> QueryResult<Option<Holding>> {
    let Ok(key) = LotKey::parse(&lot.gtin, &lot.lot) else {
        return Ok(None);
    };
    let chain: Vec<Record> = records::chain_of(conn, &lot.gtin, &lot.lot)?
        .iter()
        .filter_map(|row| Record::from_payload(&row.payload).ok())
        .collect();
    Ok(replay(&key, &chain, |id| stores.contains_key(id)))
}

fn lines(
    conn: &mut DbConn,
    candidates: Vec<LotRow>,
    stores: &HashMap<String, OrgRow>,
) -> QueryResult<Vec<StockLine>> {
    let mut out = Vec::new();
    for lot in candidates {
        let Some(store) = stores.get(&lot.custodian) else {
            continue;
        };
        if let Some(holding) = holding_of(conn, &lot, stores)?
            && holding.store == store.id
        {
            out.push(StockLine {
                store: store.clone(),
                lot,
                holding,
            });
        }
    }
    Ok(out)
}

/// Every store's stock of one product, oldest receipt first.
pub fn of_product(conn: &mut DbConn, gtin: &str) -> QueryResult<Vec<StockLine>> {
    let holders = lots::custodians_of_gtin(conn, gtin)?;
    let stores = retailers(&orgs::by_ids(conn, &holders)?);
    let ids: Vec<String> = stores.keys().cloned().collect();
    let candidates = lots::of_gtin_held_by(conn, gtin, &ids)?;
    lines(conn, candidates, &stores)
}

/// Everything one store has in stock; empty for an organization that is not a retailer.
pub fn of_store(conn: &mut DbConn, store: &OrgRow) -> QueryResult<Vec<StockLine>> {
    let stores = retailers(std::slice::from_ref(store));
    if stores.is_empty() {
        return Ok(Vec::new());
    }
    let candidates = lots::held_by(conn, &store.id)?;
    lines(conn, candidates, &stores)
}

/// One lot's holding by one store, if that store has it in stock.
pub fn of_lot_at(
    conn: &mut DbConn,
    gtin: &str,
    lot: &str,
    store: &OrgRow,
) -> QueryResult<Option<Holding>> {
    let Some(row) = lots::find(conn, gtin, lot)? else {
        return Ok(None);
    };
    if row.custodian != store.id {
        return Ok(None);
    }
    let stores = retailers(std::slice::from_ref(store));
    Ok(holding_of(conn, &row, &stores)?.filter(|h| h.store == store.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrgId;
    use crate::domain::RecordId;
    use crate::ledger::record::{LotRef, NewLot};

    const FARM: &str = "01890000-0000-7000-8000-000000000001";
    const STORE: &str = "01890000-0000-7000-8000-000000000002";
    const CARRIER: &str = "01890000-0000-7000-8000-000000000003";

    fn lot() -> LotKey {
        LotKey::parse("04712345000022", "L1").unwrap()
    }

    fn q(amount: &str, unit: &str) -> Option<Quantity> {
        Some(Quantity::parse(amount, unit).unwrap())
    }

    fn rec(event: EventType, actor: &str, hour: u32, quantity: Option<Quantity>) -> Record {
        let time =
            DateTime::parse_from_rfc3339(&format!("2026-11-20T{hour:02}:00:00+08:00")).unwrap();
        let (lots, new_lots) = if event == EventType::Harvest {
            (
                Vec::new(),
                vec![NewLot {
                    key: lot(),
                    quantity,
                }],
            )
        } else {
            (
                vec![LotRef {
                    key: lot(),
                    prev: RecordId::of_payload(b"x"),
                    quantity,
                }],
                Vec::new(),
            )
        };
        Record {
            event,
            actor: OrgId::parse(actor).unwrap(),
            time,
            location: None,
            lots,
            new_lots,
            to: None,
            kde: Default::default(),
        }
    }

    fn run(chain: &[Record]) -> Option<Holding> {
        replay(&lot(), chain, |id| id == STORE)
    }

    #[test]
    fn receive_by_a_retailer_puts_the_last_known_quantity_in_stock() {
        let chain = [
            rec(EventType::Harvest, FARM, 1, q("40", "H87")),
            rec(EventType::Ship, FARM, 2, None),
            rec(EventType::Receive, STORE, 3, None),
        ];
        let h = run(&chain).unwrap();
        assert_eq!((h.store.as_str(), h.whole_units()), (STORE, Some(40)));
        assert_eq!(h.describe(false).as_deref(), Some("40 pcs"));
        assert_eq!(h.describe(true).as_deref(), Some("40 件"));
    }

    #[test]
    fn a_receive_by_a_non_retailer_is_not_stock() {
        let chain = [
            rec(EventType::Harvest, FARM, 1, q("40", "H87")),
            rec(EventType::Receive, CARRIER, 3, None),
        ];
        assert_eq!(run(&chain), None);
    }

    #[test]
    fn sales_subtract_until_empty_and_unquantified_sales_empty_the_lot() {
        let mut chain = vec![
            rec(EventType::Harvest, FARM, 1, q("3", "H87")),
            rec(EventType::Receive, STORE, 2, q("3", "H87")),
            rec(EventType::Sell, STORE, 3, q("2", "H87")),
        ];
        assert_eq!(run(&chain).unwrap().whole_units(), Some(1));
        chain.push(rec(EventType::Sell, STORE, 4, q("1", "H87")));
        assert_eq!(run(&chain), None, "sold out");
        chain.pop();
        chain.push(rec(EventType::Dispose, STORE, 4, None));
        assert_eq!(
            run(&chain),
            None,
            "a disposal without a quantity empties the lot"
        );
    }

    #[test]
    fn unknown_amounts_stay_in_stock_without_a_count() {
        let chain = [
            rec(EventType::Harvest, FARM, 1, None),
            rec(EventType::Receive, STORE, 2, None),
            rec(EventType::Store, STORE, 3, None),
        ];
        let h = run(&chain).unwrap();
        assert_eq!((h.on_hand, h.describe(false)), (None, None));
    }

    #[test]
    fn a_sale_in_another_unit_cannot_be_counted_and_ends_the_count() {
        let chain = [
            rec(EventType::Receive, STORE, 2, q("3", "H87")),
            rec(EventType::Sell, STORE, 3, q("1", "KGM")),
        ];
        assert_eq!(run(&chain), None);
    }

    proptest::proptest! {
        /// Selling in any split never leaves more than was received, and leaves exactly the
        /// difference while it is positive.
        #[test]
        fn stock_is_received_minus_sold(received in 1u32..500, sales in proptest::collection::vec(1u32..20, 0..20)) {
            let mut chain = vec![rec(EventType::Receive, STORE, 1, q(&received.to_string(), "H87"))];
            for (i, sold) in sales.iter().enumerate() {
                chain.push(rec(EventType::Sell, STORE, 2 + (i as u32 % 20), q(&sold.to_string(), "H87")));
            }
            let total: u32 = sales.iter().sum();
            let expected = (received > total).then(|| i64::from(received - total));
            proptest::prop_assert_eq!(run(&chain).and_then(|h| h.whole_units()), expected);
        }
    }
}
