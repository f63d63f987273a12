//! Public transparency data of an ente, addressed by its code, without login: procedure
//! times and satisfaction ratings (see [`crate::transparency`]). JSON by default; CSV with
//! `Accept: text/csv` or `?format=csv` (`?format=json` forces JSON).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::catalog::EnteRef;
use crate::http::extract::{blocking, AppState};
use crate::http::problem::ApiError;
use crate::org::Ente;
use crate::transparency::{self, DayPeriod, MonthPeriod};

/// The format of the answer, when the `Accept` header is not to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Json,
    Csv,
}

/// A period of days and the format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DaysQuery {
    /// First day, `YYYY-MM-DD` (Italian date of the decision), included; default: 364 days
    /// before `to`.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`, included; default: today.
    #[param(format = Date)]
    pub to: Option<String>,
    /// `csv` or `json`; overrides `Accept`.
    #[param(inline)]
    pub format: Option<Format>,
}

/// A period of months and the format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct MonthsQuery {
    /// First month, `YYYY-MM`, included; default: 11 months before `to`.
    #[param(pattern = r"^\d{4}-\d{2}$")]
    pub from: Option<String>,
    /// Last month, `YYYY-MM`, included; default: this month.
    #[param(pattern = r"^\d{4}-\d{2}$")]
    pub to: Option<String>,
    /// `csv` or `json`; overrides `Accept`.
    #[param(inline)]
    pub format: Option<Format>,
}

/// CSV when asked by `format`, else when `Accept` names `text/csv` before (or without)
/// `application/json`.
fn wants_csv(req: &HttpRequest, format: Option<Format>) -> bool {
    if let Some(f) = format {
        return f == Format::Csv;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match (accept.find("text/csv"), accept.find("application/json")) {
        (Some(csv), Some(json)) => csv < json,
        (Some(_), None) => true,
        _ => false,
    }
}

fn answer<T: serde::Serialize>(csv: Option<String>, view: &T) -> Result<HttpResponse, ApiError> {
    let mut res = HttpResponse::Ok();
    res.insert_header((header::VARY, "Accept"));
    Ok(match csv {
        Some(text) => res
            .content_type("text/csv; charset=utf-8; header=present")
            .body(text),
        None => res.json(view),
    })
}

async fn ente(state: &AppState, code: String) -> Result<(Ente, EnteRef), ApiError> {
    let ente = state.ente_by_code(&code.to_ascii_lowercase()).await?;
    let r = EnteRef {
        code: ente.code.clone(),
        name: ente.name.clone(),
    };
    Ok((ente, r))
}

/// `GET /api/v1/public/enti/{ente}/procedure-times[?from&to&format]`
#[tracing::instrument(skip_all, fields(ente = %path))]
pub async fn procedure_times(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<DaysQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (ente, ente_ref) = ente(&state, path.into_inner()).await?;
    let q = query.into_inner();
    let csv = wants_csv(&req, q.format);
    let period = DayPeriod::parse(q.from.as_deref(), q.to.as_deref(), state.clock.today())?;
    let view = blocking(&state, move |conn, _| {
        transparency::procedure_times(conn, ente_ref, ente.id, period)
    })
    .await?;
    let text = if csv { Some(view.to_csv()?) } else { None };
    answer(text, &view)
}

/// `GET /api/v1/public/enti/{ente}/ratings[?from&to&format]`
#[tracing::instrument(skip_all, fields(ente = %path))]
pub async fn ratings(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<MonthsQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (ente, ente_ref) = ente(&state, path.into_inner()).await?;
    let q = query.into_inner();
    let csv = wants_csv(&req, q.format);
    let period = MonthPeriod::parse(q.from.as_deref(), q.to.as_deref(), state.clock.today())?;
    let view = blocking(&state, move |conn, _| {
        transparency::ratings(conn, ente_ref, ente.id, &period)
    })
    .await?;
    let text = if csv { Some(view.to_csv()?) } else { None };
    answer(text, &view)
}

/// The year of the register and the format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RegisterQuery {
    /// Year of the requests (Italian date of submission); default: this year.
    #[param(minimum = 2000, maximum = 2100)]
    pub year: Option<i32>,
    /// `csv` or `json`; overrides `Accept`.
    #[param(inline)]
    pub format: Option<Format>,
}

/// `GET /api/v1/public/enti/{ente}/foia-register[?year&format]` — the registro degli accessi.
#[tracing::instrument(skip_all, fields(ente = %path))]
pub async fn foia_register(
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<RegisterQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let (ente, ente_ref) = ente(&state, path.into_inner()).await?;
    let q = query.into_inner();
    let csv = wants_csv(&req, q.format);
    let year = q
        .year
        .unwrap_or_else(|| chrono::Datelike::year(&state.clock.today()));
    if !(2000..=2100).contains(&year) {
        return Err(ApiError::BadRequest(
            "Il parametro «year» deve essere un anno tra il 2000 e il 2100.".into(),
        ));
    }
    let view = blocking(&state, move |conn, _| {
        crate::backoffice::foia::public_register(conn, ente_ref, ente.id, year)
    })
    .await?;
    let text = if csv {
        Some(view.to_csv().map_err(ApiError::Internal)?)
    } else {
        None
    };
    answer(text, &view)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn with_accept(accept: Option<&str>) -> HttpRequest {
        let mut req = TestRequest::default();
        if let Some(a) = accept {
            req = req.insert_header((header::ACCEPT, a));
        }
        req.to_http_request()
    }

    #[test]
    fn csv_when_asked_for_by_format_or_accept() {
        assert!(!wants_csv(&with_accept(None), None));
        assert!(wants_csv(&with_accept(None), Some(Format::Csv)));
        assert!(wants_csv(&with_accept(Some("text/csv")), None));
        assert!(wants_csv(&with_accept(Some("Text/CSV; q=1")), None));
        assert!(wants_csv(
            &with_accept(Some("text/csv, application/json;q=0.5")),
            None
        ));
        assert!(!wants_csv(
            &with_accept(Some("application/json, text/csv;q=0.5")),
            None
        ));
        assert!(!wants_csv(&with_accept(Some("*/*")), None));
        // `format` wins over Accept.
        assert!(!wants_csv(
            &with_accept(Some("text/csv")),
            Some(Format::Json)
        ));
    }
}
