# pow-ext-persistent-session : français.

# Label of the "remember me" checkbox on the sign-in page.
pow_persistent_session_label = Rester connecté
