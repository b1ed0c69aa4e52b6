//! Reading the audit log back, to check what an action recorded.

use kernel::OrgId;
use serde_json::Value;
use uuid::Uuid;

use crate::TestApp;

/// One row of `audit_events`, with the columns tests look at.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AuditEntry {
    pub org_id: Uuid,
    pub seq: i64,
    pub action: String,
    pub actor_kind: String,
    pub target_id: Option<Uuid>,
    pub payload: Value,
}

const AUDIT_COLUMNS: &str = "select org_id, seq, action, actor_kind, target_id, payload from audit_events";

impl TestApp {
    /// Every organization's audit events, read as the superuser, by org and then in order.
    pub async fn audit_log(&self) -> Vec<AuditEntry> {
        let mut db = self.superuser_connection().await;
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{AUDIT_COLUMNS} order by org_id, seq")))
            .fetch_all(&mut db)
            .await
            .expect("read the audit log")
    }

    /// The actions of [`TestApp::audit_log`], in its order.
    pub async fn audit_actions(&self) -> Vec<String> {
        self.audit_log().await.into_iter().map(|entry| entry.action).collect()
    }

    /// One organization's audit events, in order.
    pub async fn org_audit_log(&self, org: OrgId) -> Vec<AuditEntry> {
        let mut db = self.superuser_connection().await;
        sqlx::query_as(sqlx::AssertSqlSafe(format!("{AUDIT_COLUMNS} where org_id = $1 order by seq")))
            .bind(org)
            .fetch_all(&mut db)
            .await
            .expect("read the audit log")
    }

    /// How many `action` events `org`'s audit log holds, counted in the org's tenant transaction.
    pub async fn count_audit_events(&self, org: OrgId, action: &str) -> i64 {
        let mut tx = self.db.begin_org(org, kernel::db::Actor::System).await.expect("tenant transaction");
        let count = sqlx::query_scalar!(
            r#"select count(*) as "count!" from audit_events where org_id = $1 and action = $2"#,
            org.0,
            action
        )
        .fetch_one(tx.conn())
        .await
        .expect("count audit events");
        tx.commit().await.expect("commit");
        count
    }
}
