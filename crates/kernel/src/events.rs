//! Domain events: what a module announces about its data ("a record was created"), published
//! inside the tenant transaction that made the change, so a subscriber's own writes (a webhook
//! delivery queued, an outreach enrollment stopped) commit or roll back with the change itself.
//!
//! Modules declare their [`Subscriber`]s in their [`crate::module::Module`]; the assembled list
//! travels with the database handle ([`crate::Db::with_events`]) into every tenant transaction, so
//! a publisher never needs to know who listens. That is what lets a module that depends on the CRM
//! (outreach, the assistant, privacy) react to CRM changes without the CRM calling back up the
//! dependency graph.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::db::OrgTx;
use crate::error::AppError;

/// Something that happened to one subject (a record, a member…) of the transaction's organization.
#[derive(Debug, Clone)]
pub struct DomainEvent {
    /// `<module>.<subject>.<verb>`, e.g. `sales.order.created`.
    pub name: &'static str,
    /// The id of what the event is about.
    pub subject_id: Uuid,
    pub occurred_at: OffsetDateTime,
    /// The event's facts; their shape is documented next to the event's name in the publisher.
    pub data: Value,
}

pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), AppError>> + Send + 'a>>;

/// A module's handler for some events, run in the publisher's transaction. A handler that fails
/// fails the change that published the event: subscribers must only do what belongs with it.
pub struct Subscriber {
    /// Who subscribes, for logs and `docs/architecture.md`.
    pub name: &'static str,
    /// The event names it wants; an entry ending in `.*` matches every name under that prefix.
    pub events: &'static [&'static str],
    pub handle: for<'a> fn(&'a mut OrgTx, &'a DomainEvent) -> HandlerFuture<'a>,
}

impl Subscriber {
    fn wants(&self, name: &str) -> bool {
        self.events.iter().any(|pattern| match pattern.strip_suffix(".*") {
            Some(prefix) => name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
            None => *pattern == name,
        })
    }
}

/// Every module's subscribers, assembled once at start.
#[derive(Clone, Default)]
pub struct EventBus(Arc<Vec<&'static Subscriber>>);

impl EventBus {
    pub fn new(subscribers: Vec<&'static Subscriber>) -> Self {
        Self(Arc::new(subscribers))
    }

    pub fn subscribers(&self) -> impl Iterator<Item = &'static Subscriber> + '_ {
        self.0.iter().copied()
    }
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|s| s.name)).finish()
    }
}

/// Runs every subscriber of `event.name`, in the order the modules were listed, inside `tx`.
pub async fn publish(tx: &mut OrgTx, event: DomainEvent) -> Result<(), AppError> {
    let bus = tx.events().clone();
    for subscriber in bus.subscribers().filter(|s| s.wants(event.name)) {
        (subscriber.handle)(tx, &event).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing<'a>(_: &'a mut OrgTx, _: &'a DomainEvent) -> HandlerFuture<'a> {
        Box::pin(async { Ok(()) })
    }

    #[test]
    fn patterns_match_names_and_prefixes() {
        let exact = Subscriber { name: "t", events: &["sales.order.created"], handle: nothing };
        assert!(exact.wants("sales.order.created"));
        assert!(!exact.wants("sales.order.deleted"));
        let prefix = Subscriber { name: "t", events: &["sales.order.*"], handle: nothing };
        assert!(prefix.wants("sales.order.deleted"));
        assert!(!prefix.wants("sales.orders.deleted"));
        assert!(!prefix.wants("sales.order"));
    }
}
