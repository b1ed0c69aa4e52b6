//! Assembles the application: every module's pages and API under one router, wrapped in the
//! middleware every response goes through (request ids, logs, metrics, security headers, the
//! cross-site request guard, body limits, timeouts).

pub mod api_doc;
mod budget;
mod guard;
mod headers;
pub mod metrics;
pub mod request_log;
mod static_files;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::http::{HeaderName, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use kernel::AppError;
use kernel::authz::Access;
use kernel::catalog::TableEntry;
use kernel::keys::MasterKey;
use kernel::module::{JobDeps, Modules};
use kernel::web::RouteDef;
use kernel::web::{AppState, LangPref, Page, PageError};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The modules of this application, in the order their routes, tables, actions and event
/// subscribers are listed. Adding a module is one line here.
pub fn modules() -> Modules {
    Modules::new(vec![identity::module(), privacy::module(), crm::module(), outreach::module()])
}

/// The application state for `config`: the modules' event subscribers ride on `db` into every
/// tenant transaction, and their catalog is in the state.
pub fn state(config: Arc<kernel::Config>, db: kernel::Db, clock: kernel::Clock, master: Arc<MasterKey>) -> AppState {
    AppState::new(config, db, clock, master, &modules())
}

/// Every table of every module, for the conformance test, `relais catalog` and (later) the
/// record of processing.
pub fn data_catalog() -> Vec<TableEntry> {
    modules().catalog()
}

/// The background-job handlers of every module: what `relais serve` and `relais worker` run, and
/// what tests run.
pub fn job_registry(
    config: &kernel::config::Config,
    db: kernel::Db,
    mailer: kernel::mail::Mailer,
    vault: kernel::vault::Vault,
    audit: kernel::audit::AuditLog,
) -> kernel::jobs::Registry {
    modules().job_registry(&JobDeps { config, db, mailer, vault, audit })
}

/// The watchers of every module ([`kernel::watchers`]): what `relais serve` and `relais worker`
/// start beside the job worker, with the application's clock.
pub fn watchers(
    config: &kernel::config::Config,
    db: kernel::Db,
    mailer: kernel::mail::Mailer,
    vault: kernel::vault::Vault,
    audit: kernel::audit::AuditLog,
    clock: &kernel::Clock,
) -> Vec<kernel::watchers::Watcher> {
    modules().watchers(&JobDeps { config, db, mailer, vault, audit }, clock)
}

/// `docs/permissions.md`: every module's actions.
pub fn permissions_markdown() -> String {
    kernel::authz::to_markdown(&modules().actions())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Relais API",
        description = "Privacy-first CRM, outreach, AI assistance and training. Errors are RFC 9457 problem+json.",
        license(name = "AGPL-3.0-only")
    ),
    servers((url = "/", description = "this instance"))
)]
struct BaseDoc;

/// The whole API document: the base, then each module's part merged in at the JSON level
/// (`paths` and every `components` section), then what the shared layers answer (`api_doc`).
pub fn openapi() -> serde_json::Value {
    let mut doc = serde_json::to_value(BaseDoc::openapi()).unwrap_or_default();
    for part in modules().openapi_parts() {
        merge_section(&mut doc, &part, "/paths");
        if let Some(serde_json::Value::Object(components)) = part.pointer("/components") {
            for section in components.keys() {
                merge_section(&mut doc, &part, &format!("/components/{section}"));
            }
        }
    }
    api_doc::complete(&mut doc, &routes());
    doc
}

/// Adds the entries of `part`'s object at `pointer` to `doc`'s, creating it when missing.
fn merge_section(doc: &mut serde_json::Value, part: &serde_json::Value, pointer: &str) {
    let Some(serde_json::Value::Object(from)) = part.pointer(pointer) else { return };
    let mut slot = &mut *doc;
    for key in pointer.trim_start_matches('/').split('/') {
        let serde_json::Value::Object(map) = slot else { return };
        slot = map.entry(key).or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
    if let serde_json::Value::Object(into) = slot {
        into.extend(from.clone());
    }
}

async fn openapi_json() -> impl IntoResponse {
    axum::Json(openapi())
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.db.is_ready().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

async fn api_not_found() -> AppError {
    AppError::NotFound
}

async fn api_method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// A page that does not exist, drawn in the signed-in member's own page (their header, their
/// language) when there is one, else in the visitor's language.
async fn page_not_found(
    LangPref(lang): LangPref,
    signed_in: Option<axum::Extension<kernel::web::SignedInPage>>,
    uri: Uri,
) -> PageError {
    let page = match signed_in {
        Some(axum::Extension(kernel::web::SignedInPage(page))) => Page { path: uri.path().to_owned(), ..page },
        None => Page::anonymous(lang, uri.path()),
    };
    PageError::new(AppError::NotFound, &page)
}

/// Every route of the application with the access it requires: what `app` mounts, and what the
/// permission-matrix test walks.
pub fn routes() -> Vec<RouteDef> {
    use Method as M;
    let mut routes = modules().routes();
    routes.extend([
        RouteDef::api(M::GET, "/api/v1/openapi.json", Access::Public, openapi_json),
        RouteDef::page(M::GET, "/healthz", Access::Public, healthz),
        RouteDef::page(M::GET, "/readyz", Access::Public, readyz),
        // Public as a route; the handler asks for RELAIS_METRICS_TOKEN (404 when none is set).
        RouteDef::page(M::GET, "/metrics", Access::Public, metrics::render_public),
        // The living component page of docs/ui.md: 404 unless the demo runs.
        RouteDef::page(M::GET, "/dev/ui", Access::Public, kernel::dev_ui::page),
    ]);
    routes.extend(kernel::palette::routes());
    routes.extend(static_files::routes());
    routes
}

/// The time budgets of requests (see `budget`): the configured total and idle timeouts, and the
/// routes that take uploads.
fn budget(state: &AppState) -> budget::Budget {
    let uploads = routes().into_iter().filter(|r| r.upload).map(|r| (r.method.clone(), r.path)).collect();
    budget::Budget {
        total: state.config.request_timeout,
        idle: state.config.upload_idle_timeout,
        uploads: Arc::new(uploads),
    }
}

pub fn app(state: AppState) -> Router {
    let middleware = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([axum::http::header::AUTHORIZATION, axum::http::header::COOKIE]))
        .layer(tower::util::MapRequestLayer::new(drop_unsafe_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        // The outermost span, which is what a timeout or a panic is logged in: method and request
        // id only. Paths carry bearer tokens (`/reset/{token}`) and the route template is not
        // known before routing; the inner span below names the template.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), request_id)
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn_with_state(budget(&state), budget::time_budget));

    let mut router = Router::new();
    for route in routes() {
        router = route.mount(router);
    }
    let api_fallback = Router::new().fallback(api_not_found).method_not_allowed_fallback(api_method_not_allowed);
    // Every route is mounted above, through its access check; the API keeps problem+json answers
    // for unknown paths and methods.
    router
        .nest("/api/v1", api_fallback)
        .route("/api/v1/", axum::routing::any(api_not_found))
        .fallback(page_not_found)
        .method_not_allowed_fallback(api_method_not_allowed)
        // A NUL in the path, query string or a JSON or form body: 422 naming the field, before any
        // extractor reads it (kernel::reject_nul).
        .layer(axum::middleware::from_fn(kernel::reject_nul::reject_nul))
        // One-shot toasts after an action: the page drawn for this request shows the waiting one.
        .layer(axum::middleware::from_fn_with_state(state.clone(), kernel::toast::layer))
        // Inside the principal layer, so it sees who made the request (P1-04 API request log).
        .layer(axum::middleware::from_fn_with_state(state.clone(), request_log::record))
        .layer(axum::middleware::from_fn_with_state(state.clone(), identity::attach_principal))
        // Under /admin only: the super admin's own session (never a member principal).
        .layer(axum::middleware::from_fn_with_state(state.clone(), identity::platform_admin::attach_platform_admin))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::cross_site_guard))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(
            // Inside the router, so the span names the route template (`/reset/{token}`), never
            // the concrete path: paths can carry tokens, and query strings are never logged.
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let request_id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                let route = request
                    .extensions()
                    .get::<axum::extract::MatchedPath>()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| "unmatched".into());
                tracing::info_span!("request", method = %request.method(), route, request_id)
            }),
        )
        .layer(DefaultBodyLimit::max(1024 * 1024))
        .layer(middleware)
        .with_state(state)
}

/// A client's `X-Request-Id` is kept (it ties our logs to a proxy's) only when it is short and
/// plain: 1 to 64 of `A-Z a-z 0-9 . _ -`. Anything else is dropped and a fresh UUID given instead,
/// so a client cannot write arbitrary text (newlines, forged log fields, megabytes) into the logs.
fn drop_unsafe_request_id<B>(mut request: axum::http::Request<B>) -> axum::http::Request<B> {
    let keep = {
        let mut values = request.headers().get_all(&REQUEST_ID).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => is_safe_request_id(value.as_bytes()),
            (None, _) => true,
            (Some(_), Some(_)) => false,
        }
    };
    if !keep {
        request.headers_mut().remove(&REQUEST_ID);
    }
    request
}

fn is_safe_request_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_short_plain_request_ids_are_kept() {
        for ok in ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "lb.1_2-3", &"a".repeat(64)] {
            assert!(super::is_safe_request_id(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "a b", "a\nlevel=error", "x\"y", "é", &"a".repeat(65), "a/b", "{x}"] {
            assert!(!super::is_safe_request_id(bad.as_bytes()), "{bad}");
        }
    }

    use kernel::i18n::{Lang, keys};

    #[test]
    fn every_key_used_in_templates_exists() {
        kernel::i18n::install(&super::modules().locales());
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let catalogs: Vec<(Lang, Vec<&'static str>)> = Lang::ALL.iter().map(|&lang| (lang, keys(lang))).collect();
        let mut templates = 0;
        let mut used = 0;
        let mut missing = Vec::new();
        for krate in std::fs::read_dir(&crates).expect("read crates/") {
            let dir = krate.expect("crate entry").path().join("templates");
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries {
                let path = entry.expect("template entry").path();
                if path.extension().is_none_or(|ext| ext != "html") {
                    continue;
                }
                templates += 1;
                let text = std::fs::read_to_string(&path).expect("read template");
                const OPEN: &str = "t.get(\"";
                let mut rest = text.as_str();
                while let Some(start) = rest.find(OPEN) {
                    rest = &rest[start + OPEN.len()..];
                    let Some(end) = rest.find('"') else { break };
                    let key = &rest[..end];
                    rest = &rest[end + 1..];
                    used += 1;
                    for (lang, catalog) in &catalogs {
                        if catalog.binary_search_by(|known| (*known).cmp(key)).is_err() {
                            missing.push(format!("{key} ({lang:?}, {})", path.display()));
                        }
                    }
                }
            }
        }
        assert!(templates > 0, "no templates found under {}", crates.display());
        assert!(used > 0, "no t.get(\"...\") keys found in templates");
        assert!(missing.is_empty(), "keys missing from the catalogs: {missing:#?}");
    }

    /// Every link of the signed-in navigation opens a page some module serves, and its label
    /// exists in both languages: a module's nav never points at nothing or shows a raw key.
    #[test]
    fn every_navigation_link_opens_a_page_and_has_a_label() {
        let modules = super::modules();
        kernel::i18n::install(&modules.locales());
        let routes = modules.routes();
        let links = modules.nav();
        assert!(links.len() >= 3, "the CRM, members and sessions at least: {links:?}");
        for link in &links {
            assert!(
                routes.iter().any(|r| r.method == axum::http::Method::GET && r.path == link.href),
                "{} is not a page",
                link.href
            );
            for lang in Lang::ALL {
                assert_ne!(lang.messages().get(link.label_key), link.label_key, "{} has no {lang:?} label", link.href);
            }
        }
        assert!(links.windows(2).all(|pair| pair[0].position <= pair[1].position), "in position order");
    }

    /// Every page and action of the command palette opens a page some module serves, to every role
    /// it is offered to (its declared action is at least as strict as the route's access), and its
    /// label and keywords exist in both languages; `g` shortcut letters are unique.
    #[test]
    fn every_palette_entry_opens_a_page_its_roles_may_see() {
        use kernel::authz::{Access, Role};
        let modules = super::modules();
        kernel::i18n::install(&modules.locales());
        let routes = modules.routes();
        let palette = modules.palette();
        assert!(palette.entries.len() >= 10, "{palette:?}");
        assert!(!palette.searches.is_empty(), "a module searches records");
        for entry in &palette.entries {
            let path = entry.href.split('#').next().unwrap_or_default();
            let route = routes.iter().find(|r| r.method == axum::http::Method::GET && r.path == path);
            let Some(route) = route else { panic!("{} is not a page", entry.href) };
            for role in Role::ALL {
                let offered = entry.action.is_none_or(|a| a.grant(role).allows());
                let allowed = match route.access {
                    Access::Public | Access::SignedIn => true,
                    Access::Can(action) => action.grant(role).allows(),
                    Access::PlatformAdmin => false,
                };
                assert!(!offered || allowed, "{} is offered to {role:?}, who may not open it", entry.href);
            }
            for key in std::iter::once(entry.label_key).chain(entry.keywords_key) {
                for lang in Lang::ALL {
                    assert_ne!(lang.messages().get(key), key, "{} has no {lang:?} text for {key}", entry.href);
                }
            }
        }
        let mut letters: Vec<char> = palette.entries.iter().filter_map(|e| e.shortcut).collect();
        let count = letters.len();
        letters.sort_unstable();
        letters.dedup();
        assert_eq!(letters.len(), count, "a shortcut letter is used twice");
    }

    /// defined by two modules (or by a module and the kernel): one message per key.
    #[test]
    fn module_message_files_match_and_never_redefine_a_key() {
        let mut owner: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let kernel_keys = |lang: &str| {
            let file = format!("{}/../kernel/locales/{lang}.json", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&file).expect("the kernel's message file");
            kernel::i18n::file_keys(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
        };
        let kernel_en = kernel_keys("en");
        assert_eq!(kernel_en, kernel_keys("fr"), "the kernel's French file has other keys than the English");
        for key in kernel_en {
            owner.insert(key, "kernel".into());
        }
        for module in super::modules().iter() {
            // A module may split its messages into several files per language (one per feature):
            // together, each language's files hold the same keys, and no key is written twice.
            let mut by_lang: std::collections::BTreeMap<&str, Vec<String>> = std::collections::BTreeMap::new();
            for (lang, text) in module.locales {
                let keys = kernel::i18n::file_keys(text).unwrap_or_else(|e| panic!("{} {lang:?}: {e}", module.name));
                let all = by_lang.entry(lang.code()).or_default();
                for key in keys {
                    assert!(!all.contains(&key), "{}: {key} is written in two {lang:?} files", module.name);
                    all.push(key);
                }
            }
            let mut langs = by_lang.into_values().map(|mut keys| {
                keys.sort();
                keys
            });
            if let Some(first) = langs.next() {
                for other in langs {
                    assert_eq!(first, other, "{}: its languages have different keys", module.name);
                }
                for key in first {
                    if let Some(previous) = owner.insert(key.clone(), module.name.into()) {
                        panic!("{key} is defined by both {previous} and {}", module.name);
                    }
                }
            }
        }
    }

    /// French typography in every French message: the space before `:` and `»` and after `«` is
    /// a no-break space, and before `;`, `!`, `?` a narrow no-break space — never an ordinary
    /// space, which lets a browser break the line right before the sign.
    #[test]
    fn french_messages_never_break_before_a_high_sign() {
        let kernel_fr = include_str!("../../kernel/locales/fr.json");
        let mut files = vec![("kernel", kernel_fr)];
        for module in super::modules().iter() {
            files.extend(
                module.locales.iter().filter(|(lang, _)| *lang == Lang::Fr).map(|(_, text)| (module.name, *text)),
            );
        }
        let mut wrong = Vec::new();
        for (owner, text) in files {
            let messages: std::collections::BTreeMap<String, String> =
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{owner}: {e}"));
            for (key, message) in messages {
                let breaks = [" :", " ;", " !", " ?", " »", "« "].iter().any(|pair| message.contains(pair));
                if breaks {
                    wrong.push(format!("{owner} {key}: {message}"));
                }
            }
        }
        assert!(wrong.is_empty(), "an ordinary space next to a French sign:\n{}", wrong.join("\n"));
    }

    /// The committed docs/data-catalog.md is what `relais catalog` prints today.
    #[test]
    fn data_catalog_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/data-catalog.md");
        let committed = std::fs::read_to_string(path).expect("docs/data-catalog.md");
        let generated = kernel::catalog::to_markdown(&super::data_catalog());
        assert!(
            committed.ends_with(&generated),
            "docs/data-catalog.md is stale: regenerate it with `relais catalog` (see the file's header)"
        );
    }

    /// The committed docs/permissions.md is what `relais permissions` prints today.
    #[test]
    fn permissions_document_is_current() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/permissions.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            committed,
            super::permissions_markdown(),
            "docs/permissions.md is stale: regenerate it with `relais permissions`"
        );
    }

    /// Action keys name one action each across all modules (the matrix document and the
    /// permission test key on them).
    #[test]
    fn action_keys_are_unique_across_modules() {
        let mut seen = std::collections::HashSet::new();
        for (module, actions) in super::modules().actions() {
            for action in actions {
                assert!(seen.insert(action.key), "{module}: action `{}` is declared twice", action.key);
            }
        }
    }

    /// P0-12: owners can do everything managers can; managers everything users can.
    #[test]
    fn p0_12_roles_are_ordered() {
        for (_, actions) in super::modules().actions() {
            for action in actions {
                assert!(action.owner.allows() || !action.manager.allows(), "{}", action.key);
                assert!(action.manager.allows() || !action.user.allows(), "{}", action.key);
            }
        }
    }

    #[test]
    fn openapi_is_3_1_and_lists_signup() {
        let doc = super::openapi();
        assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
        assert!(doc["paths"]["/api/v1/signup"]["post"].is_object());
    }
}
