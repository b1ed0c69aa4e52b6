//! Every route of outreach, with the access it requires, in one place: a newcomer finds the
//! handler of any URL here. Handlers live in their feature's `api.rs` or `pages.rs`.

use axum::http::Method as M;
use kernel::authz::Access;
use kernel::web::RouteDef;

use crate::actions::OUTREACH_USE;
use crate::sending;

pub fn all() -> Vec<RouteDef> {
    let mut routes = Vec::new();
    routes.extend(mailbox_routes());
    routes.extend(sequence_routes());
    routes.extend(sending_routes());
    routes.extend(suppression_routes());
    routes
}

/// Connected mailboxes: connect, test, settings, revoke. Members act on their own mailboxes,
/// managers and owners see everyone's (checked in the service); owners disable and enable them.
fn mailbox_routes() -> Vec<RouteDef> {
    use crate::actions::OUTREACH_CONFIGURE;
    use crate::mailboxes::{api, pages};
    let using = || Access::Can(OUTREACH_USE);
    let configuring = || Access::Can(OUTREACH_CONFIGURE);
    vec![
        RouteDef::page(M::GET, "/outreach/mailboxes", using(), pages::list_page),
        RouteDef::page(M::GET, "/outreach/mailboxes/new", using(), pages::new_page),
        RouteDef::page(M::POST, "/outreach/mailboxes/new", using(), pages::connect),
        RouteDef::page(M::GET, "/outreach/mailboxes/{id}", using(), pages::mailbox_page),
        RouteDef::page(M::POST, "/outreach/mailboxes/{id}", using(), pages::save),
        RouteDef::page(M::POST, "/outreach/mailboxes/{id}/test", using(), pages::test),
        RouteDef::page(M::POST, "/outreach/mailboxes/{id}/revoke", using(), pages::revoke),
        RouteDef::page(M::POST, "/outreach/mailboxes/{id}/disable", configuring(), pages::disable),
        RouteDef::page(M::POST, "/outreach/mailboxes/{id}/enable", configuring(), pages::enable),
        RouteDef::api(M::GET, "/api/v1/outreach/mailboxes", using(), api::list),
        RouteDef::api(M::POST, "/api/v1/outreach/mailboxes", using(), api::create),
        RouteDef::api(M::GET, "/api/v1/outreach/mailboxes/{id}", using(), api::get),
        RouteDef::api(M::PATCH, "/api/v1/outreach/mailboxes/{id}", using(), api::update),
        RouteDef::api(M::DELETE, "/api/v1/outreach/mailboxes/{id}", using(), api::revoke),
        RouteDef::api(M::POST, "/api/v1/outreach/mailboxes/{id}/test", using(), api::test),
        RouteDef::api(M::POST, "/api/v1/outreach/mailboxes/{id}/disable", configuring(), api::disable),
        RouteDef::api(M::POST, "/api/v1/outreach/mailboxes/{id}/enable", configuring(), api::enable),
    ]
}

/// Sequences, their steps, previews, test sends and enrollments.
fn sequence_routes() -> Vec<RouteDef> {
    vec![]
}

/// Messages: what is planned, sent, and awaiting review; a sequence's figures. Users see their
/// own mailboxes' messages and sequences, managers and owners everyone's (checked in the handlers).
fn sending_routes() -> Vec<RouteDef> {
    let using = || Access::Can(OUTREACH_USE);
    vec![
        RouteDef::page(M::GET, "/outreach/review", using(), sending::pages::review_page),
        RouteDef::page(M::POST, "/outreach/review/{id}", using(), sending::pages::decide),
        RouteDef::page(M::GET, "/outreach/sequences/{id}/report", using(), sending::pages::report_page),
        RouteDef::api(M::GET, "/api/v1/outreach/messages", using(), sending::api::list),
        RouteDef::api(M::POST, "/api/v1/outreach/messages/{id}/review", using(), sending::api::review),
        RouteDef::api(M::GET, "/api/v1/sequences/{id}/report", using(), sending::api::report),
    ]
}

/// The suppression list and the public one-click unsubscribe.
fn suppression_routes() -> Vec<RouteDef> {
    vec![]
}
