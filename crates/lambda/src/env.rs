//! Reading typed settings from environment variables, with errors that name the variable.

use std::str::FromStr;

/// A variable is set but its value is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}={value:?} is invalid: {expected}")]
pub struct EnvError {
    pub name: &'static str,
    pub value: String,
    pub expected: String,
}

/// Environment variables, through a lookup function (the process environment, or a map in
/// tests). Empty values count as unset.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env { .. }")
    }
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The value, trimmed, when set and not empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A value that must be set.
    pub fn required(&self, name: &'static str, what: &str) -> Result<String, EnvError> {
        self.get(name).ok_or_else(|| EnvError {
            name,
            value: String::new(),
            expected: format!("must be set to {what}"),
        })
    }

    /// A parsed value, or `default` when unset.
    pub fn parse<T: FromStr>(
        &self,
        name: &'static str,
        default: T,
        expected: &str,
    ) -> Result<T, EnvError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| EnvError {
                name,
                value: v,
                expected: expected.to_owned(),
            }),
        }
    }

    /// An optional parsed value.
    pub fn parse_opt<T: FromStr>(
        &self,
        name: &'static str,
        expected: &str,
    ) -> Result<Option<T>, EnvError> {
        self.get(name)
            .map(|v| {
                v.parse().map_err(|_| EnvError {
                    name,
                    value: v,
                    expected: expected.to_owned(),
                })
            })
            .transpose()
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`, any case), or `default` when unset.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, EnvError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(EnvError {
                    name,
                    value: v,
                    expected: "true or false".to_owned(),
                }),
            },
        }
    }

    /// A comma-separated list (empty when unset).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// `FILTERED_ROLES` (as read by the caller, so each function's source names the variable it
/// reads): comma-separated role-name globs whose activity is noise.
pub fn filtered_roles(value: Option<String>) -> Result<iat_core::NoiseFilter, EnvError> {
    let list = value.unwrap_or_default();
    iat_core::NoiseFilter::from_list(&list).map_err(|e| EnvError {
        name: "FILTERED_ROLES",
        value: list.clone(),
        expected: format!("comma-separated role-name globs ({e})"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn values_parse_or_name_the_variable() {
        let vars = env(&[
            ("A", " 12 "),
            ("B", "x"),
            ("F", "YES"),
            ("G", "maybe"),
            ("L", "a, b,,c"),
            ("E", ""),
        ]);
        let lookup = |k: &str| vars.get(k).cloned();
        let e = Env::new(&lookup);
        assert_eq!(e.parse::<u32>("A", 0, "a number"), Ok(12));
        assert_eq!(e.parse::<u32>("MISSING", 7, "a number"), Ok(7));
        let err = e
            .parse::<u32>("B", 0, "a whole number of minutes")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable B=\"x\" is invalid: a whole number of minutes"
        );
        assert_eq!(e.flag("F", false), Ok(true));
        assert!(
            e.flag("G", false)
                .unwrap_err()
                .to_string()
                .contains("G=\"maybe\"")
        );
        assert_eq!(e.list("L"), ["a", "b", "c"]);
        assert_eq!(e.get("E"), None, "empty is unset");
        assert!(
            e.required("E", "a table name")
                .unwrap_err()
                .to_string()
                .contains("must be set")
        );
    }
}
