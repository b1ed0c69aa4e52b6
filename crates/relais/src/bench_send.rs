//! `relais bench send`: a personalized one-step campaign of `--recipients` people sent by the
//! outreach engine to an SMTP sink on loopback, against a bare client sending the same messages to
//! the same sink in the same run; the peak memory of a `--rss-recipients` campaign; and the time
//! from an unsubscribe to the address being suppressed for every later send (issue #12,
//! Performance). Writes its section of docs/benchmarks.md.
//!
//! The measured path is the product's: the engine's own planner (`sending::plan::plan_due`, as
//! the dispatch job calls it), then the registered `outreach.dispatch` handler driven by the
//! kernel's job worker (`Worker::tick`, what `relais worker` runs), on the real clock, against a
//! fresh embedded PostgreSQL with full durability. Only the fixtures (organization rows, mailboxes,
//! sequence, contacts, enrollments) are written with set-based SQL.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use kernel::clock::Clock;
use kernel::config::{Config, DatabaseConfig};
use kernel::db::Actor;
use kernel::db::embedded::SUPERUSER;
use kernel::jobs::Worker;
use kernel::keys::MasterKey;
use kernel::vault::Vault;
use kernel::web::AppState;
use kernel::{Db, OrgId};
use lettre::address::Envelope;
use outreach::mailboxes::Security;
use outreach::mailboxes::transport::SmtpServer;
use outreach::sending::compose::{Composed, compose};
use outreach::sending::plan::{PlanContext, plan_due};
use outreach::sending::smtp::{Delivery, Session};
use secrecy::SecretString;
use sqlx::{ConnectOptions, PgConnection};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

use crate::bench::{machine, met, new_org, peak_rss_mib, percentile, reset_peak_rss, write_section};
use crate::setup::{Database, EMBEDDED_DATABASE, Migrations};

#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// Recipients of the measured campaign.
    #[arg(long, default_value_t = 100_000)]
    pub recipients: u64,
    /// Recipients of the campaign whose peak memory is measured (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    pub rss_recipients: u64,
    /// Unsubscribes timed.
    #[arg(long, default_value_t = 200)]
    pub unsubscribes: usize,
    /// A fresh directory for the embedded database (removed first).
    #[arg(long, default_value = "target/bench-send")]
    pub data_dir: PathBuf,
    /// The report whose `bench send` section is replaced.
    #[arg(long, default_value = "docs/benchmarks.md")]
    pub out: PathBuf,
}

/// A mailbox's daily cap can be at most this (the schema's bound): a campaign larger than one
/// mailbox's day rotates through several mailboxes of the same owner.
const DAILY_CAP: u64 = 10_000;
/// A sequence rotates through at most this many mailboxes (the schema's bound): a campaign larger
/// than that is split into several sequences of the same owner.
const MAILBOXES_PER_SEQUENCE: usize = 20;
const SUBJECT: &str = "Hello {{ first_name }}";
const BODY: &str = "Bonjour {{ first_name }},\n\n\
Nous aidons les équipes comme {{ company | default(\"la vôtre\") }} à garder leurs données clients en Europe, \
sans perdre le fil de leurs échanges. Auriez-vous vingt minutes la semaine prochaine pour en parler ?\n\n\
Bien à vous,\n{{ sender_name }}\n\n\
Ne plus recevoir ces messages : {{ unsubscribe_url }}";
const FIRST: &[&str] =
    &["Camille", "Léa", "Hugo", "Zoé", "Lucas", "Chloé", "Louis", "Inès", "Jules", "Manon", "Gabriel", "Éloïse"];
/// Wall time the lettre client without `TCP_NODELAY` is given: at ~40 ms a message it would
/// otherwise take over an hour for 100,000.
const NAGLE_BUDGET: Duration = Duration::from_secs(10);

pub async fn run(config: Config, args: SendArgs) -> anyhow::Result<std::process::ExitCode> {
    let command = format!(
        "relais bench send --recipients {} --rss-recipients {} --data-dir {}",
        args.recipients,
        args.rss_recipients,
        args.data_dir.display()
    );
    anyhow::ensure!(args.recipients > 0, "--recipients must be at least 1");
    if args.data_dir.exists() {
        std::fs::remove_dir_all(&args.data_dir).with_context(|| format!("removing {}", args.data_dir.display()))?;
    }
    std::fs::create_dir_all(&args.data_dir)?;
    let data_dir = std::fs::canonicalize(&args.data_dir)?;
    let mut config = config;
    config.database = DatabaseConfig::Embedded;
    config.data_dir = data_dir.clone();
    config.mail_outbox = Some(data_dir.join("outbox"));
    let master = Arc::new(MasterKey::parse(&MasterKey::generate_base64())?);
    config.master_key = Some(master.clone());
    // The SMTP sink is on loopback, as only a local instance allows.
    let outreach = config.modules.get::<outreach::mailboxes::OutreachSettings>();
    config.modules.insert(outreach::mailboxes::OutreachSettings { allow_private: true, ..outreach });
    eprintln!("bench: starting the embedded PostgreSQL in {}", data_dir.display());
    let database = Database::open(&config, Migrations::Apply).await?;
    let outcome = measure(&config, master, &database, &args).await;
    database.close().await;
    let figures = outcome?;
    let section = report(&command, &args, &figures);
    write_section(&args.out, "send", &section)?;
    println!("{section}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// The SMTP peer of the bench, a task of this process. A real server (the tests' aiosmtpd) would
/// be the bottleneck at these rates — a Python peer takes a few hundred messages a second — and the
/// bench would measure it rather than Relais. This one reads command lines (pipelined or not),
/// answers EHLO/HELO/MAIL/RCPT/DATA/RSET/NOOP/QUIT, counts the messages and discards their
/// content; its own ceiling is measured with a raw pipelining client and reported.
struct Sink {
    address: SocketAddr,
    messages: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let messages = Arc::new(AtomicU64::new(0));
        let counter = messages.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let counter = counter.clone();
                tokio::spawn(async move {
                    let _ = sink_session(stream, counter).await;
                });
            }
        });
        Ok(Self { address, messages, task })
    }

    fn count(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Waits until the sink holds `target` messages and returns when that happened, or `None`
    /// once `stop` is set first.
    async fn until(&self, target: u64, stop: &AtomicBool) -> Option<Instant> {
        while self.count() < target {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Some(Instant::now())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn sink_session(stream: TcpStream, counter: Arc<AtomicU64>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, read);
    let mut writer = BufWriter::with_capacity(16 * 1024, write);
    writer.write_all(b"220 sink.localhost ESMTP bench\r\n").await?;
    writer.flush().await?;
    let mut line = Vec::with_capacity(1024);
    let mut in_data = false;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        if in_data {
            if line == b".\r\n" || line == b".\n" {
                in_data = false;
                counter.fetch_add(1, Ordering::Relaxed);
                writer.write_all(b"250 2.0.0 Ok: queued\r\n").await?;
            }
        } else {
            let verb = line.get(..4).map(|v| v.to_ascii_uppercase()).unwrap_or_default();
            match verb.as_slice() {
                b"EHLO" => {
                    writer
                        .write_all(b"250-sink.localhost\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
                        .await?
                }
                b"HELO" | b"MAIL" | b"RCPT" | b"RSET" | b"NOOP" => writer.write_all(b"250 2.0.0 Ok\r\n").await?,
                b"DATA" => {
                    in_data = true;
                    writer.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                }
                b"QUIT" => {
                    writer.write_all(b"221 2.0.0 Bye\r\n").await?;
                    writer.flush().await?;
                    return Ok(());
                }
                _ => writer.write_all(b"502 5.5.2 Command not recognized\r\n").await?,
            }
        }
        // Pipelined commands are answered in one write, once what was read is used up.
        if reader.buffer().is_empty() {
            writer.flush().await?;
        }
    }
}

/// One campaign's fixtures.
struct Campaign {
    org: OrgId,
    recipients: u64,
    mailboxes: usize,
    sequences: usize,
}

/// An organization with `recipients` contacts, each enrolled (due now) in a one-step personalized
/// campaign of one owner, rotating through as many mailboxes pointing at the sink as the daily
/// cap needs — the caps lifted to the schema's maximum, no gap or jitter, a window of every day,
/// all day.
async fn set_up(
    state: &AppState,
    superuser: &mut PgConnection,
    sink: SocketAddr,
    recipients: u64,
    n: u64,
) -> anyhow::Result<Campaign> {
    let started = Instant::now();
    let (org, owner) = new_org(state, n).await?;
    let now = time::OffsetDateTime::now_utc();
    let mailbox_count = usize::try_from(recipients.div_ceil(DAILY_CAP))?.max(1);
    let mut mailboxes = Vec::with_capacity(mailbox_count);
    for i in 0..mailbox_count {
        let id = Uuid::now_v7();
        let sealed =
            state.vault.seal(&outreach::mailboxes::secret_context(org, id), &SecretString::from(String::new()));
        sqlx::query(
            "insert into outreach_mailboxes (org_id, mailbox_id, owner_id, provider, from_name, from_address, smtp_host,
                 smtp_port, smtp_security, smtp_username, imap_host, imap_username, secret_sealed, daily_cap,
                 min_gap_seconds, jitter_seconds, window_days, window_start_minute, window_end_minute, time_zone,
                 created_at, updated_at)
             values ($1, $2, $3, 'password', 'Camille Martin', $4, '127.0.0.1', $5, 'none', '', '127.0.0.1', '', $6, $7,
                     0, 0, '{1,2,3,4,5,6,7}', 0, 1440, 'Europe/Paris', $8, $8)",
        )
        .bind(org)
        .bind(id)
        .bind(owner)
        .bind(format!("sender{i}@bench{n}.relais.example"))
        .bind(i32::from(sink.port()))
        .bind(sealed)
        .bind(i32::try_from(DAILY_CAP)?)
        .bind(now)
        .execute(&mut *superuser)
        .await?;
        mailboxes.push(id);
    }
    let mut sequences = Vec::new();
    for (i, rotation) in mailboxes.chunks(MAILBOXES_PER_SEQUENCE).enumerate() {
        let id = Uuid::now_v7();
        sqlx::query(
            "insert into outreach_sequences (org_id, sequence_id, name, kind, owner_id, status, mailbox_ids, created_at, updated_at)
             values ($1, $2, $3, 'campaign', $4, 'active', $5, $6, $6)",
        )
        .bind(org)
        .bind(id)
        .bind(format!("Bench campaign {i}"))
        .bind(owner)
        .bind(rotation)
        .bind(now)
        .execute(&mut *superuser)
        .await?;
        sqlx::query(
            "insert into outreach_steps (org_id, sequence_id, step_id, position, kind, subject, body)
             values ($1, $2, $3, 1, 'email', $4, $5)",
        )
        .bind(org)
        .bind(id)
        .bind(Uuid::now_v7())
        .bind(SUBJECT)
        .bind(BODY)
        .execute(&mut *superuser)
        .await?;
        sequences.push(id);
    }
    let first: Vec<String> = FIRST.iter().map(|s| (*s).to_owned()).collect();
    sqlx::query(
        "insert into contacts (org_id, contact_id, first_name, last_name, email, title, owner_id, created_by,
                               created_at, updated_at)
         select $1, gen_random_uuid(), ($4::text[])[(1 + i % cardinality($4::text[]))::int], 'Nom ' || i,
                'r' || i || '.b' || $5 || '@destinataires.example', 'Acheteur', $2, $2, $6, $6
           from generate_series(1, $3) i",
    )
    .bind(org)
    .bind(owner)
    .bind(i64::try_from(recipients)?)
    .bind(&first)
    .bind(i64::try_from(n)?)
    .bind(now)
    .execute(&mut *superuser)
    .await?;
    // Enrolled as enrolling a selection does it (active, due now), spread over the sequences.
    sqlx::query(
        "insert into outreach_enrollments (org_id, enrollment_id, sequence_id, contact_id, email, state, next_run_at,
                                           created_at, updated_at)
         select org_id, gen_random_uuid(), ($2::uuid[])[(1 + (row_number() over (order by contact_id) - 1) % $3)::int],
                contact_id, email, 'active', $4, $4, $4
           from contacts where org_id = $1",
    )
    .bind(org)
    .bind(&sequences)
    .bind(i64::try_from(sequences.len())?)
    .bind(now)
    .execute(&mut *superuser)
    .await?;
    sqlx::query("vacuum analyze contacts").execute(&mut *superuser).await?;
    sqlx::query("vacuum analyze outreach_enrollments").execute(&mut *superuser).await?;
    eprintln!(
        "bench: campaign of {recipients} recipients ({mailbox_count} mailboxes, {} sequences) set up in {:.1?}",
        sequences.len(),
        started.elapsed()
    );
    Ok(Campaign { org, recipients, mailboxes: mailbox_count, sequences: sequences.len() })
}

/// What one campaign's send measured.
struct Sent {
    /// From the enrollments being due to the sink holding every message.
    total: Duration,
    /// The planner alone: every email rendered and queued.
    planning: Duration,
    /// From the last message planned to the last one at the sink.
    sending: Duration,
    /// Dispatch jobs run.
    jobs: usize,
    peak_rss: f64,
    start_rss: f64,
    /// CPU seconds used meanwhile.
    cpu: Cpu,
    /// Transactions committed in the database meanwhile (each one flushed to disk).
    commits: i64,
    /// The machine's load averages (1, 5, 15 minutes) when the campaign ended: other work on
    /// the same cores is not this figure's.
    load: String,
}

/// CPU seconds (user and system) a process used, and those of its children it waited for, from
/// /proc/<pid>/stat.
fn cpu_seconds(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name is in parentheses and may hold spaces: count fields after it.
    let fields: Vec<f64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    let field = |n: usize| fields.get(n).copied().unwrap_or(0.0) / 100.0;
    // utime, stime, cutime, cstime are fields 14 to 17 of the line, 12 to 15 after the name.
    (field(11) + field(12), field(13) + field(14))
}

/// Where the CPU went: this process, and the embedded PostgreSQL (the postmaster, the backends
/// alive now, and those that exited).
#[derive(Clone, Copy, Default)]
struct Cpu {
    relais: f64,
    postgres: f64,
}

fn cpu_now(postmaster: Option<u32>) -> Cpu {
    let relais = cpu_seconds(std::process::id()).0;
    let Some(postmaster) = postmaster else { return Cpu { relais, postgres: f64::NAN } };
    let (own, exited) = cpu_seconds(postmaster);
    let mut postgres = own + exited;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let parent = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
        if parent == Some(postmaster) {
            postgres += cpu_seconds(pid).0;
        }
    }
    Cpu { relais, postgres }
}

/// Transactions committed in the bench's database so far.
async fn commits(superuser: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("select xact_commit from pg_stat_database where datname = current_database()")
        .fetch_one(&mut *superuser)
        .await?)
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// What sending a campaign runs on.
#[derive(Clone, Copy)]
struct Harness<'a> {
    config: &'a Config,
    db: &'a Db,
    vault: &'a Vault,
    worker: &'a Worker,
    sink: &'a Sink,
    /// The embedded PostgreSQL's postmaster, whose CPU is counted.
    postmaster: Option<u32>,
}

/// Sends the campaign as the product does. The planner runs first on its own (the same function
/// the dispatch job starts with, same context), so its share is known; then the dispatch jobs,
/// driven by the kernel's worker, claim, send and record every message and finish the
/// enrollments. A dispatch run plans at most 500 enrollments before it sends, so in production
/// planning and sending alternate within each run; the sum is the same work.
async fn send_campaign(
    harness: &Harness<'_>,
    campaign: &Campaign,
    superuser: &mut PgConnection,
) -> anyhow::Result<Sent> {
    let Harness { config, db, vault, worker, sink, postmaster } = *harness;
    let org = campaign.org;
    let target = sink.count() + campaign.recipients;
    reset_peak_rss();
    let start_rss = peak_rss_mib();
    let context = PlanContext { vault, public_origin: config.public_url.origin() };
    let cpu_before = cpu_now(postmaster);
    let commits_before = commits(superuser).await?;
    let started = Instant::now();
    loop {
        let mut tx = db.begin_org(org, Actor::System).await?;
        let done = plan_due(&mut tx, &context, time::OffsetDateTime::now_utc())
            .await
            .map_err(|e| anyhow::anyhow!("planning: {e}"))?;
        tx.commit().await?;
        if done.emails + done.finished + done.stopped + done.waiting == 0 {
            break;
        }
        anyhow::ensure!(done.stopped + done.waiting == 0, "the planner stopped or held back enrollments: {done:?}");
    }
    let planning = started.elapsed();
    eprintln!("bench: {} messages planned in {planning:.1?}", campaign.recipients);

    let mut tx = db.begin_org(org, Actor::System).await?;
    outreach::sending::service::wake(&mut tx, time::OffsetDateTime::now_utc())
        .await
        .map_err(|e| anyhow::anyhow!("waking the engine: {e}"))?;
    tx.commit().await?;
    // The sink's own count says when the last message arrived, which may be within a tick.
    let stop = AtomicBool::new(false);
    let arrived = sink.until(target, &stop);
    let drive = async {
        let mut jobs = 0;
        let mut quiet = 0;
        let outcome = loop {
            let tick = match worker.tick(16).await {
                Ok(tick) => tick,
                Err(error) => break Err(error),
            };
            if tick.failed > 0 {
                break Err(anyhow::anyhow!("a dispatch job failed"));
            }
            jobs += tick.claimed;
            // Done once everything arrived. The runs after it only finish the enrollments whose
            // last step was sent (500 a run), which sends nothing: not waited for.
            if sink.count() >= target || quiet > 2000 {
                break Ok(jobs);
            }
            if tick.claimed > 0 {
                quiet = 0;
                continue;
            }
            // Nothing due yet: the next run may be queued a moment ahead.
            quiet += 1;
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        stop.store(true, Ordering::Relaxed);
        outcome
    };
    let (arrived, jobs) = tokio::join!(arrived, drive);
    let jobs = jobs?;
    let arrived = arrived.with_context(|| format!("the sink received {} of {target} messages", sink.count()))?;
    let peak_rss = peak_rss_mib();
    let cpu_after = cpu_now(postmaster);
    // PostgreSQL publishes a backend's counts within a second or so: wait for them to settle.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let commits = commits(superuser).await? - commits_before;
    let cpu = Cpu { relais: cpu_after.relais - cpu_before.relais, postgres: cpu_after.postgres - cpu_before.postgres };
    let total = arrived.duration_since(started);
    eprintln!(
        "bench: {} messages at the sink after {total:.1?} ({:.0} msg/s), {jobs} dispatch runs, peak RSS {peak_rss:.0} MiB",
        campaign.recipients,
        campaign.recipients as f64 / total.as_secs_f64()
    );
    Ok(Sent {
        total,
        planning,
        sending: total.saturating_sub(planning),
        jobs,
        peak_rss,
        start_rss,
        cpu,
        commits,
        load: load_average(),
    })
}

/// The messages as the engine sent them (from the queue, rendered), composed again for the bare
/// clients: the same envelope and bytes, built before any clock starts.
async fn composed_messages(
    db: &Db,
    vault: &Vault,
    origin: &str,
    org: OrgId,
) -> anyhow::Result<Vec<(Envelope, Vec<u8>)>> {
    let mut tx = db.begin_org(org, Actor::System).await?;
    let rows: Vec<(Uuid, String, String, String, String, String)> = sqlx::query_as(
        "select m.message_id, m.to_address, m.subject, m.body_text, m.message_id_header, b.from_address
           from outreach_messages m join outreach_mailboxes b on b.org_id = m.org_id and b.mailbox_id = m.mailbox_id
          where m.org_id = $1 and m.state = 'sent' order by m.message_id",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::with_capacity(rows.len());
    for (message_id, to, subject, body, header, from) in rows {
        let from = lettre::message::Mailbox::new(Some("Camille Martin".into()), from.parse()?);
        let unsubscribe = format!("{origin}/u/{}", outreach::unsubscribe::token(vault, org, message_id));
        let composed = Composed {
            from: &from,
            to: &to,
            subject: &subject,
            body_text: &body,
            message_id_header: &header,
            in_reply_to: None,
            references: None,
            unsubscribe_url: &unsubscribe,
            date: now,
            tracker: None,
        };
        out.push(compose(&composed).map_err(|e| anyhow::anyhow!("composing: {e}"))?);
    }
    Ok(out)
}

/// The bare client: the engine's own SMTP session (lettre's connection with `TCP_NODELAY`), one
/// connection, every message one after the other, no database.
async fn bare_client(sink: &Sink, messages: &[(Envelope, Vec<u8>)]) -> anyhow::Result<Duration> {
    let server = SmtpServer {
        host: "127.0.0.1".into(),
        port: sink.address.port(),
        security: Security::None,
        username: String::new(),
        login: outreach::mailboxes::Login::Password(SecretString::from(String::new())),
    };
    let started = Instant::now();
    let mut session = Session::open(&server, true).await.map_err(|e| anyhow::anyhow!("bare client: {e}"))?;
    for (envelope, bytes) in messages {
        let delivery = session.deliver(envelope, bytes).await;
        anyhow::ensure!(delivery == Delivery::Accepted, "bare client: {delivery:?}");
    }
    session.close().await;
    Ok(started.elapsed())
}

/// lettre's connection as it opens its own socket (no `TCP_NODELAY`), several messages on it:
/// the trap issue #12 names. Bounded in time; returns (messages, elapsed).
async fn lettre_without_nodelay(sink: &Sink, messages: &[(Envelope, Vec<u8>)]) -> anyhow::Result<(usize, Duration)> {
    use lettre::transport::smtp::client::AsyncSmtpConnection;
    use lettre::transport::smtp::extension::ClientId;
    let hello = ClientId::Domain("relais.localhost".into());
    let started = Instant::now();
    let mut connection = AsyncSmtpConnection::connect_tokio1(
        ("127.0.0.1", sink.address.port()),
        Some(Duration::from_secs(30)),
        &hello,
        None,
        None,
    )
    .await?;
    let mut sent = 0;
    for (envelope, bytes) in messages {
        if started.elapsed() > NAGLE_BUDGET {
            break;
        }
        connection.send(envelope, bytes).await?;
        sent += 1;
    }
    let elapsed = started.elapsed();
    let _ = connection.quit().await;
    Ok((sent, elapsed))
}

/// The sink's ceiling: one connection writing every transaction pipelined (MAIL, RCPT, DATA and
/// the content back to back, as fast as the socket takes them) while a task reads the answers.
async fn sink_ceiling(sink: &Sink, messages: &[(Envelope, Vec<u8>)]) -> anyhow::Result<Duration> {
    let mut payloads = Vec::with_capacity(messages.len());
    for (envelope, bytes) in messages {
        let to = envelope.to().first().map(ToString::to_string).unwrap_or_default();
        let mut data = Vec::with_capacity(bytes.len() + 128);
        data.extend_from_slice(format!("MAIL FROM:<bench@relais.example>\r\nRCPT TO:<{to}>\r\nDATA\r\n").as_bytes());
        // Dot-stuffing, as any client does.
        let mut at_line_start = true;
        for byte in bytes {
            if at_line_start && *byte == b'.' {
                data.push(b'.');
            }
            data.push(*byte);
            at_line_start = *byte == b'\n';
        }
        data.extend_from_slice(if at_line_start { b".\r\n".as_slice() } else { b"\r\n.\r\n".as_slice() });
        payloads.push(data);
    }
    let target = sink.count() + messages.len() as u64;
    let started = Instant::now();
    let stream = TcpStream::connect(sink.address).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    let answers = tokio::spawn(async move {
        let mut reader = BufReader::new(read);
        let mut line = Vec::new();
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).await? == 0 || line.starts_with(b"221") {
                return Ok::<_, std::io::Error>(());
            }
        }
    });
    let mut out = BufWriter::with_capacity(256 * 1024, write);
    out.write_all(b"EHLO bench.localhost\r\n").await?;
    for data in &payloads {
        out.write_all(data).await?;
    }
    out.write_all(b"QUIT\r\n").await?;
    out.flush().await?;
    answers.await??;
    let elapsed = started.elapsed();
    anyhow::ensure!(sink.count() >= target, "the sink counted {} of {target}", sink.count());
    Ok(elapsed)
}

/// Unsubscribe latency: from the one-click POST's work starting (its token verified, then
/// `suppression::service::unsubscribe` in one transaction, as the public endpoint runs it) to
/// a later send's check (`suppression::store::is_suppressed`, in a new transaction as the planner
/// runs it) seeing the address. Returns (until committed, until seen) per sample.
async fn unsubscribes(
    db: &Db,
    vault: &Vault,
    audit: &kernel::audit::AuditLog,
    org: OrgId,
    samples: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut tx = db.begin_org(org, Actor::System).await?;
    let messages: Vec<Uuid> = sqlx::query_scalar(
        "select message_id from outreach_messages where org_id = $1 and state = 'sent' order by random() limit $2",
    )
    .bind(org)
    .bind(i64::try_from(samples)?)
    .fetch_all(tx.conn())
    .await?;
    tx.commit().await?;
    let tokens: Vec<String> = messages.iter().map(|m| outreach::unsubscribe::token(vault, org, *m)).collect();
    let (mut committed, mut seen) = (Vec::new(), Vec::new());
    for token in tokens {
        let started = Instant::now();
        let (org, message) = outreach::unsubscribe::verify(vault, &token).context("a bench token verifies")?;
        let now = time::OffsetDateTime::now_utc();
        // The service the one-click POST calls: suppress, stop every enrollment writing to the
        // address, cancel its planned messages, audit.
        let mut tx = db.begin_org(org, Actor::Anonymous).await?;
        let done = outreach::suppression::service::unsubscribe(&mut tx, audit, now, message)
            .await
            .map_err(|e| anyhow::anyhow!("unsubscribing: {e}"))?
            .context("the message exists")?;
        let address = done.email;
        tx.commit().await?;
        committed.push(started.elapsed());
        let mut tx = db.begin_org(org, Actor::System).await?;
        let suppressed = outreach::suppression::store::is_suppressed(&mut tx, &address)
            .await
            .map_err(|e| anyhow::anyhow!("checking: {e}"))?;
        tx.commit().await?;
        anyhow::ensure!(suppressed, "{address} is not suppressed after its unsubscribe");
        seen.push(started.elapsed());
    }
    Ok((committed, seen))
}

struct Figures {
    campaign: (u64, usize, usize),
    sent: Sent,
    bare: Duration,
    nagle: (usize, Duration),
    ceiling: Duration,
    rss: Option<(u64, usize, usize, Sent)>,
    unsubscribe_committed: Vec<Duration>,
    unsubscribe_seen: Vec<Duration>,
}

async fn measure(
    config: &Config,
    master: Arc<MasterKey>,
    database: &Database,
    args: &SendArgs,
) -> anyhow::Result<Figures> {
    let state = web::state(Arc::new(config.clone()), database.db.clone(), Clock::system(), master.clone());
    let vault = Vault::new(master);
    let embedded = database.embedded.as_ref().context("the bench needs the embedded database")?;
    let mut superuser = embedded.connect_options(SUPERUSER, EMBEDDED_DATABASE).connect().await?;
    let mailer = kernel::mail::Mailer::from_config(config)?;
    let worker = Worker::new(
        database.db.clone(),
        Clock::system(),
        web::job_registry(config, database.db.clone(), mailer, vault.clone(), state.audit.clone()),
    );
    let sink = Sink::start().await?;
    let postmaster = std::fs::read_to_string(embedded.data_path().join("postmaster.pid"))
        .ok()
        .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
    let origin = config.public_url.origin();

    let harness = Harness { config, db: &database.db, vault: &vault, worker: &worker, sink: &sink, postmaster };
    let campaign = set_up(&state, &mut superuser, sink.address, args.recipients, 1).await?;
    let sent = send_campaign(&harness, &campaign, &mut superuser).await?;
    let states: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from outreach_messages where org_id = $1 group by 1 order by 1")
            .bind(campaign.org)
            .fetch_all(&mut superuser)
            .await?;
    anyhow::ensure!(
        states == vec![("sent".to_owned(), i64::try_from(args.recipients)?)],
        "every message sent once: {states:?}"
    );

    let messages = composed_messages(&database.db, &vault, origin, campaign.org).await?;
    let bare = bare_client(&sink, &messages).await?;
    eprintln!("bench: bare client {bare:.1?} ({:.0} msg/s)", messages.len() as f64 / bare.as_secs_f64());
    let nagle = lettre_without_nodelay(&sink, &messages).await?;
    eprintln!("bench: lettre without TCP_NODELAY: {} messages in {:.1?}", nagle.0, nagle.1);
    let ceiling = sink_ceiling(&sink, &messages).await?;
    eprintln!("bench: sink ceiling {ceiling:.1?} ({:.0} msg/s)", messages.len() as f64 / ceiling.as_secs_f64());
    drop(messages);

    let (unsubscribe_committed, unsubscribe_seen) =
        unsubscribes(&database.db, &vault, &state.audit, campaign.org, args.unsubscribes).await?;

    let rss = if args.rss_recipients > 0 {
        let big = set_up(&state, &mut superuser, sink.address, args.rss_recipients, 2).await?;
        let sent = send_campaign(&harness, &big, &mut superuser).await?;
        Some((big.recipients, big.mailboxes, big.sequences, sent))
    } else {
        None
    };
    Ok(Figures {
        campaign: (campaign.recipients, campaign.mailboxes, campaign.sequences),
        sent,
        bare,
        nagle,
        ceiling,
        rss,
        unsubscribe_committed,
        unsubscribe_seen,
    })
}

fn report(command: &str, args: &SendArgs, f: &Figures) -> String {
    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (n, mailboxes, sequences) = f.campaign;
    let rate = n as f64 / secs(f.sent.total);
    let bare_rate = n as f64 / secs(f.bare);
    let ceiling_rate = n as f64 / secs(f.ceiling);
    let nagle_rate = f.nagle.0 as f64 / secs(f.nagle.1);
    let mut committed = f.unsubscribe_committed.clone();
    let mut seen = f.unsubscribe_seen.clone();
    let mut text = format!(
        "## Outreach sending (issue #12)\n\n\
         Generated by `relais bench send`; re-run it to refresh this section. Issue #12, Performance.\n\n\
         - Command: `{command}` (release build: `cargo run --release -p relais -- bench send …`)\n\
         - Machine: {machine}\n\
         - Database: the embedded PostgreSQL, full durability (fsync on), default settings, on the same machine.\n\
         - Campaign: one organization, one owner, a one-step personalized campaign (subject `{SUBJECT}`, a body with \
           `{{{{ first_name }}}}`, `{{{{ company | default(…) }}}}`, `{{{{ sender_name }}}}` and `{{{{ unsubscribe_url }}}}`) \
           to {n} contacts enrolled set-based and due at once. A mailbox's daily cap is at most 10,000 (the schema's \
           bound), so the campaign rotates through {mailboxes} mailboxes of the owner × 10,000 ({sequences} \
           sequence(s): a sequence rotates through at most 20), no gap, no jitter, a window of every day, all day. \
           Every message carries its unsubscribe headers and a text and HTML part, as in production.\n\
         - SMTP peer: a sink inside the bench process on loopback (tokio; EHLO/MAIL/RCPT/DATA/RSET/QUIT, pipelining; \
           counts messages and discards them). A Python peer would be the bottleneck at these rates and measure \
           itself; the sink's own ceiling is in the table.\n\
         - Path measured: the engine's planner (`sending::plan::plan_due`, as the dispatch job runs it), then the \
           registered `outreach.dispatch` job driven by the kernel's worker (`Worker::tick`, as `relais worker`): \
           claim 20 per mailbox (committed before SMTP), one SMTP session per batch, up to four mailboxes at once, \
           a batch's outcomes committed together, each sent message on the contact's timeline; real clock. The clock starts with the enrollments due and \
           stops when the sink holds the last message.\n\n\
         | Measure | Goal | Measured | |\n|---|---|---|---|\n",
        machine = machine(),
    );
    text.push_str(&format!(
        "| Campaign of {n} personalized messages through the engine | ≥ 1,000 msg/s (listmonk ≈ 833) | {rate:.0} msg/s: \
         {:.1} s in all; planner {:.1} s ({:.0} messages/s rendered and queued), dispatch {:.1} s ({:.0} msg/s); \
         {} dispatch runs; CPU used meanwhile: Relais {:.0} s, PostgreSQL {:.0} s (of {:.0} s on {} cores); load \
         average at the end {} | {} |\n",
        secs(f.sent.total),
        secs(f.sent.planning),
        n as f64 / secs(f.sent.planning),
        secs(f.sent.sending),
        n as f64 / secs(f.sent.sending),
        f.sent.jobs,
        f.sent.cpu.relais,
        f.sent.cpu.postgres,
        secs(f.sent.total) * cores() as f64,
        cores(),
        f.sent.load,
        met(rate >= 1000.0)
    ));
    text.push_str(&format!(
        "| The same {n} messages, pre-rendered, from a bare client (the engine's lettre session with `TCP_NODELAY`, \
         one connection, no database) | — | {bare_rate:.0} msg/s ({:.1} s); engine ÷ bare client = **{:.2}** | |\n",
        secs(f.bare),
        rate / bare_rate
    ));
    text.push_str(&format!(
        "| The sink's ceiling: a raw client pipelining the same {n} transactions on one connection | — | \
         {ceiling_rate:.0} msg/s ({:.1} s); engine ÷ ceiling = {:.3} | |\n",
        secs(f.ceiling),
        rate / ceiling_rate
    ));
    text.push_str(&format!(
        "| lettre's own connection (no `TCP_NODELAY`), messages on one connection (the trap of issue #12) | — | \
         {nagle_rate:.0} msg/s ({} messages in {:.1} s, {:.1} ms each) | worked around: the engine sets `TCP_NODELAY` |\n",
        f.nagle.0,
        secs(f.nagle.1),
        ms(f.nagle.1) / f.nagle.0.max(1) as f64
    ));
    match &f.rss {
        Some((big, big_mailboxes, big_sequences, sent)) => text.push_str(&format!(
            "| Peak RSS while sending a campaign of {big} ({big_mailboxes} mailboxes, {big_sequences} sequences), \
             planner and dispatch | ≤ 60 MB (listmonk 57 MB for 7M) | {:.0} MiB (at its start: {:.0} MiB); {:.0} msg/s \
             over {:.0} s | {} |\n",
            sent.peak_rss,
            sent.start_rss,
            *big as f64 / secs(sent.total),
            secs(sent.total),
            if *big >= 1_000_000 { met(sent.peak_rss * 1.048_576 <= 60.0) } else { "smaller run than 1M" }
        )),
        None => text.push_str("| Peak RSS for 1,000,000 recipients | ≤ 60 MB | not run (`--rss-recipients 0`) | |\n"),
    }
    text.push_str(&format!(
        "| Peak RSS during the {n}-recipient campaign | — | {:.0} MiB (at its start: {:.0} MiB) | |\n",
        f.sent.peak_rss, f.sent.start_rss
    ));
    text.push_str(&format!(
        "| Unsubscribe → address suppressed for every later send ({} samples) | — | p50 {:.1} ms, p95 {:.1} ms \
         (of which the unsubscribe's transaction until committed: p50 {:.1} ms, p95 {:.1} ms) | |\n",
        seen.len(),
        ms(percentile(&mut seen, 0.5)),
        ms(percentile(&mut seen, 0.95)),
        ms(percentile(&mut committed, 0.5)),
        ms(percentile(&mut committed, 0.95)),
    ));
    text.push_str(&limits(f));
    text.push_str(&format!(
        "\nPeak RSS is the process's VmHWM, reset before each campaign; the embedded PostgreSQL is another process \
         and not counted. The unsubscribe is timed from its token's verification through one transaction that \
         suppresses the address and stops the enrollment (what the one-click POST `/u/{{token}}` does) to \
         `suppression::store::is_suppressed` — the planner's check before rendering any later email — answering \
         yes in a new transaction; {} samples on addresses of the campaign above.\n",
        args.unsubscribes
    ));
    text
}

/// "What limits these figures", from what this run measured.
fn limits(f: &Figures) -> String {
    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    let n = f.campaign.0 as f64;
    let total = secs(f.sent.total);
    let planning_share = secs(f.sent.planning) / total * 100.0;
    let available = total * cores() as f64;
    let used = f.sent.cpu.relais + f.sent.cpu.postgres;
    let bare_share = secs(f.bare) / secs(f.sent.sending).max(1e-9) * 100.0;
    format!(
        "\n### What limits these figures\n\n\
         - **Where the time goes.** The planner took {planning_share:.0} % of the campaign's time ({:.2} ms a \
           message) and the dispatch the rest ({:.2} ms a message). Sending the same messages over SMTP alone (the \
           bare client) takes {bare_share:.0} % of the dispatch's time, so the dispatch's cost is mostly its own \
           bookkeeping, not the SMTP conversation.\n\
         - **CPU.** Relais used {:.0} s of CPU and PostgreSQL {:.0} s during the {total:.0} s campaign, {:.0} % of \
           the {} cores' {available:.0} core-seconds (the rest went to other work on the machine — load average {} — \
           or to waiting on disk flushes). PostgreSQL used {:.1} times the CPU of Relais: the database's work is the \
           limit, not the Rust code. It runs the statements listed below, committed in {} transactions in all \
           ({:.2} a message), each flushed to disk (full durability).\n\
         - **The planner** plans a pass of 500 enrollments in one transaction and a handful of statements \
           (`sending/plan.rs`): it reads the pass's steps, suppressed addresses, recipients' fields and thread \
           parents in one query each, renders every email in Rust (two minijinja renders, each template parsed \
           once per pass, and the unsubscribe token's HMAC), then writes every message in one multi-row insert and \
           every enrollment's advance in one update; a mailbox's day is counted once per pass on an index \
           (`outreach_messages_day_taken` and `outreach_messages_due`, migrations 0030 \
           and 0032). It used to run about five statements per message (482 s for the same 100,000 before, 207 \
           messages/s). Its cost per message still grows with the campaign: each pass counts the day's messages \
           of every mailbox it may use (for the daily cap), up to 10,000 index entries per mailbox, so a pass \
           late in a campaign counts far more than an early one (30,000 recipients plan at about 3,500 messages/s \
           on this machine, the 100,000 above at the rate shown). A per-mailbox day counter kept exact through \
           the messages' state changes would make it flat; not done.\n\
         - **The dispatch**, per batch of 20 of one mailbox: the claim, committed before any SMTP (the mailbox's \
           row records its batch's lease, so one session per mailbox is a row lock and a column, not a search of \
           the messages in flight); one SMTP session; per message four round trips (MAIL, RCPT, DATA, content: \
           the engine's client does not pipeline) and the MIME message built (text and HTML parts, unsubscribe \
           headers); the batch's outcomes in one commit, and one transaction putting its 20 messages on their \
           contacts' timelines in two statements; up to four mailboxes at once (`sending/jobs.rs`). Each row \
           changes state three times in a few minutes, and each change leaves a dead index entry behind: a dispatch \
           run lasts at most 8 s, because its job's transaction holds a row lock (a transaction id) that keeps \
           PostgreSQL from pruning them while it lasts (with 50 s runs every claim stepped over thousands of them); \
           and every update names its rows by an array of keys and no index mixes planned messages with sent ones \
           (migration 0032), because the table's statistics lag behind a campaign's burst and a join or a shared \
           index made PostgreSQL walk the mailbox's whole history for each batch of 20 (found with \
           `pg_stat_statements` and `auto_explain` on this benchmark: 0.1 to 0.4 s a batch, most of the database's \
           time, before). Pipelining the SMTP commands, claiming larger batches (more messages in review after a \
           crash) or a narrower table for per-message states are the next steps, not taken. After the last step \
           is sent each enrollment is finished by a later pass of the planner (one statement a pass, not in these \
           figures).\n\
         - **Planner and dispatch one after the other.** Here the planner plans the whole campaign before the \
           dispatch sends; in production each dispatch run plans one pass of 500 and then sends, so the two do not \
           overlap there either. Running them side by side within a run would hide the planner's time behind the \
           sending's, as long as the two cores have room for both; not done.\n\
         - **Memory**: the planner holds one pass of 500 enrollments, the dispatch at most four claimed batches of \
           20, so nothing should grow with the campaign's size. Peak RSS is the process's high-water mark, which \
           cannot fall below what the process already held when the campaign began: here, memory the benchmark's \
           own set-up used (a million contacts inserted, the bare client's pre-rendered messages), freed but not \
           given back by the allocator. The growth during a campaign (peak minus start) is the engine's own; \
           measuring a separate worker process that only sends is the next step, not taken.\n",
        secs(f.sent.planning) * 1000.0 / n,
        secs(f.sent.sending) * 1000.0 / n,
        f.sent.cpu.relais,
        f.sent.cpu.postgres,
        used / available * 100.0,
        cores(),
        f.sent.load,
        f.sent.cpu.postgres / f.sent.cpu.relais.max(1e-9),
        f.sent.commits,
        f.sent.commits as f64 / n,
    )
}
