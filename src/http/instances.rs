//! Instances API for citizens: drafts, attachments, submission, personal area.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::rating::Rating;
use crate::http::extract::{blocking, AppState, Citizen};
use crate::http::problem::ApiError;
use crate::http::routes::LINKS;
use crate::instances::attachments::{self, clean_filename, mib, Upload};
use crate::instances::{self, submit, InstanceError};
use crate::ratings;

/// A new draft: of which service (its slug).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDraft {
    pub service: String,
}

/// `POST /api/v1/instances` — a new draft of a service.
#[tracing::instrument(skip_all, fields(service = %body.service))]
pub async fn create(
    state: web::Data<AppState>,
    citizen: Citizen,
    body: web::Json<NewDraft>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let view = blocking(&state, move |conn, st| {
        let id = instances::create_draft(
            conn,
            ctx,
            &body.service,
            st.settings.instances.draft_ttl_days,
        )?;
        instances::view(conn, &st.forms, LINKS, ctx, &id, st.clock.today())
    })
    .await?;
    let location = LINKS.draft(&view.id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(view))
}

/// `GET /api/v1/instances/{id}` and `GET /api/v1/me/instances/{id}`.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn show(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let id = path.into_inner();
    let view = blocking(&state, move |conn, st| {
        instances::view(conn, &st.forms, LINKS, ctx, &id, st.clock.today())
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `PATCH /api/v1/instances/{id}` — JSON Merge Patch (RFC 7396) of the draft's data.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn patch(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let id = path.into_inner();
    let view = blocking(&state, move |conn, st| {
        instances::patch_draft(
            conn,
            &st.forms,
            ctx,
            &id,
            &body,
            st.settings.instances.draft_ttl_days,
            st.clock.today(),
        )?;
        instances::view(conn, &st.forms, LINKS, ctx, &id, st.clock.today())
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `DELETE /api/v1/instances/{id}` — discards a draft (a submitted instance stays: 409).
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn discard(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let id = path.into_inner();
    blocking(&state, move |conn, st| {
        let keys = instances::discard_draft(conn, ctx, &id)?;
        for key in keys {
            st.store.delete(&key)?;
        }
        Ok::<_, InstanceError>(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /api/v1/instances/{id}/attachments` — multipart upload of one or more `file`
/// parts, with an optional `description` part. Every file is checked (size, type by
/// content) before anything is stored; any refusal stores nothing.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn upload(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let id = path.into_inner();
    let limits = state.limits.clone();
    let (uploads, description) = read_files(&req, payload, &limits).await?;
    let mut checked = Vec::with_capacity(uploads.len());
    for mut u in uploads {
        u.description = description.clone();
        let detected = attachments::check_upload(&u, &limits)?;
        checked.push((u, detected));
    }
    // One upload is one transaction: any refusal (the eleventh file of ten, a full quota)
    // stores none of its files.
    let added = blocking(&state, move |conn, st| {
        attachments::add(
            conn,
            st.store.as_ref(),
            LINKS,
            ctx,
            &id,
            &checked,
            &st.limits,
        )
    })
    .await?;
    Ok(HttpResponse::Created().json(Uploaded { attachments: added }))
}

/// The files of a multipart upload (field `file`, optional `description`), within the
/// per-file and per-request limits.
pub(crate) async fn read_files(
    req: &HttpRequest,
    payload: web::Payload,
    limits: &attachments::Limits,
) -> Result<(Vec<Upload>, Option<String>), ApiError> {
    let mut multipart = actix_multipart::Multipart::new(req.headers(), payload);
    let mut uploads: Vec<Upload> = Vec::new();
    let mut description: Option<String> = None;
    let mut request_total: u64 = 0;
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(multipart_error)?;
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename().map(str::to_owned));
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(multipart_error)?;
            bytes.extend_from_slice(&chunk);
            request_total += chunk.len() as u64;
            if bytes.len() as u64 > limits.max_file_bytes {
                return Err(InstanceError::TooLarge(format!(
                    "Il file «{}» supera la dimensione massima di {} per allegato.",
                    clean_filename(filename.as_deref().unwrap_or("allegato")),
                    mib(limits.max_file_bytes)
                ))
                .into());
            }
            if request_total > limits.max_total_bytes {
                return Err(InstanceError::TooLarge(format!(
                    "Gli allegati della pratica supererebbero in totale {}.",
                    mib(limits.max_total_bytes)
                ))
                .into());
            }
        }
        match (name.as_str(), filename) {
            ("file", Some(filename)) => uploads.push(Upload {
                filename,
                description: None,
                bytes,
            }),
            ("description", None) => {
                description = Some(String::from_utf8_lossy(&bytes).into_owned());
            }
            _ => {
                return Err(ApiError::BadRequest(format!(
                    "Parte «{name}» non prevista: inviare i file nel campo «file» e \
                     facoltativamente una descrizione nel campo «description»."
                )))
            }
        }
    }
    if uploads.is_empty() {
        return Err(ApiError::BadRequest(
            "Nessun file ricevuto: inviare il file nel campo «file».".into(),
        ));
    }
    Ok((uploads, description))
}

/// The answer to an upload: the attachments it added.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Uploaded {
    pub attachments: Vec<crate::instances::view::AttachmentInfo>,
}

fn multipart_error(e: actix_multipart::MultipartError) -> ApiError {
    use actix_multipart::MultipartError as M;
    match e {
        M::ContentTypeMissing
        | M::ContentTypeParse
        | M::ContentTypeIncompatible
        | M::BoundaryMissing => {
            ApiError::UnsupportedMediaType("Inviare gli allegati come multipart/form-data.".into())
        }
        other => ApiError::BadRequest(format!("Caricamento non riuscito: {other}")),
    }
}

/// `DELETE /api/v1/instances/{id}/attachments/{attachment}`
#[tracing::instrument(skip_all)]
pub async fn remove_attachment(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let (id, att) = path.into_inner();
    blocking(&state, move |conn, st| {
        attachments::remove(conn, st.store.as_ref(), ctx, &id, &att)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/me/instances/{id}/attachments/{attachment}` — the file, as a download.
#[tracing::instrument(skip_all)]
pub async fn download_attachment(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let (id, att) = path.into_inner();
    let (info, bytes) = blocking(&state, move |conn, st| {
        attachments::read(conn, st.store.as_ref(), LINKS, ctx, &id, &att)
    })
    .await?;
    Ok(file_response(
        &info.filename,
        &info.mime,
        &info.sha256,
        bytes,
    ))
}

/// `POST /api/v1/instances/{id}/submit` — see [`submit::submit`]. 201 the first time, 200
/// with the same body when the instance was already submitted.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn submit(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let id = path.into_inner();
    let key = match req.headers().get("idempotency-key") {
        None => None,
        Some(v) => {
            let k = v.to_str().ok().map(str::trim).unwrap_or_default();
            if k.is_empty() || k.len() > 200 {
                return Err(ApiError::BadRequest(
                    "L'intestazione Idempotency-Key deve essere un testo di 1–200 caratteri."
                        .into(),
                ));
            }
            Some(k.to_owned())
        }
    };
    let outcome = blocking(&state, move |conn, st| {
        submit::submit(
            conn,
            &st.forms,
            LINKS,
            ctx,
            &id,
            key.as_deref(),
            &st.settings.server.public_url,
            st.clock.today(),
        )
    })
    .await?;
    let mut res = if outcome.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(res.json(outcome.body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

/// `GET /api/v1/me/instances` — the citizen's instances, newest first.
#[tracing::instrument(skip_all)]
pub async fn my_instances(
    state: web::Data<AppState>,
    citizen: Citizen,
    query: web::Query<Paging>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let page = query.page.unwrap_or(1).max(1);
    let per_page = query.per_page.unwrap_or(20).clamp(1, 100);
    let list = blocking(&state, move |conn, _| {
        instances::list_own(conn, ctx, page, per_page)
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `GET /api/v1/me/instances/{id}/receipt`
#[tracing::instrument(skip_all)]
pub async fn receipt(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let id = path.into_inner();
    let body = blocking(&state, move |conn, _| {
        submit::receipt(conn, LINKS, ctx, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// A stored file as a download, with its digest in `x-content-sha256`.
pub(crate) fn file_response(
    filename: &str,
    mime: &str,
    sha256: &str,
    bytes: Vec<u8>,
) -> HttpResponse {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, mime.to_owned()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"),
        ))
        .insert_header(("x-content-sha256", sha256.to_owned()))
        .body(bytes)
}

/// A satisfaction rating (see [`crate::domain::rating`]): the reasons offered depend on the
/// stars — for 1–3 `istruzioni_poco_chiare`, `tempi_lunghi`, `difficolta_tecniche`, `altro`;
/// for 4–5 `istruzioni_chiare`, `tempi_rapidi`, `facile_da_usare`, `altro`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub stars: i64,
    /// One of the reasons offered for the stars given.
    #[schema(value_type = crate::domain::rating::Reason)]
    pub reason: String,
    /// At most 200 characters; never published.
    #[schema(max_length = 200)]
    pub comment: Option<String>,
}

/// `POST /api/v1/instances/{id}/rating` — the citizen rates the service of their instance,
/// once, after the decision. The rating is stored without anything that leads back to the
/// citizen or the instance; its content is not logged.
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn rate(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    body: web::Json<RatingBody>,
) -> Result<HttpResponse, ApiError> {
    let ctx = citizen.0;
    let id = path.into_inner();
    let body = body.into_inner();
    let rating = Rating::parse(body.stars, &body.reason, body.comment.as_deref())
        .map_err(ApiError::Validation)?;
    blocking(&state, move |conn, st| {
        ratings::rate(conn, ctx, &id, &rating, st.clock.now())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
