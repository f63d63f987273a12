//! Loads an ente's set-up from files: `ente.toml` (the ente, its AOO, offices, staff with
//! roles, service categories) and `services/*.toml` (one service card per file). This is how
//! the demo is provisioned and how an ente adds services without code.
//!
//! Loading is idempotent and atomic: everything is compared with what the database holds,
//! only differences are written, all in one transaction, and the report says what changed.
//! A second load of the same files changes nothing. Rows the files do not mention are left
//! alone (they may have been created through the admin API).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Deserialize;

use crate::catalog::forms::FormDefinition;
use crate::catalog::routing::{Routing, Rule};
use crate::db::schema::{
    aoo, calendars, classes, enti, form_definitions, offices, service_categories, services,
    staff_roles, staff_users,
};
use crate::db::{now, write_tx, DbConn};
use crate::domain::email::Email;
use crate::domain::ente_code::EnteCode;
use crate::domain::terms::{parse_patron_day, TermUnit};
use crate::org::Role;
use crate::procedures::ProcedureKind;
use crate::protocol::titolario::Titolario;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnteFile {
    pub ente: EnteDef,
    #[serde(default)]
    pub aoo: Vec<AooDef>,
    #[serde(default)]
    pub offices: Vec<OfficeDef>,
    #[serde(default)]
    pub staff: Vec<StaffDef>,
    #[serde(default)]
    pub categories: Vec<CategoryDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnteDef {
    pub code: String,
    pub name: String,
    pub fiscal_code: Option<String>,
    pub ipa_code: Option<String>,
    /// The patron saint's day, `MM-DD`: not a working day for the ente's terms.
    pub patron_day: Option<String>,
    /// The transparency officer (RPCT, D.Lgs. 33/2013 art. 43): the username of a staff
    /// member of this file, who decides the FOIA reviews (riesame, art. 5 c. 7).
    pub transparency_officer: Option<String>,
    /// The ente's pagoPA segregation code (two digits): the first digits of its IUVs.
    pub pagopa_segregation_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AooDef {
    pub code: String,
    pub name: String,
    /// `builtin` (the default: Sportello keeps the register) or `external` (the comune's
    /// protocol system numbers, reached through `[aoo.external]`; see docs/protocol.md).
    #[serde(default = "builtin")]
    pub register: String,
    pub external: Option<crate::protocol::external::ExternalConfig>,
    /// The register's code in the segnatura (`CodiceRegistro`, Allegato 6: 1–16 of
    /// `A-Za-z0-9_.-`): the one the ente's manuale di gestione gives its register.
    #[serde(default = "register_code")]
    pub register_code: String,
}

fn builtin() -> String {
    "builtin".to_owned()
}

fn register_code() -> String {
    crate::protocol::segnatura::REGISTER_CODE.to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficeDef {
    pub code: String,
    pub name: String,
    pub aoo: String,
    pub email: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffDef {
    pub username: String,
    pub full_name: String,
    pub email: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub roles: Vec<RoleDef>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleDef {
    pub role: String,
    pub office: Option<String>,
    pub aoo: Option<String>,
    /// A protocol clerk who may annul registrations (DPR 445/2000 art. 54).
    #[serde(default)]
    pub annul: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryDef {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub slug: String,
    pub title: String,
    pub category: String,
    pub office: String,
    pub summary: String,
    pub description: String,
    pub who_can_apply: String,
    #[serde(default)]
    pub requirements: Vec<String>,
    pub legal_term_days: i32,
    /// `calendar_days` (the default) or `working_days`.
    #[serde(default = "default_term_unit")]
    pub legal_term_unit: String,
    /// Whether the office's silence within the term grants the application (L. 241/1990
    /// art. 20).
    #[serde(default)]
    pub silence_assent: bool,
    #[serde(default = "default_level")]
    pub min_auth_level: i32,
    #[serde(default)]
    pub needs_appointment: bool,
    #[serde(default)]
    pub needs_payment: bool,
    #[serde(default = "yes")]
    pub published: bool,
    /// The titolario class its registrations get when they are made ("XI.2"); the protocol
    /// clerk may change it when reviewing.
    pub default_class: Option<String>,
    /// The procedure whose legal rules the service follows (`procedures`), with its settings.
    pub procedure: Option<ProcedureDef>,
    /// The form definition file, relative to the bundle directory.
    pub form: Option<String>,
    #[serde(default)]
    pub routing: RoutingDef,
    /// Appointment booking: the service's rules (`[booking]`, defaults when omitted) and its
    /// calendars (`[[calendar]]`); a service with calendars is bookable.
    pub booking: Option<crate::booking::BookingRules>,
    #[serde(default, rename = "calendar")]
    pub calendars: Vec<CalendarDef>,
    /// The fee (`[[fee]]`, 1 to 5 items): paid through pagoPA when the service is booked
    /// (docs/payments.md); needs `needs_payment = true`.
    #[serde(default)]
    pub fee: Vec<crate::payments::FeeItem>,
}

/// A calendar of a bookable service (`[[calendar]]` in its file): an office's desk(s), its
/// weekly hours, slot length, places per slot and days off.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarDef {
    /// Unique in the ente (a slug).
    pub code: String,
    pub name: String,
    pub office: String,
    pub location: Option<String>,
    pub slot_minutes: i32,
    /// Places per slot (the desks serving it).
    pub capacity: i32,
    pub hours: Vec<crate::booking::schedule::OpeningHours>,
    /// The ente's own days off for this calendar, `YYYY-MM-DD` (national holidays and the
    /// patron day are closed anyway).
    #[serde(default)]
    pub closures: Vec<String>,
}

impl CalendarDef {
    fn closure_days(&self) -> anyhow::Result<Vec<chrono::NaiveDate>> {
        self.closures
            .iter()
            .map(|d| {
                chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
                    .map_err(|_| anyhow::anyhow!("closure `{d}` is not a date YYYY-MM-DD"))
            })
            .collect()
    }
}

/// A service's `[procedure]` table: the kind and its `[procedure.settings]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureDef {
    pub kind: ProcedureKind,
    #[serde(default)]
    pub settings: Option<toml::Table>,
}

impl ProcedureDef {
    /// The settings as JSON (`{}` when none are given).
    fn settings_json(&self) -> anyhow::Result<serde_json::Value> {
        Ok(match &self.settings {
            Some(t) => serde_json::to_value(t)?,
            None => serde_json::Value::Object(Default::default()),
        })
    }
}

/// Routing rules of a service as written in its file (offices by code).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingDef {
    /// Office used when no rule matches; the service's `office` when absent.
    pub default_office: Option<String>,
    #[serde(default)]
    pub rules: Vec<RuleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    pub when: String,
    pub equals: Option<serde_json::Value>,
    #[serde(rename = "in")]
    pub one_of: Option<Vec<serde_json::Value>>,
    pub office: String,
}

fn default_level() -> i32 {
    2
}

fn default_term_unit() -> String {
    TermUnit::CalendarDays.as_str().to_owned()
}

/// A bundle read from disk and checked: every reference resolves, every value is valid.
#[derive(Debug)]
pub struct Bundle {
    pub ente: EnteFile,
    pub services: Vec<ServiceDef>,
    /// The parsed form of each service (same order as `services`).
    pub forms: Vec<Option<FormDefinition>>,
    /// The bundle's `titolario.toml`, or the standard scheme for comuni.
    pub titolario: Titolario,
}

/// What a load changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoadReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} created, {} updated, {} unchanged",
            self.created, self.updated, self.unchanged
        )
    }
}

impl LoadReport {
    fn count(&mut self, change: Change) {
        match change {
            Change::Created => self.created += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Created,
    Updated,
    Unchanged,
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn check_email(field: &str, value: &Option<String>) -> anyhow::Result<()> {
    if let Some(v) = value {
        Email::parse(v).map_err(|e| anyhow::anyhow!("{field}: {e}"))?;
    }
    Ok(())
}

impl Bundle {
    /// Reads `dir/ente.toml` and every `dir/services/*.toml` (sorted by name).
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let ente_path = dir.join("ente.toml");
        let text = std::fs::read_to_string(&ente_path)
            .with_context(|| format!("cannot read {}", ente_path.display()))?;
        let ente: EnteFile =
            toml::from_str(&text).with_context(|| format!("invalid {}", ente_path.display()))?;
        let mut services = Vec::new();
        let services_dir = dir.join("services");
        if services_dir.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(&services_dir)
                .with_context(|| format!("cannot list {}", services_dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            files.sort();
            for path in files {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let def: ServiceDef =
                    toml::from_str(&text).with_context(|| format!("invalid {}", path.display()))?;
                services.push(def);
            }
        }
        let mut forms = Vec::new();
        for s in &services {
            forms.push(match &s.form {
                None => None,
                Some(rel) => {
                    let path = dir.join(rel);
                    let text = std::fs::read_to_string(&path).with_context(|| {
                        format!("service `{}`: cannot read {}", s.slug, path.display())
                    })?;
                    Some(FormDefinition::parse(&text).with_context(|| {
                        format!("service `{}`: form {}", s.slug, path.display())
                    })?)
                }
            });
        }
        let titolario_path = dir.join("titolario.toml");
        let titolario = if titolario_path.is_file() {
            let text = std::fs::read_to_string(&titolario_path)
                .with_context(|| format!("cannot read {}", titolario_path.display()))?;
            Titolario::parse(&text).with_context(|| format!("in {}", titolario_path.display()))?
        } else {
            Titolario::standard()
        };
        let bundle = Self {
            ente,
            services,
            forms,
            titolario,
        };
        bundle
            .check()
            .with_context(|| format!("invalid bundle in {}", dir.display()))?;
        Ok(bundle)
    }

    fn check(&self) -> anyhow::Result<()> {
        let e = &self.ente;
        EnteCode::parse(&e.ente.code).map_err(|err| anyhow::anyhow!("ente.code: {err}"))?;
        if let Some(day) = &e.ente.patron_day {
            if parse_patron_day(day).is_none() {
                bail!("ente.patron_day: `{day}` is not a day written MM-DD (e.g. \"12-07\")");
            }
        }
        let aoo: BTreeSet<&str> = e.aoo.iter().map(|a| a.code.as_str()).collect();
        if aoo.len() != e.aoo.len() {
            bail!("aoo: duplicate code");
        }
        for a in &e.aoo {
            let c = &a.register_code;
            if !(1..=16).contains(&c.len())
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            {
                bail!(
                    "aoo `{}`: register_code `{c}` must be 1 to 16 letters, digits, `_`, `.` or `-` \
                     (the segnatura's CodiceRegistro)",
                    a.code
                );
            }
            match (a.register.as_str(), &a.external) {
                ("builtin", None) => {}
                ("external", Some(x)) => x.check().with_context(|| format!("aoo `{}`", a.code))?,
                ("builtin", Some(_)) => {
                    bail!(
                        "aoo `{}`: [aoo.external] needs register = \"external\"",
                        a.code
                    )
                }
                ("external", None) => {
                    bail!(
                        "aoo `{}`: register = \"external\" needs [aoo.external]",
                        a.code
                    )
                }
                (other, _) => bail!(
                    "aoo `{}`: register must be \"builtin\" or \"external\", not `{other}`",
                    a.code
                ),
            }
        }
        let mut calendar_codes = BTreeSet::new();
        let mut office_codes = BTreeSet::new();
        for o in &e.offices {
            if !office_codes.insert(o.code.as_str()) {
                bail!("offices: duplicate code `{}`", o.code);
            }
            if !aoo.contains(o.aoo.as_str()) {
                bail!("office `{}`: unknown aoo `{}`", o.code, o.aoo);
            }
            check_email(&format!("office `{}` email", o.code), &o.email)?;
        }
        let mut usernames = BTreeSet::new();
        for s in &e.staff {
            if !usernames.insert(s.username.as_str()) {
                bail!("staff: duplicate username `{}`", s.username);
            }
            check_email(&format!("staff `{}` email", s.username), &s.email)?;
            for r in &s.roles {
                let role = Role::parse(&r.role).ok_or_else(|| {
                    anyhow::anyhow!("staff `{}`: unknown role `{}`", s.username, r.role)
                })?;
                let ok = match role {
                    Role::Operator => {
                        r.aoo.is_none()
                            && r.office
                                .as_deref()
                                .is_some_and(|o| office_codes.contains(o))
                    }
                    Role::ProtocolClerk => {
                        r.office.is_none() && r.aoo.as_deref().is_some_and(|a| aoo.contains(a))
                    }
                    Role::Admin => r.office.is_none() && r.aoo.is_none(),
                };
                if r.annul && role != Role::ProtocolClerk {
                    bail!(
                        "staff `{}`: only a protocol_clerk role may have `annul = true`",
                        s.username
                    );
                }
                if !ok {
                    bail!(
                        "staff `{}`: role `{}` needs {} (known offices/AOO only)",
                        s.username,
                        r.role,
                        match role {
                            Role::Operator => "an `office` and no `aoo`",
                            Role::ProtocolClerk => "an `aoo` and no `office`",
                            Role::Admin => "neither `office` nor `aoo`",
                        }
                    );
                }
            }
        }
        if let Some(rpct) = &e.ente.transparency_officer {
            if !usernames.contains(rpct.as_str()) {
                bail!("ente.transparency_officer: `{rpct}` is not a staff username of this file");
            }
        }
        let mut categories = BTreeSet::new();
        for c in &e.categories {
            if !is_slug(&c.slug) || !categories.insert(c.slug.as_str()) {
                bail!("categories: invalid or duplicate slug `{}`", c.slug);
            }
        }
        let mut slugs = BTreeSet::new();
        for (s, form) in self.services.iter().zip(&self.forms) {
            if !is_slug(&s.slug) || !slugs.insert(s.slug.as_str()) {
                bail!("services: invalid or duplicate slug `{}`", s.slug);
            }
            if !categories.contains(s.category.as_str()) {
                bail!("service `{}`: unknown category `{}`", s.slug, s.category);
            }
            if !office_codes.contains(s.office.as_str()) {
                bail!("service `{}`: unknown office `{}`", s.slug, s.office);
            }
            if s.legal_term_days <= 0 {
                bail!("service `{}`: legal_term_days must be positive", s.slug);
            }
            if TermUnit::parse(&s.legal_term_unit).is_none() {
                bail!(
                    "service `{}`: legal_term_unit `{}` is neither `calendar_days` nor \
                     `working_days`",
                    s.slug,
                    s.legal_term_unit
                );
            }
            if let Some(class) = &s.default_class {
                if !self.titolario.classifies(class) {
                    bail!(
                        "service `{}`: default_class `{class}` is not a class of the titolario \
                         `{}`",
                        s.slug,
                        self.titolario.name
                    );
                }
            }
            if let Some(p) = &s.procedure {
                let settings = p.settings_json()?;
                p.kind
                    .check_settings(&settings)
                    .and_then(|()| match form {
                        Some(f) => p.kind.check_form(&settings, &f.schema),
                        None => Ok(()),
                    })
                    .with_context(|| {
                        format!("service `{}`: procedure `{}`", s.slug, p.kind.as_str())
                    })?;
            }
            if !(1..=3).contains(&s.min_auth_level) {
                bail!("service `{}`: min_auth_level must be 1, 2 or 3", s.slug);
            }
            self.check_booking(s, &office_codes)
                .with_context(|| format!("service `{}`", s.slug))?;
            for c in &s.calendars {
                if !calendar_codes.insert(c.code.as_str()) {
                    bail!("calendar `{}` appears twice in the ente", c.code);
                }
            }
            let offices_named = s
                .routing
                .default_office
                .iter()
                .chain(s.routing.rules.iter().map(|r| &r.office));
            for office in offices_named {
                if !office_codes.contains(office.as_str()) {
                    bail!(
                        "service `{}`: routing names unknown office `{office}`",
                        s.slug
                    );
                }
            }
            for (i, r) in s.routing.rules.iter().enumerate() {
                if !r.when.starts_with('/') {
                    bail!(
                        "service `{}`: routing rule {} `when` must be a JSON Pointer",
                        s.slug,
                        i + 1
                    );
                }
                if r.equals.is_some() == r.one_of.is_some() {
                    bail!(
                        "service `{}`: routing rule {} needs exactly one of `equals`, `in`",
                        s.slug,
                        i + 1
                    );
                }
            }
        }
        Ok(())
    }

    /// Writes the bundle into the database; one transaction, only the differences.
    /// A service's `[booking]` and `[[calendar]]` tables.
    fn check_booking(&self, s: &ServiceDef, office_codes: &BTreeSet<&str>) -> anyhow::Result<()> {
        if s.calendars.is_empty() {
            if s.booking.is_some() {
                bail!("[booking] without any [[calendar]]");
            }
            if !s.fee.is_empty() {
                bail!("[[fee]] is paid when the service is booked: it needs [[calendar]]");
            }
            return Ok(());
        }
        let rules = s.booking.clone().unwrap_or_default();
        rules.check()?;
        if !s.fee.is_empty() {
            crate::payments::check_fee(&s.fee)?;
            if !s.needs_payment {
                bail!("[[fee]] needs needs_payment = true");
            }
            let e = &self.ente.ente;
            match e.pagopa_segregation_code.as_deref() {
                Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()) => {}
                _ => bail!(
                    "[[fee]]: the ente needs its pagoPA segregation code \
                     ([ente] pagopa_segregation_code, two digits)"
                ),
            }
            if !e
                .fiscal_code
                .as_deref()
                .is_some_and(|c| c.len() == 11 && c.bytes().all(|b| b.is_ascii_digit()))
            {
                bail!("[[fee]]: the ente needs its fiscal code ([ente] fiscal_code, 11 digits)");
            }
        } else if s.needs_payment && !s.calendars.is_empty() {
            bail!("a bookable service with needs_payment = true needs its [[fee]]");
        }
        for c in &s.calendars {
            if !is_slug(&c.code) {
                bail!("calendar code `{}` must be a slug", c.code);
            }
            if !office_codes.contains(c.office.as_str()) {
                bail!("calendar `{}` names unknown office `{}`", c.code, c.office);
            }
            if !(1..=100).contains(&c.capacity) {
                bail!("calendar `{}`: capacity must be from 1 to 100", c.code);
            }
            crate::booking::schedule::Schedule::new(
                &c.hours,
                c.slot_minutes,
                c.closure_days()?,
                self.ente.ente.patron_day.as_deref(),
            )
            .with_context(|| format!("calendar `{}`", c.code))?;
        }
        Ok(())
    }

    pub fn load(&self, conn: &mut DbConn) -> anyhow::Result<LoadReport> {
        write_tx(conn, |conn| self.load_in_tx(conn))
    }

    fn load_in_tx(&self, conn: &mut DbConn) -> anyhow::Result<LoadReport> {
        let mut report = LoadReport::default();
        let ts = now();
        let def = &self.ente.ente;
        let code = EnteCode::parse(&def.code)?.to_string();

        let ente = EnteRow {
            name: def.name.clone(),
            fiscal_code: def.fiscal_code.clone(),
            ipa_code: def.ipa_code.clone(),
            patron_day: def.patron_day.clone(),
            transparency_officer: def.transparency_officer.clone(),
            pagopa_segregation_code: def.pagopa_segregation_code.clone(),
        };
        let ente_id = sync(conn, &mut report, code.as_str(), &ente, ts)?;

        let mut aoo_ids = BTreeMap::new();
        for a in &self.ente.aoo {
            let row = AooRow {
                name: a.name.clone(),
                register: a.register.clone(),
                external: a.external.as_ref().map(serde_json::to_string).transpose()?,
                register_code: a.register_code.clone(),
            };
            let id = sync(conn, &mut report, (ente_id, a.code.as_str()), &row, ts)?;
            aoo_ids.insert(a.code.as_str(), id);
        }

        let mut office_ids = BTreeMap::new();
        for o in &self.ente.offices {
            let row = OfficeRow {
                aoo_id: aoo_ids[o.aoo.as_str()],
                name: o.name.clone(),
                email: o.email.clone(),
            };
            let id = sync(conn, &mut report, (ente_id, o.code.as_str()), &row, ts)?;
            office_ids.insert(o.code.as_str(), id);
        }

        // Staff and their roles: a staff member whose roles changed counts as updated.
        for s in &self.ente.staff {
            let row = StaffRow {
                full_name: s.full_name.clone(),
                email: s.email.clone(),
                active: s.active,
            };
            let key = (ente_id, s.username.as_str());
            let (id, mut change) = row_in_step(conn, key, &row, ts)?;
            let roles: BTreeSet<RoleRow> = s
                .roles
                .iter()
                .map(|r| {
                    (
                        r.role.clone(),
                        r.office.as_deref().map(|o| office_ids[o]),
                        r.aoo.as_deref().map(|a| aoo_ids[a]),
                        r.annul,
                    )
                })
                .collect();
            if roles_in_step(conn, ente_id, id, &roles, ts)? && change == Change::Unchanged {
                change = Change::Updated;
            }
            report.count(change);
        }

        load_titolario(conn, ente_id, &self.titolario, ts)?;

        let mut category_ids = BTreeMap::new();
        for (position, c) in self.ente.categories.iter().enumerate() {
            let row = CategoryRow {
                name: c.name.clone(),
                description: c.description.clone(),
                position: i32::try_from(position)?,
            };
            let id = sync(conn, &mut report, (ente_id, c.slug.as_str()), &row, ts)?;
            category_ids.insert(c.slug.as_str(), id);
        }

        // Services, each with its form.
        for (s, form) in self.services.iter().zip(&self.forms) {
            let row = s.row(&office_ids, &category_ids)?;
            let service_id = sync(conn, &mut report, (ente_id, s.slug.as_str()), &row, ts)?;
            if let Some(form) = form {
                report.count(load_form(conn, ente_id, service_id, form, ts)?);
            }
            for c in &s.calendars {
                let row = CalendarRow {
                    service_id,
                    office_id: office_ids[c.office.as_str()],
                    name: c.name.clone(),
                    location: c.location.clone(),
                    slot_minutes: c.slot_minutes,
                    capacity: c.capacity,
                    hours: serde_json::to_string(&c.hours)?,
                    closures: serde_json::to_string(&c.closure_days()?)?,
                    active: true,
                };
                sync(conn, &mut report, (ente_id, c.code.as_str()), &row, ts)?;
            }
        }
        // A calendar the bundle no longer has takes no more bookings (its bookings stay).
        let codes: Vec<&str> = self
            .services
            .iter()
            .flat_map(|s| s.calendars.iter().map(|c| c.code.as_str()))
            .collect();
        diesel::update(
            calendars::table
                .filter(calendars::ente_id.eq(ente_id))
                .filter(calendars::code.ne_all(&codes))
                .filter(calendars::active.eq(true)),
        )
        .set((calendars::active.eq(false), calendars::updated_at.eq(ts)))
        .execute(conn)?;
        tracing::info!(ente = %code, %report, "bundle loaded");
        if report.created + report.updated > 0 {
            crate::audit::record(
                conn,
                crate::audit::Entry::new(
                    ente_id,
                    crate::audit::Actor::System,
                    crate::audit::Action::ConfigurationChanged,
                    "bundle",
                    code.as_str(),
                )
                .with(serde_json::json!({
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                })),
            )?;
        }
        Ok(report)
    }
}

impl ServiceDef {
    /// The service's row, its offices and category resolved to the ids just written.
    fn row(
        &self,
        office_ids: &BTreeMap<&str, i64>,
        category_ids: &BTreeMap<&str, i64>,
    ) -> anyhow::Result<ServiceRow> {
        let routing = Routing {
            default_office_id: Some(
                office_ids[self
                    .routing
                    .default_office
                    .as_deref()
                    .unwrap_or(&self.office)],
            ),
            rules: self
                .routing
                .rules
                .iter()
                .map(|r| Rule {
                    when: r.when.clone(),
                    values: r
                        .one_of
                        .clone()
                        .unwrap_or_else(|| r.equals.iter().cloned().collect()),
                    office_id: office_ids[r.office.as_str()],
                    office_code: r.office.clone(),
                })
                .collect(),
        };
        Ok(ServiceRow {
            routing: serde_json::to_string(&routing)?,
            category_id: category_ids[self.category.as_str()],
            office_id: office_ids[self.office.as_str()],
            title: self.title.clone(),
            summary: self.summary.clone(),
            description: self.description.clone(),
            who_can_apply: self.who_can_apply.clone(),
            requirements: serde_json::to_string(&self.requirements)?,
            legal_term_days: self.legal_term_days,
            legal_term_unit: self.legal_term_unit.clone(),
            silence_assent: self.silence_assent,
            min_auth_level: self.min_auth_level,
            needs_appointment: self.needs_appointment,
            needs_payment: self.needs_payment,
            published: self.published,
            default_class: self.default_class.clone(),
            procedure_kind: self.procedure.as_ref().map(|p| p.kind.as_str().to_owned()),
            procedure_settings: self
                .procedure
                .as_ref()
                .map(|p| p.settings_json().map(|v| v.to_string()))
                .transpose()?,
            booking: if self.calendars.is_empty() {
                None
            } else {
                Some(serde_json::to_string(
                    &self.booking.clone().unwrap_or_default(),
                )?)
            },
            fee: if self.fee.is_empty() {
                None
            } else {
                Some(serde_json::to_string(&self.fee)?)
            },
        })
    }
}

/// A new form version when the definition differs from the latest one (instances keep the
/// version they were filled with, so versions are never edited).
fn load_form(
    conn: &mut DbConn,
    ente_id: i64,
    service_id: i64,
    form: &FormDefinition,
    ts: NaiveDateTime,
) -> anyhow::Result<Change> {
    let text = serde_json_canonicalizer::to_string(form)?;
    let digest = crate::text::sha256_hex(text.as_bytes());
    let latest: Option<(i32, String)> = form_definitions::table
        .filter(form_definitions::service_id.eq(service_id))
        .order(form_definitions::version.desc())
        .select((form_definitions::version, form_definitions::digest))
        .first(conn)
        .optional()?;
    let version = match latest {
        Some((_, d)) if d == digest => return Ok(Change::Unchanged),
        Some((v, _)) => v + 1,
        None => 1,
    };
    diesel::insert_into(form_definitions::table)
        .values((
            form_definitions::ente_id.eq(ente_id),
            form_definitions::service_id.eq(service_id),
            form_definitions::version.eq(version),
            form_definitions::definition.eq(&text),
            form_definitions::digest.eq(&digest),
            form_definitions::created_at.eq(ts),
        ))
        .execute(conn)?;
    Ok(if version == 1 {
        Change::Created
    } else {
        Change::Updated
    })
}

// --- Keeping a table in step with the files ---------------------------------------------

/// The columns a bundle decides for one row of a table, and how to find, insert and update
/// that row by its natural key. Rows the files do not mention are never touched.
trait SyncedRow: PartialEq + Sized {
    /// The natural key: the ente's code for `enti`; (ente id, code, username or slug) for the
    /// tables below an ente.
    type Key<'k>: Copy;
    /// The row's id and its current columns, if it exists.
    fn find(conn: &mut DbConn, key: Self::Key<'_>) -> QueryResult<Option<(i64, Self)>>;
    /// Inserts the row (key, columns, `created_at` and `updated_at`), returning its id.
    fn insert(&self, conn: &mut DbConn, key: Self::Key<'_>, ts: NaiveDateTime) -> QueryResult<i64>;
    /// Writes the columns and `updated_at`.
    fn update(&self, conn: &mut DbConn, id: i64, ts: NaiveDateTime) -> QueryResult<usize>;
}

/// The diff-and-upsert every table of a bundle goes through: the row missing is inserted,
/// the row with other columns is updated, the row already as wanted is left as it is.
fn row_in_step<R: SyncedRow>(
    conn: &mut DbConn,
    key: R::Key<'_>,
    wanted: &R,
    ts: NaiveDateTime,
) -> QueryResult<(i64, Change)> {
    Ok(match R::find(conn, key)? {
        None => (wanted.insert(conn, key, ts)?, Change::Created),
        Some((id, current)) if current == *wanted => (id, Change::Unchanged),
        Some((id, _)) => {
            wanted.update(conn, id, ts)?;
            (id, Change::Updated)
        }
    })
}

/// [`row_in_step`], counted in `report`; returns the row's id.
fn sync<R: SyncedRow>(
    conn: &mut DbConn,
    report: &mut LoadReport,
    key: R::Key<'_>,
    wanted: &R,
    ts: NaiveDateTime,
) -> QueryResult<i64> {
    let (id, change) = row_in_step(conn, key, wanted, ts)?;
    report.count(change);
    Ok(id)
}

/// `SyncedRow` for a table below the ente: found by `ente_id` and the `$key` column.
macro_rules! synced_below_ente {
    ($row:ty, $table:ident, $key:ident) => {
        impl SyncedRow for $row {
            type Key<'k> = (i64, &'k str);

            fn find(
                conn: &mut DbConn,
                (ente_id, key): Self::Key<'_>,
            ) -> QueryResult<Option<(i64, Self)>> {
                $table::table
                    .filter($table::ente_id.eq(ente_id))
                    .filter($table::$key.eq(key))
                    .select(($table::id, <$row>::as_select()))
                    .first(conn)
                    .optional()
            }

            fn insert(
                &self,
                conn: &mut DbConn,
                (ente_id, key): Self::Key<'_>,
                ts: NaiveDateTime,
            ) -> QueryResult<i64> {
                diesel::insert_into($table::table)
                    .values((
                        $table::ente_id.eq(ente_id),
                        $table::$key.eq(key),
                        self,
                        $table::created_at.eq(ts),
                        $table::updated_at.eq(ts),
                    ))
                    .returning($table::id)
                    .get_result(conn)
            }

            fn update(&self, conn: &mut DbConn, id: i64, ts: NaiveDateTime) -> QueryResult<usize> {
                diesel::update($table::table.find(id))
                    .set((self, $table::updated_at.eq(ts)))
                    .execute(conn)
            }
        }
    };
}

/// The ente columns a bundle decides. `None` is written as NULL (a value removed from the
/// file is removed from the row), as are the other rows' optional columns.
#[derive(Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = enti, treat_none_as_null = true, treat_none_as_default_value = false)]
struct EnteRow {
    name: String,
    fiscal_code: Option<String>,
    ipa_code: Option<String>,
    patron_day: Option<String>,
    transparency_officer: Option<String>,
    pagopa_segregation_code: Option<String>,
}

impl SyncedRow for EnteRow {
    type Key<'k> = &'k str;

    fn find(conn: &mut DbConn, code: &str) -> QueryResult<Option<(i64, Self)>> {
        enti::table
            .filter(enti::code.eq(code))
            .select((enti::id, EnteRow::as_select()))
            .first(conn)
            .optional()
    }

    fn insert(&self, conn: &mut DbConn, code: &str, ts: NaiveDateTime) -> QueryResult<i64> {
        diesel::insert_into(enti::table)
            .values((
                enti::code.eq(code),
                self,
                enti::created_at.eq(ts),
                enti::updated_at.eq(ts),
            ))
            .returning(enti::id)
            .get_result(conn)
    }

    fn update(&self, conn: &mut DbConn, id: i64, ts: NaiveDateTime) -> QueryResult<usize> {
        diesel::update(enti::table.find(id))
            .set((self, enti::updated_at.eq(ts)))
            .execute(conn)
    }
}

#[derive(Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = aoo, treat_none_as_null = true, treat_none_as_default_value = false)]
struct AooRow {
    name: String,
    register: String,
    external: Option<String>,
    register_code: String,
}
synced_below_ente!(AooRow, aoo, code);

#[derive(Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = offices, treat_none_as_null = true, treat_none_as_default_value = false)]
struct OfficeRow {
    aoo_id: i64,
    name: String,
    email: Option<String>,
}
synced_below_ente!(OfficeRow, offices, code);

#[derive(Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = staff_users, treat_none_as_null = true, treat_none_as_default_value = false)]
struct StaffRow {
    full_name: String,
    email: Option<String>,
    active: bool,
}
synced_below_ente!(StaffRow, staff_users, username);

#[derive(Debug, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = service_categories)]
struct CategoryRow {
    name: String,
    description: String,
    position: i32,
}
synced_below_ente!(CategoryRow, service_categories, slug);

/// The service columns a bundle decides.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = services, treat_none_as_null = true, treat_none_as_default_value = false)]
struct ServiceRow {
    category_id: i64,
    office_id: i64,
    title: String,
    summary: String,
    description: String,
    who_can_apply: String,
    requirements: String,
    legal_term_days: i32,
    legal_term_unit: String,
    silence_assent: bool,
    min_auth_level: i32,
    needs_appointment: bool,
    needs_payment: bool,
    published: bool,
    routing: String,
    default_class: Option<String>,
    procedure_kind: Option<String>,
    procedure_settings: Option<String>,
    booking: Option<String>,
    fee: Option<String>,
}
synced_below_ente!(ServiceRow, services, slug);

/// The calendar columns a bundle decides.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = calendars, treat_none_as_null = true, treat_none_as_default_value = false)]
struct CalendarRow {
    service_id: i64,
    office_id: i64,
    name: String,
    location: Option<String>,
    slot_minutes: i32,
    capacity: i32,
    hours: String,
    closures: String,
    active: bool,
}
synced_below_ente!(CalendarRow, calendars, code);

/// A titolario entry's columns.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = classes, treat_none_as_null = true, treat_none_as_default_value = false)]
struct ClassRow {
    title: String,
    parent_code: Option<String>,
    position: i32,
    active: bool,
}
synced_below_ente!(ClassRow, classes, code);

/// Puts the ente's titolario in step with the bundle's: entries are created or updated, and an
/// entry the scheme no longer has is deactivated (registrations may name it). Not counted in
/// the load report (a scheme has some two hundred entries); logged instead.
fn load_titolario(
    conn: &mut DbConn,
    ente_id: i64,
    titolario: &Titolario,
    ts: NaiveDateTime,
) -> anyhow::Result<()> {
    let mut report = LoadReport::default();
    for (position, e) in titolario.entries.iter().enumerate() {
        let row = ClassRow {
            title: e.title.clone(),
            parent_code: e.parent.clone(),
            position: i32::try_from(position)?,
            active: true,
        };
        sync(conn, &mut report, (ente_id, e.code.as_str()), &row, ts)?;
    }
    let codes: Vec<&str> = titolario.entries.iter().map(|e| e.code.as_str()).collect();
    let retired = diesel::update(
        classes::table
            .filter(classes::ente_id.eq(ente_id))
            .filter(classes::active.eq(true))
            .filter(diesel::dsl::not(classes::code.eq_any(&codes))),
    )
    .set((classes::active.eq(false), classes::updated_at.eq(ts)))
    .execute(conn)?;
    tracing::info!(ente_id, titolario = %titolario.name, %report, retired, "titolario loaded");
    Ok(())
}

/// A staff role: (role, office id, AOO id, may annul).
type RoleRow = (String, Option<i64>, Option<i64>, bool);

/// A staff member's roles are a set: when it differs from the file's, the member's roles are
/// deleted and the file's inserted. Returns whether anything changed.
fn roles_in_step(
    conn: &mut DbConn,
    ente_id: i64,
    staff_user_id: i64,
    wanted: &BTreeSet<RoleRow>,
    ts: NaiveDateTime,
) -> QueryResult<bool> {
    let current: BTreeSet<RoleRow> = staff_roles::table
        .filter(staff_roles::staff_user_id.eq(staff_user_id))
        .select((
            staff_roles::role,
            staff_roles::office_id,
            staff_roles::aoo_id,
            staff_roles::can_annul,
        ))
        .load::<RoleRow>(conn)?
        .into_iter()
        .collect();
    if *wanted == current {
        return Ok(false);
    }
    diesel::delete(staff_roles::table.filter(staff_roles::staff_user_id.eq(staff_user_id)))
        .execute(conn)?;
    for (role, office_id, aoo_id, can_annul) in wanted {
        diesel::insert_into(staff_roles::table)
            .values((
                staff_roles::ente_id.eq(ente_id),
                staff_roles::staff_user_id.eq(staff_user_id),
                staff_roles::role.eq(role),
                staff_roles::office_id.eq(office_id),
                staff_roles::aoo_id.eq(aoo_id),
                staff_roles::can_annul.eq(can_annul),
                staff_roles::created_at.eq(ts),
            ))
            .execute(conn)?;
    }
    Ok(true)
}

/// The demo bundle (`config/demo`) as compiled into the binary.
static DEMO_BUNDLE: include_dir::Dir<'static> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/config/demo");

/// Writes the compiled-in demo bundle to `dir` (replacing what a previous version wrote
/// there), for `sportello serve --demo` run away from the source tree.
pub fn write_demo_bundle(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    DEMO_BUNDLE
        .extract(dir)
        .with_context(|| format!("cannot write the demo bundle into {}", dir.display()))
}
