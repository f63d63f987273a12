//! The iCalendar (RFC 5545) file of a booking, attached to its e-mails (`icalendar` crate): a
//! `REQUEST` for a confirmed or moved booking, a `CANCEL` for a cancelled one, with the same
//! `UID` and a growing `SEQUENCE` so that a calendar application updates its entry.

use chrono::{NaiveDateTime, TimeZone, Utc};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus};

/// What the file says of a booking.
#[derive(Debug, Clone)]
pub struct IcsBooking<'a> {
    pub id: &'a str,
    /// The host of the ente's Sportello, for a globally unique `UID`.
    pub host: &'a str,
    pub code: &'a str,
    pub service_title: &'a str,
    pub calendar_name: &'a str,
    pub location: Option<&'a str>,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub sequence: i32,
    pub cancelled: bool,
    pub stamp: NaiveDateTime,
}

/// The `text/calendar` body (CRLF lines, folded as RFC 5545 asks).
pub fn ics(b: &IcsBooking<'_>) -> String {
    let utc = |t: NaiveDateTime| Utc.from_utc_datetime(&t);
    let mut event = Event::new();
    event
        .uid(&format!("{}@{}", b.id, b.host))
        .sequence(u32::try_from(b.sequence).unwrap_or(0))
        .timestamp(utc(b.stamp))
        .starts(utc(b.starts_at))
        .ends(utc(b.ends_at))
        .summary(&format!("{} – {}", b.service_title, b.calendar_name))
        .description(&format!(
            "Appuntamento prenotato con Sportello. Codice di prenotazione: {}",
            b.code
        ))
        .status(if b.cancelled {
            EventStatus::Cancelled
        } else {
            EventStatus::Confirmed
        });
    if let Some(l) = b.location {
        event.location(l);
    }
    let mut cal = Calendar::new();
    cal.append_property(("METHOD", if b.cancelled { "CANCEL" } else { "REQUEST" }));
    cal.push(event.done());
    cal.done().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_booking_as_icalendar() {
        let at = |h| {
            chrono::NaiveDate::from_ymd_opt(2026, 12, 9)
                .unwrap()
                .and_hms_opt(h, 30, 0)
                .unwrap()
        };
        let b = IcsBooking {
            id: "b1",
            host: "sportello.comune.example.it",
            code: "K7QX2M9P",
            service_title: "Carta d'identità elettronica",
            calendar_name: "Sportello CIE",
            location: Some("Piazza del Comune 1"),
            starts_at: at(8),
            ends_at: at(9),
            sequence: 1,
            cancelled: false,
            stamp: at(7),
        };
        let text = ics(&b);
        assert!(text.starts_with("BEGIN:VCALENDAR\r\n"), "{text}");
        for line in [
            "METHOD:REQUEST",
            "UID:b1@sportello.comune.example.it",
            "SEQUENCE:1",
            "DTSTART:20261209T083000Z",
            "DTEND:20261209T093000Z",
            "STATUS:CONFIRMED",
            "LOCATION:Piazza del Comune 1",
        ] {
            assert!(text.contains(&format!("{line}\r\n")), "{line} in {text}");
        }
        assert!(text.contains("K7QX2M9P"));
        let cancelled = ics(&IcsBooking {
            cancelled: true,
            sequence: 2,
            ..b
        });
        assert!(cancelled.contains("METHOD:CANCEL\r\n"));
        assert!(cancelled.contains("STATUS:CANCELLED\r\n"));
    }
}
