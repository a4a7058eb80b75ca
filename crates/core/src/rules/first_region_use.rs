//! First activity of an account in a region: a first-seen rule, evaluated with state by [`crate::seen`].

use super::{Reads, Rule};
use crate::model::Severity;

pub(crate) static RULE: Rule = Rule {
    id: "first_region_use",
    title: "First activity of an account in a region",
    severity: Severity::Medium,
    description: "An account's first recorded activity in a region, after the account's learning period: the \"unexpected regions\" of the weekly report, as a live alert. Stateful, grouped per account and region.",
    why: "Attackers run workloads (crypto-mining, staging) in regions nobody watches; a team's first deployment to a new region is also worth knowing about before the bill does.",
    check: "Is a deployment to this region planned? If not, block unused regions with a service control policy (`aws:RequestedRegion`).",
    tuning: "SEEN_LEARN_DAYS, SEEN_FORGET_DAYS; DISABLED_RULES where regions change often.",
    references: &[
        "https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples_general.html",
    ],
    reads: Reads::Any("every event, with the first-seen state"),
    superseded_by: &[],
    eval: super::stateful,
};
