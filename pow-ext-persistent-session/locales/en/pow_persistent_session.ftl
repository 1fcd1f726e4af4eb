# pow-ext-persistent-session: English.

# Label of the "remember me" checkbox on the sign-in page.
pow_persistent_session_label = Keep me signed in

## Labels of the audit events on the activity page.
audit-remember-me-used = Signed in by "keep me signed in"
audit-remember-me-theft-detected = Stolen sign-in cookie detected: signed out everywhere
