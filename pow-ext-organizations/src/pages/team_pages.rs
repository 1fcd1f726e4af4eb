//! An organization's teams: their pages and changes.

use super::*;

pub(super) fn team_path(step: &Step, slug: &str, team: &str, action: &str) -> String {
    extension_path(&step.config, NAME, TEAM, &[("slug", slug), ("team", team)]) + action
}

/// Redirects to the team's page, with the outcome's flash.
pub(super) fn back_to_team(
    step: &Step,
    client: &mut dyn Client,
    outcome: Result<(), Refused>,
    done: &str,
) -> Answer {
    match outcome {
        Ok(()) => {
            client.flash(FlashKind::Info, Some(step.text(done)));
            let (slug, team) = (step.path_param("slug"), step.path_param("team"));
            Answer::Redirect(team_path(step, &slug, &team, ""))
        }
        Err(refused) => {
            client.flash(FlashKind::Error, Some(refusal_text(step, refused)));
            Answer::Redirect(org_path(step, &step.path_param("slug"), ""))
        }
    }
}

/// `POST /organizations/{slug}/teams`: creates a team, then shows it.
pub(super) async fn create_team(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let name = form_value(step, "name");
    match crate::teams::create(&step.config, &user, &slug, &name).await? {
        Ok(team) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_team_created")),
            );
            Ok(Answer::Redirect(team_path(step, &slug, &team.id, "")))
        }
        Err(Ok(refused)) => Ok(back(step, client, Err(refused), "")),
        Err(Err(invalid)) => {
            let key = match invalid {
                crate::teams::Invalid::Name => "pow_organizations_invalid_team_name",
                crate::teams::Invalid::Taken => "pow_organizations_team_taken",
                crate::teams::Invalid::Full => "pow_organizations_full",
            };
            client.flash(FlashKind::Error, Some(step.text(key)));
            Ok(Answer::Redirect(org_path(step, &slug, "")))
        }
    }
}

/// `GET /organizations/{slug}/teams/{team}`: its members, with the forms the viewer may use.
pub(super) async fn team(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let (slug, team_id) = (step.path_param("slug"), step.path_param("team"));
    let teams = crate::teams::list(&step.config, &user, &slug).await?;
    let Some(team) = teams
        .ok()
        .and_then(|teams| teams.into_iter().find(|t| t.id == team_id))
    else {
        client.flash(
            FlashKind::Error,
            Some(refusal_text(step, Refused::NotFound)),
        );
        return Ok(Answer::Stop(list_path(step)));
    };
    let members = crate::teams::members(&step.config, &user, &slug, &team_id)
        .await?
        .unwrap_or_default();
    let Some(membership) = flows::membership(&step.config, &user, &slug).await? else {
        return Ok(Answer::Stop(list_path(step)));
    };
    let may = Manages {
        members: crate::teams::manages(&step.config, &membership, user.id, &team_id).await?,
        team: ext.allows(&membership.role, permission::MANAGE_TEAMS),
        viewer: user.id,
    };
    let roles = ext
        .team_roles()
        .iter()
        .map(|r| r.name.clone())
        .collect::<Vec<_>>();
    Ok(Answer::render(move |step, cookie| {
        Ok(team_page(
            step, cookie, &slug, &team, &members, &roles, &may,
        ))
    }))
}

/// What the viewer of a team's page may do.
pub(super) struct Manages {
    /// Manage its members (`teams:manage`, or its lead).
    members: bool,
    /// Delete it (`teams:manage`).
    team: bool,
    /// The viewer's id: they may leave.
    viewer: i64,
}

pub(super) fn team_page(
    step: &Step,
    cookie: &CookieSession,
    slug: &str,
    team: &crate::teams::Team,
    members: &[Member],
    roles: &[String],
    may: &Manages,
) -> Page {
    let path = |action: &str| team_path(step, slug, &team.id, action);
    let remove = step.text("pow_organizations_remove");
    let leave = step.text("pow_organizations_leave");
    let mut extra_forms: Vec<Form> = members
        .iter()
        .map(|member| {
            let who = member
                .email
                .clone()
                .unwrap_or_else(|| member.user_id.to_string());
            let about = format!("{who}: {}", member.role);
            let id = hidden("user_id", member.user_id.to_string());
            if member.user_id == may.viewer {
                button(cookie, path("/remove"), vec![id], &about, leave.clone())
            } else if may.members {
                button(cookie, path("/remove"), vec![id], &about, remove.clone())
            } else {
                form(
                    cookie,
                    String::new(),
                    None,
                    vec![Field::note("about", about)],
                    String::new(),
                )
            }
        })
        .collect();
    if may.team {
        extra_forms.push(button(
            cookie,
            path("/delete"),
            Vec::new(),
            &team.name,
            step.text("pow_organizations_delete_team"),
        ));
    }
    let add = if !may.members {
        form(cookie, String::new(), None, Vec::new(), String::new())
    } else {
        form(
            cookie,
            path("/members"),
            None,
            vec![
                input(step, "email", "pow_organizations_email", FieldType::Email),
                Field::new(
                    "role",
                    format!(
                        "{} ({})",
                        step.text("pow_organizations_role"),
                        roles.join(" ")
                    ),
                    FieldType::Text,
                )
                .value(crate::TEAM_MEMBER),
            ],
            step.text("pow_organizations_set_team_role"),
        )
    };
    let mut page = Page::new(
        TEAM_PAGE,
        "pow_organizations_team",
        PageBody::Form {
            form: add,
            links: vec![Link::new(org_path(step, slug, ""), slug.to_owned())],
            extra_forms,
        },
    );
    page.info = Some(team.name.clone());
    page
}

/// `POST /organizations/{slug}/teams/{team}/members`: puts the organization's member of the
/// form's address in the team with the form's role (or changes their role).
pub(super) async fn set_team_role(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let (slug, team) = (step.path_param("slug"), step.path_param("team"));
    let email = form_value(step, "email").trim().to_lowercase();
    let members = flows::members(&step.config, &user, &slug)
        .await?
        .unwrap_or_default();
    let target = members
        .iter()
        .find(|m| {
            m.email
                .as_deref()
                .is_some_and(|own| own.eq_ignore_ascii_case(&email))
        })
        .map_or(0, |m| m.user_id);
    let role = form_value(step, "role");
    let outcome = crate::teams::set_role(&step.config, &user, &slug, &team, target, &role).await?;
    Ok(back_to_team(
        step,
        client,
        outcome,
        "pow_organizations_role_changed",
    ))
}

/// `POST /organizations/{slug}/teams/{team}/remove`.
pub(super) async fn remove_team_member(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let (slug, team) = (step.path_param("slug"), step.path_param("team"));
    let outcome = crate::teams::remove(&step.config, &user, &slug, &team, target(step)).await?;
    Ok(back_to_team(
        step,
        client,
        outcome,
        "pow_organizations_removed",
    ))
}

/// `POST /organizations/{slug}/teams/{team}/delete`: back to the organization.
pub(super) async fn delete_team(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let (slug, team) = (step.path_param("slug"), step.path_param("team"));
    let outcome = crate::teams::delete(&step.config, &user, &slug, &team).await?;
    Ok(back(
        step,
        client,
        outcome,
        "pow_organizations_team_deleted",
    ))
}
