# pow-ext-persistent-session: Deutsch.

# Label of the "remember me" checkbox on the sign-in page.
pow_persistent_session_label = Angemeldet bleiben
