//! The back office's instance API (staff) and the citizen's side of the procedure
//! (withdrawal, integration answer, documents). Staff reads carry an `ETag` (the instance's
//! version); every staff action needs it back as `If-Match`: 428 without, 412 when stale.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::audit::{self, Actor, Read};
use crate::backoffice::documents::{self, Uploader};
use crate::backoffice::view::{staff_view, StaffInstanceView};
use crate::backoffice::work::{self, Expected, MailLink, StaffCtx};
use crate::http::extract::{blocking, AppState, Citizen, Staff};
use crate::http::instances::{file_response, read_files};
use crate::http::problem::{ApiError, Problem, ProblemType};
use crate::http::routes::{LINKS, STAFF_LINKS};
use crate::instances::attachments;
use crate::instances::Links;

/// The version a staff client read: `If-Match: "<version>"`.
pub(crate) fn if_match(req: &HttpRequest) -> Result<Expected, ApiError> {
    let Some(v) = req.headers().get(header::IF_MATCH) else {
        return Err(ApiError::Problem(Box::new(Problem::new(
            actix_web::http::StatusCode::PRECONDITION_REQUIRED,
            ProblemType::PreconditionRequired,
            "Manca la versione della pratica",
            "Ogni operazione sulla pratica va inviata con l'intestazione If-Match uguale \
             all'ETag ricevuto leggendola, così che non si agisca su dati non aggiornati.",
        ))));
    };
    let parsed = v
        .to_str()
        .ok()
        .map(str::trim)
        .and_then(|t| t.strip_prefix('"'))
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse::<i64>().ok());
    match parsed {
        Some(n) => Ok(Expected(n)),
        None => Err(ApiError::Problem(Box::new(Problem::new(
            actix_web::http::StatusCode::PRECONDITION_FAILED,
            ProblemType::PreconditionFailed,
            "La versione indicata non è valida",
            "If-Match deve contenere l'ETag della pratica (per esempio \"3\"); «*» e le \
             versioni deboli non sono accettati.",
        )))),
    }
}

pub(crate) fn with_etag(view: StaffInstanceView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", view.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view)
}

/// Runs a staff action and answers with the instance screen as it is after it.
pub(crate) async fn act<F>(
    state: web::Data<AppState>,
    staff: Staff,
    id: String,
    req: &HttpRequest,
    f: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce(
            &mut crate::db::DbConn,
            &AppState,
            &StaffCtx,
            Expected,
            &str,
        ) -> Result<(), crate::backoffice::BackofficeError>
        + Send
        + 'static,
{
    let expected = if_match(req)?;
    let view = blocking(&state, move |conn, st| {
        let ctx = work::staff_ctx(conn, staff.ente_id, staff.staff_user_id)?;
        f(conn, st, &ctx, expected, &id)?;
        staff_view(conn, &st.forms, STAFF_LINKS, &ctx, &id, st.clock.now())
    })
    .await?;
    Ok(with_etag(view))
}

pub(crate) fn mail_link(st: &AppState, id: &str) -> String {
    format!(
        "{}{}",
        st.settings.server.public_url.trim_end_matches('/'),
        LINKS.instance(id)
    )
}

/// `GET /api/v1/staff/instances/{id}` — the instance screen, with its `ETag`.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let view = blocking(&state, move |conn, st| {
        let ctx = work::staff_ctx(conn, staff.ente_id, staff.staff_user_id)?;
        let view = staff_view(conn, &st.forms, STAFF_LINKS, &ctx, &id, st.clock.now())?;
        audit::record_read(
            conn,
            staff.ente_id,
            Actor::Staff(ctx.username),
            &id,
            Read::Instance,
        );
        Ok::<_, crate::backoffice::BackofficeError>(view)
    })
    .await?;
    Ok(with_etag(view))
}

/// `POST /api/v1/staff/instances/{id}/take`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn take(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    act(
        state,
        staff,
        path.into_inner(),
        &req,
        |conn, st, ctx, e, id| work::take(conn, ctx, id, e, st.clock.now()),
    )
    .await
}

/// Assign to a colleague.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The colleague's username.
    pub username: String,
}

/// `POST /api/v1/staff/instances/{id}/assign`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn assign(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<AssignBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    act(
        state,
        staff,
        path.into_inner(),
        &req,
        move |conn, st, ctx, e, id| work::assign(conn, ctx, id, e, &body.username, st.clock.now()),
    )
    .await
}

/// Hand over to another office.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOverBody {
    /// The receiving office's code.
    pub office: String,
    pub reason: String,
}

/// `POST /api/v1/staff/instances/{id}/hand-over`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn hand_over(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<HandOverBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let expected = if_match(&req)?;
    let id = path.into_inner();
    // After a hand-over the instance is in another office's queue: the answer is the
    // instance as the (former) office last saw it, without the screen.
    blocking(&state, move |conn, st| {
        let ctx = work::staff_ctx(conn, staff.ente_id, staff.staff_user_id)?;
        work::hand_over(
            conn,
            &ctx,
            &id,
            expected,
            &body.office,
            &body.reason,
            st.clock.now(),
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A text: a note or a message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    pub text: String,
}

/// `POST /api/v1/staff/instances/{id}/notes` — an internal note.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn note(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<TextBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    act(
        state,
        staff,
        path.into_inner(),
        &req,
        move |conn, st, ctx, e, id| work::note(conn, ctx, id, e, &body.text, st.clock.now()),
    )
    .await
}

/// `POST /api/v1/staff/instances/{id}/messages` — a message to the citizen.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn message(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<TextBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    act(
        state,
        staff,
        path.into_inner(),
        &req,
        move |conn, st, ctx, e, id| {
            let link = mail_link(st, id);
            work::message(
                conn,
                ctx,
                id,
                e,
                &body.text,
                MailLink(&link),
                st.clock.now(),
            )
        },
    )
    .await
}

/// `POST /api/v1/staff/instances/{id}/integration-request`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn integration_request(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<work::IntegrationRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    act(
        state,
        staff,
        path.into_inner(),
        &req,
        move |conn, st, ctx, e, id| {
            let link = mail_link(st, id);
            work::request_integration(conn, ctx, id, e, &body, MailLink(&link), st.clock.now())
        },
    )
    .await
}

/// `POST /api/v1/staff/instances/{id}/decision`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn decision(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<work::Decision>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    act(
        state,
        staff,
        path.into_inner(),
        &req,
        move |conn, st, ctx, e, id| {
            let link = mail_link(st, id);
            work::decide(conn, ctx, id, e, &body, MailLink(&link), st.clock.now())
        },
    )
    .await
}

/// `POST /api/v1/staff/instances/{id}/close`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn close(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    act(
        state,
        staff,
        path.into_inner(),
        &req,
        |conn, st, ctx, e, id| work::close(conn, ctx, id, e, st.clock.now()),
    )
    .await
}

/// Whose document request this is: a staff member (their roles loaded) or a citizen, with the
/// links they reach files by.
fn uploader(
    conn: &mut crate::db::DbConn,
    who: UploaderKey,
) -> Result<(Uploader, &'static dyn Links), crate::backoffice::BackofficeError> {
    Ok(match who {
        UploaderKey::Staff(s) => (
            Uploader::Staff(work::staff_ctx(conn, s.ente_id, s.staff_user_id)?),
            STAFF_LINKS,
        ),
        UploaderKey::Citizen(ente_id, citizen_id) => (
            Uploader::Citizen {
                ente_id,
                citizen_id,
            },
            LINKS,
        ),
    })
}

async fn upload_document(
    state: web::Data<AppState>,
    who: UploaderKey,
    id: String,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limits = state.limits.clone();
    let (mut files, _) = read_files(&req, payload, &limits).await?;
    if files.len() != 1 {
        return Err(ApiError::BadRequest(
            "Inviare un documento alla volta, nel campo «file».".into(),
        ));
    }
    let file = files.remove(0);
    let detected = attachments::check_upload(&file, &limits)?;
    let info = blocking(&state, move |conn, st| {
        let (who, links) = uploader(conn, who)?;
        documents::upload(
            conn,
            st.store.as_ref(),
            links,
            &who,
            &id,
            &file,
            &detected,
            &st.limits,
            st.clock.now(),
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(info))
}

#[derive(Debug, Clone, Copy)]
enum UploaderKey {
    Staff(Staff),
    Citizen(i64, i64),
}

async fn download_document(
    state: web::Data<AppState>,
    who: UploaderKey,
    id: String,
    doc: String,
) -> Result<HttpResponse, ApiError> {
    let (info, bytes) = blocking(&state, move |conn, st| {
        let (who, links) = uploader(conn, who)?;
        let read = documents::read(conn, st.store.as_ref(), links, &who, &id, &doc)?;
        if let Uploader::Staff(ctx) = who {
            audit::record_read(
                conn,
                ctx.ente_id,
                Actor::Staff(ctx.username),
                &id,
                Read::Document(&doc),
            );
        }
        Ok::<_, crate::backoffice::BackofficeError>(read)
    })
    .await?;
    Ok(file_response(
        &info.filename,
        &info.mime,
        &info.sha256,
        bytes,
    ))
}

/// `POST /api/v1/staff/instances/{id}/documents` — a document of the office (multipart,
/// field `file`), to send with a request for integration or as the reply.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn staff_upload(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    upload_document(
        state,
        UploaderKey::Staff(staff),
        path.into_inner(),
        req,
        payload,
    )
    .await
}

/// `GET /api/v1/staff/instances/{id}/documents/{document}`
#[tracing::instrument(skip_all)]
pub async fn staff_document(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, doc) = path.into_inner();
    download_document(state, UploaderKey::Staff(staff), id, doc).await
}

/// `GET /api/v1/staff/instances/{id}/attachments/{attachment}` — a submission attachment.
#[tracing::instrument(skip_all)]
pub async fn staff_attachment(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, att) = path.into_inner();
    let (info, bytes) = blocking(&state, move |conn, st| {
        let ctx = work::staff_ctx(conn, staff.ente_id, staff.staff_user_id)?;
        work::load_for_staff(conn, &ctx, &id)?;
        let read = attachments::read_checked(conn, st.store.as_ref(), STAFF_LINKS, &id, &att)
            .map_err(crate::backoffice::BackofficeError::from)?;
        audit::record_read(
            conn,
            staff.ente_id,
            Actor::Staff(ctx.username),
            &id,
            Read::Attachment(&att),
        );
        Ok::<_, crate::backoffice::BackofficeError>(read)
    })
    .await?;
    Ok(file_response(
        &info.filename,
        &info.mime,
        &info.sha256,
        bytes,
    ))
}

/// `POST /api/v1/instances/{id}/documents` — a document for the integration answer.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn citizen_upload(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    upload_document(
        state,
        UploaderKey::Citizen(c.ente_id, c.citizen_id),
        path.into_inner(),
        req,
        payload,
    )
    .await
}

/// `GET /api/v1/me/instances/{id}/documents/{document}` — the reply, or a document of the
/// integration.
#[tracing::instrument(skip_all)]
pub async fn citizen_document(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let (id, doc) = path.into_inner();
    download_document(
        state,
        UploaderKey::Citizen(c.ente_id, c.citizen_id),
        id,
        doc,
    )
    .await
}

async fn citizen_view(
    state: &web::Data<AppState>,
    ctx: crate::instances::CitizenCtx,
    id: String,
) -> Result<HttpResponse, ApiError> {
    let view = blocking(state, move |conn, st| {
        crate::instances::view(conn, &st.forms, LINKS, ctx, &id, st.clock.today())
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// The citizen's withdrawal.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/instances/{id}/withdraw`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn withdraw(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    body: web::Json<WithdrawBody>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let body = body.into_inner();
    let id2 = id.clone();
    blocking(&state, move |conn, st| {
        work::withdraw(
            conn,
            c.ente_id,
            c.citizen_id,
            &id2,
            body.reason.as_deref(),
            st.clock.now(),
        )
    })
    .await?;
    citizen_view(&state, c, id).await
}

/// `POST /api/v1/instances/{id}/integration` — the answer to the request for integration.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn answer_integration(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    body: web::Json<work::IntegrationAnswer>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let body = body.into_inner();
    let id2 = id.clone();
    blocking(&state, move |conn, st| {
        work::answer_integration(conn, c.ente_id, c.citizen_id, &id2, &body, st.clock.now())
    })
    .await?;
    citizen_view(&state, c, id).await
}
