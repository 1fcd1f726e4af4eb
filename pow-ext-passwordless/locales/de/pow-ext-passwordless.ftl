pow_passwordless_link_sign_in = Ohne Passwort anmelden
pow_passwordless_link_sign_up = Zuerst mit Ihrer E-Mail-Adresse registrieren
pow_passwordless_link_code_instead = Stattdessen einen Code senden
pow_passwordless_link_new_code = Neuen Code senden
pow_passwordless_title_link = Mit einem Link anmelden
pow_passwordless_title_code = Mit einem Code anmelden
pow_passwordless_title_staged = Registrieren
pow_passwordless_button_link = Anmeldelink senden
pow_passwordless_button_code = Code senden
pow_passwordless_button_staged = Link zum Fortfahren senden
pow_passwordless_button_sign_in = Anmelden
pow_passwordless_button_complete = Konto erstellen
pow_passwordless_label_code = Der 6-stellige Code aus der E-Mail
pow_passwordless_link_sent = Falls sich die Adresse anmelden kann, haben wir ihr einen Link gesendet. Bitte sehen Sie in Ihrem Posteingang nach.
pow_passwordless_code_sent = Falls sich die Adresse anmelden kann, haben wir ihr einen Code gesendet. Bitte sehen Sie in Ihrem Posteingang nach.
pow_passwordless_invalid = Der Link ist ungültig oder abgelaufen. Bitte fordern Sie einen neuen an.
pow_passwordless_invalid_code = Dieser Code ist nicht gültig.
pow_passwordless_too_many_attempts = Zu viele falsche Codes. Bitte fordern Sie einen neuen an.
pow_passwordless_staged_for = Ihre Adresse { $email } ist bestätigt. Füllen Sie den Rest aus, um Ihr Konto zu erstellen.
pow_passwordless_link_mail_subject = Ihr Anmeldelink
pow_passwordless_link_mail_intro = Öffnen Sie diesen Link, um sich anzumelden (oder Ihre Registrierung fortzusetzen):
pow_passwordless_link_mail_button = Weiter
pow_passwordless_code_mail_subject = Ihr Anmeldecode
pow_passwordless_code_mail_intro = Geben Sie diesen Code in dem Fenster ein, in dem Sie ihn angefordert haben:
pow_passwordless_mail_expiry_hours = Er gilt { $count ->
    [one] eine Stunde
   *[other] { $count } Stunden
} lang, einmal.
pow_passwordless_mail_expiry_minutes = Er gilt { $count ->
    [one] eine Minute
   *[other] { $count } Minuten
} lang, einmal.
pow_passwordless_mail_ignore = Falls Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail.
