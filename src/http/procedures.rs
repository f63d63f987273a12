//! The staff actions of the procedures (`src/procedures/`): the preavviso di rigetto of a
//! residence declaration. Same frame as the back office's actions (`http::work::act`).

use actix_web::{web, HttpRequest, HttpResponse};

use crate::backoffice::work::MailLink;
use crate::http::extract::{AppState, Staff};
use crate::http::problem::ApiError;
use crate::http::work::{act, mail_link, TextBody};
use crate::procedures::preavviso;

/// `POST /api/v1/staff/instances/{id}/refusal-notice` — see [`preavviso::send`].
#[tracing::instrument(skip_all, fields(instance = %path))]
pub async fn refusal_notice(
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
            preavviso::send(
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
