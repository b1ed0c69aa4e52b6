//! The data catalog: one entry per table, in code.
//!
//! It says whose data each table holds, which columns are personal, why it is kept, on what
//! GDPR Art. 6 basis, for how long and how it is erased. A test fails if a table exists without an
//! entry or an entry names no table. Later modules drive retention, export, erasure and the record
//! of processing (Art. 30) from it; `relais catalog` prints it.

use serde::Serialize;

/// Whose personal data a table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// Members of a customer organization (owners, managers, users).
    AccountHolder,
    /// People in the CRM: leads and contacts.
    CrmContact,
    /// Anonymous trainees of the training app.
    Trainee,
    /// Visitors who asked for a demo on the public site.
    Prospect,
    /// No person: organization or platform data.
    NoPerson,
}

/// GDPR Art. 6(1) legal basis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// Art. 6(1)(a)
    Consent,
    /// Art. 6(1)(b)
    Contract,
    /// Art. 6(1)(c)
    LegalObligation,
    /// Art. 6(1)(f)
    LegitimateInterest,
}

impl LegalBasis {
    pub fn article(&self) -> &'static str {
        match self {
            Self::Consent => "Art. 6(1)(a) consent",
            Self::Contract => "Art. 6(1)(b) contract",
            Self::LegalObligation => "Art. 6(1)(c) legal obligation",
            Self::LegitimateInterest => "Art. 6(1)(f) legitimate interest",
        }
    }
}

/// How long rows are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Retention {
    /// While the organization's account is open, then deleted `days` after definitive closure
    /// (P0-15, P1-08).
    AccountLifetimePlusDays { days: u32 },
    /// Rolling window (P0-16: usage data and audit logs, 12 months).
    RollingMonths { months: u32 },
    /// Fixed legal period (P0-18: billing, 10 years).
    Years { years: u32 },
    /// Until the person revokes it; deleted immediately then (P0-17).
    UntilRevoked,
    /// Short-lived by nature; deleted when expired.
    UntilExpiry,
    /// Platform reference data kept while the instance runs.
    Permanent,
}

impl Retention {
    pub fn describe(&self) -> String {
        match self {
            Self::AccountLifetimePlusDays { days } => format!("account lifetime, deleted {days} days after closure"),
            Self::RollingMonths { months } => format!("rolling {months} months"),
            Self::Years { years } => format!("{years} years"),
            Self::UntilRevoked => "until revoked, then deleted immediately".into(),
            Self::UntilExpiry => "until expiry".into(),
            Self::Permanent => "kept while the instance runs".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Erasure {
    Delete,
    Anonymize,
    /// Kept despite an erasure request because the law requires it (billing); retention still applies.
    LegalHold,
    /// Not personal data: nothing to erase beyond the org's own deletion.
    NotApplicable,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TableEntry {
    pub table: &'static str,
    pub module: &'static str,
    pub description: &'static str,
    pub subject: Subject,
    pub personal_columns: &'static [&'static str],
    pub purpose: &'static str,
    pub legal_basis: LegalBasis,
    pub retention: Retention,
    pub erasure: Erasure,
    /// False only for the short list of platform tables (no `org_id`).
    pub tenant: bool,
}

/// The kernel's own tables.
pub const KERNEL_TABLES: &[TableEntry] = &[
    TableEntry {
        table: "organizations",
        module: "kernel",
        description: "The customer organizations (tenants).",
        subject: Subject::NoPerson,
        personal_columns: &[],
        purpose: "Provide the service to the organization",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "policy_versions",
        module: "kernel",
        description: "Published versions of the privacy policy with their effective dates.",
        subject: Subject::NoPerson,
        personal_columns: &[],
        purpose: "Inform people of the policy in force and of changes ahead",
        legal_basis: LegalBasis::LegalObligation,
        retention: Retention::Permanent,
        erasure: Erasure::NotApplicable,
        tenant: false,
    },
    TableEntry {
        table: "audit_events",
        module: "kernel",
        description: "Append-only, HMAC-chained audit log of sensitive actions (pseudonymous ids only).",
        subject: Subject::AccountHolder,
        personal_columns: &["actor_id", "target_id"],
        purpose: "Security, fraud prevention and audit logging",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::RollingMonths { months: crate::audit::RETENTION_MONTHS },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "audit_checkpoints",
        module: "kernel",
        description: "Monthly checkpoints of the audit chain: the MAC each month's first event chained from.",
        subject: Subject::NoPerson,
        personal_columns: &[],
        purpose: "Security, fraud prevention and audit logging",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::RollingMonths { months: crate::audit::RETENTION_MONTHS },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "audit_chain_heads",
        module: "kernel",
        description: "The latest sequence number and MAC of each organization's audit chain; kept after the organization is deleted, so the chain (or the record of its purge) stays verifiable.",
        subject: Subject::NoPerson,
        personal_columns: &[],
        purpose: "Security, fraud prevention and audit logging",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::Permanent,
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "jobs",
        module: "kernel",
        description: "Background jobs (imports, sending, retention) with their payloads and outcome.",
        subject: Subject::NoPerson,
        personal_columns: &[],
        purpose: "Provide the service to the organization",
        legal_basis: LegalBasis::Contract,
        retention: Retention::RollingMonths { months: 12 },
        erasure: Erasure::Delete,
        tenant: true,
    },
];

/// Markdown table of the given entries, for `relais catalog` and the docs.
pub fn to_markdown(entries: &[TableEntry]) -> String {
    let mut out = String::from(
        "| table | module | subject | personal columns | purpose | legal basis | retention | erasure |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for e in entries {
        out.push_str(&format!(
            "| `{}` | {} | {:?} | {} | {} | {} | {} | {:?} |\n",
            e.table,
            e.module,
            e.subject,
            if e.personal_columns.is_empty() { "—".to_string() } else { e.personal_columns.join(", ") },
            e.purpose,
            e.legal_basis.article(),
            e.retention.describe(),
            e.erasure,
        ));
    }
    out
}
