//! Identity rules: sign-up, login, sessions. Pages and the API both call these, so a rule holds
//! whichever door the request came through.

use crate::doors::IdentityDoors;
use kernel::audit::AuditEvent;
use kernel::db::Actor;
use kernel::i18n::Lang;
use kernel::ids::SessionId;
use kernel::ratelimit;
use kernel::web::{AppState, ClientInfo};
use kernel::{AppError, FieldError, OrgId, UserId, token};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;
use time::Duration;
use uuid::Uuid;

use crate::model::{
    DUMMY_HASH, EmailAddress, JobTitle, OrgName, OrgRole, Password, PersonName, hash_password, verify_password,
};
use crate::throttle;

/// How long a browser session lasts at most.
pub const SESSION_LIFETIME: Duration = Duration::hours(12);

/// Sign-up fields as submitted (form or JSON). P0-01: exactly these, nothing more.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SignupInput {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
    #[schema(value_type = String, format = Password)]
    #[serde(default = "empty_secret")]
    pub password: SecretString,
    #[serde(default)]
    pub organization_name: String,
    /// The person's role in the organization, e.g. "Head of sales".
    #[serde(default)]
    pub job_title: String,
    /// The person attests being 18 or older (P1-19).
    #[serde(default, deserialize_with = "checkbox")]
    pub adult: bool,
    /// The privacy-policy version the person accepted; must be the one in force.
    #[serde(default)]
    pub accepted_policy_version: String,
}

fn empty_secret() -> SecretString {
    SecretString::from("")
}

/// Accepts JSON booleans and HTML checkbox values ("on", "true").
fn checkbox<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::String(t) => Ok(matches!(t.as_str(), "on" | "true" | "yes" | "1")),
        _ => Err(serde::de::Error::custom("expected true or false")),
    }
}

pub(crate) struct ValidSignup {
    pub first_name: PersonName,
    pub last_name: PersonName,
    pub email: EmailAddress,
    pub password: Password,
    pub organization_name: OrgName,
    pub job_title: JobTitle,
    pub policy_version: String,
}

/// Keeps the value, or files its error so every field's problem is reported together.
fn take<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

/// Checks every field and reports all problems at once.
pub(crate) async fn validate_signup(state: &AppState, input: SignupInput) -> Result<ValidSignup, AppError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let first_name = take(&mut errors, PersonName::parse("first_name", &input.first_name));
    let last_name = take(&mut errors, PersonName::parse("last_name", &input.last_name));
    let email = take(&mut errors, EmailAddress::parse("email", &input.email));
    let password = take(&mut errors, Password::parse("password", input.password));
    let organization_name = take(&mut errors, OrgName::parse("organization_name", &input.organization_name));
    let job_title = take(&mut errors, JobTitle::parse("job_title", &input.job_title));
    if !input.adult {
        errors.push(FieldError::new("adult", "must_be_adult", "Relais is for people aged 18 or over."));
    }
    let current = state.db.current_policy_version(state.clock.now()).await?;
    let policy_version = match current {
        Some((version, _)) if version == input.accepted_policy_version => Some(version),
        Some(_) => {
            errors.push(FieldError::new(
                "accepted_policy_version",
                "policy_not_accepted",
                "Read and accept the current privacy policy.",
            ));
            None
        }
        None => return Err(AppError::Unavailable("no privacy policy is published".into())),
    };
    match (first_name, last_name, email, password, organization_name, job_title, policy_version) {
        (
            Some(first_name),
            Some(last_name),
            Some(email),
            Some(password),
            Some(organization_name),
            Some(job_title),
            Some(policy_version),
        ) if errors.is_empty() => {
            Ok(ValidSignup { first_name, last_name, email, password, organization_name, job_title, policy_version })
        }
        _ => Err(AppError::Validation(errors)),
    }
}

#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
pub struct NewAccount {
    #[schema(value_type = String, format = Uuid)]
    pub organization_id: OrgId,
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
}

/// Creates an organization and its owner at once, without confirming the address: for seeding a
/// demo or an operator's tooling. People sign up through the verified flow (`crate::signup`).
pub async fn create_organization_unverified(
    state: &AppState,
    input: SignupInput,
    lang: Lang,
) -> Result<NewAccount, AppError> {
    let valid = validate_signup(state, input).await?;
    if !state.db.login_candidates(valid.email.as_str()).await?.is_empty() {
        return Err(AppError::field("email", "email_unavailable", "This email already has an account."));
    }
    let owner = NewOwner {
        email: valid.email.as_str().to_owned(),
        first_name: valid.first_name.as_str().to_owned(),
        last_name: valid.last_name.as_str().to_owned(),
        job_title: valid.job_title.as_str().to_owned(),
        organization_name: valid.organization_name.as_str().to_owned(),
        password_hash: hash_password(&valid.password).await?,
        language: lang.code().to_owned(),
        policy_version: valid.policy_version,
    };
    let (org, user) = (OrgId::new(), UserId::new());
    let mut tx = state.db.begin_org(org, Actor::User(user.0)).await?;
    insert_organization(state, &mut tx, user, &owner, state.clock.now()).await?;
    tx.commit().await?;
    tracing::info!(org = %org, user = %user, "organization created");
    Ok(NewAccount { organization_id: org, user_id: user })
}

/// A validated owner and organization, the password already hashed: what a confirmed sign-up
/// (or a demo seed) creates.
pub(crate) struct NewOwner {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub job_title: String,
    pub organization_name: String,
    pub password_hash: String,
    pub language: String,
    pub policy_version: String,
}

/// Writes the organization of the caller's tenant transaction (`tx.org()`), its owner `user`, the
/// owner's policy acceptance and the `org.signed_up` audit event. Every way an organization comes
/// to exist ends here.
pub(crate) async fn insert_organization(
    state: &AppState,
    tx: &mut kernel::OrgTx,
    user: UserId,
    owner: &NewOwner,
    now: time::OffsetDateTime,
) -> Result<(), AppError> {
    let org = tx.org();
    sqlx::query!(
        "insert into organizations (org_id, name, created_at) values ($1, $2, $3)",
        org.0,
        &owner.organization_name,
        now
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "insert into users (org_id, user_id, email, first_name, last_name, job_title, org_role, password_hash,
                            language, adult_attested_at, created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $10, $9, $9, $9)",
        org.0,
        user.0,
        &owner.email,
        &owner.first_name,
        &owner.last_name,
        &owner.job_title,
        OrgRole::Owner.as_str(),
        &owner.password_hash,
        now,
        &owner.language
    )
    .execute(tx.conn())
    .await?;
    sqlx::query!(
        "insert into policy_acceptances (org_id, user_id, version, accepted_at) values ($1, $2, $3, $4)",
        org.0,
        user.0,
        &owner.policy_version,
        now
    )
    .execute(tx.conn())
    .await?;
    state
        .audit
        .record(
            tx,
            AuditEvent::new("org.signed_up")
                .target("user", user.0)
                .payload(json!({ "role": "owner", "policy_version": owner.policy_version })),
        )
        .await?;
    Ok(())
}

/// A new browser session. The token goes in the cookie; the database keeps its SHA-256.
pub struct NewSession {
    pub token: SecretString,
    pub session_id: SessionId,
}

pub struct LoginInput {
    pub email: String,
    pub password: SecretString,
}

/// The same answer for an unknown email, a wrong password, a deactivated and a locked account.
fn bad_credentials() -> AppError {
    AppError::field("email", "bad_credentials", "The email or password is incorrect.")
}

/// Checks credentials and opens a session, recording the login (P0-03) and auditing it.
/// Rate-limited per client address and per email (P1-16); a locked account (P1-17) refuses every
/// password with the answer, and the bcrypt work, of a wrong one.
pub async fn log_in(state: &AppState, input: LoginInput, client: &ClientInfo) -> Result<NewSession, AppError> {
    let Authenticated { mut tx, user_id, now, .. } = check_credentials(state, &input, client).await?;
    let session = open_session(state, &mut tx, user_id, "password", json!({}), client, now).await?;
    tx.commit().await?;
    Ok(session)
}

/// Opens a browser session in the caller's tenant transaction — the session row (its token
/// hashed), the login event with IP and browser (P0-03, P2-07), `last_login_at`, and the audit
/// event. Every way of signing in (password, second factor, invitation, emailed link or code)
/// ends here, so none can forget a part.
pub async fn open_session(
    state: &AppState,
    tx: &mut kernel::OrgTx,
    user_id: Uuid,
    method: &str,
    audit_payload: serde_json::Value,
    client: &ClientInfo,
    now: time::OffsetDateTime,
) -> Result<NewSession, AppError> {
    let token = token::generate();
    let session_id = SessionId::new();
    sqlx::query!("insert into sessions (org_id, session_id, user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
         values ($1, $2, $3, $4, $5, $5, $6, $7, $8)", tx.org().0, session_id.0, user_id, &token::hash(&token)[..], now, now + SESSION_LIFETIME, client.ip.map(sqlx::types::ipnet::IpNet::from), client.user_agent.as_deref())
    .execute(tx.conn())
    .await?;
    record_login_success(tx, user_id, method, client, now).await?;
    let event = AuditEvent::new("auth.login.succeeded").target("session", session_id.0).payload(audit_payload);
    state.audit.record(tx, event).await?;
    Ok(NewSession { token, session_id })
}

/// A member whose password was just checked: the open tenant transaction (their row locked, the
/// lockout count cleared) in which the caller creates its credential, records the login with
/// [`record_login_success`] and commits. Nothing is kept unless the caller commits.
pub struct Authenticated {
    pub tx: kernel::OrgTx,
    pub org_id: OrgId,
    pub user_id: Uuid,
    pub now: time::OffsetDateTime,
}

/// The password check shared by the login form and the API's token endpoint: rate limits (P1-16),
/// the same answer and bcrypt work for every kind of failure, account lockout (P1-17), and the
/// failure recorded on the account. Opens no session: the caller decides which credential to issue.
pub async fn check_credentials(
    state: &AppState,
    input: &LoginInput,
    client: &ClientInfo,
) -> Result<Authenticated, AppError> {
    ratelimit::check(state, &ratelimit::LOGIN_PER_IP, ratelimit::Subject::Ip(client)).await?;
    ratelimit::check(state, &ratelimit::LOGIN_PER_ACCOUNT, ratelimit::Subject::Account(&input.email)).await?;
    let email = EmailAddress::parse("email", &input.email).map_err(|_| bad_credentials())?;
    let candidates = state.db.login_candidates(email.as_str()).await?;
    let mut matched = None;
    for candidate in &candidates {
        if verify_password(input.password.clone(), candidate.password_hash.clone()).await {
            matched = Some(candidate);
            break;
        }
    }
    if candidates.is_empty() {
        // Spend the same bcrypt time as a real check so timing does not reveal unknown emails.
        // (A locked account is checked against its real hash above: the same work again.)
        verify_password(input.password.clone(), DUMMY_HASH.clone()).await;
    }
    let Some(account) = matched.filter(|c| c.status == "active") else {
        if let Some(first) = candidates.first() {
            record_failed_login(state, first.org_id, first.user_id, client).await?;
        }
        return Err(bad_credentials());
    };

    let now = state.clock.now();
    let mut tx = state.db.begin_org(account.org_id, Actor::User(account.user_id)).await?;
    if throttle::locked_until(&mut tx, account.user_id, now).await?.is_some() {
        // The right password on a locked account: a failure like any other, told apart by nothing.
        drop(tx);
        record_failed_login(state, account.org_id, account.user_id, client).await?;
        return Err(bad_credentials());
    }
    throttle::reset(&mut tx, account.user_id).await?;
    Ok(Authenticated { tx, org_id: account.org_id, user_id: account.user_id, now })
}

/// Records a successful login (P0-03) in the transaction [`check_credentials`] opened.
pub async fn record_login_success(
    tx: &mut kernel::OrgTx,
    user_id: Uuid,
    method: &str,
    client: &ClientInfo,
    now: time::OffsetDateTime,
) -> Result<(), sqlx::Error> {
    insert_login_event(tx, user_id, "success", method, client, now).await?;
    sqlx::query!("update users set last_login_at = $3 where org_id = $1 and user_id = $2", tx.org().0, user_id, now)
        .execute(tx.conn())
        .await?;
    Ok(())
}

/// One row of `login_events`: who, when, how (`method`), from where (P0-03).
pub async fn insert_login_event(
    tx: &mut kernel::OrgTx,
    user_id: Uuid,
    outcome: &str,
    method: &str,
    client: &ClientInfo,
    now: time::OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into login_events (org_id, event_id, user_id, occurred_at, outcome, method, ip, user_agent)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        tx.org().0,
        Uuid::now_v7(),
        user_id,
        now,
        outcome,
        method,
        client.ip.map(sqlx::types::ipnet::IpNet::from),
        client.user_agent.as_deref()
    )
    .execute(tx.conn())
    .await?;
    Ok(())
}

async fn record_failed_login(state: &AppState, org: OrgId, user: Uuid, client: &ClientInfo) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(org, Actor::Anonymous).await?;
    insert_login_event(&mut tx, user, "failure", "password", client, state.clock.now()).await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.login.failed").target("user", user)).await?;
    throttle::count_failure(state, &mut tx, user).await?;
    tx.commit().await?;
    Ok(())
}

/// Ends one session and audits it.
pub async fn log_out(state: &AppState, org: OrgId, user: Uuid, session_id: Uuid) -> Result<(), AppError> {
    let mut tx = state.db.begin_org(org, Actor::User(user)).await?;
    sqlx::query!("delete from sessions where org_id = $1 and session_id = $2", org.0, session_id)
        .execute(tx.conn())
        .await?;
    state.audit.record(&mut tx, AuditEvent::new("auth.logout").target("session", session_id)).await?;
    tx.commit().await?;
    Ok(())
}
