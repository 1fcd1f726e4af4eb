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
label-persistent-session = Angemeldet bleiben

## Page titles

title-sign-in = Anmelden
title-register = Registrieren
title-edit-account = Konto bearbeiten
title-unavailable = Bitte versuchen Sie es gleich noch einmal

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
