pow_passwordless_link_sign_in = Sign in without a password
pow_passwordless_link_sign_up = Sign up with your email address first
pow_passwordless_link_code_instead = Email me a code instead
pow_passwordless_link_new_code = Send a new code
pow_passwordless_title_link = Sign in with a link
pow_passwordless_title_code = Sign in with a code
pow_passwordless_title_staged = Sign up
pow_passwordless_button_link = Email me a sign-in link
pow_passwordless_button_code = Email me a code
pow_passwordless_button_staged = Email me a link to continue
pow_passwordless_button_sign_in = Sign in
pow_passwordless_button_complete = Create my account
pow_passwordless_label_code = The 6-digit code from the email
pow_passwordless_link_sent = If the address can sign in, we have sent it a link. Please check your inbox.
pow_passwordless_code_sent = If the address can sign in, we have sent it a code. Please check your inbox.
pow_passwordless_invalid = The link is invalid or has expired. Please ask for a new one.
pow_passwordless_invalid_code = That code is not valid.
pow_passwordless_too_many_attempts = Too many wrong codes. Please ask for a new one.
pow_passwordless_staged_for = Your address { $email } is confirmed. Fill in the rest to create your account.
pow_passwordless_link_mail_subject = Your sign-in link
pow_passwordless_link_mail_intro = Open this link to sign in (or to go on with your sign-up):
pow_passwordless_link_mail_button = Continue
pow_passwordless_code_mail_subject = Your sign-in code
pow_passwordless_code_mail_intro = Enter this code in the window where you asked for it:
pow_passwordless_mail_expiry_hours = It works for { $count ->
    [one] one hour
   *[other] { $count } hours
}, once.
pow_passwordless_mail_expiry_minutes = It works for { $count ->
    [one] one minute
   *[other] { $count } minutes
}, once.
pow_passwordless_mail_ignore = If you did not ask for it, ignore this email.
