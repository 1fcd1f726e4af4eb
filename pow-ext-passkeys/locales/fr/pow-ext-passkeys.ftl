## pow-ext-passkeys : clés d'accès (WebAuthn) pour se connecter.

pow_passkeys_link = Clés d'accès
pow_passkeys_sign_in_link = Se connecter avec une clé d'accès
pow_passkeys_title = Clés d'accès
pow_passkeys_title_sign_in = Se connecter avec une clé d'accès
pow_passkeys_info = Une clé d'accès vous connecte avec le verrouillage d'écran de votre appareil ou une clé de sécurité, sans mot de passe.
pow_passkeys_none = Vous n'avez pas encore de clé d'accès.
pow_passkeys_item = { $name } : ajoutée le { $created }, utilisée { $used }
pow_passkeys_never = jamais
pow_passkeys_name_label = Nom de la nouvelle clé d'accès
pow_passkeys_add_button = Ajouter une clé d'accès
pow_passkeys_rename_label = Nouveau nom pour « { $name } »
pow_passkeys_rename_button = Renommer
pow_passkeys_delete_button = Supprimer « { $name } »
pow_passkeys_added = La clé d'accès a été ajoutée.
pow_passkeys_renamed = La clé d'accès a été renommée.
pow_passkeys_removed = La clé d'accès a été supprimée.
pow_passkeys_sign_in_info = Utilisez une clé d'accès enregistrée sur cet appareil, sur votre téléphone ou sur une clé de sécurité.
pow_passkeys_email_label = E-mail (facultatif)
pow_passkeys_sign_in_button = Se connecter avec une clé d'accès
pow_passkeys_needs_script = Les clés d'accès nécessitent JavaScript dans ce navigateur.

pow_passkeys_account_link = Retour à votre compte
pow_passkeys_security_key_link = Ajouter une clé de sécurité comme second facteur
pow_passkeys_title_security_key = Ajouter une clé de sécurité
pow_passkeys_security_key_info = Une clé de sécurité est demandée après votre mot de passe, comme seconde étape. Elle ne vous connecte jamais seule.
pow_passkeys_security_key_add_button = Ajouter la clé de sécurité
pow_passkeys_second_factor_button = Utiliser une clé d'accès ou une clé de sécurité
pow_passkeys_enrol_now = Votre compte n'a pas de mot de passe : ajoutez une clé d'accès pour vous connecter avec.
pow_passkeys_title_recovery = Ajouter une nouvelle clé d'accès
pow_passkeys_recovery_info = Votre compte se connecte uniquement avec des clés d'accès. Vous avez prouvé votre adresse : ajoutez une nouvelle clé d'accès pour vous connecter.
pow_passkeys_recovery_button = Ajouter la clé d'accès et se connecter
pow_passkeys_recovery_expired = Cette récupération n'est plus valable. Demandez un nouveau lien de connexion.
pow_passkeys_recovered = Votre nouvelle clé d'accès a été ajoutée et vous êtes connecté.
pow_passkeys_title_step_up = Confirmez que c'est vous
pow_passkeys_step_up_info = Confirmez avec l'une de vos clés d'accès ou clés de sécurité pour continuer.
pow_passkeys_kind_security_key = clé de sécurité, second facteur uniquement
pow_passkeys_other_site = créée pour { $site } : elle ne connecte pas ici
## Erreurs, par code.
pow_passkeys_error_unknown_ceremony = Cette demande de clé d'accès n'est plus valable. Veuillez réessayer.
pow_passkeys_error_ceremony_expired = Cette demande de clé d'accès a expiré. Veuillez réessayer.
pow_passkeys_error_wrong_session = Cette demande de clé d'accès appartient à une autre session.
pow_passkeys_error_invalid_request = La réponse de la clé d'accès n'a pas pu être lue.
pow_passkeys_error_origin_mismatch = La réponse de la clé d'accès vient d'un autre site.
pow_passkeys_error_rp_id_mismatch = La clé d'accès appartient à un autre site.
pow_passkeys_error_user_verification_required = Votre appareil doit vous vérifier (code, empreinte ou visage) pour vous connecter avec une clé d'accès.
pow_passkeys_error_counter_regression = Cette clé d'accès a peut-être été copiée et a été refusée. Nous vous avons envoyé un e-mail.
pow_passkeys_error_concurrent_use = Cette clé d'accès a servi au même moment à une autre connexion. Veuillez réessayer.
pow_passkeys_error_unknown_credential = Cette clé d'accès n'est pas connue ici.
pow_passkeys_error_credential_taken = Cette clé d'accès est déjà utilisée.
pow_passkeys_error_invalid_passkey = La clé d'accès n'a pas pu être vérifiée.
pow_passkeys_error_invalid_name = Le nom d'une clé d'accès a de 1 à 64 caractères.
pow_passkeys_error_not_found = Cette clé d'accès n'existe pas.
pow_passkeys_error_last_credential = C'est le seul accès à votre compte : ajoutez une autre clé d'accès ou définissez un mot de passe avant de la supprimer.
pow_passkeys_error_unreadable_credential = Cette clé d'accès n'a pas pu être lue. Veuillez contacter le support.

## E-mails.
pow_passkeys_mail_added_subject = Une clé d'accès a été ajoutée à votre compte
pow_passkeys_mail_added_intro = La clé d'accès « { $name } » a été ajoutée à votre compte. Elle peut vous connecter.
pow_passkeys_mail_added_ignore = Si vous ne l'avez pas ajoutée, supprimez-la sur la page de votre compte et changez votre mot de passe.
pow_passkeys_mail_removed_subject = Une clé d'accès a été retirée de votre compte
pow_passkeys_mail_removed_intro = La clé d'accès « { $name } » a été retirée de votre compte.
pow_passkeys_mail_removed_ignore = Si vous ne l'avez pas retirée, connectez-vous et vérifiez votre compte.
pow_passkeys_mail_counter_subject = Une clé d'accès de votre compte a été refusée
pow_passkeys_mail_counter_intro = Une connexion avec votre clé d'accès « { $name } » a été refusée : le compteur de l'appareil a reculé, ce qui arrive quand une clé d'accès est copiée.
pow_passkeys_mail_counter_ignore = Si ce n'était pas vous, supprimez la clé d'accès sur la page de votre compte.

## Libellés des événements sur la page d'activité.
audit-passkeys-added = Clé d'accès ajoutée
audit-passkeys-renamed = Clé d'accès renommée
audit-passkeys-removed = Clé d'accès supprimée
audit-passkeys-signed-in = Connexion avec une clé d'accès
audit-passkeys-verified = Confirmé avec une clé d'accès ou une clé de sécurité
audit-passkeys-failed = Connexion par clé d'accès refusée
audit-passkeys-counter-regression = Clé d'accès refusée : son compteur a reculé
audit-passkeys-recovered = Compte récupéré avec une nouvelle clé d'accès
