//! Action denied for the first time: a first-seen rule, evaluated with state by [`crate::seen`].

use super::{Reads, Rule};
use crate::model::Severity;

pub(crate) static RULE: Rule = Rule {
    id: "first_denied_action",
    title: "Action denied for the first time",
    severity: Severity::Low,
    description: "An action (`service:Action`) denied for the first time anywhere in the organisation, after the state has learned for `SEEN_LEARN_DAYS`: the weekly report's \"new\" in real time. Stateful, one alert per action and run.",
    why: "A new denial is either someone needing a permission they do not have yet (a platform team can grant it before the ticket), or someone probing for one they should never have.",
    check: "Who was denied and by which layer (the access_denied alert carries it)? Is the action part of a new workload, or reconnaissance?",
    tuning: "SEEN_LEARN_DAYS, SEEN_FORGET_DAYS; DENIED_EXCLUSIONS does not apply (it tunes access_denied).",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html",
    ],
    reads: Reads::Any("every event, with the first-seen state"),
    superseded_by: &[],
    eval: super::stateful,
};
