//! The `homeward` command: `serve` runs the hub, `user create` adds an account.

use anyhow::Context;
use clap::{Parser, Subcommand};
use homeward::config::{Config, DEFAULT_DATABASE_URL};
use homeward::domain::Role;
use homeward::domain::time::Clock;
use homeward::state::AppState;
use std::io::Read;

#[derive(Parser)]
#[command(
    name = "homeward",
    version,
    about = "Homeward: discharge coordination hub for the NHS"
)]
struct Cli {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    database_url: String,
    /// Write logs as JSON lines.
    #[arg(long, env = "HOMEWARD_LOG_JSON", global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the web server (creates the database and applies migrations first).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "HOMEWARD_ADDR", default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Load the demo area (idempotent).
        #[arg(long)]
        demo: bool,
        /// Minutes a page session may be idle before it ends.
        #[arg(long, env = "HOMEWARD_SESSION_IDLE_MINUTES", default_value_t = 30)]
        session_idle_minutes: i64,
        /// Send cookies only over HTTPS.
        #[arg(long, env = "HOMEWARD_SECURE_COOKIES")]
        secure_cookies: bool,
        /// Folder holding the static files (NHS design system).
        #[arg(long, env = "HOMEWARD_STATIC_DIR")]
        static_dir: Option<std::path::PathBuf>,
        /// Hours after which an offer not confirmed as still available is marked stale.
        #[arg(long, env = "HOMEWARD_OFFER_STALE_HOURS", default_value_t = 24)]
        offer_stale_hours: i64,
        /// Days a patient is given to choose after the choice letter.
        #[arg(long, env = "HOMEWARD_CHOICE_DEADLINE_DAYS", default_value_t = 7)]
        choice_deadline_days: i64,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        username: String,
        /// ward, hub, provider or admin.
        #[arg(long)]
        role: String,
        /// The ODS-style code of the user's organisation.
        #[arg(long)]
        org: String,
        /// Name shown on pages (defaults to the username).
        #[arg(long, default_value = "")]
        display_name: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    homeward::telemetry::init(cli.log_json);
    let pool = homeward::db::connect(&cli.database_url).await?;
    match cli.command {
        Command::Serve {
            addr,
            demo,
            session_idle_minutes,
            secure_cookies,
            static_dir,
            offer_stale_hours,
            choice_deadline_days,
        } => {
            let mut config = Config {
                session_idle: chrono::Duration::minutes(session_idle_minutes.max(1)),
                secure_cookies,
                offer_stale_after: chrono::Duration::hours(offer_stale_hours.max(1)),
                choice_deadline: chrono::Duration::days(choice_deadline_days.clamp(1, 90)),
                ..Config::default()
            };
            if let Some(dir) = static_dir {
                config.static_dir = dir;
            } else if !config.static_dir.exists() {
                config.static_dir = std::path::PathBuf::from("static");
            }
            let state = AppState::new(pool, Clock::system(), config);
            if demo {
                homeward::demo::load(&state).await?;
            }
            homeward::serve(state, addr).await
        }
        Command::User {
            command:
                UserCommand::Create {
                    username,
                    role,
                    org,
                    display_name,
                },
        } => {
            let role: Role = role
                .parse()
                .map_err(|_| anyhow::anyhow!("role must be one of ward, hub, provider, admin"))?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            let new = homeward::accounts::users::NewUser {
                username: username.clone(),
                display_name,
                role,
                org_code: org,
                password,
            };
            match homeward::accounts::users::create(&pool, new).await {
                Ok(id) => {
                    println!("created user {username} (id {id})");
                    Ok(())
                }
                Err(homeward::error::AppError::Validation(errors)) => {
                    for (field, message) in errors.iter() {
                        eprintln!("{field}: {message}");
                    }
                    std::process::exit(2);
                }
                Err(e) => Err(anyhow::anyhow!("{e}")),
            }
        }
    }
}
