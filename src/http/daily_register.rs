//! The daily registers of an AOO for its clerks (and the ente's administrators): the list of
//! a period, and each document (JSON or CSV) with its SHA-256 as `ETag`, `Digest` and
//! `Repr-Digest`. See [`crate::protocol::daily_register`].

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use crate::http::extract::{blocking, AppState, Staff};
use crate::http::problem::ApiError;
use crate::protocol::daily_register::{self, Format};

/// The longest period one list answers.
const MAX_DAYS: i64 = 366;

/// A period of days.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// First day, `YYYY-MM-DD`, included; default: 30 days before `to`.
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD`, included; default: yesterday (Italian date). At most 366 days
    /// after `from`.
    #[param(format = Date)]
    pub to: Option<String>,
}

/// The format of a document, when the path does not end in `.json` or `.csv`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// `json` (the default) or `csv`.
    #[param(inline)]
    pub format: Option<Format>,
}

fn day(text: &str, name: &str) -> Result<NaiveDate, ApiError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        ApiError::BadRequest(format!(
            "Il parametro {name} deve essere una data AAAA-MM-GG."
        ))
    })
}

/// The download address of a document.
pub fn document_link(aoo: &str, date: NaiveDate, format: Format) -> String {
    format!(
        "/api/v1/protocol/{aoo}/daily-registers/{}.{}",
        date.format("%Y-%m-%d"),
        format.as_str()
    )
}

/// `GET /api/v1/protocol/{aoo}/daily-registers[?from&to]`
#[tracing::instrument(skip_all, fields(aoo = %path))]
pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<String>,
    query: web::Query<PeriodQuery>,
) -> Result<HttpResponse, ApiError> {
    let aoo = path.into_inner();
    let q = query.into_inner();
    let to = match &q.to {
        Some(t) => day(t, "to")?,
        None => state.clock.today() - Duration::days(1),
    };
    let from = match &q.from {
        Some(f) => day(f, "from")?,
        None => to - Duration::days(30),
    };
    if from > to || (to - from).num_days() > MAX_DAYS {
        return Err(ApiError::BadRequest(format!(
            "Il periodo va da from a to, al più {MAX_DAYS} giorni."
        )));
    }
    let body = blocking(&state, move |conn, _| {
        daily_register::list(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &aoo,
            from,
            to,
            &document_link,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `2026-12-02`, `2026-12-02.json` or `2026-12-02.csv`: the day and the format it names.
fn parse_file(file: &str) -> Option<(NaiveDate, Option<Format>)> {
    let (date, format) = match file.split_once('.') {
        Some((d, ext)) => (d, Some(Format::parse(ext)?)),
        None => (file, None),
    };
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some((date, format))
}

/// `GET /api/v1/protocol/{aoo}/daily-registers/{date}[.json|.csv][?format]`
#[tracing::instrument(skip_all, fields(aoo = %path.0, file = %path.1))]
pub async fn download(
    state: web::Data<AppState>,
    staff: Staff,
    path: web::Path<(String, String)>,
    query: web::Query<FormatQuery>,
) -> Result<HttpResponse, ApiError> {
    let (aoo, file) = path.into_inner();
    let (date, from_path) = parse_file(&file).ok_or(ApiError::NotFound)?;
    let format = match (from_path, query.format) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::BadRequest(
                "Il formato del percorso e il parametro format non coincidono.".into(),
            ))
        }
        (Some(f), _) | (None, Some(f)) => f,
        (None, None) => Format::Json,
    };
    let code = aoo.clone();
    let doc = blocking(&state, move |conn, _| {
        daily_register::download(
            conn,
            staff.ente_id,
            staff.staff_user_id,
            &code,
            date,
            format,
        )
    })
    .await?;
    let raw = hex_bytes(&doc.sha256);
    let b64 = openssl::base64::encode_block(&raw);
    Ok(HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((header::ETAG, format!("\"{}\"", doc.sha256)))
        .insert_header(("digest", format!("sha-256={b64}")))
        .insert_header(("repr-digest", format!("sha-256=:{b64}:")))
        .insert_header(("x-content-sha256", doc.sha256.clone()))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"registro-giornaliero-{aoo}-{}.{}\"",
                date.format("%Y-%m-%d"),
                format.as_str()
            ),
        ))
        .body(doc.content))
}

/// The bytes of a lowercase hex digest (checked by the caller: it matched the content).
fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        assert_eq!(parse_file("2026-12-02"), Some((d, None)));
        assert_eq!(parse_file("2026-12-02.csv"), Some((d, Some(Format::Csv))));
        assert_eq!(parse_file("2026-12-02.json"), Some((d, Some(Format::Json))));
        assert_eq!(parse_file("2026-12-02.pdf"), None);
        assert_eq!(parse_file("2026-13-02"), None);
        assert_eq!(hex_bytes("00ff10"), vec![0, 255, 16]);
    }
}
