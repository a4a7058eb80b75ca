//! `iat serve` in a real browser: headless Chromium loads the console over the demo's
//! organisation, follows an alert to its page and to the actor's timeline, searches events with
//! a filter, is refused without the token, cannot acknowledge an alert from another site's form,
//! and logs nothing to its console (a script error or a blocked style would show there). Screenshots are kept in `target/console-screenshots`.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use iat_cli::cmd::serve::Server;
use iat_e2e::iat;

const TOKEN: &str = "e2e-console-token-0123456789";

/// Headless Chromium with its own profile.
struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    /// `IAT_CHROMIUM`, else `chromium` or `google-chrome` on the PATH.
    fn find() -> Self {
        let bin = std::env::var_os("IAT_CHROMIUM")
            .map(PathBuf::from)
            .or_else(|| {
                ["chromium", "chromium-browser", "google-chrome"]
                    .iter()
                    .find_map(|name| {
                        std::env::split_paths(&std::env::var_os("PATH")?)
                            .map(|dir| dir.join(name))
                            .find(|p| p.is_file())
                    })
            })
            .expect(
                "no Chromium: `make test` installs it (Debian package chromium); or set IAT_CHROMIUM",
            );
        let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Self {
            bin,
            profile: tempfile::tempdir().unwrap(),
            shots,
        }
    }

    /// Runs Chromium on `url` with `args`; fails on anything the page logged to its console.
    fn run(&self, args: &[&str], url: &str) -> String {
        let out = Command::new(&self.bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-extensions",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(args)
            .arg(url)
            .output()
            .expect("Chromium runs");
        assert!(out.status.success(), "Chromium failed on {url}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
        assert!(
            console.is_empty(),
            "{url} logged to the console: {console:#?}"
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// The page's DOM after it loaded.
    fn dom(&self, url: &str) -> String {
        self.run(&["--dump-dom"], url)
    }

    /// A screenshot of the page at `width`x`height`, kept as `name`.png.
    fn shot(&self, url: &str, name: &str, width: u32, height: u32) {
        let path = self.shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&path);
        self.run(
            &[
                &format!("--screenshot={}", path.display()),
                &format!("--window-size={width},{height}"),
                "--hide-scrollbars",
            ],
            url,
        );
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "{name}.png is {size} bytes: not a rendered page"
        );
    }
}

/// The first link in `dom` whose target starts with `prefix`, unescaped, made absolute with the
/// token.
fn link(base: &str, dom: &str, prefix: &str, containing: &str) -> String {
    let href = dom
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|h| h.replace("&amp;", "&"))
        .find(|h| h.starts_with(prefix) && h.contains(containing))
        .unwrap_or_else(|| panic!("no {prefix} link containing {containing:?} in {dom}"));
    format!("{base}{href}&token={TOKEN}")
}

#[test]
#[ignore = "needs headless Chromium (make test installs it)"]
fn the_console_in_a_browser() {
    let browser = Browser::find();
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let run = iat([
        "demo",
        "--events",
        "3000",
        "--dir",
        &demo.display().to_string(),
        "--no-progress",
        "--day",
        "2026-03-03",
    ])
    .unwrap();
    assert!(
        run.stdout.contains("iat serve") || run.stdout.contains("make serve"),
        "{}",
        run.stdout
    );
    let store = format!("sqlite:{}", demo.join("iat.db").display());
    let cli = iat_cli::Cli::try_parse_from([
        "iat",
        "--store",
        &store,
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--token",
        TOKEN,
    ])
    .unwrap();
    let iat_cli::Command::Serve(args) = cli.command else {
        unreachable!()
    };
    let server = Server::bind(&cli.store, args).unwrap();
    let url = server.url().unwrap();
    assert!(url.ends_with(&format!("/?token={TOKEN}")), "{url}");
    let base = url.trim_end_matches(&format!("/?token={TOKEN}")).to_owned();
    server.spawn().unwrap();

    // Without the token: refused, and nothing of the store shown.
    let refused = browser.dom(&format!("{base}/alerts"));
    assert!(refused.contains("Token required"), "{refused}");
    assert!(!refused.contains("mallory"), "{refused}");

    // The address `iat serve` prints opens on the alerts of the demo's day.
    let alerts = browser.dom(&url);
    assert!(alerts.contains("<h1>Alerts</h1>"), "{alerts}");
    assert!(alerts.contains("CloudTrail tampering"), "{alerts}");
    assert!(alerts.contains("Root user console sign-in"), "{alerts}");
    browser.shot(&url, "alerts", 1280, 1000);
    browser.shot(&url, "alerts-narrow", 420, 900);

    // Filter: critical only.
    let critical = browser.dom(&format!("{base}/alerts?severity=critical&token={TOKEN}"));
    assert!(critical.contains("CloudTrail tampering"));
    assert!(
        !critical.contains("\"sev sev-medium\"") && !critical.contains("\"sev sev-high\""),
        "{critical}"
    );

    // From an alert to its page, then to the actor's timeline.
    let alert_url = link(&base, &alerts, "/alert?", "rule=root_console_login");
    let alert = browser.dom(&alert_url);
    assert!(
        alert.contains("Why it matters") && alert.contains("What to check"),
        "{alert}"
    );
    browser.shot(&alert_url, "alert", 1280, 1000);
    assert!(
        alert.contains("Acknowledge"),
        "the demo's alerts were logged as sent: {alert}"
    );
    // Another site's page that posts the acknowledgement form is refused, in a real browser.
    let id = alert
        .split("name=\"id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the alert's id in its form")
        .to_owned();
    let attack = dir.path().join("attack.html");
    std::fs::write(
        &attack,
        format!(
            "<!DOCTYPE html><form method=\"post\" action=\"{base}/alert/ack?token={TOKEN}\">\
             <input name=\"id\" value=\"{id}\"><input name=\"by\" value=\"mallory\"></form>\
             <script>document.forms[0].submit()</script>"
        ),
    )
    .unwrap();
    let refused = browser.dom(&format!("file://{}", attack.display()));
    assert!(
        refused.contains("cannot acknowledge alerts"),
        "the post was not refused: {refused}"
    );
    let after = browser.dom(&alert_url);
    assert!(
        !after.contains("Acknowledged by"),
        "a cross-site form acknowledged: {after}"
    );
    let timeline_url = link(&base, &alert, "/timeline?", "actor=");
    let timeline = browser.dom(&timeline_url);
    assert!(timeline.contains("Timeline of arn:aws:iam::"), "{timeline}");
    assert!(timeline.contains("signin:ConsoleLogin"), "{timeline}");
    assert!(timeline.contains("<svg"), "the activity chart: {timeline}");
    browser.shot(&timeline_url, "timeline", 1280, 900);

    // Event search with the form's parameters, then the raw record.
    let search = browser.dom(&format!("{base}/events?denied=1&source=s3&token={TOKEN}"));
    assert!(search.contains("denied: "), "{search}");
    assert!(!search.contains("<td>iam:"), "the filter holds: {search}");
    let record = browser.dom(&link(&base, &search, "/event?", "event="));
    assert!(
        record.contains("Record as stored") && record.contains("\"errorCode\""),
        "{record}"
    );

    // Denied calls by layer, and the other pages.
    let denied_url = format!("{base}/denied?token={TOKEN}");
    let denied = browser.dom(&denied_url);
    assert!(denied.contains("service control policy"), "{denied}");
    browser.shot(&denied_url, "denied", 1280, 1300);
    let rules = browser.dom(&format!("{base}/rules?token={TOKEN}"));
    assert!(
        rules.contains("cloudtrail_tampering") && rules.contains("EXPECTED_NETWORKS"),
        "{rules}"
    );
    // The demo reads log files, so there is no collection stream to show.
    let status = browser.dom(&format!("{base}/status?token={TOKEN}"));
    assert!(
        status.contains("Newest stored event: 2026-03-03"),
        "{status}"
    );
    assert!(status.contains("No collection stream yet"), "{status}");
}
