//! The message catalog. Every string shown to a person comes from `locales/<lang>.json`, in
//! English and French; a test checks both files have exactly the same keys and that every key a
//! template or handler uses exists.
//!
//! The language is the person's own choice (profile, or the `lang` cookie, which with the session
//! cookie is the only cookie Relais sets — P2-19), else the browser's `Accept-Language`, else English.

use std::collections::HashMap;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Fr,
}

pub const LANG_COOKIE: &str = "lang";

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    pub fn code(&self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Fr => "fr",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Self::En),
            "fr" => Some(Self::Fr),
            _ => None,
        }
    }

    /// Picks the best supported language from an `Accept-Language` header, honouring q-values.
    pub fn from_accept_language(header: &str) -> Option<Self> {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.trim().split(';');
            let tag = pieces.next().unwrap_or("").trim();
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Lang::parse(primary)
                && q > 0.0
                && best.is_none_or(|(best_q, _)| q > best_q)
            {
                best = Some((q, lang));
            }
        }
        best.map(|(_, lang)| lang)
    }

    pub fn negotiate(chosen: Option<&str>, accept_language: Option<&str>) -> Self {
        chosen
            .and_then(Lang::parse)
            .or_else(|| accept_language.and_then(Lang::from_accept_language))
            .unwrap_or(Lang::En)
    }

    pub fn messages(self) -> T {
        T(self)
    }
}

type Catalog = HashMap<String, String>;

static CATALOGS: LazyLock<(Catalog, Catalog)> = LazyLock::new(|| {
    let parse = |text: &str| serde_json::from_str::<Catalog>(text).unwrap_or_default();
    (parse(include_str!("../locales/en.json")), parse(include_str!("../locales/fr.json")))
});

fn catalog(lang: Lang) -> &'static Catalog {
    match lang {
        Lang::En => &CATALOGS.0,
        Lang::Fr => &CATALOGS.1,
    }
}

/// Translator for one language; templates call `t.get("key")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct T(pub Lang);

impl T {
    pub fn lang(&self) -> &'static str {
        self.0.code()
    }

    /// The message for `key`; the key itself if missing (a test keeps that from shipping).
    pub fn get<'a>(&self, key: &'a str) -> &'a str {
        match catalog(self.0).get(key) {
            Some(message) => message.as_str(),
            None => key,
        }
    }

    /// The message with `{name}` placeholders filled.
    pub fn fmt(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self.get(key).to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }
}

/// Every key of a catalog, for consistency tests.
pub fn keys(lang: Lang) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = catalog(lang).keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_parse_and_have_the_same_keys() {
        let en = keys(Lang::En);
        assert!(en.len() > 20, "en.json did not parse");
        assert_eq!(en, keys(Lang::Fr));
        for lang in Lang::ALL {
            for key in keys(lang) {
                assert!(!T(lang).get(key).trim().is_empty(), "{key} is empty in {lang:?}");
            }
        }
    }

    #[test]
    fn every_key_used_in_templates_exists() {
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

    #[test]
    fn accept_language_respects_quality() {
        assert_eq!(Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("de-DE,en;q=0.5,fr;q=0.7"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("de-DE"), None);
        assert_eq!(Lang::negotiate(Some("en"), Some("fr")), Lang::En);
        assert_eq!(Lang::negotiate(Some("xx"), Some("fr-CA")), Lang::Fr);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
    }
}
