//! Accessibility checks in the browser: axe-core (pinned in scripts/lib.sh, installed by
//! `ensure_axe`) run on the page Chromium shows, and the page's width at a phone's size.
//!
//! axe is injected through WebDriver's "execute script", which the browser runs as the driver's
//! code, outside the page's Content-Security-Policy: the app's strict CSP (`script-src 'self'`)
//! would refuse the same code as an inline script, and does not apply here (the first check of
//! every page asserts that `axe` is there after injection, so a browser that applied it would fail
//! loudly rather than skip the check).

use std::path::PathBuf;

use fantoccini::Client;
use serde::Deserialize;
use serde_json::json;

/// The rule sets run on every page: WCAG 2 level A and AA, and Deque's best practices.
pub const TAGS: [&str; 3] = ["wcag2a", "wcag2aa", "best-practice"];

/// One rule that failed on a page, with the elements that fail it.
#[derive(Debug, Clone, Deserialize)]
pub struct Violation {
    pub id: String,
    /// "minor", "moderate", "serious" or "critical".
    pub impact: Option<String>,
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    pub nodes: Vec<Node>,
}

/// An element that fails a rule: its CSS selector, the start of its HTML and axe's advice.
#[derive(Debug, Clone, Deserialize)]
pub struct Node {
    pub target: String,
    pub html: String,
    pub summary: String,
}

impl Violation {
    /// Serious and critical violations block a page; minor and moderate ones are reported only.
    pub fn is_blocking(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

/// The path of axe.min.js: `RELAIS_AXE_JS` (set by `ensure_axe`), else the newest
/// `axe-core-*/axe.min.js` under `RELAIS_TOOLS_DIR` or the workspace's target/tools.
pub fn axe_path() -> PathBuf {
    if let Some(path) = std::env::var_os("RELAIS_AXE_JS") {
        return PathBuf::from(path);
    }
    let workspace_tools = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools");
    let dirs = std::env::var_os("RELAIS_TOOLS_DIR").map(PathBuf::from).into_iter().chain([workspace_tools]);
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("axe-core-"))
            .map(|e| e.path().join("axe.min.js"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        if let Some(path) = found.pop() {
            return path;
        }
    }
    panic!("axe-core is not installed: run `. scripts/lib.sh && ensure_axe` (scripts/test.sh does)")
}

/// The source of axe.min.js, read once per process.
fn axe_source() -> &'static str {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = axe_path();
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    })
}

/// Runs axe on the page the browser shows and returns every violation (all impacts).
pub async fn axe(client: &Client) -> Vec<Violation> {
    let present = client
        .execute(&format!("{}\n;return typeof window.axe === 'object';", axe_source()), vec![])
        .await
        .expect("injecting axe-core");
    assert_eq!(present, json!(true), "axe-core did not load into the page (blocked by its CSP?)");
    let result = client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, resultTypes: ['violations'] })
               .then(r => done({ violations: r.violations.map(v => ({
                   id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                   nodes: v.nodes.map(n => ({
                     target: n.target.map(t => Array.isArray(t) ? t.join(' >> ') : String(t)).join(' '),
                     html: n.html.length > 160 ? n.html.slice(0, 160) + '…' : n.html,
                     summary: n.failureSummary || '' })) })) }))
               .catch(e => done({ error: String(e) }));",
            vec![json!(TAGS)],
        )
        .await
        .expect("running axe-core");
    if let Some(error) = result.get("error") {
        panic!("axe.run failed: {error}");
    }
    serde_json::from_value(result["violations"].clone()).expect("axe-core's violations")
}

/// A readable account of violations found on a page, one line per failing element.
pub fn describe(page: &str, violations: &[Violation]) -> String {
    let mut out = String::new();
    for v in violations {
        let impact = v.impact.as_deref().unwrap_or("?");
        out.push_str(&format!("{page}: [{impact}] {} — {} ({})\n", v.id, v.help, v.help_url));
        for node in &v.nodes {
            out.push_str(&format!("    {}  {}\n", node.target, node.html));
            for line in node.summary.lines().filter(|l| !l.trim().is_empty()) {
                out.push_str(&format!("        {}\n", line.trim()));
            }
        }
    }
    out
}

/// Findings gathered over a tour of pages; [`Report::assert_clean`] fails listing all of them, so
/// one run shows every page's problems rather than the first.
#[derive(Default)]
pub struct Report {
    blocking: Vec<String>,
    notes: Vec<String>,
    pages: usize,
}

impl Report {
    /// Runs axe on the current page, labelled `page` (e.g. "fr /crm/leads"), and records what it
    /// found: serious and critical violations fail the report, the others are printed.
    pub async fn check_axe(&mut self, client: &Client, page: &str) {
        let violations = axe(client).await;
        let (blocking, minor): (Vec<Violation>, Vec<Violation>) =
            violations.into_iter().partition(Violation::is_blocking);
        if !blocking.is_empty() {
            self.blocking.push(describe(page, &blocking));
        }
        if !minor.is_empty() {
            self.notes.push(describe(page, &minor));
        }
        self.pages += 1;
    }

    /// Records that the current page is wider than `width` CSS pixels, the screen's width (a
    /// sideways scroll on a phone), naming the elements that reach past its right edge. The width
    /// is given, not read from `innerWidth`: a phone's browser zooms out to fit a page that
    /// overflows, which widens `innerWidth` to the page.
    pub async fn check_width(&mut self, client: &Client, page: &str, width: u32) {
        let found = client
            .execute(
                "const width = arguments[0];
                 const doc = document.documentElement.scrollWidth;
                 const wide = [];
                 // An element is at fault if it reaches past the right edge and no scrolling or
                 // clipping box around it keeps it inside the page.
                 // An absolutely positioned element is clipped only by its containing block and
                 // what is around that, not by a scrolling box between them.
                 const contained = el => {
                   const position = getComputedStyle(el).position;
                   const first = position === 'fixed' ? null
                     : position === 'absolute' ? el.offsetParent : el.parentElement;
                   for (let p = first; p && p !== document.body; p = p.parentElement) {
                     if (getComputedStyle(p).overflowX !== 'visible') {
                       return p.getBoundingClientRect().right <= width + 1;
                     }
                   }
                   return false;
                 };
                 if (doc > width) {
                   for (const el of document.body.querySelectorAll('*')) {
                     const r = el.getBoundingClientRect();
                     if (r.right > width + 1 && r.width > 0 && !contained(el)
                         && !wide.some(w => w.el.contains(el))) {
                       let path = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
                         + (el.classList.length ? '.' + [...el.classList].join('.') : '');
                       wide.push({ el, text: path + ' (right edge ' + Math.round(r.right) + ' px)' });
                     }
                     if (wide.length >= 8) break;
                   }
                 }
                 return { width, doc, wide: wide.map(w => w.text) };",
                vec![json!(width)],
            )
            .await
            .expect("measuring the page");
        let (width, doc) = (found["width"].as_i64().unwrap_or(0), found["doc"].as_i64().unwrap_or(0));
        if doc > width {
            let wide: Vec<&str> = found["wide"].as_array().into_iter().flatten().filter_map(|v| v.as_str()).collect();
            self.blocking.push(format!(
                "{page}: the page is {doc} px wide in a {width} px window; too wide: {}\n",
                wide.join(", ")
            ));
        }
        self.pages += 1;
    }

    /// The blocking findings so far, one text per page.
    pub fn blocking(&self) -> &[String] {
        &self.blocking
    }

    /// Prints the minor findings and fails, listing every blocking one, if there are any.
    pub fn assert_clean(&self) {
        if !self.notes.is_empty() {
            eprintln!("Minor or moderate accessibility findings (not failing):\n{}", self.notes.concat());
        }
        assert!(self.pages > 0, "no page was checked");
        assert!(
            self.blocking.is_empty(),
            "{} of {} page checks failed:\n{}",
            self.blocking.len(),
            self.pages,
            self.blocking.concat()
        );
    }
}
