//! The glob syntax of every event filter, on every store.
//!
//! `*` is any run of characters (`/` included: actors and ARNs are not paths), `?` is one
//! character, `[abc]`, `[a-z]` and `[!a]` (or `[^a]`) are classes of characters, `{alice,bob}`
//! are alternatives (not nested), and `\` makes the next character literal. Matching is on
//! characters, not bytes (`?` matches `ë`), and case-sensitive unless the pattern is made
//! [`Pattern::ignore_case`] (configuration such as `DENIED_EXCLUSIONS`). The same matcher serves
//! the configuration's globs (`FILTERED_ROLES`, `ALLOWED_ACTORS`) through [`PatternSet`]. A store that filters in its own
//! engine calls [`Pattern::is_match`] rather than a dialect of its own (SQLite's `GLOB` has no
//! braces or escapes; globset matches bytes).

use crate::error::{Error, Result};

/// Alternatives a pattern may expand to.
const MAX_ALTERNATIVES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(char),
    One,
    Any,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    alternatives: Vec<Vec<Token>>,
    fold_case: bool,
}

/// True when `s` uses glob syntax; a filter without any is matched exactly.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

impl Pattern {
    /// Compiles `pattern`; `what` names the filter in the error.
    pub fn new(what: &'static str, pattern: &str) -> Result<Self> {
        let bad = |reason: &str| Error::invalid(what, pattern, reason.to_owned());
        let mut alternatives: Vec<Vec<Token>> = vec![Vec::new()];
        let mut chars = pattern.chars().peekable();
        // Inside braces: the alternatives of the group so far, and the one being read.
        let mut group: Option<(Vec<Vec<Token>>, Vec<Token>)> = None;
        while let Some(c) = chars.next() {
            let token = match c {
                '\\' => Token::Literal(chars.next().ok_or_else(|| bad("ends with an escape"))?),
                '*' => Token::Any,
                '?' => Token::One,
                '[' => {
                    let negated = chars.next_if(|c| *c == '!' || *c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let c = chars
                            .next()
                            .ok_or_else(|| bad("unclosed character class"))?;
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let lo = if c == '\\' {
                            chars.next().ok_or_else(|| bad("ends with an escape"))?
                        } else {
                            c
                        };
                        let hi = if chars.peek() == Some(&'-') {
                            chars.next();
                            match chars.next() {
                                Some(']') => {
                                    // `[a-]`: a and a literal dash.
                                    ranges.push((lo, lo));
                                    ranges.push(('-', '-'));
                                    break;
                                }
                                Some('\\') => {
                                    chars.next().ok_or_else(|| bad("ends with an escape"))?
                                }
                                Some(hi) => hi,
                                None => return Err(bad("unclosed character class")),
                            }
                        } else {
                            lo
                        };
                        if hi < lo {
                            return Err(bad("a character range runs backwards"));
                        }
                        ranges.push((lo, hi));
                    }
                    Token::Class { negated, ranges }
                }
                '{' => {
                    if group.is_some() {
                        return Err(bad("nested alternatives"));
                    }
                    group = Some((Vec::new(), Vec::new()));
                    continue;
                }
                ',' if group.is_some() => {
                    let (done, current) = group.as_mut().expect("in a group");
                    done.push(std::mem::take(current));
                    continue;
                }
                '}' => {
                    let (mut done, current) = group.take().ok_or_else(|| bad("unopened '}'"))?;
                    done.push(current);
                    let mut next = Vec::with_capacity(alternatives.len() * done.len());
                    for prefix in &alternatives {
                        for alt in &done {
                            let mut a = prefix.clone();
                            a.extend(alt.iter().cloned());
                            next.push(a);
                        }
                    }
                    if next.len() > MAX_ALTERNATIVES {
                        return Err(bad("more than 256 alternatives"));
                    }
                    alternatives = next;
                    continue;
                }
                ']' => return Err(bad("unopened ']'")),
                c => Token::Literal(c),
            };
            match &mut group {
                Some((_, current)) => current.push(token),
                None => alternatives.iter_mut().for_each(|a| a.push(token.clone())),
            }
        }
        if group.is_some() {
            return Err(bad("unclosed '{'"));
        }
        Ok(Self {
            alternatives,
            fold_case: false,
        })
    }

    /// The same pattern, matching regardless of case (`ce:get*` matches `ce:GetCostAndUsage`).
    pub fn ignore_case(mut self) -> Self {
        for tokens in &mut self.alternatives {
            *tokens = tokens
                .drain(..)
                .flat_map(|t| match t {
                    Token::Literal(c) => c.to_lowercase().map(Token::Literal).collect(),
                    other => vec![other],
                })
                .collect();
        }
        self.fold_case = true;
        self
    }

    /// True when the whole of `text` matches.
    pub fn is_match(&self, text: &str) -> bool {
        let text: Vec<char> = if self.fold_case {
            text.chars().flat_map(char::to_lowercase).collect()
        } else {
            text.chars().collect()
        };
        self.alternatives
            .iter()
            .any(|a| matches(a, &text, self.fold_case))
    }
}

/// Several patterns from one setting; an event matches when any of them does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
    sources: Vec<String>,
}

impl PatternSet {
    /// Compiles every non-blank pattern (surrounding spaces trimmed); `what` names the setting in
    /// the error.
    pub fn new<S: AsRef<str>>(
        what: &'static str,
        patterns: impl IntoIterator<Item = S>,
    ) -> Result<Self> {
        let mut set = Self::default();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            set.patterns.push(Pattern::new(what, p)?);
            set.sources.push(p.to_owned());
        }
        Ok(set)
    }

    /// Compiles a comma-separated setting such as `FILTERED_ROLES="Wiz*,{Audit,Backup}Role"`;
    /// commas inside braces or after `\\` belong to their pattern.
    pub fn from_list(what: &'static str, list: &str) -> Result<Self> {
        Self::new(what, split_list(list))
    }

    /// The same set, matching regardless of case.
    pub fn ignore_case(mut self) -> Self {
        self.patterns = self
            .patterns
            .into_iter()
            .map(Pattern::ignore_case)
            .collect();
        self
    }

    /// The patterns as written.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when any pattern matches the whole of `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.patterns.iter().any(|p| p.is_match(text))
    }
}

/// Splits a comma-separated list of patterns at the commas outside braces and escapes.
pub fn split_list(list: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start, mut escaped) = (0usize, 0, false);
    for (i, c) in list.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&list[start..]);
    parts
}

fn one(token: &Token, c: char, fold_case: bool) -> bool {
    match token {
        Token::Literal(l) => *l == c,
        Token::One => true,
        Token::Class { negated, ranges } => {
            let within = |c: char| ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c));
            // The text is lower-cased when folding; `[A-Z]` must still take its letters.
            let hit = within(c) || (fold_case && c.to_uppercase().any(within));
            hit != *negated
        }
        Token::Any => unreachable!("stars are handled by the matcher"),
    }
}

/// Wildcard matching with one backtrack point (the last star): linear in practice, never
/// exponential.
fn matches(tokens: &[Token], text: &[char], fold_case: bool) -> bool {
    let (mut t, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < text.len() {
        match tokens.get(t) {
            Some(Token::Any) => {
                star = Some((t, s));
                t += 1;
            }
            Some(token) if one(token, text[s], fold_case) => {
                t += 1;
                s += 1;
            }
            _ => match star {
                Some((st, ss)) => {
                    t = st + 1;
                    s = ss + 1;
                    star = Some((st, ss + 1));
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|k| *k == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::new("test", p).unwrap().is_match(s)
    }

    #[test]
    fn stars_and_marks() {
        assert!(m("Create*", "CreateUser"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "a-x-b-y-c"));
        assert!(!m("a*b*c", "a-x-b-y-d"));
        assert!(m("arn:aws:iam::*:user/*", "arn:aws:iam::1:user/a/b"));
        assert!(m("zo?", "zoë"), "one character, not one byte");
        assert!(!m("zo?", "zo"));
        assert!(!m("B*", "bob"), "case-sensitive");
        assert!(m("*a", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(!m("*a*a*a*a*a*a*b", &"a".repeat(200)));
    }

    #[test]
    fn classes() {
        assert!(m("[bc]*", "carol"));
        assert!(!m("[bc]*", "alice"));
        assert!(m("[!a-c]*", "dave"));
        assert!(m("[^a-c]*", "dave"));
        assert!(!m("[!a-c]*", "bob"));
        assert!(m("zo[ë]", "zoë"));
        assert!(m("[]]", "]"), "a leading ] is literal");
        assert!(m("[a-]", "-"));
        assert!(m("[\\]x]", "]"));
    }

    #[test]
    fn alternatives_and_escapes() {
        assert!(m("{alice,erin}", "erin"));
        assert!(!m("{alice,erin}", "alicee"));
        assert!(m("x{,y}z", "xz"));
        assert!(m("{a,b}{c,d}", "bd"));
        assert!(m("bo\\b", "bob"));
        assert!(m("bob\\*", "bob*"));
        assert!(!m("bob\\*", "bobby"));
    }

    #[test]
    fn malformed_patterns_are_refused_with_the_reason() {
        for (p, reason) in [
            ("[abc", "unclosed character class"),
            ("{a,b", "unclosed '{'"),
            ("a}", "unopened '}'"),
            ("a]", "unopened ']'"),
            ("{a,{b}}", "nested alternatives"),
            ("x\\", "ends with an escape"),
            ("[z-a]", "backwards"),
        ] {
            let e = Pattern::new("actor filter", p).unwrap_err().to_string();
            assert!(e.contains(reason) && e.contains("actor filter"), "{p}: {e}");
        }
        assert!(Pattern::new("t", &"{a,b}".repeat(9)).is_err());
    }

    #[test]
    fn ignoring_case_folds_literals_and_classes() {
        let p = Pattern::new("test", "ce:get*").unwrap().ignore_case();
        assert!(p.is_match("ce:GetCostAndUsage"));
        assert!(p.is_match("CE:GETCOSTFORECAST"));
        let p = Pattern::new("test", "[A-C]x").unwrap().ignore_case();
        assert!(p.is_match("bX"));
        assert!(!p.is_match("dx"));
        let p = Pattern::new("test", "[!a]").unwrap().ignore_case();
        assert!(!p.is_match("A"), "a negated class folds too");
        assert!(
            Pattern::new("test", "ZOË")
                .unwrap()
                .ignore_case()
                .is_match("zoë")
        );
        assert!(!Pattern::new("test", "ZOË").unwrap().is_match("zoë"));
    }

    #[test]
    fn a_set_matches_when_any_pattern_does_and_skips_blanks() {
        let set = PatternSet::new("role pattern", ["Wiz*", " ", " *Scanner* "]).unwrap();
        assert_eq!(set.sources(), ["Wiz*", "*Scanner*"]);
        assert!(set.is_match("WizReader"));
        assert!(set.is_match("my-Scanner-role"));
        assert!(!set.is_match("Admin"));
        assert!(PatternSet::new("x", [""; 0]).unwrap().is_empty());
        let err = PatternSet::new("role pattern", ["ok", "[z-a]"]).unwrap_err();
        assert!(err.to_string().contains("role pattern"), "{err}");
    }

    #[test]
    fn lists_split_at_commas_outside_braces_and_escapes() {
        assert_eq!(
            split_list("Wiz*, {Audit,Backup}Role ,a\\,b,"),
            ["Wiz*", " {Audit,Backup}Role ", "a\\,b", ""]
        );
        let set = PatternSet::from_list("role pattern", "{Audit,Backup}Role,x\\,y").unwrap();
        assert!(set.is_match("BackupRole"));
        assert!(set.is_match("x,y"));
        assert_eq!(set.sources().len(), 2);
    }

    #[test]
    fn plain_text_is_not_a_glob() {
        assert!(!is_glob("alice"));
        assert!(!is_glob("arn:aws:iam::111122223333:user/alice"));
        for p in ["a*", "a?", "[a]", "{a}", "a\\b", "a]", "a}"] {
            assert!(is_glob(p), "{p}");
        }
    }
}
