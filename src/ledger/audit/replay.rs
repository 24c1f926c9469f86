//! The replay of the log in `truetrace verify`, in memory flat in the store's size.
//!
//! A lot's state is held only from one record naming it to the next: each lot row of a page says
//! where the log names that lot just before and just after (`db::records::page`). A lot no later
//! record names is finished, and its state goes to be compared with the lot table; past
//! `cap` lots held, the state needed furthest ahead is let go (the best choice when the future
//! is known), and re-derived when its record comes by folding the lot's earlier records
//! (`history`), with the same transitions the replay applies. So every record is judged against
//! the very state a whole replay would have held.
//!
//! The hints come from `record_lots`, which is compared with every record's signed payload; where
//! a record's payload names a lot that no row of its own names, the log is searched for that lot
//! instead.

use crate::db::records::{self, NamedLot};
use crate::db::{DbConn, orgs, products};
use crate::domain::{Gtin, LotKey, OrgId, RecordId, Roles};
use crate::ledger::envelope::PayloadType;
use crate::ledger::recall::{Action, Notice, RecallView};
use crate::ledger::record::{LotRef, Record};
use crate::ledger::rules::{LedgerView, LotState, Transition};
use diesel::QueryResult;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::convert::Infallible;

/// Where the log next names a held lot when no row says (a payload naming a lot its rows do
/// not): held until the end, and the first let go.
const NEXT_UNKNOWN: i64 = i64::MAX;

pub(super) struct LogReplay {
    orgs: HashMap<OrgId, Roles>,
    products: HashSet<Gtin>,
    brands: HashMap<Gtin, OrgId>,
    /// The recalls in force: (issuer, lot).
    recalled: HashSet<(OrgId, LotKey)>,
    /// Each held lot's state and the log index of the next record naming it.
    held: HashMap<LotKey, (LotState, i64)>,
    by_next: BTreeSet<(i64, LotKey)>,
    cap: usize,
    /// The final states of lots no later record names, to be compared with the lot table.
    pub finished: Vec<(LotKey, LotState)>,
}

impl LogReplay {
    /// The organizations and products as the registry holds them, and no lot yet.
    pub fn load(conn: &mut DbConn, cap: usize) -> QueryResult<Self> {
        let mut replay = Self {
            orgs: HashMap::new(),
            products: HashSet::new(),
            brands: HashMap::new(),
            recalled: HashSet::new(),
            held: HashMap::new(),
            by_next: BTreeSet::new(),
            cap: cap.max(1),
            finished: Vec::new(),
        };
        for org in orgs::all(conn)? {
            if let (Ok(id), Ok(roles)) = (OrgId::parse(&org.id), Roles::from_stored(&org.roles)) {
                replay.orgs.insert(id, roles);
            }
        }
        for product in products::all(conn)? {
            let Ok(gtin) = Gtin::parse(&product.gtin) else {
                continue;
            };
            if let Some(brand) = product
                .brand_org
                .as_deref()
                .and_then(|b| OrgId::parse(b).ok())
            {
                replay.brands.insert(gtin.clone(), brand);
            }
            replay.products.insert(gtin);
        }
        Ok(replay)
    }

    /// The states, before the record at `index`, of the lots `record` names that are not held
    /// but were named before (let go past the cap, or finished too early by a wrong row).
    pub fn restore(
        &self,
        conn: &mut DbConn,
        record: &Record,
        index: i64,
        lot_rows: &[NamedLot],
    ) -> QueryResult<HashMap<LotKey, LotState>> {
        let mut restored = HashMap::new();
        let named = record.lots.iter().map(|l| &l.key);
        for (position, key) in named
            .chain(record.new_lots.iter().map(|l| &l.key))
            .enumerate()
        {
            if self.held.contains_key(key) || restored.contains_key(key) {
                continue;
            }
            let named_before =
                row_of(lot_rows, position, key).is_none_or(|l| l.named_before.is_some());
            if named_before && let Some(state) = history(conn, key, index)?.state {
                restored.insert(key.clone(), state);
            }
        }
        Ok(restored)
    }

    /// The rules' view of the ledger just before a record: the held lots and `restored`.
    pub fn view<'a>(&'a self, restored: &'a HashMap<LotKey, LotState>) -> RecordView<'a> {
        RecordView {
            replay: self,
            restored,
        }
    }

    /// The rules' view of the ledger just before the notice at `index`, reading lineage and
    /// creators from the log.
    pub fn notice_view<'a>(&'a self, conn: &'a mut DbConn, index: i64) -> NoticeView<'a> {
        NoticeView {
            replay: self,
            conn,
            index,
            histories: HashMap::new(),
        }
    }

    /// Applies a record's transition: each lot it names is held until the next record naming
    /// it, or finished.
    pub fn settle(&mut self, transition: Transition, lot_rows: &[NamedLot]) {
        let Transition {
            updated, created, ..
        } = transition;
        // A lot both named and created keeps the created state, as ingest stores it.
        let named = updated.len();
        let updated = updated
            .into_iter()
            .enumerate()
            .filter(|(_, (key, _))| !created.iter().any(|(new, _)| new == key))
            .collect::<Vec<_>>();
        let created = created.into_iter().enumerate().map(|(i, c)| (named + i, c));
        for (position, (key, state)) in updated.into_iter().chain(created) {
            self.let_go(&key);
            match row_of(lot_rows, position, &key).map(|l| l.named_next) {
                Some(None) => self.finished.push((key, state)),
                Some(Some(next)) => self.hold(key, state, next),
                None => self.hold(key, state, NEXT_UNKNOWN),
            }
        }
    }

    fn hold(&mut self, key: LotKey, state: LotState, next: i64) {
        self.by_next.insert((next, key.clone()));
        self.held.insert(key, (state, next));
        while self.held.len() > self.cap {
            let Some((_, furthest)) = self.by_next.pop_last() else {
                break;
            };
            self.held.remove(&furthest);
        }
    }

    fn let_go(&mut self, key: &LotKey) {
        if let Some((_, next)) = self.held.remove(key) {
            self.by_next.remove(&(next, key.clone()));
        }
    }

    /// What an accepted recall notice changes.
    pub fn apply_notice(&mut self, notice: &Notice) {
        for key in &notice.lots {
            let pair = (notice.actor, key.clone());
            match notice.action {
                Action::Recall => self.recalled.insert(pair),
                Action::Lift => self.recalled.remove(&pair),
            };
        }
    }

    /// At the end of the log, every state still held is final (a row had said a later record
    /// names it, and none did).
    pub fn finish(&mut self) {
        self.by_next.clear();
        self.finished
            .extend(self.held.drain().map(|(key, (state, _))| (key, state)));
    }
}

/// The row of the lot a record names at `position` (its lots, then its new lots): the row at
/// that position when the rows are as the payload says, which the checkers compare.
fn row_of<'r>(lot_rows: &'r [NamedLot], position: usize, key: &LotKey) -> Option<&'r NamedLot> {
    let names = |l: &&NamedLot| l.gtin == key.gtin.as_str() && l.lot == key.lot.as_str();
    lot_rows
        .get(position)
        .filter(names)
        .or_else(|| lot_rows.iter().find(names))
}

/// The state a record claims a lot had before it (its prev, and its actor as custodian): what
/// the replay carries on from where a record names a lot the log has not created, so that one
/// broken record is named once rather than failing every record after it.
pub(super) fn claimed(record: &Record, lot: &LotRef) -> LotState {
    LotState {
        custodian: record.actor,
        head: lot.prev,
        head_time: record.time.into(),
        shipped_to: None,
    }
}

/// A lot as the log's records before a log index leave it.
#[derive(Default)]
struct History {
    state: Option<LotState>,
    /// The actor of the last record that created it.
    creator: Option<OrgId>,
    /// The lots it was made from, by every record that created it.
    inputs: Vec<LotKey>,
}

/// Folds the records naming `key` before `before` (found by `record_lots_by_lot`) through the
/// replay's own transitions: a record that breaks a rule moves the lot on as it claims.
fn history(conn: &mut DbConn, key: &LotKey, before: i64) -> QueryResult<History> {
    let pair = (key.gtin.to_string(), key.lot.to_string());
    let indexes: Vec<i64> = records::indexes_naming(conn, std::slice::from_ref(&pair))?
        .into_iter()
        .map(|(_, index)| index)
        .filter(|index| *index < before)
        .collect();
    let mut rows = records::at_indexes(conn, &indexes)?;
    rows.sort_by_key(|row| row.log_index);
    let mut history = History::default();
    for row in rows {
        if PayloadType::of_stored_event(&row.event) != PayloadType::Record {
            continue;
        }
        let Ok(record) = Record::from_payload(&row.payload) else {
            continue;
        };
        let id = RecordId::of_payload(&row.payload);
        if let Some(lot) = record.lots.iter().find(|l| l.key == *key) {
            let before = history
                .state
                .take()
                .unwrap_or_else(|| claimed(&record, lot));
            history.state = Some(LotState::after(&record, id, &before));
        }
        if record.new_lots.iter().any(|l| l.key == *key) {
            history.state = Some(LotState::created(&record, id));
            history.creator = Some(record.actor);
            history
                .inputs
                .extend(record.lots.iter().map(|l| l.key.clone()));
        }
    }
    Ok(history)
}

/// The ledger as a record about to be replayed sees it.
pub(super) struct RecordView<'a> {
    replay: &'a LogReplay,
    restored: &'a HashMap<LotKey, LotState>,
}

impl RecordView<'_> {
    pub fn state(&self, key: &LotKey) -> Option<LotState> {
        self.replay
            .held
            .get(key)
            .map(|(state, _)| state)
            .or_else(|| self.restored.get(key))
            .cloned()
    }
}

impl LedgerView for RecordView<'_> {
    type Error = Infallible;

    fn lot(&mut self, key: &LotKey) -> Result<Option<LotState>, Infallible> {
        Ok(self.state(key))
    }

    fn product_exists(&mut self, gtin: &Gtin) -> Result<bool, Infallible> {
        Ok(self.replay.products.contains(gtin))
    }

    fn org_roles(&mut self, org: OrgId) -> Result<Option<Roles>, Infallible> {
        Ok(self.replay.orgs.get(&org).cloned())
    }

    /// Master data changes, and a record accepted under an old list of places stays valid.
    fn location_names(&mut self, _: OrgId) -> Result<Option<Vec<String>>, Infallible> {
        Ok(None)
    }
}

/// The ledger as a recall notice about to be replayed sees it: the authority rule walks lineage
/// and creators, which the replay does not hold, so they are read from the log.
pub(super) struct NoticeView<'a> {
    replay: &'a LogReplay,
    conn: &'a mut DbConn,
    index: i64,
    histories: HashMap<LotKey, History>,
}

impl NoticeView<'_> {
    fn history(&mut self, key: &LotKey) -> QueryResult<&History> {
        if !self.histories.contains_key(key) {
            let history = history(self.conn, key, self.index)?;
            self.histories.insert(key.clone(), history);
        }
        Ok(&self.histories[key])
    }
}

impl LedgerView for NoticeView<'_> {
    type Error = diesel::result::Error;

    fn lot(&mut self, key: &LotKey) -> QueryResult<Option<LotState>> {
        match self.replay.held.get(key) {
            Some((state, _)) => Ok(Some(state.clone())),
            None => Ok(self.history(key)?.state.clone()),
        }
    }

    fn product_exists(&mut self, gtin: &Gtin) -> QueryResult<bool> {
        Ok(self.replay.products.contains(gtin))
    }

    fn org_roles(&mut self, org: OrgId) -> QueryResult<Option<Roles>> {
        Ok(self.replay.orgs.get(&org).cloned())
    }

    fn location_names(&mut self, _: OrgId) -> QueryResult<Option<Vec<String>>> {
        Ok(None)
    }
}

impl RecallView for NoticeView<'_> {
    fn creator(&mut self, key: &LotKey) -> QueryResult<Option<OrgId>> {
        Ok(self.history(key)?.creator)
    }

    fn inputs(&mut self, key: &LotKey) -> QueryResult<Vec<LotKey>> {
        Ok(self.history(key)?.inputs.clone())
    }

    fn brand(&mut self, gtin: &Gtin) -> QueryResult<Option<OrgId>> {
        Ok(self.replay.brands.get(gtin).copied())
    }

    fn in_force_by(&mut self, actor: OrgId, key: &LotKey) -> QueryResult<bool> {
        Ok(self.replay.recalled.contains(&(actor, key.clone())))
    }
}
