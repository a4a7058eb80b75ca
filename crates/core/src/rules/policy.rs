//! IAM policy documents as CloudTrail writes them, read the way IAM reads them.
//!
//! Documents arrive as JSON text inside a JSON string (a second parse), sometimes percent-encoded
//! (trust policies in `responseElements`), and `Statement`, `Action`, `Resource` and principals
//! may each be one value or a list. The Python tool skipped single-object statements and saw
//! external trust only in `:root` ARNs; here every form counts.

use serde_json::Value;

/// Parses a policy document given as a JSON string (plain or percent-encoded) or an object.
pub fn parse_document(value: &Value) -> Option<Value> {
    match value {
        Value::Object(_) => Some(value.clone()),
        Value::String(text) => parse_text(text),
        _ => None,
    }
}

/// Parses policy JSON text, percent-decoding it first when it is not JSON as written.
pub fn parse_text(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    if let Ok(v @ Value::Object(_)) = serde_json::from_str(trimmed) {
        return Some(v);
    }
    let decoded = percent_decode(trimmed)?;
    match serde_json::from_str(&decoded) {
        Ok(v @ Value::Object(_)) => Some(v),
        _ => None,
    }
}

fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return None;
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The statements of a document: a list, or a single object.
pub fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(items)) => items.iter().filter(|s| s.is_object()).collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => Vec::new(),
    }
}

/// A string-or-list field as strings.
pub fn strings(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn is_allow(statement: &Value) -> bool {
    statement
        .get("Effect")
        .and_then(Value::as_str)
        .is_some_and(|e| e.eq_ignore_ascii_case("allow"))
}

/// Actions that hand over the account when allowed on every resource.
const DANGEROUS_ACTIONS: [&str; 4] = ["*", "*:*", "iam:*", "sts:*"];

/// What makes a document dangerous, one line per grant; empty when nothing does.
pub fn dangerous_grants(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for st in statements(doc) {
        if !is_allow(st) {
            continue;
        }
        let resources = strings(st.get("Resource"));
        let on = if resources.is_empty() {
            String::new()
        } else {
            format!(" on {}", resources.join(", "))
        };
        for action in strings(st.get("Action")) {
            let a = action.trim().to_ascii_lowercase();
            if DANGEROUS_ACTIONS.contains(&a.as_str()) {
                out.push(format!("Allow {action}{on}"));
            }
        }
        if st.get("NotAction").is_some() {
            let not = strings(st.get("NotAction"));
            out.push(format!("Allow every action except {}{on}", not.join(", ")));
        }
    }
    out
}

/// Who a trust policy lets assume the role, beyond the account itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trustee {
    /// `*`: any AWS principal anywhere (or `NotPrincipal` with Allow).
    Anyone { conditions: Vec<String> },
    /// A principal of another account: a bare id, `:root`, or any ARN in that account.
    Account {
        account: String,
        principal: String,
        conditions: Vec<String>,
    },
}

/// The account id inside an AWS principal (`123456789012`, `arn:aws:iam::123456789012:...`,
/// `arn:aws:sts::123456789012:assumed-role/...`).
pub fn principal_account(p: &str) -> Option<&str> {
    let p = p.trim();
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return Some(p);
    }
    let mut parts = p.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let _partition = parts.next()?;
    let _service = parts.next()?;
    let _region = parts.next()?;
    let account = parts.next()?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

fn condition_keys(statement: &Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(Value::Object(ops)) = statement.get("Condition") {
        for (op, body) in ops {
            if let Value::Object(k) = body {
                keys.extend(k.keys().map(|key| format!("{op} {key}")));
            }
        }
    }
    keys
}

/// Every Allow grant of a trust policy to a principal outside `own_account`.
pub fn external_trustees(doc: &Value, own_account: Option<&str>) -> Vec<Trustee> {
    let mut out = Vec::new();
    for st in statements(doc) {
        if !is_allow(st) {
            continue;
        }
        let conditions = condition_keys(st);
        if st.get("NotPrincipal").is_some() {
            out.push(Trustee::Anyone {
                conditions: conditions.clone(),
            });
        }
        let aws: Vec<&str> = match st.get("Principal") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Object(map)) => strings(map.get("AWS")),
            _ => Vec::new(),
        };
        for p in aws {
            if p.trim() == "*" {
                out.push(Trustee::Anyone {
                    conditions: conditions.clone(),
                });
            } else if let Some(account) = principal_account(p)
                && Some(account) != own_account
            {
                out.push(Trustee::Account {
                    account: account.to_owned(),
                    principal: p.to_owned(),
                    conditions: conditions.clone(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(statement: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": statement})
    }

    #[test]
    fn documents_parse_from_strings_encoded_strings_and_objects() {
        let d = doc(json!({"Effect": "Allow", "Action": "*", "Resource": "*"}));
        let text = d.to_string();
        assert_eq!(parse_document(&json!(text)), Some(d.clone()));
        assert_eq!(parse_document(&d), Some(d.clone()));
        let encoded: String = text
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        assert_eq!(parse_text(&encoded), Some(d));
        assert_eq!(parse_document(&json!(null)), None);
        assert_eq!(parse_text("not json"), None);
        assert_eq!(parse_text("%ZZ"), None);
    }

    #[test]
    fn dangerous_grants_cover_every_form() {
        let single = doc(json!({"Effect": "Allow", "Action": "*", "Resource": "*"}));
        assert_eq!(dangerous_grants(&single), vec!["Allow * on *"]);
        let list = doc(
            json!([{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}, {"Effect": "Allow", "Action": ["IAM:*"], "Resource": "*"}]),
        );
        assert_eq!(dangerous_grants(&list), vec!["Allow IAM:* on *"]);
        let not = doc(json!([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]));
        assert_eq!(dangerous_grants(&not).len(), 1);
        let deny = doc(json!({"Effect": "Deny", "Action": "*", "Resource": "*"}));
        assert!(dangerous_grants(&deny).is_empty());
        let narrow =
            doc(json!({"Effect": "Allow", "Action": ["s3:*", "iam:Get*"], "Resource": "*"}));
        assert!(dangerous_grants(&narrow).is_empty());
        assert!(dangerous_grants(&json!({"Version": "2012-10-17"})).is_empty());
    }

    #[test]
    fn trustees_in_every_principal_form() {
        let own = "111122223333";
        let d = doc(json!([
            {"Effect": "Allow", "Principal": {"AWS": "999988887777"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": [format!("arn:aws:iam::{own}:root"), "arn:aws:iam::444455556666:role/deployer"]}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::111122223333:saml-provider/okta"}, "Action": "sts:AssumeRoleWithSAML"},
            {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::111122223333:user/ci", "*"]}, "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}},
            {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
        ]));
        let t = external_trustees(&d, Some(own));
        assert_eq!(t.len(), 3, "{t:?}");
        assert!(matches!(&t[0], Trustee::Account { account, .. } if account == "999988887777"));
        assert!(matches!(&t[1], Trustee::Account { account, .. } if account == "444455556666"));
        assert!(
            matches!(&t[2], Trustee::Anyone { conditions } if conditions == &["StringEquals aws:PrincipalOrgID"])
        );
        let star = doc(json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}));
        assert!(matches!(
            external_trustees(&star, Some(own))[..],
            [Trustee::Anyone { .. }]
        ));
    }

    #[test]
    fn principal_accounts() {
        assert_eq!(principal_account("123456789012"), Some("123456789012"));
        assert_eq!(
            principal_account("arn:aws:iam::123456789012:root"),
            Some("123456789012")
        );
        assert_eq!(
            principal_account("arn:aws:sts::123456789012:assumed-role/r/s"),
            Some("123456789012")
        );
        assert_eq!(principal_account("AIDAEXAMPLE"), None);
        assert_eq!(principal_account("arn:aws:iam::aws:policy/x"), None);
    }
}
