//! Configuration, read once from the environment and validated before anything starts.
//! A bad value stops the program with a message that names the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use secrecy::SecretString;

use crate::keys::MasterKey;

/// Every variable the kernel reads, with a line for `--help` and the docs (each module declares its
/// own in its `Module::settings`).
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "DATABASE_URL",
        "PostgreSQL URL of the schema owner (runs migrations). Unset: a private embedded cluster in RELAIS_DATA_DIR.",
    ),
    (
        "RELAIS_APP_DATABASE_URL",
        "PostgreSQL URL of the relais_app role used on the request path. Required with DATABASE_URL.",
    ),
    ("RELAIS_LISTEN", "address:port to listen on (default 127.0.0.1:8080)."),
    (
        "RELAIS_PUBLIC_URL",
        "the origin people reach Relais at (default http://localhost:<port>). Must be https:// unless the host is loopback.",
    ),
    ("RELAIS_DATA_DIR", "where the embedded database and local files live (default ./relais-data)."),
    ("RELAIS_MASTER_KEY", "32 random bytes, base64. Every per-organization key derives from it. Required by `serve`."),
    (
        "RELAIS_SMTP_URL",
        "SMTP URL for the platform's own transactional mail (smtp://host:port or smtps://user:pass@host).",
    ),
    (
        "RELAIS_MAIL_FROM",
        "sender of the platform's mail, e.g. \"Relais <no-reply@crm.example.eu>\" (default Relais <no-reply@HOST of RELAIS_PUBLIC_URL>).",
    ),
    (
        "RELAIS_MAIL_OUTBOX",
        "a directory: platform mail is written there as .eml files (mode 0700 directory) instead of sent, and shown at /dev/outbox. For a local demo or tests only: refused unless RELAIS_LISTEN is a loopback address.",
    ),
    (
        "RELAIS_TRUSTED_PROXIES",
        "comma-separated IP addresses or CIDR ranges of the reverse proxies in front of Relais, e.g. 10.0.0.5,10.1.0.0/16. Only from these is X-Forwarded-For believed (default: none).",
    ),
    (
        "RELAIS_METRICS_LISTEN",
        "address:port of a second listener serving only /metrics (Prometheus), without authentication: bind it to a private interface (default: none).",
    ),
    (
        "RELAIS_METRICS_TOKEN",
        "a bearer token (at least 32 characters) that opens /metrics on the public listener. Unset: /metrics answers 404 there.",
    ),
    (
        "RELAIS_REQUEST_TIMEOUT_SECS",
        "seconds a request may take in all before it is answered 408 (default 30); upload routes are exempt and bounded by RELAIS_UPLOAD_IDLE_TIMEOUT_SECS instead.",
    ),
    (
        "RELAIS_UPLOAD_IDLE_TIMEOUT_SECS",
        "seconds an upload (CSV import, file attachment) may go without receiving a byte before it is cut and its partial file removed (default 60).",
    ),
    (
        "RELAIS_AUDIT_ANCHOR_EVERY_SECS",
        "seconds between two anchorings of every audit chain's head in RELAIS_DATA_DIR/audit-anchors.txt by a running server or worker (default 3600; it also anchors once at start).",
    ),
    ("RELAIS_LOG", "log filter, e.g. info or relais=debug (default info)."),
    ("RELAIS_LOG_FORMAT", "json (default) or pretty."),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError { variable, problem: problem.into() }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone)]
pub enum DatabaseConfig {
    /// A private cluster under the data directory, started and stopped by Relais.
    Embedded,
    External {
        owner_url: SecretString,
        app_url: SecretString,
    },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database: DatabaseConfig,
    pub listen: SocketAddr,
    pub public_url: PublicUrl,
    pub data_dir: PathBuf,
    pub master_key: Option<Arc<MasterKey>>,
    pub smtp_url: Option<SecretString>,
    /// The From of platform mail, checked as an RFC 5322 mailbox; `None`: derived from the public URL.
    pub mail_from: Option<String>,
    /// `RELAIS_MAIL_OUTBOX`: write mail as files in this directory instead of sending it (local only).
    pub mail_outbox: Option<PathBuf>,
    /// Reverse proxies whose `X-Forwarded-For` is believed (see `web::ClientInfo`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `RELAIS_METRICS_LISTEN`: a separate listener for `/metrics` only (operators' network).
    pub metrics_listen: Option<SocketAddr>,
    /// `RELAIS_METRICS_TOKEN`: opens `/metrics` on the public listener to `Authorization: Bearer`.
    pub metrics_token: Option<SecretString>,
    /// `RELAIS_REQUEST_TIMEOUT_SECS`: the total time budget of a request (upload routes excepted).
    pub request_timeout: std::time::Duration,
    /// `RELAIS_UPLOAD_IDLE_TIMEOUT_SECS`: how long an upload route waits for the next bytes of its
    /// body; its time budget instead of the total one, so a large upload on a slow line completes.
    pub upload_idle_timeout: std::time::Duration,
    /// `RELAIS_AUDIT_ANCHOR_EVERY_SECS`: how often a running node anchors the audit chains' heads
    /// outside the database (`relais audit anchor` does the same on demand).
    pub audit_anchor_every: std::time::Duration,
    /// Each module's own settings, parsed by the module at start (`Module::configure`).
    pub modules: crate::module::ModuleSettings,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Set by `relais demo` only (no variable turns it on): serves the living component page
    /// `/dev/ui`, which a production instance answers 404.
    pub demo: bool,
}

/// The externally visible origin, e.g. `https://crm.example.eu`. Used for CSRF origin checks,
/// links in emails and the Secure cookie flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    origin: String,
    secure: bool,
}

impl PublicUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        let secure = match url.scheme() {
            "https" => true,
            "http" => false,
            other => return Err(format!("scheme must be http or https, not {other}")),
        };
        let Some(host) = url.host_str() else {
            return Err("has no host".into());
        };
        // Cookies are always Secure and TLS is promised (P0-19): plain HTTP only for a local instance,
        // where browsers treat loopback as a secure context.
        if !secure && !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            return Err(
                "must use https:// (put a TLS-terminating proxy in front); http:// is only for localhost".into()
            );
        }
        if url.path() != "/" || url.query().is_some() {
            return Err("must be an origin without path or query, like https://crm.example.eu".into());
        }
        Ok(Self { origin: url.origin().ascii_serialization(), secure })
    }

    /// `scheme://host[:port]`, no trailing slash.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn is_https(&self) -> bool {
        self.secure
    }

    pub fn join(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }
}

impl Config {
    /// The kernel's settings and every module's, from the process environment.
    pub fn from_env(modules: &crate::module::Modules) -> Result<Self, ConfigError> {
        Self::from_vars_with(&std::env::vars().collect(), modules)
    }

    /// [`Config::from_vars`], then each module's own settings.
    pub fn from_vars_with(
        vars: &HashMap<String, String>,
        modules: &crate::module::Modules,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::from_vars(vars)?;
        modules.configure(vars, &mut config)?;
        Ok(config)
    }

    /// A `true`/`false` variable (unset: `false`), for modules' settings.
    pub fn flag(variable: &'static str, value: Option<&str>) -> Result<bool, ConfigError> {
        match value {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(problem(variable, format!("'{other}' is not true or false"))),
        }
    }

    /// The kernel's settings only (modules keep their defaults): see [`Config::from_vars_with`].
    pub fn from_vars(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

        let listen: SocketAddr = match get("RELAIS_LISTEN") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(text) => text
                .parse()
                .map_err(|_| problem("RELAIS_LISTEN", format!("'{text}' is not address:port, e.g. 127.0.0.1:8080")))?,
        };
        let public_url = match get("RELAIS_PUBLIC_URL") {
            None => PublicUrl::parse(&format!("http://localhost:{}", listen.port()))
                .map_err(|p| problem("RELAIS_PUBLIC_URL", p))?,
            Some(text) => PublicUrl::parse(text).map_err(|p| problem("RELAIS_PUBLIC_URL", p))?,
        };
        let database = match (get("DATABASE_URL"), get("RELAIS_APP_DATABASE_URL")) {
            (None, None) => DatabaseConfig::Embedded,
            (None, Some(_)) => {
                return Err(problem("DATABASE_URL", "must be set when RELAIS_APP_DATABASE_URL is set"));
            }
            (Some(_), None) => {
                return Err(problem(
                    "RELAIS_APP_DATABASE_URL",
                    "must be set with DATABASE_URL: the request path connects as the relais_app role (see docs/operations.md)",
                ));
            }
            (Some(owner), Some(app)) => {
                check_postgres_url("DATABASE_URL", owner)?;
                check_postgres_url("RELAIS_APP_DATABASE_URL", app)?;
                DatabaseConfig::External { owner_url: owner.into(), app_url: app.into() }
            }
        };
        let master_key = get("RELAIS_MASTER_KEY")
            .map(|text| MasterKey::parse(text).map(Arc::new).map_err(|e| problem("RELAIS_MASTER_KEY", e.to_string())))
            .transpose()?;
        let smtp_url = match get("RELAIS_SMTP_URL") {
            None => None,
            Some(text) => {
                let url = url::Url::parse(text).map_err(|_| problem("RELAIS_SMTP_URL", "is not a URL"))?;
                if !matches!(url.scheme(), "smtp" | "smtps") {
                    return Err(problem("RELAIS_SMTP_URL", "scheme must be smtp or smtps"));
                }
                Some(SecretString::from(text))
            }
        };
        let mail_from = match get("RELAIS_MAIL_FROM") {
            None => None,
            Some(text) => match text.parse::<lettre::message::Mailbox>() {
                Ok(mailbox) => Some(mailbox.to_string()),
                Err(_) => {
                    return Err(problem(
                        "RELAIS_MAIL_FROM",
                        format!("'{text}' is not a mailbox like \"Relais <no-reply@crm.example.eu>\""),
                    ));
                }
            },
        };
        // The outbox holds mails whose links are bearer credentials (sign-up, reset, sign-in) and the
        // app shows it to anyone at /dev/outbox: only an instance nobody else can reach may have one.
        let mail_outbox = match get("RELAIS_MAIL_OUTBOX") {
            None => None,
            Some(_) if !listen.ip().is_loopback() => {
                return Err(problem(
                    "RELAIS_MAIL_OUTBOX",
                    format!(
                        "is for a local instance only (it shows mailed links at /dev/outbox), but RELAIS_LISTEN is {listen}, not a loopback address"
                    ),
                ));
            }
            Some(dir) => Some(PathBuf::from(dir)),
        };
        let trusted_proxies = match get("RELAIS_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(text) => parse_trusted_proxies(text).map_err(|p| problem("RELAIS_TRUSTED_PROXIES", p))?,
        };
        let metrics_listen = match get("RELAIS_METRICS_LISTEN") {
            None => None,
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                problem("RELAIS_METRICS_LISTEN", format!("'{text}' is not address:port, e.g. 10.0.0.5:9090"))
            })?),
        };
        if metrics_listen == Some(listen) {
            return Err(problem("RELAIS_METRICS_LISTEN", "must differ from RELAIS_LISTEN"));
        }
        let metrics_token = match get("RELAIS_METRICS_TOKEN") {
            None => None,
            // A guessable token would open the metrics to anyone who can reach the public listener.
            Some(text) if text.chars().count() < 32 => {
                return Err(problem(
                    "RELAIS_METRICS_TOKEN",
                    "must be at least 32 characters, e.g. `openssl rand -hex 32`",
                ));
            }
            Some(text) => Some(SecretString::from(text)),
        };
        let log_format = match get("RELAIS_LOG_FORMAT") {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => return Err(problem("RELAIS_LOG_FORMAT", format!("'{other}' is not json or pretty"))),
        };
        let seconds = |variable: &'static str, default: u64| -> Result<std::time::Duration, ConfigError> {
            match get(variable) {
                None => Ok(std::time::Duration::from_secs(default)),
                Some(text) => match text.parse::<u64>() {
                    Ok(n) if (1..=86_400).contains(&n) => Ok(std::time::Duration::from_secs(n)),
                    _ => Err(problem(variable, format!("'{text}' is not a number of seconds from 1 to 86400"))),
                },
            }
        };
        let request_timeout = seconds("RELAIS_REQUEST_TIMEOUT_SECS", 30)?;
        let upload_idle_timeout = seconds("RELAIS_UPLOAD_IDLE_TIMEOUT_SECS", 60)?;
        let audit_anchor_every = seconds("RELAIS_AUDIT_ANCHOR_EVERY_SECS", 3600)?;
        Ok(Self {
            database,
            listen,
            public_url,
            data_dir: PathBuf::from(get("RELAIS_DATA_DIR").unwrap_or("./relais-data")),
            master_key,
            smtp_url,
            mail_from,
            mail_outbox,
            trusted_proxies,
            metrics_listen,
            metrics_token,
            request_timeout,
            upload_idle_timeout,
            audit_anchor_every,
            modules: crate::module::ModuleSettings::default(),
            log_filter: get("RELAIS_LOG").unwrap_or("info").to_owned(),
            log_format,
            demo: false,
        })
    }

    pub fn require_master_key(&self) -> Result<Arc<MasterKey>, ConfigError> {
        self.master_key.clone().ok_or_else(|| {
            problem(
                "RELAIS_MASTER_KEY",
                "is required: generate one with `head -c 32 /dev/urandom | base64` and keep it safe (without it, no stored secret can be opened)",
            )
        })
    }
}

/// `10.0.0.5, 10.1.0.0/16, ::1`: addresses (a single host) or CIDR ranges.
fn parse_trusted_proxies(text: &str) -> Result<Vec<ipnet::IpNet>, String> {
    let mut proxies = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err("has an empty entry; list addresses or CIDR ranges separated by commas".into());
        }
        let net = match item.parse::<ipnet::IpNet>() {
            Ok(net) => net.trunc(),
            Err(_) => match item.parse::<std::net::IpAddr>() {
                Ok(ip) => ipnet::IpNet::from(ip),
                Err(_) => return Err(format!("'{item}' is not an IP address or CIDR range like 10.0.0.0/8")),
            },
        };
        proxies.push(net);
    }
    Ok(proxies)
}

fn check_postgres_url(variable: &'static str, text: &str) -> Result<(), ConfigError> {
    // Never echo the URL itself: it may carry a password.
    let url = url::Url::parse(text).map_err(|_| problem(variable, "is not a URL"))?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        return Err(problem(variable, "scheme must be postgres:// or postgresql://"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_local_and_embedded() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.public_url.origin(), "http://localhost:8080");
        assert!(matches!(config.database, DatabaseConfig::Embedded));
        assert!(config.master_key.is_none());
        assert_eq!(config.require_master_key().unwrap_err().variable, "RELAIS_MASTER_KEY");
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases = [
            ("RELAIS_LISTEN", "localhost"),
            ("RELAIS_PUBLIC_URL", "ftp://x"),
            ("RELAIS_PUBLIC_URL", "https://x.eu/app"),
            ("RELAIS_MASTER_KEY", "c2hvcnQ="),
            ("RELAIS_SMTP_URL", "http://mail"),
            ("RELAIS_MAIL_FROM", "not an address"),
            ("RELAIS_MAIL_FROM", "Relais <no-reply@>"),
            ("RELAIS_LOG_FORMAT", "xml"),
            ("RELAIS_TRUSTED_PROXIES", "10.0.0.1,proxy.example"),
            ("RELAIS_TRUSTED_PROXIES", "10.0.0.0/33"),
            ("RELAIS_TRUSTED_PROXIES", "10.0.0.1,,10.0.0.2"),
            ("RELAIS_APP_DATABASE_URL", "postgres://app@db/relais"),
        ];
        for (name, value) in cases {
            let err = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
            let expected = if name == "RELAIS_APP_DATABASE_URL" { "DATABASE_URL" } else { name };
            assert_eq!(err.variable, expected, "{name}={value}");
        }
        let err = Config::from_vars(&vars(&[("DATABASE_URL", "postgres://o:secretpw@db/relais")])).unwrap_err();
        assert_eq!(err.variable, "RELAIS_APP_DATABASE_URL");
        assert!(!err.to_string().contains("secretpw"));
    }

    /// P0-19, P1-15: plain HTTP is refused for anything but a local instance.
    #[test]
    fn p0_19_p1_15_public_url_must_be_https_unless_loopback() {
        for ok in ["http://localhost:8080", "http://127.0.0.1:9000", "https://crm.example.eu"] {
            assert!(PublicUrl::parse(ok).is_ok(), "{ok}");
        }
        let err = Config::from_vars(&vars(&[("RELAIS_PUBLIC_URL", "http://crm.example.eu")])).unwrap_err();
        assert_eq!(err.variable, "RELAIS_PUBLIC_URL");
        assert!(err.problem.contains("https"));
    }

    #[test]
    fn trusted_proxies_are_addresses_or_ranges() {
        let config = Config::from_vars(&vars(&[("RELAIS_TRUSTED_PROXIES", " 10.0.0.5, 10.1.2.3/16 ,::1")])).unwrap();
        let shown: Vec<String> = config.trusted_proxies.iter().map(|n| n.to_string()).collect();
        assert_eq!(shown, ["10.0.0.5/32", "10.1.0.0/16", "::1/128"]);
        assert!(Config::from_vars(&vars(&[])).unwrap().trusted_proxies.is_empty());
    }

    /// The mail outbox shows bearer links to whoever can reach the app: loopback listeners only.
    #[test]
    fn mail_outbox_is_refused_unless_listening_on_loopback() {
        let ok = Config::from_vars(&vars(&[("RELAIS_MAIL_OUTBOX", "/tmp/outbox")])).unwrap();
        assert_eq!(ok.mail_outbox.as_deref(), Some(std::path::Path::new("/tmp/outbox")));
        let v6 = Config::from_vars(&vars(&[("RELAIS_MAIL_OUTBOX", "/tmp/o"), ("RELAIS_LISTEN", "[::1]:8080")]));
        assert!(v6.unwrap().mail_outbox.is_some());
        for listen in ["0.0.0.0:8080", "192.0.2.10:8080", "[::]:8080"] {
            let err =
                Config::from_vars(&vars(&[("RELAIS_MAIL_OUTBOX", "/tmp/o"), ("RELAIS_LISTEN", listen)])).unwrap_err();
            assert_eq!(err.variable, "RELAIS_MAIL_OUTBOX", "{listen}");
            assert!(err.to_string().contains("RELAIS_MAIL_OUTBOX"), "{err}");
        }
        assert!(Config::from_vars(&vars(&[])).unwrap().mail_outbox.is_none());
    }

    /// Metrics are either on a listener of their own or behind a token nobody can guess.
    #[test]
    fn metrics_listener_and_token_are_checked() {
        let config = Config::from_vars(&vars(&[])).unwrap();
        assert!(config.metrics_listen.is_none() && config.metrics_token.is_none());
        let config = Config::from_vars(&vars(&[("RELAIS_METRICS_LISTEN", "10.0.0.5:9090")])).unwrap();
        assert_eq!(config.metrics_listen.map(|a| a.to_string()).as_deref(), Some("10.0.0.5:9090"));
        for (name, value) in [
            ("RELAIS_METRICS_LISTEN", "9090"),
            ("RELAIS_METRICS_LISTEN", "127.0.0.1:8080"),
            ("RELAIS_METRICS_TOKEN", "short"),
        ] {
            let err = Config::from_vars(&vars(&[(name, value)])).unwrap_err();
            assert_eq!(err.variable, name, "{value}");
        }
        let token = "m".repeat(32);
        let config = Config::from_vars(&vars(&[("RELAIS_METRICS_TOKEN", &token)])).unwrap();
        assert!(config.metrics_token.is_some());
        assert!(!format!("{config:?}").contains(&token), "the token never appears in Debug");
    }

    #[test]
    fn https_public_url_is_secure() {
        let config = Config::from_vars(&vars(&[("RELAIS_PUBLIC_URL", "https://crm.example.eu/")])).unwrap();
        assert!(config.public_url.is_https());
        assert_eq!(config.public_url.join("/login"), "https://crm.example.eu/login");
    }
}
