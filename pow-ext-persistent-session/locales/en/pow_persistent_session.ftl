# pow-ext-persistent-session: English.

# Label of the "remember me" checkbox on the sign-in page.
pow_persistent_session_label = Keep me signed in
