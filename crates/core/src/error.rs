//! The crate's one error type. Variants name the failure and carry what is needed to act on it.

/// Errors of the domain and of any port implementation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The record is not a JSON object (syntax error, or another JSON type).
    #[error("record is not a valid JSON object: {reason}")]
    InvalidJson { reason: String },
    /// A field every CloudTrail record has is missing or empty.
    #[error("record{} has no {field}", event_id.as_deref().map(|id| format!(" {id}")).unwrap_or_default())]
    MissingField {
        field: &'static str,
        event_id: Option<String>,
    },
    /// A field is present but cannot be understood (a time that is not RFC 3339, say).
    #[error("record {event_id} has an invalid {field}: {reason}")]
    InvalidField {
        field: &'static str,
        event_id: String,
        reason: String,
    },
    /// The record is larger than the configured limit.
    #[error("record{} is {size} bytes, over the limit of {limit}", event_id.as_deref().map(|id| format!(" {id}")).unwrap_or_default())]
    Oversized {
        size: usize,
        limit: usize,
        event_id: Option<String>,
    },
    /// A value given to a validating constructor was rejected.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidValue {
        what: &'static str,
        value: String,
        reason: String,
    },
    /// A page token was used with parameters other than those of the call that produced it.
    #[error("page token does not belong to this query")]
    InvalidPageToken,
    /// A checkpoint was written concurrently by someone else.
    #[error(
        "checkpoint of {stream} changed concurrently: expected version {expected}, found {found}"
    )]
    CheckpointConflict {
        stream: String,
        expected: u64,
        found: u64,
    },
    /// The service refused the call for going over its rate limit; retry later, more slowly.
    #[error("{service} {operation} throttled in {region}")]
    Throttled {
        service: &'static str,
        operation: &'static str,
        region: String,
    },
    /// The service could not be reached or failed on its side (5xx, connection lost, timeout)
    /// even after the client's retries; the same call may succeed later.
    #[error("{service} {operation} unavailable: {}{message}", on(resource))]
    Unavailable {
        service: &'static str,
        operation: &'static str,
        /// What the call was about (`table iat-events`, `topic arn:...`), when there is one.
        resource: Option<Box<str>>,
        /// What went wrong, as operators search for it (`code: message`).
        message: String,
        /// The client's own error, for whoever wants every detail.
        #[source]
        source: Option<BoxError>,
    },
    /// A backend (SQLite, DynamoDB, S3, a directory, ...) failed.
    #[error("{backend} {operation} failed: {}{message}", on(resource))]
    Backend {
        backend: &'static str,
        operation: &'static str,
        /// What the call was about (`table iat-events`, `topic arn:...`), when there is one.
        resource: Option<Box<str>>,
        /// What went wrong, as operators search for it (`code: message`).
        message: String,
        /// The client's own error, for whoever wants every detail.
        #[source]
        source: Option<BoxError>,
    },
}

/// An adapter's client error, kept as an [`Error`]'s source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

fn on(resource: &Option<Box<str>>) -> String {
    resource
        .as_deref()
        .map(|r| format!("{r}: "))
        .unwrap_or_default()
}

impl Error {
    /// Shorthand for [`Error::Backend`].
    pub fn backend(
        backend: &'static str,
        operation: &'static str,
        err: impl std::fmt::Display,
    ) -> Self {
        Error::Backend {
            backend,
            operation,
            resource: None,
            message: err.to_string(),
            source: None,
        }
    }

    /// Shorthand for [`Error::Unavailable`] without a resource or source.
    pub fn unavailable(
        service: &'static str,
        operation: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Error::Unavailable {
            service,
            operation,
            resource: None,
            message: message.into(),
            source: None,
        }
    }

    /// Shorthand for [`Error::InvalidValue`].
    pub fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidValue {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
