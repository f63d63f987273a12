//! The back office's daily work, run by the housekeeping loop (every few minutes, on every
//! app instance): each step is idempotent, so running it again — or on two instances at once —
//! changes nothing more.
//!
//! 1. an integration not answered by its last day expires: the instance goes back to the
//!    operator, flagged `integration_expired`, and the term runs again;
//! 2. a decided instance is closed after `backoffice.auto_close_days`;
//! 3. on a silence-assent service, an instance whose term ran out is accolta by silence;
//! 5. FOIA: where the counter-interested parties had their 10 days and did not all answer,
//!    the term runs again (`foia::resume_expired`);
//! 4. each office gets one digest a day (outbox key `office-digest:<office>:<date>`) of what
//!    is overdue or due within 3 days.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::work::due_after;
use super::work::{parties, Parties};
use crate::db::schema::{
    instances as inst, integration_requests as ir, offices, refusal_notices, services,
};
use crate::db::{write_tx, DbConn};
use crate::domain::terms::Suspension;
use crate::domain::{calendar, Actor, Facts, InstanceStatus, Transition};
use crate::instances::InstanceRow;
use crate::instances::{record_event, Event};
use crate::notify::{enqueue_emails, EmailPayload};

/// One instance in a digest: service title, due date, id.
type DigestItem = (String, NaiveDate, String);
/// An office's digest: office id, ente id, e-mail, name, items.
type OfficeDigest = (i64, i64, Option<String>, String, Vec<DigestItem>);
/// A digest row as read.
type DigestRow = (i64, i64, Option<String>, String, String, NaiveDate, String);

/// What one run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DailyReport {
    pub integrations_expired: usize,
    pub closed: usize,
    pub silence_assent: usize,
    pub digests: usize,
    pub counterparties_resumed: usize,
}

/// Moves one instance by a system transition if it is still in the state read.
fn system_move(
    conn: &mut DbConn,
    id: &str,
    from: InstanceStatus,
    version: i64,
    transition: Transition,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let Ok(to) = from.apply(transition, Actor::System, Facts::default()) else {
        return Ok(false);
    };
    let n = diesel::update(
        inst::table
            .find(id)
            .filter(inst::version.eq(version))
            .filter(inst::status.eq(from.as_str())),
    )
    .set((
        inst::status.eq(to.as_str()),
        inst::version.eq(version + 1),
        inst::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Runs the daily steps for every ente at `now`.
pub fn run(
    conn: &mut DbConn,
    now: NaiveDateTime,
    auto_close_days: u32,
) -> anyhow::Result<DailyReport> {
    let today = calendar::rome_date(now);
    let mut report = DailyReport::default();

    // 1. Integrations past their last day.
    let expired: Vec<(String, i64, NaiveDate, NaiveDate, Option<NaiveDate>)> = inst::table
        .inner_join(ir::table)
        .filter(inst::status.eq(InstanceStatus::AwaitingIntegration.as_str()))
        .filter(ir::answer_by.lt(today))
        .filter(ir::answered_at.is_null())
        .select((
            inst::id,
            inst::version,
            ir::suspended_from,
            ir::answer_by,
            inst::due_date,
        ))
        .load(conn)?;
    for (id, version, from, answer_by, due) in expired {
        write_tx(conn, |conn| {
            if !system_move(
                conn,
                &id,
                InstanceStatus::AwaitingIntegration,
                version,
                Transition::ExpireIntegration,
                now,
            )? {
                return Ok::<_, diesel::result::Error>(());
            }
            // The term runs again from the day after the last day to answer.
            let resumes = answer_by + Duration::days(1);
            let suspended = (resumes - from).num_days();
            let row: InstanceRow = inst::table
                .find(&id)
                .select(InstanceRow::as_select())
                .first(conn)?;
            let new_due = due_after(
                conn,
                &row,
                Suspension {
                    from,
                    until: Some(resumes),
                },
            )?
            .or(due);
            diesel::update(inst::table.find(&id))
                .set((
                    inst::integration_expired.eq(true),
                    inst::suspended_days.eq(i32::try_from(suspended).unwrap_or(i32::MAX)),
                    inst::due_date.eq(new_due),
                ))
                .execute(conn)?;
            diesel::update(ir::table.find(&id))
                .set(ir::expired_at.eq(now))
                .execute(conn)?;
            record_event(
                conn,
                &id,
                now,
                "system",
                &Event::IntegrationExpired {
                    answer_by,
                    due_date: new_due,
                },
            )?;
            report.integrations_expired += 1;
            tracing::info!(instance = %id, "integration not answered in time: back to the office");
            Ok(())
        })?;
    }

    // 5. FOIA counter-interested parties past their 10 days (before the digest, so that the
    // digest sees the term running again).
    report.counterparties_resumed = super::foia::resume_expired(conn, now)?;

    // 2. Decided instances past the closing days.
    let limit = now - Duration::days(i64::from(auto_close_days));
    let decided: Vec<(String, i64, String)> = inst::table
        .filter(inst::status.eq_any([
            InstanceStatus::Decided.as_str(),
            InstanceStatus::SilenceAssent.as_str(),
        ]))
        .filter(inst::decided_at.le(limit))
        .select((inst::id, inst::version, inst::status))
        .load(conn)?;
    for (id, version, status) in decided {
        let Ok(from) = InstanceStatus::parse(&status) else {
            continue;
        };
        write_tx(conn, |conn| {
            if system_move(conn, &id, from, version, Transition::AutoClose, now)? {
                diesel::update(inst::table.find(&id))
                    .set(inst::closed_at.eq(now))
                    .execute(conn)?;
                record_event(conn, &id, now, "system", &Event::Closed { automatic: true })?;
                report.closed += 1;
            }
            Ok::<_, diesel::result::Error>(())
        })?;
    }

    // 3. Silence assent (not while a preavviso di rigetto suspends it).
    let silent: Vec<(String, i64, String, NaiveDate)> = inst::table
        .inner_join(services::table)
        .filter(services::silence_assent.eq(true))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            refusal_notices::table.filter(refusal_notices::instance_id.eq(inst::id)),
        )))
        .filter(inst::status.eq_any([
            InstanceStatus::Submitted.as_str(),
            InstanceStatus::InProgress.as_str(),
        ]))
        .filter(inst::due_date.lt(today))
        .select((
            inst::id,
            inst::version,
            inst::status,
            inst::due_date.assume_not_null(),
        ))
        .load(conn)?;
    for (id, version, status, due) in silent {
        let Ok(from) = InstanceStatus::parse(&status) else {
            continue;
        };
        write_tx(conn, |conn| {
            if system_move(conn, &id, from, version, Transition::SilenceAssent, now)? {
                diesel::update(inst::table.find(&id))
                    .set(inst::decided_at.eq(now))
                    .execute(conn)?;
                record_event(
                    conn,
                    &id,
                    now,
                    "system",
                    &Event::SilenceAssent { due_date: due },
                )?;
                // The citizen is told (once: the outbox key is the instance's).
                let row: InstanceRow = inst::table
                    .find(&id)
                    .select(InstanceRow::as_select())
                    .first(conn)?;
                let Parties { who, off, title } =
                    parties(conn, &row).map_err(|e| anyhow::anyhow!("{e}"))?;
                if let Some(to) = who.email {
                    let keys = vec![format!("silence-assent:{id}")];
                    enqueue_emails(
                        conn,
                        row.ente_id,
                        &[(
                            keys[0].clone(),
                            EmailPayload {
                                to,
                                subject: format!("Pratica accolta per silenzio-assenso – {title}"),
                                body: format!(
                                    "Gentile {},\n\nla sua pratica «{title}» è accolta per \
                                     silenzio-assenso: il termine è scaduto il {} senza che {} \
                                     abbia comunicato un preavviso di rigetto o un provvedimento \
                                     (art. 20 L. 241/1990).\n\nQuesto messaggio è generato \
                                     automaticamente: non rispondere.\n",
                                    who.display,
                                    due.format("%d/%m/%Y"),
                                    off.name
                                ),
                                attachments: Vec::new(),
                            },
                        )],
                    )?;
                    super::work::queued(conn, &id, now, keys)?;
                }
                report.silence_assent += 1;
            }
            Ok::<_, anyhow::Error>(())
        })?;
    }

    // 4. One digest per office and day.
    let soon = today + Duration::days(3);
    let open = [
        InstanceStatus::Submitted.as_str(),
        InstanceStatus::InProgress.as_str(),
    ];
    let rows: Vec<DigestRow> = inst::table
        .inner_join(offices::table)
        .inner_join(services::table)
        .filter(inst::status.eq_any(open))
        .filter(inst::due_date.le(soon))
        .order((offices::id, inst::due_date, inst::id))
        .select((
            offices::id,
            offices::ente_id,
            offices::email,
            offices::name,
            services::title,
            inst::due_date.assume_not_null(),
            inst::id,
        ))
        .load(conn)?;
    let mut by_office: Vec<OfficeDigest> = Vec::new();
    for (office_id, ente_id, email, name, title, due, id) in rows {
        match by_office.last_mut() {
            Some(last) if last.0 == office_id => last.4.push((title, due, id)),
            _ => by_office.push((office_id, ente_id, email, name, vec![(title, due, id)])),
        }
    }
    for (office_id, ente_id, email, name, items) in by_office {
        let Some(to) = email else { continue };
        let overdue: Vec<_> = items.iter().filter(|(_, d, _)| *d < today).collect();
        let due_soon: Vec<_> = items.iter().filter(|(_, d, _)| *d >= today).collect();
        let list = |v: &[&DigestItem]| {
            v.iter()
                .map(|(t, d, id)| {
                    format!("- {t}, scadenza {} (pratica {id})", d.format("%d/%m/%Y"))
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let body = format!(
            "Riepilogo del {} per {name}.\n\nPratiche scadute ({}):\n{}\n\nPratiche in scadenza entro 3 giorni ({}):\n{}\n",
            today.format("%d/%m/%Y"),
            overdue.len(),
            if overdue.is_empty() { "- nessuna".to_owned() } else { list(&overdue) },
            due_soon.len(),
            if due_soon.is_empty() { "- nessuna".to_owned() } else { list(&due_soon) },
        );
        let queued = enqueue_emails(
            conn,
            ente_id,
            &[(
                format!("office-digest:{office_id}:{today}"),
                EmailPayload {
                    to,
                    subject: format!(
                        "Scadenze del {}: {} scadute, {} in scadenza – {name}",
                        today.format("%d/%m/%Y"),
                        overdue.len(),
                        due_soon.len()
                    ),
                    body,
                    attachments: Vec::new(),
                },
            )],
        )?;
        report.digests += queued;
    }
    if report != DailyReport::default() {
        tracing::info!(?report, "back-office daily run");
    }
    Ok(report)
}
