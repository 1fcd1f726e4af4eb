//! The list of the user's organizations (create, switch) and one organization's page.

use super::*;

/// The list page; `errors` are a refused create form's.
pub(super) fn list_page(
    step: &Step,
    cookie: &CookieSession,
    memberships: &[Membership],
    active: Option<&str>,
    joinable: &[(Organization, JoinPolicy)],
    errors: &[(&'static str, String)],
) -> Page {
    let errors_of = |name: &str| {
        errors
            .iter()
            .filter(|(field, _)| *field == name)
            .map(|(_, text)| text.clone())
            .collect::<Vec<_>>()
    };
    let create = form(
        cookie,
        list_path(step),
        None,
        vec![
            input(step, "name", "pow_organizations_name", FieldType::Text)
                .errors(errors_of("name")),
            input(step, "slug", "pow_organizations_slug", FieldType::Text)
                .errors(errors_of("slug")),
        ],
        step.text("pow_organizations_create"),
    );
    let switch = step.text("pow_organizations_switch");
    let mut extra_forms: Vec<Form> = memberships
        .iter()
        .map(|m| {
            let mut about = format!(
                "{} ({}): {}",
                m.organization.name, m.organization.slug, m.role
            );
            if active == Some(m.organization.id.as_str()) {
                about = format!("{about} — {}", step.text("pow_organizations_active"));
            }
            let path = extension_path(&step.config, NAME, "/organizations/switch", &[]);
            button(
                cookie,
                path,
                vec![hidden("slug", m.organization.slug.clone())],
                &about,
                switch.clone(),
            )
        })
        .collect();
    for (org, policy) in joinable {
        let label = match policy {
            JoinPolicy::Automatic => step.text("pow_organizations_join"),
            _ => step.text("pow_organizations_ask_to_join"),
        };
        let about = format!("{}: {}", step.text("pow_organizations_joinable"), org.name);
        extra_forms.push(button(
            cookie,
            org_path(step, &org.slug, "/join"),
            Vec::new(),
            &about,
            label,
        ));
    }
    let links = memberships
        .iter()
        .map(|m| {
            Link::new(
                org_path(step, &m.organization.slug, ""),
                m.organization.name.clone(),
            )
        })
        .collect();
    let mut page = Page::new(
        PAGE,
        "pow_organizations_title",
        PageBody::Form {
            form: create,
            links,
            extra_forms,
        },
    );
    if memberships.is_empty() {
        page.info = Some(step.text("pow_organizations_none"));
    }
    page
}

/// `GET /organizations`.
pub(super) async fn index(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let memberships = flows::memberships(&step.config, &user).await?;
    let active = active::current(&step.config, &user, &fingerprint(client)).await?;
    let active = active.map(|m| m.organization.id);
    let joinable = domains::joinable(&step.config, &user).await?;
    Ok(Answer::render(move |step, cookie| {
        Ok(list_page(
            step,
            cookie,
            &memberships,
            active.as_deref(),
            &joinable,
            &[],
        ))
    }))
}

/// `POST /organizations`: creates one, then shows it.
pub(super) async fn create(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let name = step.params.get("name").cloned().unwrap_or_default();
    let slug = step.params.get("slug").cloned().unwrap_or_default();
    match flows::create(&step.config, &user, &name, &slug).await? {
        Ok(org) => {
            client.flash(
                FlashKind::Info,
                Some(step.text("pow_organizations_created")),
            );
            Ok(Answer::Redirect(org_path(step, &org.slug, "")))
        }
        Err(refused) => {
            let memberships = flows::memberships(&step.config, &user).await?;
            let (field, key) = match refused {
                Invalid::Name => ("name", "pow_organizations_invalid_name"),
                Invalid::Slug => ("slug", "pow_organizations_invalid_slug"),
                Invalid::SlugTaken => ("slug", "pow_organizations_slug_taken"),
            };
            Ok(Answer::render(move |step, cookie| {
                let errors = [(field, step.text(key))];
                Ok(list_page(step, cookie, &memberships, None, &[], &errors).with_status(422))
            }))
        }
    }
}

/// `POST /organizations/switch`.
pub(super) async fn switch(
    step: &mut Step,
    client: &mut dyn Client,
    _: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.params.get("slug").cloned().unwrap_or_default();
    let fingerprint = fingerprint(client);
    match active::switch(&step.config, &user, &fingerprint, &slug).await? {
        Some(_) => client.flash(
            FlashKind::Info,
            Some(step.text("pow_organizations_switched")),
        ),
        None => client.flash(
            FlashKind::Error,
            Some(refusal_text(step, Refused::NotFound)),
        ),
    }
    Ok(Answer::Redirect(list_path(step)))
}

/// What the organization's page shows.
pub(super) struct Shown {
    membership: Membership,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    teams: Option<Vec<crate::teams::Team>>,
    domains: Option<Vec<Domain>>,
    requests: Option<Vec<JoinRequest>>,
    settings: Organizations,
    user_id: i64,
}

pub(super) fn org_page(step: &Step, cookie: &CookieSession, shown: &Shown) -> Page {
    let org = &shown.membership.organization;
    let role = &shown.membership.role;
    let may = |permission: &str| shown.settings.allows(role, permission);
    let path = |action: &str| org_path(step, &org.slug, action);
    let mut extra_forms = Vec::new();
    let remove = step.text("pow_organizations_remove");
    let change = step.text("pow_organizations_change_role");
    for member in &shown.members {
        let who = member
            .email
            .clone()
            .unwrap_or_else(|| member.user_id.to_string());
        let about = format!("{who}: {}", member.role);
        if may(permission::MANAGE_MEMBERS) && member.user_id != shown.user_id {
            let id = hidden("user_id", member.user_id.to_string());
            let role_field = Field::new(
                "role",
                format!("{about} — {}", step.text("pow_organizations_role")),
                FieldType::Text,
            )
            .value(member.role.clone());
            extra_forms.push(form(
                cookie,
                path("/role"),
                None,
                vec![id.clone(), role_field],
                change.clone(),
            ));
            extra_forms.push(button(
                cookie,
                path("/remove"),
                vec![id],
                &about,
                remove.clone(),
            ));
        } else {
            extra_forms.push(form(
                cookie,
                String::new(),
                None,
                vec![Field::note("about", about)],
                String::new(),
            ));
        }
    }
    if may(permission::INVITE) {
        let roles = shown
            .settings
            .roles()
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        extra_forms.push(form(
            cookie,
            path("/invite"),
            None,
            vec![
                input(step, "email", "pow_organizations_email", FieldType::Email),
                Field::new(
                    "role",
                    format!("{} ({roles})", step.text("pow_organizations_role")),
                    FieldType::Text,
                )
                .value(crate::MEMBER),
            ],
            step.text("pow_organizations_invite"),
        ));
        let revoke = step.text("pow_organizations_revoke");
        let resend = step.text("pow_organizations_resend");
        for invitation in &shown.invitations {
            let about = format!(
                "{} ({}) — {}",
                invitation.email,
                invitation.role,
                step.text("pow_organizations_invited")
            );
            let id = hidden("id", invitation.id.clone());
            extra_forms.push(button(
                cookie,
                path("/resend"),
                vec![id.clone()],
                &about,
                resend.clone(),
            ));
            extra_forms.push(button(
                cookie,
                path("/revoke"),
                vec![id],
                &about,
                revoke.clone(),
            ));
        }
    }
    if may(permission::UPDATE) {
        extra_forms.push(form(
            cookie,
            path("/rename"),
            None,
            vec![
                Field::new("name", step.text("pow_organizations_name"), FieldType::Text)
                    .value(org.name.clone()),
            ],
            step.text("pow_organizations_rename"),
        ));
    }
    extra_forms.push(button(
        cookie,
        path("/leave"),
        Vec::new(),
        &org.name,
        step.text("pow_organizations_leave"),
    ));
    if may(permission::CLOSE) {
        extra_forms.push(button(
            cookie,
            path("/close"),
            Vec::new(),
            &org.name,
            step.text("pow_organizations_close"),
        ));
    }
    let mut links = vec![Link::new(
        list_path(step),
        step.text("pow_organizations_title"),
    )];
    // The organization's API keys, served by pow-ext-api-keys when it is enabled.
    if may(permission::MANAGE_API_KEYS) && step.config.extensions().contains("pow_api_keys") {
        links.push(Link::new(
            path("/api-keys"),
            step.text("pow_organizations_api_keys"),
        ));
    }
    if let Some(teams) = &shown.teams {
        for team in teams {
            let label = format!("{}: {}", step.text("pow_organizations_team"), team.name);
            links.push(Link::new(team_path(step, &org.slug, &team.id, ""), label));
        }
        if may(permission::MANAGE_TEAMS) {
            extra_forms.push(form(
                cookie,
                path("/teams"),
                None,
                vec![input(
                    step,
                    "name",
                    "pow_organizations_team_name",
                    FieldType::Text,
                )],
                step.text("pow_organizations_create_team"),
            ));
        }
    }
    if let Some(domains) = &shown.domains {
        domain_forms(step, cookie, &org.slug, domains, &mut extra_forms);
    }
    if let Some(requests) = &shown.requests {
        let (approve, deny) = (
            step.text("pow_organizations_approve"),
            step.text("pow_organizations_deny"),
        );
        for request in requests {
            let who = request
                .email
                .clone()
                .unwrap_or_else(|| request.user_id.to_string());
            let about = format!("{}: {who}", step.text("pow_organizations_join_requests"));
            let id = hidden("user_id", request.user_id.to_string());
            extra_forms.push(button(
                cookie,
                path("/requests/approve"),
                vec![id.clone()],
                &about,
                approve.clone(),
            ));
            extra_forms.push(button(
                cookie,
                path("/requests/deny"),
                vec![id],
                &about,
                deny.clone(),
            ));
        }
    }
    let mut page = Page::new(
        ORGANIZATION_PAGE,
        "pow_organizations_title",
        PageBody::Form {
            form: form(cookie, String::new(), None, Vec::new(), String::new()),
            links,
            extra_forms,
        },
    );
    page.info = Some(format!("{} ({}): {}", org.name, org.slug, role));
    page
}

/// `GET /organizations/{slug}`: a member's view.
pub(super) async fn show(
    step: &mut Step,
    client: &mut dyn Client,
    ext: &Organizations,
) -> Result<Answer, PowError> {
    let user = step.signed_in()?.clone();
    let slug = step.path_param("slug");
    let Some(membership) = flows::membership(&step.config, &user, &slug).await? else {
        client.flash(
            FlashKind::Error,
            Some(refusal_text(step, Refused::NotFound)),
        );
        return Ok(Answer::Stop(list_path(step)));
    };
    let members = flows::members(&step.config, &user, &slug)
        .await?
        .unwrap_or_default();
    let invitations = flows::invitations(&step.config, &user, &slug)
        .await?
        .unwrap_or_default();
    let teams = crate::teams::list(&step.config, &user, &slug).await?.ok();
    let domains = domains::list(&step.config, &user, &slug).await?.ok();
    let requests = domains::requests(&step.config, &user, &slug).await?.ok();
    let shown = Shown {
        membership,
        members,
        invitations,
        teams,
        domains,
        requests,
        settings: ext.clone(),
        user_id: user.id,
    };
    Ok(Answer::render(move |step, cookie| {
        Ok(org_page(step, cookie, &shown))
    }))
}
