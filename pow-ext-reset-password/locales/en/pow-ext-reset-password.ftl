# pow-ext-reset-password messages, English. Flash texts match Pow's defaults.
#
# Override any key from your app with `PowConfigBuilder::messages_ftl("en", "...")`.
# `pow_reset_password_email_has_been_sent` shows the same text as
# `pow_reset_password_maybe_email_has_been_sent` unless overridden on its own.

## Flash messages

pow_reset_password_maybe_email_has_been_sent = If an account for the provided email exists, an email with reset instructions will be sent to you. Please check your inbox.
pow_reset_password_email_has_been_sent = { pow_reset_password_maybe_email_has_been_sent }
pow_reset_password_user_not_found = No account exists for the provided email. Please try again.
pow_reset_password_invalid_token = The reset token has expired.
pow_reset_password_password_has_been_reset = The password has been updated.
# JSON API: the message of a 422 answer with the fields' errors.
pow_reset_password_password_not_updated = The password could not be updated.

## Pages

pow_reset_password_title_new = Reset password
pow_reset_password_title_edit = Choose a new password
pow_reset_password_button_request = Send reset link
pow_reset_password_button_reset = Save new password
pow_reset_password_link_forgot_password = Forgot password?

## Mail ($count: how long the link works)

pow_reset_password_mail_subject = Reset password link
pow_reset_password_mail_intro = We received a request to reset the password of your account. Open this link to choose a new one:
pow_reset_password_mail_link = Choose a new password
pow_reset_password_mail_expiry_hours = The link works for { $count ->
        [one] one hour
       *[other] { $count } hours
    }, and only once.
pow_reset_password_mail_expiry_minutes = The link works for { $count ->
        [one] one minute
       *[other] { $count } minutes
    }, and only once.
pow_reset_password_mail_ignore = If you did not ask for this, you can ignore this email: your password stays as it is.

## Labels of the audit events on the activity page.
audit-password-reset-requested = Password reset requested
audit-password-reset-completed = Password reset
