//! SCIM filter expressions (RFC 7644 §3.4.2.2): parsing and evaluation.
//!
//! [`parse`] turns the text of a `filter` query parameter (or the bracketed part of a
//! PATCH path) into a [`Filter`] tree; [`Filter::matches`] evaluates it against a SCIM
//! resource held as JSON.
//!
//! Parsing is bounded: texts longer than [`MAX_FILTER_LEN`] bytes, nesting deeper than
//! [`MAX_DEPTH`] (parentheses, `not (…)` and value-path brackets) and more than
//! [`MAX_TERMS`] attribute expressions are refused. Every [`FilterError`] maps to the SCIM
//! `scimType` `invalidFilter`.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// Longest filter text accepted, in bytes.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of parentheses, `not (…)` groups and value-path brackets accepted.
pub const MAX_DEPTH: usize = 16;
/// Most attribute expressions (comparisons and `pr` tests) one filter may contain.
pub const MAX_TERMS: usize = 100;

/// A comparison operator of a SCIM filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal (also true when the attribute is absent).
    Ne,
    /// `co`: contains (strings only).
    Co,
    /// `sw`: starts with (strings only).
    Sw,
    /// `ew`: ends with (strings only).
    Ew,
    /// `gt`: greater than (strings and numbers).
    Gt,
    /// `ge`: greater than or equal (strings and numbers).
    Ge,
    /// `lt`: less than (strings and numbers).
    Lt,
    /// `le`: less than or equal (strings and numbers).
    Le,
}

impl CompareOp {
    /// Parses an operator keyword case-insensitively (`eq`, `EQ`, `Eq`, …); `pr` is not a
    /// comparison operator and yields `None`.
    pub fn parse(word: &str) -> Option<Self> {
        const OPS: [(&str, CompareOp); 9] = [
            ("eq", CompareOp::Eq),
            ("ne", CompareOp::Ne),
            ("co", CompareOp::Co),
            ("sw", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("gt", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("lt", CompareOp::Lt),
            ("le", CompareOp::Le),
        ];
        OPS.iter()
            .find(|(name, _)| word.eq_ignore_ascii_case(name))
            .map(|(_, op)| *op)
    }

    /// The operator's lower-case keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

/// An attribute path in a filter: an attribute name and an optional sub-attribute, both
/// as written, with any schema URN prefix removed
/// (`urn:ietf:params:scim:schemas:core:2.0:User:name.familyName` → `name` / `familyName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The attribute name, e.g. `emails`.
    pub attr: String,
    /// The sub-attribute name, e.g. `value` in `emails.value`.
    pub sub: Option<String>,
}

/// A parsed SCIM filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `path op value`, e.g. `userName eq "ada"`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The comparison operator.
        op: CompareOp,
        /// The literal compared against: a string, number, boolean or null.
        value: Value,
    },
    /// `path pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// Both sides match.
    And(Box<Filter>, Box<Filter>),
    /// Either side matches.
    Or(Box<Filter>, Box<Filter>),
    /// The inner filter does not match.
    Not(Box<Filter>),
    /// `emails[type eq "work" and value co "@example.com"]`: some element of the
    /// (multi-valued, complex) attribute matches the inner filter, whose attribute paths
    /// name sub-attributes of the element. Entra's `emails[type eq "work"].value eq "x"`
    /// (a sub-attribute after `]`, compared) parses as the value path of both conditions.
    ValuePath {
        /// The multi-valued attribute, e.g. `emails`.
        attr: String,
        /// The filter applied to each element.
        filter: Box<Filter>,
    },
}

/// Why a filter text was refused. Every variant maps to the SCIM `scimType`
/// `invalidFilter` (see [`FilterError::scim_type`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// The filter text is empty or blank.
    #[error("the filter is empty")]
    Empty,
    /// The filter text exceeds [`MAX_FILTER_LEN`].
    #[error("the filter is {len} bytes long; at most {max} are accepted")]
    TooLong {
        /// Length of the text in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Groups nest deeper than [`MAX_DEPTH`].
    #[error("the filter nests deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_TERMS`] attribute expressions.
    #[error("the filter has more than {max} terms")]
    TooManyTerms {
        /// The limit.
        max: usize,
    },
    /// A string literal has no closing quote.
    #[error("unterminated string starting at byte {at}")]
    UnterminatedString {
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A string literal is not valid JSON (bad escape, control character).
    #[error("invalid string literal at byte {at}")]
    InvalidString {
        /// Byte offset of the opening quote.
        at: usize,
    },
    /// A `(` without `)` or a `)` without `(`.
    #[error("unbalanced parentheses")]
    UnbalancedParens,
    /// A `[` without `]` or a `]` without `[`.
    #[error("unbalanced brackets")]
    UnbalancedBrackets,
    /// The text ended where more was required.
    #[error("unexpected end of filter; expected {expected}")]
    UnexpectedEnd {
        /// What the parser was looking for.
        expected: &'static str,
    },
    /// A token appeared where it is not allowed.
    #[error("unexpected {found:?} at byte {at}; expected {expected}")]
    UnexpectedToken {
        /// The token (clipped to 64 characters).
        found: String,
        /// Byte offset of the token.
        at: usize,
        /// What the parser was looking for.
        expected: &'static str,
    },
    /// A word in operator position is not a SCIM operator.
    #[error("unknown operator {op:?} at byte {at}")]
    UnknownOperator {
        /// The word (clipped to 64 characters).
        op: String,
        /// Byte offset of the word.
        at: usize,
    },
    /// An attribute path does not follow `[urn:…:]name[.sub]`.
    #[error("invalid attribute path {path:?}")]
    InvalidAttributePath {
        /// The path (clipped to 64 characters).
        path: String,
    },
    /// A comparison value is not a string, number, `true`, `false` or `null`.
    #[error("invalid comparison value {value:?} at byte {at}")]
    InvalidValue {
        /// The value (clipped to 64 characters).
        value: String,
        /// Byte offset of the value.
        at: usize,
    },
    /// A value path inside a value path (`a[b[c eq 1]]`), which SCIM does not allow.
    #[error("value filters cannot be nested (byte {at})")]
    NestedValuePath {
        /// Byte offset of the inner `[`.
        at: usize,
    },
}

impl FilterError {
    /// The SCIM `scimType` for this error: always `invalidFilter`.
    pub fn scim_type(&self) -> &'static str {
        "invalidFilter"
    }
}

/// Whether string comparisons on this attribute are case-exact.
///
/// `id` and `externalId` are case-exact (RFC 7643 §3.1), and so is the `value`
/// sub-attribute of `members` (group member ids). Every other string attribute compares
/// case-insensitively (SCIM's default `caseExact: false`). Names compare
/// case-insensitively; `sub` is the sub-attribute, e.g. `Some("value")` for
/// `members.value`.
pub fn case_exact(attr: &str, sub: Option<&str>) -> bool {
    match sub {
        None => attr.eq_ignore_ascii_case("id") || attr.eq_ignore_ascii_case("externalId"),
        Some(sub) => attr.eq_ignore_ascii_case("members") && sub.eq_ignore_ascii_case("value"),
    }
}

/// Whether `name` is a valid SCIM attribute name: `[A-Za-z][A-Za-z0-9_$-]*`, or the
/// reference sub-attribute `$ref`.
pub fn is_valid_attr_name(name: &str) -> bool {
    if name == "$ref" {
        return true;
    }
    let mut chars = name.chars();
    match chars.next() {
        Some(first) if first.is_ascii_alphabetic() => {
            chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'))
        }
        _ => false,
    }
}

/// Splits a schema URN prefix off an attribute path: when `text` starts with `urn:`
/// (any case), everything up to the last `:` is the prefix.
///
/// `"urn:ietf:params:scim:schemas:core:2.0:User:name.givenName"` →
/// `(Some("urn:ietf:params:scim:schemas:core:2.0:User"), "name.givenName")`;
/// `"emails.value"` → `(None, "emails.value")`.
pub fn split_urn(text: &str) -> (Option<&str>, &str) {
    let is_urn = text
        .get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("urn:"));
    if is_urn {
        if let Some((prefix, rest)) = text.rsplit_once(':') {
            return (Some(prefix), rest);
        }
    }
    (None, text)
}

/// Parses an attribute path such as `userName`, `name.familyName` or
/// `urn:ietf:params:scim:schemas:core:2.0:User:emails.value`, dropping any URN prefix.
pub fn parse_attr_path(text: &str) -> Result<AttrPath, FilterError> {
    let invalid = || FilterError::InvalidAttributePath { path: clip(text) };
    let (_, name) = split_urn(text);
    let (attr, sub) = match name.split_once('.') {
        Some((attr, sub)) => (attr, Some(sub)),
        None => (name, None),
    };
    if attr == "$ref" || !is_valid_attr_name(attr) {
        return Err(invalid());
    }
    if let Some(sub) = sub {
        if !is_valid_attr_name(sub) {
            return Err(invalid());
        }
    }
    Ok(AttrPath {
        attr: attr.to_owned(),
        sub: sub.map(str::to_owned),
    })
}

/// Parses a SCIM filter expression.
///
/// Keywords and operators are case-insensitive; `and` binds tighter than `or`; `not`
/// must be followed by a parenthesised filter.
pub fn parse(text: &str) -> Result<Filter, FilterError> {
    if text.len() > MAX_FILTER_LEN {
        return Err(FilterError::TooLong {
            len: text.len(),
            max: MAX_FILTER_LEN,
        });
    }
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Err(FilterError::Empty);
    }
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
        terms: 0,
        in_value_path: false,
    };
    let filter = parser.parse_or()?;
    match parser.peek() {
        None => Ok(filter),
        Some(Token {
            kind: Kind::RParen, ..
        }) => Err(FilterError::UnbalancedParens),
        Some(Token {
            kind: Kind::RBracket,
            ..
        }) => Err(FilterError::UnbalancedBrackets),
        Some(token) => Err(token.unexpected("`and`, `or` or the end of the filter")),
    }
}

impl Filter {
    /// Evaluates the filter against a SCIM resource (a JSON object).
    ///
    /// Attribute names match the resource's keys case-insensitively; an attribute not
    /// found at the top level is also looked up inside schema-extension objects (keys
    /// starting with `urn:`), so `employeeNumber eq "7"` finds the enterprise extension's
    /// `employeeNumber`. A multi-valued attribute matches when any element does.
    pub fn matches(&self, resource: &Value) -> bool {
        self.eval(resource, None)
    }

    /// Evaluates the filter against one element of the multi-valued attribute
    /// `parent_attr`, as the inner filter of a value path (`emails[type eq "work"]`) is
    /// evaluated. A non-object element is treated as `{"value": element}`.
    pub fn matches_element(&self, parent_attr: &str, element: &Value) -> bool {
        if element.is_object() {
            self.eval(element, Some(parent_attr))
        } else {
            let mut wrapped = Map::new();
            wrapped.insert("value".to_owned(), element.clone());
            self.eval(&Value::Object(wrapped), Some(parent_attr))
        }
    }

    /// `parent` is the multi-valued attribute whose element `node` is, when evaluating
    /// the inside of a value path.
    fn eval(&self, node: &Value, parent: Option<&str>) -> bool {
        match self {
            Filter::And(left, right) => left.eval(node, parent) && right.eval(node, parent),
            Filter::Or(left, right) => left.eval(node, parent) || right.eval(node, parent),
            Filter::Not(inner) => !inner.eval(node, parent),
            Filter::Present(path) => match lookup(node, &path.attr, parent.is_none()) {
                None => false,
                Some(found) => match &path.sub {
                    None => is_present(found),
                    Some(sub) => candidates(found, Some(sub)).into_iter().any(is_present),
                },
            },
            Filter::Compare { path, op, value } => {
                let exact = match parent {
                    Some(parent) => case_exact(parent, Some(&path.attr)),
                    None => case_exact(&path.attr, path.sub.as_deref()),
                };
                let Some(found) = lookup(node, &path.attr, parent.is_none()) else {
                    return match op {
                        CompareOp::Eq => value.is_null(),
                        CompareOp::Ne => !value.is_null(),
                        _ => false,
                    };
                };
                let values: Vec<&Value> = candidates(found, path.sub.as_deref())
                    .into_iter()
                    .filter(|v| !v.is_null())
                    .collect();
                if value.is_null() {
                    return match op {
                        CompareOp::Eq => values.is_empty(),
                        CompareOp::Ne => !values.is_empty(),
                        _ => false,
                    };
                }
                match op {
                    CompareOp::Ne => !values
                        .iter()
                        .any(|v| compare_scalar(v, CompareOp::Eq, value, exact)),
                    _ => values.iter().any(|v| compare_scalar(v, *op, value, exact)),
                }
            }
            Filter::ValuePath { attr, filter } => match lookup(node, attr, parent.is_none()) {
                Some(Value::Array(items)) => {
                    items.iter().any(|item| filter.matches_element(attr, item))
                }
                Some(object @ Value::Object(_)) => filter.eval(object, Some(attr)),
                _ => false,
            },
        }
    }
}

/// Looks `name` up case-insensitively in a JSON object.
pub(crate) fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    })
}

/// Finds an attribute in `node`; with `extensions`, falls back to the objects under
/// schema-extension keys (`urn:…`).
fn lookup<'a>(node: &'a Value, name: &str, extensions: bool) -> Option<&'a Value> {
    let map = node.as_object()?;
    if let Some(found) = get_ci(map, name) {
        return Some(found);
    }
    if !extensions {
        return None;
    }
    map.iter()
        .filter(|(key, _)| key.get(..4).is_some_and(|h| h.eq_ignore_ascii_case("urn:")))
        .filter_map(|(_, value)| value.as_object())
        .find_map(|ext| get_ci(ext, name))
}

/// The scalar values a comparison looks at: each element of a multi-valued attribute,
/// the `sub` sub-attribute of complex values, or their `value` sub-attribute when no
/// sub-attribute is named.
fn candidates<'a>(found: &'a Value, sub: Option<&str>) -> Vec<&'a Value> {
    let mut out = Vec::new();
    match found {
        Value::Array(items) => {
            for item in items {
                push_leaf(item, sub, &mut out);
            }
        }
        other => push_leaf(other, sub, &mut out),
    }
    out
}

fn push_leaf<'a>(value: &'a Value, sub: Option<&str>, out: &mut Vec<&'a Value>) {
    match (value, sub) {
        (Value::Object(map), Some(sub)) => match get_ci(map, sub) {
            Some(Value::Array(items)) => out.extend(items.iter()),
            Some(leaf) => out.push(leaf),
            None => {}
        },
        (Value::Object(map), None) => {
            if let Some(leaf) = get_ci(map, "value") {
                out.push(leaf);
            }
        }
        (_, Some(_)) => {}
        (leaf, None) => out.push(leaf),
    }
}

/// `pr` semantics: non-null, non-empty string, non-empty array, non-empty object.
fn is_present(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// Reads `"true"` / `"false"` in any case.
pub(crate) fn parse_bool_str(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

fn compare_scalar(actual: &Value, op: CompareOp, literal: &Value, exact: bool) -> bool {
    match (actual, literal) {
        (Value::String(a), Value::String(b)) => compare_strings(a, op, b, exact),
        (Value::Number(a), Value::Number(b)) => {
            compare_numbers(a, b).is_some_and(|ordering| ordering_satisfies(ordering, op))
        }
        (Value::Bool(a), Value::Bool(b)) => compare_bools(*a, op, *b),
        (Value::Bool(a), Value::String(b)) => {
            parse_bool_str(b).is_some_and(|b| compare_bools(*a, op, b))
        }
        (Value::String(a), Value::Bool(b)) => {
            parse_bool_str(a).is_some_and(|a| compare_bools(a, op, *b))
        }
        _ => false,
    }
}

fn compare_bools(a: bool, op: CompareOp, b: bool) -> bool {
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        _ => false,
    }
}

fn compare_strings(actual: &str, op: CompareOp, literal: &str, exact: bool) -> bool {
    let (a, b) = if exact {
        (actual.to_owned(), literal.to_owned())
    } else {
        (actual.to_lowercase(), literal.to_lowercase())
    };
    match op {
        CompareOp::Co => a.contains(&b),
        CompareOp::Sw => a.starts_with(&b),
        CompareOp::Ew => a.ends_with(&b),
        _ => ordering_satisfies(a.cmp(&b), op),
    }
}

fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return Some(a.cmp(&b));
    }
    if let (Some(a), Some(b)) = (a.as_u64(), b.as_u64()) {
        return Some(a.cmp(&b));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

fn ordering_satisfies(ordering: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => ordering == Ordering::Equal,
        CompareOp::Ne => ordering != Ordering::Equal,
        CompareOp::Gt => ordering == Ordering::Greater,
        CompareOp::Ge => ordering != Ordering::Less,
        CompareOp::Lt => ordering == Ordering::Less,
        CompareOp::Le => ordering != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

/// Clips client text echoed in error messages to 64 characters.
pub(crate) fn clip(text: &str) -> String {
    const LIMIT: usize = 64;
    if text.chars().count() <= LIMIT {
        text.to_owned()
    } else {
        let mut out: String = text.chars().take(LIMIT).collect();
        out.push('…');
        out
    }
}

// ---------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Str(String),
    Word(String),
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    at: usize,
}

impl Token {
    fn unexpected(&self, expected: &'static str) -> FilterError {
        let found = match &self.kind {
            Kind::LParen => "(".to_owned(),
            Kind::RParen => ")".to_owned(),
            Kind::LBracket => "[".to_owned(),
            Kind::RBracket => "]".to_owned(),
            Kind::Str(s) => format!("\"{}\"", clip(s)),
            Kind::Word(w) => clip(w),
        };
        FilterError::UnexpectedToken {
            found,
            at: self.at,
            expected,
        }
    }
}

fn lex(text: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let kind = match c {
            c if c.is_whitespace() => continue,
            '(' => Kind::LParen,
            ')' => Kind::RParen,
            '[' => Kind::LBracket,
            ']' => Kind::RBracket,
            '"' => {
                let mut escaped = false;
                let mut end = None;
                for (i, c) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = Some(i);
                        break;
                    }
                }
                let end = end.ok_or(FilterError::UnterminatedString { at })?;
                let literal = text
                    .get(at..=end)
                    .ok_or(FilterError::InvalidString { at })?;
                let value: String =
                    serde_json::from_str(literal).map_err(|_| FilterError::InvalidString { at })?;
                Kind::Str(value)
            }
            _ => {
                let mut end = at + c.len_utf8();
                while let Some(&(i, next)) = chars.peek() {
                    if next.is_whitespace() || matches!(next, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    end = i + next.len_utf8();
                    chars.next();
                }
                let word = text.get(at..end).unwrap_or_default();
                Kind::Word(word.to_owned())
            }
        };
        tokens.push(Token { kind, at });
    }
    Ok(tokens)
}

// ---------------------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    terms: usize,
    in_value_path: bool,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: Kind::Word(w), .. }) if w.eq_ignore_ascii_case(keyword))
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooDeep { max: MAX_DEPTH });
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn count_term(&mut self) -> Result<(), FilterError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(FilterError::TooManyTerms { max: MAX_TERMS });
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.parse_and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.parse_unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.parse_unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// A parenthesised group, after its `(` has been consumed.
    fn parse_group(&mut self) -> Result<Filter, FilterError> {
        self.enter()?;
        let inner = self.parse_or()?;
        match self.next() {
            Some(Token {
                kind: Kind::RParen, ..
            }) => {
                self.leave();
                Ok(inner)
            }
            Some(Token {
                kind: Kind::RBracket,
                ..
            }) => Err(FilterError::UnbalancedBrackets),
            Some(token) => Err(token.unexpected("`and`, `or` or `)`")),
            None => Err(FilterError::UnbalancedParens),
        }
    }

    fn parse_unary(&mut self) -> Result<Filter, FilterError> {
        let token = self.next().ok_or(FilterError::UnexpectedEnd {
            expected: "an attribute, `not` or `(`",
        })?;
        match token.kind {
            Kind::LParen => self.parse_group(),
            Kind::Word(word) if word.eq_ignore_ascii_case("not") => match self.next() {
                Some(Token {
                    kind: Kind::LParen, ..
                }) => Ok(Filter::Not(Box::new(self.parse_group()?))),
                Some(other) => Err(other.unexpected("`(` after `not`")),
                None => Err(FilterError::UnexpectedEnd {
                    expected: "`(` after `not`",
                }),
            },
            Kind::Word(word) => self.parse_attr_expr(&word),
            Kind::RParen => Err(FilterError::UnbalancedParens),
            Kind::RBracket => Err(FilterError::UnbalancedBrackets),
            _ => Err(token.unexpected("an attribute, `not` or `(`")),
        }
    }

    fn parse_attr_expr(&mut self, word: &str) -> Result<Filter, FilterError> {
        let path = parse_attr_path(word)?;
        let token = self.next().ok_or(FilterError::UnexpectedEnd {
            expected: "an operator or `[`",
        })?;
        match token.kind {
            Kind::LBracket => {
                if self.in_value_path {
                    return Err(FilterError::NestedValuePath { at: token.at });
                }
                if path.sub.is_some() {
                    return Err(FilterError::InvalidAttributePath { path: clip(word) });
                }
                self.enter()?;
                self.in_value_path = true;
                let inner = self.parse_or()?;
                match self.next() {
                    Some(Token {
                        kind: Kind::RBracket,
                        ..
                    }) => {}
                    Some(Token {
                        kind: Kind::RParen, ..
                    }) => return Err(FilterError::UnbalancedParens),
                    Some(other) => return Err(other.unexpected("`and`, `or` or `]`")),
                    None => return Err(FilterError::UnbalancedBrackets),
                }
                self.in_value_path = false;
                self.leave();
                // Microsoft Entra ID's form: `emails[type eq "work"].value eq "x"`, a
                // sub-attribute of the matching element compared (RFC 7644 has it in
                // PATCH paths only): some element matches both.
                let inner = match self.peek() {
                    Some(Token {
                        kind: Kind::Word(word),
                        ..
                    }) if word.starts_with('.') => {
                        let sub = word.trim_start_matches('.').to_owned();
                        if !is_valid_attr_name(&sub) {
                            return Err(FilterError::InvalidAttributePath { path: clip(word) });
                        }
                        self.next();
                        let compared = self.parse_comparison(AttrPath {
                            attr: sub,
                            sub: None,
                        })?;
                        Filter::And(Box::new(inner), Box::new(compared))
                    }
                    _ => inner,
                };
                Ok(Filter::ValuePath {
                    attr: path.attr,
                    filter: Box::new(inner),
                })
            }
            Kind::Word(_) => {
                self.pos -= 1;
                self.parse_comparison(path)
            }
            _ => Err(token.unexpected("an operator or `[`")),
        }
    }

    /// `path`'s operator and value: `pr`, or a comparison.
    fn parse_comparison(&mut self, path: AttrPath) -> Result<Filter, FilterError> {
        let token = self.next().ok_or(FilterError::UnexpectedEnd {
            expected: "an operator",
        })?;
        let Kind::Word(op) = token.kind.clone() else {
            return Err(token.unexpected("an operator"));
        };
        if op.eq_ignore_ascii_case("pr") {
            self.count_term()?;
            return Ok(Filter::Present(path));
        }
        let op = CompareOp::parse(&op).ok_or_else(|| FilterError::UnknownOperator {
            op: clip(&op),
            at: token.at,
        })?;
        let value = self.parse_value()?;
        self.count_term()?;
        Ok(Filter::Compare { path, op, value })
    }

    fn parse_value(&mut self) -> Result<Value, FilterError> {
        let token = self.next().ok_or(FilterError::UnexpectedEnd {
            expected: "a comparison value",
        })?;
        match token.kind {
            Kind::Str(s) => Ok(Value::String(s)),
            Kind::Word(word) => {
                if word.eq_ignore_ascii_case("true") {
                    Ok(Value::Bool(true))
                } else if word.eq_ignore_ascii_case("false") {
                    Ok(Value::Bool(false))
                } else if word.eq_ignore_ascii_case("null") {
                    Ok(Value::Null)
                } else {
                    match serde_json::from_str::<Value>(&word) {
                        Ok(number @ Value::Number(_)) => Ok(number),
                        _ => Err(FilterError::InvalidValue {
                            value: clip(&word),
                            at: token.at,
                        }),
                    }
                }
            }
            _ => Err(token.unexpected("a comparison value")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn ada() -> Value {
        json!({
            "schemas": [
                "urn:ietf:params:scim:schemas:core:2.0:User",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
            ],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "A1",
            "userName": "Ada@Example.com",
            "displayName": "Ada Lovelace",
            "active": true,
            "name": { "familyName": "Lovelace", "givenName": "Ada" },
            "emails": [
                { "value": "ada@example.com", "type": "work", "primary": true },
                { "value": "countess@home.test", "type": "home" }
            ],
            "loginCount": 42,
            "meta": { "lastModified": "2011-05-13T04:42:34Z", "resourceType": "User" },
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
                "employeeNumber": "701984",
                "manager": { "value": "boss-id" }
            }
        })
    }

    fn m(filter: &str) -> bool {
        parse(filter).unwrap().matches(&ada())
    }

    #[test]
    fn eq_is_case_insensitive_for_ordinary_attributes() {
        assert!(m(r#"userName eq "Ada@Example.com""#));
        assert!(m(r#"userName eq "ada@example.COM""#));
        assert!(m(r#"USERNAME EQ "ada@example.com""#));
        assert!(!m(r#"userName eq "grace@example.com""#));
    }

    #[test]
    fn operators_are_case_insensitive() {
        assert!(m(r#"userName Eq "ada@example.com""#));
        assert!(m(r#"displayName CO "love""#));
        assert!(m(r#"name.familyName PR"#));
        assert!(m(r#"userName eq "x" OR active EQ TRUE"#));
    }

    #[test]
    fn external_id_and_id_are_case_exact() {
        assert!(m(r#"externalId eq "A1""#));
        assert!(!m(r#"externalId eq "a1""#));
        assert!(m(r#"id eq "2819c223-7f76-453a-919d-413861904646""#));
        assert!(!m(r#"id eq "2819C223-7F76-453A-919D-413861904646""#));
    }

    #[test]
    fn members_value_is_case_exact() {
        let group = json!({ "members": [ { "value": "AbC" }, { "value": "def" } ] });
        assert!(parse(r#"members.value eq "AbC""#).unwrap().matches(&group));
        assert!(!parse(r#"members.value eq "abc""#).unwrap().matches(&group));
        assert!(parse(r#"members[value eq "AbC"]"#).unwrap().matches(&group));
        assert!(!parse(r#"members[value eq "ABC"]"#).unwrap().matches(&group));
        assert!(!parse(r#"members[value eq "DEF"]"#).unwrap().matches(&group));
        assert!(case_exact("members", Some("value")));
        assert!(case_exact("ID", None));
        assert!(!case_exact("emails", Some("value")));
        assert!(!case_exact("userName", None));
    }

    #[test]
    fn value_path_with_a_compared_sub_attribute() {
        let user = json!({"emails": [
            {"type": "home", "value": "ada@home.example"},
            {"type": "work", "value": "ada@acme.example"},
        ]});
        let found = parse(r#"emails[type eq "work"].value eq "ADA@acme.example""#).unwrap();
        assert!(found.matches(&user));
        let crossed = parse(r#"emails[type eq "home"].value eq "ada@acme.example""#).unwrap();
        assert!(!crossed.matches(&user), "the same element must match both");
        assert!(parse(r#"emails[type eq "work"].value pr"#)
            .unwrap()
            .matches(&user));
        assert!(parse(r#"emails[type eq "work"].value"#).is_err());
        assert!(parse(r#"emails[type eq "work"].va!ue eq "x""#).is_err());
    }

    #[test]
    fn value_path_filter() {
        assert!(m(r#"emails[type eq "work" and value co "example"]"#));
        assert!(!m(r#"emails[type eq "home" and value co "example"]"#));
        assert!(m(r#"emails[type eq "home" or value co "nothing"]"#));
        assert!(m(r#"emails[primary eq true]"#));
        assert!(!m(r#"phoneNumbers[type eq "work"]"#));
        assert_eq!(
            parse(r#"emails[type eq "work"]"#).unwrap(),
            Filter::ValuePath {
                attr: "emails".into(),
                filter: Box::new(Filter::Compare {
                    path: AttrPath {
                        attr: "type".into(),
                        sub: None
                    },
                    op: CompareOp::Eq,
                    value: json!("work"),
                }),
            }
        );
    }

    #[test]
    fn multi_valued_sub_attribute() {
        assert!(m(r#"emails.value sw "ada""#));
        assert!(m(r#"emails.value sw "COUNTESS""#));
        assert!(m(r#"emails.value ew ".test""#));
        assert!(!m(r#"emails.value sw "grace""#));
        assert!(
            m(r#"emails co "home.test""#),
            "complex element compares its value"
        );
        assert!(m(r#"emails.type eq "home""#));
    }

    #[test]
    fn presence() {
        assert!(m("name.familyName pr"));
        assert!(m("emails pr"));
        assert!(m("emails.type pr"));
        assert!(!m("name.middleName pr"));
        assert!(!m("nickName pr"));
        let sparse = json!({ "nickName": "", "emails": [], "title": null, "name": {} });
        for attr in ["nickName", "emails", "title", "name", "emails.value"] {
            assert!(
                !parse(&format!("{attr} pr")).unwrap().matches(&sparse),
                "{attr}"
            );
        }
    }

    #[test]
    fn precedence_and_not() {
        let f =
            parse(r#"userName eq "a" or (displayName co "b" and not (active eq false))"#).unwrap();
        assert!(matches!(f, Filter::Or(_, _)));
        let doc = json!({ "userName": "x", "displayName": "Bob", "active": true });
        assert!(f.matches(&doc));
        let inactive = json!({ "userName": "x", "displayName": "Bob", "active": false });
        assert!(!f.matches(&inactive));
        let named_a = json!({ "userName": "A", "displayName": "zzz", "active": false });
        assert!(f.matches(&named_a));

        // `and` binds tighter than `or`: a or (b and c).
        let f = parse(r#"userName eq "a" or userName eq "b" and active eq false"#).unwrap();
        match f {
            Filter::Or(_, right) => assert!(matches!(*right, Filter::And(_, _))),
            other => unreachable!("{other:?}"),
        }
    }

    #[test]
    fn urn_prefixed_attributes() {
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ada@example.com""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "lovelace""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
        assert!(m(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "boss-id""#
        ));
        assert_eq!(
            parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap(),
            AttrPath {
                attr: "userName".into(),
                sub: None
            }
        );
    }

    #[test]
    fn ordering_on_dates_and_numbers() {
        assert!(!m(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#));
        assert!(m(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#));
        assert!(m(r#"meta.lastModified lt "2012-01-01T00:00:00Z""#));
        assert!(m("loginCount gt 41"));
        assert!(m("loginCount le 42"));
        assert!(m("loginCount eq 42.0"));
        assert!(!m("loginCount lt 42"));
        assert!(m("loginCount gt -1.5e1"));
        assert!(!m(r#"loginCount co "4""#), "co is for strings only");
        assert!(!m(r#"loginCount gt "1""#), "no cross-type ordering");
    }

    #[test]
    fn ne_and_null() {
        assert!(m(r#"nickName ne "x""#), "ne is true when absent");
        assert!(m(r#"userName ne "grace""#));
        assert!(!m(r#"userName ne "ADA@example.com""#));
        assert!(!m(r#"emails.type ne "home""#), "ne means no value equals");
        assert!(m("nickName eq null"));
        assert!(!m("userName eq null"));
        assert!(m("userName ne NULL"));
    }

    #[test]
    fn booleans_accept_strings() {
        assert!(m("active eq true"));
        assert!(m(r#"active eq "True""#));
        assert!(!m(r#"active eq "False""#));
        let entra = json!({ "active": "False" });
        assert!(parse("active eq false").unwrap().matches(&entra));
        assert!(parse("active ne TRUE").unwrap().matches(&entra));
        assert!(!parse("active gt false").unwrap().matches(&entra));
    }

    #[test]
    fn string_escapes() {
        let doc = json!({ "displayName": "say \"hi\" \u{e9}" });
        assert!(parse(r#"displayName eq "say \"hi\" \u00e9""#)
            .unwrap()
            .matches(&doc));
        assert!(parse(r#"displayName eq "SAY \"HI\" É""#)
            .unwrap()
            .matches(&doc));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            parse("userName eq"),
            Err(FilterError::UnexpectedEnd { .. })
        ));
        assert_eq!(
            parse(r#"(userName eq "a""#),
            Err(FilterError::UnbalancedParens)
        );
        assert_eq!(
            parse(r#"userName eq "a")"#),
            Err(FilterError::UnbalancedParens)
        );
        assert_eq!(
            parse(r#"emails[type eq "a""#),
            Err(FilterError::UnbalancedBrackets)
        );
        assert!(matches!(
            parse(r#"userName like "a""#),
            Err(FilterError::UnknownOperator { .. })
        ));
        assert!(matches!(
            parse(r#"userName eq "a"#),
            Err(FilterError::UnterminatedString { .. })
        ));
        assert!(matches!(
            parse(r#"userName eq "\q""#),
            Err(FilterError::InvalidString { .. })
        ));
        assert!(matches!(
            parse("userName eq ada"),
            Err(FilterError::InvalidValue { .. })
        ));
        assert!(matches!(
            parse(r#"1userName eq "a""#),
            Err(FilterError::InvalidAttributePath { .. })
        ));
        assert!(matches!(
            parse(r#"a.b.c eq "a""#),
            Err(FilterError::InvalidAttributePath { .. })
        ));
        assert!(matches!(
            parse(r#"not userName eq "a""#),
            Err(FilterError::UnexpectedToken { .. })
        ));
        assert!(matches!(
            parse(r#"userName eq "a" userName eq "b""#),
            Err(FilterError::UnexpectedToken { .. })
        ));
        assert!(matches!(
            parse(r#"emails[type eq "work"] eq "x""#),
            Err(FilterError::UnexpectedToken { .. })
        ));
        assert!(matches!(
            parse(r#"emails[type[value eq "x"]]"#),
            Err(FilterError::NestedValuePath { .. })
        ));
        assert_eq!(parse("   "), Err(FilterError::Empty));
        assert_eq!(
            parse("userName eq").unwrap_err().scim_type(),
            "invalidFilter"
        );
    }

    #[test]
    fn limits() {
        let long = format!(r#"userName eq "{}""#, "a".repeat(MAX_FILTER_LEN));
        assert!(matches!(parse(&long), Err(FilterError::TooLong { .. })));

        let nested = |n: usize| format!("{}userName pr{}", "(".repeat(n), ")".repeat(n));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            parse(&nested(MAX_DEPTH + 1)),
            Err(FilterError::TooDeep { max: MAX_DEPTH })
        );
        let nots = format!("{}userName pr{}", "not (".repeat(17), ")".repeat(17));
        assert_eq!(parse(&nots), Err(FilterError::TooDeep { max: MAX_DEPTH }));

        let terms = |n: usize| vec!["userName pr"; n].join(" or ");
        assert!(parse(&terms(MAX_TERMS)).is_ok());
        assert_eq!(
            parse(&terms(MAX_TERMS + 1)),
            Err(FilterError::TooManyTerms { max: MAX_TERMS })
        );
    }

    #[test]
    fn non_object_resources_never_match() {
        let f = parse(r#"userName eq "a""#).unwrap();
        assert!(!f.matches(&json!(null)));
        assert!(!f.matches(&json!([1, 2])));
        assert!(!f.matches(&json!("userName")));
    }

    #[test]
    fn unicode_input_does_not_panic() {
        for text in [
            "é eq \"x\"",
            "userName eq é",
            "\u{1F600}",
            "userName eq \"\u{1F600}",
            "[",
            "]",
            "(",
            ")",
        ] {
            assert!(parse(text).is_err(), "{text}");
        }
    }
}
