# pow-ext-email-confirmation messages, English. Flash texts match Pow's defaults.
#
# Override any key from your app with `PowConfigBuilder::messages_ftl("en", "...")`.

## Flash messages

pow_email_confirmation_email_has_been_confirmed = The email address has been confirmed.
pow_email_confirmation_email_confirmation_failed = The email address couldn't be confirmed.
pow_email_confirmation_invalid_token = The confirmation token is invalid or has expired.
pow_email_confirmation_email_confirmation_required = You'll need to confirm your e-mail before you can sign in. An e-mail confirmation link has been sent to you.
pow_email_confirmation_email_confirmation_required_for_update = You'll need to confirm the e-mail before it's updated. An e-mail confirmation link has been sent to you.
# Soft mode: the user is signed in, but still has to confirm.
pow_email_confirmation_email_confirmation_sent = Please confirm your e-mail address. An e-mail confirmation link has been sent to you.
# JSON API, soft mode: a signed-in user who has not confirmed yet.
pow_email_confirmation_email_not_confirmed = Your e-mail address isn't confirmed yet. Please open the link in the confirmation e-mail.

## The confirmation mail

pow_email_confirmation_mail_subject = Confirm your email address
pow_email_confirmation_mail_intro = Please open the link below to confirm your e-mail address.
pow_email_confirmation_mail_button = Confirm email address
pow_email_confirmation_mail_expiry_hours = The link is valid for { $count ->
    [one] one hour
   *[other] { $count } hours
}.
pow_email_confirmation_mail_expiry_minutes = The link is valid for { $count ->
    [one] one minute
   *[other] { $count } minutes
}.
pow_email_confirmation_mail_ignore = If you didn't ask for this, you can ignore this e-mail.

## Cancelling a pending email change (link in the notice to the current address)

pow_email_confirmation_change_cancelled = The change of the email address was cancelled.
pow_email_confirmation_title_cancel = Cancel the email change

## Labels of the audit events on the activity page.
audit-email-confirmation-sent = Confirmation email sent
audit-email-confirmation-confirmed = Email address confirmed
