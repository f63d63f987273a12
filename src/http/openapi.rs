//! The OpenAPI 3.1 document of the whole HTTP interface, generated from the code: the
//! schemas are derived from the views the handlers answer with (and the bodies they read),
//! the operations are declared here, one per route, next to each other so that the API can be
//! read in one place. `GET /api/openapi.json` serves it, `/api/docs/` shows it (Swagger UI,
//! served from the registry package, nothing from a CDN).
//!
//! Every operation also gets the problem answers that the edge can give to any request of its
//! kind (see [`StandardProblems`]): a test checks that every route [`super::configure`]
//! registers is described here, and nothing else.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::backoffice::system::SystemFilter;
use crate::http::extract::AppState;
use crate::http::problem::{ApiError, Problem, ProblemType, PROBLEM_CONTENT_TYPE};

/// The security scheme of every authenticated operation: the session cookie.
pub const SESSION: &str = "session";
/// The security scheme of the machine-to-machine API: an API token as a bearer credential;
/// each operation lists the one scope it needs.
pub const API_TOKEN: &str = "api_token";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sportello",
        description = "Sportello online del cittadino: catalogo dei servizi, istanze dei \
                       cittadini, code degli uffici, accesso con SPID, CIE e SSO degli operatori. \
                       Every error is an RFC 9457 problem (`application/problem+json`) with a \
                       stable `type`; see docs/api.md.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    paths(
        health_live,
        health_ready,
        openapi_json,
        api_docs,
        me,
        logout,
        dev_login,
        spid_metadata,
        spid_idps,
        spid_login,
        spid_acs,
        spid_logout,
        spid_slo_redirect,
        spid_slo_post,
        cie_entity_configuration,
        cie_providers,
        cie_login,
        cie_callback,
        cie_logout,
        staff_login,
        staff_callback,
        list_services,
        get_service,
        list_categories,
        list_services_of,
        get_service_of,
        create_instance,
        show_instance,
        patch_instance,
        discard_instance,
        upload_attachments,
        remove_attachment,
        submit_instance,
        rate_instance,
        my_instances,
        my_instance,
        receipt,
        download_attachment,
        withdraw_instance,
        answer_integration,
        citizen_upload_document,
        citizen_document,
        office_queue,
        staff_instance,
        staff_take,
        staff_assign,
        staff_hand_over,
        staff_note,
        staff_message,
        staff_refusal_notice,
        staff_integration_request,
        staff_decision,
        staff_close,
        staff_upload_document,
        staff_document,
        staff_attachment,
        register_list,
        register_entry,
        register_classify,
        register_file,
        register_review,
        register_segnatura,
        register_titolario,
        register_fascicoli,
        register_open_fascicolo,
        register_annul,
        daily_registers,
        daily_register_document,
        outbox,
        outbox_retry,
        admin_audit,
        admin_tokens,
        admin_token_create,
        admin_token_revoke,
        integration_instances,
        integration_instance,
        integration_attachment,
        integration_document,
        integration_registrations,
        integration_services,
        integration_service,
        integration_change_service,
        admin_export,
        procedure_times,
        ratings,
        foia_register,
        staff_counterparties,
        staff_counterparty_answer,
        staff_foia,
        staff_foia_public_subject,
        foia_reviews,
        foia_review_decision,
        citizen_foia,
        citizen_review,
        booking_availability,
        booking_join_waitlist,
        booking_book,
        booking_mine,
        personal_data,
        booking_show,
        booking_ical,
        booking_cancel,
        booking_checkout,
        booking_notice,
        booking_move,
        booking_agenda,
        booking_payments_report,
        booking_staff_cancel,
        booking_attendance,
    ),
    components(schemas(Problem, OutboxStatus)),
    modifiers(&StandardProblems, &ResponseLinks),
    tags(
        (name = "health", description = "Liveness and readiness"),
        (name = "auth", description = "Login and logout: SPID, CIE, staff single sign-on"),
        (name = "catalog", description = "The ente's services (public)"),
        (name = "instances", description = "The citizen's instances (istanze)"),
        (name = "backoffice", description = "Office staff"),
        (name = "foia", description = "Access requests (FOIA): counter-interested parties, review (riesame), the public register's subject line"),
        (name = "booking", description = "Appointments at an office's desk: availability, bookings, waiting lists, the office's agenda"),
        (name = "transparency", description = "What the ente publishes about its work (public, JSON or CSV)"),
        (name = "protocol", description = "The protocol register, for its clerks"),
        (name = "admin", description = "The ente's administrators"),
        (name = "integration", description = "The ente's other systems, with an API token (`Authorization: Bearer`); each operation names the scope it needs"),
        (name = "docs", description = "This document"),
    )
)]
pub struct ApiDoc;

/// The document as served: the session cookie named as configured.
pub fn document(cookie_name: &str) -> Document {
    let mut doc = ApiDoc::openapi();
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            cookie_name,
            "The session opened by a login (SPID, CIE, staff single sign-on, or the \
             development login where enabled). Citizen operations need a citizen's session, \
             office and admin operations a staff member's.",
        ))),
    );
    let scopes: Vec<String> = crate::tokens::Scope::ALL
        .iter()
        .map(|s| format!("`{}` ({})", s.as_str(), s.description()))
        .collect();
    components.add_security_scheme(
        API_TOKEN,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("spt_ followed by 64 hex digits")
                .description(Some(format!(
                    "An API token an administrator of the ente created \
                     (`POST /api/v1/admin/tokens`), valid only on that ente's host. Scopes: {}.",
                    scopes.join("; ")
                )))
                .build(),
        ),
    );
    doc
}

/// Adds to every operation the problems the edge may answer to any request like it:
/// 500/503 always; 400 when it reads parameters or a body; 401 when it needs a session;
/// 404 when its path names something; 408, 413, 415 and 429 when it reads a body.
pub struct StandardProblems;

fn problem_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_CONTENT_TYPE,
                Content::new(Some(Ref::from_schema_name("Problem"))),
            )
            .build(),
    )
}

impl Modify for StandardProblems {
    fn modify(&self, doc: &mut Document) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops: [Option<&mut Operation>; 5] = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.patch.as_mut(),
                item.delete.as_mut(),
                item.put.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                let params = op.parameters.as_deref().unwrap_or_default();
                let has_query = params
                    .iter()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                let has_body = op.request_body.is_some();
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let mut add = vec![
                    ("500", ProblemType::Internal, "Errore interno (problem)"),
                    (
                        "503",
                        ProblemType::Unavailable,
                        "Servizio non disponibile (problem)",
                    ),
                ];
                if has_query || has_body || path.contains('{') {
                    add.push((
                        "400",
                        ProblemType::BadRequest,
                        "Richiesta non valida (problem)",
                    ));
                }
                if secured {
                    add.push((
                        "401",
                        ProblemType::Unauthorized,
                        "Accesso richiesto (problem)",
                    ));
                }
                if path.contains('{') {
                    add.push(("404", ProblemType::NotFound, "Non trovato (problem)"));
                }
                if has_body {
                    add.push((
                        "408",
                        ProblemType::RequestTimeout,
                        "Corpo troppo lento (problem)",
                    ));
                    add.push((
                        "413",
                        ProblemType::PayloadTooLarge,
                        "Corpo troppo grande (problem)",
                    ));
                    add.push((
                        "415",
                        ProblemType::UnsupportedMediaType,
                        "Formato non supportato (problem)",
                    ));
                    add.push((
                        "429",
                        ProblemType::TooManyRequests,
                        "Troppe richieste (problem)",
                    ));
                }
                for (status, kind, description) in add {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            problem_response(&format!("{description}: `{}`", kind.slug()))
                        });
                }
            }
        }
    }
}

/// OpenAPI links from the answers that create something to the operations on it (what a
/// client, and schemathesis' stateful phase, follows): a new draft's `id`, a new
/// attachment's `id`.
pub struct ResponseLinks;

impl Modify for ResponseLinks {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::link::LinkBuilder;
        let link = |operation: &str, params: &[(&str, &str)]| {
            let mut b = LinkBuilder::new().operation_id(operation);
            for (name, value) in params {
                b = b.parameter(*name, *value);
            }
            RefOr::T(b.build())
        };
        let mut add = |path: &str, status: &str, links: Vec<(&str, RefOr<_>)>| {
            let Some(item) = doc.paths.paths.get_mut(path) else {
                return;
            };
            let Some(op) = item.post.as_mut().or(item.get.as_mut()) else {
                return;
            };
            if let Some(RefOr::T(res)) = op.responses.responses.get_mut(status) {
                for (name, l) in links {
                    res.links.insert(name.to_owned(), l);
                }
            }
        };
        // A draft of the service shown. (Not from the list: filtered by a category it can be
        // empty, and a link that resolves to nothing is an error for the stateful phase.)
        add(
            "/api/v1/services/{slug}",
            "200",
            vec![(
                "apply",
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id("create_instance")
                        .request_body(Some(serde_json::json!({
                            "service": "$response.body#/slug"
                        })))
                        .build(),
                ),
            )],
        );
        let draft = [("id", "$response.body#/id")];
        add(
            "/api/v1/instances",
            "201",
            vec![
                ("show", link("show_instance", &draft)),
                ("patch", link("patch_instance", &draft)),
                ("upload", link("upload_attachments", &draft)),
                ("submit", link("submit_instance", &draft)),
                ("personal_area", link("my_instance", &draft)),
                ("discard", link("discard_instance", &draft)),
            ],
        );
        let attachment = [
            ("id", "$request.path.id"),
            ("attachment", "$response.body#/attachments/0/id"),
        ];
        add(
            "/api/v1/instances/{id}/attachments",
            "201",
            vec![
                ("download", link("download_attachment", &attachment)),
                ("remove", link("remove_attachment", &attachment)),
            ],
        );
        let submitted = [("id", "$response.body#/id")];
        add(
            "/api/v1/instances/{id}/submit",
            "201",
            vec![("receipt", link("receipt", &submitted))],
        );
    }
}

/// The document as JSON. utoipa 5.5 writes a link's `operationId` and `requestBody` in snake
/// case (`operation_id`), which no OpenAPI reader knows: they are renamed here.
pub fn document_json(cookie_name: &str) -> serde_json::Value {
    let mut json = serde_json::to_value(document(cookie_name)).unwrap_or_default();
    let links = json
        .get_mut("paths")
        .and_then(|p| p.as_object_mut())
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|responses| responses.values_mut())
        .filter_map(|res| res.get_mut("links").and_then(|l| l.as_object_mut()))
        .flat_map(|links| links.values_mut())
        .filter_map(|link| link.as_object_mut());
    for link in links {
        for (from, to) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
            ("request_body", "requestBody"),
        ] {
            if let Some(v) = link.remove(from) {
                link.insert(to.to_owned(), v);
            }
        }
    }
    json
}

/// `GET /api/openapi.json` — this document.
pub async fn serve_document(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .json(document_json(state.sessions.cookie_name()))
}

/// `GET /api/docs` — to the viewer's page.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, "/api/docs/"))
        .finish()
}

/// `GET /api/docs/{file}` — the viewer (Swagger UI) reading `/api/openapi.json`.
pub async fn docs_file(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let tail = req.match_info().query("file");
    let config = Arc::new(
        utoipa_swagger_ui::Config::from("/api/openapi.json")
            .try_it_out_enabled(false)
            .display_operation_id(false),
    );
    match utoipa_swagger_ui::serve(tail, config) {
        Ok(Some(file)) => Ok(HttpResponse::Ok()
            .content_type(file.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
            .body(file.bytes.into_owned())),
        Ok(None) => Err(ApiError::NotFound),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
            "the API viewer's file {tail:?} cannot be served: {e}"
        ))),
    }
}

// ---- The operations. Each function only carries its description (utoipa's `path`). ----

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, body = crate::http::health::Live)))]
#[allow(dead_code)]
fn health_live() {}

/// The instance can serve: the database answers and its schema is current.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, body = crate::http::health::Ready)))]
#[allow(dead_code)]
fn health_ready() {}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/openapi.json", tag = "docs",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object)))]
#[allow(dead_code)]
fn openapi_json() {}

/// The document in a browser (Swagger UI): redirects to `/api/docs/`.
#[utoipa::path(get, path = "/api/docs", tag = "docs",
    responses((status = 302, description = "To `/api/docs/`, the viewer's page")))]
#[allow(dead_code)]
fn api_docs() {}

/// Who is logged in.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", security(("session" = [])),
    responses((status = 200, body = crate::auth::view::SessionView)))]
#[allow(dead_code)]
fn me() {}

/// Ends the session here and clears the cookie (always 204).
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out (or there was no session)")))]
#[allow(dead_code)]
fn logout() {}

/// Development login (demo and test configurations only; the route does not exist in
/// production): opens the session a SPID/CIE login or a staff SSO would.
#[utoipa::path(post, path = "/auth/dev/login", tag = "auth",
    request_body = crate::http::auth::DevLoginRequest,
    responses(
        (status = 200, body = crate::auth::view::SessionView,
            headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 422, description = "Invalid codice fiscale, level or staff user", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn dev_login() {}

/// The SPID service provider's signed SAML metadata (when SPID is enabled).
#[utoipa::path(get, path = "/spid/metadata", tag = "auth",
    responses(
        (status = 200, description = "Signed metadata", content_type = "application/samlmetadata+xml", body = String),
        (status = 404, description = "SPID is not enabled", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn spid_metadata() {}

/// The SPID identity providers for the "Entra con SPID" button.
#[utoipa::path(get, path = "/api/v1/auth/spid/idps", tag = "auth",
    responses((status = 200, body = crate::auth::view::IdpList)))]
#[allow(dead_code)]
fn spid_idps() {}

/// Starts a SPID login: a signed AuthnRequest to the chosen IdP (HTTP-Redirect binding).
#[utoipa::path(get, path = "/spid/login", tag = "auth",
    params(
        ("idp" = Option<String>, Query, description = "The IdP's entityID (one of `/api/v1/auth/spid/idps`)"),
        ("next" = Option<String>, Query, description = "A local path to go to after the login"),
        ("level" = Option<String>, Query, description = "The SPID level asked for: 1, 2 or 3"),
    ),
    responses(
        (status = 303, description = "To the IdP, with the AuthnRequest"),
        (status = 404, description = "SPID is not enabled", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn spid_login() {}

/// The SPID Assertion Consumer Service (HTTP-POST binding): checks the IdP's Response and
/// opens the citizen's session.
#[utoipa::path(post, path = "/spid/acs", tag = "auth",
    request_body(content = inline(AcsForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Logged in: on to the login's `next`",
            headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 403, description = "Login refused (`spid-*` problems, `login-browser-mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "SPID is not enabled", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn spid_acs() {}

/// Ends the session; a SPID session also goes to its IdP with a signed LogoutRequest.
#[utoipa::path(post, path = "/spid/logout", tag = "auth",
    responses(
        (status = 303, description = "To the IdP's single logout, or to the page after logout"),
    ))]
#[allow(dead_code)]
fn spid_logout() {}

/// SPID single logout, HTTP-Redirect binding: a LogoutRequest or LogoutResponse of an IdP.
#[utoipa::path(get, path = "/spid/slo", tag = "auth",
    params(
        ("SAMLRequest" = Option<String>, Query),
        ("SAMLResponse" = Option<String>, Query),
        ("RelayState" = Option<String>, Query),
        ("SigAlg" = Option<String>, Query),
        ("Signature" = Option<String>, Query),
    ),
    responses(
        (status = 303, description = "The logout answered or completed"),
        (status = 403, description = "Logout message refused (`spid-logout-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "SPID is not enabled", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn spid_slo_redirect() {}

/// SPID single logout, HTTP-POST binding.
#[utoipa::path(post, path = "/spid/slo", tag = "auth",
    request_body(content = inline(SloForm), content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The LogoutResponse to the IdP (an auto-posting form)", content_type = "text/html", body = String),
        (status = 303, description = "The logout completed"),
        (status = 403, description = "Logout message refused (`spid-logout-invalid`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "SPID is not enabled", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn spid_slo_post() {}

/// The CIE relying party's signed entity configuration (OpenID Federation).
#[utoipa::path(get, path = "/.well-known/openid-federation", tag = "auth",
    responses(
        (status = 200, description = "A signed JWT", content_type = "application/entity-statement+jwt", body = String),
        (status = 404, description = "CIE is not enabled", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn cie_entity_configuration() {}

/// The CIE OpenID Providers for the "Entra con CIE" button.
#[utoipa::path(get, path = "/api/v1/auth/cie/providers", tag = "auth",
    responses((status = 200, body = crate::auth::view::CieProviders)))]
#[allow(dead_code)]
fn cie_providers() {}

/// Starts a CIE login: resolves the OP's trust chain and sends the browser to it with a
/// signed request object.
#[utoipa::path(get, path = "/cie/login", tag = "auth",
    params(
        ("op" = Option<String>, Query, description = "The OP's entity id (default: the first offered)"),
        ("next" = Option<String>, Query, description = "A local path to go to after the login"),
        ("level" = Option<String>, Query, description = "The level asked for: 1, 2 or 3"),
    ),
    responses(
        (status = 303, description = "To the OP's authorization endpoint"),
        (status = 404, description = "CIE is not enabled", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The OP cannot be reached or trusted (`cie-provider-untrusted`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn cie_login() {}

/// The CIE OP's answer: code for tokens, ID token and userinfo checked, session opened.
#[utoipa::path(get, path = "/cie/callback", tag = "auth",
    params(
        ("code" = Option<String>, Query), ("state" = Option<String>, Query),
        ("iss" = Option<String>, Query), ("error" = Option<String>, Query),
        ("error_description" = Option<String>, Query),
    ),
    responses(
        (status = 303, description = "Logged in: on to the login's `next`",
            headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 403, description = "Login refused (`login-*`, `cie-*` problems)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "CIE is not enabled", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The OP cannot be reached or trusted", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn cie_callback() {}

/// Ends the session and revokes its CIE access token at the OP.
#[utoipa::path(post, path = "/cie/logout", tag = "auth",
    responses((status = 303, description = "To the page after logout")))]
#[allow(dead_code)]
fn cie_logout() {}

/// Starts the staff single sign-on at the ente's OpenID Provider.
#[utoipa::path(get, path = "/auth/staff/login", tag = "auth",
    params(("next" = Option<String>, Query, description = "A local path to go to after the login")),
    responses(
        (status = 303, description = "To the OP's authorization endpoint"),
        (status = 404, description = "Staff SSO is not enabled", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The OP cannot be reached (`staff-sso-unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_login() {}

/// The staff OP's answer: an active staff member of the ente gets a session.
#[utoipa::path(get, path = "/auth/staff/callback", tag = "auth",
    params(
        ("code" = Option<String>, Query), ("state" = Option<String>, Query),
        ("iss" = Option<String>, Query), ("error" = Option<String>, Query),
        ("error_description" = Option<String>, Query),
    ),
    responses(
        (status = 303, description = "Logged in: on to the login's `next`",
            headers(("set-cookie" = String, description = "The session cookie"))),
        (status = 403, description = "Login refused (`login-*`, `staff-*` problems)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Staff SSO is not enabled", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_callback() {}

/// The published services of the ente of the host name.
#[utoipa::path(get, path = "/api/v1/services", tag = "catalog",
    params(("category" = Option<String>, Query, description = "Only this category (slug)")),
    responses((status = 200, body = crate::catalog::Catalog)))]
#[allow(dead_code)]
fn list_services() {}

/// One published service of the ente of the host name.
#[utoipa::path(get, path = "/api/v1/services/{slug}", tag = "catalog",
    params(("slug" = String, Path, example = "accesso-civico-generalizzato")),
    responses((status = 200, body = crate::catalog::ServiceCard)))]
#[allow(dead_code)]
fn get_service() {}

/// The service categories of the ente of the host name.
#[utoipa::path(get, path = "/api/v1/service-categories", tag = "catalog",
    responses((status = 200, body = crate::catalog::Categories)))]
#[allow(dead_code)]
fn list_categories() {}

/// The published services of an ente, by its code (for portals of several enti).
#[utoipa::path(get, path = "/api/v1/enti/{ente}/services", tag = "catalog",
    params(("ente" = String, Path, description = "The ente's code"),
        ("category" = Option<String>, Query, description = "Only this category (slug)")),
    responses((status = 200, body = crate::catalog::Catalog)))]
#[allow(dead_code)]
fn list_services_of() {}

/// One published service of an ente, by its code.
#[utoipa::path(get, path = "/api/v1/enti/{ente}/services/{slug}", tag = "catalog",
    params(("ente" = String, Path, description = "The ente's code"), ("slug" = String, Path)),
    responses((status = 200, body = crate::catalog::ServiceCard)))]
#[allow(dead_code)]
fn get_service_of() {}

/// A new draft of a service.
#[utoipa::path(post, path = "/api/v1/instances", tag = "instances", security(("session" = [])),
    request_body = crate::http::instances::NewDraft,
    responses(
        (status = 201, body = crate::instances::view::InstanceView,
            headers(("location" = String, description = "The draft's address"))),
        (status = 403, description = "Not a citizen's session (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such service online (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn create_instance() {}

/// One of the citizen's instances (draft or submitted).
#[utoipa::path(get, path = "/api/v1/instances/{id}", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = crate::instances::view::InstanceView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn show_instance() {}

/// Changes the draft's data with a JSON Merge Patch (RFC 7396); values present and wrong are
/// refused, missing ones only reported in the step states.
#[utoipa::path(patch, path = "/api/v1/instances/{id}", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    request_body(content = Object, content_type = "application/merge-patch+json",
        description = "A JSON Merge Patch of the data (`application/json` is accepted too)"),
    responses(
        (status = 200, body = crate::instances::view::InstanceView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already submitted (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid values (`validation`, with `errors`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn patch_instance() {}

/// Discards a draft and its attachments.
#[utoipa::path(delete, path = "/api/v1/instances/{id}", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Discarded"),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already submitted (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn discard_instance() {}

/// Uploads attachments to a draft (multipart: `file` parts and an optional `description`).
/// All are checked (size, type by content) before anything is stored; any refusal stores
/// nothing.
#[utoipa::path(post, path = "/api/v1/instances/{id}/attachments", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    request_body(content = inline(UploadForm), content_type = "multipart/form-data"),
    responses(
        (status = 201, body = crate::http::instances::Uploaded),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already submitted (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Too many files (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn upload_attachments() {}

/// Removes an attachment from a draft.
#[utoipa::path(delete, path = "/api/v1/instances/{id}/attachments/{attachment}", tag = "instances", security(("session" = [])),
    params(("id" = String, Path), ("attachment" = String, Path)),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already submitted (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn remove_attachment() {}

/// Submits the draft: frozen, registered in the protocol, routed, receipt queued. Submitting
/// again (or with the same `Idempotency-Key`) answers the same result and registers nothing.
#[utoipa::path(post, path = "/api/v1/instances/{id}/submit", tag = "instances", security(("session" = [])),
    params(("id" = String, Path),
        ("Idempotency-Key" = Option<String>, Header, description = "1–200 characters: the same key gives the same result")),
    responses(
        (status = 201, description = "Submitted now", body = crate::instances::view::SubmissionResult),
        (status = 200, description = "Already submitted: the same result", body = crate::instances::view::SubmissionResult),
        (status = 403, description = "Not a citizen's session, or the login level is too low (`login-level`, with `required_level`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Changed while being submitted (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Incomplete or invalid (`validation`), or the key was used for another instance", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn submit_instance() {}

/// Rates the service of the citizen's instance, once, after the office's decision. The rating
/// is stored anonymously: nothing in it names the citizen or the instance, and its time is
/// only the month.
#[utoipa::path(post, path = "/api/v1/instances/{id}/rating", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    request_body = crate::http::instances::RatingBody,
    responses(
        (status = 204, description = "Rating recorded"),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not decided yet, or already rated (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Stars, reason (not offered for those stars) or comment not valid (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn rate_instance() {}

/// The citizen's instances, newest first.
#[utoipa::path(get, path = "/api/v1/me/instances", tag = "instances", security(("session" = [])),
    params(
        ("page" = Option<i64>, Query, minimum = 1, description = "From 1 (default 1)"),
        ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100, description = "Default 20"),
    ),
    responses(
        (status = 200, body = crate::instances::view::InstancePage),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn my_instances() {}

/// One of the citizen's instances, in their personal area.
#[utoipa::path(get, path = "/api/v1/me/instances/{id}", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = crate::instances::view::InstanceView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn my_instance() {}

/// The receipt of a submitted instance, with its primary document.
#[utoipa::path(get, path = "/api/v1/me/instances/{id}/receipt", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = crate::instances::view::Receipt),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn receipt() {}

/// The file of one of the citizen's attachments, as a download.
#[utoipa::path(get, path = "/api/v1/me/instances/{id}/attachments/{attachment}", tag = "instances", security(("session" = [])),
    params(("id" = String, Path), ("attachment" = String, Path)),
    responses(
        (status = 200, description = "The file, with its own media type", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("x-content-sha256" = String, description = "SHA-256 of the file, hex"))),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn download_attachment() {}

/// The citizen withdraws the instance before a decision (registered as incoming).
#[utoipa::path(post, path = "/api/v1/instances/{id}/withdraw", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    request_body = crate::http::work::WithdrawBody,
    responses(
        (status = 200, description = "Withdrawn: the instance as the citizen sees it", body = crate::instances::view::InstanceView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Reason too long (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn withdraw_instance() {}

/// The citizen answers the request for integration: text and/or data and/or documents. The
/// answer is frozen with its digest and registered as incoming; the term runs again.
#[utoipa::path(post, path = "/api/v1/instances/{id}/integration", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    request_body = crate::backoffice::work::IntegrationAnswer,
    responses(
        (status = 200, description = "Answered: the instance as the citizen sees it", body = crate::instances::view::InstanceView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No integration awaited (`transition-not-allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty answer, data not an object, unknown document (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn answer_integration() {}

/// A document for the integration answer (multipart, one `file`), checked by content like
/// submission attachments; sent when the answer names it.
#[utoipa::path(post, path = "/api/v1/instances/{id}/documents", tag = "instances", security(("session" = [])),
    params(("id" = String, Path)),
    request_body(content = inline(UploadForm), content_type = "multipart/form-data"),
    responses(
        (status = 201, body = crate::instances::procedure::DocumentInfo),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No integration awaited (`transition-not-allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Too many documents (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn citizen_upload_document() {}

/// A document of the citizen's instance: the reply to the decision, an integration's file.
#[utoipa::path(get, path = "/api/v1/me/instances/{id}/documents/{document}", tag = "instances", security(("session" = [])),
    params(("id" = String, Path), ("document" = String, Path)),
    responses(
        (status = 200, description = "The file, with its own media type", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("x-content-sha256" = String, description = "SHA-256 of the file, hex"))),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn citizen_document() {}

/// The office's instance screen: applicant, data step by step with the form's labels,
/// document and digest, attachments, registrations, history, messages, internal notes,
/// terms and the actions allowed now. Its `ETag` is the instance's version.
#[utoipa::path(get, path = "/api/v1/staff/instances/{id}", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The instance's version, to send back as If-Match"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_instance() {}

/// Take the instance (assign it to oneself).
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/take", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_take() {}

/// Assign the instance to a colleague of the office.
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/assign", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::http::work::AssignBody,
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong values (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_assign() {}

/// An internal note (never shown to the citizen).
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/notes", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::http::work::TextBody,
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong values (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_note() {}

/// A message to the citizen (their area and e-mail).
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/messages", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::http::work::TextBody,
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong values (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_message() {}

/// Preavviso di rigetto (L. 241/1990 art. 10-bis) of a residence declaration: the reasons go to the citizen (area and e-mail) with 10 days for observations; the 45 days of silence-assent stop. Once, while the term runs (else 422 `validation`).
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/refusal-notice", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::http::work::TextBody,
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong values, not a residence declaration, or already sent (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_refusal_notice() {}

/// Request for integration (L. 241/1990 art. 2 c. 7): once, 1–30 days; the term is suspended; an outgoing registration to the applicant; the citizen is told by e-mail.
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/integration-request", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::backoffice::work::IntegrationRequest,
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong values (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_integration_request() {}

/// The decision: outcome, motivation, optional reply PDF; an outgoing registration to the applicant; the citizen is told by e-mail.
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/decision", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::backoffice::work::Decision,
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong values (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_decision() {}

/// Close a decided instance.
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/close", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`, with `current_status` and `allowed_actions`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_close() {}

/// Hand the instance over to another office (it leaves this queue, unassigned).
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/hand-over", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::http::work::HandOverBody,
    responses(
        (status = 204, description = "Handed over"),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state (`transition-not-allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or same office, no reason (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_hand_over() {}

/// A document of the office (multipart, one `file`), to send with a request for integration
/// or as the reply to the decision.
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/documents", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path)),
    request_body(content = inline(UploadForm), content_type = "multipart/form-data"),
    responses(
        (status = 201, body = crate::instances::procedure::DocumentInfo),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The instance is not open any more (`transition-not-allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Too many documents (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_upload_document() {}

/// A document of the instance (office view).
#[utoipa::path(get, path = "/api/v1/staff/instances/{id}/documents/{document}", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("document" = String, Path)),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("x-content-sha256" = String, description = "SHA-256 of the file, hex"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_document() {}

/// A submission attachment (office view).
#[utoipa::path(get, path = "/api/v1/staff/instances/{id}/attachments/{attachment}", tag = "backoffice", security(("session" = [])),
    params(("id" = String, Path), ("attachment" = String, Path)),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("x-content-sha256" = String, description = "SHA-256 of the file, hex"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_attachment() {}

/// The queue of an office: its instances, filtered, sorted (due date first by default) and
/// paged, with counts per state.
#[utoipa::path(get, path = "/api/v1/offices/{office}/queue", tag = "backoffice", security(("session" = [])),
    params(("office" = String, Path, description = "The office's code"), crate::backoffice::QueueFilter),
    responses(
        (status = 200, body = crate::backoffice::QueuePage),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn office_queue() {}

/// The AOO's registrations for review: every registration Sportello makes is automatic, and
/// the AOO's protocol clerks classify, file and mark each one reviewed. Filtered (dates,
/// office, service, reviewed or not), oldest first, paged (the AOO's clerks and the ente's
/// administrators).
#[utoipa::path(get, path = "/api/v1/protocol/{aoo}/registrations", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), crate::backoffice::review::ReviewFilter),
    responses(
        (status = 200, body = crate::backoffice::review::ReviewPage),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`from` after `to` (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_list() {}

/// Classifies an entry under a class of the ente's titolario. Not among the register's
/// immutable fields: a correction is allowed at any time and written in the entry's filing
/// history (the AOO's protocol clerks only).
#[utoipa::path(put, path = "/api/v1/protocol/{aoo}/registrations/{year}/{number}/classification", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), ("year" = i32, Path), ("number" = i64, Path)),
    request_body = crate::backoffice::review::ClassificationRequest,
    responses(
        (status = 200, description = "The entry as it now reads", body = crate::backoffice::annulment::RegisterEntry),
        (status = 403, description = "Not a protocol clerk of the AOO (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a class of the titolario in use (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_classify() {}

/// Files an entry in a fascicolo of the AOO (`null`: takes it out); the entry takes the
/// fascicolo's class. Each change is written in the entry's filing history (the AOO's
/// protocol clerks only).
#[utoipa::path(put, path = "/api/v1/protocol/{aoo}/registrations/{year}/{number}/fascicolo", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), ("year" = i32, Path), ("number" = i64, Path)),
    request_body = crate::backoffice::review::FilingRequest,
    responses(
        (status = 200, description = "The entry as it now reads", body = crate::backoffice::annulment::RegisterEntry),
        (status = 403, description = "Not a protocol clerk of the AOO (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such fascicolo in the AOO (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_file() {}

/// Marks an entry reviewed (it must be classified; marking it again changes nothing).
#[utoipa::path(post, path = "/api/v1/protocol/{aoo}/registrations/{year}/{number}/review", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), ("year" = i32, Path), ("number" = i64, Path)),
    responses(
        (status = 200, description = "The entry as it now reads", body = crate::backoffice::annulment::RegisterEntry),
        (status = 403, description = "Not a protocol clerk of the AOO (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not classified yet (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_review() {}

/// The entry's segnatura informatica (AgID Linee guida 2021, Allegato 6, version 3.0.0),
/// signed with the AOO's key (XAdES baseline B): identifiers, subject, classification,
/// fascicolo, sender and recipient, the SHA-256 of the primary document and of each attachment
/// (the AOO's protocol clerks and the ente's administrators).
#[utoipa::path(get, path = "/api/v1/protocol/{aoo}/registrations/{year}/{number}/segnatura.xml", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), ("year" = i32, Path), ("number" = i64, Path)),
    responses(
        (status = 200, description = "The signed segnatura", content_type = "application/xml", body = String),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Numbered by the ente's external protocol system, whose segnatura it is (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "No signing key for the AOO (`unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_segnatura() {}

/// The ente's titolario in use: titles and classes, in order.
#[utoipa::path(get, path = "/api/v1/protocol/{aoo}/titolario", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code")),
    responses(
        (status = 200, body = crate::backoffice::review::TitolarioView),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_titolario() {}

/// The AOO's fascicoli, newest year first.
#[utoipa::path(get, path = "/api/v1/protocol/{aoo}/fascicoli", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), crate::backoffice::review::FascicoliFilter),
    responses(
        (status = 200, body = crate::backoffice::review::FascicoloList),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_fascicoli() {}

/// Opens a fascicolo: this year's next number in its class, a subject and the responsible
/// office (the AOO's protocol clerks only).
#[utoipa::path(post, path = "/api/v1/protocol/{aoo}/fascicoli", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code")),
    request_body = crate::backoffice::review::NewFascicolo,
    responses(
        (status = 201, description = "Opened", body = crate::backoffice::review::FascicoloView),
        (status = 403, description = "Not a protocol clerk of the AOO (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown class or office, or no subject (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_open_fascicolo() {}

/// An entry of the AOO's protocol register, with its annulment if any (the AOO's protocol
/// clerks and the ente's administrators).
#[utoipa::path(get, path = "/api/v1/protocol/{aoo}/registrations/{year}/{number}", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), ("year" = i32, Path), ("number" = i64, Path)),
    responses(
        (status = 200, body = crate::backoffice::annulment::RegisterEntry),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_entry() {}

/// Annuls an entry (DPR 445/2000 art. 54): a clerk with the right to annul, a reason and the
/// authorizing act. The instance it registered becomes `annulled` and its citizen is told.
#[utoipa::path(post, path = "/api/v1/protocol/{aoo}/registrations/{year}/{number}/annul", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), ("year" = i32, Path), ("number" = i64, Path)),
    request_body = crate::backoffice::annulment::AnnulmentRequest,
    responses(
        (status = 200, description = "Annulled: the entry as it now reads", body = crate::backoffice::annulment::RegisterEntry),
        (status = 403, description = "Not a clerk with the right to annul (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Annulled already (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason or no act (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn register_annul() {}

/// The AOO's daily registers (registro giornaliero di protocollo) produced in a period, with
/// the SHA-256 of each document and where to download it (the AOO's protocol clerks and the
/// ente's administrators).
#[utoipa::path(get, path = "/api/v1/protocol/{aoo}/daily-registers", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"), crate::http::daily_register::PeriodQuery),
    responses(
        (status = 200, body = crate::protocol::daily_register::DailyRegisterList),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn daily_registers() {}

/// One day's register as stored: JSON (the default) or CSV, by the path's extension or
/// `format`. The same bytes every time; `ETag`, `Digest` and `Repr-Digest` carry its SHA-256,
/// checked against the bytes before answering. 404 for a day not produced yet.
#[utoipa::path(get, path = "/api/v1/protocol/{aoo}/daily-registers/{date}", tag = "protocol", security(("session" = [])),
    params(("aoo" = String, Path, description = "The AOO's code"),
        ("date" = String, Path, description = "The day, `YYYY-MM-DD`, optionally followed by `.json` or `.csv`", example = "2026-12-02.json"),
        crate::http::daily_register::FormatQuery),
    responses(
        (status = 200, description = "The document",
            content(
                (crate::protocol::daily_register::DailyRegister = "application/json"),
                (String = "text/csv"),
            ),
            headers(
                ("etag" = String, description = "The SHA-256 of the document, hex, quoted"),
                ("digest" = String, description = "`sha-256=` and the SHA-256 in base64 (RFC 3230)"),
                ("repr-digest" = String, description = "`sha-256=:…:` (RFC 9530)"),
                ("x-content-sha256" = String, description = "SHA-256 of the document, hex"),
            )),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn daily_register_document() {}

/// The newest outbox messages (e-mails): waiting, sent, or dead.
#[utoipa::path(get, path = "/api/v1/admin/outbox", tag = "admin", security(("session" = [])),
    params(("status" = Option<OutboxStatus>, Query, description = "Only messages in this state")),
    responses(
        (status = 200, body = crate::notify::OutboxList),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn outbox() {}

/// Puts a dead message back in the queue, to be tried again now.
#[utoipa::path(post, path = "/api/v1/admin/outbox/{id}/retry", tag = "admin", security(("session" = [])),
    params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Queued again"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn outbox_retry() {}

/// The ente's audit log (docs/audit.md): every entry with its hash chain, in `seq` order,
/// as JSON Lines (`application/jsonl`, the default) or CSV (`Accept: text/csv` or
/// `format=csv`). A full page carries the next page's address (`Link: rel="next"`) and its
/// cursor (`X-Next-Cursor`). For the ente's administrators, or a token with `audit:read`.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("session" = []), ("api_token" = ["audit:read"])),
    params(crate::audit::query::AuditFilter),
    responses(
        (status = 200, description = "One entry per line (JSON Lines), or CSV with a header row",
            content(
                (crate::audit::query::AuditRecord = "application/jsonl"),
                (String = "text/csv"),
            ),
            headers(
                ("x-next-cursor" = String, description = "The `cursor` of the next page, when there is one"),
                ("link" = String, description = "`<…>; rel=\"next\"` when there is a next page"),
            )),
        (status = 403, description = "Not an administrator, or a token without `audit:read`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown actor kind or action, or `from` after `to` (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn admin_audit() {}

/// The ente's API tokens (never their secrets), newest first.
#[utoipa::path(get, path = "/api/v1/admin/tokens", tag = "admin", security(("session" = [])),
    responses(
        (status = 200, body = crate::tokens::TokenList),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn admin_tokens() {}

/// Everything Sportello holds about the logged-in citizen in this ente (GDPR art. 15 and
/// 20): one ZIP with `index.json` (profile, instances as the personal area shows them,
/// bookings, and every file with its SHA-256) and the files themselves — frozen documents,
/// attachments, the office's documents.
#[utoipa::path(get, path = "/api/v1/me/data", tag = "instances", security(("session" = [])),
    responses(
        (status = 200, description = "The ZIP", content_type = "application/zip", body = Vec<u8>,
            headers(("content-disposition" = String, description = "attachment; filename=\"dati-personali-….zip\""))),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn personal_data() {}

/// Creates an API token for another system of the ente. The answer carries its secret,
/// shown this once (the database keeps only its SHA-256).
#[utoipa::path(post, path = "/api/v1/admin/tokens", tag = "admin", security(("session" = [])),
    request_body = crate::tokens::NewToken,
    responses(
        (status = 201, body = crate::tokens::CreatedToken,
            headers(("location" = String, description = "The token's address"))),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Name, scopes or expiry not valid (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn admin_token_create() {}

/// Revokes a token at once (revoking it again changes nothing).
#[utoipa::path(delete, path = "/api/v1/admin/tokens/{id}", tag = "admin", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The token, revoked", body = crate::tokens::TokenView),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn admin_token_revoke() {}

/// The ente's submitted instances, in the order they last changed, a page at a time: follow
/// `next_cursor` (or start again from `changed_since`) to keep another system in step.
#[utoipa::path(get, path = "/api/v1/integration/instances", tag = "integration", security(("api_token" = ["instances:read"])),
    params(SystemFilter),
    responses(
        (status = 200, body = crate::backoffice::system::SystemPage),
        (status = 401, description = "No token, or not valid for this ente (`invalid-token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `instances:read` (`insufficient-scope`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A cursor that is not one (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn integration_instances() {}

/// An instance as its office sees it: data step by step, documents, attachments,
/// registrations, history, messages, notes, terms.
#[utoipa::path(get, path = "/api/v1/integration/instances/{id}", tag = "integration", security(("api_token" = ["instances:read"])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The instance's version"))),
        (status = 401, description = "No token, or not valid for this ente (`invalid-token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `instances:read` (`insufficient-scope`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn integration_instance() {}

/// A submission attachment of an instance.
#[utoipa::path(get, path = "/api/v1/integration/instances/{id}/attachments/{attachment}", tag = "integration", security(("api_token" = ["instances:read"])),
    params(("id" = String, Path), ("attachment" = String, Path)),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("x-content-sha256" = String, description = "SHA-256 of the file, hex"))),
        (status = 401, description = "No token, or not valid for this ente (`invalid-token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `instances:read` (`insufficient-scope`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn integration_attachment() {}

/// A document of an instance outside the submission (the reply, an integration's file).
#[utoipa::path(get, path = "/api/v1/integration/instances/{id}/documents/{document}", tag = "integration", security(("api_token" = ["instances:read"])),
    params(("id" = String, Path), ("document" = String, Path)),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>,
            headers(("x-content-sha256" = String, description = "SHA-256 of the file, hex"))),
        (status = 401, description = "No token, or not valid for this ente (`invalid-token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `instances:read` (`insufficient-scope`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn integration_document() {}

/// An AOO's protocol register (registrations with classification, fascicolo, annulment),
/// filtered and paged as the clerks' list.
#[utoipa::path(get, path = "/api/v1/integration/protocol/{aoo}/registrations", tag = "integration", security(("api_token" = ["protocol:read"])),
    params(("aoo" = String, Path, description = "The AOO's code"), crate::backoffice::review::ReviewFilter),
    responses(
        (status = 200, body = crate::backoffice::review::ReviewPage),
        (status = 401, description = "No token, or not valid for this ente (`invalid-token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `protocol:read` (`insufficient-scope`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`from` after `to` (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn integration_registrations() {}

/// Every service of the catalog, unpublished ones included.
#[utoipa::path(get, path = "/api/v1/integration/services", tag = "integration", security(("api_token" = ["catalog:read"])),
    responses(
        (status = 200, body = crate::catalog::ManagedCatalog),
        (status = 401, description = "No token, or not valid for this ente (`invalid-token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `catalog:read` (`insufficient-scope`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn integration_services() {}

/// One service of the catalog, published or not.
#[utoipa::path(get, path = "/api/v1/integration/services/{slug}", tag = "integration", security(("api_token" = ["catalog:read"])),
    params(("slug" = String, Path)),
    responses(
        (status = 200, body = crate::catalog::ManagedService),
        (status = 401, description = "No token, or not valid for this ente (`invalid-token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `catalog:read` (`insufficient-scope`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn integration_service() {}

/// Changes a service's card (only the fields sent), publishes or withdraws it. A later load
/// of the ente's bundle writes the bundle's values again.
#[utoipa::path(patch, path = "/api/v1/integration/services/{slug}", tag = "integration", security(("api_token" = ["catalog:write"])),
    params(("slug" = String, Path)),
    request_body = crate::catalog::ServiceChange,
    responses(
        (status = 200, description = "The service as it is now", body = crate::catalog::ManagedService),
        (status = 401, description = "No token, or not valid for this ente (`invalid-token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks `catalog:write` (`insufficient-scope`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A text empty or too long (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn integration_change_service() {}
/// Everything of the administrator's ente as a ZIP: one CSV per table, `datapackage.json`
/// (Frictionless Data Package), the attachments with their SHA-256 in `attachments.csv`
/// (docs/export.md).
#[utoipa::path(post, path = "/api/v1/admin/export", tag = "admin", security(("session" = [])),
    responses(
        (status = 200, description = "The export", content_type = "application/zip", body = Vec<u8>),
        (status = 401, description = "No session", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an administrator", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn admin_export() {}

/// Procedure times of the ente's services (D.Lgs. 33/2013 art. 24 c. 2 and art. 35): over the
/// instances decided in the period, how many, the median and mean days to the decision net of
/// suspensions, and the share decided within the term. CSV with `Accept: text/csv` or
/// `format=csv`.
#[utoipa::path(get, path = "/api/v1/public/enti/{ente}/procedure-times", tag = "transparency",
    params(("ente" = String, Path, description = "The ente's code"), crate::http::public::DaysQuery),
    responses(
        (status = 200, description = "The figures, per service (JSON, or CSV with a header row and one row per service)",
            content(
                (crate::transparency::ProcedureTimes = "application/json"),
                (String = "text/csv"),
            )),
    ))]
#[allow(dead_code)]
fn procedure_times() {}

/// FOIA: notify the counter-interested parties (D.Lgs. 33/2013 art. 5 c. 5), once: one outgoing registration per party, an e-mail to those with an address, a message to the applicant; the term is suspended (`awaiting_counterparties`) until every party answered or 10 days passed.
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/counterparties", tag = "foia", security(("session" = [])),
    params(("id" = String, Path), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::backoffice::foia::CounterpartyNotice,
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state or on this service (`transition-not-allowed`, with `current_status` and `allowed_actions`), or done already (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong values (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_counterparties() {}

/// FOIA: record a counter-interested party's answer or opposition (an incoming registration); the last answer awaited makes the term run again.
#[utoipa::path(post, path = "/api/v1/staff/instances/{id}/counterparties/{position}/answer", tag = "foia", security(("session" = [])),
    params(("id" = String, Path), ("position" = i32, Path, description = "The party's position in the notice, from 1"), ("If-Match" = String, Header, description = "The ETag of the last read")),
    request_body = crate::backoffice::foia::CounterpartyAnswer,
    responses(
        (status = 200, description = "Done: the instance screen after it", body = crate::backoffice::view::StaffInstanceView,
            headers(("etag" = String, description = "The new version"))),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed in this state or on this service (`transition-not-allowed`, with `current_status` and `allowed_actions`), or done already (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read (`precondition-failed`, with `current_version`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "No If-Match (`precondition-required`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or wrong values (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_counterparty_answer() {}

/// FOIA: the FOIA side of an instance (kind, counter-interested parties, public subject line, review) for the operators of its office, the administrators and the transparency officer.
#[utoipa::path(get, path = "/api/v1/staff/instances/{id}/foia", tag = "foia", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The FOIA view", body = crate::backoffice::foia::FoiaView),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_foia() {}

/// FOIA: the subject line the public register shows (no personal data: names, codici fiscali and e-mail addresses are refused); `null` goes back to the neutral default.
#[utoipa::path(put, path = "/api/v1/staff/instances/{id}/foia/public-subject", tag = "foia", security(("session" = [])),
    params(("id" = String, Path)),
    request_body = crate::backoffice::foia::PublicSubject,
    responses(
        (status = 200, description = "The FOIA view after it", body = crate::backoffice::foia::FoiaView),
        (status = 403, description = "Not a staff member's session", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Too short or long, or personal data (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn staff_foia_public_subject() {}

/// FOIA: the reviews (riesame) of the ente, undecided first, for the transparency officer.
#[utoipa::path(get, path = "/api/v1/staff/foia/reviews", tag = "foia", security(("session" = [])),
    responses(
        (status = 200, description = "The reviews", body = Vec<crate::backoffice::foia::ReviewItem>),
        (status = 403, description = "Not the transparency officer (RPCT)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn foia_reviews() {}

/// FOIA: the transparency officer decides a review (once): an outgoing registration to the applicant, an e-mail.
#[utoipa::path(post, path = "/api/v1/staff/foia/reviews/{id}/decision", tag = "foia", security(("session" = [])),
    params(("id" = String, Path, description = "The instance")),
    request_body = crate::backoffice::foia::ReviewDecision,
    responses(
        (status = 200, description = "The FOIA view after it", body = crate::backoffice::foia::FoiaView),
        (status = 403, description = "Not the transparency officer (RPCT)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Decided already (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing motivation or art. 5-bis limit (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn foia_review_decision() {}

/// FOIA: the citizen's view of their request (no counter-interested party named): kind, suspension, whether and why a review may be asked, the review.
#[utoipa::path(get, path = "/api/v1/me/instances/{id}/foia", tag = "foia", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The FOIA view", body = crate::backoffice::foia::FoiaView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn citizen_foia() {}

/// FOIA: the citizen asks the transparency officer for a review (riesame, D.Lgs. 33/2013 art. 5 c. 7) after a refusal, a partial grant, a deferral or no answer within the term; once; the officer decides within 20 days.
#[utoipa::path(post, path = "/api/v1/instances/{id}/review", tag = "foia", security(("session" = [])),
    params(("id" = String, Path)),
    request_body = crate::backoffice::foia::ReviewRequest,
    responses(
        (status = 201, description = "Requested: the FOIA view with the review and its due date", body = crate::backoffice::foia::FoiaView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No ground for a review, not a FOIA request, or asked already (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn citizen_review() {}

/// The registro degli accessi (ANAC Linee guida 1309/2016 §9, circolare FOIA 2/2017): every FOIA request of the year with kind, subject line (never the citizen's text), date, whether counter-interested parties were notified, outcome, date of decision, the art. 5-bis limit cited, review and its outcome. No personal data. CSV with `Accept: text/csv` or `format=csv` (columns in docs/foia.md).
#[utoipa::path(get, path = "/api/v1/public/enti/{ente}/foia-register", tag = "transparency",
    params(("ente" = String, Path, description = "The ente's code"), crate::http::public::RegisterQuery),
    responses(
        (status = 200, description = "The register (JSON, or CSV with a header row and one row per request)",
            content(
                (crate::backoffice::foia::FoiaRegister = "application/json"),
                (String = "text/csv"),
            )),
    ))]
#[allow(dead_code)]
fn foia_register() {}

/// Satisfaction ratings of the ente's services, per service and month: count, mean stars,
/// count per star and per reason. Comments are not published. CSV with `Accept: text/csv` or
/// `format=csv`.
#[utoipa::path(get, path = "/api/v1/public/enti/{ente}/ratings", tag = "transparency",
    params(("ente" = String, Path, description = "The ente's code"), crate::http::public::MonthsQuery),
    responses(
        (status = 200, description = "The aggregates (JSON, or CSV with a header row and one row per service and month)",
            content(
                (crate::transparency::RatingsReport = "application/json"),
                (String = "text/csv"),
            )),
    ))]
#[allow(dead_code)]
fn ratings() {}

// ---- Bodies read by the edge itself (form posts), described for the document only. ----

/// The SAML Response an IdP posts to the ACS.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct AcsForm {
    /// The base64 SAML Response.
    #[schema(rename = "SAMLResponse")]
    saml_response: String,
    #[schema(rename = "RelayState")]
    relay_state: Option<String>,
}

/// A logout message an IdP posts.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SloForm {
    #[schema(rename = "SAMLRequest")]
    saml_request: Option<String>,
    #[schema(rename = "SAMLResponse")]
    saml_response: Option<String>,
    #[schema(rename = "RelayState")]
    relay_state: Option<String>,
}

/// An upload of attachments.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// One or more files.
    #[schema(value_type = Vec<String>, format = Binary)]
    file: Vec<Vec<u8>>,
    /// A description for them.
    description: Option<String>,
}

/// The state of an outbox message.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "snake_case")]
enum OutboxStatus {
    Pending,
    Sent,
    Dead,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operations(doc: &Document) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (path, item) in &doc.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
                ("PUT", &item.put),
            ] {
                if op.is_some() {
                    out.push((method.to_owned(), path.clone()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_document_describes_every_route_and_nothing_else() {
        let routes = crate::http::route_table(true);
        let mut registered: Vec<(String, String)> = routes
            .iter()
            .filter(|r| r.documented)
            .map(|r| (r.method.to_string(), r.path.to_owned()))
            .collect();
        registered.sort();
        let doc = document("sportello_session");
        assert_eq!(operations(&doc), registered);
        // The viewer's own files are the one route left out, on purpose.
        let undocumented: Vec<&str> = routes
            .iter()
            .filter(|r| !r.documented)
            .map(|r| r.path)
            .collect();
        assert_eq!(undocumented, ["/api/docs/{file:.*}"]);
    }

    #[test]
    fn links_name_operations_that_exist() {
        let json = document_json("sportello_session");
        let mut ids = Vec::new();
        for item in json["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.push(op["operationId"].as_str().unwrap().to_owned());
            }
        }
        let links = &json["paths"]["/api/v1/instances"]["post"]["responses"]["201"]["links"];
        assert_eq!(links["show"]["operationId"], "show_instance");
        assert_eq!(links["show"]["parameters"]["id"], "$response.body#/id");
        let mut seen = 0;
        for item in json["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for res in op["responses"].as_object().unwrap().values() {
                    for link in res["links"]
                        .as_object()
                        .into_iter()
                        .flat_map(|l| l.values())
                    {
                        let target = link["operationId"].as_str().expect("an operationId");
                        assert!(ids.iter().any(|i| i == target), "no operation {target}");
                        assert!(link.get("operation_id").is_none());
                        seen += 1;
                    }
                }
            }
        }
        assert!(seen >= 9, "{seen} links");
    }

    #[test]
    fn every_operation_has_an_answer_and_the_standard_problems() {
        let json = document_json("sportello_session");
        assert_eq!(json["openapi"], "3.1.0");
        for (path, item) in json["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                assert!(
                    responses
                        .keys()
                        .any(|k| k.starts_with('2') || k.starts_with('3')),
                    "{method} {path} has no success answer"
                );
                for status in ["500", "503"] {
                    assert_eq!(
                        responses[status]["content"][PROBLEM_CONTENT_TYPE]["schema"]["$ref"],
                        "#/components/schemas/Problem",
                        "{method} {path} lacks its {status} problem"
                    );
                }
                if op.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path}: no 401");
                }
            }
        }
        assert_eq!(
            json["components"]["securitySchemes"][SESSION]["name"],
            "sportello_session"
        );
    }
}

/// The free places of a bookable service's calendars, per day, within its booking window;
/// a day open but full says `full` (the citizen may join its waiting list).
#[utoipa::path(get, path = "/api/v1/services/{slug}/availability", tag = "booking",
    params(("slug" = String, Path, example = "carta-identita-elettronica"), crate::http::booking::RangeQuery),
    responses(
        (status = 200, body = crate::booking::Availability),
        (status = 404, description = "No such bookable service", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A range backwards or longer than 92 days (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_availability() {}

/// The citizen joins the waiting list of a full day: told by e-mail when a place frees up
/// (the first to book it gets it).
#[utoipa::path(post, path = "/api/v1/services/{slug}/waiting-list", tag = "booking", security(("session" = [])),
    params(("slug" = String, Path)),
    request_body = crate::booking::WaitingRequest,
    responses(
        (status = 201, body = crate::booking::WaitingView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such bookable service", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The day still has free places (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A day without bookings (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_join_waitlist() {}

/// A logged-in citizen books a slot: confirmed at once with a short code (or
/// `pending_payment`, holding the place, for a service with a fee) and e-mailed with its
/// iCalendar file. The database never lets a slot take more bookings than its places.
#[utoipa::path(post, path = "/api/v1/bookings", tag = "booking", security(("session" = [])),
    request_body = crate::booking::BookingRequest,
    responses(
        (status = 201, body = crate::booking::BookingView),
        (status = 403, description = "Not a citizen's session, or a login level too low", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The place was just taken (`slot-taken`: «posto non più disponibile») or the citizen holds as many bookings as allowed (`booking-limit`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a slot of the calendar, outside the booking window, a closed day, missing reason (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_book() {}

/// The citizen's bookings (the latest first) and waiting-list places.
#[utoipa::path(get, path = "/api/v1/me/bookings", tag = "booking", security(("session" = [])),
    responses(
        (status = 200, body = crate::booking::MyBookings),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_mine() {}

/// One of the citizen's bookings.
#[utoipa::path(get, path = "/api/v1/me/bookings/{id}", tag = "booking", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = crate::booking::BookingView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the citizen's bookings", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_show() {}

/// The booking as an iCalendar file (RFC 5545).
#[utoipa::path(get, path = "/api/v1/me/bookings/{id}/ical", tag = "booking", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The iCalendar file", body = String, content_type = "text/calendar"),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the citizen's bookings", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_ical() {}

/// The citizen cancels a booking, until the service's deadline; the place goes to the
/// day's waiting list.
#[utoipa::path(post, path = "/api/v1/me/bookings/{id}/cancel", tag = "booking", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, body = crate::booking::BookingView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the citizen's bookings", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Past the deadline, or no longer active (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_cancel() {}

/// The citizen pays a held booking's fee now: the pagoPA Checkout page to go to (a cart with
/// the booking's notice). The booking is confirmed when the receipt comes (docs/payments.md).
#[utoipa::path(post, path = "/api/v1/me/bookings/{id}/checkout", tag = "booking", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "Where to pay", body = crate::http::booking::CheckoutView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the citizen's bookings", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not waiting for a payment, or its notice not ready yet (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "pagoPA cannot be reached now (`unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_checkout() {}

/// The printable pagoPA notice of a held booking's fee (Italian HTML: payee, subject, amount,
/// due date, notice number, QR code), to pay later at any pagoPA channel.
#[utoipa::path(get, path = "/api/v1/me/bookings/{id}/notice", tag = "booking", security(("session" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The notice", body = String, content_type = "text/html"),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the citizen's bookings", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No notice to pay for this booking (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_notice() {}

/// The citizen moves a booking to another slot, until the service's deadline: the new
/// place is taken first; a full slot leaves the booking as it was.
#[utoipa::path(post, path = "/api/v1/me/bookings/{id}/move", tag = "booking", security(("session" = [])),
    params(("id" = String, Path)),
    request_body = crate::booking::MoveRequest,
    responses(
        (status = 200, body = crate::booking::BookingView),
        (status = 403, description = "Not a citizen's session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of the citizen's bookings", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The new place was just taken (`slot-taken`), past the deadline, no longer active (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a slot of the calendar, outside the window (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_move() {}

/// A calendar's day for its office: every slot, its places and its bookings.
#[utoipa::path(get, path = "/api/v1/staff/calendars/{code}/agenda", tag = "booking", security(("session" = [])),
    params(("code" = String, Path), crate::http::booking::DayQuery),
    responses(
        (status = 200, body = crate::booking::Agenda),
        (status = 403, description = "Not a staff session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such calendar in the staff member's offices", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_agenda() {}

/// The fees of a calendar's bookings made in a period, per day: how many, paid (and the
/// euro cents received), still payable, expired, not created. Default: the last 31 days.
#[utoipa::path(get, path = "/api/v1/staff/calendars/{code}/payments", tag = "booking", security(("session" = [])),
    params(("code" = String, Path), crate::http::booking::RangeQuery),
    responses(
        (status = 200, body = crate::booking::PaymentsReport),
        (status = 403, description = "Not a staff session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such calendar in the staff member's offices", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A period longer than 93 days or reversed (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_payments_report() {}

/// The office cancels one slot (`starts_at`) or closes a whole day (`date`): nobody can
/// book it any more and every citizen booked in it is told by e-mail.
#[utoipa::path(post, path = "/api/v1/staff/calendars/{code}/cancellations", tag = "booking", security(("session" = [])),
    params(("code" = String, Path)),
    request_body = crate::booking::StaffCancellation,
    responses(
        (status = 200, body = crate::booking::CancellationResult),
        (status = 403, description = "Not a staff session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such calendar in the staff member's offices", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The day is closed already (`conflict`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both of `starts_at` and `date`, not a slot, no reason (`validation`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_staff_cancel() {}

/// The office marks a booking attended or no-show (from its start on).
#[utoipa::path(post, path = "/api/v1/staff/bookings/{id}/attendance", tag = "booking", security(("session" = [])),
    params(("id" = String, Path)),
    request_body = crate::booking::AttendanceRequest,
    responses(
        (status = 200, body = crate::booking::AgendaBooking),
        (status = 403, description = "Not a staff session", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such booking in the staff member's offices", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not confirmed, or not started yet (`conflict`)", body = Problem, content_type = "application/problem+json"),
    ))]
#[allow(dead_code)]
fn booking_attendance() {}
