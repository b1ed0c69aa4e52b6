//! The org switcher (issue #11, "the org switcher where a member belongs to several"): a member
//! whose email also holds active accounts in other organizations sees them, by name, in the
//! profile menu; "Switch to …" is that organization's login, with the email filled in and the
//! organization fixed, so switching always takes that account's password (and second factor). Only
//! organizations where the email has an active account are ever named.

use fantoccini::{Client, Locator};
use kernel::OrgId;
use kernel::authz::Role;
use testkit::chromium::{Driver, arrive, fill};
use testkit::http::header;
use testkit::{Browser, PASSWORD, TestApp};
use time::Duration;
use uuid::Uuid;

const ADA: &str = "ada@switch.example.eu";
/// Ada's password in Beta Labs, unlike her [`PASSWORD`] in Alpha Works.
const BETA_PASSWORD: &str = "Beta labs has its own long passphrase";

struct Orgs {
    alpha: OrgId,
    beta: OrgId,
    gamma: OrgId,
    /// Ada's account there is deactivated.
    delta: OrgId,
    /// Suspended by the platform admin, Ada's account active.
    epsilon: OrgId,
}

async fn name_org(app: &TestApp, org: OrgId, name: &str) {
    let mut db = app.superuser_connection().await;
    sqlx::query("update organizations set name = $2 where org_id = $1")
        .bind(org)
        .bind(name)
        .execute(&mut db)
        .await
        .unwrap();
}

async fn set_password(app: &TestApp, org: OrgId, email: &str, password: &str) {
    let mut db = app.superuser_connection().await;
    sqlx::query("update users set password_hash = $3 where org_id = $1 and email = $2")
        .bind(org)
        .bind(email)
        .bind(bcrypt::hash(password, 4).unwrap())
        .execute(&mut db)
        .await
        .unwrap();
}

/// Ada owns Alpha Works and is a member of Beta Labs (another password) and of Delta (deactivated)
/// and Epsilon (suspended); Gamma Corp is someone else's.
async fn orgs(app: &TestApp) -> Orgs {
    let (alpha, _) = app.sign_up(ADA).await;
    let (beta, _) = app.sign_up("owner@beta.example.eu").await;
    let (gamma, _) = app.sign_up("owner@gamma.example.eu").await;
    let (delta, _) = app.sign_up("owner@delta.example.eu").await;
    let (epsilon, _) = app.sign_up("owner@epsilon.example.eu").await;
    for (org, name) in
        [(alpha, "Alpha Works"), (beta, "Beta Labs"), (gamma, "Gamma Corp"), (delta, "Delta"), (epsilon, "Epsilon")]
    {
        name_org(app, org, name).await;
    }
    for org in [beta, delta, epsilon] {
        app.add_member(org, ADA, Role::User).await;
    }
    set_password(app, beta, ADA, BETA_PASSWORD).await;
    // (A deactivated account whose password matched first would refuse the plain login.)
    set_password(app, delta, ADA, "Delta's forgotten passphrase").await;
    let mut db = app.superuser_connection().await;
    sqlx::query("update users set status = 'deactivated' where org_id = $1 and email = $2")
        .bind(delta)
        .bind(ADA)
        .execute(&mut db)
        .await
        .unwrap();
    sqlx::query("update organizations set status = 'suspended' where org_id = $1")
        .bind(epsilon)
        .execute(&mut db)
        .await
        .unwrap();
    Orgs { alpha, beta, gamma, delta, epsilon }
}

/// The organization the top bar names.
async fn top_bar_org(browser: &Browser) -> String {
    let html = browser.get("/dashboard").await.text().await.unwrap();
    let start = html.find("<span class=\"org\">").expect("a signed-in top bar") + "<span class=\"org\">".len();
    html[start..start + html[start..].find('<').unwrap()].to_string()
}

async fn sessions_of(app: &TestApp, org: OrgId, email: &str) -> i64 {
    app.select_i64(&format!(
        "select count(*) from sessions s join users u using (org_id, user_id)
         where s.org_id = '{}' and u.email = '{email}'",
        org.0
    ))
    .await
}

/// Issue #11: the profile menu lists the other organizations where the member's email has an
/// active account — not one where it has none, a deactivated one, or whose organization is
/// suspended — by name, each linking to that organization's login; in French too. A member whose
/// email is nowhere else has no switcher; nobody can have an organization named by its id.
#[tokio::test]
async fn the_profile_menu_names_only_the_orgs_where_the_email_has_an_active_account() {
    let app = TestApp::spawn().await;
    let orgs = orgs(&app).await;
    let ada = app.browser_login(ADA, PASSWORD).await;
    assert_eq!(top_bar_org(&ada).await, "Alpha Works");
    let html = ada.get("/dashboard").await.text().await.unwrap();
    assert!(
        html.contains(&format!("<a href=\"/login?org={}\" data-switch-org>Switch to Beta Labs</a>", orgs.beta.0)),
        "{html}"
    );
    assert!(html.contains("Your other organizations"), "{html}");
    assert_eq!(html.matches("data-switch-org").count(), 1, "{html}");
    for (org, name) in [(orgs.gamma, "Gamma Corp"), (orgs.delta, "Delta"), (orgs.epsilon, "Epsilon")] {
        assert!(!html.contains(&org.0.to_string()) && !html.contains(name), "{name} is named: {html}");
    }

    // The login of an organization the email has no (active) account in names nothing: home.
    for org in [orgs.gamma, orgs.delta, orgs.epsilon] {
        let response = ada.get(&format!("/login?org={}", org.0)).await;
        assert_eq!(response.status(), 303);
        assert_eq!(header(&response, "location"), "/dashboard");
    }
    // Nor does it for a visitor: the plain login form, with no organization in it.
    let visitor = Browser::new(&app).get(&format!("/login?org={}", orgs.beta.0)).await.text().await.unwrap();
    assert!(!visitor.contains("Beta Labs") && !visitor.contains(&orgs.beta.0.to_string()), "{visitor}");

    // French.
    let csrf = ada.csrf_token("/dashboard").await;
    ada.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/dashboard")]).await;
    let html = ada.get("/dashboard").await.text().await.unwrap();
    assert!(html.contains(">Passer à Beta Labs</a>") && html.contains("Vos autres organisations"), "{html}");

    // Gamma's owner belongs nowhere else.
    let gamma = app.browser_login("owner@gamma.example.eu", PASSWORD).await;
    let html = gamma.get("/dashboard").await.text().await.unwrap();
    assert!(!html.contains("data-switch-org") && !html.contains("Alpha Works"), "{html}");
}

/// Issue #11: switching is a login to the other account: its page names the organization and
/// fills in the email; Alpha's password does not open Beta's account (and the member stays in
/// Alpha); Beta's does, the browser's session becomes Beta's, Alpha's session ends, and both are
/// recorded as a login and a logout are.
#[tokio::test]
async fn switching_takes_the_other_accounts_password() {
    let app = TestApp::spawn().await;
    let orgs = orgs(&app).await;
    let ada = app.browser_login(ADA, PASSWORD).await;
    let path = format!("/login?org={}", orgs.beta.0);
    let response = ada.get(&path).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains("<h1>Log in to Beta Labs</h1>"), "{html}");
    assert!(html.contains(&format!("name=\"org\" value=\"{}\"", orgs.beta.0)), "{html}");
    assert!(html.contains(&format!("value=\"{ADA}\" readonly")), "{html}");

    let org = orgs.beta.0.to_string();
    let refused = ada.post_form("/login", &[("email", ADA), ("password", PASSWORD), ("org", &org)]).await;
    assert_eq!(refused.status(), 401);
    let html = refused.text().await.unwrap();
    assert!(html.contains("<h1>Log in to Beta Labs</h1>") && html.contains("The email or password is incorrect."));
    assert_eq!(top_bar_org(&ada).await, "Alpha Works", "still in Alpha");
    assert_eq!(app.count_audit_events(orgs.beta, "auth.login.failed").await, 1);
    assert_eq!(app.count_audit_events(orgs.beta, "auth.login.succeeded").await, 0);
    // Nor is the switch a way into an organization the email has no account in.
    let gamma = orgs.gamma.0.to_string();
    let refused = ada.post_form("/login", &[("email", ADA), ("password", PASSWORD), ("org", &gamma)]).await;
    assert_eq!(refused.status(), 401);
    assert!(!refused.text().await.unwrap().contains("Gamma Corp"));

    let switched = ada.post_form("/login", &[("email", ADA), ("password", BETA_PASSWORD), ("org", &org)]).await;
    assert_eq!(switched.status(), 303);
    assert_eq!(header(&switched, "location"), "/dashboard");
    assert_eq!(top_bar_org(&ada).await, "Beta Labs");
    assert_eq!(sessions_of(&app, orgs.alpha, ADA).await, 0, "Alpha's session ended");
    assert_eq!(sessions_of(&app, orgs.beta, ADA).await, 1);
    assert_eq!(app.count_audit_events(orgs.beta, "auth.login.succeeded").await, 1);
    assert_eq!(app.count_audit_events(orgs.alpha, "auth.logout").await, 1);
    // From Beta, the switcher offers Alpha.
    let html = ada.get("/dashboard").await.text().await.unwrap();
    assert!(html.contains(&format!("href=\"/login?org={}\" data-switch-org>Switch to Alpha Works<", orgs.alpha.0)));
}

/// Issue #11: with the same password in two organizations, the plain login opens one of them, and
/// the login with an organization opens that one — each reachable; another organization's id
/// opens nothing.
#[tokio::test]
async fn equal_passwords_in_two_orgs_reach_the_chosen_one() {
    let app = TestApp::spawn().await;
    let orgs = orgs(&app).await;
    set_password(&app, orgs.beta, ADA, PASSWORD).await;
    for (org, name) in [(orgs.beta, "Beta Labs"), (orgs.alpha, "Alpha Works"), (orgs.beta, "Beta Labs")] {
        let browser = Browser::new(&app);
        let response =
            browser.post_form("/login", &[("email", ADA), ("password", PASSWORD), ("org", &org.0.to_string())]).await;
        assert_eq!(response.status(), 303, "{name}");
        assert_eq!(top_bar_org(&browser).await, name);
    }
    // From Alpha, the switcher reaches Beta with the same password.
    let ada = Browser::new(&app);
    let alpha = orgs.alpha.0.to_string();
    ada.post_form("/login", &[("email", ADA), ("password", PASSWORD), ("org", &alpha)]).await;
    assert_eq!(top_bar_org(&ada).await, "Alpha Works");
    let beta = orgs.beta.0.to_string();
    ada.post_form("/login", &[("email", ADA), ("password", PASSWORD), ("org", &beta)]).await;
    assert_eq!(top_bar_org(&ada).await, "Beta Labs");
    // The plain login still works.
    let plain = app.browser_login(ADA, PASSWORD).await;
    assert!(["Alpha Works", "Beta Labs"].contains(&top_bar_org(&plain).await.as_str()));
    for org in [orgs.gamma.0, orgs.delta.0, orgs.epsilon.0, Uuid::nil()] {
        let response = Browser::new(&app)
            .post_form("/login", &[("email", ADA), ("password", PASSWORD), ("org", &org.to_string())])
            .await;
        assert_eq!(response.status(), 401, "{org}");
    }
    let response =
        Browser::new(&app).post_form("/login", &[("email", ADA), ("password", PASSWORD), ("org", "nonsense")]).await;
    assert_eq!(response.status(), 401);
}

/// Issue #11, P2-18: an account with a second factor asks for it after the password when switched
/// to; until then the member stays where they were.
#[tokio::test]
async fn switching_to_an_account_with_mfa_asks_for_its_code() {
    let app = TestApp::spawn().await;
    let orgs = orgs(&app).await;
    let beta = orgs.beta.0.to_string();
    // Ada sets up TOTP on her Beta account.
    let in_beta = Browser::new(&app);
    in_beta.post_form("/login", &[("email", ADA), ("password", BETA_PASSWORD), ("org", &beta)]).await;
    let html = in_beta.get("/settings/mfa").await.text().await.unwrap();
    let secret = html.split("id=\"totp-secret\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    let csrf = in_beta.csrf_token("/settings/mfa").await;
    let enrolled =
        in_beta.post_form("/settings/mfa/enroll", &[("csrf", &csrf), ("code", &app.totp_code(&secret))]).await;
    assert_eq!(enrolled.status(), 200);

    let ada = app.browser_login(ADA, PASSWORD).await;
    assert_eq!(top_bar_org(&ada).await, "Alpha Works");
    let response = ada.post_form("/login", &[("email", ADA), ("password", BETA_PASSWORD), ("org", &beta)]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/login/mfa");
    assert_eq!(top_bar_org(&ada).await, "Alpha Works", "no session in Beta before the code");
    app.clock.advance(Duration::seconds(30));
    let response = ada.post_form("/login/mfa", &[("code", &app.totp_code(&secret))]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(header(&response, "location"), "/dashboard");
    assert_eq!(top_bar_org(&ada).await, "Beta Labs");
    assert_eq!(sessions_of(&app, orgs.alpha, ADA).await, 0, "Alpha's session ended");
}

async fn eval_bool(client: &Client, script: &str) -> bool {
    client.execute(script, vec![]).await.unwrap().as_bool().unwrap()
}

/// Issue #11: on a phone-sized window, the profile menu's switch entry is a link that opens Beta's
/// login; the password opens Beta; nothing scrolls sideways.
#[tokio::test]
async fn the_switcher_works_in_a_browser_at_390_px() {
    let app = TestApp::spawn().await;
    let beta = orgs(&app).await.beta;
    let driver = Driver::start().await;
    let profile = std::env::temp_dir().join(format!("relais-chromium-{}", Uuid::new_v4().simple()));
    let client = driver.browser_sized(&profile, 390, 844).await;
    client.goto(&app.url("/login")).await.unwrap();
    fill(&client, "email", ADA).await;
    fill(&client, "password", PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/dashboard").await;

    client.find(Locator::Css(".profile-menu > summary")).await.unwrap().click().await.unwrap();
    let switch = client.find(Locator::Css("a[data-switch-org]")).await.unwrap();
    assert!(switch.is_displayed().await.unwrap());
    assert_eq!(switch.text().await.unwrap(), "Switch to Beta Labs");
    assert!(
        eval_bool(&client, "return document.documentElement.scrollWidth <= window.innerWidth").await,
        "the open menu scrolls sideways at 390 px"
    );
    switch.click().await.unwrap();
    let heading = arrive(&client, &app, &format!("/login?org={}", beta.0)).await;
    assert_eq!(heading, "Log in to Beta Labs");
    fill(&client, "password", BETA_PASSWORD).await;
    client.find(Locator::Css("main button.primary")).await.unwrap().click().await.unwrap();
    arrive(&client, &app, "/dashboard").await;
    // (The top bar hides the organization's name on a phone: read it from the page.)
    let org = client.execute("return document.querySelector('.topbar .org').textContent", vec![]).await.unwrap();
    assert_eq!(org.as_str(), Some("Beta Labs"));
}
