# pow-core JSON API messages, English.
#
# Override any key from your app with `PowConfigBuilder::messages_ftl("en", "...")`.

api-not-authenticated = Not authenticated
api-already-authenticated = Already authenticated
api-invalid-token = Invalid token
api-invalid-request = Invalid request: the body has to be a JSON object
api-invalid-email = Please enter a valid e-mail address.
api-user-not-created = Couldn't create user
api-user-not-updated = Couldn't update user
api-busy = The service is busy right now. Please try again in a few seconds.
api-rate-limited = Too many attempts. Please wait a few minutes, then try again.
api-reauthentication-required = Please confirm your password first.
api-step-up-required = Please confirm it is you with one of the accepted methods first.
api-account-disabled = This account is disabled.
api-account-closed = This account is closed. Sign in with the password to reactivate it.
api-captcha-invalid = Please show that you are not a robot.
api-captcha-unavailable = The check that you are not a robot is not available right now. Please try again in a few seconds.
api-impersonation-forbidden = This is not possible during support access.
api-cross-site = This request has to come from a page of this site.
api-user-params-missing = Invalid request: the fields go under "user", a JSON object in the body
api-method-not-allowed = This address does not take that method.
