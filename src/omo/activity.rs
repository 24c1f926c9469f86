//! Attribution: every QR scan, embed view, click to the online listing, pickup reservation and
//! pickup is counted per day, product, lot, store, kind and channel. Nothing about the person is
//! kept: no address, no cookie, no device, only the count. Counts gather in memory and are added
//! to the database every `FLUSH_EVERY` (and before a dashboard is read), so a page view never
//! waits on a write; a crash loses at most that many seconds of counts.
//!
//! Anyone can send a link, so what a link claims is checked when counts are flushed (for all of
//! them together, rather than on each page view): a count is kept only for a registered product
//! and, when it names a lot, a lot that exists; it is attributed to a store only when that store
//! (a retailer) received the lot (any lot of the product, for a count without a lot), and otherwise counted
//! as the visit would have been without its `store=`.

use crate::db::rows::ActivityRow;
use crate::db::{DbConn, DbPool, activity, kv, lots, orgs, products, rollups, write_transaction};
use chrono::{NaiveDate, Utc};
use diesel::QueryResult;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

const FLUSH_EVERY: Duration = Duration::from_secs(2);
/// Distinct counters held in memory before a flush is forced.
const MAX_PENDING: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Scan,
    EmbedView,
    ListingClick,
    Reservation,
    Pickup,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Self::Scan,
        Self::EmbedView,
        Self::ListingClick,
        Self::Reservation,
        Self::Pickup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scan => "scan",
            Self::EmbedView => "embed_view",
            Self::ListingClick => "listing_click",
            Self::Reservation => "reservation",
            Self::Pickup => "pickup",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Where the visitor came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// The QR code printed on the package (its link carries `src=qr`).
    Package,
    /// A QR code on a store's shelf tag (its link carries `store=`).
    Shelf,
    /// An embed on an e-commerce page.
    Embed,
    /// Anything else: a typed or shared link.
    Direct,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Self::Package, Self::Shelf, Self::Embed, Self::Direct];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Package => "qr",
            Self::Shelf => "shelf",
            Self::Embed => "embed",
            Self::Direct => "direct",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The channel of a page view from its query: `store=` marks a shelf tag, `src=` names the
    /// channel otherwise.
    pub fn of_visit(src: Option<&str>, store: Option<&str>) -> Self {
        if store.is_some_and(|s| !s.is_empty()) {
            return Self::Shelf;
        }
        src.and_then(Self::parse).unwrap_or(Self::Direct)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    day: NaiveDate,
    gtin: String,
    lot: String,
    store: String,
    kind: Kind,
    channel: Channel,
    /// The channel to count if the store is dropped: the visit's without its `store=`.
    unmarked: Channel,
}

/// The in-memory counters and the pool they are flushed to.
pub struct Activity {
    pending: Mutex<HashMap<Key, i64>>,
    /// Held while a flush writes, so that a flush returns only once every count recorded before
    /// it is stored (a dashboard reads right after, while the flusher thread may be mid-way).
    writing: Mutex<()>,
    pool: DbPool,
}

impl Activity {
    /// Starts the counters and a thread that flushes them while they are in use.
    pub fn start(pool: DbPool) -> Arc<Self> {
        let activity = Arc::new(Self {
            pending: Mutex::new(HashMap::new()),
            writing: Mutex::new(()),
            pool,
        });
        let weak: Weak<Self> = Arc::downgrade(&activity);
        let spawned = std::thread::Builder::new()
            .name("activity-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    let Some(activity) = weak.upgrade() else {
                        return;
                    };
                    if let Err(e) = activity.flush() {
                        tracing::warn!(error = %e, "counting activity failed; will retry");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the activity flusher; counts flush on reads only");
        }
        activity
    }

    /// Counts one event today.
    pub fn record(&self, kind: Kind, channel: Channel, gtin: &str, lot: &str, store: &str) {
        self.record_on(Utc::now().date_naive(), kind, channel, gtin, lot, store, 1);
    }

    /// Counts one visit today by the markers its link carried: `src` (the channel) and `store`
    /// (a shelf tag). If the store never received what was visited, the visit is counted as if
    /// its link had had no `store=`.
    pub fn record_visit(
        &self,
        kind: Kind,
        src: Option<&str>,
        store: Option<&str>,
        gtin: &str,
        lot: &str,
    ) {
        let key = Key {
            day: Utc::now().date_naive(),
            gtin: gtin.to_owned(),
            lot: lot.to_owned(),
            store: store.unwrap_or_default().to_owned(),
            kind,
            channel: Channel::of_visit(src, store),
            unmarked: Channel::of_visit(src, None),
        };
        self.add(key, 1);
    }

    /// Counts `n` events on `day` (benchmarks and imports use it directly).
    #[expect(clippy::too_many_arguments, reason = "one counter key, field by field")]
    pub fn record_on(
        &self,
        day: NaiveDate,
        kind: Kind,
        channel: Channel,
        gtin: &str,
        lot: &str,
        store: &str,
        n: i64,
    ) {
        let key = Key {
            day,
            gtin: gtin.to_owned(),
            lot: lot.to_owned(),
            store: store.to_owned(),
            kind,
            channel,
            unmarked: channel,
        };
        self.add(key, n);
    }

    fn add(&self, key: Key, n: i64) {
        let full = match self.pending.lock() {
            Ok(mut pending) => {
                *pending.entry(key).or_insert(0) += n;
                pending.len() >= MAX_PENDING
            }
            Err(_) => false,
        };
        if full && let Err(e) = self.flush() {
            tracing::warn!(error = %e, "counting activity failed");
        }
    }

    /// Adds the pending counts to the database, those that may be counted (see [`countable`]).
    pub fn flush(&self) -> QueryResult<()> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let taken = match self.pending.lock() {
            Ok(mut pending) if !pending.is_empty() => std::mem::take(&mut *pending),
            _ => return Ok(()),
        };
        let result = self.write(&taken);
        if result.is_err()
            && let Ok(mut pending) = self.pending.lock()
        {
            // Put them back: the next flush tries again.
            for (key, n) in taken {
                *pending.entry(key).or_insert(0) += n;
            }
        }
        result
    }

    fn write(&self, counts: &HashMap<Key, i64>) -> QueryResult<()> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
        let (merged, retailers) = countable(&mut conn, counts)?;
        let rows = rows_of(merged);
        if rows.is_empty() {
            return Ok(());
        }
        write_transaction(&mut conn, |conn| {
            activity::add(conn, &rows)?;
            rollups::add(conn, &rows, &retailers)
        })
    }
}

impl Key {
    /// A stored counter as a key; None for a kind or channel this version does not know.
    fn stored(row: &ActivityRow) -> Option<Self> {
        let channel = Channel::parse(&row.channel)?;
        Some(Self {
            day: row.day,
            gtin: row.gtin.clone(),
            lot: row.lot.clone(),
            store: row.store.clone(),
            kind: Kind::parse(&row.kind)?,
            channel,
            // The link's other markers were not stored: a store dropped now leaves the channel.
            unmarked: channel,
        })
    }
}

/// Counters as stored.
fn rows_of(counts: HashMap<Key, i64>) -> Vec<ActivityRow> {
    counts
        .into_iter()
        .map(|(k, n)| ActivityRow {
            day: k.day,
            gtin: k.gtin,
            lot: k.lot,
            store: k.store,
            kind: k.kind.as_str().to_owned(),
            channel: k.channel.as_str().to_owned(),
            count: n,
        })
        .collect()
}

/// The settings entry that says the stored counters were checked as flushes check counts.
const CHECKED: &str = "activity_checked";

/// Once, at the first start after the upgrade that checks what links claim: checks the counters
/// stored before it as a flush checks counts now, day by day in one transaction, and has the
/// dashboards' roll-ups built again from the result when anything changed. A counter of a lot or
/// product that does not exist is dropped; one whose store never received what it counts loses
/// the store and keeps its channel (the link's other markers were not stored). Returns how many
/// counters were dropped or changed.
/// `check_stored` as the database's upkeep after its migrations (`db::connect_with_upkeep`).
pub fn check_stored_upkeep(conn: &mut DbConn) -> Result<(), String> {
    // Counters stored before flushes checked what links claim are checked once, and the
    // roll-ups built again from them.
    let checked = check_stored(conn).map_err(|e| format!("cannot check the stored counts: {e}"))?;
    if checked > 0 {
        tracing::info!(
            counters = checked,
            "dropped or re-attributed stored counts of lots, products or stores that do not hold"
        );
    }
    Ok(())
}

pub fn check_stored(conn: &mut DbConn) -> QueryResult<usize> {
    write_transaction(conn, |conn| {
        if kv::get(conn, CHECKED)?.is_some() {
            return Ok(0);
        }
        let mut changed = 0;
        for day in activity::days(conn)? {
            let (known, unknown): (Vec<ActivityRow>, Vec<ActivityRow>) =
                activity::of_day(conn, day)?
                    .into_iter()
                    .partition(|row| Key::stored(row).is_some());
            let counts: HashMap<Key, i64> = known
                .iter()
                .filter_map(|row| Some((Key::stored(row)?, row.count)))
                .collect();
            let (kept, _) = countable(conn, &counts)?;
            if kept == counts {
                continue;
            }
            changed += counts
                .iter()
                .filter(|(key, n)| kept.get(*key) != Some(*n))
                .count();
            let mut rows = rows_of(kept);
            rows.extend(unknown);
            activity::delete_day(conn, day)?;
            activity::add(conn, &rows)?;
        }
        if changed > 0 {
            rollups::mark_stale(conn)?;
        }
        kv::put(conn, CHECKED, "1")?;
        Ok(changed)
    })
}

/// Statements of at most this many values in `IN (...)`: SQLite allows 32,766 parameters, and a
/// flush may hold 50,000 made-up names.
const CHUNK: usize = 500;

/// The counts that may be kept, as they are kept, and the retailers among their stores. Only
/// what exists is counted: a count of a product nobody registered, or of a lot that does not
/// exist, is dropped (its page was a 404). A count keeps its store only when that organization
/// is a store (a retailer) and received the lot (any lot of the product, for a count without a
/// lot); otherwise it loses the store and takes the channel its visit had without `store=`.
/// Counts that become the same counter are added together.
fn countable(
    conn: &mut DbConn,
    counts: &HashMap<Key, i64>,
) -> QueryResult<(HashMap<Key, i64>, HashSet<String>)> {
    let gtins: Vec<&str> = counts
        .keys()
        .map(|k| k.gtin.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut registered: HashSet<String> = HashSet::new();
    for chunk in gtins.chunks(CHUNK) {
        registered.extend(products::registered(conn, chunk)?);
    }
    // Per product: the lots named, those named with a store, and the stores named without a lot.
    let mut named: BTreeMap<&str, Named> = BTreeMap::new();
    for key in counts.keys().filter(|k| registered.contains(&k.gtin)) {
        let named = named.entry(key.gtin.as_str()).or_default();
        match (key.lot.is_empty(), key.store.is_empty()) {
            (false, true) => {
                named.lots.insert(&key.lot);
            }
            (false, false) => {
                named.lots.insert(&key.lot);
                named.lots_with_store.insert(&key.lot);
            }
            (true, false) => {
                named.stores.insert(&key.store);
            }
            (true, true) => {}
        }
    }
    // (GTIN, lot) of the lots that exist.
    let mut existing: HashSet<(&str, &str)> = HashSet::new();
    // GTIN -> lot ("" for the product) -> the organizations that received it.
    let mut received: HashMap<&str, HashMap<String, HashSet<String>>> = HashMap::new();
    for (&gtin, named) in &named {
        let lot_names: Vec<&str> = named.lots.iter().copied().collect();
        for chunk in lot_names.chunks(CHUNK) {
            let found: HashSet<String> = lots::find_many(conn, gtin, chunk)?
                .into_iter()
                .map(|l| l.lot)
                .collect();
            existing.extend(
                chunk
                    .iter()
                    .filter(|name| found.contains(**name))
                    .map(|name| (gtin, *name)),
            );
        }
        let with_store: Vec<&str> = named
            .lots_with_store
            .iter()
            .copied()
            .filter(|lot| existing.contains(&(gtin, *lot)))
            .collect();
        for chunk in with_store.chunks(CHUNK) {
            for (lot, store) in activity::receivers(conn, gtin, chunk)? {
                received
                    .entry(gtin)
                    .or_default()
                    .entry(lot)
                    .or_default()
                    .insert(store);
            }
        }
        let stores: Vec<&str> = named.stores.iter().copied().collect();
        for chunk in stores.chunks(CHUNK) {
            let receivers = activity::product_receivers(conn, gtin, chunk)?;
            received
                .entry(gtin)
                .or_default()
                .entry(String::new())
                .or_default()
                .extend(receivers);
        }
    }
    // A receipt makes a count a store's only when its organization is a store.
    let receivers: Vec<String> = received
        .values()
        .flat_map(|lots| lots.values().flatten())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut retailers = HashSet::new();
    for chunk in receivers.chunks(CHUNK) {
        retailers.extend(rollups::retailers(&orgs::by_ids(conn, chunk)?));
    }
    let received_by_a_store = |key: &Key| {
        retailers.contains(&key.store)
            && received
                .get(key.gtin.as_str())
                .and_then(|lots| lots.get(&key.lot))
                .is_some_and(|stores| stores.contains(&key.store))
    };
    let mut merged: HashMap<Key, i64> = HashMap::new();
    for (key, n) in counts {
        if !registered.contains(&key.gtin)
            || (!key.lot.is_empty() && !existing.contains(&(key.gtin.as_str(), key.lot.as_str())))
        {
            continue;
        }
        let mut key = key.clone();
        if !key.store.is_empty() && !received_by_a_store(&key) {
            key.store.clear();
            key.channel = key.unmarked;
        }
        key.unmarked = key.channel;
        *merged.entry(key).or_insert(0) += n;
    }
    Ok((merged, retailers))
}

/// What a batch of counts names of one product.
#[derive(Default)]
struct Named<'a> {
    lots: BTreeSet<&'a str>,
    lots_with_store: BTreeSet<&'a str>,
    /// Stores named by counts without a lot.
    stores: BTreeSet<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_of_visits() {
        assert_eq!(Channel::of_visit(Some("qr"), None), Channel::Package);
        assert_eq!(Channel::of_visit(Some("qr"), Some("org")), Channel::Shelf);
        assert_eq!(Channel::of_visit(Some("embed"), None), Channel::Embed);
        assert_eq!(Channel::of_visit(Some("made-up"), None), Channel::Direct);
        assert_eq!(Channel::of_visit(None, Some("")), Channel::Direct);
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
    }
}
