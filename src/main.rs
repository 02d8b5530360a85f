//! The `homeward` command: `serve` runs the hub, `user create` adds an account.

use anyhow::Context;
use clap::{Parser, Subcommand};
use homeward::config::{Config, DEFAULT_DATABASE_URL};
use homeward::domain::Role;
use homeward::domain::time::Clock;
use homeward::state::AppState;
use std::io::Read;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "homeward",
    version,
    about = "Homeward: discharge coordination hub for the NHS"
)]
struct Cli {
    /// PostgreSQL connection URL (its value is never printed: it may hold a password).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        hide_default_value = true,
        global = true
    )]
    database_url: String,
    /// The role the server's connections use (reads and writes rows; owns nothing; may only
    /// add to the audit). Default: DATABASE_URL's server and database as user homeward_app,
    /// which the owner (DATABASE_URL's user) creates if missing.
    #[arg(
        long,
        env = "HOMEWARD_APP_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    app_database_url: Option<String>,
    /// Most connections this process opens to PostgreSQL.
    #[arg(long, env = "HOMEWARD_DB_POOL_SIZE", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    db_pool_size: u32,
    /// HOMEWARD_APP_DATABASE_URL leads to a transaction pooler (PgBouncer, pool_mode =
    /// transaction): no session settings are sent, and the hubs' wall travels in the
    /// application name. Serving then needs --listen-database-url.
    #[arg(long, env = "HOMEWARD_TRANSACTION_POOLER", global = true)]
    transaction_pooler: bool,
    /// Seconds to keep trying PostgreSQL at start (it may still be starting) before giving up.
    #[arg(
        long,
        env = "HOMEWARD_DB_WAIT_SECONDS",
        default_value_t = 30,
        global = true
    )]
    db_wait_seconds: u64,
    /// Write logs as JSON lines.
    #[arg(long, env = "HOMEWARD_LOG_JSON", global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

// parsed once at start: a large variant costs nothing worth boxing for
#[allow(clippy::large_enum_variant)]
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
        /// Also listen for the hospital feed (HL7 v2 ADT over MLLP) on this address.
        #[arg(long, env = "HOMEWARD_HL7_ADDR")]
        hl7_addr: Option<std::net::SocketAddr>,
        /// Minutes a page session may be idle before it ends (activity extends it).
        #[arg(long, env = "HOMEWARD_SESSION_IDLE_MINUTES", default_value_t = 30)]
        session_idle_minutes: i64,
        /// Hours a page session may last from sign-in, however busy.
        #[arg(long, env = "HOMEWARD_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
        session_absolute_hours: i64,
        /// Hours an API token lives.
        #[arg(long, env = "HOMEWARD_TOKEN_HOURS", default_value_t = 12)]
        token_hours: i64,
        /// Roles that must set up an authenticator app (comma-separated, or "none").
        #[arg(long, env = "HOMEWARD_MFA_ROLES", default_value = "admin,hub")]
        mfa_roles: String,
        /// A header your reverse proxy sets to the client's address (such as
        /// X-Forwarded-For; the last address in it is used). Without it, the peer address.
        #[arg(long, env = "HOMEWARD_CLIENT_IP_HEADER")]
        client_ip_header: Option<axum::http::HeaderName>,
        /// Single sign-on: the OpenID Connect issuer URL (NHS CIS2 or another provider).
        #[arg(long, env = "HOMEWARD_OIDC_ISSUER", requires_all = ["oidc_client_id", "oidc_client_secret", "oidc_redirect_url"])]
        oidc_issuer: Option<String>,
        /// Single sign-on: Homeward's client id at the provider.
        #[arg(long, env = "HOMEWARD_OIDC_CLIENT_ID")]
        oidc_client_id: Option<String>,
        /// Single sign-on: Homeward's client secret (never printed).
        #[arg(long, env = "HOMEWARD_OIDC_CLIENT_SECRET", hide_env_values = true)]
        oidc_client_secret: Option<String>,
        /// Single sign-on: Homeward's callback as registered, https://HOST/login/sso/callback.
        #[arg(long, env = "HOMEWARD_OIDC_REDIRECT_URL")]
        oidc_redirect_url: Option<String>,
        /// Single sign-on: the provider's name on the sign-in button.
        #[arg(
            long,
            env = "HOMEWARD_OIDC_LABEL",
            default_value = "NHS Care Identity Service 2"
        )]
        oidc_label: String,
        /// Single sign-on: scopes to ask for besides openid (space-separated).
        #[arg(long, env = "HOMEWARD_OIDC_SCOPES", default_value = "")]
        oidc_scopes: String,
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
        /// Hours a provider's acceptance holds a place so the patient can choose between
        /// several (the hub then books one); 0 books the first acceptance at once.
        #[arg(long, env = "HOMEWARD_ACCEPTANCE_HOLD_HOURS", default_value_t = 0)]
        acceptance_hold_hours: i64,
        /// Seconds a request may take from its first byte to its answer (not the event
        /// stream); also the database statement timeout. Past it: 503 with Retry-After.
        #[arg(long, env = "HOMEWARD_REQUEST_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
        request_timeout_seconds: u64,
        /// Seconds a connection has to send a complete request head.
        #[arg(long, env = "HOMEWARD_HEADER_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
        header_timeout_seconds: u64,
        /// Seconds an idle kept-alive connection (or one whose client stopped reading) stays open.
        #[arg(long, env = "HOMEWARD_IDLE_TIMEOUT_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
        idle_timeout_seconds: u64,
        /// Requests worked on at once; more are answered 503 with Retry-After at once.
        #[arg(long, env = "HOMEWARD_MAX_CONCURRENT_REQUESTS", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        max_concurrent_requests: u32,
        /// Open connections at most; more are answered 503 and closed. Default: from the
        /// open-files limit (which the server raises to its hard limit), at most 10,000.
        #[arg(long, env = "HOMEWARD_MAX_CONNECTIONS", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        max_connections: Option<u64>,
        /// Seconds to finish in-flight requests after SIGTERM before exiting anyway.
        #[arg(long, env = "HOMEWARD_SHUTDOWN_GRACE_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
        shutdown_grace_seconds: u64,
        /// Send Strict-Transport-Security with this max-age (seconds); only behind TLS.
        #[arg(long, env = "HOMEWARD_HSTS_MAX_AGE")]
        hsts_max_age: Option<u64>,
        /// Days the hospital feed's messages are kept once dealt with (refusals waiting for
        /// an admin are kept until replayed).
        #[arg(long, env = "HOMEWARD_HL7_KEEP_DAYS", default_value_t = 90, value_parser = clap::value_parser!(u64).range(1..=3650))]
        hl7_keep_days: u64,
        /// A streaming replica for reports and exports (its server and database; the user is
        /// the application role's). Reads fall back to the primary while it lags.
        #[arg(long, env = "HOMEWARD_READ_DATABASE_URL", hide_env_values = true)]
        read_database_url: Option<String>,
        /// Seconds the read replica may lag behind the primary before reports read from the
        /// primary instead.
        #[arg(long, env = "HOMEWARD_REPLICA_MAX_LAG_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
        replica_max_lag_seconds: u64,
        /// The database servers (HOST:PORT,HOST:PORT) that may become the primary: when the
        /// primary stops, Homeward connects to whichever of them has been promoted.
        #[arg(long, env = "HOMEWARD_DATABASE_HOSTS")]
        database_hosts: Option<String>,
        /// A direct connection to PostgreSQL as the application role (not through a pooler)
        /// for live events (LISTEN) and start-up locks; required with --transaction-pooler.
        #[arg(long, env = "HOMEWARD_LISTEN_DATABASE_URL", hide_env_values = true)]
        listen_database_url: Option<String>,
        /// Never connect as the owner: the database must be prepared by `homeward migrate`,
        /// and HOMEWARD_APP_DATABASE_URL names the only role this process can use.
        #[arg(long, env = "HOMEWARD_NO_MIGRATE")]
        no_migrate: bool,
        /// Tests only (debug builds): a fixed "now" for this process, so a server a test
        /// starts shares the test's clock.
        #[cfg(debug_assertions)]
        #[arg(long, env = "HOMEWARD_TEST_CLOCK", hide = true)]
        test_clock: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Prepare the database as its owner (DATABASE_URL): create it if missing, apply the
    /// migrations, create and grant the application role; then exit.
    Migrate,
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// The hospital feed (HL7 v2 ADT).
    Hl7 {
        #[command(subcommand)]
        command: Hl7Command,
    },
}

#[derive(Subcommand)]
enum Hl7Command {
    /// Apply a day's message log, in file order, as if it came over the MLLP port; prints
    /// each message's outcome and a summary (exit status 1 if any was refused or rejected).
    /// The file holds MLLP frames (0x0B ... 0x1C 0x0D), or text where each message starts
    /// at a line beginning MSH or after a blank line.
    Replay {
        /// The message log to apply.
        file: std::path::PathBuf,
        /// Tests only (debug builds): a fixed "now".
        #[cfg(debug_assertions)]
        #[arg(long, env = "HOMEWARD_TEST_CLOCK", hide = true)]
        test_clock: Option<chrono::DateTime<chrono::Utc>>,
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
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    homeward::telemetry::init(cli.log_json);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // one line naming the cause, never a backtrace
            eprintln!("homeward: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let statement_timeout = match &cli.command {
        Command::Serve {
            request_timeout_seconds,
            ..
        } => Some(std::time::Duration::from_secs(*request_timeout_seconds)),
        Command::User { .. } | Command::Migrate | Command::Hl7 { .. } => None,
    };
    let as_owner = !matches!(
        cli.command,
        Command::Serve {
            no_migrate: true,
            ..
        }
    );
    let db = homeward::db::DbOptions {
        pool_size: cli.db_pool_size,
        wait: std::time::Duration::from_secs(cli.db_wait_seconds),
        app_url: cli.app_database_url.clone(),
        statement_timeout,
        as_owner,
        transaction_pooler: cli.transaction_pooler,
    };
    if let Command::Serve {
        listen_database_url: None,
        ..
    } = cli.command
        && cli.transaction_pooler
    {
        anyhow::bail!(
            "--transaction-pooler needs --listen-database-url (HOMEWARD_LISTEN_DATABASE_URL): a direct connection for live events, which a transaction pooler cannot carry"
        );
    }
    if let Command::Migrate = cli.command {
        let role = homeward::db::migrate(&cli.database_url, &db).await?;
        println!("the database is migrated; the application role {role} is granted");
        return Ok(());
    }
    let pool = homeward::db::connect(&cli.database_url, &db).await?;
    match cli.command {
        Command::Serve {
            addr,
            demo,
            hl7_addr,
            session_idle_minutes,
            session_absolute_hours,
            token_hours,
            mfa_roles,
            client_ip_header,
            oidc_issuer,
            oidc_client_id,
            oidc_client_secret,
            oidc_redirect_url,
            oidc_label,
            oidc_scopes,
            secure_cookies,
            static_dir,
            offer_stale_hours,
            choice_deadline_days,
            acceptance_hold_hours,
            request_timeout_seconds,
            header_timeout_seconds,
            idle_timeout_seconds,
            max_concurrent_requests,
            max_connections,
            shutdown_grace_seconds,
            hsts_max_age,
            hl7_keep_days,
            read_database_url,
            replica_max_lag_seconds,
            database_hosts,
            listen_database_url,
            no_migrate: _,
            #[cfg(debug_assertions)]
            test_clock,
        } => {
            let oidc = match oidc_issuer {
                Some(issuer) => {
                    let oidc = homeward::config::OidcConfig {
                        issuer,
                        client_id: oidc_client_id.unwrap_or_default(),
                        client_secret: homeward::config::Secret(
                            oidc_client_secret.unwrap_or_default(),
                        ),
                        redirect_url: oidc_redirect_url.unwrap_or_default(),
                        label: oidc_label,
                        scopes: oidc_scopes.split_whitespace().map(str::to_string).collect(),
                    };
                    homeward::accounts::sso::check_config(&oidc)?;
                    Some(oidc)
                }
                None => None,
            };
            let mut config = Config {
                session_idle: chrono::Duration::minutes(session_idle_minutes.max(1)),
                session_absolute: chrono::Duration::hours(session_absolute_hours.max(1)),
                token_lifetime: chrono::Duration::hours(token_hours.max(1)),
                mfa_roles: homeward::config::parse_roles(&mfa_roles).map_err(anyhow::Error::msg)?,
                client_ip_header,
                oidc,
                secure_cookies,
                offer_stale_after: chrono::Duration::hours(offer_stale_hours.max(1)),
                choice_deadline: chrono::Duration::days(choice_deadline_days.clamp(1, 90)),
                acceptance_hold: chrono::Duration::hours(acceptance_hold_hours.clamp(0, 24 * 14)),
                request_timeout: Duration::from_secs(request_timeout_seconds),
                max_concurrent_requests,
                hsts_max_age: hsts_max_age.filter(|&age| age > 0),
                hl7_keep: chrono::Duration::days(hl7_keep_days as i64),
                ..Config::default()
            };
            let open_files = homeward::server::raise_open_files_limit();
            let server = homeward::server::ServerOptions {
                header_timeout: Duration::from_secs(header_timeout_seconds),
                idle_timeout: Duration::from_secs(idle_timeout_seconds),
                max_connections: max_connections.map_or_else(
                    || homeward::server::default_max_connections(open_files),
                    |n| n as usize,
                ),
                shutdown_grace: Duration::from_secs(shutdown_grace_seconds),
            };
            if let Some(limit) = open_files
                && server.max_connections as u64 + 64 > limit
            {
                tracing::warn!(
                    open_files = limit,
                    max_connections = server.max_connections,
                    "the connection cap is close to the open-files limit: new connections may fail to be accepted"
                );
            }
            if let Some(dir) = static_dir {
                config.static_dir = dir;
            } else if !config.static_dir.exists() {
                config.static_dir = std::path::PathBuf::from("static");
            }
            let clock = Clock::system();
            #[cfg(debug_assertions)]
            let clock = match test_clock {
                Some(at) => {
                    tracing::warn!(%at, "the clock is fixed (HOMEWARD_TEST_CLOCK): for tests only");
                    Clock::fixed(at)
                }
                None => clock,
            };
            let system = homeward::db::connect_system(&pool, &db);
            if let Some(hosts) = database_hosts {
                let hosts = homeward::db::failover::parse_hosts(&hosts)
                    .map_err(|e| anyhow::anyhow!("--database-hosts: {e}"))?;
                homeward::db::failover::watch(pool.clone(), vec![system.clone()], hosts);
            }
            let mut state = match listen_database_url {
                Some(url) => {
                    let direct = homeward::db::connect_direct(&url, &db)?;
                    AppState::with_direct(pool, direct, clock, config)
                }
                None => AppState::new(pool, clock, config),
            }
            .with_system(system);
            if let Some(url) = read_database_url {
                let replica = homeward::db::connect_replica(&url, &db)?;
                state = state.with_replica(replica, Duration::from_secs(replica_max_lag_seconds));
            }
            if demo {
                homeward::demo::load(&state).await?;
            }
            if let Some(hl7_addr) = hl7_addr {
                let listener = tokio::net::TcpListener::bind(hl7_addr)
                    .await
                    .with_context(|| format!("listening for the hospital feed on {hl7_addr}"))?;
                tracing::info!(addr = %listener.local_addr()?, "the hospital feed (HL7 MLLP) is listening");
                tokio::spawn(homeward::hl7::mllp::serve(listener, state.clone()));
            }
            homeward::serve(state, addr, server).await?;
            Ok(())
        }
        Command::Migrate => Ok(()),
        Command::Hl7 {
            command:
                Hl7Command::Replay {
                    file,
                    #[cfg(debug_assertions)]
                    test_clock,
                },
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let clock = Clock::system();
            #[cfg(debug_assertions)]
            let clock = test_clock.map_or(clock, Clock::fixed);
            let state = AppState::offline(pool, clock, Config::default());
            let summary = homeward::hl7::feed::replay_log(&state, &bytes).await;
            use homeward::hl7::feed::Outcome;
            for h in &summary.handled {
                println!(
                    "{}\t{}\t{}\t{}",
                    h.control_id,
                    h.event,
                    h.outcome.as_str(),
                    h.reason
                );
            }
            println!(
                "{} messages: {} applied, {} already applied, {} ignored, {} refused, {} rejected, {} not stored (database unavailable)",
                summary.handled.len(),
                summary.count(Outcome::Applied),
                summary.count(Outcome::Duplicate),
                summary.count(Outcome::Ignored),
                summary.count(Outcome::Refused),
                summary.count(Outcome::Rejected),
                summary.count(Outcome::Unavailable),
            );
            for what in &summary.unreadable {
                println!("not read: {what}");
            }
            if summary.handled.is_empty() {
                println!("no messages found in {}", file.display());
            }
            let failed = summary.count(Outcome::Refused)
                + summary.count(Outcome::Rejected)
                + summary.count(Outcome::Unavailable)
                + summary.unreadable.len();
            if failed > 0 || summary.handled.is_empty() {
                std::process::exit(1);
            }
            Ok(())
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
            match homeward::accounts::users::create(&pool, None, new).await {
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
