//! Slow request bodies. actix closes connections whose request *head* is slow
//! (`client_request_timeout`), but a body sent at one byte a second would hold a connection,
//! a worker's buffers and (for uploads) a database-backed draft open indefinitely. This
//! middleware bounds both:
//!
//! - **a minimum rate**: a body must arrive within `body_timeout_secs` plus one second for
//!   every `body_min_bytes_per_sec` bytes received so far. A client sending at least that rate
//!   never times out, however large its upload; one that stalls or trickles is answered
//!   `408` and its connection closed.
//! - **a cap per client address**: at most `max_slow_bodies_per_client` request bodies of one
//!   address may be in flight at once; the next is answered `429` at once, without reading
//!   it, and its connection closed. Fast bodies finish in milliseconds, so only a client that
//!   keeps many bodies open at the same time meets the cap.
//!
//! Behind a reverse proxy the client address is the proxy's; nginx buffers request bodies
//! before passing them on (`proxy_request_buffering on`, its default) and applies its own
//! `client_body_timeout`, so bodies reach Sportello at full speed (see docs/operations.md).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse};
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::http::problem::Problem;

/// The limits, and the bodies in flight per client address.
#[derive(Debug)]
pub struct SlowBodyGuard {
    grace: Duration,
    min_bytes_per_sec: u64,
    per_client: usize,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl SlowBodyGuard {
    pub fn new(grace: Duration, min_bytes_per_sec: u64, per_client: usize) -> Self {
        Self {
            grace,
            min_bytes_per_sec: min_bytes_per_sec.max(1),
            per_client,
            in_flight: Arc::default(),
        }
    }

    /// A slot for one more body from `ip`, or None when the address has its fill.
    fn acquire(&self, ip: IpAddr) -> Option<Slot> {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if self.per_client > 0 && *n >= self.per_client {
            return None;
        }
        *n += 1;
        Some(Slot {
            ip,
            in_flight: self.in_flight.clone(),
        })
    }

    /// Bodies in flight from `ip` (for tests and metrics).
    pub fn in_flight(&self, ip: IpAddr) -> usize {
        let map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip).copied().unwrap_or(0)
    }
}

/// One body in flight; released when the body has been read or dropped.
#[derive(Debug)]
struct Slot {
    ip: IpAddr,
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// True when the request announces a body.
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    chunked || length > 0
}

/// The request body, read against the minimum rate.
struct TimedBody {
    inner: Payload,
    started: Instant,
    received: u64,
    grace: Duration,
    min_bytes_per_sec: u64,
    deadline: Pin<Box<Sleep>>,
    timed_out: Arc<AtomicBool>,
    slot: Option<Slot>,
}

impl TimedBody {
    fn deadline(&self) -> Instant {
        self.started + self.grace + Duration::from_secs(self.received / self.min_bytes_per_sec)
    }
}

impl Stream for TimedBody {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.timed_out.load(Ordering::Relaxed) {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.received += chunk.len() as u64;
                let deadline = this.deadline();
                this.deadline.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(other) => {
                // The end of the body, or the connection's own error: the slot is free.
                this.slot = None;
                Poll::Ready(other)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.timed_out.store(true, Ordering::Relaxed);
                    this.slot = None;
                    Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "request body too slow",
                    )))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

/// An answer that also closes the connection (its body may still be arriving).
fn refuse(status: StatusCode, detail: &str) -> HttpResponse {
    let mut problem = Problem::for_status(status);
    problem.detail = Some(detail.to_owned());
    let mut res = HttpResponse::build(status).force_close().finish();
    res.extensions_mut().insert(problem);
    res
}

pub async fn slow_body(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let guard = req.app_data::<web::Data<SlowBodyGuard>>().cloned();
    let (Some(guard), true) = (guard, has_body(&req)) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let slot = match req.peer_addr().map(|a| a.ip()) {
        Some(ip) => match guard.acquire(ip) {
            Some(slot) => Some(slot),
            None => {
                tracing::warn!(
                    client = %ip,
                    limit = guard.per_client,
                    "too many request bodies in flight from one address; refused"
                );
                let res = refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Troppi invii contemporanei dallo stesso indirizzo. Attendere che i \
                     precedenti siano completati e riprovare.",
                );
                return Ok(req.into_response(res));
            }
        },
        None => None,
    };
    let timed_out = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let body = TimedBody {
        inner: req.take_payload(),
        started,
        received: 0,
        grace: guard.grace,
        min_bytes_per_sec: guard.min_bytes_per_sec,
        // Nothing received yet: the grace alone (see `TimedBody::deadline`).
        deadline: Box::pin(tokio::time::sleep_until(started + guard.grace)),
        timed_out: timed_out.clone(),
        slot,
    };
    let stream: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(body);
    req.set_payload(Payload::from(stream));

    let res = next.call(req).await?.map_into_boxed_body();
    if timed_out.load(Ordering::Relaxed) {
        tracing::warn!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request body arrived too slowly; answered 408 and closed"
        );
        let (req, _) = res.into_parts();
        let res = refuse(
            StatusCode::REQUEST_TIMEOUT,
            "I dati della richiesta arrivano troppo lentamente. Controllare la connessione e \
             riprovare.",
        );
        return Ok(ServiceResponse::new(req, res));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_address_and_released() {
        let g = SlowBodyGuard::new(Duration::from_secs(1), 1024, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let s1 = g.acquire(a).unwrap();
        let _s2 = g.acquire(a).unwrap();
        assert!(g.acquire(a).is_none());
        let _t = g.acquire(b).unwrap();
        assert_eq!(g.in_flight(a), 2);
        drop(s1);
        assert_eq!(g.in_flight(a), 1);
        assert!(g.acquire(a).is_some());
        // 0 means no cap.
        let open = SlowBodyGuard::new(Duration::from_secs(1), 1024, 0);
        let _many: Vec<_> = (0..50).map(|_| open.acquire(a).unwrap()).collect();
    }
}
