//! `relais admin …`: the platform super admins, managed only from here (identity's
//! `platform_admin` module holds the logic; no HTTP route creates an admin).

use std::process::ExitCode;

use kernel::clock::Clock;
use kernel::config::Config;
use kernel::vault::Vault;
use secrecy::ExposeSecret;

use crate::setup::{Database, Migrations};

/// `relais admin create --email`: prints the one-time setup link (to stdout only, never the logs).
pub async fn create(config: Config, email: &str) -> anyhow::Result<ExitCode> {
    let master = config.require_master_key()?;
    let database = Database::open(&config, Migrations::Apply).await?;
    let created = identity::platform_admin::create_admin(
        &database.db,
        &Vault::new(master),
        config.public_url.origin(),
        email,
        Clock::system().now(),
    )
    .await;
    database.close().await;
    let created = created?;
    println!("super admin {} created (pending setup)", created.admin_id);
    println!("one-time setup link, valid until {} UTC:", created.expires_at);
    println!("{}", created.setup_url.expose_secret());
    Ok(ExitCode::SUCCESS)
}

/// `relais admin list`.
pub async fn list(config: Config) -> anyhow::Result<ExitCode> {
    let database = Database::open(&config, Migrations::Apply).await?;
    let admins = identity::platform_admin::list_admins(&database.db).await;
    database.close().await;
    for admin in admins? {
        let last = admin.last_login_at.map(|t| t.to_string()).unwrap_or_else(|| "never".into());
        println!(
            "{}\t{}\t{}\tcreated {}\tlast login {}",
            admin.admin_id, admin.email, admin.status, admin.created_at, last
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `relais admin disable --email`: ends their sessions at once.
pub async fn disable(config: Config, email: &str) -> anyhow::Result<ExitCode> {
    let database = Database::open(&config, Migrations::Apply).await?;
    let done = identity::platform_admin::disable_admin(&database.db, email, Clock::system().now()).await;
    database.close().await;
    if done? {
        println!("super admin disabled; their sessions ended");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: no super admin with this email");
        Ok(ExitCode::FAILURE)
    }
}
