//! `relais`: one binary for the web server, the workers and the operator's commands.

mod admin;
mod audit;
mod bench;
mod bench_send;
mod demo;
mod setup;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use kernel::config::{Config, LogFormat};

#[derive(Parser)]
#[command(
    name = "relais",
    version,
    about = "Privacy-first CRM, outreach, AI assistance and training for European B2B teams."
)]
#[command(after_help = environment_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the web app and API, and run background workers. Runs pending migrations first.
    Serve,
    /// Run background workers only (for separate worker nodes).
    Worker,
    /// Serve with a seeded demo organization on the embedded database; prints the URL and login.
    Demo,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the data catalog: every table, whose data, why, on what basis, for how long.
    Catalog {
        #[arg(long, value_enum, default_value = "markdown")]
        format: CatalogFormat,
    },
    /// Print the permission matrix (roles × actions) as Markdown.
    Permissions,
    /// Measure performance on a generated data set and write docs/benchmarks.md.
    Bench {
        #[command(subcommand)]
        target: bench::BenchTarget,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Platform super admins (created only here; they manage the instance, never tenant data).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a super admin and print their one-time setup link (valid 30 minutes).
    Create {
        #[arg(long)]
        email: String,
    },
    /// List the super admins.
    List,
    /// Disable a super admin; their sessions end at once.
    Disable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Verify the HMAC chain of every organization (or one), deleted ones included, against its
    /// anchor when there is one; exits non-zero if any is broken.
    Verify {
        #[arg(long)]
        org: Option<uuid::Uuid>,
        /// Anchors to check against (lines printed by `audit anchor`; the latest per organization
        /// counts). Default: RELAIS_DATA_DIR/audit-anchors.txt, if present.
        #[arg(long)]
        anchors: Option<std::path::PathBuf>,
    },
    /// Verify each chain and anchor its head outside the database: written to
    /// RELAIS_DATA_DIR/audit-anchors.txt and printed, one signed line per organization, to keep.
    Anchor {
        #[arg(long)]
        org: Option<uuid::Uuid>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum CatalogFormat {
    Markdown,
    Json,
}

fn environment_help() -> String {
    let mut text = String::from("Environment:\n");
    for (name, help) in kernel::config::VARIABLES {
        text.push_str(&format!("  {name}\n      {help}\n"));
    }
    for setting in web::modules().settings() {
        text.push_str(&format!("  {}\n      {}\n", setting.variable, setting.help));
    }
    text
}

fn init_logs(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Catalog { format } = cli.command {
        let catalog = web::data_catalog();
        match format {
            CatalogFormat::Markdown => print!("{}", kernel::catalog::to_markdown(&catalog)),
            CatalogFormat::Json => match serde_json::to_string_pretty(&catalog) {
                Ok(json) => println!("{json}"),
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            },
        }
        return ExitCode::SUCCESS;
    }
    if let Command::Permissions = cli.command {
        print!("{}", web::permissions_markdown());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_env(&web::modules()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    init_logs(&config);
    let result = match cli.command {
        Command::Serve => setup::serve(config, setup::Mode::Serve).await,
        Command::Worker => setup::serve(config, setup::Mode::WorkerOnly).await,
        Command::Demo => demo::run_demo(config).await,
        Command::Migrate => setup::migrate_only(config).await,
        Command::Bench { target } => bench::run(config, target).await,
        Command::Audit { command: AuditCommand::Verify { org, anchors } } => audit::verify(config, org, anchors).await,
        Command::Audit { command: AuditCommand::Anchor { org } } => audit::anchor(config, org).await,
        Command::Admin { command: AdminCommand::Create { email } } => admin::create(config, &email).await,
        Command::Admin { command: AdminCommand::List } => admin::list(config).await,
        Command::Admin { command: AdminCommand::Disable { email } } => admin::disable(config, &email).await,
        Command::Catalog { .. } | Command::Permissions => Ok(ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
