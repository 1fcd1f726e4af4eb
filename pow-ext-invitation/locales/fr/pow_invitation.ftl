# pow_invitation messages, French.

## Flash messages

pow_invitation_invalid_invitation = L'invitation n'existe pas.
pow_invitation_invitation_email_sent = Un e-mail contenant le lien d'invitation a été envoyé.
pow_invitation_email_failed = L'e-mail d'invitation n'a pas pu être envoyé. Transmettez plutôt le lien ci-dessous.

## Pages

pow_invitation_title_new = Inviter un utilisateur
pow_invitation_title_show = Invitation
pow_invitation_title_edit = Accepter l'invitation
pow_invitation_button_invite = Envoyer l'invitation
pow_invitation_button_accept = Accepter l'invitation
pow_invitation_show_intro = Transmettez ce lien à la personne invitée. Il lui permet de choisir un mot de passe et de se connecter :
pow_invitation_link_invite_another = Inviter un autre utilisateur
pow_invitation_not_allowed = Vous n'êtes pas autorisé à inviter des utilisateurs.

## Mail ($inviter: the inviter's user id, e.g. their e-mail)

pow_invitation_mail_subject = Vous avez été invité
pow_invitation_mail_body = { $inviter } vous a invité. Suivez le lien ci-dessous pour accepter l'invitation et choisir un mot de passe :
pow_invitation_mail_button = Accepter l'invitation
pow_invitation_mail_body_existing = { $inviter } vous a invité, et vous avez déjà un compte avec cette adresse. Connectez-vous avec le lien ci-dessous :
pow_invitation_mail_button_sign_in = Se connecter
pow_invitation_mail_ignore = Si vous n'attendiez pas cette invitation, vous pouvez ignorer cet e-mail.

## Labels of the audit events on the activity page.
audit-invitation-sent = Invitation envoyée
audit-invitation-accepted = Invitation acceptée
