## pow-ext-account: closing an account, reopening it, erasing it, exporting its data.

pow_account_link_close = Close my account
pow_account_link_export = Download my data
pow_account_title_close = Close your account
pow_account_close_info = Closing your account signs you out everywhere and ends every way to sign in. It is erased, with everything it holds, on { $date }; until then you can reopen it by signing in with your password or through the link we mail you.
pow_account_close_info_now = Closing your account erases it at once, with everything it holds. This cannot be undone.
pow_account_close_button = Close my account
pow_account_closed = Your account is closed. It will be erased on { $date }.
pow_account_erased = Your account is erased.
pow_account_title_reactivate = Reopen your account
pow_account_reactivate_info = This account is closed and will be erased on { $date }. Reopen it to use it again.
pow_account_reactivate_button = Reopen my account
pow_account_reactivated = Your account is open again.
pow_account_reactivated_sign_in = Your account is open again. You can sign in.
pow_account_invalid_link = This link is not valid any more.
pow_account_confirm_mail_sent = We sent you a mail: open its link to close your account.

## Mails.
pow_account_mail_subject = Your account is closed
pow_account_mail_intro = Your account was closed. It will be erased on { $date }, with everything it holds.
pow_account_mail_link = Reopen my account
pow_account_mail_ignore = If you did not close it, reopen it now and change your password.
pow_account_confirm_mail_subject = Close your account
pow_account_confirm_mail_intro = Someone asked to close your account. Open the link within 30 minutes to close it.
pow_account_confirm_mail_link = Close my account
pow_account_confirm_mail_ignore = If you did not ask for it, ignore this mail: nothing changes.

## Labels of the audit events on the activity page.
audit-account-closed = Account closed
audit-account-reactivated = Account reopened
audit-account-erased = Account erased
audit-account-exported = Data exported
