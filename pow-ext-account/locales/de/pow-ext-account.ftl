## pow-ext-account: Konto schließen, wieder öffnen, löschen, Daten exportieren.

pow_account_link_close = Mein Konto schließen
pow_account_link_export = Meine Daten herunterladen
pow_account_title_close = Konto schließen
pow_account_close_info = Wenn Sie Ihr Konto schließen, werden Sie überall abgemeldet, und keine Anmeldung ist mehr möglich. Es wird am { $date } mit allem, was es enthält, gelöscht; bis dahin können Sie es wieder öffnen, indem Sie sich mit Ihrem Passwort anmelden oder den Link aus unserer Mail öffnen.
pow_account_close_info_now = Wenn Sie Ihr Konto schließen, wird es sofort mit allem, was es enthält, gelöscht. Das lässt sich nicht rückgängig machen.
pow_account_close_button = Mein Konto schließen
pow_account_closed = Ihr Konto ist geschlossen. Es wird am { $date } gelöscht.
pow_account_erased = Ihr Konto ist gelöscht.
pow_account_title_reactivate = Konto wieder öffnen
pow_account_reactivate_info = Dieses Konto ist geschlossen und wird am { $date } gelöscht. Öffnen Sie es wieder, um es zu nutzen.
pow_account_reactivate_button = Mein Konto wieder öffnen
pow_account_reactivated = Ihr Konto ist wieder offen.
pow_account_reactivated_sign_in = Ihr Konto ist wieder offen. Sie können sich anmelden.
pow_account_invalid_link = Dieser Link ist nicht mehr gültig.
pow_account_confirm_mail_sent = Wir haben Ihnen eine Mail geschickt: Öffnen Sie den Link darin, um Ihr Konto zu schließen.

## Mails.
pow_account_mail_subject = Ihr Konto ist geschlossen
pow_account_mail_intro = Ihr Konto wurde geschlossen. Es wird am { $date } mit allem, was es enthält, gelöscht.
pow_account_mail_link = Mein Konto wieder öffnen
pow_account_mail_ignore = Wenn Sie es nicht geschlossen haben, öffnen Sie es jetzt wieder und ändern Sie Ihr Passwort.
pow_account_confirm_mail_subject = Konto schließen
pow_account_confirm_mail_intro = Jemand hat verlangt, Ihr Konto zu schließen. Öffnen Sie den Link innerhalb von 30 Minuten, um es zu schließen.
pow_account_confirm_mail_link = Mein Konto schließen
pow_account_confirm_mail_ignore = Wenn Sie das nicht verlangt haben, ignorieren Sie diese Mail: Es ändert sich nichts.

## Bezeichnungen der Audit-Ereignisse auf der Aktivitätsseite.
audit-account-closed = Konto geschlossen
audit-account-reactivated = Konto wieder geöffnet
audit-account-erased = Konto gelöscht
audit-account-exported = Daten exportiert
