//! SCIM PATCH operations (RFC 7644 §3.5.2), tolerant of what Microsoft Entra ID and Okta
//! actually send.
//!
//! [`parse_operations`] validates a PATCH request body into [`Operation`]s; [`apply`]
//! applies them to a resource held as JSON, atomically, and finishes with [`normalize`].
//!
//! Deliberate departures from the letter of the RFC, for provisioning clients:
//!
//! - `replace` (and `add`) with a value filter that matches no element adds a new element
//!   built from the filter's `eq` terms: `emails[type eq "work"].value` with value `x`
//!   on a user without a work email appends `{"type":"work","value":"x"}` (Entra relies on
//!   this; the RFC would answer `noTarget`). A filter that is not a plain conjunction of
//!   `eq` terms still yields `noTarget`.
//! - `remove` of an attribute or element that does not exist succeeds without change.
//! - A `null` value for `add`/`replace` removes the target (RFC 7643 §2.5: null is
//!   unassigned).
//! - `id`, `meta` and `schemas` inside a path-less `add`/`replace` value are ignored (as
//!   in a PUT body); a `path` naming them is still a `mutability` error.
//! - Booleans sent as strings (`"False"`) and `manager` sent as a plain id are coerced by
//!   [`normalize`].

use serde_json::{Map, Value};

use crate::filter::{self, get_ci, parse_bool_str, CompareOp, Filter, FilterError};

/// Most operations one PATCH request may carry.
pub const MAX_OPERATIONS: usize = 1000;
/// The schema URN of a PATCH request body.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// The core User schema URN.
pub const CORE_USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core Group schema URN.
pub const CORE_GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// The enterprise User extension URN; also the key its attributes live under.
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Attributes of the enterprise User extension: un-prefixed, they are still stored under
/// [`ENTERPRISE_USER_SCHEMA`].
const ENTERPRISE_ATTRS: [&str; 6] = [
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager",
];

/// Attributes no PATCH may modify.
const READ_ONLY_ATTRS: [&str; 3] = ["id", "meta", "schemas"];

/// Core multi-valued attributes: a single value added or replaced there is wrapped in an
/// array.
const MULTI_VALUED_ATTRS: [&str; 10] = [
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509Certificates",
    "members",
];

/// A PATCH operation kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `add`: add values; on a single-valued attribute, set it.
    Add,
    /// `replace`: replace values.
    Replace,
    /// `remove`: remove values.
    Remove,
}

impl Op {
    /// Parses an op name case-insensitively (`Add`, `replace`, `REMOVE`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("add") {
            Some(Op::Add)
        } else if text.eq_ignore_ascii_case("replace") {
            Some(Op::Replace)
        } else if text.eq_ignore_ascii_case("remove") {
            Some(Op::Remove)
        } else {
            None
        }
    }

    /// The op's lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Replace => "replace",
            Op::Remove => "remove",
        }
    }
}

/// The target of an operation: `attr[filter].sub`, with an optional schema URN prefix.
///
/// Examples: `name.givenName` (attr `name`, sub `givenName`);
/// `emails[type eq "work"].value` (attr `emails`, filter, sub `value`);
/// `members[value eq "2819c223"]`;
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager` (schema
/// [`ENTERPRISE_USER_SCHEMA`], attr `manager`). The bare enterprise extension URN is the
/// whole extension object: attr is the URN and schema is `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute name as written (URN prefix removed).
    pub attr: String,
    /// The value filter between `[` and `]`, for multi-valued attributes.
    pub filter: Option<Filter>,
    /// The sub-attribute, after `.` (or after `]`).
    pub sub: Option<String>,
    /// The schema URN prefix as written, if any (everything before the last `:`).
    pub schema: Option<String>,
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// What to do.
    pub op: Op,
    /// Where; `None` means the resource itself (`value` is then an object of attributes).
    pub path: Option<PatchPath>,
    /// The value, when the operation has one.
    pub value: Option<Value>,
}

/// Why a PATCH request was refused; [`PatchError::scim_type`] gives the SCIM `scimType`.
/// Every variant is a client error (HTTP 400).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PatchError {
    /// The body is not a PATCH request (not an object, wrong schema, no `Operations`).
    #[error("invalid PATCH request: {0}")]
    InvalidSyntax(String),
    /// An operation's `op` is not `add`, `replace` or `remove`.
    #[error("unsupported PATCH op {0:?}; expected add, replace or remove")]
    UnknownOp(String),
    /// A `path` does not follow `[urn:…:]attr[[filter]][.sub]`.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path (clipped to 64 characters).
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The value filter inside a `path` does not parse.
    #[error("invalid filter in path: {0}")]
    InvalidFilter(#[from] FilterError),
    /// The operation has no target (`remove` without `path`; a filter matching nothing
    /// that no element can be built from).
    #[error("no target: {0}")]
    NoTarget(String),
    /// The value is missing or unusable for the target.
    #[error("invalid value: {0}")]
    InvalidValue(String),
    /// More than [`MAX_OPERATIONS`] operations.
    #[error("too many operations: {count}; at most {max} are accepted")]
    TooMany {
        /// How many operations were sent.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The operation targets a read-only attribute (`id`, `meta`, `schemas`).
    #[error("attribute {0:?} is read-only")]
    Mutability(String),
}

impl PatchError {
    /// The SCIM `scimType` for this error: `invalidSyntax`, `invalidPath`,
    /// `invalidFilter`, `noTarget`, `invalidValue`, `tooMany` or `mutability`.
    pub fn scim_type(&self) -> &'static str {
        match self {
            PatchError::InvalidSyntax(_) | PatchError::UnknownOp(_) => "invalidSyntax",
            PatchError::InvalidPath { .. } => "invalidPath",
            PatchError::InvalidFilter(_) => "invalidFilter",
            PatchError::NoTarget(_) => "noTarget",
            PatchError::InvalidValue(_) => "invalidValue",
            PatchError::TooMany { .. } => "tooMany",
            PatchError::Mutability(_) => "mutability",
        }
    }
}

impl PatchPath {
    /// Parses a PATCH `path`.
    pub fn parse(text: &str) -> Result<Self, PatchError> {
        let text = text.trim();
        let invalid = |reason: &'static str| PatchError::InvalidPath {
            path: filter::clip(text),
            reason,
        };
        if text.is_empty() {
            return Err(invalid("the path is empty"));
        }
        if text.len() > filter::MAX_FILTER_LEN {
            return Err(invalid("the path is too long"));
        }
        if is_core_schema(text) {
            return Err(invalid("a core schema URN is not an attribute"));
        }
        if text.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
            return Ok(PatchPath {
                attr: ENTERPRISE_USER_SCHEMA.to_owned(),
                filter: None,
                sub: None,
                schema: None,
            });
        }

        let (head, value_filter, tail) = match text.find('[') {
            None => {
                if text.contains(']') {
                    return Err(invalid("unbalanced brackets"));
                }
                (text, None, "")
            }
            Some(open) => {
                let close = text
                    .rfind(']')
                    .filter(|close| *close > open)
                    .ok_or_else(|| invalid("unbalanced brackets"))?;
                let head = text.get(..open).ok_or_else(|| invalid("bad brackets"))?;
                let inner = text
                    .get(open + 1..close)
                    .ok_or_else(|| invalid("bad brackets"))?;
                let tail = text
                    .get(close + 1..)
                    .ok_or_else(|| invalid("bad brackets"))?;
                (head, Some(filter::parse(inner)?), tail)
            }
        };

        let (schema, name) = filter::split_urn(head);
        let (attr, mut sub) = match name.split_once('.') {
            Some((attr, sub)) => (attr, Some(sub)),
            None => (name, None),
        };
        if value_filter.is_some() && sub.is_some() {
            return Err(invalid("a sub-attribute goes after the value filter"));
        }
        if !tail.is_empty() {
            let after = tail
                .strip_prefix('.')
                .ok_or_else(|| invalid("unexpected text after `]`"))?;
            sub = Some(after);
        }
        if attr == "$ref" || !filter::is_valid_attr_name(attr) {
            return Err(invalid("invalid attribute name"));
        }
        if let Some(sub) = sub {
            if !filter::is_valid_attr_name(sub) {
                return Err(invalid("invalid sub-attribute name"));
            }
        }
        Ok(PatchPath {
            attr: attr.to_owned(),
            filter: value_filter,
            sub: sub.map(str::to_owned),
            schema: schema.map(str::to_owned),
        })
    }

    /// Whether the path names one of the read-only attributes `id`, `meta`, `schemas`
    /// (un-prefixed or under a core schema URN).
    pub fn is_read_only(&self) -> bool {
        self.schema.as_deref().is_none_or(is_core_schema) && is_read_only_attr(&self.attr)
    }
}

impl Operation {
    /// Checks the operation's shape: `remove` needs a path, `add`/`replace` need a value
    /// (an object when there is no path), and no path may target a read-only attribute.
    pub fn validate(&self) -> Result<(), PatchError> {
        if let Some(path) = &self.path {
            if path.is_read_only() {
                return Err(PatchError::Mutability(path.attr.clone()));
            }
        }
        match (self.op, &self.path, &self.value) {
            (Op::Remove, None, _) => Err(PatchError::NoTarget("remove needs a path".to_owned())),
            (Op::Remove, Some(_), _) => Ok(()),
            (_, _, None) => Err(PatchError::InvalidValue(format!(
                "{} needs a value",
                self.op.as_str()
            ))),
            (_, None, Some(Value::Object(_))) => Ok(()),
            (_, None, Some(_)) => Err(PatchError::InvalidValue(format!(
                "{} without a path needs an object value",
                self.op.as_str()
            ))),
            (_, Some(_), Some(_)) => Ok(()),
        }
    }
}

/// Parses a PATCH request body
/// (`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[…]}`).
///
/// Keys are matched case-insensitively (`Operations`/`operations`, `op`/`Op`); a missing
/// or null `schemas` is tolerated, but one that does not list [`PATCH_OP_SCHEMA`] is
/// refused. An empty `Operations` array is refused, as is one longer than
/// [`MAX_OPERATIONS`]. An empty `path` string counts as no path.
pub fn parse_operations(body: &Value) -> Result<Vec<Operation>, PatchError> {
    let body = body
        .as_object()
        .ok_or_else(|| PatchError::InvalidSyntax("the body must be a JSON object".to_owned()))?;
    if let Some(schemas) = get_ci(body, "schemas") {
        let is_patch_op = |v: &Value| {
            v.as_str()
                .is_some_and(|s| s.trim().eq_ignore_ascii_case(PATCH_OP_SCHEMA))
        };
        let listed = match schemas {
            Value::Null => true,
            Value::Array(items) => items.iter().any(is_patch_op),
            single => is_patch_op(single),
        };
        if !listed {
            return Err(PatchError::InvalidSyntax(format!(
                "schemas must contain {PATCH_OP_SCHEMA}"
            )));
        }
    }
    let operations = match get_ci(body, "Operations") {
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(PatchError::InvalidSyntax(
                "Operations must be an array".to_owned(),
            ))
        }
        None => {
            return Err(PatchError::InvalidSyntax(
                "Operations is missing".to_owned(),
            ))
        }
    };
    if operations.is_empty() {
        return Err(PatchError::InvalidSyntax("Operations is empty".to_owned()));
    }
    if operations.len() > MAX_OPERATIONS {
        return Err(PatchError::TooMany {
            count: operations.len(),
            max: MAX_OPERATIONS,
        });
    }
    operations
        .iter()
        .enumerate()
        .map(|(index, item)| parse_operation(index, item))
        .collect()
}

fn parse_operation(index: usize, item: &Value) -> Result<Operation, PatchError> {
    let item = item
        .as_object()
        .ok_or_else(|| PatchError::InvalidSyntax(format!("operation {index} is not an object")))?;
    let op_text = get_ci(item, "op")
        .and_then(Value::as_str)
        .ok_or_else(|| PatchError::InvalidSyntax(format!("operation {index} has no op")))?;
    let op = Op::parse(op_text).ok_or_else(|| PatchError::UnknownOp(filter::clip(op_text)))?;
    let path = match get_ci(item, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(PatchPath::parse(text)?),
        Some(_) => {
            return Err(PatchError::InvalidSyntax(format!(
                "operation {index}: path must be a string"
            )))
        }
    };
    let operation = Operation {
        op,
        path,
        value: get_ci(item, "value").cloned(),
    };
    operation.validate()?;
    Ok(operation)
}

/// Applies operations to a resource (a JSON object), then [`normalize`]s it.
///
/// Atomic: on error the resource is left unchanged. Attribute names match existing keys
/// case-insensitively and keep the existing spelling; new keys are stored as written
/// without a core URN prefix. Enterprise extension attributes (`employeeNumber`,
/// `costCenter`, `organization`, `division`, `department`, `manager`, prefixed or not)
/// live in the object under [`ENTERPRISE_USER_SCHEMA`]; attributes of other extension
/// URNs in an object under that URN. A non-empty extension object's URN is appended to
/// the resource's `schemas` array when it has one and the URN is missing; an extension
/// object emptied by `remove` is dropped.
///
/// A `path` naming `id`, `meta` or `schemas` is a [`PatchError::Mutability`] error; the
/// same keys inside a path-less `add`/`replace` value are ignored, as in a PUT body.
///
/// - `add`: to a multi-valued attribute, appends the elements not already present
///   (elements compare by their `value` sub-attribute, or whole when they have none); to
///   a complex attribute with an object, merges sub-attributes; otherwise sets the value.
///   Without a path, each key of the value object (an attribute name, a path such as
///   `name.givenName`, a URN-prefixed name, or an extension URN with an object) is added
///   in turn.
/// - `replace`: like `add`, but a multi-valued attribute is replaced whole. With a value
///   filter, sets `sub` (or merges the object value) in every matching element, and
///   appends a new element built from the filter's `eq` terms when none matches.
/// - `remove`: removes the attribute, the matching elements, or the sub-attribute (of
///   matching elements). With a value on a multi-valued attribute (`members` with
///   `[{"value":"id"}]`), removes just those elements. An emptied multi-valued attribute
///   is removed. Nothing to remove is not an error.
pub fn apply(resource: &mut Value, operations: &[Operation]) -> Result<(), PatchError> {
    if operations.len() > MAX_OPERATIONS {
        return Err(PatchError::TooMany {
            count: operations.len(),
            max: MAX_OPERATIONS,
        });
    }
    let mut work = resource.clone();
    {
        let root = work.as_object_mut().ok_or_else(|| {
            PatchError::InvalidValue("the resource is not a JSON object".to_owned())
        })?;
        for operation in operations {
            apply_one(root, operation)?;
        }
        sync_extension_schemas(root);
    }
    normalize(&mut work);
    *resource = work;
    Ok(())
}

/// Coerces values provisioning clients send loosely, in place:
///
/// - `active` given as a string `"true"`/`"false"` (any case) becomes a boolean;
/// - `primary` inside elements of multi-valued attributes (top level or in extension
///   objects) likewise;
/// - `manager` given as a plain string, at the top level or in the enterprise extension
///   object, becomes `{"value": "<string>"}`; an empty or blank string removes it.
///
/// Anything else is left alone; non-object resources are ignored.
pub fn normalize(resource: &mut Value) {
    let Some(root) = resource.as_object_mut() else {
        return;
    };
    coerce_bool(root, "active");
    normalize_manager(root);
    for (key, value) in root.iter_mut() {
        match value {
            Value::Array(items) => coerce_primary(items),
            Value::Object(ext) if is_urn(key) => {
                normalize_manager(ext);
                for nested in ext.values_mut() {
                    if let Value::Array(items) = nested {
                        coerce_primary(items);
                    }
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Applying

/// Where an attribute lives: the resource itself or an extension object under a key.
enum Scope {
    Top,
    Extension(String),
}

fn apply_one(root: &mut Map<String, Value>, operation: &Operation) -> Result<(), PatchError> {
    operation.validate()?;
    let Some(path) = &operation.path else {
        // validate() guarantees add/replace with an object value here.
        let Some(Value::Object(entries)) = &operation.value else {
            return Err(PatchError::InvalidValue(
                "an object value is required without a path".to_owned(),
            ));
        };
        for (key, value) in entries {
            match value {
                Value::Object(inner) if is_core_schema(key) => {
                    for (inner_key, inner_value) in inner {
                        apply_entry(root, inner_key, inner_value.clone(), operation.op)?;
                    }
                }
                _ => apply_entry(root, key, value.clone(), operation.op)?,
            }
        }
        return Ok(());
    };

    let (scope, attr) = resolve(root, path);
    if matches!(scope, Scope::Top) && is_read_only_attr(&attr) {
        return Err(PatchError::Mutability(attr));
    }
    match operation.op {
        Op::Remove => {
            if let Some(target) = container(root, &scope, false)? {
                remove_attr(
                    target,
                    &attr,
                    path.filter.as_ref(),
                    path.sub.as_deref(),
                    operation.value.as_ref(),
                );
                // An extension object left empty goes too.
                if let Scope::Extension(key) = &scope {
                    if target.is_empty() {
                        root.remove(key);
                    }
                }
            }
            Ok(())
        }
        Op::Add | Op::Replace => {
            let value = operation.value.clone().ok_or_else(|| {
                PatchError::InvalidValue(format!("{} needs a value", operation.op.as_str()))
            })?;
            match container(root, &scope, !value.is_null())? {
                Some(target) => set_attr(
                    target,
                    &attr,
                    path.filter.as_ref(),
                    path.sub.as_deref(),
                    value,
                    operation.op,
                ),
                None => Ok(()),
            }
        }
    }
}

/// One key of a path-less `add`/`replace` value object.
fn apply_entry(
    root: &mut Map<String, Value>,
    key: &str,
    value: Value,
    op: Op,
) -> Result<(), PatchError> {
    let path = PatchPath::parse(key)?;
    let (scope, attr) = resolve(root, &path);
    if matches!(scope, Scope::Top) && is_read_only_attr(&attr) {
        // As in a PUT body, read-only attributes among the keys are ignored: clients echo
        // `id` or `schemas`, and the server's document may not even hold them.
        return Ok(());
    }
    match container(root, &scope, !value.is_null())? {
        Some(target) => set_attr(
            target,
            &attr,
            path.filter.as_ref(),
            path.sub.as_deref(),
            value,
            op,
        ),
        None => Ok(()),
    }
}

/// Decides which object holds the path's attribute, and under which name.
fn resolve(root: &Map<String, Value>, path: &PatchPath) -> (Scope, String) {
    match path.schema.as_deref() {
        Some(schema) if is_core_schema(schema) => (Scope::Top, path.attr.clone()),
        Some(schema) => {
            // `urn:acme:Ext:1.0:User` alone names a whole extension object that the
            // resource already has (or lists in `schemas`).
            let full = format!("{schema}:{}", path.attr);
            let whole_extension = path.filter.is_none()
                && path.sub.is_none()
                && (key_ci(root, &full).is_some() || lists_schema(root, &full));
            if whole_extension {
                let key = key_ci(root, &full).unwrap_or(full);
                return (Scope::Top, key);
            }
            let key = key_ci(root, schema).unwrap_or_else(|| {
                if schema.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) {
                    ENTERPRISE_USER_SCHEMA.to_owned()
                } else {
                    schema.to_owned()
                }
            });
            (Scope::Extension(key), path.attr.clone())
        }
        None if is_enterprise_attr(&path.attr) => {
            let key = key_ci(root, ENTERPRISE_USER_SCHEMA)
                .unwrap_or_else(|| ENTERPRISE_USER_SCHEMA.to_owned());
            (Scope::Extension(key), path.attr.clone())
        }
        None => {
            let attr = key_ci(root, &path.attr).unwrap_or_else(|| path.attr.clone());
            (Scope::Top, attr)
        }
    }
}

/// The object an attribute lives in; `create` makes a missing extension object.
fn container<'a>(
    root: &'a mut Map<String, Value>,
    scope: &Scope,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, PatchError> {
    match scope {
        Scope::Top => Ok(Some(root)),
        Scope::Extension(key) => {
            if matches!(root.get(key), None | Some(Value::Null)) {
                if !create {
                    return Ok(None);
                }
                root.insert(key.clone(), Value::Object(Map::new()));
            }
            match root.get_mut(key) {
                Some(Value::Object(ext)) => Ok(Some(ext)),
                _ => Err(PatchError::InvalidValue(format!(
                    "{} is not an object",
                    filter::clip(key)
                ))),
            }
        }
    }
}

/// `add` / `replace` at `attr[filter].sub` inside `target`.
fn set_attr(
    target: &mut Map<String, Value>,
    attr: &str,
    value_filter: Option<&Filter>,
    sub: Option<&str>,
    value: Value,
    op: Op,
) -> Result<(), PatchError> {
    if value.is_null() {
        remove_attr(target, attr, value_filter, sub, None);
        return Ok(());
    }
    let key = key_ci(target, attr).unwrap_or_else(|| attr.to_owned());
    match (value_filter, sub) {
        (None, None) => {
            match target.get_mut(&key) {
                None | Some(Value::Null) => {
                    let new = match value {
                        Value::Array(items) => {
                            let mut unique = Vec::new();
                            append_unique(&mut unique, Value::Array(items));
                            Value::Array(unique)
                        }
                        single if is_multi_valued(attr) => Value::Array(vec![single]),
                        single => single,
                    };
                    target.insert(key, new);
                }
                Some(slot) => match (slot, value) {
                    (Value::Array(items), value) if op == Op::Add => append_unique(items, value),
                    (slot @ Value::Array(_), value) => *slot = into_array(value),
                    (Value::Object(existing), Value::Object(fields)) => merge(existing, fields),
                    (slot, value) => *slot = value,
                },
            }
            Ok(())
        }
        (None, Some(sub)) => {
            let slot = target.entry(key).or_insert(Value::Null);
            match slot {
                Value::Object(existing) => set_ci(existing, sub, value),
                Value::Array(items) if items.is_empty() => items.push(object_with(sub, value)),
                Value::Array(items) => {
                    for item in items.iter_mut() {
                        set_sub(item, sub, value.clone());
                    }
                }
                Value::Null => *slot = object_with(sub, value),
                _ => {
                    return Err(PatchError::InvalidPath {
                        path: filter::clip(&format!("{attr}.{sub}")),
                        reason: "the attribute is not complex",
                    })
                }
            }
            Ok(())
        }
        (Some(value_filter), sub) => {
            let slot = target.entry(key).or_insert(Value::Null);
            if slot.is_null() {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(items) = slot else {
                return Err(PatchError::InvalidPath {
                    path: filter::clip(attr),
                    reason: "a value filter needs a multi-valued attribute",
                });
            };
            let mut matched = false;
            for item in items.iter_mut() {
                if value_filter.matches_element(attr, item) {
                    matched = true;
                    update_element(item, sub, value.clone());
                }
            }
            if !matched {
                // Entra tolerance: build the element the filter describes.
                let mut terms = Vec::new();
                if !eq_terms(value_filter, &mut terms) || terms.is_empty() {
                    return Err(PatchError::NoTarget(format!(
                        "no element of {} matches the filter",
                        filter::clip(attr)
                    )));
                }
                let mut element = Map::new();
                for (name, literal) in terms {
                    set_ci(&mut element, &name, literal);
                }
                let mut element = Value::Object(element);
                update_element(&mut element, sub, value);
                items.push(element);
            }
            Ok(())
        }
    }
}

/// `remove` at `attr[filter].sub` inside `target`; `value` selects elements to remove
/// from a multi-valued attribute.
fn remove_attr(
    target: &mut Map<String, Value>,
    attr: &str,
    value_filter: Option<&Filter>,
    sub: Option<&str>,
    value: Option<&Value>,
) {
    let Some(key) = key_ci(target, attr) else {
        return;
    };
    let emptied = match (value_filter, sub, target.get_mut(&key)) {
        (None, None, Some(Value::Array(items))) => match value.filter(|v| !v.is_null()) {
            Some(selection) => {
                let selected: Vec<&Value> = match selection {
                    Value::Array(list) => list.iter().collect(),
                    single => vec![single],
                };
                items.retain(|item| !selected.iter().any(|s| same_element(item, s)));
                items.is_empty()
            }
            None => true,
        },
        (None, None, _) => true,
        (None, Some(sub), Some(Value::Object(existing))) => {
            remove_ci(existing, sub);
            existing.is_empty()
        }
        (None, Some(sub), Some(Value::Array(items))) => {
            for item in items.iter_mut() {
                if let Value::Object(element) = item {
                    remove_ci(element, sub);
                }
            }
            false
        }
        (Some(value_filter), None, Some(Value::Array(items))) => {
            items.retain(|item| !value_filter.matches_element(attr, item));
            items.is_empty()
        }
        (Some(value_filter), Some(sub), Some(Value::Array(items))) => {
            for item in items.iter_mut() {
                if value_filter.matches_element(attr, item) {
                    if let Value::Object(element) = item {
                        remove_ci(element, sub);
                    }
                }
            }
            false
        }
        _ => false,
    };
    if emptied {
        target.remove(&key);
    }
}

/// Applies a value to a matched element: sets `sub`, or merges an object value, or
/// replaces a simple element.
fn update_element(element: &mut Value, sub: Option<&str>, value: Value) {
    match sub {
        Some(sub) => set_sub(element, sub, value),
        None => match (element, value) {
            (Value::Object(existing), Value::Object(fields)) => merge(existing, fields),
            (element, value) => *element = value,
        },
    }
}

/// Sets a sub-attribute of an element; a non-object element becomes
/// `{"value": old, sub: value}`.
fn set_sub(element: &mut Value, sub: &str, value: Value) {
    if let Value::Object(existing) = element {
        set_ci(existing, sub, value);
        return;
    }
    let old = std::mem::take(element);
    let mut fields = Map::new();
    if !old.is_null() {
        fields.insert("value".to_owned(), old);
    }
    set_ci(&mut fields, sub, value);
    *element = Value::Object(fields);
}

/// Collects `attr eq literal` terms joined by `and`; false if the filter has any other
/// shape.
fn eq_terms(value_filter: &Filter, out: &mut Vec<(String, Value)>) -> bool {
    match value_filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() && !value.is_null() => {
            out.push((path.attr.clone(), value.clone()));
            true
        }
        Filter::And(left, right) => eq_terms(left, out) && eq_terms(right, out),
        _ => false,
    }
}

/// Appends the elements of `value` (an array, or a single value) not already present.
fn append_unique(items: &mut Vec<Value>, value: Value) {
    let new = match value {
        Value::Array(list) => list,
        single => vec![single],
    };
    for element in new {
        if !element.is_null() && !items.iter().any(|item| same_element(item, &element)) {
            items.push(element);
        }
    }
}

fn into_array(value: Value) -> Value {
    match value {
        array @ Value::Array(_) => array,
        single => Value::Array(vec![single]),
    }
}

/// Elements are the same when their `value` sub-attributes are equal (a bare value
/// compares with an element's `value`); elements without `value` compare whole.
fn same_element(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => match (get_ci(x, "value"), get_ci(y, "value")) {
            (Some(p), Some(q)) => p == q,
            _ => x == y,
        },
        (Value::Object(x), other) | (other, Value::Object(x)) => get_ci(x, "value") == Some(other),
        _ => a == b,
    }
}

/// Merges sub-attributes into a complex value, keys case-insensitively; null removes.
fn merge(existing: &mut Map<String, Value>, fields: Map<String, Value>) {
    for (name, value) in fields {
        set_ci(existing, &name, value);
    }
}

fn object_with(name: &str, value: Value) -> Value {
    let mut fields = Map::new();
    fields.insert(name.to_owned(), value);
    Value::Object(fields)
}

/// The existing spelling of `name` among the map's keys, case-insensitively.
fn key_ci(map: &Map<String, Value>, name: &str) -> Option<String> {
    if map.contains_key(name) {
        return Some(name.to_owned());
    }
    map.keys()
        .find(|key| key.eq_ignore_ascii_case(name))
        .cloned()
}

/// Sets `name` (matching an existing key case-insensitively); null removes it.
fn set_ci(map: &mut Map<String, Value>, name: &str, value: Value) {
    let key = key_ci(map, name).unwrap_or_else(|| name.to_owned());
    if value.is_null() {
        map.remove(&key);
    } else {
        map.insert(key, value);
    }
}

fn remove_ci(map: &mut Map<String, Value>, name: &str) {
    if let Some(key) = key_ci(map, name) {
        map.remove(&key);
    }
}

fn is_urn(key: &str) -> bool {
    key.get(..4)
        .is_some_and(|head| head.eq_ignore_ascii_case("urn:"))
}

fn is_core_schema(urn: &str) -> bool {
    urn.eq_ignore_ascii_case(CORE_USER_SCHEMA) || urn.eq_ignore_ascii_case(CORE_GROUP_SCHEMA)
}

fn is_enterprise_attr(attr: &str) -> bool {
    ENTERPRISE_ATTRS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(attr))
}

fn is_read_only_attr(attr: &str) -> bool {
    READ_ONLY_ATTRS.iter().any(|a| a.eq_ignore_ascii_case(attr))
}

fn is_multi_valued(attr: &str) -> bool {
    MULTI_VALUED_ATTRS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(attr))
}

/// Whether the resource's `schemas` array lists `urn`.
fn lists_schema(root: &Map<String, Value>, urn: &str) -> bool {
    match get_ci(root, "schemas") {
        Some(Value::Array(list)) => list
            .iter()
            .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn))),
        _ => false,
    }
}

/// Appends the URN of every non-empty extension object to `schemas` when missing.
fn sync_extension_schemas(root: &mut Map<String, Value>) {
    let extensions: Vec<String> = root
        .iter()
        .filter(|(key, value)| is_urn(key) && value.as_object().is_some_and(|o| !o.is_empty()))
        .map(|(key, _)| key.clone())
        .collect();
    if extensions.is_empty() {
        return;
    }
    let Some(key) = key_ci(root, "schemas") else {
        return;
    };
    if let Some(Value::Array(list)) = root.get_mut(&key) {
        for urn in extensions {
            let listed = list
                .iter()
                .any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(&urn)));
            if !listed {
                list.push(Value::String(urn));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Normalizing

fn coerce_bool(map: &mut Map<String, Value>, name: &str) {
    let Some(key) = key_ci(map, name) else {
        return;
    };
    if let Some(slot) = map.get_mut(&key) {
        if let Some(flag) = slot.as_str().and_then(|s| parse_bool_str(s.trim())) {
            *slot = Value::Bool(flag);
        }
    }
}

fn coerce_primary(items: &mut [Value]) {
    for item in items {
        if let Value::Object(element) = item {
            coerce_bool(element, "primary");
        }
    }
}

fn normalize_manager(map: &mut Map<String, Value>) {
    let Some(key) = key_ci(map, "manager") else {
        return;
    };
    let Some(Value::String(id)) = map.get(&key) else {
        return;
    };
    let id = id.trim().to_owned();
    if id.is_empty() {
        map.remove(&key);
    } else {
        map.insert(key, object_with("value", Value::String(id)));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn body(ops: Value) -> Value {
        json!({ "schemas": [PATCH_OP_SCHEMA], "Operations": ops })
    }

    fn patch(resource: &mut Value, ops: Value) -> Result<(), PatchError> {
        let operations = parse_operations(&body(ops))?;
        apply(resource, &operations)
    }

    fn user() -> Value {
        json!({
            "schemas": [CORE_USER_SCHEMA],
            "id": "u-1",
            "userName": "ada@example.com",
            "displayName": "Ada",
            "active": true,
            "name": { "givenName": "Ada", "familyName": "Lovelace" },
            "meta": { "resourceType": "User" }
        })
    }

    #[test]
    fn entra_replace_active_with_string() {
        let mut u = user();
        patch(
            &mut u,
            json!([{ "op": "Replace", "path": "active", "value": "False" }]),
        )
        .unwrap();
        assert_eq!(u["active"], json!(false));
        patch(
            &mut u,
            json!([{ "op": "replace", "path": "active", "value": "TRUE" }]),
        )
        .unwrap();
        assert_eq!(u["active"], json!(true));
    }

    #[test]
    fn entra_replace_filtered_email_adds_missing_element() {
        let mut u = user();
        let op = json!([{
            "op": "replace",
            "path": "emails[type eq \"work\"].value",
            "value": "ada@new.example"
        }]);
        patch(&mut u, op.clone()).unwrap();
        assert_eq!(
            u["emails"],
            json!([{ "type": "work", "value": "ada@new.example" }])
        );

        // With a work email present, it is updated in place and others are untouched.
        let mut u = user();
        u["emails"] = json!([
            { "type": "home", "value": "home@example.com" },
            { "type": "Work", "value": "old@example.com", "primary": "True" }
        ]);
        patch(&mut u, op).unwrap();
        assert_eq!(
            u["emails"],
            json!([
                { "type": "home", "value": "home@example.com" },
                { "type": "Work", "value": "ada@new.example", "primary": true }
            ])
        );
    }

    #[test]
    fn filter_without_eq_terms_has_no_target() {
        let mut u = user();
        let err = patch(
            &mut u,
            json!([{ "op": "replace", "path": "emails[type ne \"work\"].value", "value": "x" }]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type(), "noTarget");
        assert!(
            u.get("emails").is_none(),
            "failed PATCH leaves the resource unchanged"
        );
    }

    #[test]
    fn entra_enterprise_manager_string() {
        let mut u = user();
        patch(
            &mut u,
            json!([{
                "op": "Add",
                "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
                "value": "boss-id"
            }]),
        )
        .unwrap();
        assert_eq!(
            u[ENTERPRISE_USER_SCHEMA]["manager"],
            json!({ "value": "boss-id" })
        );
        assert_eq!(
            u["schemas"],
            json!([CORE_USER_SCHEMA, ENTERPRISE_USER_SCHEMA])
        );

        patch(
            &mut u,
            json!([{ "op": "Remove", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager" }]),
        )
        .unwrap();
        assert!(
            u.get(ENTERPRISE_USER_SCHEMA).is_none(),
            "an emptied extension is dropped"
        );
    }

    #[test]
    fn unprefixed_enterprise_attributes_go_to_the_extension() {
        let mut u = user();
        patch(
            &mut u,
            json!([
                { "op": "replace", "path": "department", "value": "R&D" },
                { "op": "add", "value": { "employeeNumber": "42", "costCenter": "CC1" } }
            ]),
        )
        .unwrap();
        assert_eq!(
            u[ENTERPRISE_USER_SCHEMA],
            json!({ "department": "R&D", "employeeNumber": "42", "costCenter": "CC1" })
        );
        assert!(u.get("department").is_none());
    }

    #[test]
    fn okta_replace_without_path() {
        let mut u = user();
        patch(
            &mut u,
            json!([{ "op": "replace", "value": { "active": false } }]),
        )
        .unwrap();
        assert_eq!(u["active"], json!(false));
        // Okta may echo the unchanged id.
        patch(
            &mut u,
            json!([{ "op": "replace", "value": { "id": "u-1", "active": true } }]),
        )
        .unwrap();
        assert_eq!(u["active"], json!(true));
    }

    #[test]
    fn entra_add_without_path_with_path_keys_and_urns() {
        let mut u = user();
        patch(
            &mut u,
            json!([{
                "op": "Add",
                "value": {
                    "name.givenName": "Augusta",
                    "urn:ietf:params:scim:schemas:core:2.0:User:nickName": "Ada",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Math",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": { "division": "Engines" },
                    "emails[type eq \"work\"].value": "ada@work.example"
                }
            }]),
        )
        .unwrap();
        assert_eq!(
            u["name"],
            json!({ "givenName": "Augusta", "familyName": "Lovelace" })
        );
        assert_eq!(u["nickName"], json!("Ada"));
        assert_eq!(
            u[ENTERPRISE_USER_SCHEMA],
            json!({ "department": "Math", "division": "Engines" })
        );
        assert_eq!(
            u["emails"],
            json!([{ "type": "work", "value": "ada@work.example" }])
        );
    }

    #[test]
    fn group_members_add_and_remove_by_filter() {
        let mut g = json!({ "schemas": [CORE_GROUP_SCHEMA], "id": "g-1", "displayName": "Eng" });
        patch(
            &mut g,
            json!([{ "op": "add", "path": "members", "value": [{ "value": "u1" }, { "value": "u2" }] }]),
        )
        .unwrap();
        // Adding an existing member again is a no-op.
        patch(
            &mut g,
            json!([{ "op": "add", "path": "members", "value": [{ "value": "u2", "display": "Two" }] }]),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{ "value": "u1" }, { "value": "u2" }]));

        patch(
            &mut g,
            json!([{ "op": "remove", "path": "members[value eq \"u1\"]" }]),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{ "value": "u2" }]));

        // Member ids are case-exact: "U2" does not remove "u2".
        patch(
            &mut g,
            json!([{ "op": "remove", "path": "members[value eq \"U2\"]" }]),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{ "value": "u2" }]));

        patch(
            &mut g,
            json!([{ "op": "remove", "path": "members[value eq \"u2\"]" }]),
        )
        .unwrap();
        assert!(
            g.get("members").is_none(),
            "an emptied attribute is removed"
        );
    }

    #[test]
    fn azure_remove_members_with_value_array() {
        let mut g = json!({
            "id": "g-1",
            "members": [{ "value": "a" }, { "value": "b", "display": "B" }, { "value": "c" }]
        });
        patch(
            &mut g,
            json!([{ "op": "Remove", "path": "members", "value": [{ "value": "a" }, { "value": "b" }] }]),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{ "value": "c" }]));
        patch(&mut g, json!([{ "op": "Remove", "path": "members" }])).unwrap();
        assert!(g.get("members").is_none());
    }

    #[test]
    fn replace_members_replaces_the_whole_list() {
        let mut g = json!({ "id": "g-1", "members": [{ "value": "a" }] });
        patch(
            &mut g,
            json!([{ "op": "Replace", "path": "members", "value": [{ "value": "b" }] }]),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{ "value": "b" }]));
        patch(
            &mut g,
            json!([{ "op": "Replace", "path": "members", "value": { "value": "c" } }]),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{ "value": "c" }]));
    }

    #[test]
    fn attribute_names_are_case_insensitive() {
        let mut u = user();
        patch(
            &mut u,
            json!([{ "op": "replace", "path": "DisplayName", "value": "X" }]),
        )
        .unwrap();
        assert_eq!(u["displayName"], json!("X"));
        assert!(u.get("DisplayName").is_none());
        patch(
            &mut u,
            json!([{ "op": "replace", "path": "NAME.GIVENNAME", "value": "Y" }]),
        )
        .unwrap();
        assert_eq!(
            u["name"],
            json!({ "givenName": "Y", "familyName": "Lovelace" })
        );
        patch(
            &mut u,
            json!([{ "op": "replace", "value": { "USERNAME": "z@example.com" } }]),
        )
        .unwrap();
        assert_eq!(u["userName"], json!("z@example.com"));
    }

    #[test]
    fn add_and_replace_on_single_and_complex_values() {
        let mut u = user();
        patch(
            &mut u,
            json!([
                { "op": "add", "path": "displayName", "value": "Countess" },
                { "op": "add", "path": "name", "value": { "middleName": "King" } },
                { "op": "replace", "path": "title", "value": "Analyst" },
                { "op": "add", "path": "phoneNumbers", "value": { "value": "+1", "type": "work" } }
            ]),
        )
        .unwrap();
        assert_eq!(u["displayName"], json!("Countess"));
        assert_eq!(
            u["name"],
            json!({ "givenName": "Ada", "familyName": "Lovelace", "middleName": "King" })
        );
        assert_eq!(u["title"], json!("Analyst"));
        assert_eq!(
            u["phoneNumbers"],
            json!([{ "value": "+1", "type": "work" }])
        );
    }

    #[test]
    fn remove_variants() {
        let mut u = user();
        u["emails"] = json!([
            { "type": "work", "value": "w@example.com", "display": "W" },
            { "type": "home", "value": "h@example.com", "display": "H" }
        ]);
        patch(
            &mut u,
            json!([
                { "op": "remove", "path": "emails[type eq \"work\"].display" },
                { "op": "remove", "path": "name.givenName" },
                { "op": "remove", "path": "nickName" },
                { "op": "remove", "path": "displayName" }
            ]),
        )
        .unwrap();
        assert_eq!(
            u["emails"],
            json!([
                { "type": "work", "value": "w@example.com" },
                { "type": "home", "value": "h@example.com", "display": "H" }
            ])
        );
        assert_eq!(u["name"], json!({ "familyName": "Lovelace" }));
        assert!(u.get("displayName").is_none());

        patch(
            &mut u,
            json!([{ "op": "remove", "path": "emails[type eq \"home\"]" }]),
        )
        .unwrap();
        assert_eq!(
            u["emails"],
            json!([{ "type": "work", "value": "w@example.com" }])
        );
    }

    #[test]
    fn null_value_removes() {
        let mut u = user();
        patch(
            &mut u,
            json!([
                { "op": "replace", "path": "displayName", "value": null },
                { "op": "replace", "value": { "name": { "familyName": null } } }
            ]),
        )
        .unwrap();
        assert!(u.get("displayName").is_none());
        assert_eq!(u["name"], json!({ "givenName": "Ada" }));
    }

    #[test]
    fn parses_paths() {
        let p = PatchPath::parse("emails[type eq \"work\"].value").unwrap();
        assert_eq!(p.attr, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        assert!(p.schema.is_none());

        let p = PatchPath::parse("name.givenName").unwrap();
        assert_eq!(
            (p.attr.as_str(), p.sub.as_deref()),
            ("name", Some("givenName"))
        );

        let p = PatchPath::parse("members[value eq \"2819c223\"]").unwrap();
        assert_eq!(p.attr, "members");
        assert!(p.sub.is_none());
        assert!(p
            .filter
            .unwrap()
            .matches_element("members", &json!({ "value": "2819c223" })));

        let p =
            PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
                .unwrap();
        assert_eq!(p.attr, "manager");
        assert_eq!(p.schema.as_deref(), Some(ENTERPRISE_USER_SCHEMA));

        let p = PatchPath::parse("active").unwrap();
        assert_eq!(p.attr, "active");

        let p = PatchPath::parse("emails[value eq \"a]b\"]").unwrap();
        assert!(p
            .filter
            .unwrap()
            .matches_element("emails", &json!({ "value": "A]B" })));

        for bad in [
            "",
            "emails[type eq \"work\"",
            "emails]",
            "emails[type eq \"x\"]value",
            "a.b.c",
            "name.given name",
            "emails.value[type eq \"x\"]",
            CORE_USER_SCHEMA,
        ] {
            assert_eq!(
                PatchPath::parse(bad).unwrap_err().scim_type(),
                "invalidPath",
                "{bad}"
            );
        }
    }

    #[test]
    fn normalize_coerces_loose_values() {
        let mut u = json!({
            "active": "FALSE",
            "emails": [{ "value": "a", "primary": "True" }, { "value": "b", "primary": "false" }],
            "manager": "m1",
            ENTERPRISE_USER_SCHEMA: { "manager": "m2" }
        });
        normalize(&mut u);
        assert_eq!(
            u,
            json!({
                "active": false,
                "emails": [{ "value": "a", "primary": true }, { "value": "b", "primary": false }],
                "manager": { "value": "m1" },
                ENTERPRISE_USER_SCHEMA: { "manager": { "value": "m2" } }
            })
        );
        let mut blank = json!({ ENTERPRISE_USER_SCHEMA: { "manager": "" }, "active": "yes" });
        normalize(&mut blank);
        assert_eq!(
            blank,
            json!({ ENTERPRISE_USER_SCHEMA: {}, "active": "yes" })
        );
        let mut not_object = json!("x");
        normalize(&mut not_object);
        assert_eq!(not_object, json!("x"));
    }

    #[test]
    fn body_tolerance() {
        let ops = parse_operations(&json!({
            "operations": [{ "Op": "REMOVE", "Path": "nickName" }, { "op": "Add", "path": "", "value": { "a": 1 } }]
        }))
        .unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].op, Op::Remove);
        assert!(ops[1].path.is_none());
    }

    #[test]
    fn errors() {
        let scim = |b: Value| parse_operations(&b).unwrap_err().scim_type();
        assert_eq!(
            scim(body(json!([{ "op": "move", "path": "a" }]))),
            "invalidSyntax"
        );
        assert_eq!(scim(body(json!([{ "op": "remove" }]))), "noTarget");
        assert_eq!(
            scim(body(
                json!([{ "op": "replace", "path": "id", "value": "x" }])
            )),
            "mutability"
        );
        assert_eq!(
            scim(body(
                json!([{ "op": "replace", "path": "meta.lastModified", "value": "x" }])
            )),
            "mutability"
        );
        assert_eq!(
            scim(body(
                json!([{ "op": "replace", "path": "urn:ietf:params:scim:schemas:core:2.0:User:id", "value": "x" }])
            )),
            "mutability"
        );
        assert_eq!(
            scim(body(
                json!([{ "op": "add", "path": "schemas", "value": ["x"] }])
            )),
            "mutability"
        );
        assert_eq!(
            scim(body(
                json!([{ "op": "add", "path": "emails[type eq]", "value": "x" }])
            )),
            "invalidFilter"
        );
        assert_eq!(
            scim(body(
                json!([{ "op": "add", "path": "emails[type xx \"a\"]", "value": "x" }])
            )),
            "invalidFilter"
        );
        assert_eq!(
            scim(body(json!([{ "op": "add", "path": "displayName" }]))),
            "invalidValue"
        );
        assert_eq!(
            scim(body(json!([{ "op": "add", "value": "x" }]))),
            "invalidValue"
        );
        assert_eq!(
            scim(body(json!([{ "op": "add", "path": 7, "value": "x" }]))),
            "invalidSyntax"
        );
        assert_eq!(scim(body(json!([]))), "invalidSyntax");
        assert_eq!(scim(body(json!({}))), "invalidSyntax");
        assert_eq!(
            scim(json!({ "schemas": ["urn:other"], "Operations": [] })),
            "invalidSyntax"
        );
        assert_eq!(scim(json!([1])), "invalidSyntax");
        assert_eq!(
            scim(json!({ "schemas": [PATCH_OP_SCHEMA] })),
            "invalidSyntax"
        );

        let many = vec![json!({ "op": "remove", "path": "nickName" }); MAX_OPERATIONS + 1];
        assert_eq!(
            parse_operations(&body(Value::Array(many.clone()))).unwrap_err(),
            PatchError::TooMany {
                count: MAX_OPERATIONS + 1,
                max: MAX_OPERATIONS
            }
        );
        assert!(parse_operations(&body(Value::Array(many[1..].to_vec()))).is_ok());

        // apply() enforces the same rules on hand-built operations.
        let mut u = user();
        let id_op = Operation {
            op: Op::Replace,
            path: Some(PatchPath::parse("ID").unwrap()),
            value: Some(json!("other")),
        };
        assert_eq!(
            apply(&mut u, &[id_op]).unwrap_err().scim_type(),
            "mutability"
        );
        let no_path = Operation {
            op: Op::Remove,
            path: None,
            value: None,
        };
        assert_eq!(
            apply(&mut u, &[no_path]).unwrap_err().scim_type(),
            "noTarget"
        );
        assert_eq!(u, user(), "failed PATCHes change nothing");
        let echoed = Operation {
            op: Op::Replace,
            path: None,
            value: Some(json!({ "id": "changed", "schemas": [], "meta": {} })),
        };
        apply(&mut u, &[echoed]).unwrap();
        assert_eq!(u, user(), "read-only keys in a path-less value are ignored");
        assert_eq!(
            apply(&mut json!([]), &[]).unwrap_err().scim_type(),
            "invalidValue"
        );
    }

    #[test]
    fn atomic_on_failure() {
        let mut u = user();
        let err = patch(
            &mut u,
            json!([
                { "op": "replace", "path": "displayName", "value": "Changed" },
                { "op": "replace", "path": "name.givenName[type eq \"x\"]", "value": "x" }
            ]),
        )
        .unwrap_err();
        assert_eq!(err.scim_type(), "invalidPath");
        let err = apply(
            &mut u,
            &[
                Operation {
                    op: Op::Replace,
                    path: Some(PatchPath::parse("displayName").unwrap()),
                    value: Some(json!("Changed")),
                },
                Operation {
                    op: Op::Replace,
                    path: Some(PatchPath::parse("userName[value eq \"a\"]").unwrap()),
                    value: Some(json!("x")),
                },
            ],
        )
        .unwrap_err();
        assert_eq!(err.scim_type(), "invalidPath");
        assert_eq!(u, user());
    }
}
