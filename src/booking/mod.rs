//! Appointment booking (issue #14): the calendars of bookable services, their availability,
//! bookings that never exceed a slot's capacity nor a citizen's limit, changes, the staff's
//! agenda, closures, waiting lists and reminders.
//!
//! **Never overbook.** A slot is a `booking_slots` row from its first booking on, with
//! `capacity` and `booked` and the database's `CHECK (booked <= capacity)`; a booking takes its
//! place with one conditional `UPDATE … SET booked = booked + 1 WHERE booked < capacity` in the
//! booking's transaction (on PostgreSQL concurrent bookers of one slot queue on its row and
//! each sees the count the previous one committed; on SQLite write transactions are serial).
//! A citizen's active bookings of a service are counted the same way in `booking_limits`
//! (`CHECK (active <= max_active)`). What Rust checks before (the schedule, the window) only
//! gives clearer answers; the counters are what hold under any concurrency.

pub mod ical;
pub mod schedule;

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::db::schema::{
    booking_limits as bl, booking_slots as bs, booking_waitlist as wl, bookings as bk,
    calendar_closures as cc, calendars as cal, citizens, enti, offices, services,
};
use crate::db::{write_tx, DbConn};
use crate::domain::{calendar, FieldError};
use crate::instances::CitizenCtx;
use crate::notify::{enqueue_emails, EmailPayload, MailAttachment};
use schedule::{OpeningHours, Schedule};

/// A bookable service's rules (`[booking]` in its bundle file, `services.booking`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingRules {
    /// Active bookings a citizen may hold for the service at once.
    #[serde(default = "one")]
    pub max_active_per_citizen: i32,
    /// How long before a slot it can still be booked (hours).
    #[serde(default = "two")]
    pub min_notice_hours: i64,
    /// How far ahead it can be booked (days).
    #[serde(default = "sixty")]
    pub max_days_ahead: i64,
    /// Until how long before the appointment the citizen may cancel or move it (hours).
    #[serde(default = "a_day")]
    pub cancel_until_hours: i64,
    /// How long before the appointment the reminder is e-mailed (hours; 0: no reminder).
    #[serde(default = "a_day")]
    pub reminder_hours: i64,
    /// Whether each booking is also registered in the protocol (incoming).
    #[serde(default)]
    pub register_in_protocol: bool,
    /// For a service with a fee: how long a booking holds its place waiting for the payment
    /// (minutes).
    #[serde(default = "quarter")]
    pub hold_minutes: i64,
}

fn one() -> i32 {
    1
}
fn two() -> i64 {
    2
}
fn sixty() -> i64 {
    60
}
fn a_day() -> i64 {
    24
}
fn quarter() -> i64 {
    15
}

impl Default for BookingRules {
    fn default() -> Self {
        Self {
            max_active_per_citizen: one(),
            min_notice_hours: two(),
            max_days_ahead: sixty(),
            cancel_until_hours: a_day(),
            reminder_hours: a_day(),
            register_in_protocol: false,
            hold_minutes: quarter(),
        }
    }
}

impl BookingRules {
    /// Plausibility checks at bundle load.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=20).contains(&self.max_active_per_citizen),
            "booking.max_active_per_citizen must be from 1 to 20"
        );
        anyhow::ensure!(
            (0..=24 * 30).contains(&self.min_notice_hours),
            "booking.min_notice_hours must be from 0 to 720"
        );
        anyhow::ensure!(
            (1..=366).contains(&self.max_days_ahead),
            "booking.max_days_ahead must be from 1 to 366"
        );
        anyhow::ensure!(
            (0..=24 * 30).contains(&self.cancel_until_hours),
            "booking.cancel_until_hours must be from 0 to 720"
        );
        anyhow::ensure!(
            (0..=24 * 7).contains(&self.reminder_hours),
            "booking.reminder_hours must be from 0 to 168"
        );
        anyhow::ensure!(
            (1..=24 * 60).contains(&self.hold_minutes),
            "booking.hold_minutes must be from 1 to 1440"
        );
        Ok(())
    }
}

/// Why a booking action was refused.
#[derive(Debug, thiserror::Error)]
pub enum BookingError {
    #[error("not found")]
    NotFound,
    #[error("invalid request")]
    Invalid(Vec<FieldError>),
    /// The slot filled up (or was cancelled) meanwhile.
    #[error("the slot is full")]
    SlotTaken,
    /// The citizen holds as many active bookings of the service as allowed.
    #[error("booking limit reached")]
    LimitReached(i32),
    /// A state or a deadline that does not allow it (Italian text for the citizen or staff).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    /// A national platform (pagoPA) cannot be reached now (Italian text for the citizen).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::backoffice::BackofficeError> for BookingError {
    fn from(e: crate::backoffice::BackofficeError) -> Self {
        use crate::backoffice::BackofficeError as B;
        match e {
            B::NotFound => Self::NotFound,
            B::Forbidden(m) => Self::Forbidden(m),
            B::Db(e) => Self::Db(e),
            other => Self::Other(anyhow::anyhow!("{other}")),
        }
    }
}

impl From<diesel::result::Error> for BookingError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(crate::db::DbError::Query(e))
    }
}

fn invalid(pointer: &str, message: &str) -> BookingError {
    BookingError::Invalid(vec![FieldError::new(pointer, message)])
}

/// A stored calendar with its schedule.
#[derive(Debug, Clone)]
struct Cal {
    id: i64,
    code: String,
    name: String,
    office_id: i64,
    office_name: String,
    location: Option<String>,
    slot_minutes: i32,
    capacity: i32,
    schedule: Schedule,
}

impl Cal {
    /// The calendar as views name it.
    fn info(&self) -> CalendarInfo {
        CalendarInfo {
            code: self.code.clone(),
            name: self.name.clone(),
            office: self.office_name.clone(),
            location: self.location.clone(),
            slot_minutes: self.slot_minutes,
            capacity: self.capacity,
        }
    }
}

/// A bookable service as the booking needs it.
#[derive(Debug, Clone)]
struct BookableService {
    id: i64,
    ente_id: i64,
    slug: String,
    title: String,
    min_auth_level: i32,
    needs_payment: bool,
    rules: BookingRules,
    calendars: Vec<Cal>,
}

type CalRow = (
    i64,
    String,
    String,
    i64,
    String,
    Option<String>,
    i32,
    i32,
    String,
    String,
);

fn load_calendars(
    conn: &mut DbConn,
    service_id: i64,
    patron: Option<&str>,
    active_only: bool,
) -> Result<Vec<Cal>, BookingError> {
    let mut q = cal::table
        .inner_join(offices::table)
        .filter(cal::service_id.eq(service_id))
        .into_boxed();
    if active_only {
        q = q.filter(cal::active.eq(true));
    }
    let rows: Vec<CalRow> = q
        .order(cal::id)
        .select((
            cal::id,
            cal::code,
            cal::name,
            cal::office_id,
            offices::name,
            cal::location,
            cal::slot_minutes,
            cal::capacity,
            cal::hours,
            cal::closures,
        ))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let staff_closures: Vec<(i64, NaiveDate)> = cc::table
        .filter(cc::calendar_id.eq_any(&ids))
        .select((cc::calendar_id, cc::day))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(
                id,
                code,
                name,
                office_id,
                office_name,
                location,
                slot_minutes,
                capacity,
                hours,
                closures,
            )| {
                let hours: Vec<OpeningHours> =
                    serde_json::from_str(&hours).map_err(anyhow::Error::from)?;
                let mut days: Vec<NaiveDate> =
                    serde_json::from_str(&closures).map_err(anyhow::Error::from)?;
                days.extend(
                    staff_closures
                        .iter()
                        .filter(|(c, _)| *c == id)
                        .map(|(_, d)| *d),
                );
                let schedule = Schedule::new(&hours, slot_minutes, days, patron)?;
                Ok(Cal {
                    id,
                    code,
                    name,
                    office_id,
                    office_name,
                    location,
                    slot_minutes,
                    capacity,
                    schedule,
                })
            },
        )
        .collect()
}

/// A bookable service as read: id, title, login level, needs payment, booking settings, the
/// ente's patron day.
type BookableRow = (i64, String, i32, bool, Option<String>, Option<String>);

fn bookable(conn: &mut DbConn, ente_id: i64, slug: &str) -> Result<BookableService, BookingError> {
    let row: Option<BookableRow> = services::table
        .inner_join(enti::table.on(enti::id.eq(services::ente_id)))
        .filter(services::ente_id.eq(ente_id))
        .filter(services::slug.eq(slug))
        .filter(services::published.eq(true))
        .select((
            services::id,
            services::title,
            services::min_auth_level,
            services::needs_payment,
            services::booking,
            enti::patron_day,
        ))
        .first(conn)
        .optional()?;
    let Some((id, title, min_auth_level, needs_payment, Some(rules), patron)) = row else {
        return Err(BookingError::NotFound);
    };
    let rules: BookingRules = serde_json::from_str(&rules).map_err(anyhow::Error::from)?;
    let calendars = load_calendars(conn, id, patron.as_deref(), true)?;
    if calendars.is_empty() {
        return Err(BookingError::NotFound);
    }
    Ok(BookableService {
        id,
        ente_id,
        slug: slug.to_owned(),
        title,
        min_auth_level,
        needs_payment,
        rules,
        calendars,
    })
}

/// An instant as the API writes it: RFC 3339 in Italian civil time (`+01:00`/`+02:00`).
pub fn rome_rfc3339(utc: NaiveDateTime) -> String {
    RomeInstant(utc).to_string()
}

/// An instant (UTC inside) that is written as RFC 3339 in Italian civil time only when it
/// is serialized, into a buffer on the stack: an availability answer writes tens of
/// thousands of these, and formatting them into `String`s first was most of its cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RomeInstant(pub NaiveDateTime);

impl RomeInstant {
    /// `YYYY-MM-DDTHH:MM:SS+HH:00` (years 0–9999).
    fn write<'b>(&self, buf: &'b mut [u8; 25]) -> &'b str {
        let offset = calendar::rome_offset_hours(self.0);
        let t = self.0 + Duration::hours(offset);
        let two = |b: &mut [u8], v: u32| {
            b[0] = b'0' + (v / 10 % 10) as u8;
            b[1] = b'0' + (v % 10) as u8;
        };
        let year = t.year().clamp(0, 9999) as u32;
        two(&mut buf[0..2], year / 100);
        two(&mut buf[2..4], year % 100);
        buf[4] = b'-';
        two(&mut buf[5..7], t.month());
        buf[7] = b'-';
        two(&mut buf[8..10], t.day());
        buf[10] = b'T';
        two(&mut buf[11..13], t.hour());
        buf[13] = b':';
        two(&mut buf[14..16], t.minute());
        buf[16] = b':';
        two(&mut buf[17..19], t.second());
        buf[19] = if offset < 0 { b'-' } else { b'+' };
        two(&mut buf[20..22], offset.unsigned_abs() as u32);
        buf[22..25].copy_from_slice(b":00");
        // Only ASCII digits and separators were written.
        std::str::from_utf8(buf).unwrap_or_default()
    }
}

impl std::fmt::Display for RomeInstant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.write(&mut [0; 25]))
    }
}

impl Serialize for RomeInstant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.write(&mut [0; 25]))
    }
}

/// A local time of day written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourMinute(pub u8, pub u8);

impl Serialize for HourMinute {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = |v: u8| b'0' + v % 10;
        let b = [d(self.0 / 10), d(self.0), b':', d(self.1 / 10), d(self.1)];
        s.serialize_str(std::str::from_utf8(&b).unwrap_or_default())
    }
}

/// A calendar's code shared by all its slots in one answer (one allocation per calendar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarCode(pub std::sync::Arc<str>);

impl Serialize for CalendarCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

fn parse_instant(pointer: &str, s: &str) -> Result<NaiveDateTime, BookingError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.naive_utc())
        .map_err(|_| {
            invalid(
                pointer,
                "Indicare data e ora nel formato RFC 3339, per esempio 2026-12-09T08:30:00+01:00.",
            )
        })
}

// ---------------------------------------------------------------------------------------
// Availability

/// A calendar of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct CalendarInfo {
    pub code: String,
    pub name: String,
    pub office: String,
    pub location: Option<String>,
    pub slot_minutes: i32,
    /// Places per slot (desks).
    pub capacity: i32,
}

/// A slot with free places.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FreeSlot {
    /// The calendar's code.
    #[schema(value_type = String)]
    pub calendar: CalendarCode,
    /// RFC 3339, Italian time.
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: RomeInstant,
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: RomeInstant,
    /// `HH:MM`, Italian time.
    #[schema(value_type = String)]
    pub time: HourMinute,
    pub free: i32,
}

/// One day of the requested range.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DayAvailability {
    pub date: NaiveDate,
    /// Why no calendar of the service is open that day (a holiday, a closure), if so.
    pub closed: Option<String>,
    /// Open, but every place taken: the citizen may join the waiting list.
    pub full: bool,
    pub slots: Vec<FreeSlot>,
}

/// `GET /api/v1/services/{slug}/availability`
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Availability {
    pub service: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub calendars: Vec<CalendarInfo>,
    pub days: Vec<DayAvailability>,
}

/// The longest range one availability call covers (days).
pub const MAX_RANGE_DAYS: i64 = 92;

/// The free places of a service's calendars from `from` to `to` (Italian dates, both
/// included; `to` defaults to two weeks on), within its booking window.
pub fn availability(
    conn: &mut DbConn,
    ente_id: i64,
    slug: &str,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    now: NaiveDateTime,
) -> Result<Availability, BookingError> {
    let svc = bookable(conn, ente_id, slug)?;
    let today = calendar::rome_date(now);
    let from = from.unwrap_or(today);
    let to = to.unwrap_or(from + Duration::days(13));
    if to < from {
        return Err(invalid("/to", "La data finale precede quella iniziale."));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS {
        return Err(invalid(
            "/to",
            "Si possono chiedere al massimo 92 giorni per volta.",
        ));
    }
    let earliest = now + Duration::hours(svc.rules.min_notice_hours);
    let latest = now + Duration::days(svc.rules.max_days_ahead);
    let start_utc = calendar::rome_day_start_utc(from);
    let end_utc = calendar::rome_day_start_utc(to + Duration::days(1));
    let ids: Vec<i64> = svc.calendars.iter().map(|c| c.id).collect();
    let taken: HashMap<(i64, NaiveDateTime), (i32, i32, bool)> = bs::table
        .filter(bs::calendar_id.eq_any(&ids))
        .filter(bs::starts_at.ge(start_utc))
        .filter(bs::starts_at.lt(end_utc))
        .select((
            bs::calendar_id,
            bs::starts_at,
            bs::capacity,
            bs::booked,
            bs::cancelled_at,
        ))
        .load::<(i64, NaiveDateTime, i32, i32, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .map(|(c, t, cap, booked, cancelled)| ((c, t), (cap, booked, cancelled.is_some())))
        .collect();
    let codes: Vec<CalendarCode> = svc
        .calendars
        .iter()
        .map(|c| CalendarCode(c.code.as_str().into()))
        .collect();
    let mut days = Vec::new();
    let mut d = from;
    // The day's free slots of every calendar, ordered by time (then by calendar) before any
    // of them is formatted.
    let mut free_slots: Vec<(usize, schedule::Slot, i32)> = Vec::new();
    while d <= to {
        free_slots.clear();
        let mut open = false;
        let mut closed_reason = None;
        for (i, c) in svc.calendars.iter().enumerate() {
            let day_slots = c.schedule.slots(d);
            if day_slots.is_empty() {
                closed_reason = closed_reason.or(c.schedule.closed(d));
                continue;
            }
            for s in day_slots {
                if s.starts_at < earliest || s.starts_at > latest {
                    continue;
                }
                open = true;
                let free = match taken.get(&(c.id, s.starts_at)) {
                    Some((_, _, true)) => 0,
                    Some((cap, booked, false)) => cap - booked,
                    None => c.capacity,
                };
                if free > 0 {
                    free_slots.push((i, s, free));
                }
            }
        }
        free_slots.sort_by_key(|(i, s, _)| (s.starts_at, *i));
        let slots: Vec<FreeSlot> = free_slots
            .iter()
            .map(|(i, s, free)| FreeSlot {
                calendar: codes[*i].clone(),
                starts_at: RomeInstant(s.starts_at),
                ends_at: RomeInstant(s.ends_at),
                time: HourMinute(s.local_start.hour() as u8, s.local_start.minute() as u8),
                free: *free,
            })
            .collect();
        days.push(DayAvailability {
            date: d,
            closed: if open {
                None
            } else {
                closed_reason.map(str::to_owned)
            },
            full: open && slots.is_empty(),
            slots,
        });
        d += Duration::days(1);
    }
    Ok(Availability {
        service: svc.slug.clone(),
        from,
        to,
        calendars: svc.calendars.iter().map(Cal::info).collect(),
        days,
    })
}

// ---------------------------------------------------------------------------------------
// Bookings

/// What a citizen asks to book.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingRequest {
    /// The service's slug.
    pub service: String,
    /// The calendar's code (optional when the service has one).
    #[serde(default)]
    pub calendar: Option<String>,
    /// The slot's start, as the availability gives it (RFC 3339).
    pub starts_at: String,
    /// Why (shown to the office).
    pub reason: String,
    #[serde(default)]
    pub notes: Option<String>,
    /// Where to send the confirmation (default: the citizen's address on file).
    #[serde(default)]
    pub email: Option<String>,
}

/// Moving a booking to another slot.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveRequest {
    pub starts_at: String,
    /// Another calendar of the same service (default: the booking's).
    #[serde(default)]
    pub calendar: Option<String>,
}

/// A booking's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Confirmed,
    /// Waiting for the fee to be paid; the place is held until `hold_until`.
    PendingPayment,
    Cancelled,
    /// The hold ran out before the payment.
    Expired,
    Attended,
    NoShow,
}

impl BookingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::PendingPayment => "pending_payment",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
            Self::Attended => "attended",
            Self::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Confirmed,
            Self::PendingPayment,
            Self::Cancelled,
            Self::Expired,
            Self::Attended,
            Self::NoShow,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }

    fn is_active(self) -> bool {
        matches!(self, Self::Confirmed | Self::PendingPayment)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Confirmed => "confermata",
            Self::PendingPayment => "in attesa di pagamento",
            Self::Cancelled => "annullata",
            Self::Expired => "scaduta",
            Self::Attended => "svolta",
            Self::NoShow => "non presentato",
        }
    }
}

/// A booking as its citizen (or the office) sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BookingView {
    pub id: String,
    /// The short code to show at the desk.
    pub code: String,
    pub status: BookingStatus,
    pub status_label: String,
    pub service: String,
    pub service_title: String,
    pub calendar: CalendarInfo,
    #[schema(format = DateTime)]
    pub starts_at: String,
    #[schema(format = DateTime)]
    pub ends_at: String,
    pub reason: String,
    pub notes: Option<String>,
    /// Until when the citizen may cancel or move it.
    #[schema(format = DateTime)]
    pub changeable_until: String,
    /// For `pending_payment`: until when the place is held.
    #[schema(format = DateTime)]
    pub hold_until: Option<String>,
    pub cancel_reason: Option<String>,
    /// The iCalendar file of the booking.
    pub ical_url: String,
    /// The fee's pagoPA payment, for a service with a fee (docs/payments.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::payments::PaymentView>,
}

/// The letters of a booking code: no 0/O, 1/I/L to misread at a desk.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

fn new_code() -> String {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    bytes[..8]
        .iter()
        .map(|b| char::from(CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()]))
        .collect()
}

fn text(
    pointer: &str,
    value: &str,
    max: usize,
    required: bool,
) -> Result<Option<String>, BookingError> {
    let t = value.trim();
    if t.is_empty() {
        return if required {
            Err(invalid(pointer, "Campo obbligatorio."))
        } else {
            Ok(None)
        };
    }
    if t.chars().count() > max {
        return Err(invalid(
            pointer,
            &format!("Il testo supera i {max} caratteri ammessi."),
        ));
    }
    Ok(Some(t.to_owned()))
}

fn pick_calendar<'a>(
    svc: &'a BookableService,
    code: Option<&str>,
) -> Result<&'a Cal, BookingError> {
    match code {
        Some(code) => svc
            .calendars
            .iter()
            .find(|c| c.code == code)
            .ok_or_else(|| invalid("/calendar", "Calendario non trovato per questo servizio.")),
        None if svc.calendars.len() == 1 => Ok(&svc.calendars[0]),
        None => Err(invalid(
            "/calendar",
            "Il servizio ha più calendari: indicare quale.",
        )),
    }
}

/// The slot a request names, checked against the calendar and the booking window.
fn wanted_slot(
    svc: &BookableService,
    c: &Cal,
    starts_at: &str,
    now: NaiveDateTime,
) -> Result<schedule::Slot, BookingError> {
    let at = parse_instant("/starts_at", starts_at)?;
    let day = calendar::rome_date(at);
    if let Some(why) = c.schedule.closed(day) {
        return Err(invalid(
            "/starts_at",
            &format!("L'ufficio è chiuso il {} ({why}).", day.format("%d/%m/%Y")),
        ));
    }
    let Some(slot) = c.schedule.slot_at(at) else {
        return Err(invalid(
            "/starts_at",
            "L'orario scelto non è tra quelli del calendario: sceglierne uno tra quelli disponibili.",
        ));
    };
    if slot.starts_at < now + Duration::hours(svc.rules.min_notice_hours) {
        return Err(invalid(
            "/starts_at",
            &format!(
                "Si può prenotare fino a {} ore prima dell'appuntamento.",
                svc.rules.min_notice_hours
            ),
        ));
    }
    if slot.starts_at > now + Duration::days(svc.rules.max_days_ahead) {
        return Err(invalid(
            "/starts_at",
            &format!(
                "Si può prenotare al massimo {} giorni prima.",
                svc.rules.max_days_ahead
            ),
        ));
    }
    Ok(slot)
}

/// The row of a slot, made on first use (one statement on both backends).
fn ensure_slot(conn: &mut DbConn, c: &Cal, slot: &schedule::Slot) -> QueryResult<()> {
    use diesel::sql_types::{BigInt, Integer, Timestamp};
    diesel::sql_query(
        "INSERT INTO booking_slots (calendar_id, starts_at, ends_at, capacity, booked) \
         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (calendar_id, starts_at) DO NOTHING",
    )
    .bind::<BigInt, _>(c.id)
    .bind::<Timestamp, _>(slot.starts_at)
    .bind::<Timestamp, _>(slot.ends_at)
    .bind::<Integer, _>(c.capacity)
    .execute(conn)?;
    Ok(())
}

/// Whether a plain read already shows the slot full or cancelled. On a click day most attempts
/// want a place someone else has just taken: they are answered from the committed counter
/// without writing, instead of queueing on the slot's row behind the transaction that took
/// it. Only a hint: [`take_place`]'s conditional update decides for every attempt that passes.
fn slot_is_gone(conn: &mut DbConn, c: &Cal, slot: &schedule::Slot) -> QueryResult<bool> {
    let row: Option<(i32, i32, Option<NaiveDateTime>)> = bs::table
        .filter(bs::calendar_id.eq(c.id))
        .filter(bs::starts_at.eq(slot.starts_at))
        .select((bs::booked, bs::capacity, bs::cancelled_at))
        .first(conn)
        .optional()?;
    Ok(row.is_some_and(|(booked, capacity, cancelled)| booked >= capacity || cancelled.is_some()))
}

/// Takes one place of a slot (its row made on first use): the database's counter decides.
fn take_place(conn: &mut DbConn, c: &Cal, slot: &schedule::Slot) -> Result<i64, BookingError> {
    ensure_slot(conn, c, slot)?;
    let id: Option<i64> = diesel::update(
        bs::table
            .filter(bs::calendar_id.eq(c.id))
            .filter(bs::starts_at.eq(slot.starts_at))
            .filter(bs::booked.lt(bs::capacity))
            .filter(bs::cancelled_at.is_null()),
    )
    .set(bs::booked.eq(bs::booked + 1))
    .returning(bs::id)
    .get_result(conn)
    .optional()?;
    id.ok_or(BookingError::SlotTaken)
}

/// Counts one more active booking of the citizen for the service, within the limit.
fn take_quota(
    conn: &mut DbConn,
    citizen_id: i64,
    service_id: i64,
    max: i32,
) -> Result<(), BookingError> {
    {
        use diesel::sql_types::{BigInt, Integer};
        diesel::sql_query(
            "INSERT INTO booking_limits (citizen_id, service_id, active, max_active) \
             VALUES ($1, $2, 0, $3) ON CONFLICT (citizen_id, service_id) DO NOTHING",
        )
        .bind::<BigInt, _>(citizen_id)
        .bind::<BigInt, _>(service_id)
        .bind::<Integer, _>(max)
        .execute(conn)?;
    }
    let n = diesel::update(
        bl::table
            .filter(bl::citizen_id.eq(citizen_id))
            .filter(bl::service_id.eq(service_id))
            .filter(bl::active.lt(max)),
    )
    .set((bl::active.eq(bl::active + 1), bl::max_active.eq(max)))
    .execute(conn)?;
    if n == 0 {
        return Err(BookingError::LimitReached(max));
    }
    Ok(())
}

fn release_place(conn: &mut DbConn, slot_id: i64) -> QueryResult<()> {
    diesel::update(bs::table.find(slot_id).filter(bs::booked.gt(0)))
        .set(bs::booked.eq(bs::booked - 1))
        .execute(conn)?;
    Ok(())
}

fn release_quota(conn: &mut DbConn, citizen_id: i64, service_id: i64) -> QueryResult<()> {
    diesel::update(
        bl::table
            .filter(bl::citizen_id.eq(citizen_id))
            .filter(bl::service_id.eq(service_id))
            .filter(bl::active.gt(0)),
    )
    .set(bl::active.eq(bl::active - 1))
    .execute(conn)?;
    Ok(())
}

/// Where the booking's links and the iCalendar's UID point: the public URL of the service.
#[derive(Debug, Clone, Copy)]
pub struct Site<'a> {
    pub public_url: &'a str,
}

impl Site<'_> {
    fn host(&self) -> &str {
        self.public_url
            .split("://")
            .nth(1)
            .unwrap_or(self.public_url)
            .split(['/', ':'])
            .next()
            .unwrap_or("sportello")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public_url.trim_end_matches('/'))
    }
}

/// `/api/v1/me/bookings/{id}/ical`
pub fn ical_path(id: &str) -> String {
    format!("/api/v1/me/bookings/{id}/ical")
}

/// A stored booking with what its views and e-mails need.
#[derive(Debug, Clone, Queryable)]
struct Row {
    id: String,
    ente_id: i64,
    service_id: i64,
    calendar_id: i64,
    slot_id: i64,
    citizen_id: i64,
    code: String,
    status: String,
    starts_at: NaiveDateTime,
    ends_at: NaiveDateTime,
    reason: String,
    notes: Option<String>,
    email: Option<String>,
    hold_until: Option<NaiveDateTime>,
    sequence: i32,
    cancel_reason: Option<String>,
}

macro_rules! row_columns {
    () => {
        (
            bk::id,
            bk::ente_id,
            bk::service_id,
            bk::calendar_id,
            bk::slot_id,
            bk::citizen_id,
            bk::code,
            bk::status,
            bk::starts_at,
            bk::ends_at,
            bk::reason,
            bk::notes,
            bk::email,
            bk::hold_until,
            bk::sequence,
            bk::cancel_reason,
        )
    };
}

impl Row {
    fn status(&self) -> BookingStatus {
        BookingStatus::parse(&self.status).unwrap_or(BookingStatus::Cancelled)
    }
}

fn load_row(conn: &mut DbConn, id: &str) -> Result<Row, BookingError> {
    bk::table
        .find(id)
        .select(row_columns!())
        .first(conn)
        .optional()?
        .ok_or(BookingError::NotFound)
}

/// The service and calendar of a booking.
struct Context {
    svc: BookableService,
    cal: Cal,
}

fn context_of(conn: &mut DbConn, row: &Row) -> Result<Context, BookingError> {
    let slug: String = services::table
        .find(row.service_id)
        .select(services::slug)
        .first(conn)?;
    let svc = bookable(conn, row.ente_id, &slug)?;
    // A calendar since removed from the bundle is still the booking's.
    let cal = match svc.calendars.iter().find(|c| c.id == row.calendar_id) {
        Some(c) => c.clone(),
        None => {
            let patron: Option<String> = enti::table
                .find(row.ente_id)
                .select(enti::patron_day)
                .first(conn)?;
            load_calendars(conn, row.service_id, patron.as_deref(), false)?
                .into_iter()
                .find(|c| c.id == row.calendar_id)
                .ok_or(BookingError::NotFound)?
        }
    };
    Ok(Context { svc, cal })
}

fn view(ctx: &Context, row: &Row) -> BookingView {
    let status = row.status();
    BookingView {
        id: row.id.clone(),
        code: row.code.clone(),
        status,
        status_label: status.label().to_owned(),
        service: ctx.svc.slug.clone(),
        service_title: ctx.svc.title.clone(),
        calendar: ctx.cal.info(),
        starts_at: rome_rfc3339(row.starts_at),
        ends_at: rome_rfc3339(row.ends_at),
        reason: row.reason.clone(),
        notes: row.notes.clone(),
        changeable_until: rome_rfc3339(
            row.starts_at - Duration::hours(ctx.svc.rules.cancel_until_hours),
        ),
        hold_until: row.hold_until.map(rome_rfc3339),
        cancel_reason: row.cancel_reason.clone(),
        ical_url: ical_path(&row.id),
        payment: None,
    }
}

/// The booking's iCalendar file.
fn ics_of(ctx: &Context, row: &Row, site: Site<'_>, now: NaiveDateTime) -> String {
    ical::ics(&ical::IcsBooking {
        id: &row.id,
        host: site.host(),
        code: &row.code,
        service_title: &ctx.svc.title,
        calendar_name: &ctx.cal.name,
        location: ctx.cal.location.as_deref(),
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        sequence: row.sequence,
        cancelled: !row.status().is_active(),
        stamp: now,
    })
}

fn when(t: NaiveDateTime) -> String {
    calendar::to_rome(t)
        .format("%d/%m/%Y alle %H:%M")
        .to_string()
}

/// The e-mail about a booking (with its iCalendar file), if it has an address.
fn booking_mail(
    ctx: &Context,
    row: &Row,
    site: Site<'_>,
    now: NaiveDateTime,
    key: String,
    subject: String,
    lead: String,
) -> Option<(String, EmailPayload)> {
    let to = row.email.clone()?;
    let cancelled = !row.status().is_active();
    let body = format!(
        "{lead}\n\n\
         - Servizio: {}\n\
         - Dove: {}{}\n\
         - Quando: {}\n\
         - Codice di prenotazione: {}\n\n\
         {}\
         Può vedere e gestire le sue prenotazioni nella sua area personale: {}\n\n\
         Questo messaggio è generato automaticamente: non rispondere.\n",
        ctx.svc.title,
        ctx.cal.name,
        ctx.cal
            .location
            .as_deref()
            .map(|l| format!(", {l}"))
            .unwrap_or_default(),
        when(row.starts_at),
        row.code,
        if cancelled {
            String::new()
        } else {
            format!(
                "Può annullarla o spostarla fino al {}.\n\n",
                when(row.starts_at - Duration::hours(ctx.svc.rules.cancel_until_hours))
            )
        },
        site.url("/api/v1/me/bookings"),
    );
    let method = if cancelled { "CANCEL" } else { "REQUEST" };
    Some((
        key,
        EmailPayload {
            to,
            subject,
            body,
            attachments: vec![MailAttachment {
                filename: "appuntamento.ics".to_owned(),
                content_type: format!("text/calendar; method={method}; charset=UTF-8"),
                content: ics_of(ctx, row, site, now),
            }],
        },
    ))
}

/// A logged-in citizen books a slot: confirmed at once (or `pending_payment` with a hold for
/// a service with a fee), e-mailed with its iCalendar file.
pub fn book(
    conn: &mut DbConn,
    who: &CitizenCtx,
    req: &BookingRequest,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<BookingView, BookingError> {
    let reason = text("/reason", &req.reason, 500, true)?.unwrap_or_default();
    let notes = text(
        "/notes",
        req.notes.as_deref().unwrap_or_default(),
        2000,
        false,
    )?;
    let given_email = req
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            crate::domain::email::Email::parse(e)
                .map(|e| e.to_string())
                .map_err(|err| invalid("/email", &err.to_string()))
        })
        .transpose()?;
    let svc = match bookable(conn, who.ente_id, &req.service) {
        Err(BookingError::NotFound) => {
            return Err(invalid(
                "/service",
                "Questo servizio non si prenota online.",
            ))
        }
        r => r?,
    };
    if who.level.get() < svc.min_auth_level {
        return Err(BookingError::Forbidden(format!(
            "Per prenotare questo servizio serve un accesso di livello {} (SPID o CIE).",
            svc.min_auth_level
        )));
    }
    let c = pick_calendar(&svc, req.calendar.as_deref())?.clone();
    let slot = wanted_slot(&svc, &c, &req.starts_at, now)?;
    if slot_is_gone(conn, &c, &slot)? {
        return Err(BookingError::SlotTaken);
    }
    let email = match given_email {
        Some(e) => Some(e),
        None => citizens::table
            .find(who.citizen_id)
            .select(citizens::email)
            .first::<Option<String>>(conn)?,
    };
    let row = write_tx(conn, |conn| {
        let slot_id = take_place(conn, &c, &slot)?;
        take_quota(
            conn,
            who.citizen_id,
            svc.id,
            svc.rules.max_active_per_citizen,
        )?;
        let (status, hold) = if svc.needs_payment {
            (
                BookingStatus::PendingPayment,
                Some(now + Duration::minutes(svc.rules.hold_minutes)),
            )
        } else {
            (BookingStatus::Confirmed, None)
        };
        let id = uuid::Uuid::new_v4().to_string();
        diesel::insert_into(bk::table)
            .values((
                bk::id.eq(&id),
                bk::ente_id.eq(svc.ente_id),
                bk::service_id.eq(svc.id),
                bk::calendar_id.eq(c.id),
                bk::slot_id.eq(slot_id),
                bk::citizen_id.eq(who.citizen_id),
                bk::code.eq(new_code()),
                bk::status.eq(status.as_str()),
                bk::starts_at.eq(slot.starts_at),
                bk::ends_at.eq(slot.ends_at),
                bk::reason.eq(&reason),
                bk::notes.eq(&notes),
                bk::email.eq(&email),
                bk::hold_until.eq(hold),
                bk::created_at.eq(now),
                bk::updated_at.eq(now),
            ))
            .execute(conn)?;
        let row = load_row(conn, &id)?;
        let ctx = Context {
            svc: svc.clone(),
            cal: c.clone(),
        };
        if status == BookingStatus::Confirmed {
            confirmed(conn, &ctx, &row, site, now)?;
        } else if let Some(until) = hold {
            // The fee: a pagoPA debt position, created through the outbox.
            crate::payments::create_for_booking(conn, &id, svc.id, who.citizen_id, until, now)?;
        }
        Ok::<_, BookingError>(row)
    })?;
    tracing::info!(booking = %row.id, service = %svc.slug, calendar = %c.code, starts_at = %row.starts_at, "booking made");
    let mut v = view(&Context { svc, cal: c }, &row);
    v.payment = crate::payments::of_booking(conn, &row.id)?;
    Ok(v)
}

/// What follows a confirmation: the e-mail and, when the service asks, the registration.
fn confirmed(
    conn: &mut DbConn,
    ctx: &Context,
    row: &Row,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<(), BookingError> {
    if let Some(mail) = booking_mail(
        ctx,
        row,
        site,
        now,
        format!("booking:{}:confirmed", row.id),
        format!(
            "Prenotazione confermata – {} – {} – codice {}",
            ctx.svc.title,
            when(row.starts_at),
            row.code
        ),
        format!("la sua prenotazione per «{}» è confermata.", ctx.svc.title),
    ) {
        enqueue_emails(conn, row.ente_id, &[mail])?;
    }
    if ctx.svc.rules.register_in_protocol {
        register(conn, ctx, row, now)?;
    }
    Ok(())
}

/// Registers a booking in the protocol (incoming, from the citizen), when the service asks.
fn register(
    conn: &mut DbConn,
    ctx: &Context,
    row: &Row,
    now: NaiveDateTime,
) -> Result<(), BookingError> {
    let aoo_id: i64 = offices::table
        .find(ctx.cal.office_id)
        .select(offices::aoo_id)
        .first(conn)?;
    let (cf, given, family): (String, Option<String>, Option<String>) = citizens::table
        .find(row.citizen_id)
        .select((
            citizens::codice_fiscale,
            citizens::given_name,
            citizens::family_name,
        ))
        .first(conn)?;
    let name = format!(
        "{} {}",
        given.unwrap_or_default(),
        family.unwrap_or_default()
    );
    let document = serde_json_canonicalizer::to_string(&serde_json::json!({
        "type": "prenotazione",
        "booking": row.id,
        "code": row.code,
        "service": ctx.svc.slug,
        "calendar": ctx.cal.code,
        "starts_at": rome_rfc3339(row.starts_at),
        "reason": row.reason,
        "notes": row.notes,
    }))
    .map_err(anyhow::Error::from)?;
    let new = crate::protocol::NewRegistration {
        ente_id: row.ente_id,
        aoo_id,
        at: now,
        direction: crate::protocol::Direction::In,
        sender: format!("{} ({cf})", name.trim()),
        recipient: None,
        subject: format!(
            "{} – prenotazione {} del {}",
            ctx.svc.title,
            row.code,
            when(row.starts_at)
        ),
        document_digest: crate::text::sha256_hex(document.as_bytes()),
        attachments: Vec::new(),
        instance_id: None,
        primary: false,
    };
    use crate::protocol::external;
    match external::adapter_of_aoo(conn, aoo_id)? {
        None => {
            let reg = crate::protocol::register(conn, &new)
                .map_err(|e| BookingError::Other(anyhow::anyhow!("{e}")))?;
            external::Link::Booking { id: row.id.clone() }.set(conn, reg.id)?;
        }
        // The ente's own protocol system numbers it (idempotency key `booking:<id>`); the
        // confirmation does not quote the number, so nothing waits for it.
        Some(adapter) => {
            external::enqueue(
                conn,
                adapter,
                &external::RequestPayload {
                    registration: new,
                    notices: None,
                    follow_up: Some(external::FollowUp {
                        message_id: None,
                        act: None,
                        link: Some(external::Link::Booking { id: row.id.clone() }),
                        document: Some(document),
                        primary_document: None,
                        placeholders: external::Placeholders::new(),
                        emails: Vec::new(),
                    }),
                },
                now,
            )?;
            tracing::info!(booking = %row.id, system = adapter.as_str(), "booking registration requested from the external protocol system");
        }
    }
    Ok(())
}

fn own(conn: &mut DbConn, who: &CitizenCtx, id: &str) -> Result<Row, BookingError> {
    let row = load_row(conn, id)?;
    if row.citizen_id != who.citizen_id || row.ente_id != who.ente_id {
        return Err(BookingError::NotFound);
    }
    Ok(row)
}

/// The citizen pays a booking's fee now: the pagoPA Checkout page to go to (the booking
/// waits in `pending_payment` until the receipt comes).
pub fn checkout(
    conn: &mut DbConn,
    who: &CitizenCtx,
    id: &str,
    settings: &crate::config::PagopaSettings,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<String, BookingError> {
    use crate::payments::CheckoutError;
    let row = own(conn, who, id)?;
    if row.status() != BookingStatus::PendingPayment {
        return Err(BookingError::Conflict(
            "Questa prenotazione non è in attesa di pagamento.".into(),
        ));
    }
    let back = format!(
        "{}/api/v1/me/bookings/{}",
        site.public_url.trim_end_matches('/'),
        row.id
    );
    crate::payments::checkout(conn, settings, &row.id, row.email.as_deref(), &back, now).map_err(
        |e| match e {
            CheckoutError::Conflict(m) => BookingError::Conflict(m),
            CheckoutError::Unavailable(m) => BookingError::Unavailable(m),
            CheckoutError::Other(e) => BookingError::Other(e),
        },
    )
}

/// The printable pagoPA notice of a booking's fee (HTML), while it can be paid with it.
pub fn notice(conn: &mut DbConn, who: &CitizenCtx, id: &str) -> Result<String, BookingError> {
    let row = own(conn, who, id)?;
    crate::payments::notice_html(conn, &row.id)?.ok_or_else(|| {
        BookingError::Conflict(
            "Non c'è un avviso di pagamento da pagare per questa prenotazione.".into(),
        )
    })
}

/// The fee of a booking was paid: held, it is confirmed now (its e-mail, its registration
/// when the service asks). A booking no longer held (it expired meanwhile) stays as it is:
/// the payment is recorded, the office refunds or rebooks (logged).
pub fn payment_received(
    conn: &mut DbConn,
    booking_id: &str,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<bool, BookingError> {
    let row = load_row(conn, booking_id)?;
    if row.status() != BookingStatus::PendingPayment {
        tracing::warn!(booking = %booking_id, status = row.status().as_str(), "fee paid for a booking no longer held: the office must refund or rebook");
        return Ok(false);
    }
    let ctx = context_of(conn, &row)?;
    diesel::update(
        bk::table
            .find(booking_id)
            .filter(bk::status.eq(BookingStatus::PendingPayment.as_str())),
    )
    .set((
        bk::status.eq(BookingStatus::Confirmed.as_str()),
        bk::hold_until.eq(None::<NaiveDateTime>),
        bk::updated_at.eq(now),
    ))
    .execute(conn)?;
    let row = load_row(conn, booking_id)?;
    confirmed(conn, &ctx, &row, site, now)?;
    tracing::info!(booking = %booking_id, "booking confirmed: fee paid");
    Ok(true)
}

/// Reads the receipts of the payments waiting for one and confirms their bookings (run by
/// the housekeeping before the holds run out; idempotent).
pub fn collect_payments(
    conn: &mut DbConn,
    settings: &crate::config::PagopaSettings,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<usize, BookingError> {
    let receipts = crate::payments::fetch_receipts(conn, settings, 50)?;
    let mut confirmed = 0;
    for r in receipts {
        let done = write_tx(conn, |conn| {
            if !crate::payments::record_receipt(conn, &r, now)? {
                return Ok::<_, BookingError>(false);
            }
            match &r.booking_id {
                Some(b) => payment_received(conn, b, site, now),
                None => Ok(false),
            }
        })?;
        confirmed += usize::from(done);
    }
    Ok(confirmed)
}

/// One of the citizen's bookings.
pub fn get(conn: &mut DbConn, who: &CitizenCtx, id: &str) -> Result<BookingView, BookingError> {
    let row = own(conn, who, id)?;
    let ctx = context_of(conn, &row)?;
    let mut v = view(&ctx, &row);
    v.payment = crate::payments::of_booking(conn, &row.id)?;
    Ok(v)
}

/// The citizen's iCalendar file of a booking.
pub fn ics(
    conn: &mut DbConn,
    who: &CitizenCtx,
    id: &str,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<String, BookingError> {
    let row = own(conn, who, id)?;
    let ctx = context_of(conn, &row)?;
    Ok(ics_of(&ctx, &row, site, now))
}

/// The citizen's bookings and waiting-list places, the next first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MyBookings {
    pub bookings: Vec<BookingView>,
    pub waiting: Vec<WaitingView>,
}

/// A place on a waiting list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WaitingView {
    pub id: i64,
    pub service: String,
    pub calendar: String,
    pub date: NaiveDate,
    /// `waiting`, `offered` (a place freed up and the citizen was told), `withdrawn`.
    pub status: String,
}

pub fn mine(conn: &mut DbConn, who: &CitizenCtx) -> Result<MyBookings, BookingError> {
    let rows: Vec<Row> = bk::table
        .filter(bk::citizen_id.eq(who.citizen_id))
        .filter(bk::ente_id.eq(who.ente_id))
        .order((bk::starts_at.desc(), bk::id))
        .select(row_columns!())
        .limit(200)
        .load(conn)?;
    let mut cache: HashMap<i64, Context> = HashMap::new();
    let mut bookings = Vec::with_capacity(rows.len());
    for r in rows {
        if let std::collections::hash_map::Entry::Vacant(e) = cache.entry(r.calendar_id) {
            e.insert(context_of(conn, &r)?);
        }
        bookings.push(view(&cache[&r.calendar_id], &r));
    }
    let waiting = wl::table
        .inner_join(cal::table.inner_join(services::table))
        .filter(wl::citizen_id.eq(who.citizen_id))
        .filter(wl::ente_id.eq(who.ente_id))
        .order(wl::day)
        .select((wl::id, services::slug, cal::code, wl::day, wl::status))
        .load::<(i64, String, String, NaiveDate, String)>(conn)?
        .into_iter()
        .map(|(id, service, calendar, date, status)| WaitingView {
            id,
            service,
            calendar,
            date,
            status,
        })
        .collect();
    Ok(MyBookings { bookings, waiting })
}

/// Ends an active booking (cancelled by the citizen or staff, or its hold expired): frees its
/// place and the citizen's quota, offers the place to the day's waiting list, e-mails the
/// citizen (unless the hold expired unseen).
#[expect(clippy::too_many_arguments, reason = "who ends it, how and why")]
fn end(
    conn: &mut DbConn,
    ctx: &Context,
    row: &Row,
    status: BookingStatus,
    by: &str,
    reason: Option<&str>,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<Row, BookingError> {
    let n = diesel::update(
        bk::table
            .find(&row.id)
            .filter(bk::status.eq_any(["confirmed", "pending_payment"])),
    )
    .set((
        bk::status.eq(status.as_str()),
        bk::cancelled_at.eq(now),
        bk::cancelled_by.eq(by),
        bk::cancel_reason.eq(reason),
        bk::sequence.eq(bk::sequence + 1),
        bk::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 0 {
        return Err(BookingError::Conflict(
            "La prenotazione non è più attiva.".into(),
        ));
    }
    release_place(conn, row.slot_id)?;
    release_quota(conn, row.citizen_id, row.service_id)?;
    let ended = load_row(conn, &row.id)?;
    if status == BookingStatus::Cancelled {
        let (subject, lead) = if by == "citizen" {
            (
                format!(
                    "Prenotazione annullata – {} – codice {}",
                    ctx.svc.title, row.code
                ),
                "come da lei richiesto, la sua prenotazione è stata annullata.".to_owned(),
            )
        } else {
            (
                format!(
                    "Appuntamento annullato dall'ufficio – {} – {}",
                    ctx.svc.title,
                    when(row.starts_at)
                ),
                format!(
                    "ci scusiamo: l'ufficio ha dovuto annullare il suo appuntamento{}. Può \
                     prenotarne un altro dalla pagina del servizio.",
                    reason.map(|r| format!(" ({r})")).unwrap_or_default()
                ),
            )
        };
        if let Some(mail) = booking_mail(
            ctx,
            &ended,
            site,
            now,
            format!("booking:{}:cancelled", row.id),
            subject,
            lead,
        ) {
            enqueue_emails(conn, row.ente_id, &[mail])?;
        }
    }
    if by == "citizen" || status == BookingStatus::Expired {
        offer_place(conn, ctx, calendar::rome_date(row.starts_at), site, now)?;
    }
    Ok(ended)
}

fn check_changeable(ctx: &Context, row: &Row, now: NaiveDateTime) -> Result<(), BookingError> {
    if !row.status().is_active() {
        return Err(BookingError::Conflict(format!(
            "La prenotazione è {}: non si può più modificare.",
            row.status().label()
        )));
    }
    let until = row.starts_at - Duration::hours(ctx.svc.rules.cancel_until_hours);
    if now > until {
        return Err(BookingError::Conflict(format!(
            "La prenotazione si poteva annullare o spostare fino al {}: per modifiche ora \
             contatti l'ufficio.",
            when(until)
        )));
    }
    Ok(())
}

/// The citizen cancels a booking, until the service's deadline.
pub fn cancel(
    conn: &mut DbConn,
    who: &CitizenCtx,
    id: &str,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<BookingView, BookingError> {
    write_tx(conn, |conn| {
        let row = own(conn, who, id)?;
        let ctx = context_of(conn, &row)?;
        check_changeable(&ctx, &row, now)?;
        let ended = end(
            conn,
            &ctx,
            &row,
            BookingStatus::Cancelled,
            "citizen",
            None,
            site,
            now,
        )?;
        tracing::info!(booking = %row.id, "booking cancelled by the citizen");
        Ok(view(&ctx, &ended))
    })
}

/// The citizen moves a booking to another slot, until the service's deadline: the new place is
/// taken before the old one is freed, in one transaction (a full slot leaves the booking as
/// it was).
pub fn move_to(
    conn: &mut DbConn,
    who: &CitizenCtx,
    id: &str,
    req: &MoveRequest,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<BookingView, BookingError> {
    write_tx(conn, |conn| {
        let row = own(conn, who, id)?;
        let ctx = context_of(conn, &row)?;
        check_changeable(&ctx, &row, now)?;
        let c = match req.calendar.as_deref() {
            None => ctx.cal.clone(),
            Some(code) => pick_calendar(&ctx.svc, Some(code))?.clone(),
        };
        let slot = wanted_slot(&ctx.svc, &c, &req.starts_at, now)?;
        if c.id == row.calendar_id && slot.starts_at == row.starts_at {
            return Err(invalid("/starts_at", "La prenotazione è già a quest'ora."));
        }
        let slot_id = take_place(conn, &c, &slot)?;
        release_place(conn, row.slot_id)?;
        diesel::update(bk::table.find(&row.id))
            .set((
                bk::calendar_id.eq(c.id),
                bk::slot_id.eq(slot_id),
                bk::starts_at.eq(slot.starts_at),
                bk::ends_at.eq(slot.ends_at),
                bk::sequence.eq(bk::sequence + 1),
                bk::reminder_queued_at.eq(None::<NaiveDateTime>),
                bk::updated_at.eq(now),
            ))
            .execute(conn)?;
        let moved = load_row(conn, &row.id)?;
        let new_ctx = Context {
            svc: ctx.svc.clone(),
            cal: c,
        };
        if moved.status() == BookingStatus::Confirmed {
            if let Some(mail) = booking_mail(
                &new_ctx,
                &moved,
                site,
                now,
                format!("booking:{}:moved:{}", row.id, moved.sequence),
                format!(
                    "Prenotazione spostata – {} – {} – codice {}",
                    ctx.svc.title,
                    when(moved.starts_at),
                    moved.code
                ),
                format!(
                    "la sua prenotazione per «{}» è stata spostata: il nuovo appuntamento è \
                     il {} (prima era il {}).",
                    ctx.svc.title,
                    when(moved.starts_at),
                    when(row.starts_at)
                ),
            ) {
                enqueue_emails(conn, row.ente_id, &[mail])?;
            }
        }
        offer_place(conn, &ctx, calendar::rome_date(row.starts_at), site, now)?;
        tracing::info!(booking = %row.id, from = %row.starts_at, to = %moved.starts_at, "booking moved");
        Ok(view(&new_ctx, &moved))
    })
}

// ---------------------------------------------------------------------------------------
// Waiting list

/// Asking for a place on a full day.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitingRequest {
    #[serde(default)]
    pub calendar: Option<String>,
    pub date: NaiveDate,
}

/// The citizen joins the waiting list of a full day; told by e-mail when a place frees up.
pub fn join_waitlist(
    conn: &mut DbConn,
    who: &CitizenCtx,
    slug: &str,
    req: &WaitingRequest,
    now: NaiveDateTime,
) -> Result<WaitingView, BookingError> {
    let avail = availability(conn, who.ente_id, slug, Some(req.date), Some(req.date), now)?;
    let svc = bookable(conn, who.ente_id, slug)?;
    let c = pick_calendar(&svc, req.calendar.as_deref())?.clone();
    let day = &avail.days[0];
    if day.closed.is_some() || (!day.full && day.slots.is_empty()) {
        return Err(invalid(
            "/date",
            "In questo giorno non si può prenotare: nessuna lista d'attesa.",
        ));
    }
    if day.slots.iter().any(|s| *s.calendar.0 == *c.code) {
        return Err(BookingError::Conflict(
            "In questo giorno ci sono ancora posti liberi: li prenoti direttamente.".into(),
        ));
    }
    let email: Option<String> = citizens::table
        .find(who.citizen_id)
        .select(citizens::email)
        .first(conn)?;
    write_tx(conn, |conn| {
        {
            use diesel::sql_types::{BigInt, Date, Nullable, Text, Timestamp};
            diesel::sql_query(
                "INSERT INTO booking_waitlist (ente_id, calendar_id, day, citizen_id, email, \
                 status, created_at) VALUES ($1, $2, $3, $4, $5, 'waiting', $6) \
                 ON CONFLICT (calendar_id, day, citizen_id) DO UPDATE SET status = 'waiting'",
            )
            .bind::<BigInt, _>(who.ente_id)
            .bind::<BigInt, _>(c.id)
            .bind::<Date, _>(req.date)
            .bind::<BigInt, _>(who.citizen_id)
            .bind::<Nullable<Text>, _>(&email)
            .bind::<Timestamp, _>(now)
            .execute(conn)?;
        }
        let id: i64 = wl::table
            .filter(wl::calendar_id.eq(c.id))
            .filter(wl::day.eq(req.date))
            .filter(wl::citizen_id.eq(who.citizen_id))
            .select(wl::id)
            .first(conn)?;
        Ok(WaitingView {
            id,
            service: svc.slug.clone(),
            calendar: c.code.clone(),
            date: req.date,
            status: "waiting".to_owned(),
        })
    })
}

/// A place of `day` freed up: the first citizen waiting for it is told (the place is not held:
/// the first to book it gets it, and the counters keep anyone from overbooking).
fn offer_place(
    conn: &mut DbConn,
    ctx: &Context,
    day: NaiveDate,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<(), BookingError> {
    let first: Option<(i64, Option<String>)> = wl::table
        .filter(wl::calendar_id.eq(ctx.cal.id))
        .filter(wl::day.eq(day))
        .filter(wl::status.eq("waiting"))
        .order((wl::created_at, wl::id))
        .select((wl::id, wl::email))
        .first(conn)
        .optional()?;
    let Some((id, email)) = first else {
        return Ok(());
    };
    diesel::update(wl::table.find(id))
        .set((wl::status.eq("offered"), wl::offered_at.eq(now)))
        .execute(conn)?;
    if let Some(to) = email {
        enqueue_emails(
            conn,
            ctx.svc.ente_id,
            &[(
                format!("waitlist:{id}:offered"),
                EmailPayload {
                    to,
                    subject: format!(
                        "Si è liberato un posto – {} – {}",
                        ctx.svc.title,
                        day.format("%d/%m/%Y")
                    ),
                    body: format!(
                        "Gentile cittadina, gentile cittadino,\n\n\
                         si è liberato un posto per «{}» ({}) il {}, il giorno per cui era in \
                         lista d'attesa. Il posto non è riservato: lo ottiene chi prenota per \
                         primo.\n\nPrenoti da qui: {}\n\n\
                         Questo messaggio è generato automaticamente: non rispondere.\n",
                        ctx.svc.title,
                        ctx.cal.name,
                        day.format("%d/%m/%Y"),
                        site.url(&format!(
                            "/api/v1/services/{}/availability?from={day}&to={day}",
                            ctx.svc.slug
                        )),
                    ),
                    attachments: Vec::new(),
                },
            )],
        )?;
    }
    tracing::info!(calendar = %ctx.cal.code, %day, waiting = id, "freed place offered to the waiting list");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Staff

/// A booking on the staff's agenda.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgendaBooking {
    pub id: String,
    pub code: String,
    pub status: BookingStatus,
    pub citizen: String,
    pub codice_fiscale: String,
    pub reason: String,
    pub notes: Option<String>,
    /// The state of its fee's pagoPA payment, for a service with a fee.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<crate::payments::PaymentStatus>,
}

/// One slot of the agenda.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgendaSlot {
    #[schema(format = DateTime)]
    pub starts_at: String,
    pub time: String,
    pub capacity: i32,
    pub booked: i32,
    pub cancelled: bool,
    pub bookings: Vec<AgendaBooking>,
}

/// A calendar's day as its office sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Agenda {
    pub calendar: CalendarInfo,
    pub date: NaiveDate,
    pub closed: Option<String>,
    pub slots: Vec<AgendaSlot>,
}

/// One day of a calendar's fees, for its office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaymentDay {
    /// The day the payments were made (Italian date of the booking).
    pub date: NaiveDate,
    pub payments: i64,
    pub paid: i64,
    /// Euro cents received.
    pub paid_cents: i64,
    /// Still payable (`payment_pending`, `payment_started`).
    pub waiting: i64,
    pub expired: i64,
    /// `creation_pending` or `creation_failed`.
    pub not_created: i64,
}

/// The fees of a calendar's bookings made in a period, per day (the office's payments
/// report).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentsReport {
    pub calendar: CalendarInfo,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<PaymentDay>,
    pub paid_cents: i64,
}

/// The payments report of a calendar from `from` to `to` (Italian days, at most 92).
pub fn payments_report(
    conn: &mut DbConn,
    staff: &crate::backoffice::work::StaffCtx,
    code: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<PaymentsReport, BookingError> {
    use crate::db::schema::payments as pay;
    use crate::payments::PaymentStatus as P;
    if to < from || (to - from).num_days() > 92 {
        return Err(invalid(
            "/to",
            "Il periodo va da `from` a `to` compresi, al più 93 giorni.",
        ));
    }
    let (_, c) = staff_calendar(conn, staff, code)?;
    let rows: Vec<(NaiveDateTime, String, i64)> = pay::table
        .inner_join(bk::table)
        .filter(bk::calendar_id.eq(c.id))
        .filter(bk::created_at.ge(calendar::rome_day_start_utc(from)))
        .filter(bk::created_at.lt(calendar::rome_day_start_utc(to + Duration::days(1))))
        .select((bk::created_at, pay::status, pay::amount_cents))
        .load(conn)?;
    let mut days: std::collections::BTreeMap<NaiveDate, PaymentDay> = Default::default();
    for (at, status, cents) in rows {
        let date = calendar::rome_date(at);
        let d = days.entry(date).or_insert(PaymentDay {
            date,
            payments: 0,
            paid: 0,
            paid_cents: 0,
            waiting: 0,
            expired: 0,
            not_created: 0,
        });
        d.payments += 1;
        match P::parse(&status) {
            Some(P::Paid) => {
                d.paid += 1;
                d.paid_cents += cents;
            }
            Some(P::PaymentPending | P::PaymentStarted) => d.waiting += 1,
            Some(P::Expired | P::Cancelled) => d.expired += 1,
            _ => d.not_created += 1,
        }
    }
    let days: Vec<PaymentDay> = days.into_values().collect();
    Ok(PaymentsReport {
        calendar: c.info(),
        from,
        to,
        paid_cents: days.iter().map(|d| d.paid_cents).sum(),
        days,
    })
}

/// A calendar the staff member works on (operator of its office, or administrator).
fn staff_calendar(
    conn: &mut DbConn,
    staff: &crate::backoffice::work::StaffCtx,
    code: &str,
) -> Result<(BookableService, Cal), BookingError> {
    let found: Option<(i64, String)> = cal::table
        .inner_join(services::table)
        .filter(cal::ente_id.eq(staff.ente_id))
        .filter(cal::code.eq(code))
        .select((cal::office_id, services::slug))
        .first(conn)
        .optional()?;
    let Some((office_id, slug)) = found else {
        return Err(BookingError::NotFound);
    };
    if !staff.works_in(Some(office_id)) {
        return Err(BookingError::NotFound);
    }
    let svc = bookable(conn, staff.ente_id, &slug)?;
    let c = svc
        .calendars
        .iter()
        .find(|c| c.code == code)
        .cloned()
        .ok_or(BookingError::NotFound)?;
    Ok((svc, c))
}

/// The day's agenda of a calendar: every slot with its bookings.
pub fn agenda(
    conn: &mut DbConn,
    staff: &crate::backoffice::work::StaffCtx,
    code: &str,
    date: NaiveDate,
) -> Result<Agenda, BookingError> {
    let (_, c) = staff_calendar(conn, staff, code)?;
    let start = calendar::rome_day_start_utc(date);
    let end = calendar::rome_day_start_utc(date + Duration::days(1));
    let stored: HashMap<NaiveDateTime, (i32, i32, bool)> = bs::table
        .filter(bs::calendar_id.eq(c.id))
        .filter(bs::starts_at.ge(start))
        .filter(bs::starts_at.lt(end))
        .select((bs::starts_at, bs::capacity, bs::booked, bs::cancelled_at))
        .load::<(NaiveDateTime, i32, i32, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .map(|(t, cap, b, x)| (t, (cap, b, x.is_some())))
        .collect();
    type AgendaRow = (
        String,
        String,
        String,
        NaiveDateTime,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<AgendaRow> = bk::table
        .inner_join(citizens::table)
        .filter(bk::calendar_id.eq(c.id))
        .filter(bk::starts_at.ge(start))
        .filter(bk::starts_at.lt(end))
        .order((bk::starts_at, bk::created_at))
        .select((
            bk::id,
            bk::code,
            bk::status,
            bk::starts_at,
            bk::reason,
            bk::notes,
            citizens::codice_fiscale,
            citizens::given_name,
            citizens::family_name,
        ))
        .load(conn)?;
    let mut slots: Vec<AgendaSlot> = c
        .schedule
        .slots(date)
        .into_iter()
        .map(|s| {
            let (capacity, booked, cancelled) = stored
                .get(&s.starts_at)
                .copied()
                .unwrap_or((c.capacity, 0, false));
            AgendaSlot {
                starts_at: rome_rfc3339(s.starts_at),
                time: s.local_start.format("%H:%M").to_string(),
                capacity,
                booked,
                cancelled,
                bookings: Vec::new(),
            }
        })
        .collect();
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let payments: HashMap<String, String> = crate::db::schema::payments::table
        .filter(crate::db::schema::payments::booking_id.eq_any(&ids))
        .select((
            crate::db::schema::payments::booking_id.assume_not_null(),
            crate::db::schema::payments::status,
        ))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect();
    for (id, code, status, at, reason, notes, cf, given, family) in rows {
        let key = rome_rfc3339(at);
        let payment = payments
            .get(&id)
            .and_then(|s| crate::payments::PaymentStatus::parse(s));
        let b = AgendaBooking {
            payment,
            id,
            code,
            status: BookingStatus::parse(&status).unwrap_or(BookingStatus::Cancelled),
            citizen: format!(
                "{} {}",
                given.unwrap_or_default(),
                family.unwrap_or_default()
            )
            .trim()
            .to_owned(),
            codice_fiscale: cf,
            reason,
            notes,
        };
        match slots.iter_mut().find(|s| s.starts_at == key) {
            Some(s) => s.bookings.push(b),
            // A slot since gone from the hours (a closure entered after the booking).
            None => slots.push(AgendaSlot {
                starts_at: key,
                time: calendar::to_rome(at).format("%H:%M").to_string(),
                capacity: 0,
                booked: 0,
                cancelled: true,
                bookings: vec![b],
            }),
        }
    }
    Ok(Agenda {
        calendar: c.info(),
        date,
        closed: c.schedule.closed(date).map(str::to_owned),
        slots,
    })
}

/// Whether the citizen came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Attendance {
    Attended,
    NoShow,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttendanceRequest {
    pub attendance: Attendance,
}

/// Staff mark a booking attended or no-show, from its start time on.
pub fn mark(
    conn: &mut DbConn,
    staff: &crate::backoffice::work::StaffCtx,
    id: &str,
    a: Attendance,
    now: NaiveDateTime,
) -> Result<AgendaBooking, BookingError> {
    write_tx(conn, |conn| {
        let row = load_row(conn, id)?;
        let office: i64 = cal::table
            .find(row.calendar_id)
            .select(cal::office_id)
            .first(conn)?;
        if row.ente_id != staff.ente_id || !staff.works_in(Some(office)) {
            return Err(BookingError::NotFound);
        }
        if row.status() != BookingStatus::Confirmed {
            return Err(BookingError::Conflict(format!(
                "La prenotazione è {}: non si può segnare la presenza.",
                row.status().label()
            )));
        }
        if now < row.starts_at {
            return Err(BookingError::Conflict(
                "L'appuntamento non è ancora iniziato.".into(),
            ));
        }
        let status = match a {
            Attendance::Attended => BookingStatus::Attended,
            Attendance::NoShow => BookingStatus::NoShow,
        };
        diesel::update(bk::table.find(id))
            .set((bk::status.eq(status.as_str()), bk::updated_at.eq(now)))
            .execute(conn)?;
        // Done: it no longer counts among the citizen's active bookings.
        release_quota(conn, row.citizen_id, row.service_id)?;
        let (cf, given, family): (String, Option<String>, Option<String>) = citizens::table
            .find(row.citizen_id)
            .select((
                citizens::codice_fiscale,
                citizens::given_name,
                citizens::family_name,
            ))
            .first(conn)?;
        Ok(AgendaBooking {
            id: row.id.clone(),
            code: row.code.clone(),
            status,
            citizen: format!(
                "{} {}",
                given.unwrap_or_default(),
                family.unwrap_or_default()
            )
            .trim()
            .to_owned(),
            codice_fiscale: cf,
            reason: row.reason.clone(),
            notes: row.notes.clone(),
            payment: crate::payments::of_booking(conn, &row.id)?.map(|p| p.status),
        })
    })
}

/// Staff cancel one slot, or a whole day (a closure).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffCancellation {
    /// A slot's start (RFC 3339); without it, the whole `date`.
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// Told to the citizens.
    pub reason: String,
}

/// What a staff cancellation did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CancellationResult {
    /// Bookings cancelled (each citizen told by e-mail).
    pub cancelled: usize,
}

/// Staff cancel a slot (`starts_at`) or close a whole day (`date`, a one-off closure): nobody
/// can book it any more, and every booking in it is cancelled with an e-mail to its citizen.
pub fn staff_cancel(
    conn: &mut DbConn,
    staff: &crate::backoffice::work::StaffCtx,
    code: &str,
    req: &StaffCancellation,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<CancellationResult, BookingError> {
    let reason = text("/reason", &req.reason, 500, true)?.unwrap_or_default();
    let (svc, c) = staff_calendar(conn, staff, code)?;
    let (from, to) = match (&req.starts_at, req.date) {
        (Some(s), None) => {
            let at = parse_instant("/starts_at", s)?;
            let Some(slot) = c.schedule.slot_at(at) else {
                return Err(invalid("/starts_at", "Nessun turno del calendario a quest'ora."));
            };
            (slot.starts_at, slot.ends_at)
        }
        (None, Some(d)) => (
            calendar::rome_day_start_utc(d),
            calendar::rome_day_start_utc(d + Duration::days(1)),
        ),
        _ => {
            return Err(invalid(
                "/starts_at",
                "Indicare l'orario di un turno (starts_at) oppure un giorno intero (date), non entrambi.",
            ))
        }
    };
    let actor = format!("staff:{}", staff.username);
    let n = write_tx(conn, |conn| {
        match (&req.starts_at, req.date) {
            (Some(_), _) => {
                let slot = c.schedule.slot_at(from).ok_or(BookingError::NotFound)?;
                ensure_slot(conn, &c, &slot)?;
                diesel::update(
                    bs::table
                        .filter(bs::calendar_id.eq(c.id))
                        .filter(bs::starts_at.eq(slot.starts_at)),
                )
                .set(bs::cancelled_at.eq(now))
                .execute(conn)?;
            }
            (None, Some(d)) => {
                use diesel::sql_types::{BigInt, Date, Text, Timestamp};
                let made = diesel::sql_query(
                    "INSERT INTO calendar_closures (calendar_id, day, reason, created_by, \
                     created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (calendar_id, day) DO NOTHING",
                )
                .bind::<BigInt, _>(c.id)
                .bind::<Date, _>(d)
                .bind::<Text, _>(&reason)
                .bind::<BigInt, _>(staff.staff_user_id)
                .bind::<Timestamp, _>(now)
                .execute(conn)?;
                if made == 0 {
                    return Err(BookingError::Conflict(
                        "Il calendario è già chiuso in questo giorno.".into(),
                    ));
                }
                // Every slot of the day gets its row, cancelled below: the closure is then
                // enforced by the slots' counters too, also against a booking that read the
                // calendar before this transaction committed.
                for slot in c.schedule.slots(d) {
                    ensure_slot(conn, &c, &slot)?;
                }
                diesel::update(
                    bs::table
                        .filter(bs::calendar_id.eq(c.id))
                        .filter(bs::starts_at.ge(from))
                        .filter(bs::starts_at.lt(to)),
                )
                .set(bs::cancelled_at.eq(now))
                .execute(conn)?;
            }
            _ => unreachable!("checked above"),
        }
        let rows: Vec<Row> = bk::table
            .filter(bk::calendar_id.eq(c.id))
            .filter(bk::starts_at.ge(from))
            .filter(bk::starts_at.lt(to))
            .filter(bk::status.eq_any(["confirmed", "pending_payment"]))
            .select(row_columns!())
            .load(conn)?;
        let ctx = Context {
            svc: svc.clone(),
            cal: c.clone(),
        };
        for r in &rows {
            end(
                conn,
                &ctx,
                r,
                BookingStatus::Cancelled,
                &actor,
                Some(&reason),
                site,
                now,
            )?;
        }
        Ok::<_, BookingError>(rows.len())
    })?;
    tracing::info!(calendar = %code, cancelled = n, by = %staff.username, "bookings cancelled by the office");
    Ok(CancellationResult { cancelled: n })
}

// ---------------------------------------------------------------------------------------
// Jobs

/// Queues the reminders now due (each booking once: `reminder_queued_at` is set in the same
/// transaction as its outbox row, whose dedupe key names the booking and its time) and ends
/// the payment holds that ran out. Run by the housekeeping of every instance; idempotent.
pub fn run_jobs(
    conn: &mut DbConn,
    site: Site<'_>,
    now: NaiveDateTime,
) -> Result<(usize, usize), BookingError> {
    let due: Vec<Row> = bk::table
        .filter(bk::status.eq("confirmed"))
        .filter(bk::reminder_queued_at.is_null())
        .filter(bk::starts_at.gt(now))
        .filter(bk::starts_at.le(now + Duration::hours(24 * 7)))
        .select(row_columns!())
        .load(conn)?;
    let mut reminded = 0;
    for r in due {
        let ctx = context_of(conn, &r)?;
        let hours = ctx.svc.rules.reminder_hours;
        if hours == 0 || r.starts_at - Duration::hours(hours) > now {
            continue;
        }
        let sent = write_tx(conn, |conn| {
            let n = diesel::update(
                bk::table
                    .find(&r.id)
                    .filter(bk::reminder_queued_at.is_null())
                    .filter(bk::status.eq("confirmed")),
            )
            .set(bk::reminder_queued_at.eq(now))
            .execute(conn)?;
            if n == 1 {
                if let Some(mail) = booking_mail(
                    &ctx,
                    &r,
                    site,
                    now,
                    format!("booking:{}:reminder:{}", r.id, r.sequence),
                    format!(
                        "Promemoria appuntamento – {} – {}",
                        ctx.svc.title,
                        when(r.starts_at)
                    ),
                    format!("le ricordiamo il suo appuntamento per «{}».", ctx.svc.title),
                ) {
                    enqueue_emails(conn, r.ente_id, &[mail])?;
                }
            }
            Ok::<_, BookingError>(n)
        })?;
        reminded += sent;
    }
    let expired: Vec<Row> = bk::table
        .filter(bk::status.eq("pending_payment"))
        .filter(bk::hold_until.le(now))
        .select(row_columns!())
        .load(conn)?;
    let mut ended = 0;
    for r in expired {
        let ctx = context_of(conn, &r)?;
        let done = write_tx(conn, |conn| {
            match end(
                conn,
                &ctx,
                &r,
                BookingStatus::Expired,
                "system",
                None,
                site,
                now,
            ) {
                Ok(_) => {
                    crate::payments::expire_for_booking(conn, &r.id, now)?;
                    Ok(1)
                }
                Err(BookingError::Conflict(_)) => Ok(0),
                Err(e) => Err(e),
            }
        })?;
        ended += done;
    }
    if reminded + ended > 0 {
        tracing::info!(reminded, expired = ended, "booking jobs");
    }
    Ok((reminded, ended))
}

/// A service's booking entry point, for its public card (`catalog`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct BookingEntry {
    pub bookable: bool,
    /// Where to read free places.
    pub availability_url: String,
    /// Where to book (`POST`).
    pub booking_url: String,
    pub calendars: Vec<CalendarInfo>,
}

/// The booking entries of an ente's services with calendars, by slug (one query).
pub fn entries(conn: &mut DbConn, ente_id: i64) -> QueryResult<HashMap<String, BookingEntry>> {
    type EntryRow = (String, String, String, String, Option<String>, i32, i32);
    let rows: Vec<EntryRow> = cal::table
        .inner_join(offices::table)
        .inner_join(services::table)
        .filter(cal::ente_id.eq(ente_id))
        .filter(cal::active.eq(true))
        .order(cal::id)
        .select((
            services::slug,
            cal::code,
            cal::name,
            offices::name,
            cal::location,
            cal::slot_minutes,
            cal::capacity,
        ))
        .load(conn)?;
    let mut out: HashMap<String, BookingEntry> = HashMap::new();
    for (slug, code, name, office, location, slot_minutes, capacity) in rows {
        out.entry(slug.clone())
            .or_insert_with(|| BookingEntry {
                bookable: true,
                availability_url: format!("/api/v1/services/{slug}/availability"),
                booking_url: "/api/v1/bookings".to_owned(),
                calendars: Vec::new(),
            })
            .calendars
            .push(CalendarInfo {
                code,
                name,
                office,
                location,
                slot_minutes,
                capacity,
            });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{rome_rfc3339, HourMinute, RomeInstant};
    use chrono::NaiveDate;

    #[test]
    fn instants_are_written_in_italian_time_with_their_offset() {
        let at = |y, m, d, h, min| {
            NaiveDate::from_ymd_opt(y, m, d)
                .unwrap()
                .and_hms_opt(h, min, 0)
                .unwrap()
        };
        // Winter, summer, then each side of the spring change (29 March 2026, 01:00 UTC) and
        // of the autumn one (25 October).
        for (utc, written) in [
            (at(2026, 12, 9, 7, 30), "2026-12-09T08:30:00+01:00"),
            (at(2026, 7, 1, 23, 5), "2026-07-02T01:05:00+02:00"),
            (at(2026, 3, 29, 0, 59), "2026-03-29T01:59:00+01:00"),
            (at(2026, 3, 29, 1, 0), "2026-03-29T03:00:00+02:00"),
            (at(2026, 10, 25, 0, 59), "2026-10-25T02:59:00+02:00"),
            (at(2026, 10, 25, 1, 0), "2026-10-25T02:00:00+01:00"),
        ] {
            assert_eq!(rome_rfc3339(utc), written, "{utc}");
            let json = serde_json::to_string(&RomeInstant(utc)).unwrap();
            assert_eq!(json, format!("\"{written}\""), "{utc}");
        }
    }

    #[test]
    fn times_of_day_are_written_with_two_digits_each() {
        for (t, written) in [
            (HourMinute(8, 5), "\"08:05\""),
            (HourMinute(23, 59), "\"23:59\""),
            (HourMinute(0, 0), "\"00:00\""),
        ] {
            assert_eq!(serde_json::to_string(&t).unwrap(), written);
        }
    }
}
