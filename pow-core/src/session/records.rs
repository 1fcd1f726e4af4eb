//! The bytes of the session records in the cache store: a version byte, then a compact
//! binary encoding ([`postcard`]) of plain structs. A signed-in request decodes them, and
//! every active session holds them, so they carry no field names and no JSON.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::metadata::{Device, SessionMetadata};
use crate::users::{User, Value};

/// First byte of every user record written by this version. A record that does not start
/// with it (another version's) counts as absent.
const VERSION: u8 = 1;

/// First byte of every session record written by this version; version 1 (before
/// [`SessionMetadata::methods`]) is still read.
const SESSION_VERSION: u8 = 2;

/// A session as stored: its metadata, and where it went if it was rotated.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredSession {
    pub inserted_at: i64,
    pub signed_in_at: i64,
    pub authenticated_at: Option<i64>,
    pub fingerprint: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// [`SessionMetadata::methods`]: each method's code and when it was last used.
    pub methods: Vec<(u8, i64)>,
    /// [`SessionMetadata::extra`], each value as JSON text.
    pub extra: Vec<(String, String)>,
    /// Set on an id that was rotated: the id that replaced it. Such a record lives only
    /// for the rotation grace period, is left out of the user's session list and never
    /// renewed.
    pub rotated_to: Option<String>,
    /// With `rotated_to`: the nonce that, with the old cookie's secret id, gives the new
    /// one (see [`next_cookie_id`](super::next_cookie_id)). Useless without the cookie.
    pub handoff: Option<String>,
}

impl StoredSession {
    /// The record of a live session with `metadata`.
    pub fn live(metadata: &SessionMetadata) -> Self {
        let device = metadata.device.clone().unwrap_or_default();
        Self {
            inserted_at: metadata.inserted_at,
            signed_in_at: metadata.signed_in_at,
            authenticated_at: metadata.authenticated_at,
            fingerprint: metadata.fingerprint.clone(),
            ip: device.ip,
            user_agent: device.user_agent,
            methods: metadata
                .methods
                .iter()
                .map(|used| (used.method.code(), used.at))
                .collect(),
            extra: metadata
                .extra
                .iter()
                .map(|(key, value)| (key.clone(), value.to_string()))
                .collect(),
            rotated_to: None,
            handoff: None,
        }
    }

    /// The metadata it holds (an extra value that is not JSON is dropped).
    pub fn metadata(&self) -> SessionMetadata {
        let device = (self.ip.is_some() || self.user_agent.is_some()).then(|| Device {
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        });
        SessionMetadata {
            inserted_at: self.inserted_at,
            fingerprint: self.fingerprint.clone(),
            signed_in_at: self.signed_in_at,
            authenticated_at: self.authenticated_at,
            device,
            methods: self
                .methods
                .iter()
                .filter_map(|&(code, at)| {
                    Some(super::MethodUse {
                        method: super::AuthMethod::of_code(code)?,
                        at,
                    })
                })
                .collect(),
            extra: self
                .extra
                .iter()
                .filter_map(|(key, json)| Some((key.clone(), serde_json::from_str(json).ok()?)))
                .collect(),
        }
    }

    /// Whether it holds `key` in its extra values.
    pub(crate) fn has_extra(&self, key: &str) -> bool {
        self.extra.iter().any(|(k, _)| k == key)
    }
}

/// A user as cached with its sessions: every column but the password hash, which never
/// leaves the users table (`has_password` keeps whether there is one).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct CachedUser {
    id: i64,
    has_password: bool,
    inserted_at: Timestamp,
    updated_at: Timestamp,
    fields: Vec<(FieldName, CachedValue)>,
}

/// A column name: a number for the columns of pow-rs and its extensions, which nearly
/// every cached user has (the number is the position in [`KNOWN_FIELDS`]), else the name.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum FieldName {
    Known(u8),
    Other(String),
}

/// The columns pow-rs and its extensions add to the users table, and common app columns.
/// Append only: a cached user refers to these by position (a change of order needs a new
/// [`VERSION`]).
const KNOWN_FIELDS: &[&str] = &[
    "email",
    "disabled_at",
    "email_confirmation_token",
    "email_confirmation_token_sent_at",
    "email_confirmed_at",
    "unconfirmed_email",
    "invitation_token",
    "invitation_sent_at",
    "invitation_accepted_at",
    "invited_by_id",
    "totp_enabled_at",
    "totp_secret",
    "totp_recovery_codes",
    "username",
    "name",
    "display_name",
    "role",
    "locale",
];

impl FieldName {
    fn of(name: &str) -> Self {
        match KNOWN_FIELDS.iter().position(|known| *known == name) {
            Some(index) => Self::Known(u8::try_from(index).unwrap_or(u8::MAX)),
            None => Self::Other(name.to_owned()),
        }
    }

    fn name(self) -> Option<String> {
        match self {
            Self::Known(index) => KNOWN_FIELDS
                .get(usize::from(index))
                .map(|n| (*n).to_owned()),
            Self::Other(name) => Some(name),
        }
    }
}

/// Seconds and nanoseconds since the Unix epoch.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Timestamp(i64, u32);

impl Timestamp {
    fn of(at: &DateTime<Utc>) -> Self {
        Self(at.timestamp(), at.timestamp_subsec_nanos())
    }

    fn get(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.0, self.1)
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum CachedValue {
    Null,
    Text(String),
    Int(i64),
    Bool(bool),
    Timestamp(Timestamp),
}

/// The marker a cached user carries in `password_hash` when the user has a password.
pub(crate) const PASSWORD_NOT_CACHED: &str = "";

/// A session record of version 1: [`StoredSession`] without `methods`.
#[derive(Deserialize)]
struct StoredSessionV1 {
    inserted_at: i64,
    signed_in_at: i64,
    authenticated_at: Option<i64>,
    fingerprint: String,
    ip: Option<String>,
    user_agent: Option<String>,
    extra: Vec<(String, String)>,
    rotated_to: Option<String>,
    handoff: Option<String>,
}

impl From<StoredSessionV1> for StoredSession {
    fn from(v1: StoredSessionV1) -> Self {
        Self {
            inserted_at: v1.inserted_at,
            signed_in_at: v1.signed_in_at,
            authenticated_at: v1.authenticated_at,
            fingerprint: v1.fingerprint,
            ip: v1.ip,
            user_agent: v1.user_agent,
            methods: Vec::new(),
            extra: v1.extra,
            rotated_to: v1.rotated_to,
            handoff: v1.handoff,
        }
    }
}

fn encode<T: Serialize>(version: u8, value: &T) -> Result<Vec<u8>, postcard::Error> {
    let mut bytes = postcard::to_extend(value, vec![version])?;
    bytes.shrink_to_fit();
    Ok(bytes)
}

fn decoded<T>(decoded: Result<T, String>, what: &str) -> Option<T> {
    match decoded {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!(error = %err, "ignoring an undecodable {what} record in the cache store");
            None
        }
    }
}

fn unknown_version<T>() -> Result<T, String> {
    Err("unknown record version".to_owned())
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Option<T> {
    let value = match bytes.split_first() {
        Some((&VERSION, rest)) => postcard::from_bytes(rest).map_err(|err| err.to_string()),
        _ => unknown_version(),
    };
    decoded(value, what)
}

/// The bytes of a session record.
pub(crate) fn encode_session(record: &StoredSession) -> Result<Vec<u8>, postcard::Error> {
    encode(SESSION_VERSION, record)
}

/// A session record (of this version or version 1), or `None` (logged) for bytes that are
/// not one.
pub(crate) fn decode_session(bytes: &[u8]) -> Option<StoredSession> {
    let value = match bytes.split_first() {
        Some((&SESSION_VERSION, rest)) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
        Some((1, rest)) => postcard::from_bytes::<StoredSessionV1>(rest)
            .map(StoredSession::from)
            .map_err(|e| e.to_string()),
        _ => unknown_version(),
    };
    decoded(value, "session")
}

/// The bytes of `user` as cached: without the password hash, and with an empty text in
/// place of every set value of the `secret` columns.
pub(crate) fn encode_user(user: &User, secret: &[String]) -> Result<Vec<u8>, postcard::Error> {
    let fields = user
        .fields
        .iter()
        .map(|(name, value)| {
            let value = match value {
                Value::Null => CachedValue::Null,
                _ if secret.contains(name) => CachedValue::Text(String::new()),
                Value::Text(text) => CachedValue::Text(text.clone()),
                Value::Int(int) => CachedValue::Int(*int),
                Value::Bool(flag) => CachedValue::Bool(*flag),
                Value::Timestamp(at) => CachedValue::Timestamp(Timestamp::of(at)),
            };
            (FieldName::of(name), value)
        })
        .collect();
    encode(
        VERSION,
        &CachedUser {
            id: user.id,
            has_password: user.password_hash.is_some(),
            inserted_at: Timestamp::of(&user.inserted_at),
            updated_at: Timestamp::of(&user.updated_at),
            fields,
        },
    )
}

/// A cached user, or `None` (logged) for bytes that are not one. A user with a password
/// reads back with `password_hash: Some("")`: nothing verifies a cached hash.
pub(crate) fn decode_user(bytes: &[u8]) -> Option<User> {
    let cached: CachedUser = decode(bytes, "user")?;
    let mut fields = BTreeMap::new();
    for (name, value) in cached.fields {
        let value = match value {
            CachedValue::Null => Value::Null,
            CachedValue::Text(text) => Value::Text(text),
            CachedValue::Int(int) => Value::Int(int),
            CachedValue::Bool(flag) => Value::Bool(flag),
            CachedValue::Timestamp(at) => Value::Timestamp(at.get()?),
        };
        fields.insert(name.name()?, value);
    }
    Some(User {
        id: cached.id,
        password_hash: cached.has_password.then(|| PASSWORD_NOT_CACHED.to_owned()),
        inserted_at: cached.inserted_at.get()?,
        updated_at: cached.updated_at.get()?,
        fields,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

    use super::*;

    fn user() -> User {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        User {
            id: 42,
            password_hash: Some("$pbkdf2-sha512$100000$salt$hash".into()),
            inserted_at: at,
            updated_at: at,
            fields: BTreeMap::from([
                ("email".to_owned(), Value::Text("a@example.com".into())),
                ("age".to_owned(), Value::Int(-7)),
                ("admin".to_owned(), Value::Bool(true)),
                ("confirmed_at".to_owned(), Value::Timestamp(at)),
                ("invited_by_id".to_owned(), Value::Null),
                ("shoe_size".to_owned(), Value::Int(44)),
            ]),
        }
    }

    #[test]
    fn user_round_trips_without_its_password_hash() {
        let original = user();
        let bytes = encode_user(&original, &[]).unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"pbkdf2"));
        // pow-rs's own columns are numbers, others keep their names.
        assert!(!bytes.windows(13).any(|w| w == b"invited_by_id"));
        assert!(bytes.windows(9).any(|w| w == b"shoe_size"));
        let back = decode_user(&bytes).unwrap();
        assert_eq!(back.password_hash.as_deref(), Some(PASSWORD_NOT_CACHED));
        assert_eq!(
            User {
                password_hash: original.password_hash.clone(),
                ..back
            },
            original
        );
        let without = User {
            password_hash: None,
            ..user()
        };
        assert_eq!(
            decode_user(&encode_user(&without, &[]).unwrap()).unwrap(),
            without
        );
    }

    #[test]
    fn session_round_trips_its_metadata() {
        let mut metadata = SessionMetadata::new();
        metadata.device = Some(Device {
            ip: Some("10.0.0.1".into()),
            user_agent: None,
        });
        metadata
            .extra
            .insert("k".into(), serde_json::json!({"a": [1, "x"]}));
        metadata.record_method_at(super::super::AuthMethod::TOTP, 1_700_000_000_000);
        let record = StoredSession::live(&metadata);
        let back = decode_session(&encode_session(&record).unwrap()).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.metadata(), metadata);
        assert!(back.has_extra("k"));
    }

    /// A session record as version 1 wrote it (before `methods`): still read, with no
    /// methods. Fixed bytes, so a change of the version 1 reader fails here.
    #[test]
    fn version_1_session_records_are_read() {
        #[derive(Serialize)]
        struct V1<'a> {
            inserted_at: i64,
            signed_in_at: i64,
            authenticated_at: Option<i64>,
            fingerprint: &'a str,
            ip: Option<&'a str>,
            user_agent: Option<&'a str>,
            extra: Vec<(&'a str, &'a str)>,
            rotated_to: Option<&'a str>,
            handoff: Option<&'a str>,
        }
        let v1 = V1 {
            inserted_at: 5,
            signed_in_at: 3,
            authenticated_at: Some(4),
            fingerprint: "fp",
            ip: Some("10.0.0.1"),
            user_agent: None,
            extra: vec![("k", "1")],
            rotated_to: None,
            handoff: None,
        };
        let bytes = postcard::to_extend(&v1, vec![1]).unwrap();
        assert_eq!(
            bytes,
            [
                1, 10, 6, 1, 8, 2, 102, 112, 1, 8, 49, 48, 46, 48, 46, 48, 46, 49, 0, 1, 1, 107, 1,
                49, 0, 0
            ]
        );
        let read = decode_session(&bytes).unwrap();
        assert_eq!(read.signed_in_at, 3);
        assert_eq!(read.authenticated_at, Some(4));
        assert!(read.methods.is_empty());
        assert!(read.has_extra("k"));
        assert_eq!(
            read.metadata().device.unwrap().ip.as_deref(),
            Some("10.0.0.1")
        );
        // Written back, it is of this version.
        assert_eq!(encode_session(&read).unwrap()[0], SESSION_VERSION);
    }

    #[test]
    fn foreign_or_truncated_bytes_are_absent() {
        let bytes = encode_user(&user(), &[]).unwrap();
        assert!(decode_user(&bytes[..bytes.len() - 3]).is_none());
        assert!(decode_user(b"{\"id\":1}").is_none());
        assert!(decode_user(b"").is_none());
    }
}
