//! Reading and changing the visibility modes.

use super::*;

pub async fn visibility(tx: &mut OrgTx) -> Result<Visibility, AppError> {
    let rows: Vec<(String, String)> =
        sqlx::query!("select object_type, mode from crm_visibility where org_id = $1", tx.org().0)
            .fetch_all(tx.conn())
            .await?
            .into_iter()
            .map(|row| (row.object_type, row.mode))
            .collect();
    let modes = ObjectType::ALL
        .iter()
        .map(|t| {
            let mode =
                rows.iter().find(|(o, _)| o == t.as_str()).map(|(_, m)| m.clone()).unwrap_or_else(|| "all".into());
            (t.as_str().to_string(), mode)
        })
        .collect();
    Ok(Visibility { modes })
}
