//! What is wrong with an imported row, as data: a stable code per problem, the field it concerns,
//! and its English sentence. The engine produces them; they are stored with the row
//! (`import_rejects.problems`, the dry run's findings) and rendered where they are read: in the
//! member's language on the import page and in the page's rejects file, in English with the codes
//! in the API.
//!
//! Why not store a sentence: rows are checked by a background job, which has no reader; the same
//! reject is read later by people in different languages and by programs.

use kernel::FieldError;
use kernel::i18n::T;
use serde::{Deserialize, Serialize};

/// One problem of a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The field's key (`email`, `custom.size`); none for a problem of the whole row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Stable: a `field_error` code of the field checks, or one of the import's own (see
    /// docs/crm.md).
    pub code: String,
    /// The English sentence (the API's message).
    pub message: String,
    /// The cell as written, when the sentence quotes it (a phone kept as a note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// A row earlier in the file has the same key.
pub const DUPLICATE_KEY: &str = "duplicate_key";
const DUPLICATE_MESSAGE: &str = "A row earlier in the file has the same key (email or domain): this one is skipped.";
/// The database refused the row's data.
pub const REFUSED_BY_DATABASE: &str = "refused_by_database";
const REFUSED_MESSAGE: &str =
    "The database refused this row: a value refers to something that no longer exists or breaks a rule of the table.";
/// A phone number no parser reads, kept in a note on the record (a warning: the row is written).
pub const PHONE_KEPT_AS_NOTE: &str = "phone_kept_as_note";
/// A reason stored before problems had codes, that could not be read back: shown as written.
const LEGACY: &str = "legacy";

impl Problem {
    /// A problem of the whole row.
    pub fn row(code: &str, message: impl Into<String>) -> Self {
        Self { field: None, code: code.to_string(), message: message.into(), text: None }
    }

    pub fn duplicate() -> Self {
        Self::row(DUPLICATE_KEY, DUPLICATE_MESSAGE)
    }

    pub fn refused_by_database() -> Self {
        Self::row(REFUSED_BY_DATABASE, REFUSED_MESSAGE)
    }

    pub fn phone_kept(field: &str, text: &str) -> Self {
        Self {
            field: Some(field.to_string()),
            code: PHONE_KEPT_AS_NOTE.to_string(),
            message: format!("{text:?} is not a phone number this import can read; kept in a note on the record"),
            text: Some(text.to_string()),
        }
    }

    /// This problem without NUL characters, which PostgreSQL's jsonb cannot hold.
    pub fn without_nul(&self) -> Self {
        let clean = |s: &str| s.replace('\0', "");
        Self {
            field: self.field.as_deref().map(clean),
            code: self.code.clone(),
            message: clean(&self.message),
            text: self.text.as_deref().map(clean),
        }
    }

    /// The English text of this problem, as `reason` has always said it: `field: message (code)`
    /// for a field, the sentence alone for the whole row.
    fn english(&self) -> String {
        match &self.field {
            Some(field) => format!("{field}: {} ({})", self.message, self.code),
            None => self.message.clone(),
        }
    }

    /// The sentence in `t`'s language: the import's own (`crm.import.problem_<code>`), else the
    /// field checks' (`field_error.<code>`), else the English one.
    fn sentence(&self, t: T) -> String {
        let text = self.text.as_deref().unwrap_or_default();
        for key in [format!("crm.import.problem_{}", self.code), format!("field_error.{}", self.code)] {
            let sentence = t.fmt(&key, &[("text", text)]);
            if sentence != key {
                return sentence;
            }
        }
        self.message.clone()
    }
}

impl From<&FieldError> for Problem {
    fn from(error: &FieldError) -> Self {
        Self {
            field: Some(error.field.clone()),
            code: error.code.to_string(),
            message: error.message.clone(),
            text: None,
        }
    }
}

/// The English reason of a row (the API's rejects file and `reason`), at most 2,000 characters.
pub fn english(problems: &[Problem]) -> String {
    let text = problems.iter().map(Problem::english).collect::<Vec<_>>().join("; ");
    text.chars().take(2000).collect()
}

/// The codes of a row for the API's rejects file: `field:code` for a field, the code alone for the
/// whole row, separated by `; `.
pub fn codes(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match &p.field {
            Some(field) => format!("{field}:{}", p.code),
            None => p.code.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A row's problems as a person reads them in `t`'s language: each as "Label : sentence", the
/// label given by `label_of` (builtin fields' labels, custom fields' own).
pub fn render(t: T, problems: &[Problem], label_of: &dyn Fn(&str) -> String) -> String {
    problems
        .iter()
        .map(|p| {
            let sentence = p.sentence(t);
            match &p.field {
                Some(field) if p.code != LEGACY => {
                    t.fmt("crm.labelled_error", &[("label", &label_of(field)), ("message", &sentence)])
                }
                _ => sentence,
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The label of a builtin field in `t`'s language; its key when it has none.
pub fn builtin_label(t: T, field: &str) -> String {
    let key = format!("crm.field.{field}");
    let label = t.get(&key);
    if label == key { field.to_string() } else { label.to_string() }
}

/// The sentences about a whole row, which the engine wrote as reasons before problems had codes
/// (and still writes as their English text).
const ROW_SENTENCES: &[(&str, &str)] = {
    use super::file::Malformed;
    &[
        (DUPLICATE_KEY, DUPLICATE_MESSAGE),
        (REFUSED_BY_DATABASE, REFUSED_MESSAGE),
        (Malformed::Unterminated.code(), Malformed::Unterminated.reason()),
        (Malformed::TextAfterQuote.code(), Malformed::TextAfterQuote.reason()),
        (Malformed::TooLong.code(), Malformed::TooLong.reason()),
    ]
};

/// Reads the problems back from a reason stored before they had codes. The engine wrote either
/// one of a few sentences about the whole row, or `field: message (code)` parts joined by `; `
/// (a message may itself hold `; `, so a part ends only where `(code)` does). Anything else is
/// kept as written.
pub fn from_legacy(reason: &str) -> Vec<Problem> {
    if let Some((code, sentence)) = ROW_SENTENCES.iter().find(|(_, s)| *s == reason) {
        return vec![Problem::row(code, *sentence)];
    }
    let as_written = || vec![Problem::row(LEGACY, reason)];
    let mut problems = Vec::new();
    let mut part = String::new();
    for piece in reason.split("; ") {
        if !part.is_empty() {
            part.push_str("; ");
        }
        part.push_str(piece);
        let Some(code) = trailing_code(&part) else { continue };
        let head = &part[..part.len() - code.len() - 3];
        let Some((field, message)) = head.split_once(": ") else { return as_written() };
        if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return as_written();
        }
        let text = (code == PHONE_KEPT_AS_NOTE).then(|| quoted(message)).flatten();
        problems.push(Problem {
            field: Some(field.to_string()),
            code: code.to_string(),
            message: message.to_string(),
            text,
        });
        part.clear();
    }
    if problems.is_empty() || !part.is_empty() { as_written() } else { problems }
}

/// The `code` of a part ending in ` (code)`.
fn trailing_code(part: &str) -> Option<&str> {
    let inner = part.strip_suffix(')')?;
    let open = inner.rfind(" (")?;
    let code = &inner[open + 2..];
    (!code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_')).then_some(code)
}

/// The cell a phone warning quoted, as Rust's `{:?}` wrote it (`"06 12 ext. 4" is not …`).
fn quoted(message: &str) -> Option<String> {
    let rest = message.strip_prefix('"')?;
    let end = rest.find("\" is not a phone number")?;
    Some(rest[..end].replace("\\\"", "\"").replace("\\\\", "\\"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code the import writes reads as a sentence in both languages, never as a key.
    #[test]
    fn every_import_code_has_a_sentence_in_both_languages() {
        kernel::i18n::install(crate::module().locales);
        let own = [DUPLICATE_KEY, REFUSED_BY_DATABASE, PHONE_KEPT_AS_NOTE, "ambiguous", "not_found"];
        let malformed = [
            super::super::file::Malformed::Unterminated,
            super::super::file::Malformed::TextAfterQuote,
            super::super::file::Malformed::TooLong,
        ];
        for lang in kernel::i18n::Lang::ALL {
            let t = T(lang);
            for code in own.iter().copied().chain(malformed.iter().map(|m| m.code())) {
                let key = format!("crm.import.problem_{code}");
                assert_ne!(t.get(&key), key, "{lang:?}");
            }
            for code in ["file_missing", "job_stopped", "step_failed"] {
                let key = format!("crm.import.failure_{code}");
                assert_ne!(t.get(&key), key, "{lang:?}");
            }
        }
        let fr = T(kernel::i18n::Lang::Fr);
        let problems = [Problem::phone_kept("phone", "06 12"), Problem::duplicate()];
        assert_eq!(
            render(fr, &problems, &|f| builtin_label(fr, f)),
            "Téléphone\u{a0}: «\u{a0}06 12\u{a0}» n’est pas un numéro de téléphone que l’import sait lire\u{a0}: il est \
             conservé dans une note sur la fiche. Une ligne plus haut dans le fichier a la même clé (adresse e-mail ou \
             domaine)\u{a0}: celle-ci est ignorée."
        );
    }

    #[test]
    fn legacy_reasons_are_read_back_into_codes() {
        kernel::i18n::install(crate::module().locales);
        let reason =
            "email: Enter a valid email address (invalid_email); language: Choose one of: en; fr (invalid_choice)";
        let problems = from_legacy(reason);
        assert_eq!(
            problems.iter().map(|p| (p.field.as_deref(), p.code.as_str())).collect::<Vec<_>>(),
            vec![(Some("email"), "invalid_email"), (Some("language"), "invalid_choice")]
        );
        assert_eq!(english(&problems), reason, "the English text is the same");
        let warning = english(&[Problem::phone_kept("phone", "06 12 \"ext\" 4")]);
        let back = from_legacy(&warning);
        assert_eq!((back[0].code.as_str(), back[0].text.as_deref()), (PHONE_KEPT_AS_NOTE, Some("06 12 \"ext\" 4")));
        assert_eq!(from_legacy(&Problem::duplicate().message)[0].code, DUPLICATE_KEY);
        let odd = from_legacy("something else entirely");
        assert_eq!((odd[0].code.as_str(), odd[0].message.as_str()), (LEGACY, "something else entirely"));
        assert_eq!(render(T(kernel::i18n::Lang::Fr), &odd, &|f| f.to_string()), "something else entirely");
    }
}
