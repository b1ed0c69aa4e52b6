//! The vault seen from outside: a stock libsodium binding opens what it seals (P0-06), each
//! organization has its own key derived from the master key (P0-07), and no Debug output shows a
//! secret (P0-08).

use identity::doors::IdentityDoors;
use std::collections::HashMap;
use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kernel::OrgId;
use kernel::config::Config;
use kernel::keys::MasterKey;
use kernel::vault::{SecretContext, Vault, VaultError};
use secrecy::{ExposeSecret, SecretString};
use testkit::TestApp;
use uuid::Uuid;

/// Opens a stored vault blob with PyNaCl (libsodium's `crypto_secretbox_open_easy`), splitting it
/// by the documented layout: `0x01 | key_version u32 BE | nonce (24) | MAC + ciphertext`.
/// Exit 0 prints the plaintext in hex; exit 4 means libsodium refused the box; exit 3 means PyNaCl
/// is missing.
const PYNACL_OPEN: &str = r#"
import sys
try:
    import nacl.secret
    import nacl.exceptions
except ImportError as error:
    print(f"PyNaCl is not importable: {error}", file=sys.stderr)
    sys.exit(3)
key = bytes.fromhex(sys.argv[1])
blob = bytes.fromhex(sys.argv[2])
if blob[0] != 1:
    print(f"unknown format byte {blob[0]}", file=sys.stderr)
    sys.exit(5)
nonce = blob[5:29]
boxed = blob[29:]
try:
    plaintext = nacl.secret.SecretBox(key).decrypt(boxed, nonce)
except nacl.exceptions.CryptoError as error:
    print(f"CryptoError: {error}", file=sys.stderr)
    sys.exit(4)
print(plaintext.hex())
"#;

const INSTALL_HINT: &str = "the libsodium interoperability test needs Python 3 with PyNaCl: \
     run `python3 -m pip install pynacl` or `apt-get install python3-nacl`, or point \
     RELAIS_TEST_PYTHON at an interpreter that has it (scripts/test.sh does this)";

fn python() -> String {
    std::env::var("RELAIS_TEST_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Runs the PyNaCl program; fails the test (never skips) when Python or PyNaCl is missing.
fn pynacl_open(key: &[u8; 32], blob: &[u8]) -> Output {
    let interpreter = python();
    let output = Command::new(&interpreter)
        .arg("-c")
        .arg(PYNACL_OPEN)
        .arg(hex::encode(key))
        .arg(hex::encode(blob))
        .output()
        .unwrap_or_else(|error| panic!("cannot run `{interpreter}` ({error}): {INSTALL_HINT}"));
    if output.status.code() == Some(3) {
        panic!("`{interpreter}` has no PyNaCl ({}): {INSTALL_HINT}", String::from_utf8_lossy(&output.stderr).trim());
    }
    output
}

/// The context binding as documented in `kernel::vault`: a tag, then each part with a u16 BE
/// length prefix. Rebuilt here by hand so the test checks the stored format, not the code.
fn expected_binding(org: OrgId, record_kind: &str, record_id: Uuid, field: &str) -> Vec<u8> {
    let mut out = b"relais-vault-v1".to_vec();
    for part in [org.0.as_bytes().as_slice(), record_kind.as_bytes(), record_id.as_bytes().as_slice(), field.as_bytes()]
    {
        out.extend_from_slice(&(part.len() as u16).to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

fn mailbox_password(org: OrgId, record_id: Uuid) -> SecretContext<'static> {
    SecretContext { org, record_kind: "mailbox", record_id, field: "password" }
}

/// P0-06: a secret sealed by the vault opens with PyNaCl, a stock libsodium binding, using the
/// organization's key: the plaintext is the length-prefixed context binding followed by the secret.
#[tokio::test]
async fn p0_06_a_sealed_secret_opens_with_stock_libsodium() {
    let app = TestApp::spawn().await;
    let (org, record_id) = (OrgId::new(), Uuid::now_v7());
    let secret = "imap-pässwörd-🔑-42";
    let sealed = app.state.vault.seal(&mailbox_password(org, record_id), &SecretString::from(secret));
    let key = app.state.vault.export_org_key_for_interop_test(org);

    assert_eq!(sealed[0], 0x01, "format byte");
    assert_eq!(&sealed[1..5], &1u32.to_be_bytes(), "key version, u32 big-endian");
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()), "the secret is visible in the blob");

    let output = pynacl_open(&key, &sealed);
    assert!(
        output.status.success(),
        "PyNaCl could not open the vault's ciphertext: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plaintext = hex::decode(String::from_utf8(output.stdout).expect("utf-8").trim()).expect("hex from python");

    assert!(plaintext.ends_with(secret.as_bytes()), "plaintext does not end with the secret");
    let binding = expected_binding(org, "mailbox", record_id, "password");
    assert_eq!(&plaintext[..2], &(binding.len() as u16).to_be_bytes(), "2-byte length prefix of the binding");
    assert!(plaintext[2..].starts_with(b"relais-vault-v1"));
    let mut expected = (binding.len() as u16).to_be_bytes().to_vec();
    expected.extend_from_slice(&binding);
    expected.extend_from_slice(secret.as_bytes());
    assert_eq!(plaintext, expected, "plaintext is exactly len(binding) | binding | secret");
}

/// P0-06 / P0-07: PyNaCl given another organization's key cannot open the secret.
#[tokio::test]
async fn p0_06_libsodium_with_another_orgs_key_cannot_open_the_secret() {
    let app = TestApp::spawn().await;
    let (org_a, org_b) = (OrgId::new(), OrgId::new());
    let sealed = app.state.vault.seal(&mailbox_password(org_a, Uuid::now_v7()), &SecretString::from("s3cret-of-a"));

    let wrong = pynacl_open(&app.state.vault.export_org_key_for_interop_test(org_b), &sealed);
    assert_eq!(
        wrong.status.code(),
        Some(4),
        "expected libsodium to refuse the box; stdout={} stderr={}",
        String::from_utf8_lossy(&wrong.stdout),
        String::from_utf8_lossy(&wrong.stderr)
    );
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("CryptoError"));
    // Control: the right key does open it, so the refusal above is the key's doing.
    let right = pynacl_open(&app.state.vault.export_org_key_for_interop_test(org_a), &sealed);
    assert!(right.status.success(), "{}", String::from_utf8_lossy(&right.stderr));
}

fn config_with_master_key(master_key: &str) -> Config {
    let vars: HashMap<String, String> =
        [("RELAIS_MASTER_KEY".to_string(), master_key.to_string())].into_iter().collect();
    Config::from_vars(&vars).expect("config")
}

/// P0-07: each organization has its own key; a blob sealed for org A opens neither for org B nor
/// under a vault with another master key, while a vault built from the same `RELAIS_MASTER_KEY`
/// opens it.
#[tokio::test]
async fn p0_07_each_org_has_its_own_key_derived_from_the_master_key() {
    let app = TestApp::spawn().await;
    let vault = &app.state.vault;
    let (org_a, org_b, record) = (OrgId::new(), OrgId::new(), Uuid::now_v7());

    let key_a = vault.export_org_key_for_interop_test(org_a);
    let key_b = vault.export_org_key_for_interop_test(org_b);
    assert_ne!(key_a, key_b, "two orgs share a key");
    assert_ne!(key_a, [0u8; 32]);
    assert_eq!(key_a, vault.export_org_key_for_interop_test(org_a), "derivation is deterministic");

    let sealed = vault.seal(&mailbox_password(org_a, record), &SecretString::from("s3cret-of-a"));
    let opened = vault.open(&mailbox_password(org_a, record), &sealed).expect("org A opens its own secret");
    assert_eq!(opened.expose_secret(), "s3cret-of-a");
    assert_eq!(vault.open(&mailbox_password(org_b, record), &sealed).unwrap_err(), VaultError::WrongKey);

    // Another master key: nothing opens, and every org key differs.
    let other = Vault::new(config_with_master_key(&MasterKey::generate_base64()).require_master_key().unwrap());
    assert_eq!(other.open(&mailbox_password(org_a, record), &sealed).unwrap_err(), VaultError::WrongKey);
    assert_ne!(other.export_org_key_for_interop_test(org_a), key_a);

    // The same master key (as read from the environment) is all it takes to open it again.
    let same_master = app.state.config.master_key.clone().expect("the app has a master key");
    let restarted = Vault::new(same_master);
    let reopened = restarted.open(&mailbox_password(org_a, record), &sealed).expect("same master key opens");
    assert_eq!(reopened.expose_secret(), "s3cret-of-a");

    // And two vaults configured from the same RELAIS_MASTER_KEY text agree with each other.
    let text = MasterKey::generate_base64();
    let first = Vault::new(config_with_master_key(&text).require_master_key().unwrap());
    let second = Vault::new(config_with_master_key(&text).require_master_key().unwrap());
    let blob = first.seal(&mailbox_password(org_b, record), &SecretString::from("s3cret-of-b"));
    assert_eq!(second.open(&mailbox_password(org_b, record), &blob).unwrap().expose_secret(), "s3cret-of-b");
}

/// Every way `bytes` could show up in a Debug string: hex, base64, and Rust's `[1, 2, 3]` form.
fn renderings(bytes: &[u8]) -> Vec<String> {
    let debug_list = format!("{bytes:?}");
    vec![
        hex::encode(bytes),
        hex::encode_upper(bytes),
        STANDARD.encode(bytes),
        debug_list.clone(),
        // The first eight numbers of the list form, in case only part of it is printed.
        debug_list.split(", ").take(8).collect::<Vec<_>>().join(", "),
    ]
}

fn assert_hides(debug: &str, what: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!debug.contains(secret.as_str()), "{what}'s Debug output shows a secret ({secret}): {debug}");
    }
}

/// P0-08: the Debug output of a SecretString, a Vault, a MasterKey, a LoginCandidate and the whole
/// Config shows no secret: no key (in any encoding), no password hash, no database password.
#[tokio::test]
async fn p0_08_debug_output_never_shows_a_secret() {
    let app = TestApp::spawn().await;

    let secret = "mailbox-password-Zq93!";
    let debug = format!("{:?}", SecretString::from(secret));
    assert_hides(&debug, "SecretString", &[secret.to_string(), "Zq93".to_string()]);

    let master_text = MasterKey::generate_base64();
    let master_bytes = STANDARD.decode(&master_text).unwrap();
    let master = MasterKey::parse(&master_text).unwrap();
    let mut secrets = renderings(&master_bytes);
    secrets.push(master_text.clone());
    assert_hides(&format!("{master:?}"), "MasterKey", &secrets);

    let vault = Vault::new(Arc::new(master));
    let org = OrgId::new();
    secrets.extend(renderings(&vault.export_org_key_for_interop_test(org)));
    assert_hides(&format!("{vault:?}"), "Vault", &secrets);
    let app_vault_debug = format!("{:?}", app.state.vault);
    assert_hides(
        &app_vault_debug,
        "the app's Vault",
        &renderings(&app.state.vault.export_org_key_for_interop_test(org)),
    );

    // A real login candidate, read through the same door the login uses.
    app.sign_up("debug@example.eu").await;
    let candidates = app.db.login_candidates("debug@example.eu").await.unwrap();
    assert_eq!(candidates.len(), 1);
    let hash = candidates[0].password_hash.clone();
    assert!(hash.starts_with("$2b$"), "{hash}");
    let debug = format!("{candidates:?}");
    assert!(debug.contains(&candidates[0].user_id.to_string()), "Debug should still identify the row: {debug}");
    assert_hides(&debug, "LoginCandidate", &[hash.clone(), hash[7..].to_string(), "$2b$".to_string()]);

    // The configuration as read from the environment.
    let vars: HashMap<String, String> = [
        ("RELAIS_MASTER_KEY", master_text.as_str()),
        ("DATABASE_URL", "postgres://relais_owner:Owner-Pw-7f3k@db.example.eu:5432/relais"),
        ("RELAIS_APP_DATABASE_URL", "postgres://relais_app:App-Pw-9d2m@db.example.eu:5432/relais"),
        ("RELAIS_SMTP_URL", "smtps://mailer:Smtp-Pw-4h8q@mail.example.eu:465"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let config = Config::from_vars(&vars).expect("config");
    let debug = format!("{config:?}");
    assert!(debug.contains("External"), "Config's Debug should show its shape: {debug}");
    let mut secrets = renderings(&master_bytes);
    secrets.extend([master_text, "Owner-Pw-7f3k".into(), "App-Pw-9d2m".into(), "Smtp-Pw-4h8q".into()]);
    assert_hides(&debug, "Config", &secrets);
    let app_config_debug = format!("{:?}", app.state.config);
    assert!(app_config_debug.contains("MasterKey"), "{app_config_debug}");
    assert_hides(
        &app_config_debug,
        "the app's Config",
        &renderings(&app.state.vault.export_org_key_for_interop_test(org)),
    );
}

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("{start:?} not in {html}")) + start.len();
    let rest = &html[from..];
    &rest[..rest.find(end).expect("end marker")]
}

/// The TOTP secret `/settings/mfa` shows a member who has not finished enrolling (opening it
/// from the vault), sealing a new one on the first visit.
async fn mfa_secret_shown(browser: &testkit::Browser) -> String {
    let page = browser.get("/settings/mfa").await;
    assert_eq!(page.status(), 200);
    between(&page.text().await.unwrap(), "id=\"totp-secret\">", "<").to_string()
}

/// P0-06, P0-07 (issue #10 item 27), end to end: a sealed value moved in the database by whoever
/// owns it — a member's TOTP secret put in place of another member's (another record), a webhook
/// signing secret put in a TOTP secret's column (another field), another organization's TOTP
/// secret (another org) — is refused by the app where it opens it: the page that shows an
/// enrolling member's secret and the API that checks a code answer 409 with a plain message, show
/// none of the secrets, no internal detail, and are no 500. Put back, the member's own secret opens.
#[tokio::test]
async fn p0_06_a_sealed_value_moved_in_the_database_is_refused_by_the_app() {
    use kernel::authz::Role;
    use reqwest::Method;
    use testkit::PASSWORD;

    let app = TestApp::spawn_with(&[("RELAIS_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let (org_a, owner_a, bearer_a) = app.sign_up_with_token("owner@vault-a.example.eu").await;
    let (org_b, owner_b) = app.sign_up("owner@vault-b.example.eu").await;
    let member = app.add_member(org_a, "member@vault-a.example.eu", Role::User).await;
    let member_browser = app.browser_login("member@vault-a.example.eu", PASSWORD).await;
    let owner_b_browser = app.browser_login("owner@vault-b.example.eu", PASSWORD).await;
    let member_secret = mfa_secret_shown(&member_browser).await;
    let owner_a_secret = mfa_secret_shown(&app.browser_login("owner@vault-a.example.eu", PASSWORD).await).await;
    let owner_b_secret = mfa_secret_shown(&owner_b_browser).await;
    let (status, endpoint) = app
        .call_api(
            &bearer_a,
            Method::POST,
            "/api/v1/webhooks",
            Some(serde_json::json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] })),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let webhook_secret = endpoint["secret"].as_str().unwrap().to_string();

    let mut su = app.superuser_connection().await;
    let factor = "select secret_sealed from mfa_factors where org_id = $1 and user_id = $2";
    let sealed_factor = |org: OrgId, user: Uuid| sqlx::query_scalar::<_, Vec<u8>>(factor).bind(org).bind(user);
    let own = sealed_factor(org_a, member).fetch_one(&mut su).await.unwrap();
    let moves: [(&str, Vec<u8>); 3] = [
        ("another record: the owner's TOTP secret", sealed_factor(org_a, owner_a.0).fetch_one(&mut su).await.unwrap()),
        (
            "another field: the organization's webhook signing secret",
            sqlx::query_scalar("select secret_sealed from webhook_endpoints where org_id = $1")
                .bind(org_a)
                .fetch_one(&mut su)
                .await
                .unwrap(),
        ),
        (
            "another organization: a member's TOTP secret there",
            sealed_factor(org_b, owner_b.0).fetch_one(&mut su).await.unwrap(),
        ),
    ];
    let put = "update mfa_factors set secret_sealed = $3 where org_id = $1 and user_id = $2";
    let secrets = [&member_secret, &owner_a_secret, &owner_b_secret, &webhook_secret];
    for (what, moved) in &moves {
        sqlx::query(put).bind(org_a).bind(member).bind(moved).execute(&mut su).await.unwrap();
        let page = member_browser.get("/settings/mfa").await;
        assert_eq!(page.status(), 409, "{what}: the page answered {}", page.status());
        let html = page.text().await.unwrap();
        assert!(html.contains("A stored secret could not be opened"), "{what}: no clear message: {html}");
        for secret in secrets {
            assert!(!html.contains(secret.as_str()), "{what}: a secret is on the page");
        }
        for detail in ["another record or field", "organization's key", &org_a.to_string(), &member.to_string()] {
            assert!(!html.contains(detail), "{what}: the page shows an internal detail ({detail})");
        }
    }
    sqlx::query(put).bind(org_a).bind(member).bind(&own).execute(&mut su).await.unwrap();
    assert_eq!(mfa_secret_shown(&member_browser).await, member_secret, "put back, the member's secret opens again");

    // The API opens an enrolled member's secret to check a code: moved, it is refused the same way.
    let csrf = owner_b_browser.csrf_token("/settings/mfa").await;
    let enrolled = owner_b_browser
        .post_form("/settings/mfa/enroll", &[("csrf", csrf.as_str()), ("code", &app.totp_code(&owner_b_secret))])
        .await;
    assert_eq!(enrolled.status(), 200);
    let own_b = sealed_factor(org_b, owner_b.0).fetch_one(&mut su).await.unwrap();
    sqlx::query(put).bind(org_b).bind(owner_b.0).bind(&moves[0].1).execute(&mut su).await.unwrap();
    app.clock.advance(time::Duration::seconds(30));
    let login =
        |code: String| serde_json::json!({ "email": "owner@vault-b.example.eu", "password": PASSWORD, "otp": code });
    let response = app.post_json("/api/v1/auth/token", &login(app.totp_code(&owner_b_secret))).await;
    assert_eq!(response.status(), 409);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "/docs/problems#secret-refused", "{problem}");
    assert!(problem["detail"].as_str().unwrap_or_default().contains("could not be opened"), "{problem}");
    assert!(problem.get("access_token").is_none());
    sqlx::query(put).bind(org_b).bind(owner_b.0).bind(&own_b).execute(&mut su).await.unwrap();
    let response = app.post_json("/api/v1/auth/token", &login(app.totp_code(&owner_b_secret))).await;
    assert_eq!(response.status(), 200, "put back, the secret checks the code again");
}
