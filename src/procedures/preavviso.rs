//! The preavviso di rigetto (L. 241/1990 art. 10-bis) of a residence declaration: before
//! refusing, the office tells the citizen why, and the citizen has 10 days for observations.
//! It suspends the silence-assent of DL 5/2012 art. 5: the daily job never grants a
//! declaration that has one ([`has_notice`]); the office then decides.
//!
//! A staff action like those of `backoffice::work` (same frame: access, `If-Match`, state
//! machine, one transaction): the state machine's `message` transition, allowed only while
//! the term runs, once per instance (`refusal_notices`' primary key). Like every formal act it
//! is registered (outgoing) in the AOO's register, and its e-mail quotes the number.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::{of_service, residenza, ProcedureKind};
use crate::backoffice::work::{
    canonical, event, footer, insert_message, parties, register, required_text, staff_act, Act,
    ActRef, Expected, MailLink, Parties, StaffCtx,
};
use crate::backoffice::BackofficeError;
use crate::db::schema::refusal_notices as rn;
use crate::db::DbConn;
use crate::domain::{calendar, FieldError, Transition};
use crate::instances::Event;

/// Whether the instance has a preavviso di rigetto.
pub fn has_notice(conn: &mut DbConn, instance_id: &str) -> QueryResult<bool> {
    let n: i64 = rn::table
        .filter(rn::instance_id.eq(instance_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

fn refuse(message: &str) -> BackofficeError {
    BackofficeError::Invalid(vec![FieldError::new("", message)])
}

/// Sends the preavviso: a message to the citizen (area and e-mail) with the reasons, the
/// days for observations; the silence-assent stops.
pub fn send(
    conn: &mut DbConn,
    ctx: &StaffCtx,
    id: &str,
    expected: Expected,
    reasons: &str,
    link: MailLink<'_>,
    now: NaiveDateTime,
) -> Result<(), BackofficeError> {
    let reasons = required_text("/text", reasons, 10_000)?;
    staff_act(
        conn,
        ctx,
        id,
        expected,
        Transition::Message,
        now,
        |conn, row, _| {
            let procedure = of_service(conn, row.service_id)?;
            let Some(procedure) = procedure.filter(|p| p.kind == ProcedureKind::Residenza) else {
                return Err(refuse(
                    "Il preavviso di rigetto con sospensione del silenzio-assenso si invia solo per le dichiarazioni di residenza.",
                ));
            };
            if !row.status.term_runs() {
                return Err(refuse(
                    "Il preavviso di rigetto si invia solo su una pratica presentata o in lavorazione, prima della decisione.",
                ));
            }
            if has_notice(conn, id)? {
                return Err(refuse(
                    "Per questa pratica il preavviso di rigetto è già stato inviato.",
                ));
            }
            let days = residenza::Settings::read(&procedure.settings)?.observation_days;
            let by = calendar::rome_date(now) + Duration::days(i64::from(days));
            let text = format!(
                "Preavviso di rigetto (art. 10-bis L. 241/1990).\n\n{reasons}\n\n\
                 Entro il {} (10 giorni) può presentare per iscritto osservazioni ed eventuali \
                 documenti. Il termine del silenzio-assenso (art. 5 D.L. 5/2012) è sospeso.",
                by.format("%d/%m/%Y")
            );
            let message = insert_message(
                conn,
                row,
                now,
                "office",
                Some(ctx.staff_user_id),
                "message",
                &text,
                None,
                None,
            )?;
            diesel::insert_into(rn::table)
                .values((
                    rn::instance_id.eq(id),
                    rn::ente_id.eq(row.ente_id),
                    rn::sent_at.eq(now),
                    rn::sent_by.eq(ctx.staff_user_id),
                    rn::observations_by.eq(by),
                    rn::message_id.eq(message),
                ))
                .execute(conn)?;
            event(
                conn,
                id,
                now,
                &ctx.actor(),
                Event::RefusalNotice {
                    message,
                    observations_by: by,
                },
            )?;
            // A formal act to the citizen: an outgoing registration (by the AOO's register,
            // built-in or external), the e-mail quoting its number.
            let Parties { who, off, title } = parties(conn, row)?;
            let (document, digest) = canonical(&serde_json::json!({
                "type": "preavviso_di_rigetto",
                "instance": row.id,
                "text": text,
                "observations_by": by,
            }))?;
            let reg = register(
                conn,
                row,
                off.aoo_id,
                now,
                Act {
                    of: ActRef::Message(message),
                    direction: crate::protocol::Direction::Out,
                    sender: off.name.clone(),
                    recipient: Some(who.register_name.clone()),
                    subject: format!("{title} – preavviso di rigetto"),
                    digest: &digest,
                    files: &[],
                    document: Some(document),
                    primary_document: None,
                },
            )?;
            reg.mail(
                conn,
                row,
                &ActRef::Message(message),
                now,
                format!("refusal-notice:{id}"),
                who.email.as_deref(),
                format!(
                    "Preavviso di rigetto – {title} – Prot. n. {} del {}",
                    reg.number_text(),
                    reg.date_text()
                ),
                format!(
                    "Gentile {},\n\n{} le comunica, per la sua pratica «{title}»:\n\n{text}\n\n{}",
                    who.display,
                    off.name,
                    footer(link.0)
                ),
            )?;
            Ok(())
        },
    )
}
