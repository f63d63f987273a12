//! Appointment booking over HTTP (`booking`): availability (public), the citizen's bookings
//! and waiting lists, the office's agenda, attendance and cancellations.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::NaiveDate;
use serde::Deserialize;

use crate::backoffice::work;
use crate::booking::{
    self, AttendanceRequest, BookingRequest, MoveRequest, Site, StaffCancellation, WaitingRequest,
};
use crate::http::extract::{blocking, AppState, Citizen, CurrentEnte, Staff};
use crate::http::problem::ApiError;

fn site(st: &AppState) -> Site<'_> {
    Site {
        public_url: &st.settings.server.public_url,
    }
}

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// First day (Italian date; default today).
    pub from: Option<NaiveDate>,
    /// Last day, included (default two weeks from `from`; at most 92 days in all).
    pub to: Option<NaiveDate>,
}

/// `?date=YYYY-MM-DD`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DayQuery {
    pub date: NaiveDate,
}

/// `GET /api/v1/services/{slug}/availability`
#[tracing::instrument(skip_all, fields(slug = %path))]
pub async fn availability(
    state: web::Data<AppState>,
    ente: CurrentEnte,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let slug = path.into_inner();
    let q = query.into_inner();
    let ente_id = ente.0.id;
    let view = blocking(&state, move |conn, st| {
        booking::availability(conn, ente_id, &slug, q.from, q.to, st.clock.now())
    })
    .await?;
    // Serialized into a buffer sized for the answer (about 130 bytes a slot) rather than
    // one grown by doubling: a 60-day answer of ten calendars is megabytes.
    let slots: usize = view.days.iter().map(|d| d.slots.len()).sum();
    let mut body = Vec::with_capacity(1024 + 140 * slots);
    serde_json::to_writer(&mut body, &view)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("availability not serialized: {e}")))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(body))
}

/// `POST /api/v1/bookings`
#[tracing::instrument(skip_all)]
pub async fn book(
    state: web::Data<AppState>,
    citizen: Citizen,
    body: web::Json<BookingRequest>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let req = body.into_inner();
    let view = blocking(&state, move |conn, st| {
        booking::book(conn, &c, &req, site(st), st.clock.now())
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/me/bookings/{}", view.id)))
        .json(view))
}

/// `GET /api/v1/me/bookings`
#[tracing::instrument(skip_all)]
pub async fn mine(state: web::Data<AppState>, citizen: Citizen) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let view = blocking(&state, move |conn, _| booking::mine(conn, &c)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v1/me/bookings/{id}`
#[tracing::instrument(skip_all, fields(booking = %path))]
pub async fn show(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let view = blocking(&state, move |conn, _| booking::get(conn, &c, &id)).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v1/me/bookings/{id}/ical`
#[tracing::instrument(skip_all, fields(booking = %path))]
pub async fn ical(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let text = blocking(&state, move |conn, st| {
        booking::ics(conn, &c, &id, site(st), st.clock.now())
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"appuntamento.ics\"",
        ))
        .body(text))
}

/// `POST /api/v1/me/bookings/{id}/cancel`
#[tracing::instrument(skip_all, fields(booking = %path))]
pub async fn cancel(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let view = blocking(&state, move |conn, st| {
        booking::cancel(conn, &c, &id, site(st), st.clock.now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `GET /api/v1/me/bookings/{id}/notice`
#[tracing::instrument(skip_all, fields(booking = %path))]
pub async fn notice(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let html = blocking(&state, move |conn, _| booking::notice(conn, &c, &id)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// Where the citizen pays: the pagoPA Checkout page.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CheckoutView {
    pub checkout_url: String,
}

/// `POST /api/v1/me/bookings/{id}/checkout`
#[tracing::instrument(skip_all, fields(booking = %path))]
pub async fn checkout(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let url = blocking(&state, move |conn, st| {
        booking::checkout(conn, &c, &id, &st.settings.pagopa, site(st), st.clock.now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(CheckoutView { checkout_url: url }))
}

/// `POST /api/v1/me/bookings/{id}/move`
#[tracing::instrument(skip_all, fields(booking = %path))]
pub async fn move_to(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    body: web::Json<MoveRequest>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let id = path.into_inner();
    let req = body.into_inner();
    let view = blocking(&state, move |conn, st| {
        booking::move_to(conn, &c, &id, &req, site(st), st.clock.now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/services/{slug}/waiting-list`
#[tracing::instrument(skip_all, fields(slug = %path))]
pub async fn join_waitlist(
    state: web::Data<AppState>,
    citizen: Citizen,
    path: web::Path<String>,
    body: web::Json<WaitingRequest>,
) -> Result<HttpResponse, ApiError> {
    let c = citizen.0;
    let slug = path.into_inner();
    let req = body.into_inner();
    let view = blocking(&state, move |conn, st| {
        booking::join_waitlist(conn, &c, &slug, &req, st.clock.now())
    })
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// `GET /api/v1/staff/calendars/{code}/agenda?date=`
#[tracing::instrument(skip_all, fields(calendar = %path))]
pub async fn agenda(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<DayQuery>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let date = query.into_inner().date;
    let view = blocking(&state, move |conn, _| {
        let ctx = work::staff_ctx(conn, staff.ente_id, staff.staff_user_id)
            .map_err(booking::BookingError::from)?;
        booking::agenda(conn, &ctx, &code, date)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view))
}

/// `GET /api/v1/staff/calendars/{code}/payments?from=…&to=…`
#[tracing::instrument(skip_all, fields(calendar = %path))]
pub async fn payments_report(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<RangeQuery>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let q = query.into_inner();
    let view = blocking(&state, move |conn, st| {
        let ctx = work::staff_ctx(conn, staff.ente_id, staff.staff_user_id)
            .map_err(booking::BookingError::from)?;
        let today = st.clock.today();
        let to = q.to.unwrap_or(today);
        let from = q.from.unwrap_or(to - chrono::Duration::days(30));
        booking::payments_report(conn, &ctx, &code, from, to)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view))
}

/// `POST /api/v1/staff/calendars/{code}/cancellations`
#[tracing::instrument(skip_all, fields(calendar = %path))]
pub async fn staff_cancel(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    body: web::Json<StaffCancellation>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let req = body.into_inner();
    let view = blocking(&state, move |conn, st| {
        let ctx = work::staff_ctx(conn, staff.ente_id, staff.staff_user_id)
            .map_err(booking::BookingError::from)?;
        booking::staff_cancel(conn, &ctx, &code, &req, site(st), st.clock.now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/staff/bookings/{id}/attendance`
#[tracing::instrument(skip_all, fields(booking = %path))]
pub async fn attendance(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    body: web::Json<AttendanceRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let a = body.into_inner().attendance;
    let view = blocking(&state, move |conn, st| {
        let ctx = work::staff_ctx(conn, staff.ente_id, staff.staff_user_id)
            .map_err(booking::BookingError::from)?;
        booking::mark(conn, &ctx, &id, a, st.clock.now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}
