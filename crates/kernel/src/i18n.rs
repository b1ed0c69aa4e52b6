//! The message catalog. Every string shown to a person comes from `locales/<lang>.json`, in
//! English and French; a test checks both files have exactly the same keys and that every key a
//! template or handler uses exists.
//!
//! The language is the person's own choice (profile, or the `lang` cookie, one of the strictly
//! necessary cookies with the session and the one-shot toast — P2-19), else the browser's
//! `Accept-Language`, else English.

use std::collections::HashMap;
use std::sync::OnceLock;

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

/// A message file of a module: `locales/<lang>.json` of its crate, embedded with `include_str!`.
pub type Locale = (Lang, &'static str);

/// The kernel's own messages (layout, errors, field errors, mail); modules bring theirs.
const KERNEL_LOCALES: &[Locale] =
    &[(Lang::En, include_str!("../locales/en.json")), (Lang::Fr, include_str!("../locales/fr.json"))];

/// The assembled catalogs: the kernel's messages plus every installed module's. Messages are
/// static text compiled into the binary, so they are assembled once per process: by
/// [`install`] when the application starts (`AppState::new`), else with the kernel's alone.
static CATALOGS: OnceLock<(Catalog, Catalog)> = OnceLock::new();

fn assemble(modules: &[Locale]) -> (Catalog, Catalog) {
    let parse = |text: &str| serde_json::from_str::<Catalog>(text).unwrap_or_default();
    let (mut en, mut fr) = (Catalog::new(), Catalog::new());
    for (lang, text) in KERNEL_LOCALES.iter().chain(modules) {
        match lang {
            Lang::En => en.extend(parse(text)),
            Lang::Fr => fr.extend(parse(text)),
        }
    }
    (en, fr)
}

/// Adds the modules' message files to the catalogs, once per process (the application's modules
/// never change while it runs; a second call is ignored).
pub fn install(modules: &[Locale]) {
    let _ = CATALOGS.set(assemble(modules));
}

fn catalog(lang: Lang) -> &'static Catalog {
    let catalogs = CATALOGS.get_or_init(|| assemble(&[]));
    match lang {
        Lang::En => &catalogs.0,
        Lang::Fr => &catalogs.1,
    }
}

/// The keys of one message file, for the consistency tests of each module's files. A key written
/// twice in the file is an error: JSON parsers keep the last one silently, so a later edit of the
/// first would never show.
pub fn file_keys(text: &str) -> Result<Vec<String>, serde_json::Error> {
    struct Keys(Vec<String>);
    struct KeysVisitor;
    impl<'de> serde::de::Visitor<'de> for KeysVisitor {
        type Value = Keys;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object of messages")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
            let mut keys = Vec::new();
            let mut seen = std::collections::HashSet::new();
            while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                if !seen.insert(key.clone()) {
                    return Err(serde::de::Error::custom(format!("`{key}` is written twice")));
                }
                keys.push(key);
            }
            Ok(Keys(keys))
        }
    }
    impl<'de> serde::Deserialize<'de> for Keys {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_map(KeysVisitor)
        }
    }
    let mut keys = serde_json::from_str::<Keys>(text)?.0;
    keys.sort_unstable();
    Ok(keys)
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

    /// The message for `key` if the catalogs have one: for words that may or may not be a code a
    /// module gave words to (an activity's outcome is a person's text or a module's code).
    pub fn find(&self, key: &str) -> Option<&'static str> {
        catalog(self.0).get(key).map(String::as_str)
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

/// The letter under a French or other Western European accent, lower case ("É" → 'e'): what
/// matching people's typing against labels needs ("Prénom" meets "prenom"). Ligatures ("œ") and
/// other letters come back as they are.
pub fn unaccented(c: char) -> char {
    match c.to_lowercase().next().unwrap_or(c) {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
        'ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' => 'i',
        'ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' => 'o',
        'ù' | 'ú' | 'û' | 'ü' => 'u',
        'ý' | 'ÿ' => 'y',
        lower => lower,
    }
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
    fn accept_language_respects_quality() {
        assert_eq!(Lang::from_accept_language("fr-FR,fr;q=0.9,en;q=0.8"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("de-DE,en;q=0.5,fr;q=0.7"), Some(Lang::Fr));
        assert_eq!(Lang::from_accept_language("de-DE"), None);
        assert_eq!(Lang::negotiate(Some("en"), Some("fr")), Lang::En);
        assert_eq!(Lang::negotiate(Some("xx"), Some("fr-CA")), Lang::Fr);
        assert_eq!(Lang::negotiate(None, None), Lang::En);
    }
}
