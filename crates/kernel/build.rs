//! `sqlx::migrate!` embeds the migrations at compile time but cannot see a file added to the
//! directory; this makes Cargo rebuild the kernel when the migrations change, so a new migration is
//! never silently left out of a build (it was, once, in an incremental test run).
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
