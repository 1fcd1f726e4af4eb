# pow-core messages, French.

## Flash messages

invalid_credentials = Les identifiants fournis n’ont pas fonctionné. Veuillez les vérifier et réessayer.
user_has_been_updated = Votre compte a été mis à jour.
user_has_been_deleted = Votre compte a été supprimé. Nous sommes désolés de vous voir partir !
user_could_not_be_deleted = Votre compte n’a pas pu être supprimé.
hashing_busy = Trop de connexions sont en cours de traitement. Veuillez réessayer dans quelques secondes.
service_unavailable = Le service est momentanément indisponible. Veuillez réessayer dans quelques secondes.

## Validation errors ($count: a length; $field: the field name)

error-blank = ne peut pas être vide
error-taken = est déjà utilisé
error-format = a un format invalide
error-too-short = doit contenir au moins { $count } { $count ->
        [one] caractère
       *[other] caractères
    }
error-too-long = doit contenir au plus { $count } { $count ->
        [one] caractère
       *[other] caractères
    }
error-confirmation = ne correspond pas à la confirmation
error-invalid = est invalide

## Form labels

label-email = Adresse e-mail
label-username = Nom d’utilisateur
label-password = Mot de passe
label-password-confirmation = Confirmation du mot de passe
label-current-password = Mot de passe actuel

## Page titles

title-sign-in = Connexion
title-register = Inscription
title-edit-account = Modifier le compte
title-unavailable = Veuillez réessayer dans un instant
title-sign-in-refused = Connexion non autorisée de cette façon

## Buttons

button-sign-in = Se connecter
button-register = S’inscrire
button-update = Enregistrer
button-submit = Envoyer
button-delete-account = Supprimer le compte
button-sign-out = Se déconnecter

## Links

link-sign-in = Se connecter
link-register = S’inscrire
link-edit-account = Modifier le compte
link-sign-out = Se déconnecter

## Other page texts

form-has-errors = Une erreur s’est produite. Veuillez vérifier les erreurs ci-dessous.

## Mails

mail-greeting = Bonjour,

## Protection contre les abus

rate_limited = Trop de tentatives. Veuillez patienter quelques minutes, puis réessayer.
account_locked = La connexion à ce compte est suspendue après trop de tentatives échouées. Si le compte existe, son titulaire a reçu par e-mail un lien pour le débloquer ; réinitialiser le mot de passe le débloque aussi.
title-rate-limited = Trop de tentatives
error-common = fait partie des mots de passe les plus courants, veuillez en choisir un autre
error-breached = est apparu dans une fuite de données, veuillez en choisir un autre
error-contains-user-id = ne doit pas contenir votre e-mail ou votre nom d'utilisateur
lockout_mail_subject = Votre compte a été bloqué après des connexions échouées
lockout_mail_intro = Quelqu'un a essayé de nombreuses fois de se connecter à votre compte avec un mauvais mot de passe, la connexion est donc suspendue. Si c'était vous, utilisez le lien ci-dessous pour débloquer votre compte, puis connectez-vous.
lockout_mail_intro_factor = Quelqu'un a saisi de nombreuses fois un mauvais code de connexion pour votre compte, la connexion est donc suspendue. Si c'était vous, utilisez le lien ci-dessous pour débloquer votre compte, puis connectez-vous. Si ce n'était pas vous, quelqu'un connaît peut-être votre mot de passe : changez-le.
lockout_mail_expiry_hours = Sinon, le blocage prend fin de lui-même après { $count ->
        [one] une heure
       *[other] { $count } heures
    }.
lockout_mail_expiry_minutes = Sinon, le blocage prend fin de lui-même après { $count ->
        [one] une minute
       *[other] { $count } minutes
    }.
lockout_mail_reset = Si ce n'était pas vous, pensez à changer votre mot de passe : une réinitialisation du mot de passe débloque aussi le compte.
lockout_mail_button = Débloquer mon compte
lockout_unlocked = Votre compte est débloqué. Connectez-vous pour continuer.
lockout_unlock_invalid = Ce lien de déblocage est invalide ou a déjà été utilisé.

## Activité du compte (journal d'audit)

title-activity = Activité récente
activity-empty = Aucune activité enregistrée pour le moment.
activity-unavailable = L'activité du compte n'est pas enregistrée sur ce site.
activity-line = { $when } : { $what } (depuis { $ip })
audit-sign-in-succeeded = Connexion
audit-sign-in-failed = Échec de connexion
audit-session-signed-out = Déconnexion
audit-session-revoked = Sessions terminées
audit-request-rate-limited = Requête refusée : trop de tentatives
audit-account-registered = Compte créé
audit-account-updated = Compte modifié
audit-account-password-changed = Mot de passe modifié
audit-account-deleted = Compte supprimé
audit-lockout-locked = Connexion bloquée
audit-lockout-unlocked = Connexion débloquée
audit-impersonation-started = Accès du support commencé
audit-impersonation-stopped = Accès du support terminé
audit-impersonation-ended = Accès du support expiré
audit-impersonation-denied = Accès du support refusé
impersonation-banner = Vous êtes dans le compte de { $user } en tant que support. Les changements qui demandent son mot de passe sont bloqués.
impersonation-stop = Terminer l'accès du support
impersonation-forbidden = Ce n'est pas possible pendant un accès du support.
link-activity = Activité récente
audit-session-renewed = Session renouvelée
audit-api-token-issued = Jeton d'API émis
audit-api-token-renewed = Jeton d'API renouvelé
audit-api-token-revoked = Jeton d'API révoqué

## Mode sudo

title-confirm-password = Confirmez votre mot de passe
confirm_password_intro = Pour votre sécurité, veuillez saisir à nouveau votre mot de passe pour continuer.
confirm_password_invalid = Ce mot de passe est incorrect.
button-confirm = Confirmer

## Sessions

title-sessions = Vos sessions
link-sessions = Vos sessions
sessions-intro = Ces appareils sont connectés à votre compte. Terminez ceux que vous ne reconnaissez pas.
sessions-end-one = Terminer : { $device } ({ $ip }), dernière activité { $when }
sessions-end-this = Terminer (cet appareil) : { $device } ({ $ip }), dernière activité { $when }
sessions-end-api = Terminer le client API : { $device } ({ $ip }), dernière activité { $when }
sessions-forget-remembered = Oublier le navigateur mémorisé : { $device } ({ $ip }), mémorisé depuis { $when }
sessions-end-others = Terminer toutes les autres sessions
sessions-row = { $device } ({ $ip }), dernière activité { $when }
sessions-row-this = Cet appareil : { $device } ({ $ip }), dernière activité { $when }
sessions-row-api = Client API : { $device } ({ $ip }), dernière activité { $when }
sessions-row-remembered = Navigateur mémorisé : { $device } ({ $ip }), mémorisé depuis { $when }
sessions-end-button = Terminer
sessions-forget-button = Oublier
sessions-unknown-device = inconnu
sessions-signed-in-with = connecté avec : { $methods }
auth-method-password = mot de passe
auth-method-remember-me = navigateur mémorisé
auth-method-magic-link = lien ou code par e-mail
auth-method-oauth = compte d'un fournisseur
auth-method-totp = application d'authentification
auth-method-recovery-code = code de récupération
auth-method-passkey = clé d'accès
auth-method-security-key = clé de sécurité
sessions-ended = { $count ->
        [one] Une session terminée.
       *[other] { $count } sessions terminées.
    }
account_disabled = Ce compte est désactivé. Contactez les administrateurs du site.
account_closed = Ce compte est fermé. Il peut être rouvert jusqu’à son effacement : connectez-vous avec le mot de passe, ou utilisez le lien du courriel de fermeture.
audit-account-disabled = Compte désactivé
audit-account-enabled = Compte réactivé

# Security notices
notice-password-changed-subject = Votre mot de passe a été modifié
notice-password-changed-intro = Le mot de passe de votre compte a été modifié.
notice-email-changed-subject = Votre adresse e-mail a été modifiée
notice-email-changed-intro = L'adresse e-mail de votre compte a été remplacée par { $email }.
notice-second-factor-enabled-subject = L'authentification à deux facteurs a été activée
notice-second-factor-enabled-intro = L'authentification à deux facteurs a été activée pour votre compte.
notice-second-factor-disabled-subject = L'authentification à deux facteurs a été désactivée
notice-second-factor-disabled-intro = L'authentification à deux facteurs a été désactivée pour votre compte.
notice-recovery-codes-regenerated-subject = De nouveaux codes de récupération ont été créés
notice-recovery-codes-regenerated-intro = De nouveaux codes de récupération ont été créés pour votre compte ; les anciens ne fonctionnent plus.
notice-api-token-issued-subject = Un nouveau client API s'est connecté
notice-api-token-issued-intro = Un client API s'est connecté à votre compte et a reçu un nouveau jeton d'accès.
notice-email-change-requested-subject = Un changement de votre adresse e-mail a été demandé
notice-email-change-requested-intro = Quelqu'un a demandé à remplacer l'adresse e-mail de votre compte par { $email }. Elle changera une fois cette adresse confirmée ; d'ici là, vous pouvez annuler le changement.
notice-cancel-email-change = Annuler le changement
notice-details = Quand : { $when }. Depuis : { $ip }, { $browser }.
notice-not-you = Si ce n'était pas vous, réinitialisez votre mot de passe immédiatement et contactez-nous.
captcha-invalid = Veuillez montrer que vous n'êtes pas un robot.
captcha-unavailable = La vérification que vous n'êtes pas un robot est indisponible pour le moment. Veuillez réessayer dans quelques secondes.
notice-new-device-subject = Nouvelle connexion à votre compte
notice-new-device-intro = Une connexion à votre compte a eu lieu depuis un navigateur jamais utilisé auparavant.
notice-support-access-subject = Le support a ouvert votre compte
notice-support-access-intro = Un membre de l'équipe du support a ouvert votre compte, pour cette raison : { $reason }. L'accès se termine de lui-même en moins d'une heure, et votre page d'activité l'indique.
impersonation-refused = L'accès du support à ce compte n'est pas possible.
notice-review-sessions = Voir vos sessions
notice-sign-up-attempted-subject = Quelqu'un a tenté de s'inscrire avec votre adresse e-mail
notice-sign-up-attempted-intro = Quelqu'un a tenté de créer un compte avec votre adresse e-mail, mais vous en avez déjà un : aucun nouveau compte n'a été créé. Si c'était vous, connectez-vous avec le bouton ci-dessous ; si vous avez oublié votre mot de passe, vous pouvez le réinitialiser sur la page de connexion.
notice-sign-up-attempted-not-you = Si ce n'était pas vous, vous pouvez ignorer ce courriel : rien n'a changé sur votre compte.
notice-sign-in = Se connecter
