//! Every route of outreach, with the access it requires, in one place: a newcomer finds the
//! handler of any URL here. Handlers live in their feature's `api.rs` or `pages.rs`.

use axum::http::Method as M;
use kernel::authz::Access;
use kernel::web::RouteDef;

use crate::actions::{OUTREACH_CONFIGURE, OUTREACH_USE};
use crate::{record, sending, suppression, tracking, unsubscribe};

pub fn all() -> Vec<RouteDef> {
    let mut routes = Vec::new();
    routes.extend(mailbox_routes());
    routes.extend(sequence_routes());
    routes.extend(sending_routes());
    routes.extend(suppression_routes());
    routes.extend(tracking_routes());
    routes
}

/// Connected mailboxes: connect (with a password, or Gmail and Microsoft 365 by OAuth2), test,
/// settings, revoke. Members act on their own mailboxes, managers and owners see everyone's
/// (checked in the service); owners disable and enable them.
fn mailbox_routes() -> Vec<RouteDef> {
    use crate::actions::OUTREACH_CONFIGURE;
    use crate::mailboxes::{api, oauth_flow, pages};
    let using = || Access::Can(OUTREACH_USE);
    let configuring = || Access::Can(OUTREACH_CONFIGURE);
    vec![
        RouteDef::page(M::GET, "/outreach/mailboxes", using(), pages::list_page),
        RouteDef::page(M::GET, "/outreach/mailboxes/new", using(), pages::new_page),
        RouteDef::page(M::POST, "/outreach/mailboxes/new", using(), pages::connect),
        // Gmail and Microsoft 365 by OAuth2: browser-only (the member consents at the provider).
        RouteDef::page(M::GET, "/outreach/mailboxes/connect/{provider}", using(), oauth_flow::start),
        RouteDef::page(M::GET, "/outreach/oauth/callback", using(), oauth_flow::callback),
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

/// Sequences, their steps, previews, test sends and enrollments. Users manage their own
/// sequences, managers and owners see everyone's and pause or resume them (checked in the
/// service).
fn sequence_routes() -> Vec<RouteDef> {
    use crate::sequences::{api, pages};
    let using = || Access::Can(OUTREACH_USE);
    vec![
        RouteDef::page(M::GET, "/outreach/sequences", using(), pages::list_page),
        RouteDef::page(M::POST, "/outreach/sequences", using(), pages::create),
        RouteDef::page(M::GET, "/outreach/sequences/new", using(), pages::new_page),
        RouteDef::page(M::GET, "/outreach/sequences/{id}", using(), pages::show_page),
        RouteDef::page(M::POST, "/outreach/sequences/{id}/settings", using(), pages::save_settings),
        RouteDef::page(M::POST, "/outreach/sequences/{id}/steps", using(), pages::save_steps),
        RouteDef::page(M::POST, "/outreach/sequences/{id}/status", using(), pages::change_status),
        RouteDef::page(M::POST, "/outreach/sequences/{id}/enroll", using(), pages::enroll),
        RouteDef::page(M::POST, "/outreach/sequences/{id}/test", using(), pages::send_test),
        RouteDef::page(M::POST, "/outreach/enrollments/{id}", using(), pages::act_on_enrollment),
        RouteDef::api(M::GET, "/api/v1/sequences", using(), api::list),
        RouteDef::api(M::POST, "/api/v1/sequences", using(), api::create),
        RouteDef::api(M::GET, "/api/v1/sequences/{id}", using(), api::show),
        RouteDef::api(M::PATCH, "/api/v1/sequences/{id}", using(), api::update),
        RouteDef::api(M::DELETE, "/api/v1/sequences/{id}", using(), api::archive),
        RouteDef::api(M::PUT, "/api/v1/sequences/{id}/steps", using(), api::put_steps),
        RouteDef::api(M::POST, "/api/v1/sequences/{id}/activate", using(), api::activate),
        RouteDef::api(M::POST, "/api/v1/sequences/{id}/pause", using(), api::pause),
        RouteDef::api(M::POST, "/api/v1/sequences/{id}/preview", using(), api::preview),
        RouteDef::api(M::POST, "/api/v1/sequences/{id}/test", using(), api::send_test),
        RouteDef::api(M::GET, "/api/v1/sequences/{id}/enrollments", using(), api::enrollments),
        RouteDef::api(M::POST, "/api/v1/sequences/{id}/enrollments", using(), api::enroll),
        RouteDef::api(M::GET, "/api/v1/outreach/enrollments", using(), api::record_enrollments),
        RouteDef::api(M::POST, "/api/v1/outreach/enrollments/{id}/pause", using(), api::pause_enrollment),
        RouteDef::api(M::POST, "/api/v1/outreach/enrollments/{id}/resume", using(), api::resume_enrollment),
        RouteDef::api(M::POST, "/api/v1/outreach/enrollments/{id}/stop", using(), api::stop_enrollment),
    ]
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

/// The public open pixel and click redirect of tracked messages (their tokens are the proof).
fn tracking_routes() -> Vec<RouteDef> {
    vec![
        RouteDef::page(M::GET, "/t/o/{token}", Access::Public, tracking::pages::open),
        RouteDef::page(M::GET, "/t/c/{token}", Access::Public, tracking::pages::click),
    ]
}

/// The suppression list and the public one-click unsubscribe. Any member may add to the list
/// (it only ever stops mail); only owners take an address off.
fn suppression_routes() -> Vec<RouteDef> {
    let using = || Access::Can(OUTREACH_USE);
    let configuring = || Access::Can(OUTREACH_CONFIGURE);
    vec![
        RouteDef::page(M::GET, "/u/{token}", Access::Public, unsubscribe::pages::confirm_page),
        RouteDef::page(M::POST, "/u/{token}", Access::Public, unsubscribe::pages::unsubscribe),
        RouteDef::page(M::GET, "/outreach/suppressions", using(), suppression::pages::list_page),
        RouteDef::page(M::POST, "/outreach/suppressions", using(), suppression::pages::add),
        RouteDef::page(M::POST, "/outreach/suppressions/import", using(), suppression::pages::import),
        RouteDef::page(M::POST, "/outreach/suppressions/remove", configuring(), suppression::pages::remove),
        RouteDef::page(M::POST, "/outreach/do-not-contact/{object}/{id}", using(), record::pages::do_not_contact),
        RouteDef::api(M::GET, "/api/v1/outreach/suppressions", using(), suppression::api::list),
        RouteDef::api(M::POST, "/api/v1/outreach/suppressions", using(), suppression::api::add),
        RouteDef::api(M::POST, "/api/v1/outreach/suppressions/import", using(), suppression::api::import),
        RouteDef::api(M::DELETE, "/api/v1/outreach/suppressions/{email}", configuring(), suppression::api::remove),
    ]
}
