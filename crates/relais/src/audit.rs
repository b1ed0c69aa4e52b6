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
async fn snapshot(database: &Database, reason: &'static str) -> anyhow::Result<kernel::PlatformTx> {
    let mut tx = database.db.begin_platform(reason).await?;
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
        let mut tx = snapshot(&database, "audit verify").await?;
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

/// `relais audit anchor [--org ID]`: verifies each chain (against its previous anchor) and anchors
/// the intact ones at their current head — in `RELAIS_DATA_DIR/audit-anchors.txt`, and printed on
/// stdout, one signed line each, for the operator to keep where the database's owner cannot write.
/// A broken chain is not anchored (that would bless the damage) and makes the exit non-zero.
pub async fn anchor(config: Config, only: Option<uuid::Uuid>) -> anyhow::Result<ExitCode> {
    let audit = AuditLog::new(config.require_master_key()?, Clock::system());
    let path = config.data_dir.join(ANCHORS_FILE);
    let mut anchors = if path.exists() { read_anchors(&audit, &path)? } else { BTreeMap::new() };
    let database = Database::open(&config, Migrations::Leave).await?;
    let outcome = async {
        let mut tx = snapshot(&database, "audit anchor").await?;
        let (mut anchored, mut broken) = (0, 0);
        for (org, _) in chains(tx.conn(), &anchors, only).await? {
            let result = audit.verify_against(tx.conn(), org, anchors.get(&org)).await?;
            if let Some(b) = &result.broken {
                broken += 1;
                eprintln!("{org}: BROKEN at sequence {} ({}): not anchored", b.seq, b.reason);
                continue;
            }
            if let Some(head) = audit.head(tx.conn(), org).await? {
                println!("{}", audit.anchor_line(&head));
                anchors.insert(org, head);
                anchored += 1;
            }
        }
        tx.commit().await?;
        anyhow::Ok((anchored, broken))
    }
    .await;
    database.close().await;
    let (anchored, broken) = outcome?;
    write_anchors(&audit, &path, &anchors)?;
    eprintln!(
        "{anchored} chain head(s) anchored in {}; keep the lines above where the database's owner cannot rewrite them \
         (`relais audit verify --anchors FILE` checks against them)",
        path.display()
    );
    Ok(if broken == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
