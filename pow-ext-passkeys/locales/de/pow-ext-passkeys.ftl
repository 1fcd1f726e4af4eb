## pow-ext-passkeys: Passkeys (WebAuthn) zur Anmeldung.

pow_passkeys_link = Passkeys
pow_passkeys_sign_in_link = Mit einem Passkey anmelden
pow_passkeys_title = Passkeys
pow_passkeys_title_sign_in = Mit einem Passkey anmelden
pow_passkeys_info = Ein Passkey meldet Sie mit der Bildschirmsperre Ihres Geräts oder einem Sicherheitsschlüssel an, ohne Passwort.
pow_passkeys_none = Sie haben noch keine Passkeys.
pow_passkeys_item = { $name }: hinzugefügt { $created }, zuletzt benutzt { $used }
pow_passkeys_never = nie
pow_passkeys_name_label = Name des neuen Passkeys
pow_passkeys_add_button = Passkey hinzufügen
pow_passkeys_rename_label = Neuer Name für „{ $name }“
pow_passkeys_rename_button = Umbenennen
pow_passkeys_delete_button = „{ $name }“ löschen
pow_passkeys_added = Der Passkey wurde hinzugefügt.
pow_passkeys_renamed = Der Passkey wurde umbenannt.
pow_passkeys_removed = Der Passkey wurde gelöscht.
pow_passkeys_sign_in_info = Verwenden Sie einen Passkey auf diesem Gerät, auf Ihrem Telefon oder auf einem Sicherheitsschlüssel.
pow_passkeys_email_label = E-Mail (optional)
pow_passkeys_sign_in_button = Mit einem Passkey anmelden
pow_passkeys_needs_script = Passkeys brauchen JavaScript in diesem Browser.

pow_passkeys_account_link = Zurück zu Ihrem Konto
pow_passkeys_security_key_link = Einen Sicherheitsschlüssel als zweiten Faktor hinzufügen
pow_passkeys_title_security_key = Sicherheitsschlüssel hinzufügen
pow_passkeys_security_key_info = Ein Sicherheitsschlüssel wird nach Ihrem Passwort als zweiter Schritt abgefragt. Allein meldet er Sie nie an.
pow_passkeys_security_key_add_button = Sicherheitsschlüssel hinzufügen
pow_passkeys_second_factor_button = Passkey oder Sicherheitsschlüssel verwenden
pow_passkeys_enrol_now = Ihr Konto hat kein Passwort: Fügen Sie einen Passkey hinzu, um sich damit anzumelden.
pow_passkeys_title_recovery = Neuen Passkey hinzufügen
pow_passkeys_recovery_info = Ihr Konto meldet sich nur mit Passkeys an. Sie haben Ihre Adresse bestätigt: Fügen Sie einen neuen Passkey hinzu, um sich anzumelden.
pow_passkeys_recovery_button = Passkey hinzufügen und anmelden
pow_passkeys_recovery_expired = Diese Wiederherstellung ist nicht mehr gültig. Fordern Sie einen neuen Anmeldelink an.
pow_passkeys_recovered = Ihr neuer Passkey wurde hinzugefügt und Sie sind angemeldet.
pow_passkeys_title_step_up = Bestätigen Sie, dass Sie es sind
pow_passkeys_step_up_info = Bestätigen Sie mit einem Ihrer Passkeys oder Sicherheitsschlüssel, um fortzufahren.
pow_passkeys_kind_security_key = Sicherheitsschlüssel, nur zweiter Faktor
pow_passkeys_other_site = für { $site } erstellt: meldet hier nicht an
## Fehler, nach Code.
pow_passkeys_error_unknown_ceremony = Diese Passkey-Anfrage ist nicht mehr gültig. Bitte versuchen Sie es erneut.
pow_passkeys_error_ceremony_expired = Diese Passkey-Anfrage ist abgelaufen. Bitte versuchen Sie es erneut.
pow_passkeys_error_wrong_session = Diese Passkey-Anfrage gehört zu einer anderen Sitzung.
pow_passkeys_error_invalid_request = Die Antwort des Passkeys konnte nicht gelesen werden.
pow_passkeys_error_origin_mismatch = Die Antwort des Passkeys kam von einer anderen Website.
pow_passkeys_error_rp_id_mismatch = Der Passkey gehört zu einer anderen Website.
pow_passkeys_error_user_verification_required = Ihr Gerät muss Sie prüfen (PIN, Fingerabdruck oder Gesicht), um Sie mit einem Passkey anzumelden.
pow_passkeys_error_counter_regression = Dieser Passkey wurde vielleicht kopiert und abgelehnt. Wir haben Ihnen eine E-Mail geschickt.
pow_passkeys_error_concurrent_use = Dieser Passkey wurde gleichzeitig für eine andere Anmeldung benutzt. Bitte versuchen Sie es erneut.
pow_passkeys_error_unknown_credential = Dieser Passkey ist hier nicht bekannt.
pow_passkeys_error_credential_taken = Dieser Passkey wird bereits verwendet.
pow_passkeys_error_invalid_passkey = Der Passkey konnte nicht geprüft werden.
pow_passkeys_error_invalid_name = Der Name eines Passkeys hat 1 bis 64 Zeichen.
pow_passkeys_error_not_found = Diesen Passkey gibt es nicht.
pow_passkeys_error_last_credential = Das ist der einzige Zugang zu Ihrem Konto: Fügen Sie einen weiteren Passkey hinzu oder setzen Sie ein Passwort, bevor Sie ihn löschen.
pow_passkeys_error_unreadable_credential = Dieser Passkey konnte nicht gelesen werden. Bitte wenden Sie sich an den Support.

## E-Mails.
pow_passkeys_mail_added_subject = Ihrem Konto wurde ein Passkey hinzugefügt
pow_passkeys_mail_added_intro = Der Passkey „{ $name }“ wurde Ihrem Konto hinzugefügt. Er kann Sie anmelden.
pow_passkeys_mail_added_ignore = Wenn Sie ihn nicht hinzugefügt haben, löschen Sie ihn auf Ihrer Kontoseite und ändern Sie Ihr Passwort.
pow_passkeys_mail_removed_subject = Ein Passkey wurde aus Ihrem Konto entfernt
pow_passkeys_mail_removed_intro = Der Passkey „{ $name }“ wurde aus Ihrem Konto entfernt.
pow_passkeys_mail_removed_ignore = Wenn Sie ihn nicht entfernt haben, melden Sie sich an und prüfen Sie Ihr Konto.
pow_passkeys_mail_counter_subject = Ein Passkey Ihres Kontos wurde abgelehnt
pow_passkeys_mail_counter_intro = Eine Anmeldung mit Ihrem Passkey „{ $name }“ wurde abgelehnt: Der Zähler des Geräts ging zurück, was passiert, wenn ein Passkey kopiert wurde.
pow_passkeys_mail_counter_ignore = Wenn Sie das nicht waren, löschen Sie den Passkey auf Ihrer Kontoseite.

## Bezeichnungen der Ereignisse auf der Aktivitätsseite.
audit-passkeys-added = Passkey hinzugefügt
audit-passkeys-renamed = Passkey umbenannt
audit-passkeys-removed = Passkey gelöscht
audit-passkeys-signed-in = Mit einem Passkey angemeldet
audit-passkeys-verified = Mit einem Passkey oder Sicherheitsschlüssel bestätigt
audit-passkeys-failed = Passkey-Anmeldung abgelehnt
audit-passkeys-counter-regression = Passkey abgelehnt: sein Zähler ging zurück
audit-passkeys-recovered = Konto mit einem neuen Passkey wiederhergestellt
