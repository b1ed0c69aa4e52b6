//! Every route of outreach, with the access it requires, in one place: a newcomer finds the
//! handler of any URL here. Handlers live in their feature's `api.rs` or `pages.rs`.

use kernel::web::RouteDef;

pub fn all() -> Vec<RouteDef> {
    let mut routes = Vec::new();
    routes.extend(mailbox_routes());
    routes.extend(sequence_routes());
    routes.extend(sending_routes());
    routes.extend(suppression_routes());
    routes
}

/// Connected mailboxes: connect, test, settings, revoke.
fn mailbox_routes() -> Vec<RouteDef> {
    vec![]
}

/// Sequences, their steps, previews, test sends and enrollments.
fn sequence_routes() -> Vec<RouteDef> {
    vec![]
}

/// Messages: what is planned, sent, and awaiting review.
fn sending_routes() -> Vec<RouteDef> {
    vec![]
}

/// The suppression list and the public one-click unsubscribe.
fn suppression_routes() -> Vec<RouteDef> {
    vec![]
}
