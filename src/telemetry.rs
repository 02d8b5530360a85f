//! Structured logs. Spans in Homeward skip their arguments (`#[instrument(skip_all)]`) and
//! requests are logged by method, matched route and request id only, never by full URI or
//! body, so patient identifiers do not reach the logs.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

pub fn init(json: bool) {
    let filter = EnvFilter::try_from_env("HOMEWARD_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        // colour codes only for a person at a terminal, never in files or collectors
        .with_ansi(std::io::stdout().is_terminal());
    if json {
        let _ = builder.json().flatten_event(true).try_init();
    } else {
        let _ = builder.try_init();
    }
}
