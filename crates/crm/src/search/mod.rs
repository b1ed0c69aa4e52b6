//! Global search across the four record types (accent- and typo-tolerant), the search page, and the
//! typeahead lookups of record pickers.

pub mod api;
pub mod pages;
pub mod palette;
mod store;

pub use store::*;
