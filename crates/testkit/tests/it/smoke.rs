use testkit::TestApp;

#[tokio::test]
async fn app_starts_and_signs_up_over_http() {
    let app = TestApp::spawn().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let (org, _user) = app.sign_up("ada@example.eu").await;
    let browser = app.browser_login("ada@example.eu", testkit::PASSWORD).await;
    let html = browser.get("/dashboard").await.text().await.unwrap();
    assert!(html.contains("Org of ada@example.eu"), "{html}");
    assert!(!org.to_string().is_empty());
}
