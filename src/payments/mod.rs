//! pagoPA payments (issue #18 §1; docs/payments.md): a service's fee becomes a **debt
//! position** in the platform's Gestione Posizioni Debitorie (GPD), created through the
//! outbox so that nothing is lost on a crash and a retry never creates a second one: the
//! position's `iupd` is the payment's, and a repeated creation that the GPD refuses as a
//! duplicate (409) is checked against what it holds.
//!
//! The IUV and the notice number are computed as pagoPA specifies for aux digit 3
//! ([`iuv`]): the ente's segregation code, a 13-digit base from the ente's counter (never
//! reused), two check digits.

pub mod iuv;

use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::config::PagopaSettings;
use crate::db::schema::{citizens, enti, payments as pay, services};
use crate::db::DbConn;
use crate::notify::{enqueue_job, SendError};

/// The outbox job that creates a payment's debt position.
pub const KIND_CREATE_POSITION: &str = "pagopa-position";

/// One item of a service's fee (`[[fee]]` in its bundle file): a transfer of the debt
/// position to the ente's account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeItem {
    /// Euro cents.
    pub amount_cents: i64,
    /// The pagoPA taxonomy code of the income (e.g. `9/0101108TS/` for the CIE's fee).
    pub category: String,
    /// The remittance text (causale), at most 140 characters.
    pub remittance: String,
    /// The IBAN it is credited to.
    pub iban: String,
    /// Another ente that receives this item (its fiscal code); default: the ente itself.
    #[serde(default)]
    pub organization_fiscal_code: Option<String>,
}

/// Refuses a fee pagoPA would refuse: 1 to 5 items, amounts of at least one cent, causale
/// within 140 characters, an IBAN of letters and digits, a taxonomy code.
pub fn check_fee(items: &[FeeItem]) -> anyhow::Result<()> {
    if items.is_empty() || items.len() > 5 {
        anyhow::bail!("a fee has 1 to 5 items ([[fee]]), each a transfer of the position");
    }
    for (i, f) in items.iter().enumerate() {
        let n = i + 1;
        if f.amount_cents < 1 {
            anyhow::bail!("fee item {n}: amount_cents must be at least 1");
        }
        if f.remittance.trim().is_empty() || f.remittance.chars().count() > 140 {
            anyhow::bail!("fee item {n}: remittance must be 1 to 140 characters");
        }
        if f.iban.is_empty()
            || f.iban.len() > 35
            || !f.iban.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            anyhow::bail!("fee item {n}: iban must be 1 to 35 letters and digits");
        }
        if f.category.trim().is_empty() {
            anyhow::bail!("fee item {n}: category (the pagoPA taxonomy code) is required");
        }
        if let Some(cf) = &f.organization_fiscal_code {
            if cf.len() != 11 || !cf.bytes().all(|b| b.is_ascii_digit()) {
                anyhow::bail!("fee item {n}: organization_fiscal_code must be 11 digits");
            }
        }
    }
    Ok(())
}

/// A payment's state, as the platform's life cycle goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// The debt position is being created (the outbox job).
    CreationPending,
    /// The GPD refused it: an administrator must look (the outbox's dead letter).
    CreationFailed,
    /// Published: payable with the notice number.
    PaymentPending,
    /// The citizen started paying through Checkout.
    PaymentStarted,
    Paid,
    Cancelled,
    Expired,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreationPending => "creation_pending",
            Self::CreationFailed => "creation_failed",
            Self::PaymentPending => "payment_pending",
            Self::PaymentStarted => "payment_started",
            Self::Paid => "paid",
            Self::Cancelled => "cancelled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::CreationPending,
            Self::CreationFailed,
            Self::PaymentPending,
            Self::PaymentStarted,
            Self::Paid,
            Self::Cancelled,
            Self::Expired,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// A payment as the citizen sees it (with their booking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PaymentView {
    pub status: PaymentStatus,
    /// Euro cents.
    pub amount_cents: i64,
    pub description: String,
    /// The 18-digit notice number (codice avviso) to pay with at any pagoPA channel.
    #[schema(example = "301000000000000144")]
    pub notice_number: String,
    pub iuv: String,
    /// The payee: the ente's fiscal code.
    pub payee_fiscal_code: String,
    /// Payable until then (the booking's hold).
    #[schema(format = DateTime)]
    pub due_at: String,
}

/// The payment of a booking, if its service has a fee.
pub fn of_booking(conn: &mut DbConn, booking_id: &str) -> QueryResult<Option<PaymentView>> {
    type Row = (String, i64, String, String, String, NaiveDateTime, String);
    let row: Option<Row> = pay::table
        .inner_join(enti::table)
        .filter(pay::booking_id.eq(booking_id))
        .select((
            pay::status,
            pay::amount_cents,
            pay::description,
            pay::notice_number,
            pay::iuv,
            pay::due_at,
            enti::fiscal_code.assume_not_null(),
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(
        |(status, amount_cents, description, notice_number, iuv, due_at, cf)| PaymentView {
            status: PaymentStatus::parse(&status).unwrap_or(PaymentStatus::CreationPending),
            amount_cents,
            description,
            notice_number,
            iuv,
            payee_fiscal_code: cf,
            due_at: crate::booking::rome_rfc3339(due_at),
        },
    ))
}

/// The content of a pagoPA notice's QR code (the notice specification, version 002):
/// `PAGOPA|002|<notice number>|<payee fiscal code>|<amount in cents>`.
pub fn qr_content(notice_number: &str, payee_fiscal_code: &str, amount_cents: i64) -> String {
    format!("PAGOPA|002|{notice_number}|{payee_fiscal_code}|{amount_cents}")
}

/// Euro cents as an Italian amount: `22,21`.
pub fn euro(cents: i64) -> String {
    format!("{},{:02}", cents / 100, cents % 100)
}

/// The notice number in groups of four, as printed on the notice (`3010 0000 0000 0001 44`).
pub fn grouped(notice_number: &str) -> String {
    notice_number
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The printable notice of a booking's payment (Italian HTML): payee, subject, amount, due
/// date, notice number and its QR code (SVG, with its content also as text), and how to pay.
/// None when the booking has no payment or it cannot be paid with the notice.
pub fn notice_html(conn: &mut DbConn, booking_id: &str) -> anyhow::Result<Option<String>> {
    let Some(p) = of_booking(conn, booking_id)? else {
        return Ok(None);
    };
    if !matches!(
        p.status,
        PaymentStatus::PaymentPending | PaymentStatus::PaymentStarted
    ) {
        return Ok(None);
    }
    let ente: String = pay::table
        .inner_join(enti::table)
        .filter(pay::booking_id.eq(booking_id))
        .select(enti::name)
        .first(conn)?;
    let qr = qr_content(&p.notice_number, &p.payee_fiscal_code, p.amount_cents);
    let svg = qrcode::QrCode::with_error_correction_level(qr.as_bytes(), qrcode::EcLevel::M)?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    // The SVG's XML declaration is not wanted inside HTML.
    let svg = svg
        .split_once("?>")
        .map_or(svg.as_str(), |(_, rest)| rest)
        .replacen("<svg ", "<svg role=\"img\" aria-labelledby=\"qr-text\" ", 1);
    let due = p
        .due_at
        .get(..16)
        .unwrap_or(&p.due_at)
        .replace('T', " alle ");
    let e = crate::text::escape_html;
    Ok(Some(format!(
        "<!DOCTYPE html>\n<html lang=\"it\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Avviso di pagamento pagoPA – {ente}</title>\n</head>\n<body>\n<main>\n\
         <h1>Avviso di pagamento pagoPA</h1>\n\
         <dl>\n<dt>Ente creditore</dt><dd>{ente} (codice fiscale {cf})</dd>\n\
         <dt>Oggetto del pagamento</dt><dd>{what}</dd>\n\
         <dt>Importo</dt><dd>{amount} euro</dd>\n\
         <dt>Da pagare entro</dt><dd>{due} (ora italiana)</dd>\n\
         <dt>Codice avviso</dt><dd>{notice}</dd>\n\
         <dt>Codice IUV</dt><dd>{iuv}</dd>\n</dl>\n\
         <h2>Come pagare</h2>\n\
         <p>Può pagare sul sito o nell'app della sua banca o di un altro prestatore di servizi di \
         pagamento aderente a pagoPA, nell'app IO, presso gli sportelli bancari, gli uffici \
         postali, i punti vendita e gli sportelli automatici abilitati: serve il codice avviso e \
         il codice fiscale dell'ente creditore, oppure il codice QR.</p>\n\
         <figure>\n{svg}\n<figcaption id=\"qr-text\">Codice QR pagoPA: {qr}</figcaption>\n\
         </figure>\n</main>\n</body>\n</html>\n",
        ente = e(&ente),
        cf = e(&p.payee_fiscal_code),
        what = e(&p.description),
        amount = euro(p.amount_cents),
        due = e(&due),
        notice = grouped(&p.notice_number),
        iuv = e(&p.iuv),
        qr = e(&qr),
    )))
}

/// The outbox job's payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobPayload {
    payment_id: String,
}

/// Makes the payment of a booking of a service with a fee (inside the booking's
/// transaction): the next IUV of the ente, the row, the outbox job that creates the debt
/// position. None when the service has no fee. Payable until `due_at`.
pub fn create_for_booking(
    conn: &mut DbConn,
    booking_id: &str,
    service_id: i64,
    citizen_id: i64,
    due_at: NaiveDateTime,
    now: NaiveDateTime,
) -> anyhow::Result<Option<String>> {
    let (ente_id, title, fee): (i64, String, Option<String>) = services::table
        .find(service_id)
        .select((services::ente_id, services::title, services::fee))
        .first(conn)?;
    let Some(fee) = fee else {
        return Ok(None);
    };
    let items: Vec<FeeItem> = serde_json::from_str(&fee).context("services.fee")?;
    let segregation: Option<String> = enti::table
        .find(ente_id)
        .select(enti::pagopa_segregation_code)
        .first(conn)?;
    let segregation = segregation.context("the ente has no pagopa_segregation_code")?;
    let (cf, given, family): (String, Option<String>, Option<String>) = citizens::table
        .find(citizen_id)
        .select((
            citizens::codice_fiscale,
            citizens::given_name,
            citizens::family_name,
        ))
        .first(conn)?;
    #[derive(QueryableByName)]
    struct Next {
        #[diesel(sql_type = BigInt)]
        next_base: i64,
    }
    let next: Next = diesel::sql_query(
        "INSERT INTO payment_counters (ente_id, next_base) VALUES ($1, 2) \
         ON CONFLICT (ente_id) DO UPDATE SET next_base = payment_counters.next_base + 1 \
         RETURNING next_base",
    )
    .bind::<BigInt, _>(ente_id)
    .get_result(conn)?;
    let base = u64::try_from(next.next_base - 1).context("payment counter")?;
    let iuv = iuv::iuv(&segregation, base)?;
    let id = uuid::Uuid::new_v4().to_string();
    let name = format!(
        "{} {}",
        given.unwrap_or_default(),
        family.unwrap_or_default()
    );
    let name = if name.trim().is_empty() {
        cf.clone()
    } else {
        name.trim().to_owned()
    };
    let amount: i64 = items.iter().map(|i| i.amount_cents).sum();
    diesel::insert_into(pay::table)
        .values((
            pay::id.eq(&id),
            pay::ente_id.eq(ente_id),
            pay::booking_id.eq(booking_id),
            pay::iupd.eq(format!(
                "sportello-{}",
                uuid::Uuid::parse_str(&id)?.simple()
            )),
            pay::iuv.eq(&iuv),
            pay::notice_number.eq(iuv::notice_number(&iuv)),
            pay::amount_cents.eq(amount),
            pay::description.eq(title.chars().take(140).collect::<String>()),
            pay::items.eq(&fee),
            pay::payer_fiscal_code.eq(&cf),
            pay::payer_name.eq(&name),
            pay::due_at.eq(due_at),
            pay::status.eq(PaymentStatus::CreationPending.as_str()),
            pay::created_at.eq(now),
            pay::updated_at.eq(now),
        ))
        .execute(conn)?;
    enqueue_job(
        conn,
        ente_id,
        KIND_CREATE_POSITION,
        &format!("{KIND_CREATE_POSITION}:{id}"),
        &serde_json::to_string(&JobPayload {
            payment_id: id.clone(),
        })?,
    )?;
    tracing::info!(payment = %id, booking = %booking_id, iuv = %iuv, amount_cents = amount, "payment created, debt position queued");
    Ok(Some(id))
}

/// The payment of a booking that expired unpaid expires with it (its debt position, created
/// with `switchToExpired`, expires at the same due date on the platform); a creation still
/// queued is then skipped. Inside the expiry's transaction.
pub fn expire_for_booking(
    conn: &mut DbConn,
    booking_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        pay::table
            .filter(pay::booking_id.eq(booking_id))
            .filter(pay::status.eq_any([
                PaymentStatus::CreationPending.as_str(),
                PaymentStatus::PaymentPending.as_str(),
                PaymentStatus::PaymentStarted.as_str(),
            ])),
    )
    .set((
        pay::status.eq(PaymentStatus::Expired.as_str()),
        pay::updated_at.eq(now),
    ))
    .execute(conn)
}

/// The GPD's `PaymentPositionModel` as Sportello sends it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Position<'a> {
    iupd: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    fiscal_code: &'a str,
    full_name: &'a str,
    company_name: String,
    switch_to_expired: bool,
    payment_option: Vec<PaymentOption<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentOption<'a> {
    iuv: &'a str,
    amount: i64,
    description: &'a str,
    due_date: String,
    is_partial_payment: bool,
    transfer: Vec<Transfer>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Transfer {
    id_transfer: String,
    amount: i64,
    organization_fiscal_code: String,
    remittance_information: String,
    category: String,
    iban: String,
}

/// What the GPD answers about a position (the parts Sportello checks).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionRead {
    iupd: String,
    #[serde(default)]
    payment_option: Vec<OptionRead>,
}

#[derive(Debug, Deserialize)]
struct OptionRead {
    iuv: String,
}

/// Creates a payment's debt position (the outbox job; blocking). A duplicate `iupd` (a
/// retry after the GPD created it and Sportello did not record it) is read back and, when it
/// is this payment's, taken as created: never two positions.
pub fn deliver(
    conn: &mut DbConn,
    settings: Option<&PagopaSettings>,
    payload: &str,
) -> Result<(), SendError> {
    let job: JobPayload = serde_json::from_str(payload)
        .map_err(|e| SendError::Permanent(format!("unreadable payload: {e}")))?;
    let temporary = |e: anyhow::Error| SendError::Temporary(format!("{e:#}"));
    type Row = (
        String,
        String,
        i64,
        String,
        String,
        String,
        String,
        NaiveDateTime,
        String,
        String,
        Option<String>,
    );
    let (iupd, iuv, amount, description, items, cf, name, due_at, status, ente_name, ente_cf): Row =
        pay::table
            .inner_join(enti::table)
            .filter(pay::id.eq(&job.payment_id))
            .select((
                pay::iupd,
                pay::iuv,
                pay::amount_cents,
                pay::description,
                pay::items,
                pay::payer_fiscal_code,
                pay::payer_name,
                pay::due_at,
                pay::status,
                enti::name,
                enti::fiscal_code,
            ))
            .first(conn)
            .map_err(|e| temporary(e.into()))?;
    if status != PaymentStatus::CreationPending.as_str() {
        return Ok(());
    }
    let settings = settings.filter(|s| s.enabled).ok_or_else(|| {
        SendError::Permanent("pagoPA is not enabled in this installation ([pagopa])".to_owned())
    })?;
    let ente_cf =
        ente_cf.ok_or_else(|| SendError::Permanent("the ente has no fiscal code".to_owned()))?;
    let items: Vec<FeeItem> = serde_json::from_str(&items)
        .map_err(|e| SendError::Permanent(format!("payments.items: {e}")))?;
    let body = Position {
        iupd: &iupd,
        kind: "F",
        fiscal_code: &cf,
        full_name: &name,
        company_name: ente_name.chars().take(140).collect(),
        switch_to_expired: true,
        payment_option: vec![PaymentOption {
            iuv: &iuv,
            amount,
            description: &description,
            due_date: format!("{}Z", due_at.format("%Y-%m-%dT%H:%M:%S")),
            is_partial_payment: false,
            transfer: items
                .iter()
                .enumerate()
                .map(|(i, f)| Transfer {
                    id_transfer: (i + 1).to_string(),
                    amount: f.amount_cents,
                    organization_fiscal_code: f
                        .organization_fiscal_code
                        .clone()
                        .unwrap_or_else(|| ente_cf.clone()),
                    remittance_information: f.remittance.clone(),
                    category: f.category.clone(),
                    iban: f.iban.clone(),
                })
                .collect(),
        }],
    };
    let gpd = Gpd::new(settings).map_err(|e| SendError::Permanent(format!("{e:#}")))?;
    let outcome = gpd.create(&ente_cf, &body, &iuv);
    let ts = crate::db::now();
    let set = |conn: &mut DbConn, status: PaymentStatus, error: Option<String>| {
        diesel::update(
            pay::table
                .find(&job.payment_id)
                .filter(pay::status.eq(PaymentStatus::CreationPending.as_str())),
        )
        .set((
            pay::status.eq(status.as_str()),
            pay::last_error.eq(error),
            pay::updated_at.eq(ts),
        ))
        .execute(conn)
        .map_err(|e| SendError::Temporary(e.to_string()))
    };
    match outcome {
        Ok(()) => {
            set(conn, PaymentStatus::PaymentPending, None)?;
            tracing::info!(payment = %job.payment_id, iupd = %iupd, "debt position created");
            Ok(())
        }
        Err(SendError::Permanent(t)) => {
            set(conn, PaymentStatus::CreationFailed, Some(t.clone()))?;
            Err(SendError::Permanent(t))
        }
        Err(SendError::Temporary(t)) => {
            diesel::update(pay::table.find(&job.payment_id))
                .set((pay::last_error.eq(Some(&t)), pay::updated_at.eq(ts)))
                .execute(conn)
                .map_err(|e| SendError::Temporary(e.to_string()))?;
            Err(SendError::Temporary(t))
        }
    }
}

/// Marks the payment of a dead creation job failed (its attempts ran out on temporary
/// errors): what the citizen and the administrator see matches the dead letter.
pub fn gave_up(conn: &mut DbConn, job_payload: &str) -> anyhow::Result<()> {
    let Ok(job) = serde_json::from_str::<JobPayload>(job_payload) else {
        return Ok(());
    };
    diesel::update(
        pay::table
            .find(&job.payment_id)
            .filter(pay::status.eq(PaymentStatus::CreationPending.as_str())),
    )
    .set((
        pay::status.eq(PaymentStatus::CreationFailed.as_str()),
        pay::updated_at.eq(crate::db::now()),
    ))
    .execute(conn)?;
    Ok(())
}

/// Why a payment cannot be started now.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Not payable in this state (Italian text for the citizen).
    #[error("{0}")]
    Conflict(String),
    /// pagoPA cannot be reached (Italian text for the citizen; the cause is logged).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<diesel::result::Error> for CheckoutError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Other(e.into())
    }
}

/// A cart for pagoPA Checkout (`CartRequest` of the Checkout EC v1 document).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Cart<'a> {
    payment_notices: Vec<Notice<'a>>,
    return_urls: ReturnUrls,
    id_cart: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email_notice: Option<&'a str>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Notice<'a> {
    notice_number: &'a str,
    fiscal_code: &'a str,
    amount: i64,
    company_name: String,
    description: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ReturnUrls {
    return_ok_url: String,
    return_cancel_url: String,
    return_error_url: String,
}

/// Starts paying a booking's fee now through pagoPA Checkout: a cart with its notice, the
/// page the platform redirects to (`302 Location`) returned; the payment is then
/// `payment_started`. `return_url` is where Checkout sends the citizen back (ok, cancel or
/// error alike: the receipt decides).
pub fn checkout(
    conn: &mut DbConn,
    settings: &PagopaSettings,
    booking_id: &str,
    email: Option<&str>,
    return_url: &str,
    now: NaiveDateTime,
) -> Result<String, CheckoutError> {
    type Row = (String, String, String, i64, String, String, Option<String>);
    let row: Option<Row> = pay::table
        .inner_join(enti::table)
        .filter(pay::booking_id.eq(booking_id))
        .select((
            pay::id,
            pay::status,
            pay::notice_number,
            pay::amount_cents,
            pay::description,
            enti::name,
            enti::fiscal_code,
        ))
        .first(conn)
        .optional()?;
    let Some((id, status, notice, amount, description, ente_name, ente_cf)) = row else {
        return Err(CheckoutError::Conflict(
            "Questa prenotazione non prevede pagamenti.".into(),
        ));
    };
    match PaymentStatus::parse(&status) {
        Some(PaymentStatus::PaymentPending | PaymentStatus::PaymentStarted) => {}
        Some(PaymentStatus::CreationPending) => {
            return Err(CheckoutError::Conflict(
                "Il pagamento è in preparazione presso pagoPA: riprovi tra qualche istante.".into(),
            ))
        }
        Some(PaymentStatus::Paid) => {
            return Err(CheckoutError::Conflict(
                "Il pagamento risulta già eseguito.".into(),
            ))
        }
        _ => {
            return Err(CheckoutError::Conflict(
                "Questo pagamento non si può più eseguire.".into(),
            ))
        }
    }
    if !settings.enabled {
        return Err(CheckoutError::Unavailable(
            "I pagamenti con pagoPA non sono attivi.".into(),
        ));
    }
    let ente_cf = ente_cf.context("the ente has no fiscal code")?;
    let base = settings
        .checkout_base_url
        .as_deref()
        .context("pagopa.checkout_base_url")?
        .trim_end_matches('/');
    let key = settings
        .subscription_key
        .as_ref()
        .context("pagopa.subscription_key")?
        .expose();
    let cart = Cart {
        payment_notices: vec![Notice {
            notice_number: &notice,
            fiscal_code: &ente_cf,
            amount,
            company_name: ente_name.chars().take(140).collect(),
            description: &description,
        }],
        return_urls: ReturnUrls {
            return_ok_url: return_url.to_owned(),
            return_cancel_url: return_url.to_owned(),
            return_error_url: return_url.to_owned(),
        },
        id_cart: &id,
        email_notice: email,
    };
    let unavailable = |what: String| {
        tracing::warn!(payment = %id, error = %what, "pagoPA Checkout failed");
        CheckoutError::Unavailable(
            "Il servizio di pagamento pagoPA non risponde: riprovi tra qualche minuto, oppure \
             paghi più tardi con il codice avviso."
                .into(),
        )
    };
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(settings.timeout_secs))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(anyhow::Error::from)?;
    let res = client
        .post(format!("{base}/carts"))
        .header("Ocp-Apim-Subscription-Key", key)
        .header("Content-Type", "application/json")
        .body(serde_json::to_vec(&cart).map_err(anyhow::Error::from)?)
        .send()
        .map_err(|e| unavailable(e.to_string()))?;
    if res.status().as_u16() != 302 {
        let status = res.status();
        return Err(unavailable(format!(
            "Checkout answered {status}: {}",
            res.text()
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect::<String>()
        )));
    }
    let location = res
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
        .map(str::to_owned)
        .ok_or_else(|| unavailable("Checkout answered 302 without a Location".into()))?;
    diesel::update(
        pay::table
            .find(&id)
            .filter(pay::status.eq(PaymentStatus::PaymentPending.as_str())),
    )
    .set((
        pay::status.eq(PaymentStatus::PaymentStarted.as_str()),
        pay::updated_at.eq(now),
    ))
    .execute(conn)?;
    tracing::info!(payment = %id, "pagoPA Checkout started");
    Ok(location)
}

/// A receipt read from the GPD payments API for a payable payment.
pub struct Receipt {
    pub payment_id: String,
    pub booking_id: Option<String>,
    /// The receipt as the platform gives it (XML).
    pub document: String,
}

/// Asks the GPD payments API for the receipt of each payment waiting for one (at most
/// `limit`): `GET {receipts_base_url}/payments/{ente cf}/receipts/{iuv}`, 200 with the
/// receipt, 404 while unpaid. Blocking; the caller records what it gets.
pub fn fetch_receipts(
    conn: &mut DbConn,
    settings: &PagopaSettings,
    limit: i64,
) -> anyhow::Result<Vec<Receipt>> {
    if !settings.enabled {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, Option<String>, String, Option<String>)> = pay::table
        .inner_join(enti::table)
        .filter(pay::status.eq_any([
            PaymentStatus::PaymentPending.as_str(),
            PaymentStatus::PaymentStarted.as_str(),
        ]))
        .order(pay::updated_at)
        .limit(limit)
        .select((pay::id, pay::booking_id, pay::iuv, enti::fiscal_code))
        .load(conn)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let base = settings
        .receipts_base_url
        .as_deref()
        .context("pagopa.receipts_base_url")?
        .trim_end_matches('/')
        .to_owned();
    let key = settings
        .subscription_key
        .as_ref()
        .context("pagopa.subscription_key")?
        .expose()
        .to_owned();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(settings.timeout_secs))
        .build()?;
    let mut out = Vec::new();
    for (id, booking_id, iuv, cf) in rows {
        let Some(cf) = cf else { continue };
        let res = client
            .get(format!("{base}/payments/{cf}/receipts/{iuv}"))
            .header("Ocp-Apim-Subscription-Key", &key)
            .send();
        match res {
            Ok(r) if r.status().as_u16() == 200 => out.push(Receipt {
                payment_id: id,
                booking_id,
                document: r.text()?,
            }),
            Ok(r) if r.status().as_u16() == 404 => {}
            Ok(r) => {
                tracing::warn!(payment = %id, status = %r.status(), "receipt not read, tried again later")
            }
            Err(e) => {
                tracing::warn!(payment = %id, error = %e, "receipt not read, tried again later")
            }
        }
    }
    Ok(out)
}

/// Records a receipt: the payment `paid` with it (once; false when it was already).
pub fn record_receipt(conn: &mut DbConn, r: &Receipt, now: NaiveDateTime) -> QueryResult<bool> {
    let n = diesel::update(pay::table.find(&r.payment_id).filter(pay::status.eq_any([
        PaymentStatus::PaymentPending.as_str(),
        PaymentStatus::PaymentStarted.as_str(),
        PaymentStatus::Expired.as_str(),
    ])))
    .set((
        pay::status.eq(PaymentStatus::Paid.as_str()),
        pay::receipt.eq(&r.document),
        pay::paid_at.eq(now),
        pay::updated_at.eq(now),
    ))
    .execute(conn)?;
    if n == 1 {
        tracing::info!(payment = %r.payment_id, "payment received");
    }
    Ok(n == 1)
}

/// The GPD debt positions API.
struct Gpd {
    base: String,
    key: String,
    client: reqwest::blocking::Client,
}

impl Gpd {
    fn new(s: &PagopaSettings) -> anyhow::Result<Self> {
        Ok(Self {
            base: s
                .gpd_base_url
                .clone()
                .context("pagopa.gpd_base_url")?
                .trim_end_matches('/')
                .to_owned(),
            key: s
                .subscription_key
                .as_ref()
                .context("pagopa.subscription_key")?
                .expose()
                .to_owned(),
            client: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(s.timeout_secs))
                .build()?,
        })
    }

    /// `POST /organizations/{cf}/debtpositions?toPublish=true`; a 409 is read back.
    fn create(&self, ente_cf: &str, body: &Position<'_>, iuv: &str) -> Result<(), SendError> {
        let url = format!("{}/organizations/{ente_cf}/debtpositions", self.base);
        let res = self
            .client
            .post(&url)
            .query(&[("toPublish", "true")])
            .header("Ocp-Apim-Subscription-Key", &self.key)
            .header("Content-Type", "application/json")
            .body(
                serde_json::to_vec(body)
                    .map_err(|e| SendError::Permanent(format!("cannot write the position: {e}")))?,
            )
            .send()
            .map_err(|e| SendError::Temporary(format!("GPD unreachable: {e}")))?;
        let status = res.status();
        let text: String = res.text().unwrap_or_default().chars().take(500).collect();
        match status.as_u16() {
            200 | 201 => Ok(()),
            409 => self.check_existing(ente_cf, body.iupd, iuv),
            408 | 429 => Err(SendError::Temporary(format!(
                "GPD answered {status}: {text}"
            ))),
            s if s >= 500 => Err(SendError::Temporary(format!(
                "GPD answered {status}: {text}"
            ))),
            _ => Err(SendError::Permanent(format!(
                "GPD refused the debt position ({status}): {text}"
            ))),
        }
    }

    /// After a 409: the position under this `iupd` must be this payment's (same IUV).
    fn check_existing(&self, ente_cf: &str, iupd: &str, iuv: &str) -> Result<(), SendError> {
        let url = format!("{}/organizations/{ente_cf}/debtpositions/{iupd}", self.base);
        let res = self
            .client
            .get(&url)
            .header("Ocp-Apim-Subscription-Key", &self.key)
            .send()
            .map_err(|e| SendError::Temporary(format!("GPD unreachable: {e}")))?;
        let status = res.status();
        if !status.is_success() {
            return Err(SendError::Temporary(format!(
                "GPD answered 409 to the creation, then {status} reading it back"
            )));
        }
        let read: PositionRead = serde_json::from_str(&res.text().unwrap_or_default())
            .map_err(|e| SendError::Temporary(format!("unreadable GPD position: {e}")))?;
        if read.iupd == iupd && read.payment_option.iter().any(|o| o.iuv == iuv) {
            tracing::info!(iupd, "debt position already created (a repeated creation)");
            Ok(())
        } else {
            Err(SendError::Permanent(format!(
                "GPD holds another position under iupd {iupd}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_s_qr_content_amount_and_grouping() {
        assert_eq!(
            qr_content("301000000000000144", "00000000000", 2221),
            "PAGOPA|002|301000000000000144|00000000000|2221"
        );
        assert_eq!(euro(2221), "22,21");
        assert_eq!(euro(5), "0,05");
        assert_eq!(grouped("301000000000000144"), "3010 0000 0000 0001 44");
    }
}
