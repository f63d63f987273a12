//! The FOIA API (issue #13 §3): the office notifies counter-interested parties and records
//! their answers (staff actions with `If-Match`, answering with the instance screen), the
//! FOIA side of an instance for staff and citizen, the public subject line, the citizen's
//! request for review (riesame) and the transparency officer's decision. The public register
//! is in [`super::public`].

use actix_web::{web, HttpRequest, HttpResponse};

use crate::backoffice::foia::{self, CounterpartyAnswer, CounterpartyNotice, PublicSubject};
use crate::backoffice::foia::{ReviewDecision, ReviewRequest};
use crate::backoffice::work::MailLink;
use crate::http::extract::{blocking, AppState, Citizen, Staff};
use crate::http::problem::ApiError;
use crate::http::work::{act, mail_link};

/// `POST /api/v1/staff/instances/{id}/counterparties`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn notify_counterparties(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    req: HttpRequest,
    body: web::Json<CounterpartyNotice>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    act(
        state,
        staff,
        path.into_inner(),
        &req,
        move |conn, st, ctx, e, id| {
            let link = mail_link(st, id);
            foia::notify_counterparties(conn, ctx, id, e, &body, MailLink(&link), st.clock.now())
        },
    )
    .await
}

/// `POST /api/v1/staff/instances/{id}/counterparties/{position}/answer`
#[tracing::instrument(skip_all, fields(instance = %path.0))]
pub async fn counterparty_answer(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, i32)>,
    req: HttpRequest,
    body: web::Json<CounterpartyAnswer>,
) -> Result<HttpResponse, ApiError> {
    let (id, position) = path.into_inner();
    let body = body.into_inner();
    act(state, staff, id, &req, move |conn, st, ctx, e, id| {
        foia::record_counterparty_answer(conn, ctx, id, e, position, &body, st.clock.now())
    })
    .await
}

/// `GET /api/v1/staff/instances/{id}/foia`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn staff_foia(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let view = blocking(&state, move |conn, st| {
        foia::staff_foia_view(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &id,
            st.clock.today(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `PUT /api/v1/staff/instances/{id}/foia/public-subject`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn public_subject(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    body: web::Json<PublicSubject>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = body.into_inner();
    let view = blocking(&state, move |conn, st| {
        foia::set_public_subject(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &id,
            body.subject.as_deref(),
            st.clock.now(),
        )?;
        foia::staff_foia_view(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &id,
            st.clock.today(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v1/me/instances/{id}/foia`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn citizen_foia(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let view = blocking(&state, move |conn, st| {
        foia::citizen_foia_view(conn, c.ente_id, c.citizen_id, &id, st.clock.today())
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/instances/{id}/review`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn request_review(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    body: web::Json<ReviewRequest>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let body = body.into_inner();
    let view = blocking(&state, move |conn, st| {
        foia::request_review(conn, c.ente_id, c.citizen_id, &id, &body, st.clock.now())?;
        foia::citizen_foia_view(conn, c.ente_id, c.citizen_id, &id, st.clock.today())
    })
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// `GET /api/v1/staff/foia/reviews`
#[tracing::instrument(skip_all)]
pub async fn reviews(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, ApiError> {
    let list = blocking(&state, move |conn, st| {
        foia::reviews_for_rpct(conn, staff.ente_id, staff.staff_user_id, st.clock.today())
    })
    .await?;
    Ok(HttpResponse::Ok().json(list))
}

/// `POST /api/v1/staff/foia/reviews/{id}/decision`
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn decide_review(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    body: web::Json<ReviewDecision>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let body = body.into_inner();
    let view = blocking(&state, move |conn, st| {
        let link = mail_link(st, &id);
        foia::decide_review(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &id,
            &body,
            MailLink(&link),
            st.clock.now(),
        )?;
        foia::staff_foia_view(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &id,
            st.clock.today(),
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}
