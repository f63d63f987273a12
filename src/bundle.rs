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
use diesel::prelude::*;
use serde::Deserialize;

use crate::catalog::forms::FormDefinition;
use crate::catalog::routing::{Routing, Rule};
use crate::db::schema::{
    aoo, enti, form_definitions, offices, service_categories, services, staff_roles, staff_users,
};
use crate::db::{now, write_tx, DbConn};
use crate::domain::email::Email;
use crate::domain::ente_code::EnteCode;
use crate::org::Role;

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AooDef {
    pub code: String,
    pub name: String,
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
    #[serde(default = "default_level")]
    pub min_auth_level: i32,
    #[serde(default)]
    pub needs_appointment: bool,
    #[serde(default)]
    pub needs_payment: bool,
    #[serde(default = "yes")]
    pub published: bool,
    /// The form definition file, relative to the bundle directory.
    pub form: Option<String>,
    #[serde(default)]
    pub routing: RoutingDef,
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

/// A bundle read from disk and checked: every reference resolves, every value is valid.
#[derive(Debug)]
pub struct Bundle {
    pub ente: EnteFile,
    pub services: Vec<ServiceDef>,
    /// The parsed form of each service (same order as `services`).
    pub forms: Vec<Option<FormDefinition>>,
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
        let bundle = Self {
            ente,
            services,
            forms,
        };
        bundle
            .check()
            .with_context(|| format!("invalid bundle in {}", dir.display()))?;
        Ok(bundle)
    }

    fn check(&self) -> anyhow::Result<()> {
        let e = &self.ente;
        EnteCode::parse(&e.ente.code).map_err(|err| anyhow::anyhow!("ente.code: {err}"))?;
        let aoo: BTreeSet<&str> = e.aoo.iter().map(|a| a.code.as_str()).collect();
        if aoo.len() != e.aoo.len() {
            bail!("aoo: duplicate code");
        }
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
        let mut categories = BTreeSet::new();
        for c in &e.categories {
            if !is_slug(&c.slug) || !categories.insert(c.slug.as_str()) {
                bail!("categories: invalid or duplicate slug `{}`", c.slug);
            }
        }
        let mut slugs = BTreeSet::new();
        for s in &self.services {
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
            if !(1..=3).contains(&s.min_auth_level) {
                bail!("service `{}`: min_auth_level must be 1, 2 or 3", s.slug);
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
    pub fn load(&self, conn: &mut DbConn) -> anyhow::Result<LoadReport> {
        write_tx(conn, |conn| self.load_in_tx(conn))
    }

    fn load_in_tx(&self, conn: &mut DbConn) -> anyhow::Result<LoadReport> {
        let mut report = LoadReport::default();
        let ts = now();
        let def = &self.ente.ente;
        let code = EnteCode::parse(&def.code)?.to_string();

        // Ente.
        let existing: Option<(i64, String, Option<String>, Option<String>)> = enti::table
            .filter(enti::code.eq(&code))
            .select((enti::id, enti::name, enti::fiscal_code, enti::ipa_code))
            .first(conn)
            .optional()?;
        let wanted = (
            def.name.clone(),
            def.fiscal_code.clone(),
            def.ipa_code.clone(),
        );
        let ente_id = match existing {
            None => {
                report.count(Change::Created);
                diesel::insert_into(enti::table)
                    .values((
                        enti::code.eq(&code),
                        enti::name.eq(&wanted.0),
                        enti::fiscal_code.eq(&wanted.1),
                        enti::ipa_code.eq(&wanted.2),
                        enti::created_at.eq(ts),
                        enti::updated_at.eq(ts),
                    ))
                    .returning(enti::id)
                    .get_result(conn)?
            }
            Some((id, name, fc, ipa)) => {
                if (name, fc, ipa) != wanted {
                    report.count(Change::Updated);
                    diesel::update(enti::table.find(id))
                        .set((
                            enti::name.eq(&wanted.0),
                            enti::fiscal_code.eq(&wanted.1),
                            enti::ipa_code.eq(&wanted.2),
                            enti::updated_at.eq(ts),
                        ))
                        .execute(conn)?;
                } else {
                    report.count(Change::Unchanged);
                }
                id
            }
        };

        // AOO.
        let mut aoo_ids = BTreeMap::new();
        for a in &self.ente.aoo {
            let existing: Option<(i64, String)> = aoo::table
                .filter(aoo::ente_id.eq(ente_id))
                .filter(aoo::code.eq(&a.code))
                .select((aoo::id, aoo::name))
                .first(conn)
                .optional()?;
            let id = match existing {
                None => {
                    report.count(Change::Created);
                    diesel::insert_into(aoo::table)
                        .values((
                            aoo::ente_id.eq(ente_id),
                            aoo::code.eq(&a.code),
                            aoo::name.eq(&a.name),
                            aoo::created_at.eq(ts),
                            aoo::updated_at.eq(ts),
                        ))
                        .returning(aoo::id)
                        .get_result(conn)?
                }
                Some((id, name)) => {
                    report.count(if name == a.name {
                        Change::Unchanged
                    } else {
                        diesel::update(aoo::table.find(id))
                            .set((aoo::name.eq(&a.name), aoo::updated_at.eq(ts)))
                            .execute(conn)?;
                        Change::Updated
                    });
                    id
                }
            };
            aoo_ids.insert(a.code.as_str(), id);
        }

        // Offices.
        let mut office_ids = BTreeMap::new();
        for o in &self.ente.offices {
            let aoo_id = aoo_ids[o.aoo.as_str()];
            let existing: Option<(i64, i64, String, Option<String>)> = offices::table
                .filter(offices::ente_id.eq(ente_id))
                .filter(offices::code.eq(&o.code))
                .select((offices::id, offices::aoo_id, offices::name, offices::email))
                .first(conn)
                .optional()?;
            let wanted = (aoo_id, o.name.clone(), o.email.clone());
            let id = match existing {
                None => {
                    report.count(Change::Created);
                    diesel::insert_into(offices::table)
                        .values((
                            offices::ente_id.eq(ente_id),
                            offices::aoo_id.eq(aoo_id),
                            offices::code.eq(&o.code),
                            offices::name.eq(&o.name),
                            offices::email.eq(&o.email),
                            offices::created_at.eq(ts),
                            offices::updated_at.eq(ts),
                        ))
                        .returning(offices::id)
                        .get_result(conn)?
                }
                Some((id, a, name, email)) => {
                    report.count(if (a, name, email) == wanted {
                        Change::Unchanged
                    } else {
                        diesel::update(offices::table.find(id))
                            .set((
                                offices::aoo_id.eq(aoo_id),
                                offices::name.eq(&o.name),
                                offices::email.eq(&o.email),
                                offices::updated_at.eq(ts),
                            ))
                            .execute(conn)?;
                        Change::Updated
                    });
                    id
                }
            };
            office_ids.insert(o.code.as_str(), id);
        }

        // Staff and their roles.
        for s in &self.ente.staff {
            let existing: Option<(i64, String, Option<String>, bool)> = staff_users::table
                .filter(staff_users::ente_id.eq(ente_id))
                .filter(staff_users::username.eq(&s.username))
                .select((
                    staff_users::id,
                    staff_users::full_name,
                    staff_users::email,
                    staff_users::active,
                ))
                .first(conn)
                .optional()?;
            let wanted = (s.full_name.clone(), s.email.clone(), s.active);
            let (id, mut change) = match existing {
                None => (
                    diesel::insert_into(staff_users::table)
                        .values((
                            staff_users::ente_id.eq(ente_id),
                            staff_users::username.eq(&s.username),
                            staff_users::full_name.eq(&s.full_name),
                            staff_users::email.eq(&s.email),
                            staff_users::active.eq(s.active),
                            staff_users::created_at.eq(ts),
                            staff_users::updated_at.eq(ts),
                        ))
                        .returning(staff_users::id)
                        .get_result(conn)?,
                    Change::Created,
                ),
                Some((id, name, email, active)) => {
                    if (name, email, active) == wanted {
                        (id, Change::Unchanged)
                    } else {
                        diesel::update(staff_users::table.find(id))
                            .set((
                                staff_users::full_name.eq(&s.full_name),
                                staff_users::email.eq(&s.email),
                                staff_users::active.eq(s.active),
                                staff_users::updated_at.eq(ts),
                            ))
                            .execute(conn)?;
                        (id, Change::Updated)
                    }
                }
            };
            let wanted_roles: BTreeSet<(String, Option<i64>, Option<i64>)> = s
                .roles
                .iter()
                .map(|r| {
                    (
                        r.role.clone(),
                        r.office.as_deref().map(|o| office_ids[o]),
                        r.aoo.as_deref().map(|a| aoo_ids[a]),
                    )
                })
                .collect();
            let current_roles: BTreeSet<(String, Option<i64>, Option<i64>)> = staff_roles::table
                .filter(staff_roles::staff_user_id.eq(id))
                .select((
                    staff_roles::role,
                    staff_roles::office_id,
                    staff_roles::aoo_id,
                ))
                .load::<(String, Option<i64>, Option<i64>)>(conn)?
                .into_iter()
                .collect();
            if wanted_roles != current_roles {
                diesel::delete(staff_roles::table.filter(staff_roles::staff_user_id.eq(id)))
                    .execute(conn)?;
                for (role, office_id, aoo_id) in &wanted_roles {
                    diesel::insert_into(staff_roles::table)
                        .values((
                            staff_roles::ente_id.eq(ente_id),
                            staff_roles::staff_user_id.eq(id),
                            staff_roles::role.eq(role),
                            staff_roles::office_id.eq(office_id),
                            staff_roles::aoo_id.eq(aoo_id),
                            staff_roles::created_at.eq(ts),
                        ))
                        .execute(conn)?;
                }
                if change == Change::Unchanged {
                    change = Change::Updated;
                }
            }
            report.count(change);
        }

        // Categories.
        let mut category_ids = BTreeMap::new();
        for (position, c) in self.ente.categories.iter().enumerate() {
            let position = i32::try_from(position)?;
            let existing: Option<(i64, String, String, i32)> = service_categories::table
                .filter(service_categories::ente_id.eq(ente_id))
                .filter(service_categories::slug.eq(&c.slug))
                .select((
                    service_categories::id,
                    service_categories::name,
                    service_categories::description,
                    service_categories::position,
                ))
                .first(conn)
                .optional()?;
            let wanted = (c.name.clone(), c.description.clone(), position);
            let id = match existing {
                None => {
                    report.count(Change::Created);
                    diesel::insert_into(service_categories::table)
                        .values((
                            service_categories::ente_id.eq(ente_id),
                            service_categories::slug.eq(&c.slug),
                            service_categories::name.eq(&c.name),
                            service_categories::description.eq(&c.description),
                            service_categories::position.eq(position),
                            service_categories::created_at.eq(ts),
                            service_categories::updated_at.eq(ts),
                        ))
                        .returning(service_categories::id)
                        .get_result(conn)?
                }
                Some((id, name, description, pos)) => {
                    report.count(if (name, description, pos) == wanted {
                        Change::Unchanged
                    } else {
                        diesel::update(service_categories::table.find(id))
                            .set((
                                service_categories::name.eq(&c.name),
                                service_categories::description.eq(&c.description),
                                service_categories::position.eq(position),
                                service_categories::updated_at.eq(ts),
                            ))
                            .execute(conn)?;
                        Change::Updated
                    });
                    id
                }
            };
            category_ids.insert(c.slug.as_str(), id);
        }

        // Services.
        for (s, form) in self.services.iter().zip(&self.forms) {
            let routing = Routing {
                default_office_id: Some(
                    office_ids[s.routing.default_office.as_deref().unwrap_or(&s.office)],
                ),
                rules: s
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
            let row = ServiceRow {
                routing: serde_json::to_string(&routing)?,
                category_id: category_ids[s.category.as_str()],
                office_id: office_ids[s.office.as_str()],
                title: s.title.clone(),
                summary: s.summary.clone(),
                description: s.description.clone(),
                who_can_apply: s.who_can_apply.clone(),
                requirements: serde_json::to_string(&s.requirements)?,
                legal_term_days: s.legal_term_days,
                min_auth_level: s.min_auth_level,
                needs_appointment: s.needs_appointment,
                needs_payment: s.needs_payment,
                published: s.published,
            };
            let existing: Option<(i64, ServiceRow)> = services::table
                .filter(services::ente_id.eq(ente_id))
                .filter(services::slug.eq(&s.slug))
                .select((services::id, ServiceRow::as_select()))
                .first(conn)
                .optional()?;
            let service_id = match existing {
                None => {
                    report.count(Change::Created);
                    diesel::insert_into(services::table)
                        .values((
                            services::ente_id.eq(ente_id),
                            services::slug.eq(&s.slug),
                            &row,
                            services::created_at.eq(ts),
                            services::updated_at.eq(ts),
                        ))
                        .returning(services::id)
                        .get_result(conn)?
                }
                Some((id, current)) => {
                    report.count(if current == row {
                        Change::Unchanged
                    } else {
                        diesel::update(services::table.find(id))
                            .set((&row, services::updated_at.eq(ts)))
                            .execute(conn)?;
                        Change::Updated
                    });
                    id
                }
            };
            if let Some(form) = form {
                report.count(load_form(conn, ente_id, service_id, form, ts)?);
            }
        }
        tracing::info!(ente = %code, %report, "bundle loaded");
        Ok(report)
    }
}

/// A new form version when the definition differs from the latest one (instances keep the
/// version they were filled with, so versions are never edited).
fn load_form(
    conn: &mut DbConn,
    ente_id: i64,
    service_id: i64,
    form: &FormDefinition,
    ts: chrono::NaiveDateTime,
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

/// The service columns a bundle decides.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = services)]
struct ServiceRow {
    category_id: i64,
    office_id: i64,
    title: String,
    summary: String,
    description: String,
    who_can_apply: String,
    requirements: String,
    legal_term_days: i32,
    min_auth_level: i32,
    needs_appointment: bool,
    needs_payment: bool,
    published: bool,
    routing: String,
}
