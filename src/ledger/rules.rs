//! The rules a record must meet against the ledger's state, as pure functions.
//!
//! `check` decides; `next_states` says what an accepted record changes. Both are used by ingest
//! (over the database, inside the append transaction) and by `truetrace verify` (over the lot
//! states its replay of the log holds), so the server and the auditor apply one set of rules.

use crate::domain::{EventType, Gtin, LotKey, OrgId, RecordId, Role, Roles};
use crate::error::AppError;
use crate::ledger::record::Record;
use chrono::{DateTime, Duration, Utc};

/// How far ahead of the server's clock a record's time may be.
pub const MAX_CLOCK_AHEAD: Duration = Duration::minutes(5);

/// What the ledger knows of a lot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LotState {
    pub custodian: OrgId,
    pub head: RecordId,
    /// The `time` of the head record, in UTC.
    pub head_time: DateTime<Utc>,
    /// The organization the lot's last ship named, until it receives the lot.
    pub shipped_to: Option<OrgId>,
}

/// Read access to the state the rules need.
pub trait LedgerView {
    type Error;
    fn lot(&mut self, key: &LotKey) -> Result<Option<LotState>, Self::Error>;
    fn product_exists(&mut self, gtin: &Gtin) -> Result<bool, Self::Error>;
    fn org_roles(&mut self, org: OrgId) -> Result<Option<Roles>, Self::Error>;
    /// The names of an organization's locations (its master data), which `kde.tlc_source` may
    /// name; None where master data is not at hand: the replay of the log by `truetrace verify`,
    /// since master data changes and a record accepted under an old list stays valid.
    fn location_names(&mut self, org: OrgId) -> Result<Option<Vec<String>>, Self::Error>;
}

/// The key data elements that hold a calendar date: DESIGN.md's, and a fishing trip's last day
/// of harvest and the day its catch was landed (FSMA 204 § 1.1335).
pub const KDE_DATES: [&str; 5] = [
    "harvest_date",
    "harvest_end_date",
    "cooling_date",
    "pack_date",
    "landing_date",
];

/// The documented `kde` keys that have a form, checked when present: dates are `YYYY-MM-DD`
/// dates, `temperature_c` a decimal number, `tlc_source` a GLN (check digit and all) or a place
/// name. Answers the place name that `tlc_source` gives when it is neither a GLN nor the record's
/// own location, to be found among the actor's locations; the other keys stay free-form.
pub fn check_kde(record: &Record) -> Result<Option<&str>, Rejection> {
    let kde = &record.kde;
    for key in KDE_DATES {
        if let Some(value) = kde.get(key)
            && !is_date(value)
        {
            return Err(Rejection::Invalid(format!(
                "kde.{key} {value:?} must be a date written YYYY-MM-DD, such as 2026-11-20"
            )));
        }
    }
    if let Some(value) = kde.get("temperature_c")
        && !is_decimal(value)
    {
        return Err(Rejection::Invalid(format!(
            "kde.temperature_c {value:?} must be a number of degrees Celsius, such as 4 or -1.5"
        )));
    }
    let Some(source) = kde.get("tlc_source") else {
        return Ok(None);
    };
    if !source.is_empty() && source.bytes().all(|b| b.is_ascii_digit()) {
        return match crate::domain::Gln::parse(source) {
            Ok(_) => Ok(None),
            Err(e) => Err(Rejection::Invalid(format!("kde.tlc_source: {e}"))),
        };
    }
    let own = record.location.as_ref().and_then(|l| l.name.as_deref());
    if own == Some(source.as_str()) {
        return Ok(None);
    }
    Ok(Some(source))
}

fn unknown_tlc_source(source: &str, actor: OrgId) -> Rejection {
    Rejection::Invalid(format!(
        "kde.tlc_source {source:?} must be a GLN, the record's location name, or the name of one \
         of the locations of organization {actor} (its master data)"
    ))
}

fn is_date(value: &str) -> bool {
    // `NaiveDate::parse_from_str(value, "%Y-%m-%d")` with the format read once: reading it was
    // most of this check's time, which `truetrace verify` spends on every harvest.
    static ITEMS: std::sync::LazyLock<Vec<chrono::format::Item<'static>>> =
        std::sync::LazyLock::new(|| chrono::format::StrftimeItems::new("%Y-%m-%d").collect());
    let mut parsed = chrono::format::Parsed::new();
    value.len() == 10
        && chrono::format::parse(&mut parsed, value, ITEMS.iter()).is_ok()
        && parsed.to_naive_date().is_ok()
}

/// An optional minus sign, digits, and an optional fraction: `4`, `-1.5`, `16.50`.
fn is_decimal(value: &str) -> bool {
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.len() <= 6
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
}

/// Why a well-signed record is refused. Each maps to one status and error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Invalid(String),
    UnknownProduct(String),
    StalePrev { lot: LotKey, head: RecordId },
    NotCustodian(String),
    RoleNotAllowed(String),
    InvalidTime(String),
}

/// The one conversion from a ledger rejection to the application's error.
impl From<Rejection> for AppError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::Invalid(m) => Self::InvalidRecord(m),
            Rejection::UnknownProduct(m) => Self::UnknownProduct(m),
            Rejection::StalePrev { lot, head } => Self::StalePrev {
                message: format!(
                    "prev of lot {lot} is not its current head {head}: another record was appended first; \
                     re-read the lot and sign again"
                ),
                head: head.to_hex(),
            },
            Rejection::NotCustodian(m) => Self::NotCustodian(m),
            Rejection::RoleNotAllowed(m) => Self::RoleNotAllowed(m),
            Rejection::InvalidTime(m) => Self::InvalidTime(m),
        }
    }
}

impl From<crate::ledger::record::Invalid> for Rejection {
    fn from(invalid: crate::ledger::record::Invalid) -> Self {
        match invalid {
            crate::ledger::record::Invalid::Field(m) => Self::Invalid(m),
            crate::ledger::record::Invalid::Time(m) => Self::InvalidTime(m),
        }
    }
}

#[derive(Debug)]
pub enum CheckError<E> {
    Rejected(Rejection),
    View(E),
}

impl<E> From<Rejection> for CheckError<E> {
    fn from(r: Rejection) -> Self {
        Self::Rejected(r)
    }
}

/// The state of each lot in `record.lots` before the record, in the record's order.
pub type PriorStates = Vec<LotState>;

/// Checks a record against the ledger, in DESIGN.md's order: fields and references (422),
/// stale prev (409), custody and role (403), time (422).
pub fn check<V: LedgerView>(
    record: &Record,
    view: &mut V,
    now: DateTime<Utc>,
) -> Result<PriorStates, CheckError<V::Error>> {
    let actor_roles = view
        .org_roles(record.actor)
        .map_err(CheckError::View)?
        .ok_or_else(|| {
            Rejection::Invalid(format!(
                "actor {} is not a known organization",
                record.actor
            ))
        })?;
    if let Some(source) = check_kde(record)?
        && let Some(names) = view
            .location_names(record.actor)
            .map_err(CheckError::View)?
        && !names.iter().any(|n| n == source)
    {
        return Err(unknown_tlc_source(source, record.actor).into());
    }
    if let Some(to) = record.to
        && view.org_roles(to).map_err(CheckError::View)?.is_none()
    {
        return Err(Rejection::Invalid(format!(
            "to names {to}, which is not a known organization"
        ))
        .into());
    }
    for new in &record.new_lots {
        if !view
            .product_exists(&new.key.gtin)
            .map_err(CheckError::View)?
        {
            return Err(Rejection::UnknownProduct(format!(
                "new lot {}: no product with GTIN {} is registered",
                new.key, new.key.gtin
            ))
            .into());
        }
        if view.lot(&new.key).map_err(CheckError::View)?.is_some() {
            return Err(Rejection::Invalid(format!("lot {} already exists", new.key)).into());
        }
    }
    let mut prior = Vec::with_capacity(record.lots.len());
    for lot in &record.lots {
        let state = view
            .lot(&lot.key)
            .map_err(CheckError::View)?
            .ok_or_else(|| Rejection::Invalid(format!("lot {} does not exist", lot.key)))?;
        prior.push(state);
    }
    for (lot, state) in record.lots.iter().zip(&prior) {
        if lot.prev != state.head {
            return Err(Rejection::StalePrev {
                lot: lot.key.clone(),
                head: state.head,
            }
            .into());
        }
    }
    for (lot, state) in record.lots.iter().zip(&prior) {
        check_custody(record, &lot.key, state)?;
    }
    check_role(record.event, &actor_roles)?;
    check_time(record, &prior, now)?;
    Ok(prior)
}

fn check_custody(record: &Record, key: &LotKey, state: &LotState) -> Result<(), Rejection> {
    if record.event == EventType::Receive {
        return match state.shipped_to {
            Some(to) if to == record.actor => Ok(()),
            Some(to) => Err(Rejection::NotCustodian(format!(
                "lot {key} was shipped to {to}, not to {}",
                record.actor
            ))),
            None => Err(Rejection::NotCustodian(format!(
                "lot {key} has not been shipped, so it cannot be received"
            ))),
        };
    }
    if state.custodian != record.actor {
        return Err(Rejection::NotCustodian(format!(
            "lot {key} is in the custody of {}, not of {}",
            state.custodian, record.actor
        )));
    }
    Ok(())
}

fn check_role(event: EventType, roles: &Roles) -> Result<(), Rejection> {
    let needed: &[Role] = match event {
        EventType::Harvest => &[Role::Producer],
        EventType::Transform => &[Role::Processor, Role::Producer],
        EventType::Sell => &[Role::Retailer],
        _ => return Ok(()),
    };
    if needed.iter().any(|r| roles.contains(*r)) {
        return Ok(());
    }
    let names: Vec<&str> = needed.iter().map(|r| r.as_str()).collect();
    Err(Rejection::RoleNotAllowed(format!(
        "a {event} record needs the {} role; the actor has {}",
        names.join(" or "),
        roles.names().join(", ")
    )))
}

fn check_time(record: &Record, prior: &[LotState], now: DateTime<Utc>) -> Result<(), Rejection> {
    let time = record.time.with_timezone(&Utc);
    if time > now + MAX_CLOCK_AHEAD {
        return Err(Rejection::InvalidTime(format!(
            "time {} is more than 5 minutes ahead of the server's clock ({})",
            record.time.to_rfc3339(),
            now.to_rfc3339()
        )));
    }
    for (lot, state) in record.lots.iter().zip(prior) {
        if time < state.head_time {
            return Err(Rejection::InvalidTime(format!(
                "time {} is earlier than the previous record of lot {} ({})",
                record.time.to_rfc3339(),
                lot.key,
                state.head_time.to_rfc3339()
            )));
        }
    }
    Ok(())
}

/// What an accepted record changes: the new state of every lot it names (existing ones first, in
/// order, then the new ones) and the lineage edges (output lot, input lot) of a transform or pack.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub updated: Vec<(LotKey, LotState)>,
    pub created: Vec<(LotKey, LotState)>,
    pub lineage: Vec<(LotKey, LotKey)>,
}

impl LotState {
    /// The state of a lot `record` creates (one of its `new_lots`).
    pub fn created(record: &Record, id: RecordId) -> Self {
        Self {
            custodian: record.actor,
            head: id,
            head_time: record.time.with_timezone(&Utc),
            shipped_to: None,
        }
    }

    /// The state of a lot that `record` names among its `lots`, moved on from `before`.
    pub fn after(record: &Record, id: RecordId, before: &LotState) -> Self {
        let (custodian, shipped_to) = match record.event {
            EventType::Receive => (record.actor, None),
            EventType::Ship => (before.custodian, record.to),
            _ => (before.custodian, before.shipped_to),
        };
        Self {
            custodian,
            head: id,
            head_time: record.time.with_timezone(&Utc),
            shipped_to,
        }
    }
}

pub fn next_states(record: &Record, id: RecordId, prior: &[LotState]) -> Transition {
    let updated = record
        .lots
        .iter()
        .zip(prior)
        .map(|(lot, before)| (lot.key.clone(), LotState::after(record, id, before)))
        .collect();
    let created = record
        .new_lots
        .iter()
        .map(|new| (new.key.clone(), LotState::created(record, id)))
        .collect();
    let lineage = record
        .new_lots
        .iter()
        .flat_map(|out| {
            record
                .lots
                .iter()
                .map(move |input| (out.key.clone(), input.key.clone()))
        })
        .collect();
    Transition {
        updated,
        created,
        lineage,
    }
}

/// The events `org` may record next on a lot in `state`: the custody and role rules read
/// forward, so the field pages offer only what the ledger will accept. A harvest creates lots and
/// is never offered on an existing one.
pub fn open_events(state: &LotState, org: OrgId, roles: &Roles) -> Vec<EventType> {
    EventType::ALL
        .into_iter()
        .filter(|event| *event != EventType::Harvest)
        .filter(|event| {
            let custody = if *event == EventType::Receive {
                state.shipped_to == Some(org)
            } else {
                state.custodian == org
            };
            custody && check_role(*event, roles).is_ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LotCode, Quantity};
    use crate::ledger::record::{LotRef, NewLot};
    use chrono::{FixedOffset, TimeZone};
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::convert::Infallible;

    /// The ledger's state held in memory, whole: what the rules' unit tests run against.
    #[derive(Debug, Default, Clone)]
    pub struct Replay {
        pub lots: HashMap<LotKey, LotState>,
        pub products: HashSet<Gtin>,
        pub orgs: HashMap<OrgId, Roles>,
        /// Each organization's location names, where known.
        pub locations: Option<HashMap<OrgId, Vec<String>>>,
    }

    impl Replay {
        pub fn apply(&mut self, transition: Transition) {
            for (key, state) in transition.updated.into_iter().chain(transition.created) {
                self.lots.insert(key, state);
            }
        }
    }

    impl LedgerView for Replay {
        type Error = Infallible;

        fn lot(&mut self, key: &LotKey) -> Result<Option<LotState>, Infallible> {
            Ok(self.lots.get(key).cloned())
        }

        fn product_exists(&mut self, gtin: &Gtin) -> Result<bool, Infallible> {
            Ok(self.products.contains(gtin))
        }

        fn org_roles(&mut self, org: OrgId) -> Result<Option<Roles>, Infallible> {
            Ok(self.orgs.get(&org).cloned())
        }

        fn location_names(&mut self, org: OrgId) -> Result<Option<Vec<String>>, Infallible> {
            Ok(self
                .locations
                .as_ref()
                .map(|all| all.get(&org).cloned().unwrap_or_default()))
        }
    }

    struct World {
        replay: Replay,
        farm: OrgId,
        mill: OrgId,
        store: OrgId,
        clock: DateTime<Utc>,
        n: u32,
    }

    fn gtin() -> Gtin {
        Gtin::parse("04712345000015").unwrap()
    }

    fn key(lot: &str) -> LotKey {
        LotKey {
            gtin: gtin(),
            lot: LotCode::parse(lot).unwrap(),
        }
    }

    impl World {
        fn new() -> Self {
            let mut replay = Replay::default();
            let (farm, mill, store) = (OrgId::new(), OrgId::new(), OrgId::new());
            replay
                .orgs
                .insert(farm, Roles::parse(&["producer"]).unwrap());
            replay
                .orgs
                .insert(mill, Roles::parse(&["processor"]).unwrap());
            replay
                .orgs
                .insert(store, Roles::parse(&["retailer"]).unwrap());
            replay.products.insert(gtin());
            Self {
                replay,
                farm,
                mill,
                store,
                clock: Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(),
                n: 0,
            }
        }

        fn record(
            &mut self,
            event: EventType,
            actor: OrgId,
            lots: &[&str],
            new: &[&str],
            to: Option<OrgId>,
        ) -> Record {
            self.n += 1;
            let tz = FixedOffset::east_opt(8 * 3600).unwrap();
            Record {
                event,
                actor,
                time: (self.clock + Duration::minutes(i64::from(self.n))).with_timezone(&tz),
                location: None,
                lots: lots
                    .iter()
                    .map(|l| LotRef {
                        key: key(l),
                        prev: self
                            .replay
                            .lots
                            .get(&key(l))
                            .map_or(RecordId::of_payload(b"none"), |s| s.head),
                        quantity: None,
                    })
                    .collect(),
                new_lots: new
                    .iter()
                    .map(|l| NewLot {
                        key: key(l),
                        quantity: Some(Quantity::parse("1", "KGM").unwrap()),
                    })
                    .collect(),
                to,
                kde: BTreeMap::new(),
            }
        }

        fn now(&self) -> DateTime<Utc> {
            self.clock + Duration::days(1)
        }

        /// Judges a record without keeping it.
        fn clone_submit(&self, record: &Record) -> Result<PriorStates, Rejection> {
            match check(record, &mut self.replay.clone(), self.now()) {
                Ok(p) => Ok(p),
                Err(CheckError::Rejected(r)) => Err(r),
                Err(CheckError::View(never)) => match never {},
            }
        }

        fn submit(&mut self, record: &Record) -> Result<RecordId, Rejection> {
            let now = self.now();
            let prior = match check(record, &mut self.replay, now) {
                Ok(p) => p,
                Err(CheckError::Rejected(r)) => return Err(r),
                Err(CheckError::View(never)) => match never {},
            };
            let id = RecordId::of_payload(format!("{}", self.n).as_bytes());
            self.replay.apply(next_states(record, id, &prior));
            Ok(id)
        }
    }

    fn with_kde(mut record: Record, pairs: &[(&str, &str)]) -> Record {
        record.kde = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        record
    }

    #[test]
    fn documented_kde_keys_are_checked_when_present() {
        let mut w = World::new();
        let farm = w.farm;
        let harvest = w.record(EventType::Harvest, farm, &[], &["A"], None);
        for (key, value, named) in [
            ("harvest_date", "2026-13-01", "kde.harvest_date"),
            ("harvest_date", "20261120", "kde.harvest_date"),
            ("cooling_date", "2026-11-20T06:00", "kde.cooling_date"),
            ("pack_date", "yesterday", "kde.pack_date"),
            ("temperature_c", "cold", "kde.temperature_c"),
            ("temperature_c", "4.", "kde.temperature_c"),
            ("temperature_c", "1e3", "kde.temperature_c"),
            ("tlc_source", "4712345000016", "kde.tlc_source"),
        ] {
            let record = with_kde(harvest.clone(), &[(key, value)]);
            match check_kde(&record) {
                Err(Rejection::Invalid(m)) => assert!(m.starts_with(named), "{key}={value}: {m}"),
                other => panic!("{key}={value}: {other:?}"),
            }
        }
        for (key, value) in [
            ("harvest_date", "2026-11-20"),
            ("temperature_c", "-1.5"),
            ("temperature_c", "16"),
            ("tlc_source", "4712345000015"),
            ("variety", "anything at all"),
        ] {
            let record = with_kde(harvest.clone(), &[(key, value)]);
            assert_eq!(check_kde(&record), Ok(None), "{key}={value}");
        }
        let mut placed = with_kde(harvest.clone(), &[("tlc_source", "Field 3")]);
        assert_eq!(check_kde(&placed), Ok(Some("Field 3")));
        placed.location = Some(crate::ledger::record::Location {
            name: Some("Field 3".into()),
            gln: None,
            lat: None,
            lon: None,
        });
        assert_eq!(check_kde(&placed), Ok(None), "the record's own place");
    }

    #[test]
    fn a_tlc_source_by_name_must_be_one_of_the_actors_locations() {
        let mut w = World::new();
        let farm = w.farm;
        let record = w.record(EventType::Harvest, farm, &[], &["A"], None);
        let named = with_kde(record, &[("tlc_source", "Field 3")]);
        // Without master data at hand (the replay of `verify`) the name is not looked up.
        assert!(w.clone_submit(&named).is_ok());
        let mut w = World::new();
        let farm = w.farm;
        w.replay.locations = Some(HashMap::from([(farm, vec!["Packhouse".to_owned()])]));
        let record = w.record(EventType::Harvest, farm, &[], &["A"], None);
        let unknown = with_kde(record.clone(), &[("tlc_source", "Field 3")]);
        match w.submit(&unknown) {
            Err(Rejection::Invalid(m)) => assert!(m.contains("kde.tlc_source"), "{m}"),
            other => panic!("{other:?}"),
        }
        let known = with_kde(record, &[("tlc_source", "Packhouse")]);
        assert!(w.submit(&known).is_ok());
    }

    #[test]
    fn kde_checks_keep_their_place_in_the_order_of_checks() {
        // An unknown actor is named before a bad key data element, and a bad key data element
        // before a stale prev, custody and role (it is one of the 422 field checks).
        let mut w = World::new();
        let stranger = OrgId::new();
        let record = w.record(EventType::Harvest, stranger, &[], &["A"], None);
        match w.submit(&with_kde(record, &[("pack_date", "soon")])) {
            Err(Rejection::Invalid(m)) => assert!(m.contains("not a known organization"), "{m}"),
            other => panic!("{other:?}"),
        }
        let farm = w.farm;
        let harvest = w.record(EventType::Harvest, farm, &[], &["A"], None);
        w.submit(&harvest).unwrap();
        let store = w.store;
        let mut stale = w.record(EventType::Sell, store, &["A"], &[], None);
        stale.lots[0].prev = RecordId::of_payload(b"stale");
        match w.submit(&with_kde(stale, &[("temperature_c", "warm")])) {
            Err(Rejection::Invalid(m)) => assert!(m.contains("kde.temperature_c"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn farm_to_store_story() {
        let mut w = World::new();
        let (farm, mill, store) = (w.farm, w.mill, w.store);
        let r = w.record(EventType::Harvest, farm, &[], &["P1"], None);
        w.submit(&r).unwrap();
        let r = w.record(EventType::Ship, farm, &["P1"], &[], Some(mill));
        w.submit(&r).unwrap();
        // Until the receive, the shipper keeps custody and may append a note.
        let r = w.record(EventType::Note, farm, &["P1"], &[], None);
        w.submit(&r).unwrap();
        let r = w.record(EventType::Receive, store, &["P1"], &[], None);
        assert!(
            matches!(w.submit(&r), Err(Rejection::NotCustodian(m)) if m.contains("shipped to"))
        );
        let r = w.record(EventType::Receive, mill, &["P1"], &[], None);
        w.submit(&r).unwrap();
        assert_eq!(w.replay.lots[&key("P1")].custodian, mill);
        let r = w.record(EventType::Note, farm, &["P1"], &[], None);
        assert!(matches!(w.submit(&r), Err(Rejection::NotCustodian(_))));
        let r = w.record(EventType::Transform, mill, &["P1"], &["R1"], None);
        w.submit(&r).unwrap();
        assert_eq!(w.replay.lots[&key("R1")].custodian, mill);
    }

    /// What the field pages offer is exactly what the rules accept: at each step of a journey,
    /// for each organization and each event on the lot.
    #[test]
    fn open_events_are_the_events_the_rules_accept() {
        let mut w = World::new();
        let (farm, mill, store) = (w.farm, w.mill, w.store);
        let steps = [
            (EventType::Harvest, farm, None),
            (EventType::Ship, farm, Some(mill)),
            (EventType::Receive, mill, None),
            (EventType::Ship, mill, Some(store)),
            (EventType::Receive, store, None),
        ];
        let mut checked = 0;
        for (event, actor, to) in steps {
            let (lots, new): (&[&str], &[&str]) = if event == EventType::Harvest {
                (&[], &["P1"])
            } else {
                (&["P1"], &[])
            };
            let r = w.record(event, actor, lots, new, to);
            w.submit(&r).unwrap();
            let state = w.replay.lots[&key("P1")].clone();
            for org in [farm, mill, store] {
                let roles = w.replay.orgs[&org].clone();
                let open = open_events(&state, org, &roles);
                for event in EventType::ALL
                    .into_iter()
                    .filter(|e| *e != EventType::Harvest)
                {
                    let creates = matches!(event, EventType::Transform | EventType::Pack);
                    let to = (event == EventType::Ship).then_some(store);
                    let out: &[&str] = if creates { &["OUT"] } else { &[] };
                    let candidate = w.record(event, org, &["P1"], out, to);
                    let now = w.now();
                    let accepted = check(&candidate, &mut w.replay, now).is_ok();
                    assert_eq!(
                        open.contains(&event),
                        accepted,
                        "{event} by {org} on {state:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 5 * 3 * 9);
    }

    #[test]
    fn stale_prev_names_the_head() {
        let mut w = World::new();
        let farm = w.farm;
        let r = w.record(EventType::Harvest, farm, &[], &["P1"], None);
        let first = w.submit(&r).unwrap();
        let stale = w.record(EventType::Cool, farm, &["P1"], &[], None);
        let r = w.record(EventType::Cool, farm, &["P1"], &[], None);
        let second = w.submit(&r).unwrap();
        assert_ne!(first, second);
        assert_eq!(
            w.submit(&stale),
            Err(Rejection::StalePrev {
                lot: key("P1"),
                head: second
            })
        );
    }

    #[test]
    fn roles_are_enforced() {
        let mut w = World::new();
        let (mill, store) = (w.mill, w.store);
        let r = w.record(EventType::Harvest, mill, &[], &["P1"], None);
        assert!(
            matches!(w.submit(&r), Err(Rejection::RoleNotAllowed(m)) if m.contains("producer"))
        );
        let farm = w.farm;
        let r = w.record(EventType::Harvest, farm, &[], &["P1"], None);
        w.submit(&r).unwrap();
        let r = w.record(EventType::Sell, farm, &["P1"], &[], None);
        assert!(matches!(w.submit(&r), Err(Rejection::RoleNotAllowed(_))));
        let _ = store;
    }

    #[test]
    fn time_rules() {
        let mut w = World::new();
        let farm = w.farm;
        let mut r = w.record(EventType::Harvest, farm, &[], &["P1"], None);
        r.time = (w.now() + Duration::minutes(6)).fixed_offset();
        assert!(matches!(w.submit(&r), Err(Rejection::InvalidTime(m)) if m.contains("ahead")));
        r.time = (w.now() + Duration::minutes(4)).fixed_offset();
        w.submit(&r).unwrap();
        let mut r = w.record(EventType::Cool, farm, &["P1"], &[], None);
        r.time = w.clock.fixed_offset();
        assert!(matches!(w.submit(&r), Err(Rejection::InvalidTime(m)) if m.contains("earlier")));
    }

    #[test]
    fn references_must_exist_and_new_lots_must_not() {
        let mut w = World::new();
        let farm = w.farm;
        let r = w.record(EventType::Cool, farm, &["NOPE"], &[], None);
        assert!(matches!(w.submit(&r), Err(Rejection::Invalid(m)) if m.contains("does not exist")));
        let r = w.record(EventType::Harvest, farm, &[], &["P1"], None);
        w.submit(&r).unwrap();
        let r = w.record(EventType::Harvest, farm, &[], &["P1"], None);
        assert!(matches!(w.submit(&r), Err(Rejection::Invalid(m)) if m.contains("already exists")));
        let mut r = w.record(EventType::Harvest, farm, &[], &["P2"], None);
        r.new_lots[0].key.gtin = Gtin::parse("04712345000022").unwrap();
        assert!(matches!(w.submit(&r), Err(Rejection::UnknownProduct(_))));
    }

    #[test]
    fn transform_records_lineage() {
        let mut w = World::new();
        let farm = w.farm;
        let a = w.record(EventType::Harvest, farm, &[], &["A", "B"], None);
        w.submit(&a).unwrap();
        let t = w.record(EventType::Transform, farm, &["A", "B"], &["OUT"], None);
        let now = w.now();
        let prior = check(&t, &mut w.replay, now).unwrap();
        let tr = next_states(&t, RecordId::of_payload(b"t"), &prior);
        assert_eq!(
            tr.lineage,
            vec![(key("OUT"), key("A")), (key("OUT"), key("B"))]
        );
        assert_eq!(tr.updated.len(), 2);
        assert_eq!(tr.created.len(), 1);
    }
}
