//! Attribution: every QR scan, embed view, click to the online listing, pickup reservation and
//! pickup is counted per day, product, lot, store, kind and channel. Nothing about the person is
//! kept: no address, no cookie, no device, only the count. Counts gather in memory and are added
//! to the database every `FLUSH_EVERY` (and before a dashboard is read), so a page view never
//! waits on a write; a crash loses at most that many seconds of counts.

use crate::db::rows::ActivityRow;
use crate::db::{DbPool, activity, orgs, rollups, write_transaction};
use chrono::{NaiveDate, Utc};
use diesel::QueryResult;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
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
}

/// The in-memory counters and the pool they are flushed to.
pub struct Activity {
    pending: Mutex<HashMap<Key, i64>>,
    pool: DbPool,
}

impl Activity {
    /// Starts the counters and a thread that flushes them while they are in use.
    pub fn start(pool: DbPool) -> Arc<Self> {
        let activity = Arc::new(Self {
            pending: Mutex::new(HashMap::new()),
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
        };
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

    /// Adds the pending counts to the database. Counts naming a store that is not an
    /// organization here (a made-up `store=`) are kept without the store.
    pub fn flush(&self) -> QueryResult<()> {
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
        let named: Vec<String> = counts
            .keys()
            .map(|k| k.store.clone())
            .filter(|s| !s.is_empty())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let named = orgs::by_ids(&mut conn, &named)?;
        let known: HashSet<String> = named.iter().map(|o| o.id.clone()).collect();
        let retailers = rollups::retailers(&named);
        let mut merged: HashMap<Key, i64> = HashMap::new();
        for (key, n) in counts {
            let mut key = key.clone();
            if !known.contains(&key.store) {
                key.store.clear();
            }
            *merged.entry(key).or_insert(0) += n;
        }
        let rows: Vec<ActivityRow> = merged
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
            .collect();
        write_transaction(&mut conn, |conn| {
            activity::add(conn, &rows)?;
            rollups::add(conn, &rows, &retailers)
        })
    }
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
