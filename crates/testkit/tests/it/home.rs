//! The home page after login (issue #11 item 2): my tasks due today and overdue with "mark done",
//! my open deals by stage with totals per currency, new leads from forms, recent activity on my
//! records, the team's pipeline and conversion rates for owners and managers only, an empty state
//! with a call to action in every panel, and the CRM's visibility applied to every figure.

use kernel::authz::Role;
use kernel::db::Actor;
use serde_json::{Value, json};
use testkit::reqwest::Method;
use testkit::{PASSWORD, TestApp};
use time::format_description::well_known::Rfc3339;

/// The panel `id` of a home page: from its opening tag to its `</section>`.
fn panel<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no panel {id} in {html}"));
    let end = html[start..].find("</section>").map_or(html.len(), |end| start + end);
    &html[start..end]
}

fn has_panel(html: &str, id: &str) -> bool {
    html.contains(&format!("<section class=\"card home-panel\" id=\"{id}\""))
}

async fn create(app: &TestApp, bearer: &str, path: &str, body: Value) -> String {
    let (status, created) = app.call_api(bearer, Method::POST, path, Some(body)).await;
    assert_eq!(status, 201, "{path}: {created}");
    created["id"].as_str().or(created["task_id"].as_str()).expect("an id").to_string()
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

/// Submits a published form as a visitor would: its hidden inputs plus `fields`.
async fn submit_form(app: &TestApp, bearer: &str, fields: &[(&str, &str)]) {
    let body = json!({ "name": "Demo request", "fields": ["first_name", "last_name", "email", "company_name"],
                       "required_fields": ["email"], "thank_you": "Thanks!", "language": "en" });
    let (status, form) = app.call_api(bearer, Method::POST, "/api/v1/forms", Some(body)).await;
    assert_eq!(status, 201, "{form}");
    let path = form["public_url"].as_str().unwrap().strip_prefix(&app.origin()).unwrap().to_string();
    let html = app.http.get(app.url(&path)).send().await.unwrap().text().await.unwrap();
    let mut pairs: Vec<(String, String)> = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split("name=\"").nth(1)?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect();
    pairs.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs.push(("website".into(), String::new()));
    let response = app.http.post(app.url(&path)).header("origin", app.origin()).form(&pairs).send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
}

/// The home page shows my overdue task with its record and a working "mark done", my open deals
/// by stage with the count and the total per currency, and the lead a form brought today.
#[tokio::test]
async fn home_shows_my_overdue_task_my_deals_by_stage_and_the_new_form_lead() {
    let app = TestApp::spawn().await;
    let email = "owner@home-today.example.eu";
    let (_, _, bearer) = app.sign_up_with_token(email).await;
    let now = app.clock.now();

    let fournil = create(&app, &bearer, "/api/v1/deals", json!({ "name": "Fournil de Lyon", "amount": 12000 })).await;
    create(&app, &bearer, "/api/v1/deals", json!({ "name": "Atelier Nantes", "amount": "3000.5" })).await;
    create(&app, &bearer, "/api/v1/deals", json!({ "name": "Boston bakery", "amount": 5000, "currency": "USD" })).await;
    let tasks = format!("/api/v1/deals/{fournil}/tasks");
    let overdue = create(
        &app,
        &bearer,
        &tasks,
        json!({ "title": "Call back about the quote", "due_at": rfc3339(now - time::Duration::hours(30)) }),
    )
    .await;
    let later_due = rfc3339(now + time::Duration::days(7));
    create(&app, &bearer, &tasks, json!({ "title": "Send the contract next week", "due_at": later_due })).await;
    submit_form(&app, &bearer, &[("first_name", "Inès"), ("last_name", "Moreau"), ("email", "ines@moreau.example")])
        .await;

    let browser = app.browser_login(email, PASSWORD).await;
    let html = browser.get("/dashboard").await.text().await.unwrap();
    assert!(html.contains("<h1>Hello, "), "{html}");

    let my_tasks = panel(&html, "home-tasks");
    assert!(my_tasks.contains("Call back about the quote") && my_tasks.contains("Overdue"), "{my_tasks}");
    assert!(my_tasks.contains(&format!("href=\"/crm/deals/{fournil}\"")), "the task links to its record: {my_tasks}");
    assert!(my_tasks.contains("href=\"/crm/tasks\""), "a link to My tasks: {my_tasks}");
    assert!(!my_tasks.contains("Send the contract next week"), "a task due next week is not today's: {my_tasks}");

    let deals = panel(&html, "home-deals");
    assert!(deals.contains("<td class=\"num\">3</td>"), "three open deals in the first stage: {deals}");
    assert!(deals.contains("€15,000.50 · $5,000.00"), "a total per currency: {deals}");
    assert!(deals.contains("<svg class=\"home-bar\""), "a bar chart: {deals}");

    let leads = panel(&html, "home-form-leads");
    assert!(leads.contains("New since yesterday: 1") && leads.contains("Inès Moreau"), "{leads}");

    let activity = panel(&html, "home-activity");
    assert!(activity.contains("Fournil de Lyon") && activity.contains("Call back about the quote"), "{activity}");

    // "Mark done" is the task-status form every timeline uses, and comes back home.
    let csrf = browser.csrf_token("/dashboard").await;
    let done = browser
        .post_form(
            &format!("/crm/tasks/{overdue}/status"),
            &[("csrf", &csrf), ("status", "done"), ("next", "/dashboard")],
        )
        .await;
    assert_eq!(done.status(), 303);
    assert!(done.headers()["location"].to_str().unwrap().starts_with("/dashboard"));
    let html = browser.get("/dashboard").await.text().await.unwrap();
    let my_tasks = panel(&html, "home-tasks");
    assert!(!my_tasks.contains("Call back about the quote") && my_tasks.contains("Nothing due today"), "{my_tasks}");
}

/// The team's pipeline and the conversion rates are for owners and managers; a user's home has
/// their own panels only, and no members administration.
#[tokio::test]
async fn the_team_panels_are_for_owners_and_managers_only() {
    let app = TestApp::spawn().await;
    let owner_email = "owner@home-roles.example.eu";
    let (org, _, bearer) = app.sign_up_with_token(owner_email).await;
    app.add_member(org, "manager@home-roles.example.eu", Role::Manager).await;
    let user = app.add_member(org, "user@home-roles.example.eu", Role::User).await;
    create(&app, &bearer, "/api/v1/deals", json!({ "name": "Clinique du Parc", "amount": 8000, "owner_id": user }))
        .await;
    let lead = create(&app, &bearer, "/api/v1/leads", json!({ "last_name": "Durand" })).await;
    let (status, converted) =
        app.call_api(&bearer, Method::POST, &format!("/api/v1/leads/{lead}/convert"), Some(json!({}))).await;
    assert_eq!(status, 200, "{converted}");
    create(&app, &bearer, "/api/v1/leads", json!({ "last_name": "Petit" })).await;

    for (email, sees_team) in
        [(owner_email, true), ("manager@home-roles.example.eu", true), ("user@home-roles.example.eu", false)]
    {
        let html = app.browser_login(email, PASSWORD).await.get("/dashboard").await.text().await.unwrap();
        assert_eq!(has_panel(&html, "home-team-pipeline"), sees_team, "{email}: {html}");
        assert_eq!(has_panel(&html, "home-conversion"), sees_team, "{email}: {html}");
        assert_eq!(has_panel(&html, "home-team"), sees_team, "{email}: the team panel");
        assert!(has_panel(&html, "home-tasks") && has_panel(&html, "home-deals"), "{email}: {html}");
        if sees_team {
            let team = panel(&html, "home-team-pipeline");
            assert!(team.contains("€8,000.00"), "{email}: every deal counts in the team's pipeline: {team}");
            let rates = panel(&html, "home-conversion");
            assert!(rates.contains("50%") && rates.contains("1 of 2"), "{email}: one lead of two converted: {rates}");
        } else {
            assert!(panel(&html, "home-deals").contains("€8,000.00"), "the user's own deal: {html}");
        }
    }
}

/// A new organization's home has an empty state with the next step in every panel, in English
/// and in French (dates and wording), and never a raw message key.
#[tokio::test]
async fn a_new_organization_sees_empty_states_with_calls_to_action() {
    let app = TestApp::spawn().await;
    let (_, _, browser) = app.sign_up_and_log_in("owner@home-empty.example.eu").await;
    let html = browser.get("/dashboard").await.text().await.unwrap();
    for (id, text, link) in [
        ("home-tasks", "Nothing due today", "/crm/tasks"),
        ("home-deals", "No open deals yet", "/crm/deals/new"),
        ("home-form-leads", "No new leads from your forms since yesterday", "/crm/forms"),
        ("home-activity", "No activity on your records", "/crm/imports"),
        ("home-team-pipeline", "The team has no open deals yet", "/crm/deals/new"),
        ("home-conversion", "No figures yet", "/crm/imports"),
    ] {
        let section = panel(&html, id);
        assert!(section.contains("class=\"empty-state\"") && section.contains(text), "{id}: {section}");
        assert!(section.contains(&format!("href=\"{link}\"")), "{id} leads to {link}: {section}");
    }
    assert!(html.contains("Create a deal") && html.contains("Import contacts"), "{html}");
    assert!(!html.contains("crm.home.") && !html.contains("home.team."), "a raw key: {html}");

    let csrf = browser.csrf_token("/dashboard").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/dashboard")]).await;
    let html = browser.get("/dashboard").await.text().await.unwrap();
    assert!(html.contains("<h1>Bonjour "), "{html}");
    assert!(html.contains("Créer une affaire") && html.contains("Rien à faire aujourd’hui"), "{html}");
    // The member has not chosen a time zone: Paris, the default.
    let today = kernel::dates::local(app.clock.now(), kernel::dates::DEFAULT_ZONE).date();
    let heading = kernel::dates::long_day(today, kernel::i18n::Lang::Fr);
    assert!(html.contains(&heading), "today's date in French ({heading}): {html}");
    assert!(!html.contains("crm.home.") && !html.contains("home.team."), "a raw key: {html}");
}

/// Where the organization limits deals to their owner, a user's home never shows, counts or sums
/// another member's private deal — not through a task assigned to them on it either — and the
/// panels' query, run in the user's own transaction, leaves it out of every total (while the same
/// query with visibility `all` counts it: row-level security is what hides it).
#[tokio::test]
async fn a_member_never_sees_another_members_private_deal_totals() {
    let app = TestApp::spawn().await;
    let (org, _, owner) = app.sign_up_with_token("owner@home-private.example.eu").await;
    let alice = app.add_member(org, "alice@home-private.example.eu", Role::User).await;
    app.add_member(org, "bob@home-private.example.eu", Role::User).await;
    let (status, body) =
        app.call_api(&owner, Method::PUT, "/api/v1/crm/visibility", Some(json!({ "modes": { "deal": "own" } }))).await;
    assert_eq!(status, 200, "{body}");
    let alice_bearer = app.access_token("alice@home-private.example.eu").await;
    let bob_bearer = app.access_token("bob@home-private.example.eu").await;
    create(&app, &alice_bearer, "/api/v1/deals", json!({ "name": "Atelier Vasseur", "amount": 1000 })).await;
    let secret =
        create(&app, &bob_bearer, "/api/v1/deals", json!({ "name": "Secret Bob deal", "amount": 99999 })).await;
    let past = rfc3339(app.clock.now() - time::Duration::hours(2));
    create(
        &app,
        &owner,
        &format!("/api/v1/deals/{secret}/tasks"),
        json!({ "title": "Peek at Bob's deal", "assignee_id": alice, "due_at": past }),
    )
    .await;

    let html = app.browser_login("alice@home-private.example.eu", PASSWORD).await.get("/dashboard").await;
    let html = html.text().await.unwrap();
    assert!(panel(&html, "home-deals").contains("€1,000.00"), "{html}");
    for hidden in ["99,999", "100,999", "Secret Bob deal", "Peek at Bob", &secret] {
        assert!(!html.contains(hidden), "Alice's home shows {hidden}: {html}");
    }

    // Every open deal Alice's transaction sees, by stage: hers alone.
    let seen = |rows: Vec<::crm::home::store::StageTotal>| -> (i64, Vec<String>) {
        (rows.iter().map(|r| r.count).sum(), rows.into_iter().filter(|r| r.count > 0).map(|r| r.total).collect())
    };
    let mut tx = app.db.begin_org(org, Actor::User(alice)).await.unwrap();
    let rows = ::crm::home::store::open_deals_by_stage(&mut tx, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(seen(rows), (1, vec!["1000.00".to_string()]));

    let (status, _) =
        app.call_api(&owner, Method::PUT, "/api/v1/crm/visibility", Some(json!({ "modes": { "deal": "all" } }))).await;
    assert_eq!(status, 200);
    let mut tx = app.db.begin_org(org, Actor::User(alice)).await.unwrap();
    let rows = ::crm::home::store::open_deals_by_stage(&mut tx, None).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(seen(rows), (2, vec!["100999.00".to_string()]), "with visibility `all`, Bob's deal counts");
}

/// The sidebar's number next to "My tasks" counts my open tasks due today or overdue in my time
/// zone (Paris: a task due at 23:30 UTC is tomorrow's), never a colleague's; it comes as an
/// out-of-band fragment for the placeholder every page draws, with a sentence for screen readers,
/// and nothing at all when nothing is due.
#[tokio::test]
async fn the_sidebar_counts_my_tasks_due_today_in_my_time_zone() {
    let app = TestApp::spawn().await;
    // Noon UTC: the same calendar day in Paris, and 23:30 UTC already tomorrow there.
    let start = app.clock.now();
    let noon = start.replace_time(time::Time::from_hms(12, 0, 0).unwrap());
    let noon = if noon > start { noon } else { noon + time::Duration::days(1) };
    app.clock.advance(noon - start);
    let now = app.clock.now();
    let email = "owner@nav-counts.example.eu";
    let (org, _, bearer) = app.sign_up_with_token(email).await;
    let colleague = app.add_member(org, "colleague@nav-counts.example.eu", Role::User).await;
    let deal = create(&app, &bearer, "/api/v1/deals", json!({ "name": "Fournil de Lyon", "amount": 12000 })).await;
    let tasks = format!("/api/v1/deals/{deal}/tasks");
    let late_tonight_utc = now.replace_time(time::Time::from_hms(23, 30, 0).unwrap());
    for (title, due, assignee) in [
        ("Rappeler au sujet du devis", now - time::Duration::hours(2), None),
        ("Envoyer le contrat", late_tonight_utc, None),
        ("Préparer la démo", now - time::Duration::hours(1), Some(colleague)),
    ] {
        let mut body = json!({ "title": title, "due_at": rfc3339(due) });
        if let Some(assignee) = assignee {
            body["assignee_id"] = json!(assignee);
        }
        create(&app, &bearer, &tasks, body).await;
    }

    let browser = app.browser_login(email, PASSWORD).await;
    let page = browser.get("/crm/leads").await.text().await.unwrap();
    assert!(page.contains("hx-get=\"/nav/counts\""), "the sidebar asks for its counts: {page}");
    assert!(page.contains("id=\"nav-count-crm-tasks\" hidden"), "an empty placeholder next to My tasks: {page}");
    let counts = browser.get("/nav/counts").await.text().await.unwrap();
    assert!(
        counts.contains(
            "<span class=\"nav-count\" id=\"nav-count-crm-tasks\" hx-swap-oob=\"true\"><span aria-hidden=\"true\">1</span>"
        ),
        "one task due today for me (not tomorrow's in Paris, not my colleague's): {counts}"
    );
    assert!(counts.contains("1 due today or overdue"), "{counts}");

    let csrf = browser.csrf_token("/dashboard").await;
    browser.post_form("/lang", &[("csrf", &csrf), ("lang", "fr"), ("next", "/dashboard")]).await;
    let counts = browser.get("/nav/counts").await.text().await.unwrap();
    assert!(counts.contains("1 à faire aujourd’hui ou en retard"), "{counts}");

    // The colleague's task is theirs; once mine is done, nothing is left to count.
    let colleague_counts = app
        .browser_login("colleague@nav-counts.example.eu", PASSWORD)
        .await
        .get("/nav/counts")
        .await
        .text()
        .await
        .unwrap();
    assert!(colleague_counts.contains("<span aria-hidden=\"true\">1</span>"), "{colleague_counts}");
    // Two days on (signed in again: the idle session has ended).
    app.clock.advance(time::Duration::days(2));
    let browser = app.browser_login(email, PASSWORD).await;
    let counts = browser.get("/nav/counts").await.text().await.unwrap();
    assert!(counts.contains("<span aria-hidden=\"true\">2</span>"), "both of mine are overdue now: {counts}");
    let bearer = app.access_token(email).await;
    let (_, mine) = app.call_api(&bearer, Method::GET, "/api/v1/tasks", None).await;
    for task in mine.as_array().expect("my tasks") {
        let id = task["id"].as_str().or(task["task_id"].as_str()).expect("a task id");
        let (status, done) = app
            .call_api(&bearer, Method::PATCH, &format!("/api/v1/tasks/{id}"), Some(json!({ "status": "done" })))
            .await;
        assert_eq!(status, 204, "{done}");
    }
    let counts = browser.get("/nav/counts").await.text().await.unwrap();
    assert!(!counts.contains("nav-count"), "nothing due, no number: {counts}");
}
