//! HTTP edge: routes, request limits and error mapping. Handlers are thin: they parse input,
//! call the capability's code and map the result.

pub mod auth;
pub mod backoffice;
pub mod catalog;
pub mod cie;
pub mod extract;
pub mod flow;
pub mod health;
pub mod instances;
pub mod middleware;
pub mod problem;
pub mod routes;
pub mod slow_body;
pub mod spid;
pub mod staff_sso;

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::{web, HttpRequest};

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
    .app_data(web::PathConfig::default().error_handler(path_error))
    .service(resource("/health/live").route(web::get().to(health::live)))
    .service(resource("/health/ready").route(web::get().to(health::ready)))
    .service(resource("/auth/logout").route(web::post().to(auth::logout)))
    .service(resource("/spid/metadata").route(web::get().to(auth::spid_metadata)))
    .service(resource("/spid/login").route(web::get().to(spid::login)))
    .service(
        resource("/.well-known/openid-federation").route(web::get().to(cie::entity_configuration)),
    )
    .service(resource("/cie/login").route(web::get().to(cie::login)))
    .service(resource("/cie/callback").route(web::get().to(cie::callback)))
    .service(resource("/cie/logout").route(web::post().to(cie::logout)))
    .service(resource("/auth/staff/login").route(web::get().to(staff_sso::staff_login)))
    .service(resource("/auth/staff/callback").route(web::get().to(staff_sso::staff_callback)))
    .service(resource("/spid/acs").route(web::post().to(spid::acs)))
    .service(resource("/spid/logout").route(web::post().to(spid::logout)))
    .service(
        resource("/spid/slo")
            .route(web::get().to(spid::slo_redirect_binding))
            .route(web::post().to(spid::slo_post_binding)),
    )
    .service(
        web::scope("/api/v1")
            .service(resource("/me").route(web::get().to(auth::me)))
            .service(resource("/auth/spid/idps").route(web::get().to(auth::spid_idps)))
            .service(resource("/auth/cie/providers").route(web::get().to(cie::providers)))
            .service(resource("/services").route(web::get().to(catalog::list_services)))
            .service(resource("/services/{slug}").route(web::get().to(catalog::get_service)))
            .service(resource("/service-categories").route(web::get().to(catalog::list_categories)))
            .service(
                resource("/enti/{ente}/services").route(web::get().to(catalog::list_services_of)),
            )
            .service(
                resource("/enti/{ente}/services/{slug}")
                    .route(web::get().to(catalog::get_service_of)),
            )
            .service(resource("/instances").route(web::post().to(instances::create)))
            .service(
                resource("/instances/{id}")
                    .route(web::get().to(instances::show))
                    .route(web::patch().to(instances::patch))
                    .route(web::delete().to(instances::discard)),
            )
            .service(
                resource("/instances/{id}/attachments").route(web::post().to(instances::upload)),
            )
            .service(
                resource("/instances/{id}/attachments/{attachment}")
                    .route(web::delete().to(instances::remove_attachment)),
            )
            .service(resource("/instances/{id}/submit").route(web::post().to(instances::submit)))
            .service(resource("/me/instances").route(web::get().to(instances::my_instances)))
            .service(resource("/me/instances/{id}").route(web::get().to(instances::show)))
            .service(
                resource("/me/instances/{id}/receipt").route(web::get().to(instances::receipt)),
            )
            .service(
                resource("/me/instances/{id}/attachments/{attachment}")
                    .route(web::get().to(instances::download_attachment)),
            )
            .service(resource("/offices/{office}/queue").route(web::get().to(backoffice::queue)))
            .service(resource("/admin/outbox").route(web::get().to(backoffice::outbox)))
            .service(resource("/admin/outbox/{id}/retry").route(web::post().to(backoffice::retry))),
    );
    if dev_login {
        cfg.service(resource("/auth/dev/login").route(web::post().to(auth::dev_login)));
    }
    cfg.default_service(web::to(not_found));
}
