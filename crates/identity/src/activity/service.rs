//! Recording an API request.

use super::*;
use kernel::AppError;
use kernel::authz::{Credential, Principal};
use kernel::web::AppState;

/// Appends `request`, made by `principal`, to the organization's API request log, in its own
/// tenant transaction.
pub async fn record_api_request(state: &AppState, principal: &Principal, request: &ApiRequest) -> Result<(), AppError> {
    let api_key = match principal.credential {
        Credential::ApiKey { key_id } => Some(key_id),
        _ => None,
    };
    let method: String = request.method.chars().filter(char::is_ascii_alphabetic).take(10).collect();
    let method = if method.is_empty() { "OTHER".to_owned() } else { method.to_ascii_uppercase() };
    let route: String = request.route.chars().take(300).collect();
    let mut tx = principal.begin(&state.db).await?;
    sqlx::query!(
        "insert into api_request_log (org_id, request_id, at, method, route, status, user_id, credential,
                                      api_key_id, ip)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        principal.org.0,
        Uuid::now_v7(),
        state.clock.now(),
        method,
        route,
        i16::try_from(request.status).unwrap_or(599),
        principal.user_id,
        principal.credential.kind(),
        api_key,
        request.ip.map(sqlx::types::ipnet::IpNet::from)
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(())
}
