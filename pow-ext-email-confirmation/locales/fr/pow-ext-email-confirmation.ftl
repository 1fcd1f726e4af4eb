# pow-ext-email-confirmation messages, French.

## Flash messages

pow_email_confirmation_email_has_been_confirmed = L'adresse e-mail a été confirmée.
pow_email_confirmation_email_confirmation_failed = L'adresse e-mail n'a pas pu être confirmée.
pow_email_confirmation_invalid_token = Le lien de confirmation est invalide ou a expiré.
pow_email_confirmation_email_confirmation_required = Vous devez confirmer votre adresse e-mail avant de pouvoir vous connecter. Un lien de confirmation vous a été envoyé par e-mail.
pow_email_confirmation_email_confirmation_required_for_update = Vous devez confirmer la nouvelle adresse e-mail avant qu'elle ne soit enregistrée. Un lien de confirmation vous a été envoyé par e-mail.
pow_email_confirmation_email_confirmation_sent = Veuillez confirmer votre adresse e-mail. Un lien de confirmation vous a été envoyé par e-mail.
pow_email_confirmation_email_not_confirmed = Votre adresse e-mail n'est pas encore confirmée. Veuillez ouvrir le lien de l'e-mail de confirmation.

## The confirmation mail

pow_email_confirmation_mail_subject = Confirmez votre adresse e-mail
pow_email_confirmation_mail_intro = Veuillez ouvrir le lien ci-dessous pour confirmer votre adresse e-mail.
pow_email_confirmation_mail_button = Confirmer l'adresse e-mail
pow_email_confirmation_mail_expiry_hours = Le lien est valable { $count ->
    [one] une heure
   *[other] { $count } heures
}.
pow_email_confirmation_mail_expiry_minutes = Le lien est valable { $count ->
    [one] une minute
   *[other] { $count } minutes
}.
pow_email_confirmation_mail_ignore = Si vous n'êtes pas à l'origine de cette demande, vous pouvez ignorer cet e-mail.

## Cancelling a pending email change (link in the notice to the current address)

pow_email_confirmation_change_cancelled = Le changement d'adresse e-mail a été annulé.
pow_email_confirmation_title_cancel = Annuler le changement d'adresse e-mail

## Labels of the audit events on the activity page.
audit-email-confirmation-sent = E-mail de confirmation envoyé
audit-email-confirmation-confirmed = Adresse e-mail confirmée
