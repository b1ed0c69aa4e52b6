//! How values read on a page: amounts with the language's separators and the currency's symbol,
//! phone numbers grouped the international way. The API keeps the canonical forms.

use kernel::i18n::Lang;

fn symbol(currency: &str) -> Option<&'static str> {
    match currency {
        "EUR" => Some("€"),
        "USD" => Some("$"),
        "GBP" => Some("£"),
        _ => None,
    }
}

/// `48000.5` in EUR reads `48 000,50 €` in French and `€48,000.50` in English.
pub fn money(amount: &str, currency: &str, lang: Lang) -> String {
    let amount = amount.trim();
    if amount.is_empty() {
        return String::new();
    }
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_string();
    }
    let cents: String = fraction.chars().chain(std::iter::repeat('0')).take(2).collect();
    let (group, decimal) = match lang {
        Lang::Fr => ('\u{202f}', ','),
        Lang::En => (',', '.'),
    };
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let number = format!("{}{grouped}{decimal}{cents}", if negative { "-" } else { "" });
    match (lang, symbol(currency)) {
        (Lang::Fr, Some(s)) => format!("{number}\u{a0}{s}"),
        (Lang::En, Some(s)) => format!("{s}{number}"),
        (_, None) => format!("{number}\u{a0}{currency}"),
    }
}

/// `+33612345678` reads `+33 6 12 34 56 78`.
pub fn phone(e164: &str) -> String {
    match phonenumber::parse(None, e164) {
        Ok(number) => number.format().mode(phonenumber::Mode::International).to_string(),
        Err(_) => e164.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_the_local_way() {
        assert_eq!(money("48000.5", "EUR", Lang::Fr), "48\u{202f}000,50\u{a0}€");
        assert_eq!(money("48000.5", "EUR", Lang::En), "€48,000.50");
        assert_eq!(money("-1234567", "CHF", Lang::En), "-1,234,567.00\u{a0}CHF");
        assert_eq!(money("12", "USD", Lang::Fr), "12,00\u{a0}$");
        assert_eq!(money("", "EUR", Lang::Fr), "");
    }

    #[test]
    fn phones_are_grouped() {
        assert_eq!(phone("+33612345678"), "+33 6 12 34 56 78");
        assert_eq!(phone("not a phone"), "not a phone");
    }
}
