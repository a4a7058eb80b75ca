use std::future::Future;

use crate::model::Severity;
use crate::ports::{Notification, Notifier};

/// Runs the `Notifier` case: what is sent is delivered whole, in order. `read_back` returns what
/// the backend delivered (an SQS queue subscribed to a topic, a file, ...), oldest first.
pub async fn notifier_suite<N, R, Fut>(notifier: &N, read_back: R)
where
    N: Notifier,
    R: Fn() -> Fut,
    Fut: Future<Output = Vec<Notification>>,
{
    let long_subject = format!(
        "[CRITICAL] Root console login without MFA in {}",
        "x".repeat(200)
    );
    let sent = vec![
        Notification::new(
            "[HIGH] IAM user created: mallory",
            "Who: alice\nWhat: CreateUser\n",
            Severity::High,
        )
        .unwrap()
        .with_attribute("rule_id", "iam_user_created")
        .with_attribute("account", "111122223333"),
        Notification::new(
            &long_subject,
            "Root signed in.\nCheck: who holds the root password?\n",
            Severity::Critical,
        )
        .unwrap()
        .with_attribute("rule_id", "root_console_login"),
    ];
    for n in &sent {
        notifier.notify(n).await.unwrap();
    }
    let got = read_back().await;
    assert_eq!(
        got.len(),
        sent.len(),
        "notifier: every notification delivered once"
    );
    for (g, s) in got.iter().zip(&sent) {
        assert_eq!(g.subject, s.subject, "notifier: subject");
        assert!(
            g.subject.as_str().chars().count() < 100,
            "notifier: subject under 100 characters"
        );
        assert_eq!(g.body, s.body, "notifier: body");
        assert_eq!(g.severity, s.severity, "notifier: severity");
        for (k, v) in &s.attributes {
            assert_eq!(g.attributes.get(k), Some(v), "notifier: attribute {k}");
        }
    }
}
