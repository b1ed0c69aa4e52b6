//! The web shell every module shares: security headers on every response (P1-12, P0-13), pages
//! that load nothing from another origin, only the session and language cookies (P2-19), English
//! and French pages, RFC 9457 API errors, health and metrics endpoints, and the 404 page.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use testkit::http::header;
use testkit::{Browser, TestApp};

/// The names of every cookie a response sets.
fn cookie_names(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().split('=').next().unwrap().trim().to_string())
        .collect()
}

/// Checks the headers every response must carry; returns its request id.
fn assert_security_headers(case: &str, response: &reqwest::Response) -> String {
    let csp = header(response, "content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{case}: CSP without default-src 'none': {csp:?}");
    assert!(csp.contains("frame-ancestors 'none'"), "{case}: CSP allows framing: {csp:?}");
    assert!(!csp.to_ascii_lowercase().contains("http"), "{case}: CSP names another origin: {csp}");
    assert!(!csp.contains('*'), "{case}: CSP has a wildcard source: {csp}");
    assert!(!csp.contains("'unsafe-inline'") && !csp.contains("'unsafe-eval'"), "{case}: unsafe CSP: {csp}");
    // Every source in every directive is 'self', 'none' or data: (images only).
    for directive in csp.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let mut words = directive.split_whitespace();
        let name = words.next().unwrap();
        for source in words {
            let allowed = matches!(source, "'self'" | "'none'") || (name == "img-src" && source == "data:");
            assert!(allowed, "{case}: CSP directive {name} allows {source}");
        }
    }

    let hsts = header(response, "strict-transport-security");
    let max_age: u64 = hsts
        .split(';')
        .find_map(|p| p.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{case}: no HSTS max-age: {hsts:?}"));
    assert!(max_age >= 31_536_000, "{case}: HSTS shorter than a year: {hsts}");
    assert_eq!(header(response, "referrer-policy"), "no-referrer", "{case}");
    assert_eq!(header(response, "x-frame-options"), "DENY", "{case}");
    assert_eq!(header(response, "x-content-type-options"), "nosniff", "{case}");
    let request_id = header(response, "x-request-id");
    assert!(!request_id.is_empty(), "{case}: no x-request-id");
    request_id
}

/// P1-12 / P0-13: every kind of response — a signed-in page, the login page, API 404 and 422, a
/// static asset, /healthz, a page 404, a redirect, a refused cross-site POST — carries a CSP that
/// allows no other origin, HSTS, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`,
/// `X-Content-Type-Options: nosniff` and its own `x-request-id`.
#[tokio::test]
async fn p1_12_p0_13_every_response_carries_the_security_headers() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("headers@example.eu").await;
    let get = |path: &str| app.http.get(app.url(path)).send();

    let mut responses = vec![
        ("dashboard page", 200, browser.get("/dashboard").await),
        ("login page", 200, get("/login").await.unwrap()),
        ("signup page", 200, get("/signup").await.unwrap()),
        ("API 404", 404, get("/api/v1/nope").await.unwrap()),
        ("API 422", 422, app.post_json("/api/v1/signup", &json!({})).await),
        ("OpenAPI document", 200, get("/api/v1/openapi.json").await.unwrap()),
        ("static CSS", 200, get("/static/app.css").await.unwrap()),
        ("static JS", 200, get("/static/htmx.min.js").await.unwrap()),
        ("shell JS", 200, get("/static/app.js").await.unwrap()),
        ("healthz", 200, get("/healthz").await.unwrap()),
        ("readyz", 200, get("/readyz").await.unwrap()),
        ("page 404", 404, get("/no-such-page").await.unwrap()),
        ("redirect", 303, get("/").await.unwrap()),
    ];
    let refused = app
        .http
        .post(app.url("/login"))
        .header("origin", "https://evil.example")
        .form(&[("email", "headers@example.eu"), ("password", testkit::PASSWORD)])
        .send()
        .await
        .unwrap();
    responses.push(("refused cross-site POST", 403, refused));

    let mut ids = BTreeSet::new();
    for (case, status, response) in &responses {
        assert_eq!(response.status().as_u16(), *status, "{case}");
        ids.insert(assert_security_headers(case, response));
    }
    assert_eq!(ids.len(), responses.len(), "request ids are not unique per request: {ids:?}");
}

/// The value of every `src`, `href` and `action` attribute in an HTML document.
fn url_attributes(html: &str) -> Vec<String> {
    let mut values = Vec::new();
    for attribute in ["src=", "href=", "action="] {
        let mut rest = html;
        while let Some(at) = rest.find(attribute) {
            rest = &rest[at + attribute.len()..];
            let value = match rest.chars().next() {
                Some(quote @ ('"' | '\'')) => rest[1..].split(quote).next().unwrap_or(""),
                _ => rest.split(|c: char| c.is_whitespace() || c == '>').next().unwrap_or(""),
            };
            values.push(value.to_string());
        }
    }
    values
}

/// P1-12: /login, /signup and /dashboard reference nothing on another origin: every `src`,
/// `href` and form `action` is a local path or a fragment (never `//host`), and the stylesheet
/// imports nothing from outside.
#[tokio::test]
async fn p1_12_pages_reference_no_third_party_origin() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("local@example.eu").await;

    for path in ["/login", "/signup", "/dashboard"] {
        let client = if path == "/dashboard" { &browser } else { &Browser::new(&app) };
        let response = client.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let html = response.text().await.unwrap();
        let values = url_attributes(&html);
        assert!(values.iter().any(|v| v == "/static/app.css"), "{path}: the scan found no stylesheet: {values:?}");
        assert!(values.iter().any(|v| v == "/static/htmx.min.js"), "{path}: the scan found no script: {values:?}");
        for value in &values {
            let local = (value.starts_with('/') && !value.starts_with("//")) || value.starts_with('#');
            assert!(local, "{path} references {value:?}, which is not a local path");
        }
        assert!(!html.contains("://"), "{path} contains an absolute URL");
    }

    let css = app.http.get(app.url("/static/app.css")).send().await.unwrap().text().await.unwrap();
    assert!(!css.is_empty());
    assert!(
        !css.contains("http:") && !css.contains("https:") && !css.contains("url(//"),
        "the stylesheet loads from another origin"
    );
}

/// P2-19: across sign-up, dashboard, an action, language switches, logout, failed and successful
/// logins, the API and error pages, the only cookies ever set are strictly necessary ones: the
/// session cookie, `lang`, and the one-shot confirmation after an action (`relais_toast`), which
/// holds a message key and nothing about the person, is HttpOnly, SameSite=Strict and lives at
/// most 60 seconds.
#[tokio::test]
async fn p2_19_only_the_session_and_language_cookies_are_ever_set() {
    let app = TestApp::spawn().await;
    let policy = app.current_policy_version().await;
    let browser = Browser::new(&app);
    let mut names = BTreeSet::new();
    let mut note = |response: &reqwest::Response| names.extend(cookie_names(response));

    note(&browser.get("/").await);
    note(&browser.get("/signup").await);
    note(&browser.get("/login").await);
    let anonymous_switch = browser.post_form("/lang", &[("lang", "fr"), ("next", "/signup")]).await;
    assert_eq!(anonymous_switch.status(), 303);
    note(&anonymous_switch);
    let signup = browser
        .post_form(
            "/signup",
            &[
                ("first_name", "Marie"),
                ("last_name", "Curie"),
                ("email", "marie@example.eu"),
                ("password", testkit::PASSWORD),
                ("organization_name", "Institut du Radium"),
                ("job_title", "Director"),
                ("adult", "true"),
                ("accepted_policy_version", &policy),
            ],
        )
        .await;
    assert_eq!(signup.status(), 200, "check your inbox");
    note(&signup);
    let confirmed = browser.confirm_signup(&app, "marie@example.eu").await;
    assert_eq!(confirmed.status(), 303);
    note(&confirmed);
    note(&browser.get("/dashboard").await);
    let csrf = browser.csrf_token("/dashboard").await;
    let saved = browser
        .post_form(
            "/settings/profile",
            &[
                ("csrf", &csrf),
                ("first_name", "Marie"),
                ("last_name", "Curie"),
                ("job_title", "Director"),
                ("language", "fr"),
            ],
        )
        .await;
    assert_eq!(saved.status(), 303, "the profile saved");
    let toast_cookie = saved
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("relais_toast="))
        .expect("a confirmation toast");
    for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=60"] {
        assert!(toast_cookie.contains(attribute), "{attribute} missing: {toast_cookie}");
    }
    assert!(toast_cookie.starts_with("relais_toast=s:profile."), "a message key only: {toast_cookie}");
    note(&saved);
    note(&browser.get("/settings/profile").await);
    let member_switch = browser.post_form("/lang", &[("lang", "en"), ("next", "/dashboard"), ("csrf", &csrf)]).await;
    assert_eq!(member_switch.status(), 303);
    note(&member_switch);
    note(&browser.get("/dashboard").await);
    note(&browser.get("/no-such-page").await);
    let logout = browser.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(logout.status(), 303);
    note(&logout);
    note(&browser.post_form("/login", &[("email", "marie@example.eu"), ("password", "wrong password!")]).await);
    note(&browser.post_form("/login", &[("email", "marie@example.eu"), ("password", testkit::PASSWORD)]).await);
    note(&app.post_json("/api/v1/signup", &app.signup_body("api@example.eu").await).await);
    note(&app.post_json("/api/v1/signup", &json!({})).await);
    note(&app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap());
    note(&app.http.get(app.url("/static/app.css")).send().await.unwrap());
    note(&app.http.get(app.url("/healthz")).send().await.unwrap());

    assert_eq!(names, BTreeSet::from(["lang".to_string(), "relais_session".to_string(), "relais_toast".to_string()]));
}

fn html_lang(html: &str) -> Option<&str> {
    html.split("<html lang=\"").nth(1)?.split('"').next()
}

/// Pages follow `Accept-Language`; POST /lang sets the `lang` cookie, which then wins over the
/// header; a signed-in member's switch is saved in their profile; `next` only leads to local paths.
#[tokio::test]
async fn pages_speak_the_visitors_language_and_the_switch_is_remembered() {
    let app = TestApp::spawn().await;

    // Accept-Language.
    let french = app.http.get(app.url("/login")).header("accept-language", "fr-FR,fr;q=0.9").send().await.unwrap();
    let html = french.text().await.unwrap();
    assert_eq!(html_lang(&html), Some("fr"), "{html}");
    assert!(html.contains("Connexion") && html.contains("Mot de passe"), "{html}");
    let english = app.http.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert_eq!(html_lang(&english), Some("en"));
    assert!(english.contains("Log in") && !english.contains("Mot de passe"));

    // The switch: a cookie, then French without any header, and even against the header.
    let browser = Browser::new(&app);
    let response = browser.post_form("/lang", &[("lang", "fr"), ("next", "/signup")]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/signup");
    assert_eq!(browser.cookie("lang").as_deref(), Some("fr"));
    let html = browser.get("/signup").await.text().await.unwrap();
    assert_eq!(html_lang(&html), Some("fr"));
    assert!(html.contains("Créer votre organisation"), "{html}");
    let html = browser.get("/login").await.text().await.unwrap();
    assert!(html.contains("Se connecter"), "{html}");
    let against_header = app
        .http
        .get(app.url("/login"))
        .header("cookie", "lang=fr")
        .header("accept-language", "en-GB,en;q=0.9")
        .send()
        .await
        .unwrap();
    assert_eq!(html_lang(&against_header.text().await.unwrap()), Some("fr"), "the chosen language should win");

    // `next` is a local path only.
    for (next, expected) in
        [("//evil.example", "/"), ("https://evil.example/x", "/"), ("/\\evil.example", "/"), ("/login", "/login")]
    {
        let response = browser.post_form("/lang", &[("lang", "en"), ("next", next)]).await;
        assert_eq!(response.status(), 303, "next={next}");
        assert_eq!(header(&response, "location"), expected, "next={next}");
    }

    // A signed-in member: the switch needs the CSRF token and is saved in the profile.
    let (_, _, member) = app.sign_up_and_log_in("polyglot@example.eu").await;
    let language = || async {
        let mut db = app.superuser_connection().await;
        sqlx::query_scalar::<_, String>("select language from users where email = 'polyglot@example.eu'")
            .fetch_one(&mut db)
            .await
            .unwrap()
    };
    assert_eq!(language().await, "en");
    let refused = member.post_form("/lang", &[("lang", "fr"), ("next", "/dashboard")]).await;
    assert_eq!(refused.status(), 403, "a member's switch without the CSRF token");
    assert_eq!(language().await, "en");

    let csrf = member.csrf_token("/dashboard").await;
    let response = member.post_form("/lang", &[("lang", "fr"), ("next", "/dashboard"), ("csrf", &csrf)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/dashboard");
    assert_eq!(language().await, "fr");
    let html = member.get("/dashboard").await.text().await.unwrap();
    assert_eq!(html_lang(&html), Some("fr"));
    assert!(html.contains("Membres") && html.contains("Se déconnecter"), "{html}");

    // The profile follows the member to a new browser that has no lang cookie.
    let elsewhere = app.browser_login("polyglot@example.eu", testkit::PASSWORD).await;
    assert!(elsewhere.cookie("lang").is_none());
    let html = elsewhere.get("/dashboard").await.text().await.unwrap();
    assert_eq!(html_lang(&html), Some("fr"), "the saved language is not used");
}

/// A visitor who signs up in French (chosen with the switch, or from the browser's
/// `Accept-Language`) gets a French profile, so the dashboard right after the sign-up is French.
#[tokio::test]
async fn signing_up_in_french_keeps_french_after_sign_up() {
    let app = TestApp::spawn().await;
    let policy = app.current_policy_version().await;
    let browser = Browser::new(&app);
    assert_eq!(browser.post_form("/lang", &[("lang", "fr"), ("next", "/signup")]).await.status(), 303);
    let html = browser.get("/signup").await.text().await.unwrap();
    assert_eq!(html_lang(&html), Some("fr"), "the sign-up form is not French");
    let response = browser
        .post_form(
            "/signup",
            &[
                ("first_name", "Marie"),
                ("last_name", "Curie"),
                ("email", "marie@example.eu"),
                ("password", testkit::PASSWORD),
                ("organization_name", "Institut du Radium"),
                ("job_title", "Directrice"),
                ("adult", "true"),
                ("accepted_policy_version", &policy),
            ],
        )
        .await;
    assert_eq!(response.status(), 200, "check your inbox");
    assert_eq!(html_lang(&response.text().await.unwrap()), Some("fr"));
    assert_eq!(browser.confirm_signup(&app, "marie@example.eu").await.status(), 303);
    let html = browser.get("/dashboard").await.text().await.unwrap();
    assert_eq!(html_lang(&html), Some("fr"), "the dashboard after a French sign-up is not French");
    let mut db = app.superuser_connection().await;
    let language: String = sqlx::query_scalar("select language from users").fetch_one(&mut db).await.unwrap();
    assert_eq!(language, "fr");
}

/// API errors are RFC 9457 problem+json; the OpenAPI document is 3.1 and lists the sign-up.
#[tokio::test]
async fn api_errors_are_problem_json_and_the_openapi_document_is_served() {
    let app = TestApp::spawn().await;

    for (method, path) in [("GET", "/api/v1/nope"), ("POST", "/api/v1/nothing-here/123"), ("GET", "/api/v1")] {
        let response = app
            .http
            .request(method.parse().unwrap(), app.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        assert_eq!(header(&response, "content-type"), "application/problem+json", "{method} {path}");
        let problem: Value = response.json().await.unwrap();
        assert!(problem["type"].as_str().is_some_and(|t| !t.is_empty()), "{problem}");
        assert_eq!(problem["title"], "Not Found", "{problem}");
        assert_eq!(problem["status"], 404, "{problem}");
    }

    let response = app.http.get(app.url("/api/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "openapi version: {}", doc["openapi"]);
    assert!(doc["paths"]["/api/v1/signup"]["post"].is_object(), "the sign-up is not documented: {}", doc["paths"]);
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
}

/// The value of the first `relais_http_requests_total` sample for GET `route` with `status`.
fn request_count(metrics: &str, route: &str, status: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("relais_http_requests_total{"))
        .filter(|l| {
            l.contains(&format!("route=\"{route}\""))
                && l.contains("method=\"GET\"")
                && l.contains(&format!("status=\"{status}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// /healthz and /readyz answer 200; /metrics is Prometheus text counting requests by route
/// template. The recorder is process-global (other tests' requests count too, and it is
/// installed on the first /metrics call), so the check is that our request raises the count.
/// A token that opens `/metrics` on the public listener in these tests.
const METRICS_TOKEN: &str = "metrics-token-for-tests-0123456789abcdef";

#[tokio::test]
async fn health_readiness_and_metrics_endpoints() {
    let app = TestApp::spawn_with(&[("RELAIS_METRICS_TOKEN", METRICS_TOKEN)]).await;
    let get = |path: &str| {
        let request = app.http.get(app.url(path));
        if path == "/metrics" { request.bearer_auth(METRICS_TOKEN).send() } else { request.send() }
    };

    let health = get("/healthz").await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready");

    let first = get("/metrics").await.unwrap();
    assert_eq!(first.status(), 200);
    let before = request_count(&first.text().await.unwrap(), "/healthz", "200");
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    assert_eq!(get("/no-such-page/ada@example.eu").await.unwrap().status(), 404);
    let second = get("/metrics").await.unwrap();
    assert_eq!(second.status(), 200);
    assert!(header(&second, "content-type").starts_with("text/plain"));
    let text = second.text().await.unwrap();
    assert!(text.contains("relais_http_requests_total"), "{text}");
    let after = request_count(&text, "/healthz", "200");
    assert!(after >= before + 1.0, "the /healthz request was not counted ({before} -> {after})");
    assert!(!text.contains("ada@example.eu"), "a concrete path (with personal data) became a metric label");
}

/// Route names and traffic volumes are for the operator: on the public listener `/metrics` is a
/// 404 unless a token is configured, and then only that token opens it; the metrics listener of
/// its own (`RELAIS_METRICS_LISTEN`) serves nothing else.
#[tokio::test]
async fn metrics_are_closed_to_the_public_listener_without_the_operators_token() {
    let open = TestApp::spawn().await;
    let response = open.http.get(open.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 404, "metrics served to anyone");
    assert!(!response.text().await.unwrap().contains("relais_http_requests_total"));

    let app = TestApp::spawn_with(&[("RELAIS_METRICS_TOKEN", METRICS_TOKEN)]).await;
    let metrics = || app.http.get(app.url("/metrics"));
    let anonymous = metrics().send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(header(&anonymous, "www-authenticate"), "Bearer");
    assert_eq!(metrics().bearer_auth("metrics-token-for-tests-0123456789abcdeX").send().await.unwrap().status(), 401);
    assert_eq!(metrics().bearer_auth(&METRICS_TOKEN[..10]).send().await.unwrap().status(), 401);
    assert_eq!(metrics().header("authorization", METRICS_TOKEN).send().await.unwrap().status(), 401);
    let allowed = metrics().bearer_auth(METRICS_TOKEN).send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed.text().await.unwrap().contains("relais_http_requests_total"));

    // The separate listener `relais serve` starts for RELAIS_METRICS_LISTEN.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, web::metrics::router()).await });
    let private = app.http.get(format!("http://{address}/metrics")).send().await.unwrap();
    assert_eq!(private.status(), 200);
    assert!(private.text().await.unwrap().contains("relais_http_requests_total"));
    for other in ["/healthz", "/login", "/api/v1/openapi.json"] {
        let response = app.http.get(format!("http://{address}{other}")).send().await.unwrap();
        assert_eq!(response.status(), 404, "{other} on the metrics listener");
    }
    server.abort();
}

/// Bearer tokens travel in paths (`/reset/{token}` and four more): the logs name the route
/// template, never the path, at every level and in every span — the outer span a timeout or a
/// panic is logged in included. Query strings are never logged either.
#[tokio::test]
async fn tokens_in_paths_and_queries_never_reach_the_logs() {
    let logs = testkit::logs::capture();
    let app = TestApp::spawn().await;
    app.sign_up("ada@example.eu").await;
    let reset = app.post_json("/api/v1/auth/password-reset", &json!({ "email": "ada@example.eu" })).await;
    assert_eq!(reset.status(), 202);
    app.run_jobs().await;
    let mail = app.mail_to("ada@example.eu").pop().expect("the reset mail");
    let link = mail.link(&app.origin()).expect("a reset link");
    let issued = link.rsplit('/').next().unwrap().to_string();
    assert_eq!(issued.len(), 43, "{link}");

    // Each request carries an id of this test's own, to find its log lines among other tests'.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut request_ids = Vec::new();
    let mut send = async |method: reqwest::Method, path: String| {
        let id = format!("tokens-{run}-{}", request_ids.len());
        let request = app.http.request(method.clone(), app.url(&path)).header("x-request-id", &id);
        let request = if method == reqwest::Method::POST {
            request.header("origin", app.origin()).form(&[("password", "x"), ("csrf", "x")])
        } else {
            request
        };
        request.send().await.unwrap();
        request_ids.push(id);
    };
    let mut tokens = vec![issued.clone()];
    send(reqwest::Method::GET, format!("/reset/{issued}")).await;
    for (n, route) in ["/reset/", "/login/link/", "/invitations/", "/settings/profile/email/", "/admin/setup/"]
        .into_iter()
        .enumerate()
    {
        let token = format!("tok{n}{run}");
        send(reqwest::Method::GET, format!("{route}{token}")).await;
        send(reqwest::Method::POST, format!("{route}{token}")).await;
        tokens.push(token);
    }
    let query_secret = format!("query{run}");
    send(reqwest::Method::GET, format!("/login?next=/{query_secret}&token={query_secret}")).await;
    tokens.push(query_secret);
    drop(app);

    let text = logs.text();
    // The capture saw every request (so the test can fail), in a span naming its template.
    for id in &request_ids {
        assert!(text.lines().any(|line| line.contains(id.as_str()) && line.contains("\"route\"")), "no log of {id}");
    }
    for template in ["/reset/{token}", "/login/link/{token}", "/invitations/{token}", "/admin/setup/{token}"] {
        assert!(text.contains(template), "no log line names {template}");
    }
    for token in &tokens {
        let line = text.lines().find(|line| line.contains(token.as_str()));
        assert!(line.is_none(), "a token reached the logs: {line:?}");
    }
}

/// A client's `X-Request-Id` is echoed and logged only when short and plain; anything else is
/// replaced by a fresh id, so a client cannot write into the logs.
#[tokio::test]
async fn client_request_ids_are_kept_only_when_short_and_plain() {
    let logs = testkit::logs::capture();
    let app = TestApp::spawn().await;
    let with_id = |id: &str| app.http.get(app.url("/healthz")).header("x-request-id", id).send();

    let plain = with_id("lb-7f3a.2_b").await.unwrap();
    assert_eq!(header(&plain, "x-request-id"), "lb-7f3a.2_b");
    let injected = "forged\" level=\"error";
    let long = "L".repeat(65);
    for bad in [injected, long.as_str(), "has space", "a/../b"] {
        let response = with_id(bad).await.unwrap();
        let given = header(&response, "x-request-id");
        assert_ne!(given, bad);
        assert!(uuid::Uuid::parse_str(&given).is_ok(), "{bad:?} answered with {given:?}, not a fresh UUID");
    }
    let twice = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "first")
        .header("x-request-id", "second")
        .send()
        .await
        .unwrap();
    assert!(uuid::Uuid::parse_str(&header(&twice, "x-request-id")).is_ok());
    drop(app);

    let text = logs.text();
    assert!(text.contains("lb-7f3a.2_b"), "the plain id was not logged: the capture missed the requests");
    for bad in [long.as_str(), "has space", "a/../b"] {
        assert!(!text.contains(bad), "a refused request id reached the logs: {bad:?}");
    }
}

/// An unknown page is a 404 HTML page in the visitor's language; the dashboard without a
/// (valid) session redirects to the login page.
#[tokio::test]
async fn unknown_pages_are_404_in_the_visitors_language_and_the_dashboard_needs_a_session() {
    let app = TestApp::spawn().await;

    let english = app.http.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(english.status(), 404);
    assert!(header(&english, "content-type").starts_with("text/html"));
    let html = english.text().await.unwrap();
    assert_eq!(html_lang(&html), Some("en"));
    assert!(html.contains("Page not found"), "{html}");

    let french =
        app.http.get(app.url("/no-such-page")).header("accept-language", "fr-FR,fr;q=0.9").send().await.unwrap();
    assert_eq!(french.status(), 404);
    let html = french.text().await.unwrap();
    assert_eq!(html_lang(&html), Some("fr"));
    assert!(html.contains("Page introuvable"), "{html}");
    let by_cookie = app.http.get(app.url("/no-such-page")).header("cookie", "lang=fr").send().await.unwrap();
    assert!(by_cookie.text().await.unwrap().contains("Page introuvable"));

    for (case, cookie) in [
        ("no cookie", None),
        ("a made-up session", Some("relais_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        ("an empty session", Some("relais_session=")),
    ] {
        let mut request = app.http.get(app.url("/dashboard"));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 303, "{case}");
        assert_eq!(header(&response, "location"), "/login", "{case}");
    }
}

/// Requests the API cannot parse are answered as RFC 9457 problem+json too, like every other API
/// error (the OpenAPI document promises problem+json for the sign-up's 422): malformed JSON, a
/// field of the wrong type, a missing JSON content type, a method the route does not have.
#[tokio::test]
async fn api_rejections_of_unparseable_requests_are_problem_json() {
    let app = TestApp::spawn().await;
    let cases: [(&str, &str, Option<&str>, u16); 4] = [
        ("POST", "/api/v1/signup", Some("{not json"), 400),
        ("POST", "/api/v1/signup", Some("{\"adult\": 5}"), 422),
        ("POST", "/api/v1/signup", None, 415),
        ("GET", "/api/v1/signup", None, 405),
    ];
    for (method, path, json_body, status) in cases {
        let mut request = app.http.request(method.parse().unwrap(), app.url(path));
        if let Some(body) = json_body {
            request = request.header("content-type", "application/json").body(body);
        } else if method == "POST" {
            request = request.body("{}");
        }
        let response = request.send().await.unwrap();
        let case = format!("{method} {path} {json_body:?}");
        assert_eq!(response.status().as_u16(), status, "{case}");
        assert_eq!(header(&response, "content-type"), "application/problem+json", "{case}");
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], status, "{case}: {problem}");
        assert!(problem["title"].is_string() && problem["type"].is_string(), "{case}: {problem}");
    }
}

/// Issue #10 item 19: a query value that does not parse is a 422 naming the parameter (it was a
/// `text/plain` 400), a JSON body over 1 MiB a 413 `payload_too_large` (it was a 400), a body that
/// is JSON but not an object a 422 (serde read `[null, null]` as a struct and changed nothing with
/// a 200), all problem+json; a page's form extractor refusing a body answers the HTML error page,
/// not axum's plain text. A page size over the maximum is refused, not reduced.
#[tokio::test]
async fn api_refusals_of_queries_and_bodies_name_the_parameter_with_the_right_status() {
    let app = TestApp::spawn().await;
    let (_, _, bearer) = app.sign_up_with_token("owner@web-shell-refusals.example.eu").await;
    let problem_of = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let content_type = header(&response, "content-type");
        let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null);
        (status, content_type, body)
    };
    for (path, field) in [
        ("/api/v1/contacts?limit=ten", "limit"),
        ("/api/v1/contacts?limit=-1", "limit"),
        ("/api/v1/contacts?limit=201", "limit"),
        ("/api/v1/search?q=ab&limit=51", "limit"),
        ("/api/v1/search?limit=5", "q"),
        ("/api/v1/webhooks/0193c5a0-0000-7000-8000-000000000000/deliveries?limit=x", "limit"),
    ] {
        let (status, content_type, problem) = problem_of(app.get_with_bearer(&bearer, path).await).await;
        assert_eq!((status, content_type.as_str()), (422, "application/problem+json"), "{path}: {problem}");
        assert_eq!(problem["errors"][0]["field"], field, "{path}: {problem}");
    }

    let big = json!({ "last_name": "x".repeat(1024 * 1024) }).to_string();
    let response = app
        .http
        .post(app.url("/api/v1/contacts"))
        .bearer_auth(&bearer)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, content_type, problem) = problem_of(response).await;
    assert_eq!((status, content_type.as_str()), (413, "application/problem+json"), "{problem}");
    assert_eq!(problem["errors"][0]["code"], "payload_too_large", "{problem}");
    assert_eq!(problem["errors"][0]["field"], "body", "{problem}");

    let (status, pipelines) = app.call_api(&bearer, reqwest::Method::GET, "/api/v1/pipelines", None).await;
    assert_eq!(status, 200);
    let pipeline = pipelines[0]["pipeline_id"].as_str().unwrap();
    let (status, problem) = app
        .call_api(&bearer, reqwest::Method::PATCH, &format!("/api/v1/pipelines/{pipeline}"), Some(json!([null, null])))
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "body", "{problem}");

    let response =
        app.http.post(app.url("/login")).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(response.status(), 415);
    assert!(header(&response, "content-type").starts_with("text/html"), "{}", header(&response, "content-type"));
}

/// P1-20, P0-26, P2-09: the privacy policy shows its version and "last updated" date, and lists
/// every table holding personal data with its purpose, legal basis and retention, from the catalog.
#[tokio::test]
async fn p1_20_p2_09_privacy_policy_shows_last_update_and_the_catalog() {
    let app = TestApp::spawn().await;
    let version = app.current_policy_version().await;
    let response = app.http.get(app.url("/privacy")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("Last updated"), "{html}");
    assert!(html.contains(&version), "version {version} missing");
    for entry in web::data_catalog() {
        if entry.subject == kernel::catalog::Subject::NoPerson {
            continue;
        }
        for shown in [entry.description, entry.legal_basis.article(), entry.retention.describe().as_str()] {
            let escaped = shown.replace('&', "&#38;").replace('\'', "&#39;").replace('"', "&#34;");
            assert!(html.contains(&escaped), "{}: {shown:?} missing from the policy page", entry.table);
        }
    }
    let french =
        app.http.get(app.url("/privacy")).header("accept-language", "fr").send().await.unwrap().text().await.unwrap();
    assert!(french.contains("Dernière mise à jour"), "{french}");
    // Issue #11: the day in the visitor's language, not an ISO date.
    let (_, effective_at) = app.db.current_policy_version(app.clock.now()).await.unwrap().unwrap();
    let day = |lang| kernel::dates::local_date(effective_at, kernel::dates::DEFAULT_ZONE, lang);
    assert!(french.contains(&day(kernel::i18n::Lang::Fr)), "{french}");
    assert!(html.contains(&day(kernel::i18n::Lang::En)), "{html}");
    // The sign-up form links to the policy it asks people to accept.
    let signup = app.http.get(app.url("/signup")).send().await.unwrap().text().await.unwrap();
    assert!(signup.contains("href=\"/privacy\""));
}

/// Issue #11: a page that does not exist, asked for by a signed-in member, keeps their header
/// (their name, the logout button — not "Log in / Sign up") and their language.
#[tokio::test]
async fn a_missing_page_keeps_the_signed_in_members_header_and_language() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("lost@example.eu").await;
    let csrf = browser.csrf_token("/dashboard").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/")]).await;
    let response = browser.get("/settings/members").await;
    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains(r#"action="/logout""#) && !html.contains(r#"href="/signup""#), "the signed-out header");
    assert!(html.contains("Page introuvable"), "not in the member's language");
}

/// The signed-in shell (issue #11): a skip link to `<main id="main">`, the header, navigation,
/// main and footer landmarks, every module's link in the sidebar (the current one marked), the
/// command palette's trigger and the profile menu — in English and in French. Anonymous pages keep
/// the simple layout: the skip link and landmarks, no sidebar.
#[tokio::test]
async fn the_shell_has_a_skip_link_landmarks_and_every_modules_link() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("shell@example.eu").await;
    let html = browser.get("/dashboard").await.text().await.unwrap();
    let skip = html.find("<a class=\"skip-link\" href=\"#main\">Skip to content</a>").expect("a skip link");
    let header = html.find("<header class=\"topbar\">").expect("a header landmark");
    let sidebar =
        html.find("<nav id=\"sidebar\" class=\"sidebar\" aria-label=\"Main navigation\">").expect("the sidebar");
    let main = html.find("<main id=\"main\"").expect("main, the skip link's target");
    let footer = html.find("<footer>").expect("a footer landmark");
    assert!(skip < header && header < sidebar && sidebar < main && main < footer, "in reading order");
    assert_eq!(html.matches("<main").count(), 1);
    let links = web::modules().nav();
    assert!(links.len() >= 5, "{links:?}");
    let nav = &html[sidebar..main];
    for link in &links {
        assert!(nav.contains(&format!("<a href=\"{}\"", link.href)), "{} missing from the sidebar", link.href);
    }
    assert!(nav.contains("<a href=\"/dashboard\" aria-current=\"page\">"), "the current page is marked");
    assert!(nav.contains("data-sidebar-collapse") && nav.contains("aria-expanded=\"true\""), "collapsible");
    assert!(html.contains("data-drawer-toggle aria-controls=\"sidebar\" aria-expanded=\"false\""), "a phone menu");
    assert!(html.contains("class=\"palette-trigger\" data-palette-open aria-keyshortcuts=\"Control+K Meta+K\""));
    assert!(html.contains("<details class=\"profile-menu\">") && html.contains("action=\"/logout\""));
    assert!(html.contains("href=\"/settings/profile\"") && html.contains("href=\"/settings/mfa\""));
    assert!(html.contains("class=\"toast-region\" role=\"status\" aria-live=\"polite\""), "a live region for toasts");

    let csrf = browser.csrf_token("/dashboard").await;
    browser.post_form("/lang", &[("lang", "fr"), ("next", "/dashboard"), ("csrf", &csrf)]).await;
    let html = browser.get("/crm/deals/board").await.text().await.unwrap();
    assert!(html.contains(">Aller au contenu</a>") && html.contains("aria-label=\"Navigation principale\""), "{html}");
    assert!(html.contains("<a href=\"/crm/deals/board\" aria-current=\"page\">"), "the board's own link is current");
    assert!(!html.contains("<a href=\"/crm/deals\" aria-current"), "not the deals' too: one current link");
    assert!(html.contains("Rechercher ou aller à…"));

    let html = app.http.get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("<a class=\"skip-link\" href=\"#main\">") && html.contains("<main id=\"main\""));
    assert!(html.contains("<header class=\"topbar\">") && html.contains("<footer>"));
    assert!(!html.contains("id=\"sidebar\"") && !html.contains("data-palette-open"), "no shell for strangers");
}

/// The value a response sets for `name`, if it sets it (an empty value clears it).
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response.headers().get_all(reqwest::header::SET_COOKIE).iter().find_map(|v| {
        let text = v.to_str().unwrap();
        let pair = text.split(';').next().unwrap();
        let (key, value) = pair.split_once('=')?;
        (key.trim() == name).then(|| value.trim().to_string())
    })
}

/// Issue #11: after an action, the next page shows a toast in the live region — once: the flash
/// cookie is cleared by that page, so a reload shows nothing, and the address carries no notice.
/// A forged or unknown key in the cookie shows nothing (only the catalog's messages are toasts).
#[tokio::test]
async fn a_toast_follows_an_action_once_and_only_known_messages_show() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("toast@example.eu").await;
    let page = "/settings/profile";
    let saved = browser
        .submit_form(
            page,
            page,
            &[("first_name", "Ada"), ("last_name", "Lovelace"), ("job_title", "CEO"), ("language", "en")],
        )
        .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(header(&saved, "location"), page, "a clean address");
    assert_eq!(set_cookie(&saved, "relais_toast").as_deref(), Some("s:profile.saved"));

    let shown = browser.get(page).await;
    assert_eq!(set_cookie(&shown, "relais_toast").as_deref(), Some(""), "cleared by the page that shows it");
    let html = shown.text().await.unwrap();
    let region = html.split("class=\"toast-region\"").nth(1).unwrap();
    assert!(region.contains("<p>Your details were saved.</p>"), "{region}");
    assert!(region.contains("data-toast-dismiss"), "dismissible");
    let again = browser.get(page).await.text().await.unwrap();
    assert!(!again.contains("Your details were saved."), "not after a reload");

    // A validation error is no toast: the form shows it in place.
    let bad = browser.submit_form(page, page, &[("first_name", " "), ("last_name", "L"), ("language", "en")]).await;
    assert_eq!(bad.status(), 422);
    assert_eq!(set_cookie(&bad, "relais_toast"), None);

    let session = browser.cookie(testkit::SESSION_COOKIE).unwrap();
    for forged in ["s:<b>Hacked</b>", "s:crm.notice.nope", "Hello world", "s:profile saved"] {
        let response = app
            .http
            .get(app.url(page))
            .header("cookie", format!("{}={session}; relais_toast={forged}", testkit::SESSION_COOKIE))
            .send()
            .await
            .unwrap();
        let html = response.text().await.unwrap();
        let region = html.split("class=\"toast-region\"").nth(1).unwrap();
        assert!(!region.contains("class=\"toast"), "{forged}: {region}");
        assert!(!html.contains("Hacked"), "{forged}");
    }
}

/// docs/ui.md's living page: every component at `/dev/ui` in the demo, 404 anywhere else.
#[tokio::test]
async fn the_component_page_is_served_by_the_demo_only() {
    let app = TestApp::spawn().await;
    assert_eq!(app.http.get(app.url("/dev/ui")).send().await.unwrap().status(), 404);
    let (_, _, browser) = app.sign_up_and_log_in("dev-ui@example.eu").await;
    assert_eq!(browser.get("/dev/ui").await.status(), 404, "not even for a member");

    let demo = TestApp::spawn_demo().await;
    let response = demo.http.get(demo.url("/dev/ui")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let html = response.text().await.unwrap();
    for component in [
        "class=\"page-header\"",
        "table class=\"data-table\"",
        "class=\"filter-bar\"",
        "class=\"chip\"",
        "class=\"empty-state\"",
        "class=\"toast success",
        "dialog class=\"modal\"",
        "dialog class=\"slide-over\"",
        "nav class=\"tabs\"",
        "class=\"badge success\"",
        "class=\"avatar\"",
        "class=\"skeleton\"",
        "class=\"field-error\"",
        "button type=\"button\" class=\"danger\"",
    ] {
        assert!(html.contains(component), "{component} missing from /dev/ui");
    }
}
