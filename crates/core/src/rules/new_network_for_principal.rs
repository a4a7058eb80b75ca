//! New network for a principal: a first-seen rule, evaluated with state by [`crate::seen`].

use super::{Reads, Rule};
use crate::model::Severity;

pub(crate) static RULE: Rule = Rule {
    id: "new_network_for_principal",
    title: "New network for a principal",
    severity: Severity::Medium,
    description: "A console sign-in or a successful write call from a network (IPv4 /24, IPv6 /48) the principal never used, after its learning period. Calls from AWS service addresses (`AWS Internal`, host names) are not networks. Stateful, grouped per principal and run.",
    why: "A known principal suddenly acting from a new network is the classic sign of a leaked key or a hijacked session; unlike a fixed list of expected networks, this needs no list.",
    check: "Is the principal travelling, or did its workload move (a new NAT gateway, a new CI runner)? If neither, treat the credentials as leaked: deactivate keys, revoke sessions.",
    tuning: "SEEN_LEARN_DAYS, SEEN_FORGET_DAYS; ALLOWED_ACTORS for principals that run from changing networks.",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html#securing_access-keys",
    ],
    reads: Reads::Any("every event, with the first-seen state"),
    superseded_by: &[],
    eval: super::stateful,
};
