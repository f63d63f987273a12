//! HTTP edge: routes, request limits and error mapping. Handlers are thin: they parse input,
//! call the capability's code and map the result.

pub mod audit;
pub mod auth;
pub mod backoffice;
pub mod booking;
pub mod catalog;
pub mod cie;
pub mod daily_register;
pub mod extract;
pub mod flow;
pub mod foia;
pub mod health;
pub mod instances;
pub mod integration;
pub mod middleware;
pub mod openapi;
pub mod personal_data;
pub mod problem;
pub mod procedures;
pub mod public;
pub mod register;
pub mod routes;
#[cfg(test)]
mod seam;
pub mod slow_body;
pub mod spid;
pub mod staff_sso;
pub mod tokens;
pub mod work;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::Method;
use actix_web::{web, HttpRequest, Route};

use crate::http::problem::ApiError;

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge(format!(
            "Il corpo della richiesta supera il limite di {limit} byte."
        )),
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType(
            "Inviare i dati in formato JSON (Content-Type: application/json).".into(),
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            ApiError::InvalidJson(format!("I dati inviati non hanno la forma attesa: {e}"))
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::InvalidJson(format!("Il JSON inviato non è valido: {e}"))
        }
        other => ApiError::BadRequest(format!("Impossibile leggere la richiesta: {other}")),
    };
    api.into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest(format!("Parametri della richiesta non validi: {err}")).into()
}

fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound.into()
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed() -> actix_web::HttpResponse {
    actix_web::HttpResponse::MethodNotAllowed().finish()
}

/// A resource whose other methods answer 405 (not the app-wide 404).
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// One registered route: method and path (actix syntax, which for our routes is also the
/// OpenAPI path), and whether the OpenAPI document describes it.
#[derive(Debug, Clone)]
pub struct RouteInfo {
    pub method: Method,
    pub path: &'static str,
    pub documented: bool,
}

/// Registers resources and remembers what it registered.
struct Router<'a> {
    cfg: &'a mut web::ServiceConfig,
    table: Vec<RouteInfo>,
}

impl Router<'_> {
    fn add(&mut self, path: &'static str, routes: Vec<(Method, Route)>) -> &mut Self {
        self.add_with(path, routes, true)
    }

    fn add_with(
        &mut self,
        path: &'static str,
        routes: Vec<(Method, Route)>,
        documented: bool,
    ) -> &mut Self {
        let mut res = resource(path);
        for (method, route) in routes {
            self.table.push(RouteInfo {
                method,
                path,
                documented,
            });
            res = res.route(route);
        }
        self.cfg.service(res);
        self
    }
}

macro_rules! get {
    ($h:expr) => {
        (Method::GET, web::get().to($h))
    };
}
macro_rules! post {
    ($h:expr) => {
        (Method::POST, web::post().to($h))
    };
}
macro_rules! put {
    ($h:expr) => {
        (Method::PUT, web::put().to($h))
    };
}
macro_rules! patch {
    ($h:expr) => {
        (Method::PATCH, web::patch().to($h))
    };
}
macro_rules! delete {
    ($h:expr) => {
        (Method::DELETE, web::delete().to($h))
    };
}

/// Every route, as [`configure`] registers it.
pub fn route_table(dev_login: bool) -> Vec<RouteInfo> {
    let mut table = Vec::new();
    let _ = actix_web::App::new().configure(|cfg| table = routes(cfg, dev_login));
    table
}

/// Registers every route. `dev_login` adds `/auth/dev/login`; without it the path does not
/// exist (404), so a production build cannot be talked into it.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    max_json_bytes: usize,
    max_body_bytes: usize,
    dev_login: bool,
) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(max_json_bytes)
            // application/json, and the +json types such as application/merge-patch+json.
            .content_type(|mime| {
                mime.type_() == actix_web::mime::APPLICATION
                    && (mime.subtype() == actix_web::mime::JSON
                        || mime.suffix() == Some(actix_web::mime::JSON))
            })
            .error_handler(json_error),
    )
    .app_data(web::PayloadConfig::new(max_body_bytes))
    .app_data(web::FormConfig::default().limit(max_body_bytes))
    .app_data(web::QueryConfig::default().error_handler(query_error))
    .app_data(web::PathConfig::default().error_handler(path_error));
    routes(cfg, dev_login);
    cfg.default_service(web::to(not_found));
}

fn routes(cfg: &mut web::ServiceConfig, dev_login: bool) -> Vec<RouteInfo> {
    let mut r = Router {
        cfg,
        table: Vec::new(),
    };
    r.add("/health/live", vec![get!(health::live)])
        .add("/health/ready", vec![get!(health::ready)])
        .add("/api/openapi.json", vec![get!(openapi::serve_document)])
        .add("/api/docs", vec![get!(openapi::docs_redirect)])
        .add_with("/api/docs/{file:.*}", vec![get!(openapi::docs_file)], false)
        .add("/auth/logout", vec![post!(auth::logout)])
        .add("/spid/metadata", vec![get!(auth::spid_metadata)])
        .add("/spid/login", vec![get!(spid::login)])
        .add(
            "/.well-known/openid-federation",
            vec![get!(cie::entity_configuration)],
        )
        .add("/cie/login", vec![get!(cie::login)])
        .add("/cie/callback", vec![get!(cie::callback)])
        .add("/cie/logout", vec![post!(cie::logout)])
        .add("/auth/staff/login", vec![get!(staff_sso::staff_login)])
        .add(
            "/auth/staff/callback",
            vec![get!(staff_sso::staff_callback)],
        )
        .add("/spid/acs", vec![post!(spid::acs)])
        .add("/spid/logout", vec![post!(spid::logout)])
        .add(
            "/spid/slo",
            vec![
                get!(spid::slo_redirect_binding),
                post!(spid::slo_post_binding),
            ],
        )
        .add("/api/v1/me", vec![get!(auth::me)])
        .add("/api/v1/auth/spid/idps", vec![get!(auth::spid_idps)])
        .add("/api/v1/auth/cie/providers", vec![get!(cie::providers)])
        .add("/api/v1/services", vec![get!(catalog::list_services)])
        .add("/api/v1/services/{slug}", vec![get!(catalog::get_service)])
        .add(
            "/api/v1/service-categories",
            vec![get!(catalog::list_categories)],
        )
        .add(
            "/api/v1/enti/{ente}/services",
            vec![get!(catalog::list_services_of)],
        )
        .add(
            "/api/v1/enti/{ente}/services/{slug}",
            vec![get!(catalog::get_service_of)],
        )
        .add("/api/v1/instances", vec![post!(instances::create)])
        .add(
            "/api/v1/instances/{id}",
            vec![
                get!(instances::show),
                patch!(instances::patch),
                delete!(instances::discard),
            ],
        )
        .add(
            "/api/v1/instances/{id}/attachments",
            vec![post!(instances::upload)],
        )
        .add(
            "/api/v1/instances/{id}/attachments/{attachment}",
            vec![delete!(instances::remove_attachment)],
        )
        .add(
            "/api/v1/instances/{id}/submit",
            vec![post!(instances::submit)],
        )
        .add(
            "/api/v1/instances/{id}/rating",
            vec![post!(instances::rate)],
        )
        .add(
            "/api/v1/public/enti/{ente}/procedure-times",
            vec![get!(public::procedure_times)],
        )
        .add(
            "/api/v1/public/enti/{ente}/ratings",
            vec![get!(public::ratings)],
        )
        .add(
            "/api/v1/public/enti/{ente}/foia-register",
            vec![get!(public::foia_register)],
        )
        .add("/api/v1/me/instances", vec![get!(instances::my_instances)])
        .add("/api/v1/me/instances/{id}", vec![get!(instances::show)])
        .add(
            "/api/v1/me/instances/{id}/receipt",
            vec![get!(instances::receipt)],
        )
        .add(
            "/api/v1/me/instances/{id}/attachments/{attachment}",
            vec![get!(instances::download_attachment)],
        )
        .add(
            "/api/v1/instances/{id}/withdraw",
            vec![post!(work::withdraw)],
        )
        .add(
            "/api/v1/instances/{id}/integration",
            vec![post!(work::answer_integration)],
        )
        .add(
            "/api/v1/instances/{id}/documents",
            vec![post!(work::citizen_upload)],
        )
        .add(
            "/api/v1/me/instances/{id}/documents/{document}",
            vec![get!(work::citizen_document)],
        )
        .add(
            "/api/v1/offices/{office}/queue",
            vec![get!(backoffice::queue)],
        )
        .add("/api/v1/staff/instances/{id}", vec![get!(work::show)])
        .add("/api/v1/staff/instances/{id}/take", vec![post!(work::take)])
        .add(
            "/api/v1/staff/instances/{id}/assign",
            vec![post!(work::assign)],
        )
        .add(
            "/api/v1/staff/instances/{id}/hand-over",
            vec![post!(work::hand_over)],
        )
        .add(
            "/api/v1/staff/instances/{id}/notes",
            vec![post!(work::note)],
        )
        .add(
            "/api/v1/staff/instances/{id}/messages",
            vec![post!(work::message)],
        )
        .add(
            "/api/v1/staff/instances/{id}/refusal-notice",
            vec![post!(procedures::refusal_notice)],
        )
        .add(
            "/api/v1/staff/instances/{id}/integration-request",
            vec![post!(work::integration_request)],
        )
        .add(
            "/api/v1/staff/instances/{id}/decision",
            vec![post!(work::decision)],
        )
        .add(
            "/api/v1/staff/instances/{id}/close",
            vec![post!(work::close)],
        )
        .add(
            "/api/v1/staff/instances/{id}/counterparties",
            vec![post!(foia::notify_counterparties)],
        )
        .add(
            "/api/v1/staff/instances/{id}/counterparties/{position}/answer",
            vec![post!(foia::counterparty_answer)],
        )
        .add(
            "/api/v1/staff/instances/{id}/foia",
            vec![get!(foia::staff_foia)],
        )
        .add(
            "/api/v1/staff/instances/{id}/foia/public-subject",
            vec![put!(foia::public_subject)],
        )
        .add("/api/v1/staff/foia/reviews", vec![get!(foia::reviews)])
        .add(
            "/api/v1/staff/foia/reviews/{id}/decision",
            vec![post!(foia::decide_review)],
        )
        .add(
            "/api/v1/me/instances/{id}/foia",
            vec![get!(foia::citizen_foia)],
        )
        .add(
            "/api/v1/instances/{id}/review",
            vec![post!(foia::request_review)],
        )
        .add(
            "/api/v1/staff/instances/{id}/documents",
            vec![post!(work::staff_upload)],
        )
        .add(
            "/api/v1/staff/instances/{id}/documents/{document}",
            vec![get!(work::staff_document)],
        )
        .add(
            "/api/v1/staff/instances/{id}/attachments/{attachment}",
            vec![get!(work::staff_attachment)],
        )
        .add(
            "/api/v1/protocol/{aoo}/registrations",
            vec![get!(register::list)],
        )
        .add(
            "/api/v1/protocol/{aoo}/registrations/{year}/{number}",
            vec![get!(register::show)],
        )
        .add(
            "/api/v1/protocol/{aoo}/registrations/{year}/{number}/classification",
            vec![put!(register::classify)],
        )
        .add(
            "/api/v1/protocol/{aoo}/registrations/{year}/{number}/fascicolo",
            vec![put!(register::file)],
        )
        .add(
            "/api/v1/protocol/{aoo}/registrations/{year}/{number}/segnatura.xml",
            vec![get!(register::segnatura)],
        )
        .add(
            "/api/v1/protocol/{aoo}/registrations/{year}/{number}/review",
            vec![post!(register::mark_reviewed)],
        )
        .add(
            "/api/v1/protocol/{aoo}/titolario",
            vec![get!(register::titolario)],
        )
        .add(
            "/api/v1/protocol/{aoo}/fascicoli",
            vec![get!(register::fascicoli), post!(register::open_fascicolo)],
        )
        .add(
            "/api/v1/protocol/{aoo}/registrations/{year}/{number}/annul",
            vec![post!(register::annul)],
        )
        .add(
            "/api/v1/protocol/{aoo}/daily-registers",
            vec![get!(daily_register::list)],
        )
        .add(
            "/api/v1/protocol/{aoo}/daily-registers/{date}",
            vec![get!(daily_register::download)],
        )
        .add(
            "/api/v1/services/{slug}/availability",
            vec![get!(booking::availability)],
        )
        .add(
            "/api/v1/services/{slug}/waiting-list",
            vec![post!(booking::join_waitlist)],
        )
        .add("/api/v1/bookings", vec![post!(booking::book)])
        .add("/api/v1/me/bookings", vec![get!(booking::mine)])
        .add("/api/v1/me/data", vec![get!(personal_data::download)])
        .add("/api/v1/me/bookings/{id}", vec![get!(booking::show)])
        .add("/api/v1/me/bookings/{id}/ical", vec![get!(booking::ical)])
        .add(
            "/api/v1/me/bookings/{id}/cancel",
            vec![post!(booking::cancel)],
        )
        .add(
            "/api/v1/me/bookings/{id}/move",
            vec![post!(booking::move_to)],
        )
        .add(
            "/api/v1/me/bookings/{id}/checkout",
            vec![post!(booking::checkout)],
        )
        .add(
            "/api/v1/me/bookings/{id}/notice",
            vec![get!(booking::notice)],
        )
        .add(
            "/api/v1/staff/calendars/{code}/payments",
            vec![get!(booking::payments_report)],
        )
        .add(
            "/api/v1/staff/calendars/{code}/agenda",
            vec![get!(booking::agenda)],
        )
        .add(
            "/api/v1/staff/calendars/{code}/cancellations",
            vec![post!(booking::staff_cancel)],
        )
        .add(
            "/api/v1/staff/bookings/{id}/attendance",
            vec![post!(booking::attendance)],
        )
        .add("/api/v1/admin/outbox", vec![get!(backoffice::outbox)])
        .add("/api/v1/admin/export", vec![post!(backoffice::export)])
        .add(
            "/api/v1/admin/outbox/{id}/retry",
            vec![post!(backoffice::retry)],
        )
        .add(
            "/api/v1/admin/tokens",
            vec![get!(tokens::list), post!(tokens::create)],
        )
        .add("/api/v1/admin/tokens/{id}", vec![delete!(tokens::revoke)])
        .add("/api/v1/admin/audit", vec![get!(audit::list)])
        .add(
            "/api/v1/integration/instances",
            vec![get!(integration::instances)],
        )
        .add(
            "/api/v1/integration/instances/{id}",
            vec![get!(integration::instance)],
        )
        .add(
            "/api/v1/integration/instances/{id}/attachments/{attachment}",
            vec![get!(integration::attachment)],
        )
        .add(
            "/api/v1/integration/instances/{id}/documents/{document}",
            vec![get!(integration::document)],
        )
        .add(
            "/api/v1/integration/protocol/{aoo}/registrations",
            vec![get!(integration::registrations)],
        )
        .add(
            "/api/v1/integration/services",
            vec![get!(integration::services)],
        )
        .add(
            "/api/v1/integration/services/{slug}",
            vec![
                get!(integration::service),
                patch!(integration::change_service),
            ],
        );
    if dev_login {
        r.add("/auth/dev/login", vec![post!(auth::dev_login)]);
    }
    r.table
}
