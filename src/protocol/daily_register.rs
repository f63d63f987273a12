//! The daily register (registro giornaliero di protocollo, DPR 445/2000 art. 53 and the AgID
//! 2021 guidelines on documents): for each AOO and Italian calendar day (Europe/Rome), every
//! registration of that day with its art. 53 fields, and the annulments made that day, as a
//! document in JSON and in CSV with the SHA-256 of each, stored once and never changed.
//!
//! **What a day's register shows.** The entries registered that day *as they stood at the end
//! of that day*: an entry annulled the same day shows its annulment; an entry annulled on a
//! later day shows none, and its annulment is listed in the register of the day it was made
//! (the `annulments` section, which lists every annulment made that day, of any day's entry).
//! So a day's register depends only on facts fixed when the day ends — registrations are
//! immutable and annulments carry the time they were made — and producing it again gives the
//! same bytes. A register is produced only for a day that is over.
//!
//! **Format.** JSON: the fields of [`DailyRegister`] in that order, pretty-printed, with no
//! time of production inside; CSV: one header row, one row per entry (`record` =
//! `registrazione`) then one per annulment of the day (`record` = `annullamento`).
//! PDF/A is not produced: no maintained Rust crate writes conforming PDF/A (with the XMP
//! metadata, embedded fonts and colour profile it needs), and a PDF that merely claims to be
//! PDF/A would be worse than none; JSON and CSV are open formats the guidelines accept.
//!
//! **The job.** [`run_job`] runs in the housekeeping loop of every app instance; a database
//! lease ([`crate::db::claim_lease`]) lets one of them work at a time, and the unique
//! (AOO, day, format) constraint is the second guard. It produces every day not produced yet
//! from the AOO's first day (its first registration or its creation, whichever comes first) up
//! to yesterday, empty days included (the law wants a register for each day): so days missed
//! while no instance ran are caught up, at most [`MAX_DAYS_PER_RUN`] per AOO and run.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::backoffice::annulment::rights;
use crate::backoffice::BackofficeError;
use crate::db::schema::{aoo, daily_registers as dr, enti, protocol_registrations as pr};
use crate::db::{claim_lease, release_lease, write_tx, DbConn};
use crate::domain::calendar;
use crate::domain::protocol_number::ProtocolNumber;
use crate::instances::iso_rome;
use crate::protocol::Direction;
use crate::text::sha256_hex;

/// The name of the job's lease in `job_leases`.
pub const LEASE: &str = "protocol-daily-register";
/// How long a run may hold the lease before another instance may take it over.
const LEASE_SECS: i64 = 15 * 60;
/// At most this many days per AOO in one run (a long catch-up goes on at the next run).
const MAX_DAYS_PER_RUN: i64 = 400;

/// A document format of the register.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Json,
    Csv,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Json, Format::Csv];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8; header=present",
        }
    }
}

/// The AOO a register belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AooRef {
    pub code: String,
    pub name: String,
}

/// The ente the AOO belongs to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnteRef {
    pub code: String,
    pub name: String,
}

/// A titolario class (code and description), when the registration is classified.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Classification {
    pub code: String,
    pub description: String,
}

/// The annulment of an entry, shown on the entry when made the same day.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntryAnnulment {
    /// Italian time with its offset.
    #[schema(format = DateTime)]
    pub annulled_at: String,
    pub annulled_by: String,
    pub reason: String,
    pub act: Option<String>,
}

/// One registration of the day, with the fields of DPR 445/2000 art. 53.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterDayEntry {
    pub year: i32,
    #[schema(example = "0000042")]
    pub number: String,
    /// Italian time with its offset.
    #[schema(format = DateTime)]
    pub registered_at: String,
    pub direction: Direction,
    pub sender: String,
    pub recipient: Option<String>,
    pub subject: String,
    /// SHA-256 (hex) of the primary document.
    pub document_digest: String,
    pub attachments_count: i32,
    pub attachments_description: String,
    pub instance_id: Option<String>,
    pub classification: Option<Classification>,
    /// Its annulment, if made by the end of the day.
    pub annulment: Option<EntryAnnulment>,
}

/// An annulment made during the day (of an entry of that day or of an earlier one).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegisterDayAnnulment {
    pub year: i32,
    #[schema(example = "0000042")]
    pub number: String,
    /// When the annulled entry was registered (Italian time).
    #[schema(format = DateTime)]
    pub registered_at: String,
    pub subject: String,
    #[schema(format = DateTime)]
    pub annulled_at: String,
    pub annulled_by: String,
    pub reason: String,
    pub act: Option<String>,
}

/// The daily register of one AOO: the JSON document as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DailyRegister {
    /// Always `registro giornaliero di protocollo`.
    pub document: String,
    pub ente: EnteRef,
    pub aoo: AooRef,
    /// The Italian calendar day.
    #[schema(format = Date)]
    pub date: String,
    /// Always `Europe/Rome`.
    pub time_zone: String,
    pub entries_count: i32,
    pub annulments_count: i32,
    /// By number.
    pub entries: Vec<RegisterDayEntry>,
    /// By time of annulment, then year and number.
    pub annulments: Vec<RegisterDayAnnulment>,
}

/// The columns of the CSV document.
pub const CSV_HEADER: [&str; 18] = [
    "record",
    "year",
    "number",
    "registered_at",
    "direction",
    "sender",
    "recipient",
    "subject",
    "document_digest",
    "attachments_count",
    "attachments_description",
    "instance_id",
    "classification_code",
    "classification_description",
    "annulled_at",
    "annulled_by",
    "annulment_reason",
    "annulment_act",
];

impl DailyRegister {
    /// Canonical JSON: keys in the struct's order, two-space indentation, final newline.
    pub fn to_json(&self) -> anyhow::Result<String> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        Ok(text)
    }

    /// One header row, one row per entry, one per annulment of the day (RFC 4180 quoting).
    pub fn to_csv(&self) -> anyhow::Result<String> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(CSV_HEADER)?;
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        for e in &self.entries {
            let (code, descr) = e
                .classification
                .as_ref()
                .map(|c| (c.code.clone(), c.description.clone()))
                .unwrap_or_default();
            let a = e.annulment.as_ref();
            w.write_record([
                "registrazione".to_owned(),
                e.year.to_string(),
                e.number.clone(),
                e.registered_at.clone(),
                e.direction.as_str().to_owned(),
                e.sender.clone(),
                opt(&e.recipient),
                e.subject.clone(),
                e.document_digest.clone(),
                e.attachments_count.to_string(),
                e.attachments_description.clone(),
                opt(&e.instance_id),
                code,
                descr,
                a.map(|a| a.annulled_at.clone()).unwrap_or_default(),
                a.map(|a| a.annulled_by.clone()).unwrap_or_default(),
                a.map(|a| a.reason.clone()).unwrap_or_default(),
                a.and_then(|a| a.act.clone()).unwrap_or_default(),
            ])?;
        }
        for a in &self.annulments {
            let mut row = vec![String::new(); CSV_HEADER.len()];
            row[0] = "annullamento".to_owned();
            row[1] = a.year.to_string();
            row[2] = a.number.clone();
            row[3] = a.registered_at.clone();
            row[7] = a.subject.clone();
            row[14] = a.annulled_at.clone();
            row[15] = a.annulled_by.clone();
            row[16] = a.reason.clone();
            row[17] = opt(&a.act);
            w.write_record(&row)?;
        }
        let bytes = w.into_inner().map_err(|e| anyhow::anyhow!("CSV: {e}"))?;
        Ok(String::from_utf8(bytes)?)
    }
}

type Row = crate::backoffice::annulment::EntryRow;

/// A UTC window that surely contains the Italian day (Italy is UTC+1 or UTC+2); rows are then
/// kept by their Italian date.
fn utc_window(date: NaiveDate) -> (NaiveDateTime, NaiveDateTime) {
    let start = date.and_time(chrono::NaiveTime::MIN);
    (
        start - Duration::hours(2),
        start + Duration::days(1) - Duration::hours(1),
    )
}

fn number_text(n: i64) -> anyhow::Result<String> {
    Ok(ProtocolNumber::new(n)?.to_string())
}

/// The classification of each registration as it stood at the end of the day (`end`, UTC):
/// a class a clerk gives or corrects later must not change a day's register already stored.
/// The class at a moment is the value of the last classification change made before it, or,
/// before any change, the class the entry had when registered (the first change's old value,
/// or the current one when nobody changed it). Code and title (the title as the titolario has
/// it now).
fn classifications(
    conn: &mut DbConn,
    ente_id: i64,
    registration_ids: &[i64],
    end: NaiveDateTime,
) -> anyhow::Result<BTreeMap<i64, (String, String)>> {
    use crate::db::schema::{classes, registration_filing_history as hist};
    if registration_ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let current: Vec<(i64, Option<String>)> = pr::table
        .filter(pr::id.eq_any(registration_ids))
        .select((pr::id, pr::classification))
        .load(conn)?;
    let changes: Vec<(i64, NaiveDateTime, Option<String>, Option<String>)> = hist::table
        .filter(hist::registration_id.eq_any(registration_ids))
        .filter(hist::field.eq("classification"))
        .order((hist::registration_id.asc(), hist::id.asc()))
        .select((
            hist::registration_id,
            hist::at,
            hist::old_value,
            hist::new_value,
        ))
        .load(conn)?;
    let mut at_end: BTreeMap<i64, Option<String>> = current.into_iter().collect();
    let mut seen = std::collections::BTreeSet::new();
    for (id, at, old, new) in changes {
        if seen.insert(id) {
            // The first change: before it, the entry had `old`.
            at_end.insert(id, old);
        }
        if at < end {
            at_end.insert(id, new);
        }
    }
    let codes: Vec<String> = at_end.values().flatten().cloned().collect();
    let titles: BTreeMap<String, String> = classes::table
        .filter(classes::ente_id.eq(ente_id))
        .filter(classes::code.eq_any(&codes))
        .select((classes::code, classes::title))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    Ok(at_end
        .into_iter()
        .filter_map(|(id, code)| {
            let code = code?;
            let title = titles.get(&code).cloned().unwrap_or_default();
            Some((id, (code, title)))
        })
        .collect())
}

/// Collects the day's register of the AOO from the database. `classes` gives a registration's
/// titolario class (code, description), when it has one.
pub fn collect(
    conn: &mut DbConn,
    aoo_id: i64,
    date: NaiveDate,
    classes: &BTreeMap<i64, (String, String)>,
) -> anyhow::Result<DailyRegister> {
    let (aoo_code, aoo_name, ente_code, ente_name): (String, String, String, String) = aoo::table
        .inner_join(enti::table.on(enti::id.eq(aoo::ente_id)))
        .filter(aoo::id.eq(aoo_id))
        .select((aoo::code, aoo::name, enti::code, enti::name))
        .first(conn)?;
    let (from, to) = utc_window(date);
    let columns = crate::backoffice::annulment::ENTRY_COLUMNS;
    let mut registered: Vec<Row> = pr::table
        .filter(pr::aoo_id.eq(aoo_id))
        .filter(pr::registered_at.ge(from))
        .filter(pr::registered_at.lt(to))
        .select(columns)
        .load(conn)?;
    registered.retain(|r| calendar::rome_date(r.3) == date);
    registered.sort_by_key(|r| (r.1, r.2));
    let mut annulled: Vec<Row> = pr::table
        .filter(pr::aoo_id.eq(aoo_id))
        .filter(pr::annulled_at.ge(from))
        .filter(pr::annulled_at.lt(to))
        .select(columns)
        .load(conn)?;
    annulled.retain(|r| r.12 .0.is_some_and(|at| calendar::rome_date(at) == date));
    annulled.sort_by_key(|r| (r.12 .0, r.1, r.2));

    let mut entries = Vec::with_capacity(registered.len());
    for r in registered {
        let (id, year, number, at, dir, sender, recipient, subject, digest, n, descr, inst, ann) =
            r;
        let annulment = match ann {
            (Some(when), Some(by), Some(reason), act) if calendar::rome_date(when) <= date => {
                Some(EntryAnnulment {
                    annulled_at: iso_rome(when),
                    annulled_by: by,
                    reason,
                    act,
                })
            }
            _ => None,
        };
        entries.push(RegisterDayEntry {
            year,
            number: number_text(number)?,
            registered_at: iso_rome(at),
            direction: Direction::parse(&dir)
                .ok_or_else(|| anyhow::anyhow!("registration with direction {dir:?}"))?,
            sender,
            recipient,
            subject,
            document_digest: digest,
            attachments_count: n,
            attachments_description: descr,
            instance_id: inst,
            classification: classes.get(&id).map(|(code, description)| Classification {
                code: code.clone(),
                description: description.clone(),
            }),
            annulment,
        });
    }
    let mut annulments = Vec::with_capacity(annulled.len());
    for r in annulled {
        let (_, year, number, at, _, _, _, subject, _, _, _, _, ann) = r;
        let (Some(when), Some(by), Some(reason), act) = ann else {
            anyhow::bail!("annulled registration without its author or reason");
        };
        annulments.push(RegisterDayAnnulment {
            year,
            number: number_text(number)?,
            registered_at: iso_rome(at),
            subject,
            annulled_at: iso_rome(when),
            annulled_by: by,
            reason,
            act,
        });
    }
    Ok(DailyRegister {
        document: "registro giornaliero di protocollo".to_owned(),
        ente: EnteRef {
            code: ente_code,
            name: ente_name,
        },
        aoo: AooRef {
            code: aoo_code,
            name: aoo_name,
        },
        date: date.format("%Y-%m-%d").to_string(),
        time_zone: "Europe/Rome".to_owned(),
        entries_count: i32::try_from(entries.len())?,
        annulments_count: i32::try_from(annulments.len())?,
        entries,
        annulments,
    })
}

/// Builds the day's documents from the database without storing them: `(format, text)`.
pub fn render(
    conn: &mut DbConn,
    aoo_id: i64,
    date: NaiveDate,
) -> anyhow::Result<(DailyRegister, Vec<(Format, String)>)> {
    let ids: Vec<i64> = {
        let (from, to) = utc_window(date);
        pr::table
            .filter(pr::aoo_id.eq(aoo_id))
            .filter(pr::registered_at.ge(from))
            .filter(pr::registered_at.lt(to))
            .select(pr::id)
            .load(conn)?
    };
    let ente_id: i64 = aoo::table.find(aoo_id).select(aoo::ente_id).first(conn)?;
    let end = calendar::rome_day_start_utc(date + Duration::days(1));
    let classes = classifications(conn, ente_id, &ids, end)?;
    let register = collect(conn, aoo_id, date, &classes)?;
    let docs = vec![
        (Format::Json, register.to_json()?),
        (Format::Csv, register.to_csv()?),
    ];
    Ok((register, docs))
}

/// One stored document of a day's register.
#[derive(Debug, Clone)]
pub struct StoredRegister {
    pub date: NaiveDate,
    pub format: Format,
    pub sha256: String,
    pub entries_count: i32,
    pub annulments_count: i32,
    pub content: String,
    pub produced_at: NaiveDateTime,
    pub produced_by: String,
}

type StoredRow = (
    NaiveDate,
    String,
    String,
    i32,
    i32,
    String,
    NaiveDateTime,
    String,
);

fn stored_from(row: StoredRow) -> anyhow::Result<StoredRegister> {
    let (date, format, sha256, entries_count, annulments_count, content, at, by) = row;
    Ok(StoredRegister {
        date,
        format: Format::parse(&format)
            .ok_or_else(|| anyhow::anyhow!("daily register in format {format:?}"))?,
        sha256,
        entries_count,
        annulments_count,
        content,
        produced_at: at,
        produced_by: by,
    })
}

fn stored_between(
    conn: &mut DbConn,
    aoo_id: i64,
    from: NaiveDate,
    to: NaiveDate,
) -> anyhow::Result<Vec<StoredRegister>> {
    let rows: Vec<StoredRow> = dr::table
        .filter(dr::aoo_id.eq(aoo_id))
        .filter(dr::register_date.ge(from))
        .filter(dr::register_date.le(to))
        .order((dr::register_date, dr::format))
        .select((
            dr::register_date,
            dr::format,
            dr::sha256,
            dr::entries_count,
            dr::annulments_count,
            dr::content,
            dr::produced_at,
            dr::produced_by,
        ))
        .load(conn)?;
    let mut stored = rows
        .into_iter()
        .map(stored_from)
        .collect::<anyhow::Result<Vec<_>>>()?;
    // By day, then JSON before CSV.
    stored.sort_by_key(|s| (s.date, s.format));
    Ok(stored)
}

/// What [`produce`] did.
#[derive(Debug, Clone)]
pub struct Produced {
    /// Both documents, JSON first.
    pub documents: Vec<StoredRegister>,
    /// False when they were stored already (nothing was written).
    pub new: bool,
}

/// Answers the AOO's stored register of `date`, or produces and stores it when the day is
/// over at `now`: producing twice stores one row per format and gives the same bytes.
pub fn produce(
    conn: &mut DbConn,
    aoo_id: i64,
    date: NaiveDate,
    by: &str,
    now: NaiveDateTime,
) -> anyhow::Result<Produced> {
    let today = calendar::rome_date(now);
    let attempt = write_tx(conn, |conn| {
        let existing = stored_between(conn, aoo_id, date, date)?;
        if existing.len() == Format::ALL.len() {
            return Ok::<_, anyhow::Error>(Produced {
                documents: existing,
                new: false,
            });
        }
        if date >= today {
            anyhow::bail!(
                "the daily register of {date} can be produced only once the day is over \
                 (today is {today} in Italy)"
            );
        }
        let ente_id: i64 = aoo::table.find(aoo_id).select(aoo::ente_id).first(conn)?;
        let (register, docs) = render(conn, aoo_id, date)?;
        for (format, text) in docs {
            if existing.iter().any(|e| e.format == format) {
                continue;
            }
            diesel::insert_into(dr::table)
                .values((
                    dr::ente_id.eq(ente_id),
                    dr::aoo_id.eq(aoo_id),
                    dr::register_date.eq(date),
                    dr::format.eq(format.as_str()),
                    dr::sha256.eq(sha256_hex(text.as_bytes())),
                    dr::entries_count.eq(register.entries_count),
                    dr::annulments_count.eq(register.annulments_count),
                    dr::content.eq(&text),
                    dr::produced_at.eq(now),
                    dr::produced_by.eq(by),
                ))
                .execute(conn)?;
        }
        tracing::info!(
            aoo_id,
            %date,
            entries = register.entries_count,
            annulments = register.annulments_count,
            by,
            "daily register produced"
        );
        Ok(Produced {
            documents: stored_between(conn, aoo_id, date, date)?,
            new: true,
        })
    });
    match attempt {
        Ok(p) => Ok(p),
        // Another instance stored it at the same moment (PostgreSQL): the stored one stands.
        Err(e) if is_unique_violation(&e) => Ok(Produced {
            documents: stored_between(conn, aoo_id, date, date)?,
            new: false,
        }),
        Err(e) => Err(e),
    }
}

fn is_unique_violation(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<diesel::result::Error>(),
        Some(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

/// The AOO with this code: `(ente_id, aoo_id)`. Several enti may use one code: then `ente`
/// (its code) must say which.
pub fn aoo_by_code(
    conn: &mut DbConn,
    code: &str,
    ente: Option<&str>,
) -> anyhow::Result<(i64, i64)> {
    let mut q = aoo::table
        .inner_join(enti::table.on(enti::id.eq(aoo::ente_id)))
        .filter(aoo::code.eq(code))
        .select((aoo::ente_id, aoo::id))
        .into_boxed();
    if let Some(e) = ente {
        q = q.filter(enti::code.eq(e));
    }
    let found: Vec<(i64, i64)> = q.load(conn)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => anyhow::bail!("no AOO with code {code}"),
        _ => anyhow::bail!("several enti have an AOO {code}: name the ente with --ente"),
    }
}

/// What one run of the job did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobReport {
    /// Another instance holds the lease: this run did nothing.
    pub lease_held_elsewhere: bool,
    /// Days produced (each in every format).
    pub produced: usize,
}

/// The first day an AOO needs a register for, when it has none yet: its first registration's
/// day or the day it was created, whichever comes first.
fn first_day(conn: &mut DbConn, aoo_id: i64) -> anyhow::Result<NaiveDate> {
    let created: NaiveDateTime = aoo::table
        .find(aoo_id)
        .select(aoo::created_at)
        .first(conn)?;
    let first: Option<NaiveDateTime> = pr::table
        .filter(pr::aoo_id.eq(aoo_id))
        .select(diesel::dsl::min(pr::registered_at))
        .first(conn)?;
    Ok(calendar::rome_date(
        first.map_or(created, |f| f.min(created)),
    ))
}

/// Produces every AOO's missing registers up to yesterday (Italian date at `now`), under the
/// job's lease; `holder` names this run (unique per instance and run).
pub fn run_job(conn: &mut DbConn, now: NaiveDateTime, holder: &str) -> anyhow::Result<JobReport> {
    let until = now + Duration::seconds(LEASE_SECS);
    if !write_tx(conn, |conn| claim_lease(conn, LEASE, holder, now, until))? {
        return Ok(JobReport {
            lease_held_elsewhere: true,
            produced: 0,
        });
    }
    let result = produce_missing(conn, now, holder);
    if let Err(e) = write_tx(conn, |conn| release_lease(conn, LEASE, holder, now)) {
        tracing::warn!(error = %e, "cannot release the daily register's lease (it runs out)");
    }
    result
}

fn produce_missing(
    conn: &mut DbConn,
    now: NaiveDateTime,
    holder: &str,
) -> anyhow::Result<JobReport> {
    let yesterday = calendar::rome_date(now) - Duration::days(1);
    let aoos: Vec<i64> = aoo::table.order(aoo::id).select(aoo::id).load(conn)?;
    let mut report = JobReport::default();
    let by = format!("job:{holder}");
    for aoo_id in aoos {
        let start = first_day(conn, aoo_id)?;
        let done: std::collections::BTreeSet<NaiveDate> = dr::table
            .filter(dr::aoo_id.eq(aoo_id))
            .filter(dr::register_date.ge(start))
            .select(dr::register_date)
            .load(conn)?
            .into_iter()
            .collect();
        let mut day = start;
        let mut this_aoo = 0;
        while day <= yesterday && this_aoo < MAX_DAYS_PER_RUN {
            if !done.contains(&day) {
                if produce(conn, aoo_id, day, &by, now)?.new {
                    report.produced += 1;
                }
                this_aoo += 1;
            }
            day += Duration::days(1);
        }
    }
    if report.produced > 0 {
        tracing::info!(days = report.produced, "daily registers produced");
    }
    Ok(report)
}

// ---- For the AOO's clerks ----

/// One stored document, as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DailyRegisterDocument {
    pub format: Format,
    /// SHA-256 (hex) of the document's bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: i64,
    /// Where to download it.
    pub href: String,
}

/// A day's register, as listed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DailyRegisterItem {
    #[schema(format = Date)]
    pub date: String,
    pub entries_count: i32,
    pub annulments_count: i32,
    #[schema(format = DateTime)]
    pub produced_at: String,
    /// `job:<run>` or `cli`.
    pub produced_by: String,
    pub documents: Vec<DailyRegisterDocument>,
}

/// The AOO's registers of a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DailyRegisterList {
    pub aoo: String,
    #[schema(format = Date)]
    pub from: String,
    #[schema(format = Date)]
    pub to: String,
    /// By date.
    pub items: Vec<DailyRegisterItem>,
}

/// The registers produced between `from` and `to` (included), for the AOO's clerks and the
/// ente's administrators. `href` builds a document's download address.
pub fn list(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    from: NaiveDate,
    to: NaiveDate,
    href: &dyn Fn(&str, NaiveDate, Format) -> String,
) -> Result<DailyRegisterList, BackofficeError> {
    let r = rights(conn, ente_id, staff_user_id, aoo_code)?;
    let stored = stored_between(conn, r.aoo_id, from, to)?;
    let mut items: Vec<DailyRegisterItem> = Vec::new();
    for s in stored {
        let doc = DailyRegisterDocument {
            format: s.format,
            sha256: s.sha256.clone(),
            size: i64::try_from(s.content.len()).map_err(anyhow::Error::from)?,
            href: href(aoo_code, s.date, s.format),
        };
        let date = s.date.format("%Y-%m-%d").to_string();
        match items.last_mut() {
            Some(last) if last.date == date => last.documents.push(doc),
            _ => items.push(DailyRegisterItem {
                date,
                entries_count: s.entries_count,
                annulments_count: s.annulments_count,
                produced_at: crate::instances::iso(s.produced_at),
                produced_by: s.produced_by,
                documents: vec![doc],
            }),
        }
    }
    Ok(DailyRegisterList {
        aoo: aoo_code.to_owned(),
        from: from.format("%Y-%m-%d").to_string(),
        to: to.format("%Y-%m-%d").to_string(),
        items,
    })
}

/// One stored document, its digest checked against its bytes (a mismatch is an error, never
/// served).
pub fn download(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    aoo_code: &str,
    date: NaiveDate,
    format: Format,
) -> Result<StoredRegister, BackofficeError> {
    let r = rights(conn, ente_id, staff_user_id, aoo_code)?;
    let doc = stored_between(conn, r.aoo_id, date, date)?
        .into_iter()
        .find(|s| s.format == format)
        .ok_or(BackofficeError::NotFound)?;
    verified(doc).map_err(BackofficeError::Other)
}

/// The document if its bytes still have the digest stored with them.
pub fn verified(doc: StoredRegister) -> anyhow::Result<StoredRegister> {
    let actual = sha256_hex(doc.content.as_bytes());
    if actual != doc.sha256 {
        tracing::error!(date = %doc.date, format = doc.format.as_str(), "daily register does not match its digest");
        anyhow::bail!(
            "the stored daily register of {} ({}) does not match its SHA-256",
            doc.date,
            doc.format.as_str()
        );
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DailyRegister {
        DailyRegister {
            document: "registro giornaliero di protocollo".into(),
            ente: EnteRef {
                code: "c_x000".into(),
                name: "Comune di Esempio".into(),
            },
            aoo: AooRef {
                code: "AOO".into(),
                name: "Protocollo".into(),
            },
            date: "2026-12-02".into(),
            time_zone: "Europe/Rome".into(),
            entries_count: 1,
            annulments_count: 1,
            entries: vec![RegisterDayEntry {
                year: 2026,
                number: "0000001".into(),
                registered_at: "2026-12-02T10:00:00+01:00".into(),
                direction: Direction::In,
                sender: "Rossi, Mario".into(),
                recipient: None,
                subject: "Istanza \"TARI\"".into(),
                document_digest: "ab".into(),
                attachments_count: 0,
                attachments_description: "Nessun allegato".into(),
                instance_id: Some("i1".into()),
                classification: None,
                annulment: None,
            }],
            annulments: vec![RegisterDayAnnulment {
                year: 2026,
                number: "0000000".into(),
                registered_at: "2026-12-01T10:00:00+01:00".into(),
                subject: "Prima".into(),
                annulled_at: "2026-12-02T11:00:00+01:00".into(),
                annulled_by: "protocollista".into(),
                reason: "Duplicata".into(),
                act: Some("Det. 1".into()),
            }],
        }
    }

    #[test]
    fn csv_has_a_row_per_entry_and_per_annulment_with_quoting() {
        let csv = sample().to_csv().unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines[0].starts_with("record,year,number,registered_at"));
        assert!(lines[1].starts_with("registrazione,2026,0000001,"));
        assert!(lines[1].contains("\"Rossi, Mario\""));
        assert!(lines[1].contains("\"Istanza \"\"TARI\"\"\""));
        assert!(lines[2].starts_with("annullamento,2026,0000000,"));
        assert!(lines[2].ends_with(",protocollista,Duplicata,Det. 1"));
    }

    #[test]
    fn json_is_the_same_bytes_every_time_and_keeps_its_key_order() {
        let a = sample().to_json().unwrap();
        let b = sample().to_json().unwrap();
        assert_eq!(a, b);
        assert!(a.ends_with("}\n"));
        let doc = a.find("\"document\"").unwrap();
        let date = a.find("\"date\"").unwrap();
        let entries = a.find("\"entries\"").unwrap();
        assert!(doc < date && date < entries);
    }

    #[test]
    fn the_utc_window_holds_the_italian_day() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let (from, to) = utc_window(d);
        // 00:00 in Rome in winter is 23:00 UTC of the day before; 23:59 is 22:59 UTC.
        let first = NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(23, 0, 0)
            .unwrap();
        let last = d.and_hms_opt(22, 59, 59).unwrap();
        assert!(from <= first && last < to);
        assert_eq!(calendar::rome_date(first), d);
        assert_eq!(calendar::rome_date(last), d);
        // In summer (UTC+2): 00:00 is 22:00 UTC of the day before, 23:59 is 21:59 UTC.
        let d = NaiveDate::from_ymd_opt(2026, 7, 15).unwrap();
        let (from, to) = utc_window(d);
        let first = NaiveDate::from_ymd_opt(2026, 7, 14)
            .unwrap()
            .and_hms_opt(22, 0, 0)
            .unwrap();
        let last = d.and_hms_opt(21, 59, 59).unwrap();
        assert!(from <= first && last < to);
        assert_eq!(calendar::rome_date(first), d);
        assert_eq!(calendar::rome_date(last), d);
        assert_ne!(calendar::rome_date(from - Duration::seconds(1)), d);
    }
}
