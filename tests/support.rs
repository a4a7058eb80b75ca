//! Helpers for the end-to-end tests: run `iat` in-process exactly as its binary would.

use clap::Parser;

/// The result of one `iat` invocation.
#[derive(Debug)]
pub struct Run {
    pub code: std::process::ExitCode,
    pub stdout: String,
}

/// Runs `iat ARGS...` and returns its exit code and standard output.
pub fn iat<I, S>(args: I) -> Result<Run, String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    let argv: Vec<String> = std::iter::once("iat".to_owned())
        .chain(args.into_iter().map(Into::into))
        .collect();
    let cli = iat_cli::Cli::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let code = iat_cli::run(cli, &mut out).map_err(|e| iat_cli::error_line(&e))?;
    Ok(Run {
        code,
        stdout: String::from_utf8(out).expect("iat prints UTF-8"),
    })
}

/// One HTTP/1.1 exchange with a local server at `addr` (`host:port`): the status and the body.
/// `headers` are extra request lines (`Origin: ...`); a `body` is sent as a form.
pub fn http(addr: &str, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).expect("the server answers");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("request sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer read");
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}
