//! What members can do in outreach, with each role's grant. Users work with their own mailboxes
//! and sequences; managers also see and pause everyone's; owners set the limits and may take an
//! address off the suppression list. Routes name these in their `Access::Can`.
use kernel::authz::Action;
use kernel::authz::Grant::{Denied, Org};

pub const OUTREACH_USE: Action = Action::new(
    "outreach_use",
    "Connect, test and revoke one's own mailboxes; build one's own sequences and campaigns, enroll the records one sees, send a test to oneself; see the suppression list and add to it",
    Org,
    Org,
    Org,
);

pub const OUTREACH_MANAGE: Action = Action::new(
    "outreach_manage",
    "See every member's sequences and mailboxes, their figures and messages awaiting review; pause and resume them",
    Org,
    Org,
    Denied,
);

pub const OUTREACH_CONFIGURE: Action = Action::new(
    "outreach_configure",
    "Set a mailbox's daily cap, disable a member's mailbox, remove an address from the suppression list",
    Org,
    Denied,
    Denied,
);

/// Every action of this module, in the order `docs/permissions.md` lists them.
pub const ALL: &[Action] = &[OUTREACH_USE, OUTREACH_MANAGE, OUTREACH_CONFIGURE];
