//! The generated organisation: accounts, people, roles and networks.

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::OrgConfig;
use crate::ids::{ALNUM, hex, id_like};
pub(crate) use iat_core::DEFAULT_REGIONS;

/// Weekday working hours, local time, `[start, end)`.
pub(crate) const WORK_START: u32 = 8;
pub(crate) const WORK_END: u32 = 18;

/// Where people work from: the office (IPv4 and IPv6). Documentation ranges.
pub(crate) const EXPECTED_NETWORKS: [&str; 2] = ["203.0.113.0/24", "2001:db8:1000::/48"];
/// Where nobody in the organisation works from.
pub(crate) const UNEXPECTED_PREFIX: &str = "198.51.100.";

/// Identity Center's home region.
pub(crate) const SSO_REGION: &str = "eu-west-1";

pub(crate) const SCANNER_PATTERNS: [&str; 2] = ["PrismaCloud*", "Wiz*"];

const ACCOUNT_NAMES: [&str; 8] = [
    "management",
    "security",
    "prod",
    "staging",
    "dev",
    "sandbox",
    "data",
    "network",
];
const PEOPLE: [&str; 12] = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory-ops",
    "oscar",
];

/// An AWS account of the organisation.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub name: String,
    /// IAM users (legacy long-lived users).
    pub users: Vec<User>,
    /// Roles people and automation assume.
    pub roles: Vec<Role>,
    /// Permission-set roles Identity Center provisions here.
    pub sso_roles: Vec<Role>,
    pub scanner_roles: Vec<Role>,
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub principal_id: String,
    pub access_key: String,
}

#[derive(Debug, Clone)]
pub struct Role {
    pub name: String,
    pub path: String,
    pub principal_id: String,
}

/// An Identity Center user.
#[derive(Debug, Clone)]
pub struct SsoUser {
    pub email: String,
    pub user_id: String,
    pub permission_set: &'static str,
}

/// The organisation.
#[derive(Debug, Clone)]
pub struct Org {
    pub id: String,
    pub identity_store: String,
    pub accounts: Vec<Account>,
    pub sso_users: Vec<SsoUser>,
    pub utc_offset_hours: i32,
}

impl Org {
    pub(crate) fn new(rng: &mut ChaCha8Rng, config: &OrgConfig) -> Self {
        let id = format!(
            "o-{}",
            (0..10)
                .map(|_| ALNUM[rng.random_range(26..ALNUM.len())] as char)
                .collect::<String>()
                .to_lowercase()
        );
        let identity_store = format!("d-{}", hex(rng, 10));
        let mut accounts = Vec::new();
        let mut people = PEOPLE.iter().cycle();
        for i in 0..config.accounts {
            let id = format!(
                "{:012}",
                rng.random_range(100_000_000_000u64..999_999_999_999)
            );
            let name = match ACCOUNT_NAMES.get(i) {
                Some(n) => (*n).to_owned(),
                None => format!("workload-{i}"),
            };
            let users = (0..3)
                .map(|_| User {
                    name: (*people.next().unwrap()).to_owned(),
                    principal_id: id_like(rng, "AIDA", 17),
                    access_key: id_like(rng, "AKIA", 16),
                })
                .collect();
            let role = |rng: &mut ChaCha8Rng, name: &str, path: &str| Role {
                name: name.to_owned(),
                path: path.to_owned(),
                principal_id: id_like(rng, "AROA", 17),
            };
            let roles = vec![
                role(rng, "Admin", "/"),
                role(rng, "Developer", "/"),
                role(rng, "ReadOnly", "/"),
                role(rng, "ci-deploy", "/automation/"),
                role(rng, "orders-api-lambda", "/service/"),
            ];
            let suffix = hex(rng, 16);
            let sso_roles = ["AdministratorAccess", "PowerUserAccess", "ReadOnlyAccess"]
                .iter()
                .map(|ps| {
                    role(
                        rng,
                        &format!("AWSReservedSSO_{ps}_{suffix}"),
                        &format!("/aws-reserved/sso.amazonaws.com/{SSO_REGION}/"),
                    )
                })
                .collect();
            let scanner_roles = vec![
                role(rng, "PrismaCloudReadOnlyRole", "/"),
                role(rng, "WizAccess-Role", "/"),
            ];
            accounts.push(Account {
                id,
                name,
                users,
                roles,
                sso_roles,
                scanner_roles,
            });
        }
        let sso_users = [
            ("ana.lima", "AdministratorAccess"),
            ("ben.okafor", "PowerUserAccess"),
            ("chen.wei", "PowerUserAccess"),
            ("dana.kowalski", "ReadOnlyAccess"),
            ("eli.cohen", "PowerUserAccess"),
            ("fatima.zahra", "AdministratorAccess"),
        ]
        .iter()
        .map(|(name, ps)| SsoUser {
            email: format!("{name}@example.com"),
            user_id: format!(
                "{}-{}-{}-{}-{}",
                hex(rng, 8),
                hex(rng, 4),
                hex(rng, 4),
                hex(rng, 4),
                hex(rng, 12)
            ),
            permission_set: ps,
        })
        .collect();
        Org {
            id,
            identity_store,
            accounts,
            sso_users,
            utc_offset_hours: config.utc_offset_hours,
        }
    }

    /// The management account (where Identity Center and the organisation live).
    pub fn management(&self) -> &Account {
        &self.accounts[0]
    }

    /// True when people are at work at `t` (weekday, working hours, local time).
    pub fn working(&self, t: DateTime<Utc>) -> bool {
        let local = t + Duration::hours(i64::from(self.utc_offset_hours));
        let weekday = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
        weekday && (WORK_START..WORK_END).contains(&local.hour())
    }

    /// The UTC instant of `hour:minute` local time on the day starting at `day_start` (UTC).
    pub fn local_time(&self, day_start: DateTime<Utc>, hour: u32, minute: u32) -> DateTime<Utc> {
        let t = day_start
            + Duration::hours(i64::from(hour) - i64::from(self.utc_offset_hours))
            + Duration::minutes(i64::from(minute));
        // Keep it inside the generated day.
        if t < day_start {
            t + Duration::days(1)
        } else if t >= day_start + Duration::days(1) {
            t - Duration::days(1)
        } else {
            t
        }
    }
}
