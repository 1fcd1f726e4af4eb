# pow-core messages, German.

## Flash messages

invalid_credentials = Die Anmeldedaten haben nicht funktioniert. Bitte überprüfen Sie Ihre Angaben und versuchen Sie es erneut.
user_has_been_updated = Ihr Konto wurde aktualisiert.
user_has_been_deleted = Ihr Konto wurde gelöscht. Schade, dass Sie gehen!
user_could_not_be_deleted = Ihr Konto konnte nicht gelöscht werden.
hashing_busy = Gerade werden zu viele Anmeldungen verarbeitet. Bitte versuchen Sie es in einigen Sekunden erneut.
service_unavailable = Der Dienst ist vorübergehend nicht verfügbar. Bitte versuchen Sie es in einigen Sekunden erneut.

## Validation errors ($count: a length; $field: the field name)

error-blank = darf nicht leer sein
error-taken = ist bereits vergeben
error-format = hat ein ungültiges Format
error-too-short = muss mindestens { $count ->
        [one] ein Zeichen
       *[other] { $count } Zeichen
    } lang sein
error-too-long = darf höchstens { $count ->
        [one] ein Zeichen
       *[other] { $count } Zeichen
    } lang sein
error-confirmation = stimmt nicht mit der Bestätigung überein
error-invalid = ist ungültig

## Form labels

label-email = E-Mail
label-username = Benutzername
label-password = Passwort
label-password-confirmation = Passwort bestätigen
label-current-password = Aktuelles Passwort

## Page titles

title-sign-in = Anmelden
title-register = Registrieren
title-edit-account = Konto bearbeiten
title-unavailable = Bitte versuchen Sie es gleich noch einmal
title-sign-in-refused = Anmeldung auf diesem Weg nicht erlaubt

## Buttons

button-sign-in = Anmelden
button-register = Registrieren
button-update = Speichern
button-submit = Absenden
button-delete-account = Konto löschen
button-sign-out = Abmelden

## Links

link-sign-in = Anmelden
link-register = Registrieren
link-edit-account = Konto bearbeiten
link-sign-out = Abmelden

## Other page texts

form-has-errors = Da ist etwas schiefgelaufen. Bitte prüfen Sie die Fehler unten.

## Mails

mail-greeting = Hallo,

## Schutz vor Missbrauch

rate_limited = Zu viele Versuche. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut.
account_locked = Die Anmeldung für dieses Konto ist nach zu vielen Fehlversuchen pausiert. Falls das Konto existiert, hat sein Inhaber einen Link zum Entsperren per E-Mail erhalten; auch ein Zurücksetzen des Passworts entsperrt es.
title-rate-limited = Zu viele Versuche
error-common = gehört zu den häufigsten Passwörtern, bitte wählen Sie ein anderes
error-breached = ist in einem Datenleck aufgetaucht, bitte wählen Sie ein anderes
error-contains-user-id = darf Ihre E-Mail-Adresse oder Ihren Benutzernamen nicht enthalten
lockout_mail_subject = Ihr Konto wurde nach fehlgeschlagenen Anmeldungen gesperrt
lockout_mail_intro = Jemand hat viele Male versucht, sich mit einem falschen Passwort bei Ihrem Konto anzumelden, daher ist die Anmeldung pausiert. Wenn Sie es waren, entsperren Sie Ihr Konto über den Link unten und melden Sie sich dann an.
lockout_mail_intro_factor = Jemand hat für Ihr Konto viele Male einen falschen Anmeldecode eingegeben, daher ist die Anmeldung pausiert. Wenn Sie es waren, entsperren Sie Ihr Konto über den Link unten und melden Sie sich dann an. Wenn Sie es nicht waren, kennt womöglich jemand Ihr Passwort: Ändern Sie es.
lockout_mail_expiry_hours = Andernfalls endet die Sperre von selbst nach { $count ->
        [one] einer Stunde
       *[other] { $count } Stunden
    }.
lockout_mail_expiry_minutes = Andernfalls endet die Sperre von selbst nach { $count ->
        [one] einer Minute
       *[other] { $count } Minuten
    }.
lockout_mail_reset = Wenn Sie es nicht waren, ändern Sie am besten Ihr Passwort: Auch ein Zurücksetzen des Passworts entsperrt das Konto.
lockout_mail_button = Konto entsperren
lockout_unlocked = Ihr Konto ist entsperrt. Melden Sie sich an, um fortzufahren.
lockout_unlock_invalid = Dieser Entsperr-Link ist ungültig oder wurde bereits verwendet.

## Kontoaktivität (Audit-Log)

title-activity = Letzte Aktivitäten
activity-empty = Noch keine Aktivitäten erfasst.
activity-unavailable = Kontoaktivitäten werden auf dieser Seite nicht erfasst.
activity-line = { $when }: { $what } (von { $ip })
audit-sign-in-succeeded = Angemeldet
audit-sign-in-failed = Fehlgeschlagene Anmeldung
audit-session-signed-out = Abgemeldet
audit-session-revoked = Sitzungen beendet
audit-request-rate-limited = Anfrage abgelehnt: zu viele Versuche
audit-account-registered = Konto erstellt
audit-account-updated = Konto geändert
audit-account-password-changed = Passwort geändert
audit-account-deleted = Konto gelöscht
audit-lockout-locked = Anmeldung gesperrt
audit-lockout-unlocked = Anmeldung entsperrt
audit-impersonation-started = Support-Zugriff begonnen
audit-impersonation-stopped = Support-Zugriff beendet
audit-impersonation-ended = Support-Zugriff abgelaufen
audit-impersonation-denied = Support-Zugriff abgelehnt
impersonation-banner = Sie sind als Support im Konto von { $user }. Änderungen, die das Passwort verlangen, sind gesperrt.
impersonation-stop = Support-Zugriff beenden
impersonation-forbidden = Während eines Support-Zugriffs ist das nicht möglich.
link-activity = Letzte Aktivitäten
audit-session-renewed = Sitzung erneuert
audit-api-token-issued = API-Token ausgestellt
audit-api-token-renewed = API-Token erneuert
audit-api-token-revoked = API-Token widerrufen

## Sudo-Modus

title-confirm-password = Passwort bestätigen
confirm_password_intro = Zu Ihrer Sicherheit geben Sie bitte Ihr Passwort erneut ein, um fortzufahren.
confirm_password_invalid = Dieses Passwort ist nicht korrekt.
button-confirm = Bestätigen

## Sitzungen

title-sessions = Ihre Sitzungen
link-sessions = Ihre Sitzungen
sessions-intro = Diese Geräte sind bei Ihrem Konto angemeldet. Beenden Sie alle, die Sie nicht kennen.
sessions-end-one = Beenden: { $device } ({ $ip }), zuletzt aktiv { $when }
sessions-end-this = Beenden (dieses Gerät): { $device } ({ $ip }), zuletzt aktiv { $when }
sessions-end-api = API-Client beenden: { $device } ({ $ip }), zuletzt aktiv { $when }
sessions-forget-remembered = Gemerkten Browser vergessen: { $device } ({ $ip }), gemerkt seit { $when }
sessions-end-others = Alle anderen Sitzungen beenden
sessions-row = { $device } ({ $ip }), zuletzt aktiv { $when }
sessions-row-this = Dieses Gerät: { $device } ({ $ip }), zuletzt aktiv { $when }
sessions-row-api = API-Client: { $device } ({ $ip }), zuletzt aktiv { $when }
sessions-row-remembered = Gemerkter Browser: { $device } ({ $ip }), gemerkt seit { $when }
sessions-end-button = Beenden
sessions-forget-button = Vergessen
sessions-unknown-device = unbekannt
sessions-signed-in-with = angemeldet mit { $methods }
auth-method-password = Passwort
auth-method-remember-me = gemerktem Browser
auth-method-magic-link = E-Mail-Link oder -Code
auth-method-oauth = Anbieterkonto
auth-method-totp = Authenticator-App
auth-method-recovery-code = Wiederherstellungscode
auth-method-passkey = Passkey
auth-method-security-key = Sicherheitsschlüssel
sessions-ended = { $count ->
        [one] Eine Sitzung beendet.
       *[other] { $count } Sitzungen beendet.
    }
account_disabled = Dieses Konto ist deaktiviert. Wenden Sie sich an die Administratoren der Seite.
account_closed = Dieses Konto ist geschlossen. Bis zur Löschung lässt es sich wieder öffnen: Melden Sie sich mit dem Passwort an oder nutzen Sie den Link aus der Mail zur Schließung.
audit-account-disabled = Konto deaktiviert
audit-account-enabled = Konto wieder aktiviert

# Security notices
notice-password-changed-subject = Ihr Passwort wurde geändert
notice-password-changed-intro = Das Passwort Ihres Kontos wurde geändert.
notice-email-changed-subject = Ihre E-Mail-Adresse wurde geändert
notice-email-changed-intro = Die E-Mail-Adresse Ihres Kontos wurde in { $email } geändert.
notice-second-factor-enabled-subject = Die Zwei-Faktor-Authentifizierung wurde eingeschaltet
notice-second-factor-enabled-intro = Für Ihr Konto wurde die Zwei-Faktor-Authentifizierung eingeschaltet.
notice-second-factor-disabled-subject = Die Zwei-Faktor-Authentifizierung wurde ausgeschaltet
notice-second-factor-disabled-intro = Für Ihr Konto wurde die Zwei-Faktor-Authentifizierung ausgeschaltet.
notice-recovery-codes-regenerated-subject = Neue Wiederherstellungscodes wurden erstellt
notice-recovery-codes-regenerated-intro = Für Ihr Konto wurden neue Wiederherstellungscodes erstellt; die alten gelten nicht mehr.
notice-api-token-issued-subject = Ein neuer API-Client hat sich angemeldet
notice-api-token-issued-intro = Ein API-Client hat sich bei Ihrem Konto angemeldet und ein neues Zugriffstoken erhalten.
notice-email-change-requested-subject = Eine Änderung Ihrer E-Mail-Adresse wurde angefordert
notice-email-change-requested-intro = Jemand hat angefordert, die E-Mail-Adresse Ihres Kontos in { $email } zu ändern. Sie ändert sich, sobald diese Adresse bestätigt ist; bis dahin können Sie die Änderung abbrechen.
notice-cancel-email-change = Änderung abbrechen
notice-details = Wann: { $when }. Von: { $ip }, { $browser }.
notice-not-you = Falls Sie das nicht waren, setzen Sie Ihr Passwort sofort zurück und kontaktieren Sie uns.
captcha-invalid = Bitte bestätigen Sie, dass Sie kein Roboter sind.
captcha-unavailable = Die Prüfung, dass Sie kein Roboter sind, ist gerade nicht verfügbar. Bitte versuchen Sie es in ein paar Sekunden erneut.
notice-new-device-subject = Neue Anmeldung bei Ihrem Konto
notice-new-device-intro = Bei Ihrem Konto wurde sich von einem Browser angemeldet, der bisher nicht verwendet wurde.
notice-support-access-subject = Der Support hat Ihr Konto geöffnet
notice-support-access-intro = Ein Mitglied des Support-Teams hat Ihr Konto geöffnet, aus diesem Grund: { $reason }. Der Zugriff endet von selbst innerhalb einer Stunde, und Ihre Aktivitätsseite führt ihn auf.
impersonation-refused = Ein Support-Zugriff auf dieses Konto ist nicht möglich.
notice-review-sessions = Sitzungen ansehen
notice-sign-up-attempted-subject = Jemand wollte sich mit Ihrer E-Mail-Adresse registrieren
notice-sign-up-attempted-intro = Jemand wollte mit Ihrer E-Mail-Adresse ein Konto anlegen. Sie haben bereits eines, daher wurde kein neues angelegt. Falls Sie das waren, melden Sie sich über die Schaltfläche unten an; falls Sie Ihr Passwort vergessen haben, können Sie es auf der Anmeldeseite zurücksetzen.
notice-sign-up-attempted-not-you = Falls Sie das nicht waren, können Sie diese Mail ignorieren: An Ihrem Konto hat sich nichts geändert.
notice-sign-in = Anmelden
