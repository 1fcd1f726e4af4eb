# pow-ext-persistent-session : français.

# Label of the "remember me" checkbox on the sign-in page.
pow_persistent_session_label = Rester connecté

## Labels of the audit events on the activity page.
audit-remember-me-used = Connexion par « rester connecté »
audit-remember-me-theft-detected = Cookie de connexion volé détecté : déconnecté partout
