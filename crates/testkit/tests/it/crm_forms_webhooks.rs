//! Landing-page forms (P1-11) and outgoing webhooks (issue #4 items 9 and 10): a real public
//! form submitted cross-site with UTM attribution and consent, spam and bad input refused with
//! nothing written, and webhooks delivered to a real HTTP receiver on loopback, signed, retried
//! on the job queue's backoff, logged, and kept away from private addresses.

use std::sync::{Arc, Mutex};

use hmac::{Hmac, KeyInit, Mac};
use kernel::authz::Role;
use serde_json::{Value, json};
use sha2::Sha256;
use testkit::TestApp;
use testkit::reqwest::{Method, StatusCode};

/// `crm::webhooks::MAX_ATTEMPTS`, as the receiver sees it.
const MAX_ATTEMPTS: usize = 8;

async fn lead_rows(app: &TestApp, org: kernel::OrgId) -> Vec<Value> {
    let rows: Vec<(Value,)> = app
        .select_rows_in_org(
            org,
            "select to_jsonb(l) - 'search_text' - 'search_words' from leads l where org_id = $1 order by created_at, lead_id",
        )
        .await;
    rows.into_iter().map(|(row,)| row).collect()
}

async fn create_form(app: &TestApp, bearer: &str, body: Value) -> Value {
    let (status, form) = app.call_api(bearer, Method::POST, "/api/v1/forms", Some(body)).await;
    assert_eq!(status, 201, "{form}");
    form
}

fn standard_form() -> Value {
    json!({
        "name": "Webinar sign-up",
        "fields": ["first_name", "last_name", "email", "company_name"],
        "required_fields": ["email"],
        "consent_text": "I agree that Acme contacts me about this webinar.",
        "thank_you": "Thanks, see you at the webinar!",
        "language": "en"
    })
}

/// The hidden inputs of a page: (name, value).
fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split("name=\"").nth(1)?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_string(), unescape(value)))
        })
        .collect()
}

/// Undoes askama's HTML escaping (`&#38;` and friends).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("&#") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find(';').unwrap() + start;
        let code: u32 = rest[start + 2..end].parse().unwrap();
        out.push(char::from_u32(code).unwrap());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Posts a form the way a browser does from another site (an embedded snippet).
async fn post_cross_site(app: &TestApp, path: &str, fields: &[(String, String)]) -> testkit::reqwest::Response {
    app.http
        .post(app.url(path))
        .header("origin", "https://www.customer-site.example")
        .header("sec-fetch-site", "cross-site")
        .header("referer", "https://www.customer-site.example/pricing")
        .form(fields)
        .send()
        .await
        .unwrap()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// P1-11: a visitor opens the hosted form from a campaign link, submits it, and the lead carries
/// the five UTM parameters, the referrer, the landing URL, the consent wording and its time. A
/// second submission with the same email updates that lead instead of creating another.
#[tokio::test]
async fn p1_11_form_submission_creates_a_lead_with_utm_referrer_and_consent() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@forms-utm.example.eu").await;
    let form = create_form(&app, &bearer, standard_form()).await;
    let public_url = form["public_url"].as_str().unwrap();
    let path = public_url.strip_prefix(&app.origin()).unwrap().to_string();
    assert!(path.starts_with("/f/") && path.len() > 30, "an unguessable public id: {path}");
    let snippet = form["embed_html"].as_str().unwrap();
    assert!(snippet.contains(&format!("action=\"{public_url}\"")), "{snippet}");
    assert!(!snippet.contains("<script"), "the snippet loads no script");

    let query = "?utm_source=newsletter&utm_medium=email&utm_campaign=spring-2026&utm_term=crm&utm_content=hero";
    let page = app
        .http
        .get(app.url(&format!("{path}{query}")))
        .header("referer", "https://blog.partner.example/post")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("I agree that Acme contacts me"), "the consent wording is shown");
    let mut fields = hidden_inputs(&html);
    assert!(fields.iter().any(|(k, v)| k == "utm_campaign" && v == "spring-2026"), "{fields:?}");
    fields.extend(pairs(&[
        ("first_name", "Inès"),
        ("email", "Ines.Moreau@Example.FR"),
        ("company_name", "Moreau SAS"),
        ("consent", "yes"),
        ("website", ""),
    ]));
    let response = post_cross_site(&app, &path, &fields).await;
    let status = response.status();
    let html = response.text().await.unwrap();
    assert_eq!(status, 200, "a cross-site POST to a public form is allowed: {html}");
    assert!(html.contains("Thanks, see you at the webinar!"));

    let leads = lead_rows(&app, org).await;
    assert_eq!(leads.len(), 1);
    let lead = &leads[0];
    assert_eq!(lead["email"], "ines.moreau@example.fr");
    assert_eq!(lead["source"], "form");
    for (key, value) in [
        ("utm_source", "newsletter"),
        ("utm_medium", "email"),
        ("utm_campaign", "spring-2026"),
        ("utm_term", "crm"),
        ("utm_content", "hero"),
    ] {
        assert_eq!(lead[key], value, "{key}");
    }
    assert_eq!(lead["referrer"], "https://blog.partner.example/post");
    let landing = lead["landing_url"].as_str().unwrap();
    assert!(landing.starts_with(public_url) && landing.contains("utm_source=newsletter"), "{landing}");
    assert_eq!(lead["consent_text"], "I agree that Acme contacts me about this webinar.");
    let consent_at = time::OffsetDateTime::parse(
        lead["consent_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(consent_at.unix_timestamp(), app.clock.now().unix_timestamp(), "the time the person agreed");

    // The same email again, from the embedded snippet (no hidden fields): the lead is updated, not
    // duplicated; empty fields are filled, known ones are not overwritten by an anonymous visitor.
    app.clock.advance(time::Duration::minutes(5));
    let again = pairs(&[
        ("first_name", "Imposter"),
        ("last_name", "Moreau"),
        ("email", "ines.moreau@example.fr"),
        ("consent", "yes"),
        ("company_name", "Evil Corp"),
    ]);
    let response = post_cross_site(&app, &format!("{path}?utm_source=partner-site"), &again).await;
    assert_eq!(response.status(), 200);
    let leads = lead_rows(&app, org).await;
    assert_eq!(leads.len(), 1, "the open lead with the same email is updated, not duplicated");
    assert_eq!(
        (leads[0]["first_name"].as_str(), leads[0]["last_name"].as_str(), leads[0]["company_name"].as_str()),
        (Some("Inès"), Some("Moreau"), Some("Moreau SAS"))
    );
    assert_eq!(leads[0]["utm_source"], "newsletter", "the first touch is kept");
    assert!(leads[0]["landing_url"].as_str().unwrap().starts_with(public_url), "the first landing page is kept");

    // A new person from the embedded snippet: the action's UTM and the embedding page are recorded.
    let embedded = pairs(&[("email", "paul@example.fr"), ("consent", "yes")]);
    let response = post_cross_site(&app, &format!("{path}?utm_source=partner-site"), &embedded).await;
    assert_eq!(response.status(), 200);
    let leads = lead_rows(&app, org).await;
    let paul = leads.iter().find(|l| l["email"] == "paul@example.fr").unwrap();
    assert_eq!(paul["utm_source"], "partner-site");
    assert_eq!(paul["landing_url"], "https://www.customer-site.example/pricing", "the embedding page");

    let (_, listed) =
        app.call_api(&bearer, Method::GET, &format!("/api/v1/forms/{}", form["form_id"].as_str().unwrap()), None).await;
    assert_eq!(listed["submissions"], 3);
}

/// P1-11: the honeypot, a missing consent, an invalid email and a flood are refused, and none of
/// them creates anything; the refusal names the field on the page.
#[tokio::test]
async fn p1_11_form_spam_and_bad_input_create_nothing() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@forms-spam.example.eu").await;
    let form = create_form(&app, &bearer, standard_form()).await;
    let path = form["public_url"].as_str().unwrap().strip_prefix(&app.origin()).unwrap().to_string();

    let bot = pairs(&[("email", "bot@spam.example"), ("consent", "yes"), ("website", "http://spam.example")]);
    let response = post_cross_site(&app, &path, &bot).await;
    assert_eq!(response.status(), 200, "the bot is told it worked");
    assert!(lead_rows(&app, org).await.is_empty(), "the honeypot stores nothing");

    let no_consent = pairs(&[("email", "real@person.example"), ("first_name", "Real")]);
    let response = post_cross_site(&app, &path, &no_consent).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Tick the box to agree"), "{html}");
    assert!(html.contains("value=\"Real\""), "what was typed is kept");

    let bad_email = pairs(&[("email", "not-an-email"), ("consent", "yes")]);
    let response = post_cross_site(&app, &path, &bad_email).await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Email") && html.contains("aria-invalid=\"true\""), "the field is named: {html}");

    let missing = pairs(&[("first_name", "No email"), ("consent", "yes")]);
    assert_eq!(post_cross_site(&app, &path, &missing).await.status(), 422);
    assert!(lead_rows(&app, org).await.is_empty(), "bad input creates nothing");

    // Ten submissions per address per ten minutes; four are spent above.
    for _ in 0..6 {
        assert_eq!(post_cross_site(&app, &path, &bad_email).await.status(), 422);
    }
    let flooded = post_cross_site(&app, &path, &bad_email).await;
    assert_eq!(flooded.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(flooded.headers().get("retry-after").is_some());

    assert_eq!(
        app.http.get(app.url("/f/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).send().await.unwrap().status(),
        404
    );
    let id = form["form_id"].as_str().unwrap();
    let (status, _) =
        app.call_api(&bearer, Method::PATCH, &format!("/api/v1/forms/{id}"), Some(json!({ "active": false }))).await;
    assert_eq!(status, 200);
    assert_eq!(app.http.get(app.url(&path)).send().await.unwrap().status(), 404, "a paused form is gone");
}

/// Forms are validated field by field, managed by owners and managers only, and invisible to
/// other organizations.
#[tokio::test]
async fn forms_api_validates_and_is_isolated() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@forms-api.example.eu").await;
    let (status, problem) = app.call_api(&bearer,
        Method::POST,
        "/api/v1/forms",
        Some(
            json!({ "name": "", "fields": ["first_name", "nickname"], "required_fields": ["email"], "language": "de" }),
        ),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in ["name", "fields", "required_fields", "language"] {
        assert!(fields.contains(&field), "{field} named in {problem}");
    }
    let (_, list) = app.call_api(&bearer, Method::GET, "/api/v1/forms", None).await;
    assert_eq!(list.as_array().unwrap().len(), 0, "nothing written");

    let form = create_form(&app, &bearer, standard_form()).await;
    let id = form["form_id"].as_str().unwrap();

    app.add_member(org, "user@forms-api.example.eu", Role::User).await;
    let user = app.access_token("user@forms-api.example.eu").await;
    assert_eq!(app.call_api(&user, Method::GET, "/api/v1/forms", None).await.0, 403);

    let (_, _, other) = app.sign_up_with_token("owner@forms-other.example.eu").await;
    assert_eq!(app.call_api(&other, Method::GET, &format!("/api/v1/forms/{id}"), None).await.0, 404);
    assert_eq!(app.call_api(&other, Method::DELETE, &format!("/api/v1/forms/{id}"), None).await.0, 404);
    assert_eq!(app.call_api(&bearer, Method::DELETE, &format!("/api/v1/forms/{id}"), None).await.0, 204);
}

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    signature: String,
    event: String,
    body: Vec<u8>,
}

/// An HTTP server on loopback that answers each request with the next status of `script`
/// (then 200) and keeps what it received.
struct Receiver {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(script: Vec<u16>) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script = Arc::new(Mutex::new(script.into_iter()));
        let store = received.clone();
        let handler = move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            let script = script.clone();
            async move {
                let header =
                    |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                store.lock().unwrap().push(Received {
                    signature: header("relais-signature"),
                    event: header("relais-event"),
                    body: body.to_vec(),
                });
                let status = script.lock().unwrap().next().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        };
        let router = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Recomputes the signature as a receiver would: HMAC-SHA256 over "<t>.<body>" with the secret.
fn verify(secret: &str, received: &Received) -> i64 {
    let (t, v1) = received.signature.split_once(",v1=").unwrap();
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&received.body);
    mac.verify_slice(&hex::decode(v1).unwrap()).expect("the signature matches the body and timestamp");
    t
}

/// Webhooks: events reach a real receiver signed with HMAC-SHA256 and a timestamp; a failure is
/// retried after the backoff on the job queue, each attempt logged; only subscribed events are
/// sent; the secret is shown once and stored sealed.
#[tokio::test]
async fn webhook_deliveries_are_signed_retried_and_logged() {
    let app = TestApp::spawn_with(&[("RELAIS_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let (org, _, bearer) = app.sign_up_with_token("owner@hooks.example.eu").await;
    let receiver = Receiver::start(vec![500]).await;

    let (status, endpoint) = app.call_api(&bearer,
        Method::POST,
        "/api/v1/webhooks",
        Some(json!({ "url": receiver.url, "events": ["contact.created", "deal.stage_changed"], "description": "ERP" })),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_") && secret.len() > 40);
    let endpoint_id = endpoint["endpoint_id"].as_str().unwrap().to_string();
    let (_, shown) = app.call_api(&bearer, Method::GET, &format!("/api/v1/webhooks/{endpoint_id}"), None).await;
    assert!(shown.get("secret").is_none(), "the secret is shown once: {shown}");
    let mut su = app.superuser_connection().await;
    let sealed: Vec<u8> =
        sqlx::query_scalar("select secret_sealed from webhook_endpoints").fetch_one(&mut su).await.unwrap();
    assert!(!sealed.windows(secret.len()).any(|w| w == secret.as_bytes()), "only the sealed secret is stored");

    let (status, created) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/contacts",
            Some(json!({ "first_name": "Jonas", "last_name": "Weber", "email": "jonas@weber.example" })),
        )
        .await;
    assert_eq!(status, 201);
    let contact_id = created["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .call_api(&bearer, Method::PATCH, &format!("/api/v1/contacts/{contact_id}"), Some(json!({ "title": "CTO" })))
        .await;
    assert_eq!(status, 200, "contact.updated is not subscribed: nothing is queued for it");

    app.run_jobs().await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "one subscribed event, one request");
    assert_eq!(got[0].event, "contact.created");
    assert_eq!(verify(&secret, &got[0]), app.clock.now().unix_timestamp());
    let payload: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(payload["type"], "contact.created");
    assert_eq!(payload["data"]["object"]["email"], "jonas@weber.example");

    let deliveries = format!("/api/v1/webhooks/{endpoint_id}/deliveries");
    let (_, log) = app.call_api(&bearer, Method::GET, &deliveries, None).await;
    assert_eq!(log[0]["status"], "pending", "{log}");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["last_status_code"], 500);

    app.run_jobs().await;
    assert_eq!(receiver.received().len(), 1, "the retry waits for its backoff");
    app.clock.advance(time::Duration::seconds(50));
    app.run_jobs().await;
    assert_eq!(receiver.received().len(), 1, "about a minute: not yet after 50 seconds");
    app.clock.advance(time::Duration::seconds(20));
    app.run_jobs().await;
    let got = receiver.received();
    assert_eq!(got.len(), 2, "retried after the backoff");
    assert_eq!(got[1].body, got[0].body, "the same event, byte for byte");
    assert_eq!(verify(&secret, &got[1]), app.clock.now().unix_timestamp(), "signed afresh with the new time");
    let (_, log) = app.call_api(&bearer, Method::GET, &deliveries, None).await;
    assert_eq!((log[0]["status"].as_str(), log[0]["attempts"].as_i64()), (Some("delivered"), Some(2)), "{log}");
    let attempts: i64 = sqlx::query_scalar("select count(*) from webhook_attempts where org_id = $1")
        .bind(org)
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(attempts, 2, "every attempt is logged");

    // A deal moved across the kanban: deal.stage_changed with both stages.
    let (_, deal) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/deals",
            Some(json!({ "name": "Weber rollout", "amount": "12000", "currency": "EUR" })),
        )
        .await;
    let deal_id = deal["id"].as_str().unwrap();
    let from = deal["record"]["stage_id"].clone();
    let (_, pipelines) = app.call_api(&bearer, Method::GET, "/api/v1/pipelines", None).await;
    let to = pipelines[0]["stages"][1]["stage_id"].clone();
    let (status, _) = app
        .call_api(&bearer, Method::POST, &format!("/api/v1/deals/{deal_id}/move"), Some(json!({ "stage_id": to })))
        .await;
    assert_eq!(status, 200);
    app.run_jobs().await;
    let last = receiver.received().pop().unwrap();
    assert_eq!(last.event, "deal.stage_changed");
    let payload: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!((payload["data"]["from_stage_id"].clone(), payload["data"]["to_stage_id"].clone()), (from, to));
}

/// A receiver that keeps failing is tried `MAX_ATTEMPTS` times, then the delivery is marked failed.
#[tokio::test]
async fn webhook_gives_up_after_the_last_attempt() {
    let app = TestApp::spawn_with(&[("RELAIS_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let (_, _, bearer) = app.sign_up_with_token("owner@hooks-fail.example.eu").await;
    let receiver = Receiver::start(vec![503; 20]).await;
    let (status, endpoint) = app
        .call_api(&bearer, Method::POST, "/api/v1/webhooks", Some(json!({ "url": receiver.url, "events": ["*"] })))
        .await;
    assert_eq!(status, 201);
    let (status, _) =
        app.call_api(&bearer, Method::POST, "/api/v1/companies", Some(json!({ "name": "Failing GmbH" }))).await;
    assert_eq!(status, 201);
    for _ in 0..MAX_ATTEMPTS + 2 {
        app.run_jobs().await;
        app.clock.advance(time::Duration::hours(27));
    }
    assert_eq!(receiver.received().len(), MAX_ATTEMPTS);
    let bearer = app.access_token("owner@hooks-fail.example.eu").await;
    let id = endpoint["endpoint_id"].as_str().unwrap();
    let (_, log) = app.call_api(&bearer, Method::GET, &format!("/api/v1/webhooks/{id}/deliveries"), None).await;
    assert_eq!(log[0]["status"], "failed", "{log}");
    assert_eq!(log[0]["last_error"], "the endpoint answered HTTP 503");
}

/// Issue #11: a delivery's failure is stored as a code, so the deliveries page tells a French
/// member in French why an attempt failed — an endpoint that answers 500, one that refuses the
/// connection — while the API keeps the English text and gives the code.
#[tokio::test]
async fn webhook_delivery_errors_read_in_french_and_the_api_gives_the_code() {
    let app = TestApp::spawn_with(&[("RELAIS_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let email = "owner@hooks-fr.example.eu";
    let (_, _, bearer) = app.sign_up_with_token(email).await;
    let browser = app.browser_login(email, testkit::PASSWORD).await;
    let csrf = browser.csrf_token("/settings/profile").await;
    let saved = browser
        .post_form(
            "/settings/profile",
            &[
                ("csrf", &csrf),
                ("first_name", "Ana"),
                ("last_name", "Owner"),
                ("job_title", "Fondatrice"),
                ("language", "fr"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303);
    let failing = Receiver::start(vec![500]).await;
    // A port nobody listens on: the connection is refused.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let refused_url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let mut ids = Vec::new();
    for url in [failing.url.clone(), refused_url] {
        let (status, endpoint) =
            app.call_api(&bearer, Method::POST, "/api/v1/webhooks", Some(json!({ "url": url, "events": ["*"] }))).await;
        assert_eq!(status, 201, "{endpoint}");
        ids.push(endpoint["endpoint_id"].as_str().unwrap().to_string());
    }
    let (status, _) =
        app.call_api(&bearer, Method::POST, "/api/v1/companies", Some(json!({ "name": "Échec SARL" }))).await;
    assert_eq!(status, 201);
    app.run_jobs().await;
    assert_eq!(failing.received().len(), 1);

    let bearer = app.access_token(email).await;
    let expected = [
        ("http_status", "the endpoint answered HTTP 500", "Le point de terminaison a répondu par un code HTTP 500."),
        ("connect_failed", "could not connect", "Connexion impossible au point de terminaison"),
    ];
    for (id, (code, english, french)) in ids.iter().zip(expected) {
        let (_, log) = app.call_api(&bearer, Method::GET, &format!("/api/v1/webhooks/{id}/deliveries"), None).await;
        assert_eq!((log[0]["last_error_code"].as_str(), log[0]["last_error"].as_str()), (Some(code), Some(english)));
        let page = browser.get(&format!("/settings/webhooks/{id}")).await.text().await.unwrap();
        assert!(page.contains(french), "{french}: {page}");
        assert!(!page.contains(english), "{english}: {page}");
    }
}

/// A delivery whose endpoint secret cannot be opened (damaged ciphertext, changed master key) is
/// failed at once with the reason in its log, sending nothing, instead of staying pending for ever.
#[tokio::test]
async fn webhook_delivery_whose_secret_cannot_be_opened_fails_with_the_reason() {
    let app = TestApp::spawn_with(&[("RELAIS_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let (_, _, bearer) = app.sign_up_with_token("owner@hooks-sealed.example.eu").await;
    let receiver = Receiver::start(vec![200]).await;
    let (status, endpoint) = app
        .call_api(&bearer, Method::POST, "/api/v1/webhooks", Some(json!({ "url": receiver.url, "events": ["*"] })))
        .await;
    assert_eq!(status, 201);
    let mut su = app.superuser_connection().await;
    sqlx::query(
        "update webhook_endpoints set secret_sealed = set_byte(secret_sealed, 30, get_byte(secret_sealed, 30) # 255)",
    )
    .execute(&mut su)
    .await
    .unwrap();
    let (status, _) =
        app.call_api(&bearer, Method::POST, "/api/v1/companies", Some(json!({ "name": "Sealed GmbH" }))).await;
    assert_eq!(status, 201);
    for _ in 0..4 {
        app.run_jobs().await;
        app.clock.advance(time::Duration::hours(2));
    }
    assert!(receiver.received().is_empty(), "nothing can be signed, so nothing is sent");
    let bearer = app.access_token("owner@hooks-sealed.example.eu").await;
    let id = endpoint["endpoint_id"].as_str().unwrap();
    let (_, log) = app.call_api(&bearer, Method::GET, &format!("/api/v1/webhooks/{id}/deliveries"), None).await;
    assert_eq!(log[0]["status"], "failed", "{log}");
    assert_eq!(
        log[0]["last_error"], "the endpoint's signing secret cannot be opened: delete the endpoint and create it again",
        "{log}"
    );
    let unsettled: i64 = sqlx::query_scalar("select count(*) from jobs where status in ('queued', 'running')")
        .fetch_one(&mut su)
        .await
        .unwrap();
    assert_eq!(unsettled, 0);
}

/// Without `RELAIS_WEBHOOKS_ALLOW_PRIVATE`, a webhook cannot reach the internal network: plain
/// http and private address literals are refused when the endpoint is saved, and a name that
/// resolves to a private address is refused when delivering, before any connection.
#[tokio::test]
async fn webhooks_cannot_reach_private_addresses() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@hooks-ssrf.example.eu").await;
    let receiver = Receiver::start(vec![]).await;
    for url in [
        receiver.url.clone(),
        "https://10.0.0.7/hook".into(),
        "https://169.254.169.254/latest".into(),
        "https://user:pw@hooks.example.eu/".into(),
    ] {
        let (status, problem) =
            app.call_api(&bearer, Method::POST, "/api/v1/webhooks", Some(json!({ "url": url, "events": ["*"] }))).await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "url");
    }
    let port = receiver.url.split(':').nth(2).unwrap().split('/').next().unwrap();
    let (status, endpoint) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({ "url": format!("https://localhost:{port}/hook"), "events": ["*"] })),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    app.call_api(&bearer, Method::POST, "/api/v1/companies", Some(json!({ "name": "Internal probe" }))).await;
    app.run_jobs().await;
    assert!(receiver.received().is_empty(), "no connection to a loopback address");
    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    let error: String = sqlx::query_scalar("select error from webhook_attempts where org_id = $1")
        .bind(org)
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(error, "the host resolves to a private or reserved address");
}

/// The pages: an owner builds a form and gets its address and snippet; adds a webhook endpoint
/// and sees its secret once; a user may not open either page.
#[tokio::test]
async fn forms_and_webhooks_pages() {
    let app = TestApp::spawn_with(&[("RELAIS_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let (org, _, browser) = app.sign_up_and_log_in("owner@forms-pages.example.eu").await;
    let csrf = browser.csrf_token("/crm/forms").await;
    let refused = browser
        .post_form(
            "/crm/forms",
            &[("csrf", &csrf), ("name", "Demo"), ("fields", "first_name"), ("thank_you", "Merci"), ("language", "fr")],
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("A form must ask for an email address or a phone number"));
    let created = browser
        .post_form(
            "/crm/forms",
            &[
                ("csrf", &csrf),
                ("name", "Salon 2026"),
                ("fields", "first_name"),
                ("fields", "email"),
                ("required_fields", "email"),
                ("thank_you", "Merci !"),
                ("language", "fr"),
                ("active", "true"),
            ],
        )
        .await;
    assert_eq!(created.status(), 303, "{:?}", created.text().await);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let html = browser.get(&location).await.text().await.unwrap();
    assert!(html.contains("id=\"public-url\"") && html.contains("id=\"embed-snippet\""), "{html}");
    assert!(html.contains("&#60;form method=&#34;post&#34;"), "the snippet is shown as text: {html}");

    let created = browser
        .post_form(
            "/settings/webhooks",
            &[("csrf", &csrf), ("url", "http://127.0.0.1:9/hook"), ("events", "contact.created")],
        )
        .await;
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    assert!(html.contains("id=\"webhook-secret\">whsec_"), "the secret is shown once");
    let again = browser.get("/settings/webhooks").await.text().await.unwrap();
    assert!(!again.contains("whsec_"), "and never again");
    // Its delivery log shows times as people read them, not Rust's `Display` of a timestamp.
    let bearer = app.access_token("owner@forms-pages.example.eu").await;
    let (status, _) =
        app.call_api(&bearer, Method::POST, "/api/v1/contacts", Some(json!({ "last_name": "Horodaté" }))).await;
    assert_eq!(status, 201);
    let (_, hooks) = app.call_api(&bearer, Method::GET, "/api/v1/webhooks", None).await;
    let hooks = if hooks.is_array() { hooks } else { hooks["items"].clone() };
    let hook = hooks[0]["endpoint_id"].as_str().unwrap_or_default().to_string();
    let log = browser.get(&format!("/settings/webhooks/{hook}")).await.text().await.unwrap();
    // To the minute, in the member's time zone and language.
    let minute = kernel::dates::date_time(app.clock.now(), kernel::dates::DEFAULT_ZONE, kernel::i18n::Lang::En);
    assert!(log.contains("contact.created") && log.contains(&minute), "{log}");
    assert!(!log.contains("+00:00:00"), "a raw timestamp: {log}");

    app.add_member(org, "user@forms-pages.example.eu", Role::User).await;
    let user = app.browser_login("user@forms-pages.example.eu", testkit::PASSWORD).await;
    assert_eq!(user.get("/crm/forms").await.status(), 403);
    assert_eq!(user.get("/settings/webhooks").await.status(), 403);
}

/// Another organization's owner sees none of an org's webhook endpoints or their logs, and cannot
/// change, ping or delete them; a member with the User role may not manage webhooks.
#[tokio::test]
async fn webhooks_are_isolated_between_orgs_and_refused_to_users() {
    let app = TestApp::spawn_with(&[("RELAIS_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let (org, _, bearer) = app.sign_up_with_token("owner@hooks-iso.example.eu").await;
    let (status, endpoint) = app
        .call_api(
            &bearer,
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] })),
        )
        .await;
    assert_eq!(status, 201);
    let id = endpoint["endpoint_id"].as_str().unwrap();

    let (_, _, other) = app.sign_up_with_token("owner@hooks-other.example.eu").await;
    let (status, list) = app.call_api(&other, Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/webhooks/{id}"), None),
        (Method::PATCH, format!("/api/v1/webhooks/{id}"), Some(json!({ "active": false }))),
        (Method::GET, format!("/api/v1/webhooks/{id}/deliveries"), None),
        (Method::POST, format!("/api/v1/webhooks/{id}/ping"), None),
        (Method::DELETE, format!("/api/v1/webhooks/{id}"), None),
    ] {
        let (status, _) = app.call_api(&other, method, &path, body).await;
        assert_eq!(status, 404, "{path}");
    }

    app.add_member(org, "user@hooks-iso.example.eu", Role::User).await;
    let user = app.access_token("user@hooks-iso.example.eu").await;
    assert_eq!(app.call_api(&user, Method::GET, "/api/v1/webhooks", None).await.0, 403);

    // Each event goes to every endpoint: an organization has at most ten.
    let body = json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] });
    for _ in 1..10 {
        assert_eq!(app.call_api(&bearer, Method::POST, "/api/v1/webhooks", Some(body.clone())).await.0, 201);
    }
    let (status, problem) = app.call_api(&bearer, Method::POST, "/api/v1/webhooks", Some(body)).await;
    assert_eq!(
        (status, problem["errors"][0]["code"].as_str(), problem["errors"][0]["message"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("too_many_webhooks"),
            Some("At most 10 webhook endpoints per organization.")
        )
    );
    let (status, shown) = app.call_api(&bearer, Method::GET, &format!("/api/v1/webhooks/{id}"), None).await;
    assert_eq!((status, shown["active"].as_bool()), (StatusCode::OK, Some(true)), "untouched by the other org");
}

/// How many audit rows of each form and webhook action the org has, by action name.
async fn form_and_webhook_audit_counts(app: &TestApp, org: kernel::OrgId) -> Vec<(String, i64)> {
    let mut tx = app.db.begin_org(org, kernel::db::Actor::System).await.unwrap();
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "select action, count(*) from audit_events
          where org_id = $1 and (action like 'form.%' or action like 'webhook.%')
          group by action order by action",
    )
    .bind(org)
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    counts
}

fn expected(counts: &[(&str, i64)]) -> Vec<(String, i64)> {
    counts.iter().map(|(action, n)| (action.to_string(), *n)).collect()
}

/// Every change to a form or a webhook endpoint writes exactly one audit row, whether it comes
/// through the JSON API or through the pages: the API and the page of an action share one service.
/// Pinging an endpoint is audited from both (the API used not to record it).
#[tokio::test]
async fn each_form_and_webhook_change_is_audited_once_from_the_api_and_from_the_pages() {
    let app = TestApp::spawn_with(&[("RELAIS_WEBHOOKS_ALLOW_PRIVATE", "true")]).await;
    let (org, _) = app.sign_up("owner@audit-once.example.eu").await;
    let bearer = app.access_token("owner@audit-once.example.eu").await;
    let browser = app.browser_login("owner@audit-once.example.eu", testkit::PASSWORD).await;
    let csrf = browser.csrf_token("/crm/forms").await;

    // Forms through the API.
    let form = create_form(&app, &bearer, json!({ "name": "API form", "fields": ["email"], "language": "en" })).await;
    let api_form = form["form_id"].as_str().unwrap();
    let (status, _) = app
        .call_api(&bearer, Method::PATCH, &format!("/api/v1/forms/{api_form}"), Some(json!({ "title": "Hello" })))
        .await;
    assert_eq!(status, 200);
    assert_eq!(form_and_webhook_audit_counts(&app, org).await, expected(&[("form.created", 1), ("form.updated", 1)]));

    // A visitor's submission on the public page.
    let path = form["public_url"].as_str().unwrap().strip_prefix(&app.origin()).unwrap().to_string();
    let submitted = post_cross_site(&app, &path, &pairs(&[("email", "visitor@audit-once.example.eu")])).await;
    assert_eq!(submitted.status(), 200);
    let (status, _) = app.call_api(&bearer, Method::DELETE, &format!("/api/v1/forms/{api_form}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(
        form_and_webhook_audit_counts(&app, org).await,
        expected(&[("form.created", 1), ("form.deleted", 1), ("form.submitted", 1), ("form.updated", 1)])
    );

    // Forms through the pages.
    let fields = [("csrf", csrf.as_str()), ("name", "Page form"), ("fields", "email"), ("language", "en")];
    let created = browser.post_form("/crm/forms", &fields).await;
    assert_eq!(created.status(), 303, "{:?}", created.text().await);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let page_form = location.trim_start_matches("/crm/forms/").split('?').next().unwrap().to_string();
    let saved = browser.post_form(&format!("/crm/forms/{page_form}"), &fields).await;
    assert_eq!(saved.status(), 303, "{:?}", saved.text().await);
    let deleted = browser.post_form(&format!("/crm/forms/{page_form}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(deleted.status(), 303);
    assert_eq!(
        form_and_webhook_audit_counts(&app, org).await,
        expected(&[("form.created", 2), ("form.deleted", 2), ("form.submitted", 1), ("form.updated", 2)])
    );

    // Webhooks through the API.
    let hook = json!({ "url": "http://127.0.0.1:9/hook", "events": ["*"] });
    let (status, endpoint) = app.call_api(&bearer, Method::POST, "/api/v1/webhooks", Some(hook)).await;
    assert_eq!(status, 201);
    let api_hook = endpoint["endpoint_id"].as_str().unwrap();
    let item = format!("/api/v1/webhooks/{api_hook}");
    assert_eq!(app.call_api(&bearer, Method::PATCH, &item, Some(json!({ "active": false }))).await.0, 200);
    assert_eq!(app.call_api(&bearer, Method::POST, &format!("{item}/ping"), None).await.0, 202);
    assert_eq!(app.call_api(&bearer, Method::DELETE, &item, None).await.0, 204);
    let webhooks_once = [("webhook.created", 1), ("webhook.deleted", 1), ("webhook.pinged", 1), ("webhook.updated", 1)];
    let forms_twice = [("form.created", 2), ("form.deleted", 2), ("form.submitted", 1), ("form.updated", 2)];
    assert_eq!(form_and_webhook_audit_counts(&app, org).await, expected(&[forms_twice, webhooks_once].concat()));

    // Webhooks through the pages.
    let created = browser
        .post_form(
            "/settings/webhooks",
            &[("csrf", &csrf), ("url", "http://127.0.0.1:9/hook"), ("events", "contact.created")],
        )
        .await;
    assert_eq!(created.status(), 200);
    let (_, list) = app.call_api(&bearer, Method::GET, "/api/v1/webhooks", None).await;
    let page_hook = list[0]["endpoint_id"].as_str().unwrap().to_string();
    let item = format!("/settings/webhooks/{page_hook}");
    for action in ["disable", "ping", "delete"] {
        let done = browser.post_form(&item, &[("csrf", &csrf), ("action", action)]).await;
        assert_eq!(done.status(), 303, "{action}");
    }
    let webhooks_twice =
        [("webhook.created", 2), ("webhook.deleted", 2), ("webhook.pinged", 2), ("webhook.updated", 2)];
    assert_eq!(form_and_webhook_audit_counts(&app, org).await, expected(&[forms_twice, webhooks_twice].concat()));
}

/// Issue #10 item 18: an organization has at most 50 forms (docs/crm.md, "Limits"); one more is a
/// 422 naming `name`, its message stating the limit, and nothing is written.
#[tokio::test]
async fn an_organization_has_at_most_fifty_forms() {
    let app = TestApp::spawn().await;
    let (org, _, bearer) = app.sign_up_with_token("owner@forms-limit.example.eu").await;
    for _ in 0..50 {
        create_form(&app, &bearer, standard_form()).await;
    }
    let (status, problem) = app.call_api(&bearer, Method::POST, "/api/v1/forms", Some(standard_form())).await;
    assert_eq!(status, 422, "{problem}");
    let error = &problem["errors"][0];
    assert_eq!(
        (error["field"].as_str(), error["code"].as_str(), error["message"].as_str()),
        (Some("name"), Some("too_many_forms"), Some("At most 50 forms per organization."))
    );
    assert_eq!(app.count_table_in_org(org, "lead_forms").await, 50);
}
