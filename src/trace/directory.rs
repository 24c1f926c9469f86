//! The organizations a set of records names, with their master data (address, phone,
//! locations): what the EPCIS export and the FSMA 204 spreadsheet say about parties and places.
//! Loaded in two queries for any number of records.

use crate::db::rows::{LocationRow, OrgRow};
use crate::db::{DbConn, orgs};
use crate::domain::{OrgId, Role, Roles};
use crate::ledger::record::{Location, Record};
use diesel::QueryResult;
use std::collections::{BTreeSet, HashMap};

/// Organizations by id, each with its locations.
#[derive(Debug, Default, Clone)]
pub struct Directory {
    orgs: HashMap<String, OrgRow>,
    locations: HashMap<String, Vec<LocationRow>>,
}

impl Directory {
    /// The actors and receivers of `records`.
    pub fn load<'a>(
        conn: &mut DbConn,
        records: impl IntoIterator<Item = &'a Record>,
    ) -> QueryResult<Self> {
        let ids: BTreeSet<String> = records
            .into_iter()
            .flat_map(|r| std::iter::once(r.actor).chain(r.to))
            .map(|o| o.to_string())
            .collect();
        let ids: Vec<String> = ids.into_iter().collect();
        let mut directory = Self::default();
        for chunk in ids.chunks(1000) {
            for org in orgs::by_ids(conn, chunk)? {
                directory.orgs.insert(org.id.clone(), org);
            }
            for location in orgs::locations_of(conn, chunk)? {
                directory
                    .locations
                    .entry(location.org_id.clone())
                    .or_default()
                    .push(location);
            }
        }
        Ok(directory)
    }

    pub fn org(&self, id: OrgId) -> Option<&OrgRow> {
        self.orgs.get(&id.to_string())
    }

    pub fn locations(&self, id: OrgId) -> &[LocationRow] {
        self.locations
            .get(&id.to_string())
            .map_or(&[], Vec::as_slice)
    }

    /// The organization's location a record's `location` names, by GLN or by name.
    pub fn location_of(&self, id: OrgId, at: Option<&Location>) -> Option<&LocationRow> {
        let at = at?;
        let locations = self.locations(id);
        at.gln
            .as_deref()
            .and_then(|gln| locations.iter().find(|l| l.gln.as_deref() == Some(gln)))
            .or_else(|| {
                at.name
                    .as_deref()
                    .and_then(|name| locations.iter().find(|l| l.name == name))
            })
    }

    /// The organization's location with this name or GLN.
    pub fn named_location(&self, id: OrgId, name_or_gln: &str) -> Option<&LocationRow> {
        self.locations(id)
            .iter()
            .find(|l| l.name == name_or_gln || l.gln.as_deref() == Some(name_or_gln))
    }

    /// The GLN of the place a record happened: its own, or that of the actor's location it names.
    pub fn place_gln(&self, record: &Record) -> Option<String> {
        record
            .location
            .as_ref()
            .and_then(|l| l.gln.clone())
            .or_else(|| {
                self.location_of(record.actor, record.location.as_ref())
                    .and_then(|l| l.gln.clone())
            })
    }

    /// A transporter: an organization whose only part in the chain is carrying (the carrier role
    /// and none of producer, processor or retailer). FSMA 204 skips transporters when it names a
    /// previous source or a subsequent recipient, and EPCIS makes them possessing, not owning,
    /// parties.
    pub fn is_transporter(&self, id: OrgId) -> bool {
        self.org(id)
            .and_then(|o| Roles::from_stored(&o.roles).ok())
            .is_some_and(|roles| {
                roles.contains(Role::Carrier)
                    && ![Role::Producer, Role::Processor, Role::Retailer]
                        .iter()
                        .any(|r| roles.contains(*r))
            })
    }

    /// The organization's name, or its id when it is not known.
    pub fn name(&self, id: OrgId) -> String {
        self.org(id)
            .map_or_else(|| id.to_string(), |o| o.name.clone())
    }
}
