//! P1-01: card data stays with the payment provider.

use testkit::TestApp;

/// P1-01: no column anywhere in the schema could hold card data (number, CVC, expiry).
#[tokio::test]
async fn p1_01_no_column_can_hold_card_data() {
    let app = TestApp::spawn().await;
    let mut db = app.superuser_connection().await;
    let columns: Vec<(String, String)> = sqlx::query_as(
        "select table_name::text, column_name::text from information_schema.columns
         where table_schema = 'public'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert!(columns.len() > 20, "read only {} columns", columns.len());
    let suspicious = ["card", "pan", "cvc", "cvv", "iban", "expiry_month", "exp_month"];
    let found: Vec<String> = columns
        .iter()
        .filter(|(_, column)| {
            column.split('_').any(|word| suspicious.contains(&word)) || suspicious.contains(&column.as_str())
        })
        .map(|(table, column)| format!("{table}.{column}"))
        .collect();
    assert!(found.is_empty(), "columns that look like card data: {found:?}");
}
