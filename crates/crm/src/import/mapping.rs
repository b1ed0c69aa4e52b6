//! Column mapping: header auto-match (case-, accent- and space-insensitive, French and English
//! labels) and the checked mapping a person confirms.

use std::collections::BTreeMap;

use kernel::{AppError, FieldError};

use crate::custom_fields::CustomField;
use crate::object::ObjectType;

/// Lower-case ASCII letters and digits only, accents removed: "E-mail " → "email", "Prénom" → "prenom".
pub fn fold(label: &str) -> String {
    let mut out = String::with_capacity(label.len());
    for c in label.chars().flat_map(char::to_lowercase) {
        let base = match c {
            'œ' => {
                out.push('o');
                'e'
            }
            c => kernel::i18n::unaccented(c),
        };
        if base.is_ascii_alphanumeric() {
            out.push(base);
        }
    }
    out
}

/// Folded labels people give columns, and the field each names. A label is only used when the
/// object has that field, so "nom" is a contact's last name and a company's name.
const SYNONYMS: &[(&str, &str)] = &[
    ("prenom", "first_name"),
    ("firstname", "first_name"),
    ("givenname", "first_name"),
    ("nom", "last_name"),
    ("nomdefamille", "last_name"),
    ("lastname", "last_name"),
    ("surname", "last_name"),
    ("familyname", "last_name"),
    ("nom", "name"),
    ("name", "name"),
    ("raisonsociale", "name"),
    ("societe", "name"),
    ("entreprise", "name"),
    ("companyname", "name"),
    ("email", "email"),
    ("mail", "email"),
    ("courriel", "email"),
    ("adresseemail", "email"),
    ("adressemail", "email"),
    ("emailaddress", "email"),
    ("telephone", "phone"),
    ("tel", "phone"),
    ("phone", "phone"),
    ("phonenumber", "phone"),
    ("telephonefixe", "phone"),
    ("mobile", "mobile"),
    ("portable", "mobile"),
    ("telephoneportable", "mobile"),
    ("cellphone", "mobile"),
    ("titre", "title"),
    ("poste", "title"),
    ("fonction", "title"),
    ("jobtitle", "title"),
    ("langue", "language"),
    ("fuseauhoraire", "time_zone"),
    ("societe", "company_name"),
    ("entreprise", "company_name"),
    ("company", "company_name"),
    ("organisation", "company_name"),
    ("statut", "status"),
    ("origine", "source"),
    ("domaine", "domain"),
    ("siteweb", "domain"),
    ("website", "domain"),
    ("siteinternet", "domain"),
    ("adresse", "address"),
    ("codepostal", "postal_code"),
    ("cp", "postal_code"),
    ("zip", "postal_code"),
    ("zipcode", "postal_code"),
    ("ville", "city"),
    ("pays", "country"),
    ("taille", "size"),
    ("effectif", "size"),
    ("secteur", "industry"),
    ("secteurdactivite", "industry"),
    // Deals.
    ("affaire", "name"),
    ("opportunite", "name"),
    ("dealname", "name"),
    ("deal", "name"),
    ("pipeline", "pipeline_id"),
    ("pipe", "pipeline_id"),
    ("etape", "stage_id"),
    ("stage", "stage_id"),
    ("dealstage", "stage_id"),
    ("phase", "stage_id"),
    ("montant", "amount"),
    ("amount", "amount"),
    ("devise", "currency"),
    ("currency", "currency"),
    ("probabilite", "probability"),
    ("probability", "probability"),
    ("datedeclotureprevue", "expected_close_date"),
    ("datedecloture", "expected_close_date"),
    ("closedate", "expected_close_date"),
    ("expectedclosedate", "expected_close_date"),
    ("entreprise", "company_id"),
    ("societe", "company_id"),
    ("company", "company_id"),
    ("client", "company_id"),
];

/// Column index → target (`first_name` or `custom.tier`), matched from the headers. Each target is
/// used once, by the first column that names it.
pub fn auto_match(object: ObjectType, headers: &[String], custom: &[CustomField]) -> BTreeMap<usize, String> {
    let mut mapping = BTreeMap::new();
    let mut used: Vec<String> = Vec::new();
    for (index, header) in headers.iter().enumerate() {
        let folded = fold(header);
        if folded.is_empty() {
            continue;
        }
        let builtin = object.fields().iter().find(|f| fold(f.key) == folded).map(|f| f.key.to_string()).or_else(|| {
            SYNONYMS
                .iter()
                .filter(|(label, key)| {
                    *label == folded && object.field(key).is_some() && !used.iter().any(|u| u == key)
                })
                .map(|(_, key)| key.to_string())
                .next()
        });
        let target = builtin.or_else(|| {
            custom
                .iter()
                .find(|c| fold(&c.key) == folded || fold(&c.label) == folded)
                .map(|c| format!("custom.{}", c.key))
        });
        if let Some(target) = target
            && !used.contains(&target)
        {
            used.push(target.clone());
            mapping.insert(index, target);
        }
    }
    mapping
}

/// Checks a mapping a person chose: known, writable targets, each used once, columns in range.
pub fn check(
    object: ObjectType,
    headers: &[String],
    custom: &[CustomField],
    submitted: &BTreeMap<String, String>,
) -> Result<BTreeMap<usize, String>, AppError> {
    let mut errors = Vec::new();
    let mut mapping = BTreeMap::new();
    let mut used: Vec<&str> = Vec::new();
    for (column, target) in submitted {
        let name = format!("mapping.{column}");
        let Some(index) = column.parse::<usize>().ok().filter(|i| *i < headers.len()) else {
            errors.push(FieldError::new(name, "unknown_column", "No such column in the file."));
            continue;
        };
        let target = target.trim();
        if target.is_empty() {
            continue;
        }
        let known = match target.strip_prefix("custom.") {
            Some(key) => custom.iter().any(|c| c.key == key),
            None => object.field(target).is_some(),
        };
        if !known {
            errors.push(FieldError::new(name, "unknown_field", "No such field."));
        } else if used.contains(&target) {
            errors.push(FieldError::new(name, "mapped_twice", "Another column is already mapped to this field."));
        } else {
            used.push(target);
            mapping.insert(index, target.to_string());
        }
    }
    if errors.is_empty() { Ok(mapping) } else { Err(AppError::Validation(errors)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_and_english_headers_match_fields() {
        let headers: Vec<String> =
            ["Prénom", "NOM", "E-mail", "Téléphone", "Portable", "Fonction", "Société", "Divers"]
                .map(String::from)
                .to_vec();
        let m = auto_match(ObjectType::Contact, &headers, &[]);
        let got: Vec<_> = m.values().map(String::as_str).collect();
        assert_eq!(got, vec!["first_name", "last_name", "email", "phone", "mobile", "title"]);
        let lead = auto_match(ObjectType::Lead, &headers, &[]);
        assert_eq!(lead.get(&6).map(String::as_str), Some("company_name"));
        let company = auto_match(ObjectType::Company, &["Nom".into(), "Site web".into(), "Ville".into()], &[]);
        assert_eq!(company.values().map(String::as_str).collect::<Vec<_>>(), vec!["name", "domain", "city"]);
        assert_eq!(fold("Courriel "), "courriel");
        assert_eq!(
            auto_match(ObjectType::Contact, &["Courriel".into()], &[]).get(&0).map(String::as_str),
            Some("email")
        );
    }
}
