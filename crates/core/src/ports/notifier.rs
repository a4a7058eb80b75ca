//! `Notifier`: where alerts go (SNS, stdout, a file, a webhook).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::Severity;

/// A message subject: one line, under 100 characters, as SNS requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Subject(String);

impl Subject {
    /// Longest subject SNS accepts.
    pub const MAX_CHARS: usize = 99;

    /// A subject from any text: control characters become spaces, and text over the limit is
    /// cut with an ellipsis.
    pub fn new(text: &str) -> Self {
        let clean: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        let clean = clean.trim();
        if clean.chars().count() <= Self::MAX_CHARS {
            return Self(clean.to_owned());
        }
        let mut cut: String = clean.chars().take(Self::MAX_CHARS - 1).collect();
        cut.push('…');
        Self(cut)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A message to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub subject: Subject,
    pub body: String,
    pub severity: Severity,
    /// Message attributes for subscription filter policies (`rule_id`, `account`, ...).
    pub attributes: BTreeMap<String, String>,
}

impl Notification {
    /// A notification; the body must not be empty.
    pub fn new(subject: &str, body: impl Into<String>, severity: Severity) -> Result<Self> {
        let body = body.into();
        if body.trim().is_empty() {
            return Err(Error::invalid(
                "notification body",
                body,
                "must not be empty",
            ));
        }
        Ok(Self {
            subject: Subject::new(subject),
            body,
            severity,
            attributes: BTreeMap::new(),
        })
    }

    /// Adds a message attribute.
    pub fn with_attribute(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attributes.insert(name.to_owned(), value.into());
        self
    }
}

/// Delivers notifications.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers one notification; an error means it may not have been delivered.
    async fn notify(&self, notification: &Notification) -> Result<()>;
}

/// A [`Notifier`] that keeps what it was given, and can be told to fail.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    sent: Mutex<Vec<Notification>>,
    failures_left: Mutex<usize>,
}

impl MemoryNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` calls fail without delivering.
    pub fn fail_next(&self, n: usize) {
        *self.failures_left.lock().unwrap() = n;
    }

    /// What was delivered, in order.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl Notifier for MemoryNotifier {
    async fn notify(&self, notification: &Notification) -> Result<()> {
        {
            let mut left = self.failures_left.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return Err(Error::backend(
                    "memory notifier",
                    "notify",
                    "injected failure",
                ));
            }
        }
        self.sent.lock().unwrap().push(notification.clone());
        Ok(())
    }
}
