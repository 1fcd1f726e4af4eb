# pow-ext-reset-password messages, German.

## Flash messages

pow_reset_password_maybe_email_has_been_sent = Falls ein Konto mit der angegebenen E-Mail-Adresse existiert, erhalten Sie eine E-Mail mit Anweisungen zum Zurücksetzen. Bitte prüfen Sie Ihren Posteingang.
pow_reset_password_email_has_been_sent = { pow_reset_password_maybe_email_has_been_sent }
pow_reset_password_user_not_found = Für die angegebene E-Mail-Adresse existiert kein Konto. Bitte versuchen Sie es erneut.
pow_reset_password_invalid_token = Der Link zum Zurücksetzen des Passworts ist abgelaufen.
pow_reset_password_password_has_been_reset = Das Passwort wurde aktualisiert.
pow_reset_password_password_not_updated = Das Passwort konnte nicht aktualisiert werden.

## Pages

pow_reset_password_title_new = Passwort zurücksetzen
pow_reset_password_title_edit = Neues Passwort wählen
pow_reset_password_button_request = Link senden
pow_reset_password_button_reset = Neues Passwort speichern
pow_reset_password_link_forgot_password = Passwort vergessen?

## Mail ($count: how long the link works)

pow_reset_password_mail_subject = Link zum Zurücksetzen des Passworts
pow_reset_password_mail_intro = Wir haben eine Anfrage erhalten, das Passwort Ihres Kontos zurückzusetzen. Öffnen Sie diesen Link, um ein neues zu wählen:
pow_reset_password_mail_link = Neues Passwort wählen
pow_reset_password_mail_expiry_hours = Der Link ist { $count ->
        [one] eine Stunde
       *[other] { $count } Stunden
    } lang gültig und funktioniert nur einmal.
pow_reset_password_mail_expiry_minutes = Der Link ist { $count ->
        [one] eine Minute
       *[other] { $count } Minuten
    } lang gültig und funktioniert nur einmal.
pow_reset_password_mail_ignore = Falls Sie das nicht angefordert haben, können Sie diese E-Mail ignorieren: Ihr Passwort bleibt unverändert.

## Labels of the audit events on the activity page.
audit-password-reset-requested = Zurücksetzen des Passworts angefordert
audit-password-reset-completed = Passwort zurückgesetzt
