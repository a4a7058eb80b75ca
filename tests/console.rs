//! `iat serve` in a real browser: headless Chromium loads the console over the demo's
//! organisation, follows an alert to its page and to the actor's timeline, searches events with
//! a filter, is refused without the token, cannot acknowledge an alert from another site's form,
//! and logs nothing to its console (a script error or a blocked style would show there).
//! Screenshots are kept in `target/console-screenshots`. Then, driven over the DevTools
//! protocol as a person would use it: choosing a filter and pressing its button, clicking an
//! alert, typing a name and a note and pressing Acknowledge, clicking through to the timeline
//! (mouse events at each element's centre, text typed as keystrokes would insert it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use clap::Parser;
use iat_cli::cmd::serve::Server;
use iat_e2e::iat;

const TOKEN: &str = "e2e-console-token-0123456789";

/// Chromium headless, with nothing of its own (extensions, first-run pages) in the way.
const HEADLESS: [&str; 5] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-extensions",
];

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
            .args(HEADLESS)
            .args(["--enable-logging=stderr", "--v=0"])
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

/// Chromium driven over the DevTools protocol, one page; every console message, log entry of
/// level warning or error, and uncaught exception is kept in `problems`.
struct Driven {
    child: Child,
    ws: WebSocket<TcpStream>,
    id: u64,
    problems: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Drop for Driven {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over a new connection, its body (by its length: DevTools keeps the connection open).
fn http_get(host: &str, path: &str) -> String {
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut length = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    String::from_utf8(body).unwrap()
}

impl Driven {
    fn start(bin: &Path) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(bin)
            .args(HEADLESS)
            .args(["--remote-debugging-port=0", "--window-size=1280,1000"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("Chromium starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let browser = loop {
            let line = lines
                .next()
                .expect("Chromium printed its DevTools address")
                .unwrap();
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                break url.trim().to_owned();
            }
        };
        // Chromium must never block on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let host = browser
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .unwrap()
            .to_owned();
        let targets: Value = serde_json::from_str(&http_get(&host, "/json/list")).unwrap();
        let page = targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("the page Chromium opened")
            .to_owned();
        let stream = TcpStream::connect(&host).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (ws, _) = tungstenite::client(page.as_str(), stream).unwrap();
        let mut d = Self {
            child,
            ws,
            id: 0,
            problems: Vec::new(),
            _profile: profile,
        };
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            d.call(domain, json!({}));
        }
        d
    }

    /// One DevTools command and its result; events read on the way are noted.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let id = self.id;
        let command = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(command)).unwrap();
        loop {
            let Message::Text(text) = self.ws.read().expect("DevTools answers") else {
                continue;
            };
            let v: Value = serde_json::from_str(text.as_str()).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            match v["method"].as_str() {
                Some("Runtime.exceptionThrown" | "Runtime.consoleAPICalled") => {
                    self.problems.push(v["params"].to_string())
                }
                Some("Log.entryAdded")
                    if matches!(
                        v["params"]["entry"]["level"].as_str(),
                        Some("warning" | "error")
                    ) =>
                {
                    self.problems.push(v["params"]["entry"].to_string())
                }
                _ => {}
            }
        }
    }

    /// An expression's value in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true}),
        );
        assert!(r.get("exceptionDetails").is_none(), "{expression}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `condition` is true in the page (15 s at most).
    fn wait(&mut self, condition: &str) {
        let start = Instant::now();
        while self.eval(condition) != json!(true) {
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "never true: {condition}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `act`, which must lead to a new page, and waits until that page has loaded.
    fn leads_to(&mut self, act: impl FnOnce(&mut Self)) {
        self.eval("window.iatOld = true");
        act(self);
        self.wait("window.iatOld === undefined && document.readyState === 'complete'");
    }

    fn open(&mut self, url: &str) {
        self.leads_to(|d| {
            d.call("Page.navigate", json!({"url": url}));
        });
    }

    /// A left click at the centre of the first element matching `selector`.
    fn click(&mut self, selector: &str) {
        let at = self.eval(&format!(
            "(() => {{ const e = document.querySelector({}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             return [r.x + r.width / 2, r.y + r.height / 2]; }})()",
            json!(selector)
        ));
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            panic!("nothing to click: {selector}");
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Clicks into `selector` and types `text` there.
    fn type_into(&mut self, selector: &str, text: &str) {
        self.click(selector);
        self.call("Input.insertText", json!({"text": text}));
    }

    fn html(&mut self) -> String {
        self.eval("document.documentElement.outerHTML")
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn location(&mut self) -> String {
        self.eval("location.pathname + location.search")
            .as_str()
            .unwrap()
            .to_owned()
    }
}

/// The text after the first `start` in `text`, up to `end` (or the end of the text).
fn between(text: &str, start: &str, end: char) -> Option<String> {
    let rest = text.split_once(start)?.1;
    Some(rest.split(end).next().unwrap_or_default().to_owned())
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
    let id = between(&alert, "name=\"id\" value=\"", '"').expect("the alert's id in its form");
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

    // Driven as a person uses it: the address `iat serve` printed (its token sets a cookie),
    // a filter chosen and its button pressed, an alert clicked, a name and a note typed and
    // Acknowledge pressed, the actor's timeline clicked.
    let mut d = Driven::start(&browser.bin);
    d.open(&url);
    assert!(d.html().contains("<h1>Alerts</h1>"));
    d.click("select[name=severity]");
    d.eval("document.querySelector('select[name=severity]').value = 'critical'");
    d.leads_to(|d| d.click("form[aria-label='Filter alerts'] button[type=submit]"));
    let here = d.location();
    assert!(
        here.starts_with("/alerts?") && here.contains("severity=critical"),
        "{here}"
    );
    let critical = d.html();
    assert!(critical.contains("CloudTrail tampering"), "{critical}");
    assert!(!critical.contains("\"sev sev-medium\""), "{critical}");
    d.open(&format!("{base}/alerts"));
    d.leads_to(|d| d.click("a[href*='rule=root_console_login']"));
    let clicked = d.location();
    assert!(clicked.starts_with("/alert?"), "{clicked}");
    let event = between(&clicked, "event=", '&').expect("the alert's first event in its address");
    d.type_into("input[name=by]", "Dana from security");
    d.type_into("input[name=note]", "the owner signed in to rotate the keys");
    d.leads_to(|d| d.click("form[aria-label='Acknowledge'] button[type=submit]"));
    let acknowledged = d.html();
    assert!(
        acknowledged.contains("Acknowledged by <strong>Dana from security</strong>")
            && acknowledged.contains("the owner signed in to rotate the keys"),
        "{acknowledged}"
    );
    let listed = {
        d.open(&format!("{base}/alerts?open=1"));
        d.html()
    };
    assert!(
        listed.contains("<h1>Alerts</h1>") && !listed.contains(&event),
        "the acknowledged alert ({event}) is still listed as open: {listed}"
    );
    d.open(&alert_url);
    d.leads_to(|d| d.click("a[href^='/timeline?']"));
    assert!(d.location().starts_with("/timeline?"), "{}", d.location());
    assert!(d.html().contains("Timeline of arn:aws:iam::"));
    assert!(
        d.problems.is_empty(),
        "the pages logged to the console: {:#?}",
        d.problems
    );
}
