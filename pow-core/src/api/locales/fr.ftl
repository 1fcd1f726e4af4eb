# pow-core JSON API messages, French.

api-not-authenticated = Non authentifié
api-already-authenticated = Déjà authentifié
api-invalid-token = Jeton invalide
api-invalid-request = Requête invalide : le corps doit être un objet JSON
api-invalid-email = Veuillez saisir une adresse e-mail valide.
api-user-not-created = Le compte n'a pas pu être créé
api-user-not-updated = Le compte n'a pas pu être modifié
api-busy = Le service est surchargé pour le moment. Veuillez réessayer dans quelques secondes.
api-rate-limited = Trop de tentatives. Veuillez patienter quelques minutes, puis réessayer.
api-reauthentication-required = Veuillez d'abord confirmer votre mot de passe.
api-step-up-required = Veuillez d'abord confirmer votre identité avec l'une des méthodes acceptées.
api-account-disabled = Ce compte est désactivé.
api-account-closed = Ce compte est fermé. Connectez-vous avec le mot de passe pour le rouvrir.
api-captcha-invalid = Veuillez montrer que vous n'êtes pas un robot.
api-captcha-unavailable = La vérification que vous n'êtes pas un robot est indisponible pour le moment. Veuillez réessayer dans quelques secondes.
api-impersonation-forbidden = Ce n'est pas possible pendant un accès du support.
api-cross-site = Cette requête doit venir d’une page de ce site.
api-user-params-missing = Requête invalide : les champs vont sous "user", un objet JSON dans le corps
api-method-not-allowed = Cette adresse n’accepte pas cette méthode.
