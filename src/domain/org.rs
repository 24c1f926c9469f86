//! Organization ids and roles.

use std::str::FromStr;
use uuid::Uuid;

/// An organization's id, a UUID (v7 when the platform makes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(pub Uuid);

impl OrgId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(input: &str) -> Result<Self, String> {
        Uuid::try_parse(input)
            .map(Self)
            .map_err(|_| format!("{input:?} is not an organization id (a UUID)"))
    }
}

impl Default for OrgId {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for OrgId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Producer,
    Processor,
    Carrier,
    Retailer,
    Brand,
    /// A food-safety authority: may issue a recall of any lot.
    Regulator,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Self::Producer,
        Self::Processor,
        Self::Carrier,
        Self::Retailer,
        Self::Brand,
        Self::Regulator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Producer => "producer",
            Self::Processor => "processor",
            Self::Carrier => "carrier",
            Self::Retailer => "retailer",
            Self::Brand => "brand",
            Self::Regulator => "regulator",
        }
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; expected producer, processor, carrier, retailer, brand or regulator"
                )
            })
    }
}

/// A non-empty, sorted, duplicate-free set of roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut roles = names
            .iter()
            .map(|n| n.as_ref().parse())
            .collect::<Result<Vec<Role>, _>>()?;
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err("an organization needs at least one role".into());
        }
        Ok(Self(roles))
    }

    /// Parses the comma-separated form stored in the database.
    pub fn from_stored(stored: &str) -> Result<Self, String> {
        Self::parse(&stored.split(',').collect::<Vec<_>>())
    }

    pub fn to_stored(&self) -> String {
        self.names().join(",")
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|r| r.as_str()).collect()
    }

    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
}
