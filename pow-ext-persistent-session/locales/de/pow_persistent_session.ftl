# pow-ext-persistent-session: Deutsch.

# Label of the "remember me" checkbox on the sign-in page.
pow_persistent_session_label = Angemeldet bleiben

## Labels of the audit events on the activity page.
audit-remember-me-used = Über „Angemeldet bleiben“ angemeldet
audit-remember-me-theft-detected = Gestohlenes Anmelde-Cookie erkannt: überall abgemeldet
