pow_two_factor_link = Zwei-Faktor-Authentifizierung
pow_two_factor_title_settings = Zwei-Faktor-Authentifizierung
pow_two_factor_title_verify = Authentifizierungscode eingeben
pow_two_factor_title_codes = Ihre Wiederherstellungscodes
pow_two_factor_setup_intro = Scannen Sie diesen QR-Code mit einer Authenticator-App oder geben Sie den Schlüssel unten dort ein. Geben Sie dann den 6-stelligen Code ein, den die App anzeigt.
pow_two_factor_setup_key = Schlüssel: { $key }
pow_two_factor_code_label = Authentifizierungscode
pow_two_factor_enable_button = Zwei-Faktor-Authentifizierung einschalten
pow_two_factor_verify_label = Authentifizierungscode oder Wiederherstellungscode
pow_two_factor_verify_button = Bestätigen
pow_two_factor_cancel = Abbrechen und neu anmelden
pow_two_factor_required = Geben Sie den Code aus Ihrer Authenticator-App oder einen Ihrer Wiederherstellungscodes ein, um die Anmeldung abzuschließen.
pow_two_factor_required_key = Bestätigen Sie mit Ihrem Passkey oder Sicherheitsschlüssel, um die Anmeldung abzuschließen.
pow_two_factor_step_up = Bestätigen Sie zum Fortfahren, dass Sie es sind: Geben Sie den Code aus Ihrer Authenticator-App oder einen Ihrer Wiederherstellungscodes ein.
pow_two_factor_invalid_code = Dieser Code ist nicht gültig.
pow_two_factor_expired = Die Anmeldung ist abgelaufen. Bitte melden Sie sich erneut an.
pow_two_factor_too_many_attempts = Zu viele falsche Codes. Bitte melden Sie sich erneut an.
pow_two_factor_enabled = { $count ->
    [one] Die Zwei-Faktor-Authentifizierung ist eingeschaltet. Sie haben noch einen Wiederherstellungscode.
   *[other] Die Zwei-Faktor-Authentifizierung ist eingeschaltet. Sie haben noch { $count } Wiederherstellungscodes.
}
pow_two_factor_codes_intro = Bewahren Sie diese Wiederherstellungscodes sicher auf: Jeder meldet Sie einmal an, falls Sie Ihren Authenticator verlieren. Sie werden nur jetzt angezeigt.
pow_two_factor_regenerate_button = Neue Wiederherstellungscodes erstellen
pow_two_factor_disable_button = Zwei-Faktor-Authentifizierung ausschalten
pow_two_factor_disabled = Die Zwei-Faktor-Authentifizierung ist ausgeschaltet.

## Labels of the audit events on the activity page.
audit-two-factor-enabled = Zwei-Faktor-Authentifizierung eingeschaltet
audit-two-factor-disabled = Zwei-Faktor-Authentifizierung ausgeschaltet
audit-two-factor-recovery-codes-regenerated = Neue Wiederherstellungscodes erstellt
audit-two-factor-verified = Zweiter Anmeldeschritt bestanden
audit-two-factor-failed = Falscher Code im zweiten Anmeldeschritt
