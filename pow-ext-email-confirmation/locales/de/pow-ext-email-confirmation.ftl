# pow-ext-email-confirmation messages, German.

## Flash messages

pow_email_confirmation_email_has_been_confirmed = Die E-Mail-Adresse wurde bestätigt.
pow_email_confirmation_email_confirmation_failed = Die E-Mail-Adresse konnte nicht bestätigt werden.
pow_email_confirmation_invalid_token = Der Bestätigungslink ist ungültig oder abgelaufen.
pow_email_confirmation_email_confirmation_required = Sie müssen Ihre E-Mail-Adresse bestätigen, bevor Sie sich anmelden können. Ein Bestätigungslink wurde Ihnen per E-Mail geschickt.
pow_email_confirmation_email_confirmation_required_for_update = Sie müssen die neue E-Mail-Adresse bestätigen, bevor sie übernommen wird. Ein Bestätigungslink wurde Ihnen per E-Mail geschickt.
pow_email_confirmation_email_confirmation_sent = Bitte bestätigen Sie Ihre E-Mail-Adresse. Ein Bestätigungslink wurde Ihnen per E-Mail geschickt.
pow_email_confirmation_email_not_confirmed = Ihre E-Mail-Adresse ist noch nicht bestätigt. Bitte öffnen Sie den Link in der Bestätigungs-E-Mail.

## The confirmation mail

pow_email_confirmation_mail_subject = Bestätigen Sie Ihre E-Mail-Adresse
pow_email_confirmation_mail_intro = Bitte öffnen Sie den folgenden Link, um Ihre E-Mail-Adresse zu bestätigen.
pow_email_confirmation_mail_button = E-Mail-Adresse bestätigen
pow_email_confirmation_mail_expiry_hours = Der Link ist { $count ->
    [one] eine Stunde
   *[other] { $count } Stunden
} lang gültig.
pow_email_confirmation_mail_expiry_minutes = Der Link ist { $count ->
    [one] eine Minute
   *[other] { $count } Minuten
} lang gültig.
pow_email_confirmation_mail_ignore = Falls Sie das nicht angefordert haben, können Sie diese E-Mail ignorieren.

## Cancelling a pending email change (link in the notice to the current address)

pow_email_confirmation_change_cancelled = Die Änderung der E-Mail-Adresse wurde abgebrochen.
pow_email_confirmation_title_cancel = E-Mail-Änderung abbrechen

## Labels of the audit events on the activity page.
audit-email-confirmation-sent = Bestätigungs-E-Mail gesendet
audit-email-confirmation-confirmed = E-Mail-Adresse bestätigt
