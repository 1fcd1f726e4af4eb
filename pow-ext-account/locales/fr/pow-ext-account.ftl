## pow-ext-account : fermer un compte, le rouvrir, l’effacer, exporter ses données.

pow_account_link_close = Fermer mon compte
pow_account_link_export = Télécharger mes données
pow_account_title_close = Fermer votre compte
pow_account_close_info = Fermer votre compte vous déconnecte partout et met fin à toute connexion. Il sera effacé, avec tout ce qu’il contient, le { $date } ; d’ici là, vous pouvez le rouvrir en vous connectant avec votre mot de passe ou par le lien que nous vous envoyons.
pow_account_close_info_now = Fermer votre compte l’efface aussitôt, avec tout ce qu’il contient. C’est définitif.
pow_account_close_button = Fermer mon compte
pow_account_closed = Votre compte est fermé. Il sera effacé le { $date }.
pow_account_erased = Votre compte est effacé.
pow_account_title_reactivate = Rouvrir votre compte
pow_account_reactivate_info = Ce compte est fermé et sera effacé le { $date }. Rouvrez-le pour l’utiliser de nouveau.
pow_account_reactivate_button = Rouvrir mon compte
pow_account_reactivated = Votre compte est de nouveau ouvert.
pow_account_reactivated_sign_in = Votre compte est de nouveau ouvert. Vous pouvez vous connecter.
pow_account_invalid_link = Ce lien n’est plus valable.
pow_account_confirm_mail_sent = Nous vous avons envoyé un courriel : ouvrez son lien pour fermer votre compte.

## Courriels.
pow_account_mail_subject = Votre compte est fermé
pow_account_mail_intro = Votre compte a été fermé. Il sera effacé le { $date }, avec tout ce qu’il contient.
pow_account_mail_link = Rouvrir mon compte
pow_account_mail_ignore = Si vous ne l’avez pas fermé, rouvrez-le maintenant et changez votre mot de passe.
pow_account_confirm_mail_subject = Fermer votre compte
pow_account_confirm_mail_intro = Quelqu’un a demandé la fermeture de votre compte. Ouvrez le lien dans les 30 minutes pour le fermer.
pow_account_confirm_mail_link = Fermer mon compte
pow_account_confirm_mail_ignore = Si vous ne l’avez pas demandé, ignorez ce courriel : rien ne change.

## Libellés des événements d’audit sur la page d’activité.
audit-account-closed = Compte fermé
audit-account-reactivated = Compte rouvert
audit-account-erased = Compte effacé
audit-account-exported = Données exportées
