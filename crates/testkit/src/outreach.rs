//! Outreach as the sending engine's tests need it: a mailbox, a sequence and enrollments written
//! straight into the org's tenant transaction (the mailbox and sequence pages have their own
//! tests), so a test is about what the engine does with them.

use kernel::OrgId;
use kernel::db::Actor;
use secrecy::SecretString;
use uuid::Uuid;

use crate::TestApp;

/// One step of a test sequence.
pub enum StepSpec<'a> {
    Email { subject: &'a str, body: &'a str, in_thread: bool },
    Wait { days: i16 },
    Task { title: &'a str },
}

/// A mailbox's limits in a test: by default, every day, all day, no gap, a high cap.
#[derive(Debug, Clone)]
pub struct MailboxLimits {
    pub daily_cap: i32,
    pub min_gap_seconds: i32,
    pub window_days: Vec<i16>,
    pub window_start_minute: i16,
    pub window_end_minute: i16,
    pub time_zone: &'static str,
}

impl Default for MailboxLimits {
    fn default() -> Self {
        Self {
            daily_cap: 10_000,
            min_gap_seconds: 0,
            window_days: vec![1, 2, 3, 4, 5, 6, 7],
            window_start_minute: 0,
            window_end_minute: 1440,
            time_zone: "Europe/Paris",
        }
    }
}

impl TestApp {
    /// A mailbox of `owner` sending through the plain SMTP server on loopback `port`, without
    /// authentication (the sealed secret is empty).
    pub async fn outreach_mailbox(
        &self,
        org: OrgId,
        owner: Uuid,
        from_address: &str,
        port: u16,
        limits: MailboxLimits,
    ) -> Uuid {
        let id = Uuid::now_v7();
        let sealed =
            self.state.vault.seal(&outreach::mailboxes::secret_context(org, id), &SecretString::from(String::new()));
        let now = self.clock.now();
        let mut tx = self.db.begin_org(org, Actor::System).await.expect("tenant tx");
        sqlx::query(
            "insert into outreach_mailboxes (org_id, mailbox_id, owner_id, provider, from_name, from_address, smtp_host,
                 smtp_port, smtp_security, smtp_username, imap_host, imap_username, secret_sealed, daily_cap,
                 min_gap_seconds, jitter_seconds, window_days, window_start_minute, window_end_minute, time_zone,
                 created_at, updated_at)
             values ($1, $2, $3, 'password', 'Camille Martin', $4, '127.0.0.1', $5, 'none', '', '127.0.0.1', '', $6, $7,
                     $8, 0, $9, $10, $11, $12, $13, $13)",
        )
        .bind(org)
        .bind(id)
        .bind(owner)
        .bind(from_address)
        .bind(i32::from(port))
        .bind(sealed)
        .bind(limits.daily_cap)
        .bind(limits.min_gap_seconds)
        .bind(&limits.window_days)
        .bind(limits.window_start_minute)
        .bind(limits.window_end_minute)
        .bind(limits.time_zone)
        .bind(now)
        .execute(tx.conn())
        .await
        .expect("insert mailbox");
        tx.commit().await.expect("commit");
        id
    }

    /// Makes `mailbox` read its inbox on the plain IMAP server on loopback `port`, logging in as
    /// `user` with `password` (sealed as a connected mailbox's password is).
    pub async fn outreach_mailbox_inbox(&self, org: OrgId, mailbox: Uuid, port: u16, user: &str, password: &str) {
        let sealed = self
            .state
            .vault
            .seal(&outreach::mailboxes::secret_context(org, mailbox), &SecretString::from(password.to_owned()));
        let mut tx = self.db.begin_org(org, Actor::System).await.expect("tenant tx");
        sqlx::query(
            "update outreach_mailboxes set imap_host = '127.0.0.1', imap_port = $3, imap_security = 'none',
                    imap_username = $4, secret_sealed = $5
              where org_id = $1 and mailbox_id = $2",
        )
        .bind(org)
        .bind(mailbox)
        .bind(i32::from(port))
        .bind(user)
        .bind(sealed)
        .execute(tx.conn())
        .await
        .expect("mailbox inbox");
        tx.commit().await.expect("commit");
    }

    /// An active sequence of `owner` rotating through `mailboxes`, with `steps` in order.
    pub async fn outreach_sequence(&self, org: OrgId, owner: Uuid, mailboxes: &[Uuid], steps: &[StepSpec<'_>]) -> Uuid {
        let id = Uuid::now_v7();
        let now = self.clock.now();
        let mut tx = self.db.begin_org(org, Actor::System).await.expect("tenant tx");
        sqlx::query(
            "insert into outreach_sequences (org_id, sequence_id, name, owner_id, status, mailbox_ids, created_at, updated_at)
             values ($1, $2, 'Test sequence', $3, 'active', $4, $5, $5)",
        )
        .bind(org)
        .bind(id)
        .bind(owner)
        .bind(mailboxes)
        .bind(now)
        .execute(tx.conn())
        .await
        .expect("insert sequence");
        for (index, step) in steps.iter().enumerate() {
            let (kind, subject, body, in_thread, wait_days, title) = match step {
                StepSpec::Email { subject, body, in_thread } => ("email", *subject, *body, *in_thread, 0, ""),
                StepSpec::Wait { days } => ("wait", "", "", false, *days, ""),
                StepSpec::Task { title } => ("task", "", "", false, 0, *title),
            };
            sqlx::query(
                "insert into outreach_steps (org_id, sequence_id, step_id, position, kind, wait_days, subject, body, in_thread, task_title)
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(org)
            .bind(id)
            .bind(Uuid::now_v7())
            .bind(i16::try_from(index + 1).expect("a short sequence"))
            .bind(kind)
            .bind(wait_days)
            .bind(subject)
            .bind(body)
            .bind(in_thread)
            .bind(title)
            .execute(tx.conn())
            .await
            .expect("insert step");
        }
        tx.commit().await.expect("commit");
        id
    }

    /// A contact with this address and first name (empty: none), in `time_zone` ('' for none).
    pub async fn outreach_contact(&self, org: OrgId, email: &str, first_name: &str, time_zone: &str) -> Uuid {
        let id = Uuid::now_v7();
        let now = self.clock.now();
        let mut tx = self.db.begin_org(org, Actor::System).await.expect("tenant tx");
        sqlx::query(
            "insert into contacts (org_id, contact_id, first_name, last_name, email, time_zone, created_at, updated_at)
             values ($1, $2, $3, 'Tester', $4, $5, $6, $6)",
        )
        .bind(org)
        .bind(id)
        .bind(first_name)
        .bind(email)
        .bind(time_zone)
        .bind(now)
        .execute(tx.conn())
        .await
        .expect("insert contact");
        tx.commit().await.expect("commit");
        id
    }

    /// Enrolls contacts in a sequence, due now, and wakes the engine — what enrolling from the
    /// pages or the API ends with.
    pub async fn outreach_enroll(&self, org: OrgId, sequence: Uuid, contacts: &[Uuid]) -> Vec<Uuid> {
        let now = self.clock.now();
        let mut tx = self.db.begin_org(org, Actor::System).await.expect("tenant tx");
        let mut ids = Vec::new();
        for contact in contacts {
            let id = Uuid::now_v7();
            sqlx::query(
                "insert into outreach_enrollments (org_id, enrollment_id, sequence_id, contact_id, email, state, next_run_at, created_at, updated_at)
                 select $1, $2, $3, contact_id, email, 'active', $5, $5, $5 from contacts where org_id = $1 and contact_id = $4",
            )
            .bind(org)
            .bind(id)
            .bind(sequence)
            .bind(contact)
            .bind(now)
            .execute(tx.conn())
            .await
            .expect("insert enrollment");
            ids.push(id);
        }
        outreach::sending::service::wake(&mut tx, now).await.expect("wake the engine");
        tx.commit().await.expect("commit");
        ids
    }

    /// Every outreach message of the org: (recipient, state, reason), by creation.
    pub async fn outreach_messages(&self, org: OrgId) -> Vec<(String, String, String)> {
        let mut tx = self.db.begin_org(org, Actor::System).await.expect("tenant tx");
        let rows = sqlx::query_as(
            "select to_address, state, state_reason from outreach_messages where org_id = $1 order by created_at, message_id",
        )
        .bind(org)
        .fetch_all(tx.conn())
        .await
        .expect("messages");
        tx.commit().await.expect("commit");
        rows
    }

    /// The IMAP IDLE supervisor `relais serve` runs (as its `outreach.idle` watcher), built for
    /// this app's configuration and clock; the test runs it and follows its status.
    pub fn idle_supervisor(&self) -> outreach::inbound::idle::Supervisor {
        let mailer = kernel::mail::Mailer::from_config(&self.state.config).expect("mailer");
        let deps = kernel::module::JobDeps {
            config: &self.state.config,
            db: self.state.db.clone(),
            mailer,
            vault: self.state.vault.clone(),
            audit: self.state.audit.clone(),
        };
        outreach::inbound::idle::Supervisor::new(&deps, &self.clock)
    }

    /// An enrollment's (state, reason).
    pub async fn outreach_enrollment(&self, org: OrgId, enrollment: Uuid) -> (String, String) {
        let mut tx = self.db.begin_org(org, Actor::System).await.expect("tenant tx");
        let row = sqlx::query_as(
            "select state, state_reason from outreach_enrollments where org_id = $1 and enrollment_id = $2",
        )
        .bind(org)
        .bind(enrollment)
        .fetch_one(tx.conn())
        .await
        .expect("enrollment");
        tx.commit().await.expect("commit");
        row
    }
}
