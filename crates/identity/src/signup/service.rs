//! Sign-up: validating the form, asking (a pending sign-up and its mail), confirming, and creating
//! the organization with its owner.

use super::*;
use crate::doors::{IdentityDoors, PendingSignup};
use kernel::audit::AuditEvent;
use kernel::db::Actor;
use kernel::i18n::{Lang, T};
use kernel::mail::{Mailer, OutgoingMail};
use kernel::ratelimit;
use kernel::token;
use kernel::web::{AppState, ClientInfo};
use secrecy::ExposeSecret;
use serde_json::json;
use uuid::Uuid;

use crate::model::{OrgRole, hash_password};

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

/// Creates an organization and its owner at once, without confirming the address: for seeding a
/// demo or an operator's tooling. People sign up through the verified flow ([`request_signup`]).
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
    crate::members::record_policy_acceptance(tx, user.0, &owner.policy_version, now).await?;
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

/// Handles a sign-up request: validates, then either stores a pending sign-up and mails its link,
/// or mails the address's owner a notice. The caller answers the same in both cases.
pub async fn request_signup(
    state: &AppState,
    input: SignupInput,
    lang: Lang,
    client: &ClientInfo,
) -> Result<(), AppError> {
    ratelimit::check(state, &ratelimit::SIGNUP_PER_IP, ratelimit::Subject::Ip(client)).await?;
    let valid = validate_signup(state, input).await?;
    // Per address only once valid: what it limits is the mail each valid request sends there.
    ratelimit::check(state, &ratelimit::SIGNUP_PER_ACCOUNT, ratelimit::Subject::Account(valid.email.as_str())).await?;
    let mailer = Mailer::from_config(&state.config).map_err(|e| AppError::Unavailable(e.to_string()))?;
    if !mailer.is_configured() {
        // A configuration fact, the same for every address: saying so reveals nothing.
        return Err(AppError::Unavailable(
            "sign-up needs mail: set RELAIS_SMTP_URL (or RELAIS_MAIL_OUTBOX for a local demo)".into(),
        ));
    }
    // Hashed in both branches, so an address with an account answers as slowly as a new one.
    let password_hash = hash_password(&valid.password).await?;
    let t = T(lang);
    let email = valid.email.as_str();
    let message = if state.db.login_candidates(email).await?.is_empty() {
        let secret = token::generate();
        let now = state.clock.now();
        state
            .db
            .put_pending_signup(&PendingSignup {
                signup_id: Uuid::now_v7(),
                email,
                token_hash: token::hash(&secret),
                first_name: valid.first_name.as_str(),
                last_name: valid.last_name.as_str(),
                job_title: valid.job_title.as_str(),
                organization_name: valid.organization_name.as_str(),
                password_hash: &password_hash,
                language: lang.code(),
                policy_version: &valid.policy_version,
                created_at: now,
                expires_at: now + PENDING_LIFETIME,
            })
            .await?;
        let link = state.config.public_url.join(&format!("/signup/confirm?token={}", secret.expose_secret()));
        OutgoingMail {
            to: email.to_owned(),
            subject: t.get("mail.signup_verify.subject").to_owned(),
            text: t.fmt(
                "mail.signup_verify.body",
                &[("name", valid.first_name.as_str()), ("org", valid.organization_name.as_str()), ("link", &link)],
            ),
            html: None,
        }
    } else {
        let login = state.config.public_url.join("/login");
        let reset = state.config.public_url.join("/password-reset");
        OutgoingMail {
            to: email.to_owned(),
            subject: t.get("mail.signup_exists.subject").to_owned(),
            text: t.fmt("mail.signup_exists.body", &[("login", &login), ("reset", &reset)]),
            html: None,
        }
    };
    if let Err(error) = mailer.send(&message).await {
        // Logged without the address; the answer stays the same (see the module documentation).
        tracing::warn!(error = %error, "sign-up mail could not be delivered");
    }
    Ok(())
}

/// Spends a sign-up link and creates its organization and owner.
pub async fn confirm_signup(state: &AppState, secret: &SecretString) -> Result<Confirmed, AppError> {
    let candidate = secret.expose_secret().trim();
    if candidate.is_empty() || candidate.len() > MAX_TOKEN_CHARS {
        return Err(link_no_longer_valid());
    }
    let hash = token::hash(&SecretString::from(candidate));
    let now = state.clock.now();
    let (org, user) = (OrgId::new(), UserId::new());
    let mut tx = state.db.begin_org(org, Actor::User(user.0)).await?;
    let taken: Option<TakenSignup> = sqlx::query_as!(
        TakenSignup,
        r#"select email as "email!", first_name as "first_name!", last_name as "last_name!",
                  job_title as "job_title!", organization_name as "organization_name!",
                  password_hash as "password_hash!", language as "language!", policy_version as "policy_version!"
           from app.pending_signup_take($1, $2)"#,
        hash.as_slice(),
        now
    )
    .fetch_optional(tx.conn())
    .await?;
    let Some(taken) = taken else {
        // Commit what the take did: an expired row of this token is gone either way.
        tx.commit().await?;
        return Err(link_no_longer_valid());
    };
    let in_use: i64 = sqlx::query_scalar!(r#"select count(*) as "count!" from app.login_candidates($1)"#, &taken.email)
        .fetch_one(tx.conn())
        .await?;
    if in_use > 0 {
        // The address got an account since the request: the link is spent, nothing is created.
        tx.commit().await?;
        return Err(link_no_longer_valid());
    }
    let owner = NewOwner {
        email: taken.email,
        first_name: taken.first_name,
        last_name: taken.last_name,
        job_title: taken.job_title,
        organization_name: taken.organization_name,
        password_hash: taken.password_hash,
        language: taken.language,
        policy_version: taken.policy_version,
    };
    insert_organization(state, &mut tx, user, &owner, now).await?;
    tracing::info!(org = %org, user = %user, "organization signed up (address confirmed)");
    Ok(Confirmed { tx, account: NewAccount { organization_id: org, user_id: user }, now })
}
