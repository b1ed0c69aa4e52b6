//! Sign-up over the JSON API and the HTML form: exactly the account fields are stored (P0-01),
//! passwords only as bcrypt hashes (P0-02, P1-02), an age attestation is required (P1-19), every
//! bad field is reported at once and nothing is written until the whole request is valid, and the
//! session cookie is HttpOnly, Secure and SameSite (P1-10).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use testkit::db::{DatabaseScan, find_in_database};
use testkit::http::header;
use testkit::signup::signup_form_fields;
use testkit::{Browser, TestApp};

async fn assert_nothing_written(app: &TestApp, after: &str) {
    let counts = app.signup_table_row_counts().await;
    assert!(counts.iter().all(|(_, n)| *n == 0), "rows were written after {after}: {counts:?}");
}

/// Sends a JSON sign-up and returns status, content type and body, parsed as JSON.
async fn post_signup_json(app: &TestApp, body: &Value) -> (u16, String, Value) {
    let (status, content_type, text) = app.post_signup(body).await;
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, content_type, json)
}

/// Follows the confirmation link of `email` in `browser` — the landing page, then its button — and
/// returns the button's response.
async fn confirm_in_browser(app: &TestApp, browser: &Browser, email: &str) -> reqwest::Response {
    let token = app.signup_token(email).expect("a confirmation mail");
    let landing = browser.get(&format!("/signup/confirm?token={token}")).await;
    assert_eq!(landing.status(), 200);
    let html = landing.text().await.unwrap();
    assert!(html.contains("action=\"/signup/confirm\"") && html.contains(&token), "{html}");
    browser.post_form("/signup/confirm", &[("token", &token)]).await
}

/// The (field, code) pairs of a problem+json body.
fn field_errors(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {problem}"))
        .iter()
        .map(|e| {
            let message = e["message"].as_str().unwrap_or_default();
            assert!(!message.trim().is_empty(), "an error without a message: {e}");
            (e["field"].as_str().expect("field").to_string(), e["code"].as_str().expect("code").to_string())
        })
        .collect()
}

/// P0-01: a valid sign-up returns 202 (a confirmation link is mailed); confirming it returns 201
/// with the new ids and stores exactly the account data: first name, last name, normalized email,
/// job title, the owner role, the organization's name and the accepted policy version. Extra
/// fields sent along are stored nowhere.
#[tokio::test]
async fn p0_01_signup_stores_exactly_the_account_fields() {
    let app = TestApp::spawn().await;
    let policy = app.current_policy_version().await;
    let body = json!({
        "first_name": "  Ada ",
        "last_name": "Lovelace",
        "email": "  Ada.Lovelace@Example.EU ",
        "password": testkit::PASSWORD,
        "organization_name": "Analytical Engines SARL",
        "job_title": "Head of sales",
        "adult": true,
        "accepted_policy_version": policy,
        "phone": "+33 6 98 76 54 32",
        "date_of_birth": "1815-12-10",
    });
    let (status, _, answer) = post_signup_json(&app, &body).await;
    assert_eq!((status, &answer), (202, &json!({ "status": "verification_sent" })));
    let (status, answer) = app.post_signup_confirmation("ada.lovelace@example.eu").await;
    assert_eq!(status, 201, "{answer}");
    let keys: BTreeSet<&str> = answer.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["organization_id", "user_id"]));
    let org: uuid::Uuid = answer["organization_id"].as_str().unwrap().parse().expect("org uuid");
    let user: uuid::Uuid = answer["user_id"].as_str().unwrap().parse().expect("user uuid");

    let mut db = app.superuser_connection().await;
    let rows: Vec<Value> = sqlx::query_scalar("select to_jsonb(u) from users u").fetch_all(&mut db).await.unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["org_id"], json!(org.to_string()));
    assert_eq!(row["user_id"], json!(user.to_string()));
    assert_eq!(row["first_name"], "Ada");
    assert_eq!(row["last_name"], "Lovelace");
    assert_eq!(row["email"], "ada.lovelace@example.eu");
    assert_eq!(row["job_title"], "Head of sales");
    assert_eq!(row["org_role"], "owner");
    assert_eq!(row["status"], "active");
    assert!(row["password_hash"].as_str().unwrap().starts_with("$2b$12$"));
    assert!(row["adult_attested_at"].is_string(), "the age attestation is recorded: {row}");
    assert!(row["last_login_at"].is_null());
    // "Exactly these, nothing more": person-provided data is limited to the fields above; the
    // other columns are ids, status, language and timestamps. A new column must be weighed
    // against P0-01 before this list grows.
    let columns: BTreeSet<&str> = row.as_object().unwrap().keys().map(String::as_str).collect();
    let expected = BTreeSet::from([
        "org_id",
        "user_id",
        "email",
        "first_name",
        "last_name",
        "job_title",
        "org_role",
        "password_hash",
        "language",
        // Display preference like the language (issue #11): which clock dates are shown in; a
        // default zone, never asked at sign-up.
        "time_zone",
        "status",
        "adult_attested_at",
        "created_at",
        "updated_at",
        "last_login_at",
        // Account lockout state (P1-17): counted by the system, not provided by the person.
        "failed_logins",
        "locked_until",
        // API token revocation (P1-13): set by the system.
        "tokens_not_before",
    ]);
    assert_eq!(columns, expected, "users columns changed: check P0-01");

    let orgs: Vec<(uuid::Uuid, String, String)> =
        sqlx::query_as("select org_id, name, status from organizations").fetch_all(&mut db).await.unwrap();
    assert_eq!(orgs, vec![(org, "Analytical Engines SARL".to_string(), "active".to_string())]);

    let acceptances: Vec<(uuid::Uuid, uuid::Uuid, String)> =
        sqlx::query_as("select org_id, user_id, version from policy_acceptances").fetch_all(&mut db).await.unwrap();
    assert_eq!(acceptances, vec![(org, user, policy)]);

    let actions: Vec<String> = sqlx::query_scalar("select action from audit_events where org_id = $1")
        .bind(org)
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert_eq!(actions, vec!["org.signed_up".to_string()]);

    for extra in ["+33 6 98 76 54 32", "1815-12-10"] {
        let found = find_in_database(&mut db, extra).await.found;
        assert!(found.is_empty(), "an extra sign-up field ({extra}) was stored in {found:?}");
    }
}

/// P1-19: without the age attestation (false or missing) the sign-up is refused with a
/// problem+json error on `adult`, and nothing at all is written; the same for a policy version
/// other than the one in force. The same body with both fixed then succeeds.
#[tokio::test]
async fn p1_19_signup_without_age_attestation_or_current_policy_writes_nothing() {
    let app = TestApp::spawn().await;
    let valid = app.signup_body("minor@example.eu").await;

    let mut not_adult = valid.clone();
    not_adult["adult"] = json!(false);
    let mut adult_missing = valid.clone();
    adult_missing.as_object_mut().unwrap().remove("adult");
    for (case, body) in [("adult: false", &not_adult), ("adult missing", &adult_missing)] {
        let (status, content_type, problem) = post_signup_json(&app, body).await;
        assert_eq!(status, 422, "{case}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{case}");
        assert_eq!(field_errors(&problem), vec![("adult".to_string(), "must_be_adult".to_string())], "{case}");
        assert_nothing_written(&app, case).await;
    }

    for version in ["1999-01-01", ""] {
        let mut old_policy = valid.clone();
        old_policy["accepted_policy_version"] = json!(version);
        let (status, _, problem) = post_signup_json(&app, &old_policy).await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(
            field_errors(&problem),
            vec![("accepted_policy_version".to_string(), "policy_not_accepted".to_string())]
        );
        assert_nothing_written(&app, &format!("policy version {version:?}")).await;
    }

    // Control: the counts do move when the sign-up is valid.
    let (status, _, answer) = post_signup_json(&app, &valid).await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = app.post_signup_confirmation("minor@example.eu").await;
    assert_eq!(status, 201, "{answer}");
    let counts = app.signup_table_row_counts().await;
    for table in ["organizations", "users", "policy_acceptances", "audit_events"] {
        assert!(counts.contains(&(table, 1)), "{table} after a valid sign-up: {counts:?}");
    }
}

/// Every bad field is reported at once, each with its field and code, as RFC 9457 problem+json;
/// nothing is written.
#[tokio::test]
async fn signup_reports_every_bad_field_at_once_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let mut body = app.signup_body("ok@example.eu").await;
    body["first_name"] = json!("");
    body["email"] = json!("not-an-email");
    body["password"] = json!("short");
    body["organization_name"] = json!("x".repeat(201));

    let (status, content_type, problem) = post_signup_json(&app, &body).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["status"], 422);
    assert!(problem["type"].as_str().is_some_and(|t| !t.is_empty()), "{problem}");
    assert!(problem["title"].as_str().is_some_and(|t| !t.is_empty()), "{problem}");
    let errors: BTreeSet<(String, String)> = field_errors(&problem).into_iter().collect();
    let expected: BTreeSet<(String, String)> = [
        ("first_name", "required"),
        ("email", "invalid_email"),
        ("password", "password_too_short"),
        ("organization_name", "too_long"),
    ]
    .into_iter()
    .map(|(f, c)| (f.to_string(), c.to_string()))
    .collect();
    assert_eq!(errors, expected);
    assert_eq!(problem["errors"].as_array().unwrap().len(), 4, "one entry per bad field: {problem}");
    assert_nothing_written(&app, "an invalid sign-up").await;
}

/// P0-02 / P1-02: a password over bcrypt's 72 bytes is refused (never silently cut); a stored
/// password is a `$2b$12$` bcrypt hash, and the plaintext appears in no column of any table, even
/// after the owner logged in.
#[tokio::test]
async fn p0_02_p1_02_passwords_are_stored_only_as_bcrypt_cost_12_hashes() {
    let app = TestApp::spawn().await;
    for (case, password) in [("73 ASCII bytes", "a".repeat(73)), ("25 three-byte characters", "€".repeat(25))] {
        let mut body = app.signup_body("long@example.eu").await;
        body["password"] = json!(password);
        let (status, _, problem) = post_signup_json(&app, &body).await;
        assert_eq!(status, 422, "{case}: {problem}");
        assert_eq!(field_errors(&problem), vec![("password".to_string(), "password_too_long".to_string())], "{case}");
        assert_nothing_written(&app, case).await;
    }

    let password = "Quokka-Zebra-Plaintext-7731";
    let mut body = app.signup_body("hash@example.eu").await;
    body["password"] = json!(password);
    let (status, _, answer) = post_signup_json(&app, &body).await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = app.post_signup_confirmation("hash@example.eu").await;
    assert_eq!(status, 201, "{answer}");
    // The login goes through bcrypt verification and writes sessions and login events too.
    let browser = app.browser_login("hash@example.eu", password).await;
    assert_eq!(browser.get("/dashboard").await.status(), 200);

    let mut db = app.superuser_connection().await;
    let hash: String = sqlx::query_scalar("select password_hash from users where email = 'hash@example.eu'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(hash.starts_with("$2b$12$"), "{hash}");
    assert_eq!(hash.len(), 60, "{hash}");

    let DatabaseScan { found, scanned } = find_in_database(&mut db, password).await;
    assert!(found.is_empty(), "the plaintext password is stored in {found:?}");
    // A password too long for bcrypt was refused above; its plaintext is nowhere either.
    let found_long = find_in_database(&mut db, &"a".repeat(73)).await.found;
    assert!(found_long.is_empty(), "{found_long:?}");
    // Control: the scan does find what is there (the email, the hash).
    let found_email = find_in_database(&mut db, "hash@example.eu").await.found;
    assert!(found_email.contains(&"public.users.email".to_string()), "{found_email:?}");
    let found_hash = find_in_database(&mut db, &hash).await.found;
    assert_eq!(found_hash, vec!["public.users.password_hash".to_string()]);
    assert!(scanned.len() >= 15, "only {} columns scanned", scanned.len());
}

// An address already in use: see identity_signup_verified.rs (the answer is the same as for a
// new address; the owner gets a notice and nothing is created).

/// The HTML form: shown in English with every field; a valid submission says to check the inbox;
/// the mailed link's button creates the organization, signs the owner in and goes to the dashboard.
#[tokio::test]
async fn signup_form_creates_the_org_and_signs_the_owner_in() {
    let app = TestApp::spawn().await;
    let policy = app.current_policy_version().await;
    let browser = Browser::new(&app);

    let page = browser.get("/signup").await;
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-type").starts_with("text/html"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"), "{html}");
    assert!(html.contains("Create your organization"), "{html}");
    assert!(html.contains("action=\"/signup\""));
    for field in ["first_name", "last_name", "email", "password", "organization_name", "job_title", "adult"] {
        assert!(html.contains(&format!("name=\"{field}\"")), "field {field} missing");
    }
    assert!(html.contains(&format!("name=\"accepted_policy_version\" value=\"{policy}\"")), "{html}");

    let response = browser
        .post_form("/signup", &signup_form_fields("kj@example.eu", testkit::PASSWORD, "NASA Langley", &policy))
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Check your inbox"));
    assert!(browser.cookie("relais_session").is_none(), "signed in before confirming");
    let response = confirm_in_browser(&app, &browser, "kj@example.eu").await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap_or_default());
    assert_eq!(header(&response, "location"), "/dashboard");
    assert!(browser.cookie("relais_session").is_some(), "no session cookie");

    let dashboard = browser.get("/dashboard").await;
    assert_eq!(dashboard.status(), 200);
    let html = dashboard.text().await.unwrap();
    assert!(html.contains("NASA Langley") && html.contains("Katherine Johnson"), "{html}");
}

/// The HTML form with invalid fields: 422, the field's error message, the typed values kept
/// (escaped), never the password, and nothing written.
#[tokio::test]
async fn signup_form_with_errors_keeps_the_values_but_never_the_password() {
    let app = TestApp::spawn().await;
    let policy = app.current_policy_version().await;
    let browser = Browser::new(&app);

    let password = "Valid-Passphrase-Secret-99";
    let response =
        browser.post_form("/signup", &signup_form_fields("not-an-email", password, "Acme & <Co>", &policy)).await;
    assert_eq!(response.status(), 422);
    assert!(header(&response, "content-type").starts_with("text/html"));
    assert!(header(&response, "set-cookie").is_empty(), "a cookie was set on a failed sign-up");
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter a valid email address, like name@example.eu."), "{html}");
    assert!(html.contains("Some fields need your attention"), "{html}");
    for (field, typed) in [
        ("first_name", "Katherine"),
        ("last_name", "Johnson"),
        ("email", "not-an-email"),
        ("job_title", "Orbital mechanics"),
    ] {
        assert_eq!(input_value(&html, field).as_deref(), Some(typed), "{field} was not kept: {html}");
    }
    assert!(input_value(&html, "password").is_none(), "the password input has a value: {html}");
    assert!(!html.contains("<Co>"), "the organization name came back unescaped: {html}");
    assert_eq!(input_value(&html, "organization_name").as_deref(), Some("Acme & <Co>"), "{html}");
    assert!(!html.contains(password), "the password was echoed back");

    let short = "Sh0rtPw!";
    let response = browser.post_form("/signup", &signup_form_fields("kj@example.eu", short, "NASA", &policy)).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Use at least 12 characters."), "{html}");
    assert_eq!(input_value(&html, "email").as_deref(), Some("kj@example.eu"), "{html}");
    assert!(input_value(&html, "password").is_none(), "the password input has a value: {html}");
    assert!(!html.contains(short), "the password was echoed back");

    assert_nothing_written(&app, "invalid form sign-ups").await;
}

/// The decoded `value` attribute of the `<input name="{name}" ...>` element.
fn input_value(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!("name=\"{name}\""))?;
    let tag = &html[start..start + html[start..].find('>')?];
    let value = tag.split("value=\"").nth(1)?.split('"').next()?;
    let mut decoded = value.to_string();
    for (entity, text) in [
        ("&#60;", "<"),
        ("&lt;", "<"),
        ("&#62;", ">"),
        ("&gt;", ">"),
        ("&#34;", "\""),
        ("&quot;", "\""),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&#38;", "&"),
        ("&amp;", "&"),
    ] {
        decoded = decoded.replace(entity, text);
    }
    Some(decoded)
}

/// Splits a raw Set-Cookie header into its name=value and its attributes (lower-cased names).
pub(crate) fn cookie_attributes(set_cookie: &str) -> (String, Vec<String>) {
    let mut parts = set_cookie.split(';').map(str::trim);
    let pair = parts.next().unwrap_or_default().to_string();
    (pair, parts.map(|a| a.to_string()).collect())
}

pub(crate) fn assert_session_cookie_attributes(set_cookie: &str) {
    let (pair, attributes) = cookie_attributes(set_cookie);
    assert!(pair.starts_with("relais_session=") && pair.len() > "relais_session=".len() + 40, "{set_cookie}");
    let has = |wanted: &str| attributes.iter().any(|a| a.eq_ignore_ascii_case(wanted));
    assert!(has("HttpOnly"), "not HttpOnly: {set_cookie}");
    assert!(has("Secure"), "not Secure: {set_cookie}");
    assert!(has("SameSite=Lax"), "not SameSite=Lax: {set_cookie}");
    assert!(has("Path=/"), "not Path=/: {set_cookie}");
    assert!(
        !attributes.iter().any(|a| a.to_ascii_lowercase().starts_with("domain")),
        "a Domain widens the cookie: {set_cookie}"
    );
}

/// P1-10: the session cookie set at sign-up (and at login) is HttpOnly, Secure, SameSite=Lax and
/// Path=/, with no Domain.
#[tokio::test]
async fn p1_10_session_cookie_is_httponly_secure_samesite_lax() {
    let app = TestApp::spawn().await;
    let policy = app.current_policy_version().await;
    let browser = Browser::new(&app);
    let response = browser
        .post_form("/signup", &signup_form_fields("cookie@example.eu", testkit::PASSWORD, "Cookie Org", &policy))
        .await;
    assert_eq!(response.status(), 200);
    let response = confirm_in_browser(&app, &browser, "cookie@example.eu").await;
    assert_eq!(response.status(), 303);
    let cookies: Vec<String> = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert_session_cookie_attributes(&cookies[0]);

    let login = Browser::new(&app)
        .post_form("/login", &[("email", "cookie@example.eu"), ("password", testkit::PASSWORD)])
        .await;
    assert_eq!(login.status(), 303);
    assert_session_cookie_attributes(&header(&login, "set-cookie"));
}
