//! Identity's entries in the data catalog.

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};

pub const TABLES: &[TableEntry] = &[
    TableEntry {
        table: "users",
        module: "identity",
        description: "Members of an organization: account data.",
        subject: Subject::AccountHolder,
        personal_columns: &["email", "first_name", "last_name", "job_title", "password_hash", "last_login_at"],
        purpose: "Account and organization management",
        legal_basis: LegalBasis::Contract,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "policy_acceptances",
        module: "identity",
        description: "Which privacy-policy version each member accepted, and when.",
        subject: Subject::AccountHolder,
        personal_columns: &["user_id", "accepted_at"],
        purpose: "Compliance with legal obligations",
        legal_basis: LegalBasis::LegalObligation,
        retention: Retention::AccountLifetimePlusDays { days: 30 },
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "sessions",
        module: "identity",
        description: "Browser sessions: hashed token, IP address and browser.",
        subject: Subject::AccountHolder,
        personal_columns: &["user_id", "ip", "user_agent"],
        purpose: "Authentication and account security",
        legal_basis: LegalBasis::Contract,
        retention: Retention::UntilExpiry,
        erasure: Erasure::Delete,
        tenant: true,
    },
    TableEntry {
        table: "login_events",
        module: "identity",
        description: "Each login attempt on a known account: time, outcome, IP address, browser.",
        subject: Subject::AccountHolder,
        personal_columns: &["user_id", "ip", "user_agent"],
        purpose: "Security, fraud prevention and audit logging",
        legal_basis: LegalBasis::LegitimateInterest,
        retention: Retention::RollingMonths { months: 12 },
        erasure: Erasure::Delete,
        tenant: true,
    },
];
