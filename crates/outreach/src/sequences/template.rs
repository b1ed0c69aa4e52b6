//! Templates written by members (a step's subject and body): minijinja in a sandbox. A template
//! sees only the recipient's fields (no file, no include, no other record), its loops are bounded
//! by fuel, and its output by size. A variable that is not a known field is refused at save,
//! naming it, unless the template gives it a fallback (`{{ nickname | default("there") }}`); a
//! known field that is empty for one recipient is undefined for them, so a fallback applies and a
//! template without one is not sent to that person with a hole in it.

use std::collections::BTreeMap;

use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value};

/// Work a template may do for one render: enough for any real email, not for a runaway loop.
const FUEL: u64 = 50_000;
/// The longest a rendered subject or body may be.
pub const MAX_OUTPUT: usize = 100_000;
/// Functions every template may call: never reported as unknown fields.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "debug"];

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is not valid: {0}")]
    Syntax(String),
    /// A variable that is no field of the recipient, used without a fallback.
    #[error("`{0}` is not a field of the recipient; give it a fallback: {{{{ {0} | default(\"…\") }}}}")]
    UnknownField(String),
    /// A field with no value for this recipient, used without a fallback.
    #[error("`{0}` has no value for this recipient and no fallback")]
    MissingValue(String),
    #[error("the template does too much work (a loop too long)")]
    TooMuchWork,
    #[error("the result is too long")]
    TooLong,
}

impl TemplateError {
    /// A stable code for pages and the API.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Syntax(_) => "template_syntax",
            Self::UnknownField(_) => "template_unknown_field",
            Self::MissingValue(_) => "template_missing_value",
            Self::TooMuchWork => "template_too_much_work",
            Self::TooLong => "template_too_long",
        }
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    // Email bodies are text; the HTML part escapes the rendered text itself.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// The fields a template may use: their names, with a sample value each (for the check at save).
pub type Fields = BTreeMap<String, String>;

/// Checks `source` against the fields a recipient can have (`known`): it must parse, every
/// variable it names must be a known field or have a fallback, and rendering it for a recipient
/// with every field filled must work.
pub fn check(source: &str, known: &Fields) -> Result<(), TemplateError> {
    let env = environment();
    let template = env.template_from_str(source).map_err(|e| TemplateError::Syntax(describe(&e)))?;
    let mut unknown: Vec<String> = template
        .undeclared_variables(true)
        .into_iter()
        .filter(|name| !GLOBALS.contains(&name.as_str()) && !known.contains_key(name))
        .collect();
    unknown.sort();
    match render_with(&env, source, known) {
        Ok(_) => Ok(()),
        Err(TemplateError::MissingValue(_)) => {
            Err(TemplateError::UnknownField(unknown.into_iter().next().unwrap_or_default()))
        }
        Err(other) => Err(other),
    }
}

/// Renders `source` for one recipient. Empty fields are left out, so a fallback applies to them.
pub fn render(source: &str, fields: &Fields) -> Result<String, TemplateError> {
    Renderer::new().render(source, fields)
}

/// Renders a few templates for many recipients (the planner's pass), parsing each template once
/// instead of once per recipient. The templates are registered by a name of the renderer's own
/// choosing in an environment without `include` or `import` (minijinja's `multi_template` is off),
/// so one template can never reach another.
pub struct Renderer {
    env: Environment<'static>,
    /// The name each source was registered under, or why it does not parse.
    names: std::collections::HashMap<String, Result<String, TemplateError>>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    pub fn new() -> Self {
        Self { env: environment(), names: std::collections::HashMap::new() }
    }

    /// [`render`], with `source` parsed on its first use only.
    pub fn render(&mut self, source: &str, fields: &Fields) -> Result<String, TemplateError> {
        let name = match self.names.get(source) {
            Some(name) => name.clone()?,
            None => {
                let name = format!("t{}", self.names.len());
                let added = self
                    .env
                    .add_template_owned(name.clone(), source.to_owned())
                    .map(|()| name)
                    .map_err(|e| TemplateError::Syntax(describe(&e)));
                self.names.insert(source.to_owned(), added.clone());
                added?
            }
        };
        let template = self.env.get_template(&name).map_err(|e| TemplateError::Syntax(describe(&e)))?;
        let filled: BTreeMap<&str, Value> = fields
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
            .collect();
        match finish(template.render(&filled)) {
            Err(TemplateError::MissingValue(_)) => {
                let mut missing: Vec<String> = template
                    .undeclared_variables(true)
                    .into_iter()
                    .filter(|name| !GLOBALS.contains(&name.as_str()) && !filled.contains_key(name.as_str()))
                    .collect();
                missing.sort();
                Err(TemplateError::MissingValue(missing.into_iter().next().unwrap_or_default()))
            }
            other => other,
        }
    }
}

fn render_with(env: &Environment<'_>, source: &str, fields: &Fields) -> Result<String, TemplateError> {
    let context: BTreeMap<&str, Value> = fields.iter().map(|(k, v)| (k.as_str(), Value::from(v.as_str()))).collect();
    finish(env.render_str(source, context))
}

/// A render's outcome as a [`TemplateError`], its size bounded.
fn finish(rendered: Result<String, minijinja::Error>) -> Result<String, TemplateError> {
    let rendered = rendered.map_err(|e| match e.kind() {
        ErrorKind::UndefinedError => TemplateError::MissingValue(String::new()),
        ErrorKind::OutOfFuel => TemplateError::TooMuchWork,
        _ => TemplateError::Syntax(describe(&e)),
    })?;
    if rendered.len() > MAX_OUTPUT {
        return Err(TemplateError::TooLong);
    }
    Ok(rendered)
}

/// The error's own words without the template's internal name.
fn describe(error: &minijinja::Error) -> String {
    let detail = error.detail().map(str::to_owned).unwrap_or_else(|| error.kind().to_string());
    match error.line() {
        Some(line) => format!("{detail} (line {line})"),
        None => detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Fields {
        [("first_name", "Ada"), ("last_name", "Lovelace"), ("company", "Analytical")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn a_known_field_renders_and_an_empty_one_takes_its_fallback() {
        assert_eq!(render("Hi {{ first_name }}", &known()).unwrap(), "Hi Ada");
        let mut empty = known();
        empty.insert("first_name".into(), " ".into());
        assert_eq!(render("Hi {{ first_name | default(\"there\") }}", &empty).unwrap(), "Hi there");
        assert_eq!(
            render("Hi {{ first_name }}", &empty).unwrap_err(),
            TemplateError::MissingValue("first_name".into())
        );
    }

    #[test]
    fn an_unknown_field_without_fallback_is_refused_by_name() {
        assert_eq!(check("Hi {{ nickname }}", &known()).unwrap_err(), TemplateError::UnknownField("nickname".into()));
        assert_eq!(check("Hi {{ nickname | default(\"you\") }}", &known()), Ok(()));
        assert_eq!(check("{% if nickname is defined %}{{ nickname }}{% endif %}", &known()), Ok(()));
    }

    #[test]
    fn a_runaway_loop_an_include_and_bad_syntax_are_refused() {
        assert_eq!(
            check("{% for i in range(100000) %}x{% endfor %}", &known()).unwrap_err(),
            TemplateError::TooMuchWork
        );
        assert!(matches!(check("{% include 'secrets' %}", &known()).unwrap_err(), TemplateError::Syntax(_)));
        assert!(matches!(check("Hi {{ first_name", &known()).unwrap_err(), TemplateError::Syntax(_)));
    }

    #[test]
    fn a_renderer_parses_once_and_renders_each_recipient_alike() {
        let mut renderer = Renderer::new();
        let mut other = known();
        other.insert("first_name".into(), "Grace".into());
        assert_eq!(renderer.render("Hi {{ first_name }}", &known()).unwrap(), "Hi Ada");
        assert_eq!(renderer.render("Hi {{ first_name }}", &other).unwrap(), "Hi Grace");
        other.insert("first_name".into(), String::new());
        assert_eq!(
            renderer.render("Hi {{ first_name }}", &other).unwrap_err(),
            TemplateError::MissingValue("first_name".into())
        );
        assert!(matches!(renderer.render("Hi {{ first_name", &known()).unwrap_err(), TemplateError::Syntax(_)));
        assert!(matches!(renderer.render("{% include 't0' %}", &known()).unwrap_err(), TemplateError::Syntax(_)));
        assert_eq!(
            renderer.render("{% for i in range(100000) %}x{% endfor %}", &known()).unwrap_err(),
            TemplateError::TooMuchWork
        );
    }

    #[test]
    fn output_is_not_html_escaped() {
        let mut fields = known();
        fields.insert("company".into(), "Smith & <Co>".into());
        assert_eq!(render("{{ company }}", &fields).unwrap(), "Smith & <Co>");
    }
}
