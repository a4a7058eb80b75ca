//! The `iat` binary as a user runs it: help, exit codes, environment variables.

use std::process::Command;

fn iat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_iat"));
    c.env_remove("IAT_DB")
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
        .env("IAT_DB", &db)
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
    assert!(db.exists(), "IAT_DB chooses the database");
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

/// A region the account does not have is refused in one line that names it, before any
/// collection starts. (AWS itself is moto here, through the SDK's `AWS_ENDPOINT_URL`.)
#[cfg(feature = "aws")]
#[test]
#[ignore = "needs moto: run `make test`"]
fn an_unknown_region_is_one_line_naming_it() {
    let moto = iat_sim::emulators::moto_endpoint();
    let home = tempfile::tempdir().unwrap();
    let out = iat()
        .env("AWS_ENDPOINT_URL", moto)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("IAT_DB", home.path().join("iat.db"))
        .args(["collect", "--region", "us-east-1,eu-west-9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("--region") && err.contains("eu-west-9") && err.contains("not a region"),
        "{err}"
    );
}
