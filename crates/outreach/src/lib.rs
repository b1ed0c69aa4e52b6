//! Outreach (issue #12; P0-05, P0-09, P0-10, P0-17, P1-09): members send prospecting emails from
//! their own connected mailboxes, as multi-step sequences or one-off campaigns, compliant by
//! construction (one-click unsubscribe, an org-wide suppression list), stopping when a person
//! replies, and with every message on the person's timeline.
//!
//! Features, one folder each:
//! * [`mailboxes`]: connect (SMTP + IMAP with a password, or Gmail and Microsoft 365 by OAuth2),
//!   test, limit and revoke a mailbox; its secret is sealed by the vault and deleted with the row
//!   on revoke.
//! * [`sequences`]: sequences, their steps and templates (minijinja, sandboxed), enrollments.
//! * [`sending`]: the sending engine — planning under each mailbox's cap, gap and window, and the
//!   crash-safe queue of messages (planned → sending → sent / failed / review).
//! * [`inbound`]: replies, auto-replies and bounces read from each mailbox over IMAP, polled and,
//!   where the server has it, woken by IMAP IDLE.
//! * [`suppression`] and [`unsubscribe`]: who may not be written to, and the RFC 8058 one-click
//!   unsubscribe that adds to it.

pub mod actions;
pub mod inbound;
pub mod mailboxes;
pub mod openapi;
pub mod record;
pub mod routes;
pub mod sending;
pub mod sequences;
pub mod signed;
pub mod suppression;
pub mod tracking;
pub mod unsubscribe;

use kernel::catalog::{Erasure, LegalBasis, Retention, Subject, TableEntry};
use kernel::i18n::Lang;
use kernel::module::{Door, DoorCaller, JobDeps, Module, NavCount, NavLink};

/// Outreach as the application assembles it.
pub fn module() -> Module {
    Module {
        routes: routes::all,
        tables: &[TABLES],
        actions: actions::ALL,
        jobs,
        watchers: inbound::idle::watchers,
        doors: DOORS,
        openapi: openapi::document,
        settings: mailboxes::SETTINGS,
        // After the CRM's links (10–15): sending follows the records it writes to.
        nav: &[
            NavLink { href: "/outreach/sequences", label_key: "outreach.nav.sequences", position: 30 },
            NavLink { href: "/outreach/mailboxes", label_key: "outreach.nav.mailboxes", position: 31 },
            NavLink { href: "/outreach/review", label_key: "outreach.nav.review", position: 32 },
            NavLink { href: "/outreach/suppressions", label_key: "outreach.nav.suppressions", position: 33 },
        ],
        record_panels: record::PANELS,
        nav_counts: &[
            NavCount {
                href: "/outreach/mailboxes",
                label_key: "outreach.nav.paused_count",
                count: mailboxes::pages::paused_count,
            },
            NavCount {
                href: "/outreach/review",
                label_key: "outreach.nav.review_count",
                count: sending::pages::review_count,
            },
        ],
        configure: mailboxes::configure,
        // One message file per feature and language, so features never edit the same file.
        locales: &[
            (Lang::En, include_str!("../locales/en/common.json")),
            (Lang::Fr, include_str!("../locales/fr/common.json")),
            (Lang::En, include_str!("../locales/en/mailboxes.json")),
            (Lang::Fr, include_str!("../locales/fr/mailboxes.json")),
            (Lang::En, include_str!("../locales/en/sequences.json")),
            (Lang::Fr, include_str!("../locales/fr/sequences.json")),
            (Lang::En, include_str!("../locales/en/sending.json")),
            (Lang::Fr, include_str!("../locales/fr/sending.json")),
            (Lang::En, include_str!("../locales/en/suppression.json")),
            (Lang::Fr, include_str!("../locales/fr/suppression.json")),
        ],
        ..Module::new("outreach")
    }
}

const DOORS: &[Door] = &[Door {
    function: "app.outreach_idle_mailboxes",
    caller: DoorCaller::Worker,
    purpose: "the IMAP IDLE supervisor's list of mailboxes to watch: (org, mailbox) ids of active mailboxes with an IMAP server in active orgs, nothing else",
}];

fn jobs(registry: &mut kernel::jobs::Registry, deps: &JobDeps<'_>) {
    sending::jobs::register(registry, deps);
    inbound::jobs::register(registry, deps);
}

const OUTREACH_PURPOSE: &str = "Outreach: prospecting emails sent from the members' own mailboxes (P0-10)";

const fn outreach_table(
    table: &'static str,
    description: &'static str,
    subject: Subject,
    personal_columns: &'static [&'static str],
    retention: Retention,
) -> TableEntry {
    TableEntry {
        table,
        module: "outreach",
        description,
        subject,
        personal_columns,
        purpose: OUTREACH_PURPOSE,
        // The customer organization is the controller of its prospecting and chooses its basis
        // (legitimate interest for B2B prospecting, usually); Relais processes it for them (Art. 28).
        legal_basis: LegalBasis::Contract,
        retention,
        erasure: Erasure::Delete,
        tenant: true,
    }
}

/// Message bodies and what came back follow the CRM's records they belong to.
const CRM_RETENTION: Retention = Retention::AccountLifetimePlusDays { days: 30 };

pub const TABLES: &[TableEntry] = &[
    outreach_table(
        "outreach_mailboxes",
        "A member's connected mailbox: address, server settings, limits and signature; the password or OAuth2 tokens sealed by the vault, deleted with the row on revoke (P0-17).",
        Subject::AccountHolder,
        &[
            "from_name",
            "from_address",
            "smtp_username",
            "imap_username",
            "secret_sealed",
            "access_token_sealed",
            "signature",
        ],
        Retention::UntilRevoked,
    ),
    outreach_table(
        "outreach_oauth_states",
        "Gmail and Microsoft 365 connections under way: the member and their session, the provider, the hash of the state sent to it and the PKCE verifier (sealed); deleted when used, with the session, or once expired (ten minutes).",
        Subject::AccountHolder,
        &["user_id"],
        Retention::UntilExpiry,
    ),
    outreach_table(
        "outreach_suppressions",
        "Addresses never written to again by any sequence: unsubscribed, hard-bounced, or added by a member, with the reason and time.",
        Subject::CrmContact,
        &["email", "note"],
        CRM_RETENTION,
    ),
    outreach_table(
        "outreach_sequences",
        "Sequences and one-off campaigns: name, owner, status, tracking setting and the mailboxes they rotate through.",
        Subject::NoPerson,
        &[],
        CRM_RETENTION,
    ),
    outreach_table(
        "outreach_steps",
        "The steps of a sequence: email templates (subject, body), waits and manual tasks.",
        Subject::NoPerson,
        &[],
        CRM_RETENTION,
    ),
    outreach_table(
        "outreach_enrollments",
        "Who is in which sequence: the lead or contact, the address written to, the state (active, replied, bounced, unsubscribed…) and the next step.",
        Subject::CrmContact,
        &["email"],
        CRM_RETENTION,
    ),
    outreach_table(
        "outreach_messages",
        "Every email planned or sent: recipient, subject and body as sent, Message-ID, state and times (sent, replied, bounced; opened and clicked only when tracking is on).",
        Subject::CrmContact,
        &["to_address", "subject", "body_text", "body_html"],
        CRM_RETENTION,
    ),
    outreach_table(
        "outreach_inbound",
        "Replies, auto-replies and bounces read from a mailbox about an outreach message: sender, subject, a short excerpt, the bounce's status code; never the whole message.",
        Subject::CrmContact,
        &["from_address", "subject", "excerpt"],
        CRM_RETENTION,
    ),
];
