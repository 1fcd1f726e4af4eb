# pow_invitation messages, English. Flash texts match Pow's defaults.
#
# Override any key from your app with `PowConfigBuilder::messages_ftl("en", "...")`.

## Flash messages

pow_invitation_invalid_invitation = The invitation doesn't exist.
pow_invitation_invitation_email_sent = An e-mail with invitation link has been sent.
pow_invitation_email_failed = The invitation e-mail could not be sent. Hand over the link below instead.

## Pages

pow_invitation_title_new = Invite a user
pow_invitation_title_show = Invitation
pow_invitation_title_edit = Accept invitation
pow_invitation_button_invite = Send invitation
pow_invitation_button_accept = Accept invitation
pow_invitation_show_intro = Hand this link to the person you invited. It lets them choose a password and sign in:
pow_invitation_link_invite_another = Invite another user
pow_invitation_not_allowed = You are not allowed to invite users.

## Mail ($inviter: the inviter's user id, e.g. their e-mail)

pow_invitation_mail_subject = You've been invited
pow_invitation_mail_body = { $inviter } has invited you. Follow the link below to accept the invitation and choose a password:
pow_invitation_mail_button = Accept invitation
pow_invitation_mail_body_existing = { $inviter } has invited you, and you already have an account with this address. Sign in to it with the link below:
pow_invitation_mail_button_sign_in = Sign in
pow_invitation_mail_ignore = If you did not expect this invitation, you can ignore this e-mail.

## Labels of the audit events on the activity page.
audit-invitation-sent = Invitation sent
audit-invitation-accepted = Invitation accepted
