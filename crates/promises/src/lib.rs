//! The promise map: what each promise ID means and which tests prove it.
//!
//! Relais keeps every promise of the three privacy policies it replaces and cites them by ID
//! (`P0-04`, `P1-11`, …) in comments and in test names (`p1_11_form_submission_…`). Those IDs must
//! resolve inside the repository, so this crate holds the promises ([`PROMISES`]), finds the tests
//! and citations in the source tree ([`scan`]) and renders `docs/promises.md` ([`render`]). The
//! page is written (`scripts/promises.sh --write`) and checked (the test `promise_map_is_current`)
//! by this one implementation, so the two cannot disagree.
//!
//! It is a crate of its own with no dependency, so that the check builds in seconds and runs
//! without PostgreSQL, and because it reads the source tree rather than anything the running
//! service knows: it has no place in the kernel or in the shipped binary.

mod table;

pub use table::PROMISES;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{fs, io};

/// The generated page, relative to the repository root.
pub const PAGE: &str = "docs/promises.md";

/// This crate's own directory: skipped by the scan, since its table and its test fixtures name
/// every ID (and a few that do not exist) without citing or proving anything.
const SELF_DIR: &str = "crates/promises";

/// Where citations of promise IDs are looked for (test names are looked for in `crates/` only).
const CITING_DIRS: &[&str] = &["crates", "migrations", "scripts", "docs"];
const CITING_FILES: &[&str] = &["README.md"];
/// Text files that may cite a promise; data files (word lists) are left out, since a `P1-23`
/// there would be a coincidence, not a citation.
const CITING_EXTENSIONS: &[&str] = &["rs", "md", "sql", "sh", "html", "js", "css", "json", "toml"];

/// The privacy policy a promise comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `P0-xx`: the privacy policy of LeadSphere, a B2B prospecting tool.
    LeadSphere,
    /// `P1-xx`: the privacy policy of a CRM platform (the policy names no product).
    Crm,
    /// `P2-xx`: the privacy policy of PimsLead, an AI role-play training app for managers.
    PimsLead,
}

impl Policy {
    pub const ALL: [Policy; 3] = [Policy::LeadSphere, Policy::Crm, Policy::PimsLead];

    /// The ID prefix of this policy's promises.
    pub fn prefix(self) -> &'static str {
        match self {
            Policy::LeadSphere => "P0",
            Policy::Crm => "P1",
            Policy::PimsLead => "P2",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::LeadSphere => "LeadSphere privacy policy",
            Policy::Crm => "CRM privacy policy",
            Policy::PimsLead => "PimsLead privacy policy",
        }
    }

    pub fn product(self) -> &'static str {
        match self {
            Policy::LeadSphere => "LeadSphere, the B2B prospecting tool",
            Policy::Crm => "the CRM platform (the policy names no product)",
            Policy::PimsLead => "PimsLead, the AI role-play training app for managers",
        }
    }
}

/// One promise of a replaced privacy policy.
#[derive(Debug)]
pub struct Promise {
    /// `P0-01` … `P2-19`; test names carry it as `p0_01_`.
    pub id: &'static str,
    pub policy: Policy,
    /// What the policy promises.
    pub text: &'static str,
    /// How the software shows that it keeps the promise.
    pub shown: &'static str,
}

impl Promise {
    /// The form the ID takes in a test name: `P1-11` → `p1_11_`.
    pub fn test_prefix(&self) -> String {
        format!("{}_", self.id.to_ascii_lowercase().replace('-', "_"))
    }
}

/// A test function whose name carries one or more promise IDs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TestFn {
    /// Relative to the repository root, with `/` separators.
    pub path: String,
    pub name: String,
    /// In `P0-01` form, in the order the name carries them.
    pub ids: Vec<String>,
}

/// A promise ID written in a file (a comment, a doc, a migration).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Citation {
    pub path: String,
    pub line: usize,
    pub id: String,
}

/// What the source tree says about promises.
#[derive(Debug, Default)]
pub struct Scan {
    pub tests: Vec<TestFn>,
    pub citations: Vec<Citation>,
}

/// The repository root, as this crate was built in it (a fresh clone needs nothing beside it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn promise(id: &str) -> Option<&'static Promise> {
    PROMISES.iter().find(|p| p.id == id)
}

/// Scans the tree under `root`: test names under `crates/`, citations under [`CITING_DIRS`] and
/// in [`CITING_FILES`]. The tree is walked each time, so tests that move between files are
/// followed without any list of paths to maintain.
pub fn scan(root: &Path) -> io::Result<Scan> {
    let mut files = Vec::new();
    for dir in CITING_DIRS {
        walk(root, Path::new(dir), &mut files)?;
    }
    for file in CITING_FILES {
        if root.join(file).is_file() {
            files.push(PathBuf::from(file));
        }
    }
    let mut scan = Scan::default();
    for rel in files {
        let path = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        if path == PAGE || path.starts_with(&format!("{SELF_DIR}/")) {
            continue;
        }
        let ext = rel.extension().and_then(|e| e.to_str()).unwrap_or_default();
        if !CITING_EXTENSIONS.contains(&ext) {
            continue;
        }
        let text = fs::read_to_string(root.join(&rel))?;
        if ext == "rs" && path.starts_with("crates/") {
            scan.tests.extend(tests_in(&path, &text));
        }
        scan.citations.extend(citations_in(&path, &text));
    }
    scan.tests.sort();
    scan.citations.sort();
    Ok(scan)
}

/// Collects the files under `root/dir`, in name order so the page does not depend on the file
/// system. Hidden directories and build output are not source.
fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    let full = root.join(dir);
    if !full.is_dir() {
        return Ok(());
    }
    let mut entries = fs::read_dir(&full)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" || name == "node_modules" {
            continue;
        }
        let rel = dir.join(&*name);
        if entry.file_type()?.is_dir() {
            walk(root, &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// The test functions of one Rust file whose name carries a promise ID. A function counts as a
/// test when an attribute whose path ends in `test` (`#[test]`, `#[tokio::test(…)]`) stands above
/// it, so a helper that happens to carry an ID proves nothing here.
pub fn tests_in(path: &str, text: &str) -> Vec<TestFn> {
    let mut found = Vec::new();
    let mut test_attribute = false;
    // Brackets still open in a multi-line attribute.
    let mut open = 0i32;
    for line in text.lines() {
        let line = line.trim_start();
        if open > 0 {
            open += bracket_balance(line);
            continue;
        }
        if line.starts_with("#[") {
            test_attribute |= is_test_attribute(line);
            open = bracket_balance(line);
            continue;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if test_attribute && let Some(name) = fn_name(line) {
            let ids = ids_in_name(name);
            if !ids.is_empty() {
                found.push(TestFn { path: path.to_owned(), name: name.to_owned(), ids });
            }
        }
        test_attribute = false;
    }
    found
}

fn bracket_balance(line: &str) -> i32 {
    line.chars().map(|c| i32::from(c == '[') - i32::from(c == ']')).sum()
}

fn is_test_attribute(line: &str) -> bool {
    let path: String =
        line["#[".len()..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
    path.rsplit("::").next() == Some("test")
}

/// The name of the function a line declares, if it declares one.
fn fn_name(line: &str) -> Option<&str> {
    let mut rest = line;
    loop {
        let before = rest;
        for qualifier in ["pub(crate) ", "pub(super) ", "pub ", "async ", "const ", "unsafe "] {
            rest = rest.strip_prefix(qualifier).unwrap_or(rest);
        }
        if rest == before {
            break;
        }
    }
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The promise IDs a name carries: each `pN_NN_` that starts the name or follows a `_`
/// (`p0_19_p1_15_public_url…` carries P0-19 and P1-15).
pub fn ids_in_name(name: &str) -> Vec<String> {
    let parts: Vec<&str> = name.split('_').collect();
    let mut ids: Vec<String> = Vec::new();
    for window in parts.windows(3) {
        let (p, n) = (window[0].as_bytes(), window[1].as_bytes());
        if p.len() == 2 && p[0] == b'p' && p[1].is_ascii_digit() && n.len() == 2 && n.iter().all(u8::is_ascii_digit) {
            let id = format!("P{}-{}", char::from(p[1]), window[1]);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// Every `PN-NN` in a text that stands as a word of its own.
pub fn citations_in(path: &str, text: &str) -> Vec<Citation> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let b = line.as_bytes();
        for i in 0..b.len().saturating_sub(4) {
            let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
            let shape = b[i] == b'P'
                && b[i + 1].is_ascii_digit()
                && b[i + 2] == b'-'
                && b[i + 3].is_ascii_digit()
                && b[i + 4].is_ascii_digit();
            let word_end = b.get(i + 5).is_none_or(|c| !c.is_ascii_digit());
            if word_start && shape && word_end {
                found.push(Citation { path: path.to_owned(), line: index + 1, id: line[i..i + 5].to_owned() });
            }
        }
    }
    found
}

/// IDs used in the tree that are not promises, each with where it is used.
pub fn unknown_ids(scan: &Scan) -> Vec<String> {
    let mut unknown = Vec::new();
    for test in &scan.tests {
        for id in test.ids.iter().filter(|id| promise(id).is_none()) {
            unknown.push(format!("{id} in the name of test `{}` ({})", test.name, test.path));
        }
    }
    for c in scan.citations.iter().filter(|c| promise(&c.id).is_none()) {
        unknown.push(format!("{} at {}:{}", c.id, c.path, c.line));
    }
    unknown
}

/// The tests that carry `id` in their name, by file then name.
pub fn tests_of<'a>(scan: &'a Scan, id: &str) -> Vec<&'a TestFn> {
    scan.tests.iter().filter(|t| t.ids.iter().any(|i| i == id)).collect()
}

/// `docs/promises.md`.
pub fn render(scan: &Scan) -> String {
    let mut page = String::new();
    let proven = PROMISES.iter().filter(|p| !tests_of(scan, p.id).is_empty()).count();
    let test_count = scan.tests.iter().filter(|t| t.ids.iter().any(|id| promise(id).is_some())).count();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = write!(
        page,
        "# The promises Relais keeps\n\n\
         <!-- Generated by `scripts/promises.sh --write`: do not edit by hand. -->\n\n\
         Relais replaces three products and keeps every promise their privacy policies make. Each \
         promise has an ID, cited in the code's comments and carried by the names of the tests that \
         prove it: `p1_11_form_submission_…` proves P1-11. This page resolves every ID.\n\n\
         **How this page is made.** It is generated: the promises, their source and how the software \
         shows them come from `{SELF_DIR}/src/table.rs`; the tests are found by scanning \
         `crates/**/*.rs` for test functions (`#[test]`, `#[tokio::test]`, …) whose name carries \
         `pN_NN_`. After adding, renaming, moving or removing such a test, or editing a promise in \
         the table, regenerate it with `scripts/promises.sh --write`. The test \
         `promise_map_is_current` (`cargo test -p relais-promises`, run by `scripts/test.sh`) fails \
         when this page is stale, and when an ID written anywhere in `crates/`, `migrations/`, \
         `scripts/`, `docs/` or `README.md` is not a promise listed here.\n\n\
         **Status.** A promise is *proven* when at least one test carries its ID in its name. *Not \
         yet* means no test name carries it: the feature may not be built yet (outreach, AI and \
         training come next), or its tests cite the ID only in a comment.\n\n\
         ## Summary\n\n\
         **{proven} of {} promises carry a named test** ({test_count} test functions carry a promise ID).\n\n\
         | policy | IDs | promises | with a named test |\n|---|---|---|---|\n",
        PROMISES.len()
    );
    for policy in Policy::ALL {
        let own: Vec<_> = PROMISES.iter().filter(|p| p.policy == policy).collect();
        let own_proven = own.iter().filter(|p| !tests_of(scan, p.id).is_empty()).count();
        let _ = writeln!(
            page,
            "| {} — {} | `{}-xx` | {} | {own_proven} |",
            policy.name(),
            policy.product(),
            policy.prefix(),
            own.len()
        );
    }
    page.push_str("\n| ID | status |\n|---|---|\n");
    for p in PROMISES {
        let _ = writeln!(page, "| [{}](#{}) | {} |", p.id, p.id.to_ascii_lowercase(), status(scan, p));
    }
    for policy in Policy::ALL {
        let _ = write!(page, "\n## {} — {}\n", policy.name(), policy.product());
        for p in PROMISES.iter().filter(|p| p.policy == policy) {
            let _ = write!(
                page,
                "\n### {}\n\n{}\n\n- **Source:** {}\n- **How the software shows it:** {}\n- **Status:** {}\n",
                p.id,
                p.text,
                policy.name(),
                p.shown,
                status(scan, p)
            );
            let tests = tests_of(scan, p.id);
            if tests.is_empty() {
                let _ = writeln!(page, "- **Tests:** none carries `{}` yet", p.test_prefix());
            } else {
                page.push_str("- **Tests:**\n");
                for t in tests {
                    let _ = writeln!(page, "  - `{}` — `{}`", t.name, t.path);
                }
            }
        }
    }
    page
}

fn status(scan: &Scan, p: &Promise) -> String {
    match tests_of(scan, p.id).len() {
        0 => "not yet".to_owned(),
        1 => "proven by 1 named test".to_owned(),
        n => format!("proven by {n} named tests"),
    }
}

/// What the drift test and `scripts/promises.sh --check` demand: no unknown ID in the tree, and
/// the committed page equal to the rendered one. The error says what is wrong and how to fix it.
pub fn check(root: &Path) -> Result<(), String> {
    let scan = scan(root).map_err(|e| format!("scanning {}: {e}", root.display()))?;
    let unknown = unknown_ids(&scan);
    if !unknown.is_empty() {
        return Err(format!(
            "promise IDs used in the tree but not in the promise map ({SELF_DIR}/src/table.rs):\n  {}",
            unknown.join("\n  ")
        ));
    }
    let committed = fs::read_to_string(root.join(PAGE)).map_err(|e| format!("reading {PAGE}: {e}"))?;
    let rendered = render(&scan);
    if committed == rendered {
        return Ok(());
    }
    let (committed_lines, rendered_lines): (BTreeSet<&str>, BTreeSet<&str>) =
        (committed.lines().collect(), rendered.lines().collect());
    let mut message = format!("{PAGE} is stale: regenerate it with `scripts/promises.sh --write`.");
    for gone in committed_lines.difference(&rendered_lines) {
        let _ = write!(message, "\n  - {gone}");
    }
    for new in rendered_lines.difference(&committed_lines) {
        let _ = write!(message, "\n  + {new}");
    }
    Err(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/promises.md` matches the tests in the tree, and every ID the tree uses is a promise.
    #[test]
    fn promise_map_is_current() {
        if let Err(problem) = check(&repo_root()) {
            panic!("{problem}");
        }
    }

    #[test]
    fn the_table_holds_each_id_once_in_order_under_its_policy() {
        let ids: Vec<_> = PROMISES.iter().map(|p| p.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(ids, sorted);
        for p in PROMISES {
            assert!(p.id.starts_with(p.policy.prefix()), "{} is filed under {:?}", p.id, p.policy);
            assert!(!p.text.is_empty() && !p.shown.is_empty(), "{} is incomplete", p.id);
        }
        assert_eq!(PROMISES.len(), 66);
    }

    #[test]
    fn the_scan_skips_this_crate_by_its_real_path() {
        assert!(Path::new(env!("CARGO_MANIFEST_DIR")).ends_with(SELF_DIR));
    }

    #[test]
    fn names_carry_ids_at_word_starts_only() {
        assert_eq!(ids_in_name("p0_19_p1_15_public_url_must_be_https"), ["P0-19", "P1-15"]);
        assert_eq!(ids_in_name("form_p1_11_records_utm"), ["P1-11"]);
        assert!(ids_in_name("step1_11_x").is_empty());
        // The ID must be followed by `_`, as in `p1_11_`.
        assert!(ids_in_name("p1_11").is_empty());
        assert!(ids_in_name("p1_111_x").is_empty());
    }

    #[test]
    fn only_test_functions_are_counted() {
        let source = "#[test]\nfn p0_01_a() {}\n\nfn p0_02_helper() {}\n\n#[tokio::test(\n    flavor = \"multi_thread\",\n)]\n/// Why.\n#[ignore]\npub async fn p2_18_b() {}\n#[cfg(test)]\nfn p0_03_c() {}\n#[test]\nfn plain() {}\nfn p0_04_after_plain() {}\n";
        let names: Vec<_> = tests_in("x.rs", source).into_iter().map(|t| t.name).collect();
        assert_eq!(names, ["p0_01_a", "p2_18_b"]);
    }

    #[test]
    fn citations_are_whole_words() {
        let text = "// P0-04 and (P1-11), P2-07.\nHTTP0-19 P1-111 A7K9-M2X4-P3Q1 xP0-01\nP9-99";
        let ids: Vec<_> = citations_in("x.rs", text).into_iter().map(|c| (c.line, c.id)).collect();
        assert_eq!(ids, [(1, "P0-04".into()), (1, "P1-11".into()), (1, "P2-07".into()), (3, "P9-99".into())]);
    }

    #[test]
    fn unknown_ids_are_reported_with_their_place() {
        let scan = Scan {
            tests: vec![TestFn { path: "a.rs".into(), name: "p9_01_x".into(), ids: vec!["P9-01".into()] }],
            citations: vec![Citation { path: "b.md".into(), line: 3, id: "P0-99".into() }],
        };
        assert_eq!(unknown_ids(&scan), ["P9-01 in the name of test `p9_01_x` (a.rs)", "P0-99 at b.md:3"]);
    }
}
