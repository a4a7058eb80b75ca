//! A role trust policy that lets another account, or anyone, assume the role.

use super::policy::{Trustee, external_trustees, parse_document};
use super::{Finding, Reads, Rule, RuleSettings, params, succeeded, text};
use crate::model::{ActivityEvent, Severity};

pub(crate) static RULE: Rule = Rule {
    id: "trust_policy_external",
    title: "Role trusts another account or anyone",
    severity: Severity::High,
    description: "A successful `CreateRole` or `UpdateAssumeRolePolicy` whose trust policy allows `*` (critical; high when conditions restrict it) or a principal of an account that is neither the role's own nor in TRUSTED_ACCOUNTS, in any form: bare id, `:root`, any role, user or session ARN, alone or in a list, or `NotPrincipal`.",
    why: "A trust policy decides who can become the role. Opening it to another account hands that account the role's permissions; `*` hands them to every AWS customer unless a condition stops it.",
    check: "Whose account is it, and is there an agreement with them? Is there an `sts:ExternalId` or `aws:PrincipalOrgID` condition? Remove the principal if nobody can explain it.",
    tuning: "TRUSTED_ACCOUNTS (your organisation's accounts and approved vendors).",
    references: &[
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html",
        "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user_externalid.html",
    ],
    reads: Reads::Events(&[
        ("iam.amazonaws.com", "CreateRole"),
        ("iam.amazonaws.com", "UpdateAssumeRolePolicy"),
    ]),
    superseded_by: &[],
    eval,
};

fn eval(e: &ActivityEvent, s: &RuleSettings) -> Option<Finding> {
    if !succeeded(e) {
        return None;
    }
    let p = params(e);
    let doc_value = p
        .get("assumeRolePolicyDocument")
        .or_else(|| p.get("policyDocument"))?;
    let doc = parse_document(doc_value)?;
    let own = e.account.as_ref().map(|a| a.as_str());
    let trustees: Vec<Trustee> = external_trustees(&doc, own)
        .into_iter()
        .filter(|t| !matches!(t, Trustee::Account { account, .. } if s.is_trusted_account(account)))
        .collect();
    if trustees.is_empty() {
        return None;
    }
    let role = text(&p, "roleName").unwrap_or("(not recorded)");
    let mut severity = Severity::High;
    let mut who = Vec::new();
    let mut conditions = Vec::new();
    for t in &trustees {
        match t {
            Trustee::Anyone { conditions: c } => {
                if c.is_empty() {
                    severity = Severity::Critical;
                }
                who.push("anyone (*)".to_owned());
                conditions.extend(c.iter().cloned());
            }
            Trustee::Account {
                account,
                principal,
                conditions: c,
            } => {
                who.push(if principal == account {
                    format!("account {account}")
                } else {
                    format!("{principal} (account {account})")
                });
                conditions.extend(c.iter().cloned());
            }
        }
    }
    let verb = if e.name == "CreateRole" {
        "created trusting"
    } else {
        "now trusts"
    };
    let mut f = Finding::new(format!("role {role} {verb} {}", who.join(", ")))
        .detail("Role", role)
        .detail("Trusted", who.join("; "))
        .severity(severity);
    if !conditions.is_empty() {
        conditions.dedup();
        f = f.detail("Conditions", conditions.join("; "));
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;

    fn update(principal: serde_json::Value) -> crate::model::ActivityEvent {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}]});
        call(
            iam_user("alice"),
            "iam.amazonaws.com",
            "UpdateAssumeRolePolicy",
        )
        .params(json!({"roleName": "r", "policyDocument": doc.to_string()}))
        .event()
    }

    #[test]
    fn every_principal_form() {
        assert!(
            fire(&RULE, &update(json!({"AWS": "999988887777"})))
                .summary
                .contains("account 999988887777")
        );
        assert!(
            fire(
                &RULE,
                &update(json!({"AWS": "arn:aws:iam::999988887777:root"}))
            )
            .summary
            .contains("999988887777")
        );
        assert!(fire(&RULE, &update(json!({"AWS": ["arn:aws:iam::111122223333:root", "arn:aws:iam::999988887777:role/x"]}))).summary.contains("role/x"));
        assert_eq!(
            fire(&RULE, &update(json!({"AWS": "*"}))).severity,
            Some(Severity::Critical)
        );
        assert_eq!(
            fire(&RULE, &update(json!("*"))).severity,
            Some(Severity::Critical)
        );
        assert!(
            quiet(
                &RULE,
                &update(json!({"AWS": "arn:aws:iam::111122223333:root"}))
            ),
            "own account"
        );
        assert!(quiet(
            &RULE,
            &update(json!({"Service": "ec2.amazonaws.com"}))
        ));
        let mut s = RuleSettings::default();
        s.set_trusted_accounts("999988887777").unwrap();
        assert!((RULE.eval)(&update(json!({"AWS": "999988887777"})), &s).is_none());
    }
}
