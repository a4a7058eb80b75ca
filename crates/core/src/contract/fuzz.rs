//! Seeded mutation fuzzing of everything that reads outside input: CloudTrail records (the
//! normaliser, then every rule and the alert text), IAM policy documents, and (from the local
//! crate) trail files.
//!
//! Each target is a function of bytes that must never panic, whatever the bytes. [`fuzz`]
//! starts from a corpus of real-shaped inputs and mutates them (byte flips, cuts, repeats,
//! JSON-aware replacements of one value by another of any type, tokens that broke parsers
//! before: `null`, percent-encoding, huge numbers, deep nesting, long strings), runs the target
//! on each under `catch_unwind`, and reports every panic with the seed and execution that
//! replays it. The same runner serves `make test` (a fixed budget) and `make bench` (a larger
//! one, as figures). Inputs are capped at [`MAX_INPUT`] bytes.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::{Value, json};

use crate::alert::{Alert, digest};
use crate::normalize::{RecordLimits, normalize};
use crate::rules::{RuleSet, policy};

/// Largest input a mutation produces.
pub const MAX_INPUT: usize = 2 * 1024 * 1024;

/// A panic found by [`fuzz`].
#[derive(Debug, Clone)]
pub struct Crash {
    /// `fuzz(.., seed)` replays it at execution `exec`.
    pub seed: u64,
    pub exec: u64,
    pub message: String,
    /// The input's first bytes, as text.
    pub input_head: String,
}

/// What a fuzzing run did.
#[derive(Debug, Clone)]
pub struct FuzzReport {
    pub target: &'static str,
    pub execs: u64,
    pub crashes: Vec<Crash>,
}

impl FuzzReport {
    /// Prints the run and fails the calling test on any crash, showing the first.
    ///
    /// # Panics
    /// When the run found a crash.
    pub fn assert_clean(&self) {
        println!(
            "{}: {} executions, {} crashes",
            self.target,
            self.execs,
            self.crashes.len()
        );
        assert!(
            self.crashes.is_empty(),
            "{} crashes of {}; first: {:?}",
            self.crashes.len(),
            self.target,
            self.crashes.first()
        );
    }
}

/// The budget of a test's fuzzing run: `IAT_FUZZ_EXECS` executions per target (20,000 when
/// unset) from `IAT_FUZZ_SEED` (1).
///
/// # Panics
/// When either is set to something other than a whole number.
pub fn budget_from_env() -> (u64, u64) {
    let num = |name: &str, default: u64| {
        std::env::var(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} must be a whole number, not {v:?}"))
        })
    };
    (num("IAT_FUZZ_EXECS", 20_000), num("IAT_FUZZ_SEED", 1))
}

/// Runs `target` on `execs` mutations of `corpus` (and the corpus itself first), from `seed`.
pub fn fuzz(
    name: &'static str,
    corpus: &[Vec<u8>],
    target: &dyn Fn(&[u8]),
    execs: u64,
    seed: u64,
) -> FuzzReport {
    assert!(!corpus.is_empty(), "a fuzz target needs a corpus");
    let mut rng = SplitMix(seed);
    let mut report = FuzzReport {
        target: name,
        execs: 0,
        crashes: Vec::new(),
    };
    // Panics are caught and reported here; the default hook would print each one.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for exec in 0..execs {
        let input = if (exec as usize) < corpus.len() {
            corpus[exec as usize].clone()
        } else {
            let base = &corpus[rng.below(corpus.len())];
            mutate(base, &mut rng)
        };
        report.execs += 1;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            report.crashes.push(Crash {
                seed,
                exec,
                message,
                input_head: String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned(),
            });
        }
    }
    std::panic::set_hook(hook);
    report
}

/// A record through the normaliser and, when it normalises, every default rule, the alerts'
/// text and a digest of them.
pub fn record_target(input: &[u8]) {
    let text = String::from_utf8_lossy(input).into_owned();
    let Ok(n) = normalize(text, &RecordLimits::default()) else {
        return;
    };
    assert!(!n.event.id.to_string().is_empty(), "an event without an id");
    let events = [n.event];
    let rules = RuleSet::default_rules();
    let alerts = Alert::from_hits(rules.evaluate_all(&events));
    for a in &alerts {
        let _ = a.notification();
    }
    if !alerts.is_empty() {
        let _ = digest(&alerts);
    }
}

/// A policy document as text (plain or percent-encoded) and as JSON, through every reader.
pub fn policy_target(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let mut docs = Vec::new();
    docs.extend(policy::parse_text(&text));
    docs.extend(policy::parse_document(&Value::String(
        text.clone().into_owned(),
    )));
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        docs.extend(policy::parse_document(&v));
    }
    for doc in &docs {
        for s in policy::statements(doc) {
            let _ = policy::strings(s.get("Action"));
        }
        let _ = policy::dangerous_grants(doc);
        let _ = policy::external_trustees(doc, Some("111122223333"));
        let _ = policy::external_trustees(doc, None);
    }
}

/// Real-shaped records: the normaliser's fixtures (real CloudTrail shapes) and a few built here.
pub fn record_corpus() -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = FIXTURES.iter().map(|f| f.as_bytes().to_vec()).collect();
    let t: chrono::DateTime<chrono::Utc> = "2026-03-10T12:00:00Z".parse().expect("a time");
    let specs = [
        super::records::RecordSpec::new("fz-1", t)
            .name("iam.amazonaws.com", "PutRolePolicy")
            .params(json!({"roleName": "ci", "policyName": "p",
                "policyDocument": "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}}"})),
        super::records::RecordSpec::new("fz-2", t)
            .name("iam.amazonaws.com", "UpdateAssumeRolePolicy")
            .params(json!({"roleName": "x",
                "policyDocument": "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22*%22%7D%7D%5D%7D"})),
        super::records::RecordSpec::new("fz-3", t)
            .name("ec2.amazonaws.com", "AuthorizeSecurityGroupIngress")
            .error("Client.UnauthorizedOperation", "with an explicit deny in a service control policy"),
        super::records::RecordSpec::new("fz-4", t)
            .name("iam.amazonaws.com", "CreateAccessKey")
            .params(Value::Null),
    ];
    out.extend(specs.iter().map(|s| s.json().into_bytes()));
    out
}

/// Policy documents in the forms CloudTrail carries them.
pub fn policy_corpus() -> Vec<Vec<u8>> {
    [
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:*","s3:GetObject"],"Resource":"*"}]}"#,
        r#"{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root","999988887777","*"]},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"}]}"#,
        "%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ec2.amazonaws.com%22%7D%7D%5D%7D",
        r#"{"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"iam:PassRole","Resource":"arn:aws:iam::111122223333:role/*"}]}"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

const FIXTURES: [&str; 11] = [
    include_str!("../../tests/fixtures/assumed_role_sso.json"),
    include_str!("../../tests/fixtures/aws_service_assume_slr.json"),
    include_str!("../../tests/fixtures/console_login_failure.json"),
    include_str!("../../tests/fixtures/cross_account.json"),
    include_str!("../../tests/fixtures/denied_ec2_encoded.json"),
    include_str!("../../tests/fixtures/denied_scp.json"),
    include_str!("../../tests/fixtures/federated_user.json"),
    include_str!("../../tests/fixtures/future_version.json"),
    include_str!("../../tests/fixtures/iam_user_create_user.json"),
    include_str!("../../tests/fixtures/identity_center_user.json"),
    include_str!("../../tests/fixtures/root_console_login.json"),
];

/// Tokens that have broken JSON and policy readers.
const TOKENS: [&str; 24] = [
    "null",
    "{}",
    "[]",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "%",
    "%7B",
    "%zz",
    "1e999",
    "-0",
    "18446744073709551616",
    "\"Statement\"",
    "\"Principal\"",
    "\"*\"",
    "\"AWS\"",
    ":root",
    "arn:aws:iam::",
    "\u{10FFFF}",
    "\"eventTime\":\"2026-13-45T99:99:99Z\"",
    "\"eventID\":null",
    "\"userIdentity\":[]",
    "\"requestParameters\":\"{\\\"policyDocument\\\":1}\"",
];

/// One mutation of `base`: byte-level edits, or a JSON-aware replacement when `base` parses.
fn mutate(base: &[u8], rng: &mut SplitMix) -> Vec<u8> {
    if rng.below(3) == 0
        && let Ok(mut v) = serde_json::from_slice::<Value>(base)
    {
        for _ in 0..=rng.below(3) {
            replace_random_node(&mut v, rng);
        }
        return serde_json::to_vec(&v).unwrap_or_default();
    }
    let mut out = base.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = [b'"', b'{', b'}', b'[', b']', b',', b':', 0, 0xff][rng.below(9)];
            }
            2 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                out.drain(start..end);
            }
            3 if len > 0 => {
                out.truncate(rng.below(len));
            }
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(256)).min(len);
                let piece = out[start..end].to_vec();
                let at = rng.below(out.len() + 1);
                for _ in 0..=rng.below(8) {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            5 => {
                let at = rng.below(len + 1);
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            _ => {
                let at = rng.below(len + 1);
                let long = vec![b'a'; 1 + rng.below(100_000)];
                out.splice(at..at, long);
            }
        }
        out.truncate(MAX_INPUT);
    }
    out
}

fn replace_random_node(v: &mut Value, rng: &mut SplitMix) {
    let mut node = v;
    loop {
        let children = match node {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if children == 0 || rng.below(4) == 0 {
            break;
        }
        let i = rng.below(children);
        node = match node {
            Value::Object(m) => m.values_mut().nth(i).expect("in range"),
            Value::Array(a) => &mut a[i],
            _ => unreachable!("only containers have children"),
        };
    }
    *node = random_value(rng, 0);
}

fn random_value(rng: &mut SplitMix, depth: usize) -> Value {
    match rng.below(if depth > 6 { 6 } else { 9 }) {
        0 => Value::Null,
        1 => json!(rng.below(2) == 1),
        2 => json!(rng.next() as i64),
        3 => json!(f64::from_bits(rng.next()).is_finite().then_some(1.5e300)),
        4 => json!(TOKENS[rng.below(TOKENS.len())]),
        5 => json!("a".repeat(rng.below(5_000))),
        6 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        7 => {
            let keys = [
                "Statement",
                "Effect",
                "Action",
                "Principal",
                "AWS",
                "eventID",
                "x",
            ];
            Value::Object(
                (0..rng.below(4))
                    .map(|_| {
                        (
                            keys[rng.below(keys.len())].to_owned(),
                            random_value(rng, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
        _ => {
            // A nested document as a string, as CloudTrail carries policies.
            json!(random_value(rng, depth + 1).to_string())
        }
    }
}

/// A small, fast, seedable generator (splitmix64), so core needs no random-number crate.
#[derive(Debug, Clone)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_target_is_reported_with_its_seed() {
        let corpus = vec![b"{}".to_vec()];
        let r = fuzz(
            "boom",
            &corpus,
            &|b| assert!(b.len() < 3, "long input"),
            200,
            7,
        );
        assert_eq!(r.execs, 200);
        assert!(!r.crashes.is_empty());
        assert!(
            r.crashes
                .iter()
                .all(|c| c.seed == 7 && c.message == "long input")
        );
    }

    #[test]
    fn mutations_are_varied_and_bounded() {
        let corpus = record_corpus();
        let mut rng = SplitMix(1);
        let mut distinct = std::collections::HashSet::new();
        for _ in 0..500 {
            let m = mutate(&corpus[rng.below(corpus.len())], &mut rng);
            assert!(m.len() <= MAX_INPUT);
            distinct.insert(m);
        }
        assert!(distinct.len() > 450, "{}", distinct.len());
    }
}
