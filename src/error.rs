//! One error type for the whole application. Each variant has one stable `error` code (and, in
//! `http::error`, one HTTP status); internal causes are kept as sources and logged, never shown to
//! the client. The ledger converts its rejections into it (`ledger::rules`).

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0}")]
    UnknownKey(String),
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    RevokedKey(String),
    #[error("{0}")]
    ActorMismatch(String),
    #[error("{0}")]
    NotCustodian(String),
    #[error("{0}")]
    RoleNotAllowed(String),
    #[error("{message}")]
    StalePrev { message: String, head: String },
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    InvalidRecord(String),
    #[error("{0}")]
    InvalidTime(String),
    #[error("{0}")]
    UnknownProduct(String),
    /// A field of a request that is not a record (an organization, a product, a key).
    #[error("{0}")]
    InvalidField(String),
    /// A request the caller may not make (a forged form, another organization's data).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorized(String),
    /// A request body that did not arrive within the server's time limits.
    #[error("{0}")]
    Timeout(String),
    #[error("the service is busy or its database is unreachable; try again shortly")]
    Unavailable(String),
    /// No connection could be had from the pool in time.
    #[error("the service is busy or its database is unreachable; try again shortly")]
    Pool(#[source] diesel::r2d2::PoolError),
    #[error("internal error")]
    Database(#[source] diesel::result::Error),
    /// A blocking task that panicked or was cancelled.
    #[error("internal error")]
    Task(#[source] tokio::task::JoinError),
    #[error("internal error")]
    Internal(String),
}

impl AppError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnknownKey(_) => "unknown_key",
            Self::BadSignature(_) => "bad_signature",
            Self::RevokedKey(_) => "revoked_key",
            Self::ActorMismatch(_) => "actor_mismatch",
            Self::NotCustodian(_) => "not_custodian",
            Self::RoleNotAllowed(_) => "role_not_allowed",
            Self::StalePrev { .. } => "stale_prev",
            Self::TooLarge(_) => "too_large",
            Self::InvalidRecord(_) => "invalid_record",
            Self::InvalidTime(_) => "invalid_time",
            Self::UnknownProduct(_) => "unknown_product",
            Self::InvalidField(_) => "invalid_field",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::Unauthorized(_) => "unauthorized",
            Self::Timeout(_) => "timeout",
            Self::Unavailable(_) | Self::Pool(_) => "unavailable",
            Self::Database(_) | Self::Task(_) | Self::Internal(_) => "internal",
        }
    }

    /// What went wrong inside, for the log, when the client is told only "internal error" or
    /// "unavailable": the message and every source below it.
    pub fn internal_cause(&self) -> Option<String> {
        let mut cause = match self {
            Self::Internal(m) | Self::Unavailable(m) => m.clone(),
            Self::Pool(_) | Self::Database(_) | Self::Task(_) => String::new(),
            _ => return None,
        };
        let mut source = std::error::Error::source(self);
        while let Some(e) = source {
            if !cause.is_empty() {
                cause.push_str(": ");
            }
            cause.push_str(&e.to_string());
            source = e.source();
        }
        Some(cause)
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::NotFound => Self::NotFound("not found".into()),
            other => Self::Database(other),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        Self::Pool(e)
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Task(e)
    }
}

pub type AppResult<T> = Result<T, AppError>;
