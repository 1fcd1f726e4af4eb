# pow_invitation messages, German.

## Flash messages

pow_invitation_invalid_invitation = Die Einladung existiert nicht.
pow_invitation_invitation_email_sent = Eine E-Mail mit dem Einladungslink wurde versendet.
pow_invitation_email_failed = Die Einladungs-E-Mail konnte nicht versendet werden. Geben Sie stattdessen den folgenden Link weiter.

## Pages

pow_invitation_title_new = Benutzer einladen
pow_invitation_title_show = Einladung
pow_invitation_title_edit = Einladung annehmen
pow_invitation_button_invite = Einladung senden
pow_invitation_button_accept = Einladung annehmen
pow_invitation_show_intro = Geben Sie diesen Link an die eingeladene Person weiter. Damit kann sie ein Passwort wählen und sich anmelden:
pow_invitation_link_invite_another = Weiteren Benutzer einladen
pow_invitation_not_allowed = Sie dürfen keine Benutzer einladen.

## Mail ($inviter: the inviter's user id, e.g. their e-mail)

pow_invitation_mail_subject = Sie wurden eingeladen
pow_invitation_mail_body = { $inviter } hat Sie eingeladen. Folgen Sie dem Link unten, um die Einladung anzunehmen und ein Passwort zu wählen:
pow_invitation_mail_button = Einladung annehmen
pow_invitation_mail_body_existing = { $inviter } hat Sie eingeladen, und Sie haben mit dieser Adresse bereits ein Konto. Melden Sie sich über den Link unten an:
pow_invitation_mail_button_sign_in = Anmelden
pow_invitation_mail_ignore = Falls Sie diese Einladung nicht erwartet haben, können Sie diese E-Mail ignorieren.

## Labels of the audit events on the activity page.
audit-invitation-sent = Einladung gesendet
audit-invitation-accepted = Einladung angenommen
