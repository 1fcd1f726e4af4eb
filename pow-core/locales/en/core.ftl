# pow-core messages, English. Texts match Pow's defaults.
#
# Override any key from your app with `PowConfigBuilder::messages_ftl("en", "...")`.
# Messages left out show nothing (Pow's nil): user_not_authenticated,
# user_already_authenticated, signed_in, signed_out, user_has_been_created.

## Flash messages

invalid_credentials = The provided login details did not work. Please verify your credentials, and try again.
user_has_been_updated = Your account has been updated.
user_has_been_deleted = Your account has been deleted. Sorry to see you go!
user_could_not_be_deleted = Your account could not be deleted.
hashing_busy = Too many sign-ins are being processed right now. Please try again in a few seconds.
service_unavailable = The service is temporarily unavailable. Please try again in a few seconds.

## Validation errors ($count: a length; $field: the field name)

error-blank = can't be blank
error-taken = has already been taken
error-format = has invalid format
error-too-short = should be at least { $count } { $count ->
        [one] character
       *[other] characters
    }
error-too-long = should be at most { $count } { $count ->
        [one] character
       *[other] characters
    }
error-confirmation = does not match confirmation
error-invalid = is invalid

## Form labels

label-email = Email
label-username = Username
label-password = Password
label-password-confirmation = Password confirmation
label-current-password = Current password

## Page titles

title-sign-in = Sign in
title-register = Register
title-edit-account = Edit account
title-unavailable = Please try again shortly
title-sign-in-refused = Sign-in not allowed this way

## Buttons

button-sign-in = Sign in
button-register = Register
button-update = Update
button-submit = Submit
button-delete-account = Delete account
button-sign-out = Sign out

## Links

link-sign-in = Sign in
link-register = Register
link-edit-account = Edit account
link-sign-out = Sign out

## Other page texts

form-has-errors = Oops, something went wrong! Please check the errors below.

## Mails

mail-greeting = Hi,

## Abuse protection

rate_limited = Too many attempts. Please wait a few minutes, then try again.
account_locked = Sign-in for this account is paused after too many failed attempts. If the account exists, its owner has been emailed a link to unlock it; resetting the password unlocks it too.
title-rate-limited = Too many attempts
error-common = is one of the most common passwords, please choose another
error-breached = has appeared in a data breach, please choose another
error-contains-user-id = must not contain your email or username
lockout_mail_subject = Your account was locked after failed sign-ins
lockout_mail_intro = Someone tried to sign in to your account with a wrong password many times, so sign-in is paused. If it was you, use the link below to unlock your account, then sign in.
lockout_mail_intro_factor = Someone gave a wrong sign-in code for your account many times, so sign-in is paused. If it was you, use the link below to unlock your account, then sign in. If it was not you, someone may know your password: change it.
lockout_mail_expiry_hours = Otherwise the lock ends by itself after { $count ->
        [one] one hour
       *[other] { $count } hours
    }.
lockout_mail_expiry_minutes = Otherwise the lock ends by itself after { $count ->
        [one] one minute
       *[other] { $count } minutes
    }.
lockout_mail_reset = If it was not you, consider changing your password: a password reset also unlocks the account.
lockout_mail_button = Unlock my account
lockout_unlocked = Your account is unlocked. Sign in to continue.
lockout_unlock_invalid = This unlock link is invalid or was already used.

## Account activity (audit log)

title-activity = Recent activity
activity-empty = No activity recorded yet.
activity-unavailable = Account activity is not recorded on this site.
activity-line = { $when }: { $what } (from { $ip })
audit-sign-in-succeeded = Signed in
audit-sign-in-failed = Failed sign-in
audit-session-signed-out = Signed out
audit-session-revoked = Sessions ended
audit-request-rate-limited = Request refused: too many attempts
audit-account-registered = Account created
audit-account-updated = Account changed
audit-account-password-changed = Password changed
audit-account-deleted = Account deleted
audit-lockout-locked = Sign-in locked
audit-lockout-unlocked = Sign-in unlocked
audit-impersonation-started = Support access started
audit-impersonation-stopped = Support access ended
audit-impersonation-ended = Support access expired
audit-impersonation-denied = Support access refused
impersonation-banner = You are in { $user }'s account as support. Changes that need their password are blocked.
impersonation-stop = Stop support access
impersonation-forbidden = This is not possible during support access.
link-activity = Recent activity
audit-session-renewed = Session renewed
audit-api-token-issued = API token issued
audit-api-token-renewed = API token renewed
audit-api-token-revoked = API token revoked

## Sudo mode

title-confirm-password = Confirm your password
confirm_password_intro = For your security, please enter your password again to continue.
confirm_password_invalid = That password is not correct.
button-confirm = Confirm

## Sessions

title-sessions = Your sessions
link-sessions = Your sessions
sessions-intro = These devices are signed in to your account. End any you do not recognise.
sessions-end-one = End: { $device } ({ $ip }), last active { $when }
sessions-end-this = End (this device): { $device } ({ $ip }), last active { $when }
sessions-end-api = End API client: { $device } ({ $ip }), last active { $when }
sessions-forget-remembered = Forget remembered browser: { $device } ({ $ip }), remembered since { $when }
sessions-end-others = End all other sessions
sessions-row = { $device } ({ $ip }), last active { $when }
sessions-row-this = This device: { $device } ({ $ip }), last active { $when }
sessions-row-api = API client: { $device } ({ $ip }), last active { $when }
sessions-row-remembered = Remembered browser: { $device } ({ $ip }), remembered since { $when }
sessions-end-button = End
sessions-forget-button = Forget
sessions-unknown-device = unknown
sessions-signed-in-with = signed in with { $methods }
auth-method-password = password
auth-method-remember-me = remembered browser
auth-method-magic-link = emailed link or code
auth-method-oauth = provider account
auth-method-totp = authenticator app
auth-method-recovery-code = recovery code
auth-method-passkey = passkey
auth-method-security-key = security key
sessions-ended = { $count ->
        [one] One session ended.
       *[other] { $count } sessions ended.
    }
account_disabled = This account is disabled. Contact the site's administrators.
account_closed = This account is closed. It can be reactivated until it is erased: sign in with the password, or use the link in the closing mail.
audit-account-disabled = Account disabled
audit-account-enabled = Account enabled again

# Security notices
notice-password-changed-subject = Your password was changed
notice-password-changed-intro = The password of your account was changed.
notice-email-changed-subject = Your email address was changed
notice-email-changed-intro = The email address of your account was changed to { $email }.
notice-second-factor-enabled-subject = Two-factor authentication was turned on
notice-second-factor-enabled-intro = Two-factor authentication was turned on for your account.
notice-second-factor-disabled-subject = Two-factor authentication was turned off
notice-second-factor-disabled-intro = Two-factor authentication was turned off for your account.
notice-recovery-codes-regenerated-subject = New recovery codes were created
notice-recovery-codes-regenerated-intro = New recovery codes were created for your account; the old ones no longer work.
notice-api-token-issued-subject = A new API client signed in
notice-api-token-issued-intro = An API client signed in to your account and received a new access token.
notice-email-change-requested-subject = A change of your email address was requested
notice-email-change-requested-intro = Someone asked to change the email address of your account to { $email }. It changes once that address is confirmed; until then you can cancel it.
notice-cancel-email-change = Cancel the change
notice-details = When: { $when }. From: { $ip }, { $browser }.
notice-not-you = If this was not you, reset your password right away and contact us.
captcha-invalid = Please show that you are not a robot.
captcha-unavailable = The check that you are not a robot is not available right now. Please try again in a few seconds.
notice-new-device-subject = New sign-in to your account
notice-new-device-intro = Your account was signed in to from a browser it was not used on before.
notice-support-access-subject = Support opened your account
notice-support-access-intro = A member of the support team opened your account, for this reason: { $reason }. The access ends by itself within an hour, and your activity page lists it.
impersonation-refused = Support access to this account is not possible.
notice-review-sessions = Review your sessions
notice-sign-up-attempted-subject = Someone tried to register with your email address
notice-sign-up-attempted-intro = Someone tried to create an account with your email address, but you already have one, so no new account was made. If it was you, sign in with the button below; if you forgot your password, you can reset it on the sign-in page.
notice-sign-up-attempted-not-you = If it was not you, you can ignore this mail: nothing about your account changed.
notice-sign-in = Sign in
