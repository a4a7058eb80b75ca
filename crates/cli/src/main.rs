//! `iat`: the IAM Activity Tracker's command line. All the work is in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = iat_cli::Cli::parse();
    iat_cli::init_logging(cli.log_level.as_deref());
    let mut out = std::io::stdout().lock();
    match iat_cli::run(cli, &mut out) {
        Ok(code) => code,
        // A closed pipe (`iat events | head`) is the reader's choice, not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", iat_cli::error_line(&e));
            ExitCode::from(2)
        }
    }
}
