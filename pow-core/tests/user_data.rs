//! A user's data export and the erasure of what extensions keep about a user.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pow_core::admin::{erase_extension_data, export_user};
use pow_core::extension::{Extension, ExtensionBuilder, UserData};
use pow_core::users::{FieldDef, FieldKind, Value};
use pow_core::{PowConfig, PowError, User};

/// An extension keeping one note per user outside the row.
#[derive(Clone, Default)]
struct Notes(Arc<Mutex<BTreeMap<i64, String>>>);

#[async_trait::async_trait]
impl UserData for Notes {
    async fn export(
        &self,
        _config: &PowConfig,
        user: &User,
    ) -> Result<serde_json::Value, PowError> {
        Ok(self.0.lock().unwrap().get(&user.id).cloned().into())
    }

    async fn erase(&self, _config: &PowConfig, user: &User) -> Result<(), PowError> {
        self.0.lock().unwrap().remove(&user.id);
        Ok(())
    }
}

impl Extension for Notes {
    fn name(&self) -> &'static str {
        "notes"
    }

    fn build(&self, ext: &mut ExtensionBuilder) {
        ext.user_fields([FieldDef::new("recovery_digest", FieldKind::Text).not_exported()])
            .user_data(self.clone());
    }
}

fn user() -> User {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    User {
        id: 7,
        password_hash: Some("$pbkdf2-sha512$secret".into()),
        inserted_at: at,
        updated_at: at,
        fields: BTreeMap::from([
            ("email".to_owned(), Value::Text("a@example.com".into())),
            ("recovery_digest".to_owned(), Value::Text("digest".into())),
            ("nickname".to_owned(), Value::Text("Ada".into())),
        ]),
    }
}

#[tokio::test]
async fn an_export_holds_the_row_and_each_extensions_data_but_no_credentials() {
    let notes = Notes::default();
    notes.0.lock().unwrap().insert(7, "likes tea".into());
    let config = PowConfig::builder("s".repeat(64))
        .user_field(FieldDef::new("nickname", FieldKind::Text).castable())
        .user_field(FieldDef::new("totp_seed", FieldKind::Text).secret())
        .extension(notes.clone())
        .build()
        .unwrap();
    let export = export_user(&config, &user()).await.unwrap();
    assert_eq!(export["user"]["id"], 7);
    assert_eq!(export["user"]["email"], "a@example.com");
    assert_eq!(export["user"]["nickname"], "Ada");
    assert_eq!(export["user"]["inserted_at"], "2023-11-14T22:13:20+00:00");
    assert_eq!(export["extensions"]["notes"], "likes tea");
    // What was left out is named under `omissions`, and nowhere else.
    let mut data = export.clone();
    let omissions = data
        .as_object_mut()
        .unwrap()
        .remove("omissions")
        .unwrap()
        .to_string();
    let text = data.to_string();
    for kept_out in ["pbkdf2", "password", "digest", "totp_seed"] {
        assert!(!text.contains(kept_out), "{kept_out} in {text}");
    }
    assert!(omissions.contains("user.password_hash"), "{omissions}");
    assert!(omissions.contains("user.totp_seed"), "{omissions}");
    assert_eq!(export["schema_version"], 1);

    erase_extension_data(&config, &user()).await.unwrap();
    assert!(notes.0.lock().unwrap().is_empty());
    let export = export_user(&config, &user()).await.unwrap();
    assert_eq!(export["extensions"]["notes"], serde_json::Value::Null);
}
