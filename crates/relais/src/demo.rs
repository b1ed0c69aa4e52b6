//! `relais demo`: the embedded database, a generated master key kept in the data directory, a
//! seeded demo organization, and the URL and login printed once the server listens.

use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use identity::doors::IdentityDoors;
use identity::signup::{SignupInput, create_organization_unverified};
use kernel::clock::Clock;
use kernel::config::Config;
use kernel::db::Actor;
use kernel::keys::MasterKey;
use kernel::web::AppState;
use secrecy::SecretString;

use crate::setup::{Database, Migrations, Mode, run};

pub const DEMO_EMAIL: &str = "camille.martin@demo.relais.example";
pub const DEMO_PASSWORD: &str = "demo-relais-2026";

/// The master key from the environment, else the one kept in the data directory, else a new one.
fn demo_master_key(config: &Config) -> anyhow::Result<Arc<MasterKey>> {
    if let Some(key) = &config.master_key {
        return Ok(key.clone());
    }
    std::fs::create_dir_all(&config.data_dir)?;
    let path = config.data_dir.join("master.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return Ok(Arc::new(
            MasterKey::parse(&text).with_context(|| format!("{} is not a valid key", path.display()))?,
        ));
    }
    let key = MasterKey::generate_base64();
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    std::io::Write::write_all(&mut file, key.as_bytes())?;
    eprintln!(
        "No RELAIS_MASTER_KEY was set: generated one for this demo in {} (mode 0600).\n\
         Keep it with the data: without it, stored secrets cannot be opened.",
        path.display()
    );
    Ok(Arc::new(MasterKey::parse(&key)?))
}

/// Without `RELAIS_SMTP_URL`, the demo keeps its mail in `<data dir>/outbox`, shown at /dev/outbox
/// (the "Mailpit, local only" of the seeds, built in). The configuration already refused an outbox
/// on a listener that is not loopback; the demo checks the same before choosing one itself.
fn with_demo_outbox(mut config: Config) -> Config {
    if config.smtp_url.is_none() && config.mail_outbox.is_none() && config.listen.ip().is_loopback() {
        config.mail_outbox = Some(config.data_dir.join("outbox"));
    }
    config
}

pub async fn run_demo(config: Config) -> anyhow::Result<ExitCode> {
    let config = with_demo_outbox(Config { demo: true, ..config });
    let master = demo_master_key(&config)?;
    let database = Database::open(&config, Migrations::Apply).await?;
    let state = web::state(Arc::new(config.clone()), database.db.clone(), Clock::system(), master.clone());
    seed(&state).await?;
    let outbox = match &config.mail_outbox {
        Some(dir) => format!(
            "  mail       {} (local outbox, files in {})\n",
            config.public_url.join("/dev/outbox"),
            dir.display()
        ),
        None => String::new(),
    };
    let banner = format!(
        "\nRelais demo is running: {}\n  log in as  {DEMO_EMAIL}\n  password   {DEMO_PASSWORD}\n  (or sign up a new organization: the confirmation link arrives by mail)\n{outbox}Press Ctrl-C to stop.\n",
        config.public_url.origin()
    );
    let outcome = run(config, master, &database, Mode::Serve, Some(banner)).await;
    database.close().await;
    outcome.map(|()| ExitCode::SUCCESS)
}

async fn seed(state: &AppState) -> anyhow::Result<()> {
    if !state.db.login_candidates(DEMO_EMAIL).await?.is_empty() {
        return Ok(());
    }
    let policy = state.db.current_policy_version(state.clock.now()).await?.map(|(v, _)| v).unwrap_or_default();
    // The seed's address is ours, so it needs no confirmation: created directly.
    let account = create_organization_unverified(
        state,
        SignupInput {
            first_name: "Camille".into(),
            last_name: "Martin".into(),
            email: DEMO_EMAIL.into(),
            password: SecretString::from(DEMO_PASSWORD),
            organization_name: "Démo Conseil SAS".into(),
            job_title: "Directrice commerciale".into(),
            adult: true,
            accepted_policy_version: policy,
        },
        kernel::i18n::Lang::Fr,
    )
    .await
    .map_err(|e| anyhow::anyhow!("seeding the demo organization: {e}"))?;

    // Two colleagues so the dashboard shows roles; invitations arrive with the identity issue.
    let hash = bcrypt::hash(DEMO_PASSWORD, identity::model::BCRYPT_COST)?;
    let now = state.clock.now();
    let mut tx = state.db.begin_org(account.organization_id, Actor::System).await?;
    for (first, last, email, title, role) in [
        ("Hugo", "Bernard", "hugo.bernard@demo.relais.example", "Responsable grands comptes", "manager"),
        ("Léa", "Dubois", "lea.dubois@demo.relais.example", "Commerciale", "user"),
    ] {
        sqlx::query!(
            "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                                adult_attested_at, created_at, updated_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $9)",
            account.organization_id.0,
            kernel::UserId::new().0,
            email,
            first,
            last,
            title,
            role,
            &hash,
            now
        )
        .execute(tx.conn())
        .await?;
    }
    tx.commit().await?;
    crm::demo::seed(state, account.organization_id, account.user_id.0)
        .await
        .map_err(|e| anyhow::anyhow!("seeding the demo CRM: {e}"))?;
    Ok(())
}
