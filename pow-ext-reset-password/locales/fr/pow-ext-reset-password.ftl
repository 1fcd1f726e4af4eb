# pow-ext-reset-password messages, French.

## Flash messages

pow_reset_password_maybe_email_has_been_sent = Si un compte existe pour l’adresse e-mail indiquée, vous recevrez un e-mail avec les instructions de réinitialisation. Veuillez vérifier votre boîte de réception.
pow_reset_password_email_has_been_sent = { pow_reset_password_maybe_email_has_been_sent }
pow_reset_password_user_not_found = Aucun compte n’existe pour l’adresse e-mail indiquée. Veuillez réessayer.
pow_reset_password_invalid_token = Le lien de réinitialisation du mot de passe a expiré.
pow_reset_password_password_has_been_reset = Le mot de passe a été mis à jour.
pow_reset_password_password_not_updated = Le mot de passe n’a pas pu être mis à jour.

## Pages

pow_reset_password_title_new = Réinitialiser le mot de passe
pow_reset_password_title_edit = Choisir un nouveau mot de passe
pow_reset_password_button_request = Envoyer le lien
pow_reset_password_button_reset = Enregistrer le nouveau mot de passe
pow_reset_password_link_forgot_password = Mot de passe oublié ?

## Mail ($count: how long the link works)

pow_reset_password_mail_subject = Lien de réinitialisation du mot de passe
pow_reset_password_mail_intro = Nous avons reçu une demande de réinitialisation du mot de passe de votre compte. Ouvrez ce lien pour en choisir un nouveau :
pow_reset_password_mail_link = Choisir un nouveau mot de passe
pow_reset_password_mail_expiry_hours = Le lien est valable { $count ->
        [one] une heure
       *[other] { $count } heures
    } et ne fonctionne qu’une seule fois.
pow_reset_password_mail_expiry_minutes = Le lien est valable { $count ->
        [one] une minute
       *[other] { $count } minutes
    } et ne fonctionne qu’une seule fois.
pow_reset_password_mail_ignore = Si vous n’êtes pas à l’origine de cette demande, vous pouvez ignorer cet e-mail : votre mot de passe reste inchangé.

## Labels of the audit events on the activity page.
audit-password-reset-requested = Réinitialisation du mot de passe demandée
audit-password-reset-completed = Mot de passe réinitialisé
