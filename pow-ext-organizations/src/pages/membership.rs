//! Changes to an organization, its members and its invitations, and the invitation
//! link's page.

use super::*;

pub(super) fn form_value(step: &Step, name: &str) -> String {
    step.params.get(name).cloned().unwrap_or_default()
}

/// `POST /organizations/{slug}/rename`.
pub(super) async fn rename(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = flows::rename(
        &step.config,
        &user,
        &step.path_param("slug"),
        &form_value(step, "name"),
    )
    .await?;
    Ok(match outcome {
        Ok(_) => back(step, client, Ok(()), "pow_organizations_renamed"),
        Err(Ok(refused)) => back(step, client, Err(refused), ""),
        Err(Err(_)) => {
            client.flash(
                FlashKind::Error,
                Some(step.text("pow_organizations_invalid_name")),
            );
            Answer::Redirect(org_path(step, &step.path_param("slug"), ""))
        }
    })
}

/// `POST /organizations/{slug}/invite`: the same answer for every address.
pub(super) async fn invite(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let email = form_value(step, "email");
    let lang = step.lang.clone();
    let outcome = flows::invite(
        &step.config,
        &user,
        &step.path_param("slug"),
        &email,
        &form_value(step, "role"),
        &lang,
    )
    .await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_invitation_sent",
    ))
}

pub(super) fn target(step: &Step) -> i64 {
    form_value(step, "user_id").parse().unwrap_or(0)
}

/// `POST /organizations/{slug}/role`.
pub(super) async fn role(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = flows::change_role(
        &step.config,
        &user,
        &step.path_param("slug"),
        target(step),
        &form_value(step, "role"),
    )
    .await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_role_changed",
    ))
}

/// `POST /organizations/{slug}/remove`.
pub(super) async fn remove(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome =
        flows::remove(&step.config, &user, &step.path_param("slug"), target(step)).await?;
    Ok(back(step, client, outcome, "pow_organizations_removed"))
}

/// Back to the list with the `done` text once an organization is left or closed; a
/// refusal as [`back`] answers it.
fn to_list(
    step: &Step,
    client: &mut dyn Client,
    outcome: Result<(), Refused>,
    done: &str,
) -> Answer {
    match outcome {
        Ok(()) => {
            client.flash(FlashKind::Info, Some(step.text(done)));
            Answer::Redirect(list_path(step))
        }
        Err(refused) => back(step, client, Err(refused), ""),
    }
}

/// `POST /organizations/{slug}/leave`: back to the list.
pub(super) async fn leave(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = flows::leave(&step.config, &user, &step.path_param("slug")).await?;
    Ok(to_list(step, client, outcome, "pow_organizations_left"))
}

/// `POST /organizations/{slug}/close` (sudo mode): back to the list.
pub(super) async fn close(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = flows::close(&step.config, &user, &step.path_param("slug")).await?;
    Ok(to_list(step, client, outcome, "pow_organizations_closed"))
}

/// `POST /organizations/{slug}/revoke`.
pub(super) async fn revoke(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = flows::revoke_invitation(
        &step.config,
        &user,
        &step.path_param("slug"),
        &form_value(step, "id"),
    )
    .await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_invitation_revoked",
    ))
}

/// `POST /organizations/{slug}/resend`.
pub(super) async fn resend(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let lang = step.lang.clone();
    let outcome = flows::resend_invitation(
        &step.config,
        &user,
        &step.path_param("slug"),
        &form_value(step, "id"),
        &lang,
    )
    .await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_invitation_sent",
    ))
}

/// The invitation page: an accept button for `signed_in`, else the sign-up form.
pub(super) fn invitation_page(
    step: &Step,
    cookie: &CookieSession,
    invited: &Invited,
    signed_in: bool,
    status: u16,
) -> Page {
    let token = step.path_param("token");
    let action = extension_path(&step.config, NAME, INVITATION_PATH, &[("token", &token)]);
    let about = step
        .config
        .messages()
        .message(
            &step.lang,
            "pow_organizations_invitation_about",
            &[
                ("organization", invited.organization.name.clone().into()),
                ("role", invited.invitation.role.clone().into()),
                ("email", invited.invitation.email.clone().into()),
            ],
        )
        .unwrap_or_default();
    let (form, links) = if signed_in {
        let accept = button(
            cookie,
            action,
            Vec::new(),
            &about,
            step.text("pow_organizations_accept"),
        );
        (accept, Vec::new())
    } else {
        let changeset = step.changeset.as_ref();
        let mut fields = vec![Field::note("about", about)];
        // The app's fields, as the registration form shows them (the address is the
        // invitation's).
        fields.extend(
            extra_fields(&step.config, &step.lang, &step.params, changeset, None)
                .into_iter()
                .filter(|field| field.name != "email"),
        );
        fields.extend(new_password_fields(
            &step.config,
            &step.lang,
            changeset,
            true,
        ));
        let sign_up = form(
            cookie,
            action,
            None,
            fields,
            step.text("pow_organizations_sign_up"),
        );
        let sign_in = step.config.routes().session_path(&step.routes_ctx(), "new");
        (
            sign_up,
            vec![Link::new(
                sign_in,
                step.text("pow_organizations_sign_in_first"),
            )],
        )
    };
    Page::new(
        INVITATION_PAGE,
        "pow_organizations_invitation_title",
        PageBody::Form {
            form,
            links,
            extra_forms: Vec::new(),
        },
    )
    .with_status(status)
}

/// The page of a made-up, used, revoked or expired link.
pub(super) fn gone(step: &Step, client: &mut dyn Client) -> Answer {
    client.flash(
        FlashKind::Error,
        Some(step.text("pow_organizations_invitation_gone")),
    );
    Answer::Stop(list_path(step))
}

/// `GET /organization-invitations/{token}`.
pub(super) async fn invited(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let Some(invited) = flows::invited(&step.config, &step.path_param("token")).await? else {
        return Ok(gone(step, client));
    };
    let signed_in = client.current_session().is_some();
    Ok(Answer::render(move |step, cookie| {
        Ok(invitation_page(step, cookie, &invited, signed_in, 200))
    }))
}

/// `POST /organization-invitations/{token}`: accepts as the signed-in user, or signs up.
pub(super) async fn accept(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let token = step.path_param("token");
    let signed_in: Option<User> = match client.current_session() {
        Some(current) => pow_core::flows::stored_user(&step.config, current.user.id).await?,
        None => None,
    };
    let accepted = match &signed_in {
        Some(user) => flows::accept(&step.config, user, &token).await?,
        None => {
            // The app's user fields as on every sign-up path (the address is the
            // invitation's, whatever the form says).
            let mut params: Params = step.params.clone();
            for name in ["password", "password_confirmation"] {
                params.insert(name.to_owned(), form_value(step, name));
            }
            let config = step.config.clone();
            flows::accept_signing_up(&config, &token, params, client.session()).await?
        }
    };
    match accepted {
        Accepted::Joined(membership) => {
            client.flash(FlashKind::Info, Some(step.text("pow_organizations_joined")));
            Ok(Answer::Redirect(org_path(
                step,
                &membership.organization.slug,
                "",
            )))
        }
        Accepted::Gone => Ok(gone(step, client)),
        Accepted::Full => {
            client.flash(FlashKind::Error, Some(refusal_text(step, Refused::Full)));
            Ok(Answer::Stop(list_path(step)))
        }
        Accepted::WrongUser => {
            client.flash(
                FlashKind::Error,
                Some(step.text("pow_organizations_wrong_user")),
            );
            Ok(Answer::Stop(list_path(step)))
        }
        Accepted::SignInFirst => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_sign_in_first")),
            );
            let sign_in = step.config.routes().session_path(&step.routes_ctx(), "new");
            Ok(Answer::Stop(sign_in))
        }
        Accepted::Invalid(changeset) => {
            step.changeset = Some(changeset);
            let Some(invited) = flows::invited(&step.config, &token).await? else {
                return Ok(gone(step, client));
            };
            Ok(Answer::render(move |step, cookie| {
                Ok(invitation_page(step, cookie, &invited, false, 422))
            }))
        }
    }
}
