//! Starting and stopping: database (embedded or external), migrations, state, server, workers.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use kernel::Db;
use kernel::clock::Clock;
use kernel::config::{Config, DatabaseConfig};
use kernel::db::embedded::{APP_ROLE, Durability, EmbeddedPostgres, OWNER_ROLE};
use kernel::jobs::Worker;
use kernel::keys::MasterKey;
use kernel::mail::Mailer;
use kernel::vault::Vault;
use secrecy::ExposeSecret;
use sqlx::postgres::PgConnectOptions;

pub const EMBEDDED_DATABASE: &str = "relais";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    Apply,
    /// Read-only commands (`audit verify`, `audit anchor`) must not change the schema.
    Leave,
}

/// The database, and the embedded cluster to stop on exit when there is one.
pub struct Database {
    pub db: Db,
    pub embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Opens the database; with `Migrations::Apply`, brings the schema up to date first.
    pub async fn open(config: &Config, migrations: Migrations) -> anyhow::Result<Self> {
        let (db, embedded) = match &config.database {
            DatabaseConfig::Embedded => {
                let cluster = EmbeddedPostgres::new(&config.data_dir, Durability::Full)?;
                let starter = cluster.clone();
                tokio::task::spawn_blocking(move || starter.ensure_running()).await??;
                cluster.bootstrap(EMBEDDED_DATABASE).await?;
                tracing::info!(socket = %cluster.socket_dir().display(), "embedded PostgreSQL running");
                let db = Db::connect(
                    cluster.connect_options(OWNER_ROLE, EMBEDDED_DATABASE),
                    cluster.connect_options(APP_ROLE, EMBEDDED_DATABASE),
                )
                .await
                .context("connecting to the embedded PostgreSQL")?;
                (db, Some(cluster))
            }
            DatabaseConfig::External { owner_url, app_url } => {
                let owner: PgConnectOptions = owner_url.expose_secret().parse().context("DATABASE_URL")?;
                let app: PgConnectOptions = app_url.expose_secret().parse().context("RELAIS_APP_DATABASE_URL")?;
                (Db::connect(owner, app).await.context("connecting to DATABASE_URL / RELAIS_APP_DATABASE_URL")?, None)
            }
        };
        if migrations == Migrations::Apply {
            db.migrate().await.context("applying migrations")?;
        }
        Ok(Self { db, embedded })
    }

    pub async fn close(self) {
        self.db.close().await;
        if let Some(cluster) = self.embedded
            && let Err(error) = tokio::task::spawn_blocking(move || cluster.stop()).await
        {
            tracing::error!(%error, "stopping the embedded PostgreSQL");
        }
    }
}

/// How long the watchers have to end at shutdown, counted once the worker has stopped (both were
/// told at once; an IMAP IDLE connection's DONE and LOGOUT are given 10 s) before they are aborted.
const WATCHERS_GRACE: std::time::Duration = std::time::Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Serve,
    WorkerOnly,
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

pub async fn serve(config: Config, mode: Mode) -> anyhow::Result<ExitCode> {
    let master = config.require_master_key()?;
    let database = Database::open(&config, Migrations::Apply).await?;
    let outcome = run(config, master, &database, mode, None).await;
    database.close().await;
    outcome.map(|()| ExitCode::SUCCESS)
}

/// Serves until a shutdown signal. `banner` is printed once the port is bound.
pub async fn run(
    config: Config,
    master: Arc<MasterKey>,
    database: &Database,
    mode: Mode,
    banner: Option<String>,
) -> anyhow::Result<()> {
    let clock = Clock::system();
    let mailer = Mailer::from_config(&config)?;
    if !mailer.is_configured() {
        tracing::warn!(
            "RELAIS_SMTP_URL is not set: password-reset, invitation and sign-up mails cannot be sent (their jobs fail, and sign-up answers 503, until it is)"
        );
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let config = Arc::new(config);
    // The worker's handlers publish domain events too: it uses the state's database handle.
    let state = web::state(config.clone(), database.db.clone(), clock.clone(), master.clone());
    let vault = Vault::new(master);
    let watchers = web::watchers(&config, state.db.clone(), mailer.clone(), vault.clone(), state.audit.clone(), &clock);
    let jobs = web::job_registry(&config, state.db.clone(), mailer, vault, state.audit.clone());
    // The audit chains' heads, anchored outside the database before serving and then
    // periodically (docs/operations.md, "Audit log").
    let anchoring = state.audit.clone();
    crate::audit::anchor_and_log(&anchoring, &state.db, &config.data_dir).await;
    tokio::spawn(crate::audit::anchor_periodically(
        anchoring,
        state.db.clone(),
        config.data_dir.clone(),
        config.audit_anchor_every,
        stop_rx.clone(),
    ));
    let worker = Worker::new(state.db.clone(), clock, jobs);
    let mut worker_stop = stop_rx.clone();
    let worker_task = tokio::spawn(worker.run(async move {
        let _ = worker_stop.wait_for(|stop| *stop).await;
    }));
    // The modules' long-running watchers (IMAP IDLE) run where the worker does: what they notice
    // becomes a job for it.
    let watching = kernel::watchers::start(watchers, &kernel::watchers::Shutdown::new(stop_rx.clone()));

    if mode == Mode::Serve {
        let app = web::app(state);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("RELAIS_LISTEN: cannot listen on {}", config.listen))?;
        tracing::info!(listen = %config.listen, public_url = config.public_url.origin(), "serving");
        if let Some(address) = config.metrics_listen {
            let metrics = tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("RELAIS_METRICS_LISTEN: cannot listen on {address}"))?;
            tracing::info!(listen = %address, "serving /metrics");
            let mut metrics_stop = stop_rx.clone();
            tokio::spawn(async move {
                let stopped = async move {
                    let _ = metrics_stop.wait_for(|stop| *stop).await;
                };
                if let Err(error) = axum::serve(metrics, web::metrics::router()).with_graceful_shutdown(stopped).await {
                    tracing::error!(%error, "the metrics listener stopped");
                }
            });
        }
        if let Some(banner) = banner {
            println!("{banner}");
        }
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(shutdown_signal())
            .await?;
    } else {
        shutdown_signal().await;
    }
    let _ = stop_tx.send(true);
    let _ = worker_task.await;
    watching.stop(WATCHERS_GRACE).await;
    Ok(())
}

pub async fn migrate_only(config: Config) -> anyhow::Result<ExitCode> {
    let database = Database::open(&config, Migrations::Apply).await?;
    println!("migrations applied");
    database.close().await;
    Ok(ExitCode::SUCCESS)
}
