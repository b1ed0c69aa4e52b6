use testkit::TestApp;

#[tokio::test]
async fn app_starts_and_signs_up_over_http() {
    let app = TestApp::spawn().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let (org, _user, browser) = app.sign_up_and_log_in("ada@example.eu").await;
    let html = browser.get("/dashboard").await.text().await.unwrap();
    assert!(html.contains("Org of ada@example.eu"), "{html}");
    assert!(!org.to_string().is_empty());
}
