//! `relais audit verify` and `relais audit anchor`: every organization's audit chain checked, and
//! its end anchored outside the database.
//!
//! The database's owner can delete the newest events of a chain and rewind its head row to match;
//! inside the database nothing then looks wrong. An anchor — the chain head, signed under a key
//! derived from the master key — kept outside the database catches it: `audit anchor` verifies
//! each chain, writes the heads to `RELAIS_DATA_DIR/audit-anchors.txt` and prints them for the
//! operator to keep elsewhere; `audit verify` checks each chain still reaches its anchor.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use kernel::OrgId;
use kernel::audit::{Anchor, AuditLog};
use kernel::clock::Clock;
use kernel::config::Config;
use sqlx::Executor;

use crate::setup::{Database, Migrations};

/// The anchors `audit anchor` keeps, in the data directory.
pub const ANCHORS_FILE: &str = "audit-anchors.txt";

/// Reads anchor lines (blank lines and `#` comments skipped), keeping each organization's latest
/// (highest sequence number), so a log of every `audit anchor` run can be given as it is. A line
/// that does not verify stops everything: a forged or foreign anchor is no anchor.
fn read_anchors(audit: &AuditLog, path: &Path) -> anyhow::Result<BTreeMap<OrgId, Anchor>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading the audit anchors {}", path.display()))?;
    let mut anchors: BTreeMap<OrgId, Anchor> = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let anchor = audit.parse_anchor(line).with_context(|| format!("{} line {}", path.display(), number + 1))?;
        if anchors.get(&anchor.org).is_none_or(|kept| kept.seq <= anchor.seq) {
            anchors.insert(anchor.org, anchor);
        }
    }
    Ok(anchors)
}

/// Writes the anchors file whole (a temporary file renamed over it), readable by its owner only.
fn write_anchors(audit: &AuditLog, path: &Path, anchors: &BTreeMap<OrgId, Anchor>) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let temporary = path.with_extension("txt.new");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("writing {}", temporary.display()))?;
    writeln!(file, "# Relais audit anchors: each organization's audit chain head, signed (relais audit anchor).")?;
    for anchor in anchors.values() {
        writeln!(file, "{}", audit.anchor_line(anchor))?;
    }
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// The chains to check: every organization's and every deleted organization's that left one,
/// plus every anchored one (whose chain may be gone); `only` narrows it to one.
async fn chains(
    conn: &mut sqlx::PgConnection,
    anchors: &BTreeMap<OrgId, Anchor>,
    only: Option<uuid::Uuid>,
) -> anyhow::Result<Vec<(OrgId, bool)>> {
    let mut chains = AuditLog::chains(conn).await?;
    for org in anchors.keys() {
        if !chains.iter().any(|(known, _)| known == org) {
            chains.push((*org, false));
        }
    }
    chains.sort();
    if let Some(only) = only {
        chains.retain(|(org, _)| org.0 == only);
        if chains.is_empty() {
            anyhow::bail!("no organization {only}");
        }
    }
    Ok(chains)
}

/// A platform-scope transaction reading one snapshot, so a chain and its head are read as of
/// the same moment while the application keeps appending.
async fn snapshot(db: &kernel::Db, reason: &'static str) -> anyhow::Result<kernel::PlatformTx> {
    let mut tx = db.begin_platform(reason).await?;
    tx.conn().execute("set transaction isolation level repeatable read, read only").await?;
    Ok(tx)
}

/// `relais audit verify [--org ID] [--anchors FILE]`: one line per chain, `intact` or `BROKEN at
/// sequence N (why)`; exits non-zero if any is broken. Anchors come from `--anchors`, else from
/// the data directory's file when there is one.
pub async fn verify(config: Config, only: Option<uuid::Uuid>, anchors: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let audit = AuditLog::new(config.require_master_key()?, Clock::system());
    let anchors = match anchors {
        Some(path) => read_anchors(&audit, &path)?,
        None => {
            let path = config.data_dir.join(ANCHORS_FILE);
            if path.exists() {
                read_anchors(&audit, &path)?
            } else {
                eprintln!(
                    "note: no audit anchors ({} or --anchors): a chain whose newest events were cut off \
                     cannot be told from an intact one. Run `relais audit anchor` regularly.",
                    path.display()
                );
                BTreeMap::new()
            }
        }
    };
    let database = Database::open(&config, Migrations::Leave).await?;
    let outcome = async {
        let mut tx = snapshot(&database.db, "audit verify").await?;
        let mut broken = 0;
        for (org, account) in chains(tx.conn(), &anchors, only).await? {
            let anchor = anchors.get(&org);
            let result = audit.verify_against(tx.conn(), org, anchor).await?;
            match &result.broken {
                None => {
                    let mut notes = String::new();
                    if result.purged_through > 0 {
                        notes.push_str(&format!("; purged through sequence {}", result.purged_through));
                    }
                    if let Some(anchor) = anchor {
                        notes.push_str(&format!("; anchored at sequence {}", anchor.seq));
                    }
                    if !account {
                        notes.push_str("; organization deleted");
                    }
                    println!("{org}: intact ({} events){notes}", result.events_checked);
                }
                Some(b) => {
                    broken += 1;
                    println!("{org}: BROKEN at sequence {} ({})", b.seq, b.reason);
                }
            }
        }
        tx.commit().await?;
        anyhow::Ok(broken)
    }
    .await;
    database.close().await;
    Ok(if outcome? == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// What one anchoring pass did: the signed line of each chain anchored, and each broken chain
/// (not anchored: that would bless the damage).
pub struct AnchorPass {
    pub lines: Vec<String>,
    pub broken: Vec<String>,
    pub path: PathBuf,
}

/// Verifies each chain (against its previous anchor) and anchors the intact ones at their current
/// head in `RELAIS_DATA_DIR/audit-anchors.txt`. Shared by `relais audit anchor` and the running
/// node's periodic pass ([`anchor_periodically`]).
pub async fn anchor_pass(
    audit: &AuditLog,
    db: &kernel::Db,
    data_dir: &Path,
    only: Option<uuid::Uuid>,
) -> anyhow::Result<AnchorPass> {
    let path = data_dir.join(ANCHORS_FILE);
    let mut anchors = if path.exists() { read_anchors(audit, &path)? } else { BTreeMap::new() };
    let mut tx = snapshot(db, "audit anchor").await?;
    let (mut lines, mut broken) = (Vec::new(), Vec::new());
    for (org, _) in chains(tx.conn(), &anchors, only).await? {
        let result = audit.verify_against(tx.conn(), org, anchors.get(&org)).await?;
        if let Some(b) = &result.broken {
            broken.push(format!("{org}: BROKEN at sequence {} ({})", b.seq, b.reason));
            continue;
        }
        if let Some(head) = audit.head(tx.conn(), org).await? {
            lines.push(audit.anchor_line(&head));
            anchors.insert(org, head);
        }
    }
    tx.commit().await?;
    write_anchors(audit, &path, &anchors)?;
    Ok(AnchorPass { lines, broken, path })
}

/// `relais audit anchor [--org ID]`: one anchoring pass, its signed lines printed on stdout for the
/// operator to keep where the database's owner cannot write. A broken chain makes the exit
/// non-zero.
pub async fn anchor(config: Config, only: Option<uuid::Uuid>) -> anyhow::Result<ExitCode> {
    let audit = AuditLog::new(config.require_master_key()?, Clock::system());
    let database = Database::open(&config, Migrations::Leave).await?;
    let outcome = anchor_pass(&audit, &database.db, &config.data_dir, only).await;
    database.close().await;
    let pass = outcome?;
    for line in &pass.lines {
        println!("{line}");
    }
    for broken in &pass.broken {
        eprintln!("{broken}: not anchored");
    }
    eprintln!(
        "{} chain head(s) anchored in {}; keep the lines above where the database's owner cannot rewrite them \
         (`relais audit verify --anchors FILE` checks against them)",
        pass.lines.len(),
        pass.path.display()
    );
    Ok(if pass.broken.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One pass of a running node, logged: a broken chain is an error each pass (and stays
/// unanchored); a pass that fails (database down, data directory not writable) is an error, and
/// the next pass tries again.
pub async fn anchor_and_log(audit: &AuditLog, db: &kernel::Db, data_dir: &Path) {
    match anchor_pass(audit, db, data_dir, None).await {
        Ok(pass) => {
            for broken in &pass.broken {
                tracing::error!("audit chain {broken}: not anchored (run `relais audit verify`)");
            }
            tracing::info!(anchored = pass.lines.len(), "audit chain heads anchored in the data directory");
        }
        Err(error) => tracing::error!(error = format!("{error:#}"), "audit chains could not be anchored"),
    }
}

/// After the pass a node makes at start, one every `RELAIS_AUDIT_ANCHOR_EVERY_SECS` until `stop`:
/// the anchors never lag far behind even when no operator runs `audit anchor`, so events cut off
/// with the head are caught up to the last pass.
pub async fn anchor_periodically(
    audit: AuditLog,
    db: kernel::Db,
    data_dir: PathBuf,
    every: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|stop| *stop) => return,
            () = tokio::time::sleep(every) => {}
        }
        anchor_and_log(&audit, &db, &data_dir).await;
    }
}
