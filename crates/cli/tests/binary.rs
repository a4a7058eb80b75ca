//! The `iat` binary as a user runs it: help, exit codes, environment variables.

use std::process::Command;

fn iat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_iat"));
    c.env_remove("IAT_DB")
        .env_remove("IAT_STORE")
        .env_remove("FILTERED_ROLES")
        .env_remove("IAT_LOG");
    c
}

#[test]
fn help_explains_every_command() {
    let out = iat().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in ["ingest", "events", "status", "demo"] {
        assert!(text.contains(cmd), "{cmd} in --help");
    }
    let out = iat().args(["ingest", "--help"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("FILTERED_ROLES") && text.contains("lookup-events"),
        "{text}"
    );
}

#[test]
fn errors_go_to_stderr_with_a_nonzero_code() {
    let dir = tempfile::tempdir().unwrap();
    let out = iat()
        .args(["events"])
        .env("IAT_DB", dir.path().join("missing.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("error: no database at") && err.contains("missing.db"),
        "{err}"
    );

    let out = iat()
        .args(["ingest", "/no/such/dir", "--no-progress"])
        .env("IAT_DB", dir.path().join("x.db"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("/no/such/dir: ")
    );
    // That run made an empty store: searching it says so, and how to fill it.
    let out = iat()
        .args(["events"])
        .env("IAT_DB", dir.path().join("x.db"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("0 matching events") && err.contains("holds no events; `iat ingest PATH`"),
        "{err}"
    );

    let out = iat()
        .args(["status"])
        .env("IAT_STORE", "postgres://db.example/iat")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("unknown kind \"postgres\"")
            && err.contains("sqlite:PATH or dynamodb:EVENTS,CONTROL[,LEDGER]")
            && err.lines().count() == 1,
        "{err}"
    );

    let out = iat().args(["events", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap usage errors exit 2");
}

#[test]
fn environment_configures_like_the_lambda() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("env.db");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/../core/tests/fixtures");
    let out = iat()
        .args(["ingest", fixtures, "--format", "json"])
        .env("IAT_STORE", format!("sqlite:{}", db.display()))
        .env("FILTERED_ROLES", "Developer")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        s["filtered"]["role_pattern"], 1,
        "the Developer role session is filtered"
    );
    assert_eq!(s["filtered"]["service_linked_role"], 1);
    assert!(db.exists(), "IAT_STORE chooses the database");
}

/// With no credentials anywhere, `iat collect` says so in one line and how to provide them.
#[cfg(feature = "aws")]
#[test]
fn no_credentials_is_one_line_saying_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    for extra in [&[][..], &["--account", "111122223333"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_iat"))
            .env_clear()
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", home.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("IAT_DB", home.path().join("iat.db"))
            .args(["collect", "--region", "us-east-1"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ")
                && err.contains("no AWS credentials found")
                && err.contains("aws sso login"),
            "{err}"
        );
    }
}

/// A region the account does not have, or has not enabled, is refused in one line that names
/// it, before any collection starts. The simulator answers Account Management `ListRegions` as
/// an account with no opt-in region enabled.
#[cfg(feature = "aws")]
#[test]
fn a_region_the_account_lacks_is_one_line_naming_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = iat_sim::lookup::Simulator::new(iat_sim::lookup::SimConfig::default());
    let (addr, _server) = runtime
        .block_on(sim.serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0))))
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    for (regions, why) in [
        ("us-east-1,eu-west-9", "not a region"),
        (
            "af-south-1,us-east-1",
            "opt-in region this account has not enabled",
        ),
    ] {
        let out = iat()
            .env("IAT_DB", home.path().join("iat.db"))
            .args(["collect", "--endpoint", &format!("http://{addr}")])
            .args(["--account", "111122223333", "--region", regions])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{regions}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        let named = regions.split(',').find(|r| *r != "us-east-1").unwrap();
        assert!(err.contains(named) && err.contains(why), "{err}");
    }
    assert_eq!(sim.stats().requests, 0, "no collection started");
}
