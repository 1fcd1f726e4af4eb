## pow-ext-passkeys: passkeys (WebAuthn) to sign in.

pow_passkeys_link = Passkeys
pow_passkeys_sign_in_link = Sign in with a passkey
pow_passkeys_title = Passkeys
pow_passkeys_title_sign_in = Sign in with a passkey
pow_passkeys_info = A passkey signs you in with your device's screen lock or a security key, without a password.
pow_passkeys_none = You have no passkeys yet.
pow_passkeys_item = { $name }: added { $created }, last used { $used }
pow_passkeys_never = never
pow_passkeys_name_label = Name of the new passkey
pow_passkeys_add_button = Add a passkey
pow_passkeys_rename_label = New name for “{ $name }”
pow_passkeys_rename_button = Rename
pow_passkeys_delete_button = Delete “{ $name }”
pow_passkeys_added = The passkey was added.
pow_passkeys_renamed = The passkey was renamed.
pow_passkeys_removed = The passkey was deleted.
pow_passkeys_sign_in_info = Use a passkey saved on this device, on your phone or on a security key.
pow_passkeys_email_label = Email (optional)
pow_passkeys_sign_in_button = Sign in with a passkey
pow_passkeys_needs_script = Passkeys need JavaScript in this browser.

pow_passkeys_account_link = Back to your account
pow_passkeys_security_key_link = Add a security key as a second factor
pow_passkeys_title_security_key = Add a security key
pow_passkeys_security_key_info = A security key is asked for after your password, as a second step. It never signs you in alone.
pow_passkeys_security_key_add_button = Add the security key
pow_passkeys_second_factor_button = Use a passkey or security key
pow_passkeys_enrol_now = Your account has no password: add a passkey to sign in with it.
pow_passkeys_title_recovery = Add a new passkey
pow_passkeys_recovery_info = Your account signs in with passkeys only. You proved your address: add a new passkey to sign in.
pow_passkeys_recovery_button = Add the passkey and sign in
pow_passkeys_recovery_expired = This recovery is not valid any more. Ask for a new sign-in link.
pow_passkeys_recovered = Your new passkey was added and you are signed in.
pow_passkeys_title_step_up = Confirm it is you
pow_passkeys_step_up_info = Confirm with one of your passkeys or security keys to go on.
pow_passkeys_kind_security_key = security key, second factor only
pow_passkeys_other_site = made for { $site }: it does not sign in here
## Errors, by code.
pow_passkeys_error_unknown_ceremony = This passkey request is not valid any more. Please try again.
pow_passkeys_error_ceremony_expired = This passkey request expired. Please try again.
pow_passkeys_error_wrong_session = This passkey request belongs to another session.
pow_passkeys_error_invalid_request = The passkey answer could not be read.
pow_passkeys_error_origin_mismatch = The passkey answer came from another site.
pow_passkeys_error_rp_id_mismatch = The passkey belongs to another site.
pow_passkeys_error_user_verification_required = Your device must verify you (PIN, fingerprint or face) to sign in with a passkey.
pow_passkeys_error_counter_regression = This passkey may have been copied and was refused. We sent you a mail.
pow_passkeys_error_concurrent_use = This passkey was used for another sign-in at the same time. Please try again.
pow_passkeys_error_unknown_credential = This passkey is not known here.
pow_passkeys_error_credential_taken = This passkey is already in use.
pow_passkeys_error_invalid_passkey = The passkey could not be verified.
pow_passkeys_error_invalid_name = A passkey's name has 1 to 64 characters.
pow_passkeys_error_not_found = No such passkey.
pow_passkeys_error_last_credential = This is the only way into your account: add another passkey or set a password before deleting it.
pow_passkeys_error_unreadable_credential = This passkey could not be read. Please contact support.

## Mails.
pow_passkeys_mail_added_subject = A passkey was added to your account
pow_passkeys_mail_added_intro = The passkey “{ $name }” was added to your account. It can sign you in.
pow_passkeys_mail_added_ignore = If you did not add it, delete it on your account page and change your password.
pow_passkeys_mail_removed_subject = A passkey was removed from your account
pow_passkeys_mail_removed_intro = The passkey “{ $name }” was removed from your account.
pow_passkeys_mail_removed_ignore = If you did not remove it, sign in and check your account now.
pow_passkeys_mail_counter_subject = A passkey of your account was refused
pow_passkeys_mail_counter_intro = A sign-in with your passkey “{ $name }” was refused: the authenticator's counter went back, which happens when a passkey is copied.
pow_passkeys_mail_counter_ignore = If this was not you, delete the passkey on your account page.

## Labels of the audit events on the activity page.
audit-passkeys-added = Passkey added
audit-passkeys-renamed = Passkey renamed
audit-passkeys-removed = Passkey deleted
audit-passkeys-signed-in = Signed in with a passkey
audit-passkeys-verified = Confirmed with a passkey or security key
audit-passkeys-failed = Passkey sign-in refused
audit-passkeys-counter-regression = Passkey refused: its counter went back
audit-passkeys-recovered = Account recovered with a new passkey
