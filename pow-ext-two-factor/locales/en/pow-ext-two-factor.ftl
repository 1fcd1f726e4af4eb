pow_two_factor_link = Two-factor authentication
pow_two_factor_title_settings = Two-factor authentication
pow_two_factor_title_verify = Enter your authentication code
pow_two_factor_title_codes = Your recovery codes
pow_two_factor_setup_intro = Scan this QR code with an authenticator app, or type the key below into it. Then enter the 6-digit code the app shows.
pow_two_factor_setup_key = Key: { $key }
pow_two_factor_code_label = Authentication code
pow_two_factor_enable_button = Turn on two-factor authentication
pow_two_factor_verify_label = Authentication code or recovery code
pow_two_factor_verify_button = Verify
pow_two_factor_cancel = Cancel and sign in again
pow_two_factor_required = Enter the code from your authenticator app, or one of your recovery codes, to finish signing in.
pow_two_factor_required_key = Confirm with your passkey or security key to finish signing in.
pow_two_factor_step_up = To continue, confirm it is you: enter the code from your authenticator app, or one of your recovery codes.
pow_two_factor_invalid_code = That code is not valid.
pow_two_factor_expired = The sign-in has expired. Please sign in again.
pow_two_factor_too_many_attempts = Too many wrong codes. Please sign in again.
pow_two_factor_enabled = { $count ->
    [one] Two-factor authentication is on. You have one recovery code left.
   *[other] Two-factor authentication is on. You have { $count } recovery codes left.
}
pow_two_factor_codes_intro = Keep these recovery codes somewhere safe: each one signs you in once if you lose your authenticator. They are shown only now.
pow_two_factor_regenerate_button = Make new recovery codes
pow_two_factor_disable_button = Turn off two-factor authentication
pow_two_factor_disabled = Two-factor authentication is off.

## Labels of the audit events on the activity page.
audit-two-factor-enabled = Two-factor authentication turned on
audit-two-factor-disabled = Two-factor authentication turned off
audit-two-factor-recovery-codes-regenerated = New recovery codes created
audit-two-factor-verified = Second sign-in step passed
audit-two-factor-failed = Wrong code at the second sign-in step
