//! An organization's verified domains, its joining policy and the join requests.

use super::*;

/// The domain rows of the organization's page: each with its state (and the TXT record to
/// publish until verified), verify, policy and remove forms; then the form adding one.
pub(super) fn domain_forms(
    step: &Step,
    cookie: &CookieSession,
    slug: &str,
    domains: &[Domain],
    forms: &mut Vec<Form>,
) {
    let path = |action: &str| org_path(step, slug, action);
    for domain in domains {
        let state = match domain.verified_at {
            Some(_) => step.text("pow_organizations_domain_verified"),
            None => step
                .config
                .messages()
                .message(
                    &step.lang,
                    "pow_organizations_unverified",
                    &[
                        ("name", domain.record_name().into()),
                        ("value", domain.record_value().into()),
                    ],
                )
                .unwrap_or_default(),
        };
        let about = format!("{}: {}", domain.domain, state);
        let id = hidden("id", domain.id.clone());
        if domain.verified_at.is_none() {
            forms.push(button(
                cookie,
                path("/domains/verify"),
                vec![id.clone()],
                &about,
                step.text("pow_organizations_verify"),
            ));
        }
        let policy = Field::new(
            "join_policy",
            format!(
                "{} — {}",
                domain.domain,
                step.text("pow_organizations_join_policy")
            ),
            FieldType::Text,
        )
        .value(
            serde_json::to_value(domain.join_policy)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        );
        forms.push(form(
            cookie,
            path("/domains/policy"),
            None,
            vec![id.clone(), policy],
            step.text("pow_organizations_set_policy"),
        ));
        forms.push(button(
            cookie,
            path("/domains/remove"),
            vec![id],
            &about,
            step.text("pow_organizations_remove"),
        ));
    }
    forms.push(form(
        cookie,
        path("/domains"),
        None,
        vec![input(
            step,
            "domain",
            "pow_organizations_domain",
            FieldType::Text,
        )],
        step.text("pow_organizations_add_domain"),
    ));
}

pub(super) fn domain_refusal(
    step: &Step,
    client: &mut dyn Client,
    invalid: domains::Invalid,
) -> Answer {
    let key = match invalid {
        domains::Invalid::Domain => "pow_organizations_invalid_domain",
        domains::Invalid::Claimed => "pow_organizations_domain_claimed",
        domains::Invalid::NotProven => "pow_organizations_domain_not_proven",
        domains::Invalid::Taken => "pow_organizations_domain_taken",
    };
    client.flash(FlashKind::Error, Some(step.text(key)));
    Answer::Redirect(org_path(step, &step.path_param("slug"), ""))
}

/// Back to the organization's page with the `done` text, a refusal, or what was wrong with
/// the domain.
fn domain_back<T>(
    step: &Step,
    client: &mut dyn Client,
    outcome: Result<T, Result<Refused, domains::Invalid>>,
    done: &str,
) -> Answer {
    match outcome {
        Ok(_) => back(step, client, Ok(()), done),
        Err(Ok(refused)) => back(step, client, Err(refused), ""),
        Err(Err(invalid)) => domain_refusal(step, client, invalid),
    }
}

/// `POST /organizations/{slug}/domains`.
pub(super) async fn add_domain(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let domain = form_value(step, "domain");
    let outcome = domains::add(&step.config, &user, &step.path_param("slug"), &domain).await?;
    Ok(domain_back(
        step,
        client,
        outcome,
        "pow_organizations_domain_added",
    ))
}

/// `POST /organizations/{slug}/domains/verify`.
pub(super) async fn verify_domain(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let id = form_value(step, "id");
    let outcome = domains::verify(&step.config, &user, &step.path_param("slug"), &id).await?;
    Ok(domain_back(
        step,
        client,
        outcome,
        "pow_organizations_domain_verified",
    ))
}

/// `POST /organizations/{slug}/domains/policy`.
pub(super) async fn domain_policy(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let id = form_value(step, "id");
    let Some(policy) = JoinPolicy::parse(form_value(step, "join_policy").trim()) else {
        client.flash(
            FlashKind::Error,
            Some(step.text("pow_organizations_invalid_policy")),
        );
        return Ok(Answer::Redirect(org_path(
            step,
            &step.path_param("slug"),
            "",
        )));
    };
    let outcome =
        domains::set_policy(&step.config, &user, &step.path_param("slug"), &id, policy).await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_policy_changed",
    ))
}

/// `POST /organizations/{slug}/domains/remove`.
pub(super) async fn remove_domain(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let id = form_value(step, "id");
    let outcome = domains::remove(&step.config, &user, &step.path_param("slug"), &id).await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_domain_removed",
    ))
}

/// The answer of joining, or of an approval.
pub(super) fn joining(
    step: &Step,
    client: &mut dyn Client,
    outcome: Result<Joining, Refused>,
    to: String,
) -> Answer {
    match outcome {
        Ok(Joining::Joined(membership)) => {
            client.flash(FlashKind::Info, Some(step.text("pow_organizations_joined")));
            Answer::Redirect(if to.is_empty() {
                org_path(step, &membership.organization.slug, "")
            } else {
                to
            })
        }
        Ok(Joining::Requested) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_join_requested")),
            );
            Answer::Redirect(list_path(step))
        }
        Ok(Joining::Full) => {
            client.flash(FlashKind::Error, Some(refusal_text(step, Refused::Full)));
            Answer::Redirect(if to.is_empty() { list_path(step) } else { to })
        }
        Err(refused) => {
            client.flash(FlashKind::Error, Some(refusal_text(step, refused)));
            Answer::Redirect(list_path(step))
        }
    }
}

/// `POST /organizations/{slug}/join`: through the domain of the user's proven address.
pub(super) async fn join(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let outcome = domains::join(&step.config, &user, &step.path_param("slug")).await?;
    Ok(joining(step, client, outcome, String::new()))
}

/// `POST /organizations/{slug}/requests/approve`.
pub(super) async fn approve(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let outcome = domains::decide(&step.config, &user, &slug, target(step), true).await?;
    let to = org_path(step, &slug, "");
    Ok(match outcome {
        Ok(Some(Joining::Joined(_))) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_request_approved")),
            );
            Answer::Redirect(to)
        }
        Ok(Some(joined)) => joining(step, client, Ok(joined), to),
        Ok(None) => back(step, client, Ok(()), "pow_organizations_joined"),
        Err(refused) => back(step, client, Err(refused), ""),
    })
}

/// `POST /organizations/{slug}/requests/deny`.
pub(super) async fn deny(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let outcome = domains::decide(&step.config, &user, &slug, target(step), false).await?;
    Ok(back(
        step,
        client,
        outcome.map(|_| ()),
        "pow_organizations_join_denied",
    ))
}
