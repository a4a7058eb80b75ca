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
