//! The inbox readers.

use kernel::module::JobDeps;

pub fn register(_registry: &mut kernel::jobs::Registry, _deps: &JobDeps<'_>) {}
