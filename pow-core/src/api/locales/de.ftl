# pow-core JSON API messages, German.

api-not-authenticated = Nicht angemeldet
api-already-authenticated = Bereits angemeldet
api-invalid-token = Ungültiges Token
api-invalid-request = Ungültige Anfrage: Der Inhalt muss ein JSON-Objekt sein
api-invalid-email = Bitte geben Sie eine gültige E-Mail-Adresse ein.
api-user-not-created = Das Konto konnte nicht angelegt werden
api-user-not-updated = Das Konto konnte nicht geändert werden
api-busy = Der Dienst ist gerade ausgelastet. Bitte versuchen Sie es in ein paar Sekunden erneut.
api-rate-limited = Zu viele Versuche. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut.
api-reauthentication-required = Bitte bestätigen Sie zuerst Ihr Passwort.
api-step-up-required = Bitte bestätigen Sie zuerst Ihre Identität mit einer der akzeptierten Methoden.
api-account-disabled = Dieses Konto ist deaktiviert.
api-account-closed = Dieses Konto ist geschlossen. Melden Sie sich mit dem Passwort an, um es wieder zu öffnen.
api-captcha-invalid = Bitte bestätigen Sie, dass Sie kein Roboter sind.
api-captcha-unavailable = Die Prüfung, dass Sie kein Roboter sind, ist gerade nicht verfügbar. Bitte versuchen Sie es in ein paar Sekunden erneut.
api-impersonation-forbidden = Während eines Support-Zugriffs ist das nicht möglich.
api-cross-site = Diese Anfrage muss von einer Seite dieser Website kommen.
api-user-params-missing = Ungültige Anfrage: Die Felder gehören unter "user", ein JSON-Objekt im Inhalt
api-method-not-allowed = Diese Adresse nimmt diese Methode nicht an.
