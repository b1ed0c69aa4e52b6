//! The CRM settings page (`/settings/crm`): record visibility, custom fields and pipelines, for
//! owners and managers. The rules and writes are the features' own (`visibility`,
//! `custom_fields`, `pipelines`); this page only shows and submits them.

pub mod pages;
