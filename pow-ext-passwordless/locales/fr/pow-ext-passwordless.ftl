pow_passwordless_link_sign_in = Se connecter sans mot de passe
pow_passwordless_link_sign_up = S'inscrire d'abord avec son adresse e-mail
pow_passwordless_link_code_instead = Recevoir plutôt un code
pow_passwordless_link_new_code = Envoyer un nouveau code
pow_passwordless_title_link = Se connecter avec un lien
pow_passwordless_title_code = Se connecter avec un code
pow_passwordless_title_staged = S'inscrire
pow_passwordless_button_link = M'envoyer un lien de connexion
pow_passwordless_button_code = M'envoyer un code
pow_passwordless_button_staged = M'envoyer un lien pour continuer
pow_passwordless_button_sign_in = Se connecter
pow_passwordless_button_complete = Créer mon compte
pow_passwordless_label_code = Le code à 6 chiffres de l'e-mail
pow_passwordless_link_sent = Si l'adresse peut se connecter, nous lui avons envoyé un lien. Veuillez consulter votre boîte de réception.
pow_passwordless_code_sent = Si l'adresse peut se connecter, nous lui avons envoyé un code. Veuillez consulter votre boîte de réception.
pow_passwordless_invalid = Le lien est invalide ou a expiré. Veuillez en demander un nouveau.
pow_passwordless_invalid_code = Ce code n'est pas valide.
pow_passwordless_too_many_attempts = Trop de codes erronés. Veuillez en demander un nouveau.
pow_passwordless_staged_for = Votre adresse { $email } est confirmée. Complétez le reste pour créer votre compte.
pow_passwordless_link_mail_subject = Votre lien de connexion
pow_passwordless_link_mail_intro = Ouvrez ce lien pour vous connecter (ou poursuivre votre inscription) :
pow_passwordless_link_mail_button = Continuer
pow_passwordless_code_mail_subject = Votre code de connexion
pow_passwordless_code_mail_intro = Saisissez ce code dans la fenêtre où vous l'avez demandé :
pow_passwordless_mail_expiry_hours = Il est valable { $count ->
    [one] une heure
   *[other] { $count } heures
}, une seule fois.
pow_passwordless_mail_expiry_minutes = Il est valable { $count ->
    [one] une minute
   *[other] { $count } minutes
}, une seule fois.
pow_passwordless_mail_ignore = Si vous ne l'avez pas demandé, ignorez cet e-mail.
