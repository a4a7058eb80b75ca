//! First call to a service by a principal: a first-seen rule, evaluated with state by [`crate::seen`].

use super::{Reads, Rule};
use crate::model::Severity;

pub(crate) static RULE: Rule = Rule {
    id: "first_service_use",
    title: "First call to a service by a principal",
    severity: Severity::Medium,
    description: "A principal's first successful write call to an AWS service (read calls too with `SEEN_SERVICE_READS=true`), after its learning period (`SEEN_LEARN_DAYS`, default 14, from the principal's first event). Stateful: evaluated over each batch with the first-seen state. Grouped per principal and run.",
    why: "A role or user that suddenly writes to a service it never touched is how a stolen credential or a widened policy shows up before anything breaks: the new service is often where the attacker's objective is (KMS, Secrets Manager, Organizations).",
    check: "Does the principal's job include this service now (a new feature, a new pipeline step)? If not, look at the calls that followed and at who holds the credentials. `iat seen PRINCIPAL` shows what it used before.",
    tuning: "SEEN_LEARN_DAYS, SEEN_FORGET_DAYS (default 90), SEEN_SERVICE_READS; ALLOWED_ACTORS for principals whose work is to touch everything (deployment pipelines).",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_last-accessed.html",
    ],
    reads: Reads::Any("every event, with the first-seen state"),
    superseded_by: &[],
    eval: super::stateful,
};
