pow_two_factor_link = Authentification à deux facteurs
pow_two_factor_title_settings = Authentification à deux facteurs
pow_two_factor_title_verify = Saisissez votre code d'authentification
pow_two_factor_title_codes = Vos codes de récupération
pow_two_factor_setup_intro = Scannez ce code QR avec une application d'authentification, ou saisissez-y la clé ci-dessous. Saisissez ensuite le code à 6 chiffres affiché par l'application.
pow_two_factor_setup_key = Clé : { $key }
pow_two_factor_code_label = Code d'authentification
pow_two_factor_enable_button = Activer l'authentification à deux facteurs
pow_two_factor_verify_label = Code d'authentification ou code de récupération
pow_two_factor_verify_button = Vérifier
pow_two_factor_cancel = Annuler et se reconnecter
pow_two_factor_required = Saisissez le code de votre application d'authentification, ou l'un de vos codes de récupération, pour terminer la connexion.
pow_two_factor_required_key = Confirmez avec votre clé d'accès ou votre clé de sécurité pour terminer la connexion.
pow_two_factor_step_up = Pour continuer, confirmez votre identité : saisissez le code de votre application d'authentification, ou l'un de vos codes de récupération.
pow_two_factor_invalid_code = Ce code n'est pas valide.
pow_two_factor_expired = La connexion a expiré. Veuillez vous reconnecter.
pow_two_factor_too_many_attempts = Trop de codes erronés. Veuillez vous reconnecter.
pow_two_factor_enabled = { $count ->
    [one] L'authentification à deux facteurs est activée. Il vous reste un code de récupération.
   *[other] L'authentification à deux facteurs est activée. Il vous reste { $count } codes de récupération.
}
pow_two_factor_codes_intro = Conservez ces codes de récupération en lieu sûr : chacun vous connecte une fois si vous perdez votre application d'authentification. Ils ne sont affichés que maintenant.
pow_two_factor_regenerate_button = Créer de nouveaux codes de récupération
pow_two_factor_disable_button = Désactiver l'authentification à deux facteurs
pow_two_factor_disabled = L'authentification à deux facteurs est désactivée.

## Labels of the audit events on the activity page.
audit-two-factor-enabled = Authentification à deux facteurs activée
audit-two-factor-disabled = Authentification à deux facteurs désactivée
audit-two-factor-recovery-codes-regenerated = Nouveaux codes de récupération créés
audit-two-factor-verified = Deuxième étape de connexion réussie
audit-two-factor-failed = Code erroné à la deuxième étape de connexion
