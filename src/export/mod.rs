//! The open export of one ente and its import into an empty database (docs/export.md).
//!
//! Tables and columns come from the database catalog ([`crate::db::catalog`]), so a table
//! added by a later migration is exported with no change here, as long as [`reach`] can tell
//! how its rows belong to an ente: the `enti` row itself, an `ente_id` column, or a foreign
//! key to a table that reaches the ente. Tables that belong to no ente are listed in
//! [`EXCLUDED`] with the reason; a table that is neither makes the export fail (and the
//! coverage test with it).
//!
//! Values are written in one canonical text form, so the same data gives byte-identical CSV
//! on SQLite and PostgreSQL (see [`canonical`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use sha2::{Digest, Sha256};

use crate::db::catalog::{self, Cell, Column, ColumnType, Table};
use crate::db::{self, DbConn};
use crate::storage::BlobStore;

mod archive;
pub use self::archive::export_zip;

/// Tables that hold no ente's data, with the reason they are left out.
pub const EXCLUDED: &[(&str, &str)] = &[
    (
        "__diesel_schema_migrations",
        "migration bookkeeping of the installation",
    ),
    (
        "job_leases",
        "leases of the background jobs of the installation",
    ),
    (
        "sessions",
        "login sessions: short-lived, bound to this installation's keys",
    ),
    ("spid_sessions", "login sessions (SPID part)"),
    ("cie_sessions", "login sessions (CIE part)"),
    ("spid_authn_requests", "SPID logins in progress (minutes)"),
    ("spid_logout_requests", "SPID logouts in progress (minutes)"),
    (
        "spid_assertions",
        "SPID assertion replay cache, shared by all enti",
    ),
    (
        "oidc_authorizations",
        "CIE/OIDC logins in progress (minutes)",
    ),
];

/// The list of attachment files (path, SHA-256, size, referencing row). A hyphen, which no
/// table name has, keeps it apart from the tables' resources.
pub const BLOBS_FILE: &str = "attachment-files.csv";
const BLOBS_RESOURCE: &str = "attachment-files";

/// Rows read from the database per query.
const BATCH: i64 = 1000;
/// The timestamp form of every exported datetime: RFC 3339, UTC, microseconds.
pub const TIMESTAMP_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";
/// The same, as a Python `strptime` pattern for the Data Package.
const TIMESTAMP_PATTERN: &str = "%Y-%m-%dT%H:%M:%S.%fZ";

/// How the rows of a table belong to an ente.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// The `enti` table: the row whose primary key is the ente's id.
    Ente,
    /// An `ente_id` column.
    Column,
    /// Foreign keys (column, parent table, parent column) to tables that reach the ente;
    /// a row belongs to the ente when any of them points at one of its rows.
    Parents(Vec<(String, String, String)>),
    /// Not exported (see [`EXCLUDED`]).
    Excluded(&'static str),
}

/// How every table reaches its ente, or the tables for which no rule applies.
pub fn reach(tables: &[Table]) -> Result<BTreeMap<String, Reach>, Vec<String>> {
    let by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), t)).collect();
    let mut known: BTreeMap<String, Option<Reach>> = BTreeMap::new();
    fn resolve(
        name: &str,
        by_name: &BTreeMap<&str, &Table>,
        known: &mut BTreeMap<String, Option<Reach>>,
        visiting: &mut BTreeSet<String>,
    ) -> Option<Reach> {
        if let Some(r) = known.get(name) {
            return r.clone();
        }
        if let Some((_, why)) = EXCLUDED.iter().find(|(t, _)| *t == name) {
            return Some(Reach::Excluded(why));
        }
        let table = by_name.get(name)?;
        let found = if name == "enti" {
            Some(Reach::Ente)
        } else if table.column("ente_id").is_some() {
            Some(Reach::Column)
        } else {
            visiting.insert(name.to_owned());
            let mut parents = Vec::new();
            for fk in &table.foreign_keys {
                if fk.columns.len() != 1 || visiting.contains(&fk.ref_table) {
                    continue;
                }
                match resolve(&fk.ref_table, by_name, known, visiting) {
                    Some(Reach::Excluded(_)) | None => {}
                    Some(_) => parents.push((
                        fk.columns[0].clone(),
                        fk.ref_table.clone(),
                        fk.ref_columns[0].clone(),
                    )),
                }
            }
            visiting.remove(name);
            (!parents.is_empty()).then_some(Reach::Parents(parents))
        };
        known.insert(name.to_owned(), found.clone());
        found
    }
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for t in tables {
        match resolve(&t.name, &by_name, &mut known, &mut BTreeSet::new()) {
            Some(r) => {
                out.insert(t.name.clone(), r);
            }
            None => missing.push(t.name.clone()),
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// The SQL condition selecting the rows of `table` that belong to ente `ente_id`.
fn filter(
    table: &str,
    reaches: &BTreeMap<String, Reach>,
    by_name: &BTreeMap<&str, &Table>,
    ente_id: i64,
) -> anyhow::Result<String> {
    Ok(match &reaches[table] {
        Reach::Ente => {
            let pk = by_name[table]
                .primary_key
                .first()
                .ok_or_else(|| anyhow!("{table} has no primary key"))?;
            format!("{} = {ente_id}", catalog::quote_ident(pk)?)
        }
        Reach::Column => format!("\"ente_id\" = {ente_id}"),
        Reach::Parents(parents) => {
            let mut any = Vec::new();
            for (col, parent, parent_col) in parents {
                any.push(format!(
                    "{} IN (SELECT {} FROM {} WHERE {})",
                    catalog::quote_ident(col)?,
                    catalog::quote_ident(parent_col)?,
                    catalog::quote_ident(parent)?,
                    filter(parent, reaches, by_name, ente_id)?
                ));
            }
            format!("({})", any.join(" OR "))
        }
        Reach::Excluded(_) => bail!("{table} is not exported"),
    })
}

/// The exported tables in an order where every parent comes before its children (so the
/// import can insert them with foreign keys enforced); ties by name.
fn foreign_key_order<'a>(tables: &[&'a Table]) -> anyhow::Result<Vec<&'a Table>> {
    let names: BTreeSet<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::with_capacity(tables.len());
    while out.len() < tables.len() {
        let ready: Vec<&'a Table> = tables
            .iter()
            .filter(|t| !done.contains(t.name.as_str()))
            .filter(|t| {
                t.foreign_keys.iter().all(|fk| {
                    fk.ref_table == t.name
                        || !names.contains(fk.ref_table.as_str())
                        || done.contains(fk.ref_table.as_str())
                })
            })
            .copied()
            .collect();
        if ready.is_empty() {
            bail!("the foreign keys between the exported tables form a cycle");
        }
        for t in ready {
            done.insert(&t.name);
            out.push(t);
        }
    }
    Ok(out)
}

/// The canonical text of one value read by [`catalog::select_rows`]; `None` is NULL.
pub fn canonical(ty: ColumnType, value: &serde_json::Value) -> anyhow::Result<Option<String>> {
    use serde_json::Value as J;
    Ok(Some(match (ty, value) {
        (_, J::Null) => return Ok(None),
        (ColumnType::Boolean, J::Bool(b)) => b.to_string(),
        (ColumnType::Boolean, J::Number(n)) => (n.as_i64() != Some(0)).to_string(),
        (ColumnType::Integer, J::Number(n)) => n
            .as_i64()
            .ok_or_else(|| anyhow!("integer out of range: {n}"))?
            .to_string(),
        (ColumnType::Number, J::Number(n)) => n
            .as_f64()
            .ok_or_else(|| anyhow!("bad number {n}"))?
            .to_string(),
        (ColumnType::Timestamp, J::String(s)) => {
            parse_timestamp(s)?.format(TIMESTAMP_FORMAT).to_string()
        }
        (ColumnType::Date, J::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .with_context(|| format!("not a date: {s}"))?
            .to_string(),
        (ColumnType::Text | ColumnType::Json | ColumnType::Blob, J::String(s)) => s.clone(),
        (ty, other) => bail!("unexpected value {other} for a {ty:?} column"),
    }))
}

/// A stored or exported timestamp: SQLite's `YYYY-MM-DD HH:MM:SS[.f]`, PostgreSQL's JSON
/// `YYYY-MM-DDTHH:MM:SS[.f]`, or the canonical RFC 3339 UTC form.
fn parse_timestamp(s: &str) -> anyhow::Result<chrono::NaiveDateTime> {
    let trimmed = s.strip_suffix('Z').unwrap_or(s).replacen(' ', "T", 1);
    chrono::NaiveDateTime::parse_from_str(&trimmed, "%Y-%m-%dT%H:%M:%S%.f")
        .with_context(|| format!("not a timestamp: {s}"))
}

/// One exported CSV field back into a value for `column`.
pub fn parse_field(column: &Column, field: &str) -> anyhow::Result<Cell> {
    if field.is_empty() && (!column.not_null || column.ty != ColumnType::Text) {
        return Ok(Cell::Null(column.ty));
    }
    let name = &column.name;
    Ok(match column.ty {
        ColumnType::Integer => Cell::Integer(
            field
                .parse()
                .with_context(|| format!("{name}: not an integer: {field}"))?,
        ),
        ColumnType::Number => Cell::Number(
            field
                .parse()
                .with_context(|| format!("{name}: not a number: {field}"))?,
        ),
        ColumnType::Boolean => match field {
            "true" => Cell::Boolean(true),
            "false" => Cell::Boolean(false),
            _ => bail!("{name}: not true/false: {field}"),
        },
        ColumnType::Timestamp => Cell::Timestamp(parse_timestamp(field)?),
        ColumnType::Date => Cell::Date(
            chrono::NaiveDate::parse_from_str(field, "%Y-%m-%d")
                .with_context(|| format!("{name}: not a date: {field}"))?,
        ),
        ColumnType::Blob => {
            Cell::Blob(hex_decode(field).with_context(|| format!("{name}: not hex"))?)
        }
        ColumnType::Json | ColumnType::Text => Cell::Text(field.to_owned()),
    })
}

fn hex_decode(s: &str) -> anyhow::Result<Vec<u8>> {
    if s.len() % 2 != 0 {
        bail!("odd length");
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(Into::into))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A Table Schema field type for a column kind.
fn field(column: &Column) -> serde_json::Value {
    let mut f = serde_json::json!({ "name": column.name });
    match column.ty {
        ColumnType::Integer => f["type"] = "integer".into(),
        ColumnType::Number => f["type"] = "number".into(),
        ColumnType::Boolean => {
            f["type"] = "boolean".into();
            f["trueValues"] = serde_json::json!(["true"]);
            f["falseValues"] = serde_json::json!(["false"]);
        }
        ColumnType::Timestamp => {
            f["type"] = "datetime".into();
            f["format"] = TIMESTAMP_PATTERN.into();
        }
        ColumnType::Date => f["type"] = "date".into(),
        ColumnType::Json => {
            f["type"] = "string".into();
            f["description"] = "JSON text, as stored".into();
        }
        ColumnType::Blob => {
            f["type"] = "string".into();
            f["description"] = "bytes as lowercase hexadecimal".into();
        }
        ColumnType::Text => f["type"] = "string".into(),
    }
    // A NOT NULL text column may hold the empty string, which the CSV cannot tell from NULL
    // (docs/export.md); only the other NOT NULL columns are declared required.
    if column.not_null && column.ty != ColumnType::Text {
        f["constraints"] = serde_json::json!({ "required": true });
    }
    f
}

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub tables: usize,
    pub rows: u64,
    pub attachments: usize,
}

impl std::fmt::Display for ExportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} tables, {} rows, {} attachments",
            self.tables, self.rows, self.attachments
        )
    }
}

/// Progress of a long export or import: called with (done, total) rows.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// The exported tables of the database, in foreign-key order, with how each reaches its ente.
pub fn plan(conn: &mut DbConn) -> anyhow::Result<(Vec<Table>, BTreeMap<String, Reach>)> {
    let tables = catalog::tables(conn)?;
    let reaches = reach(&tables).map_err(|missing| {
        anyhow!(
            "no rule tells how these tables reach their ente: {} (give them an ente_id \
             column or a foreign key to a table that has one, or list them in \
             export::EXCLUDED)",
            missing.join(", ")
        )
    })?;
    let exported: Vec<&Table> = tables
        .iter()
        .filter(|t| !matches!(reaches[&t.name], Reach::Excluded(_)))
        .collect();
    let ordered: Vec<Table> = foreign_key_order(&exported)?.into_iter().cloned().collect();
    Ok((ordered, reaches))
}

/// Writes everything of ente `code` under `out` (created; must be empty or missing), read
/// from one consistent snapshot of the database.
pub fn export_ente(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    code: &str,
    out: &Path,
    progress: Progress<'_>,
) -> anyhow::Result<ExportReport> {
    db::read_snapshot(conn, |conn| {
        export_in_snapshot(conn, store, code, out, progress)
    })
}

/// Records in the ente's audit log that `actor` exported it (`via`: `cli` or `api`).
pub fn record_export(
    conn: &mut DbConn,
    code: &str,
    actor: crate::audit::Actor,
    report: &ExportReport,
    via: &str,
) -> anyhow::Result<()> {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    let ente_id: i64 = crate::db::schema::enti::table
        .filter(crate::db::schema::enti::code.eq(code))
        .select(crate::db::schema::enti::id)
        .first(conn)?;
    crate::audit::record(
        conn,
        crate::audit::Entry::new(
            ente_id,
            actor,
            crate::audit::Action::Export,
            "ente",
            code.to_owned(),
        )
        .with(serde_json::json!({
            "via": via,
            "tables": report.tables,
            "rows": report.rows,
            "attachments": report.attachments,
        })),
    )?;
    Ok(())
}

fn export_in_snapshot(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    code: &str,
    out: &Path,
    progress: Progress<'_>,
) -> anyhow::Result<ExportReport> {
    use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, RunQueryDsl};
    let ente_id: i64 = crate::db::schema::enti::table
        .filter(crate::db::schema::enti::code.eq(code))
        .select(crate::db::schema::enti::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| anyhow!("no ente with code {code}"))?;
    if out.exists() && fs::read_dir(out)?.next().is_some() {
        bail!("{} is not empty", out.display());
    }
    fs::create_dir_all(out.join("attachments"))
        .with_context(|| format!("cannot create {}", out.display()))?;
    let (tables, reaches) = plan(conn)?;
    let by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), t)).collect();
    let exported: BTreeSet<&str> = by_name.keys().copied().collect();

    let mut filters = Vec::new();
    let mut total = 0u64;
    for t in &tables {
        let f = filter(&t.name, &reaches, &by_name, ente_id)?;
        total += catalog::count_rows(conn, &t.name, Some(&f))? as u64;
        filters.push(f);
    }

    let mut report = ExportReport::default();
    let mut resources = Vec::new();
    let mut blobs = csv::Writer::from_path(out.join(BLOBS_FILE))?;
    blobs.write_record(["path", "sha256", "size", "table", "row"])?;
    let mut written_blobs: BTreeSet<String> = BTreeSet::new();
    for (t, f) in tables.iter().zip(&filters) {
        let file = format!("{}.csv", t.name);
        let mut w = csv::Writer::from_path(out.join(&file))?;
        w.write_record(t.columns.iter().map(|c| c.name.as_str()))?;
        let key_col = t.columns.iter().position(|c| c.name == "storage_key");
        let pk_cols: Vec<usize> = t
            .primary_key
            .iter()
            .filter_map(|k| t.columns.iter().position(|c| &c.name == k))
            .collect();
        let mut offset = 0;
        loop {
            let rows = catalog::select_rows(conn, t, f, BATCH, offset)?;
            for row in &rows {
                let values = t
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(c, v)| {
                        canonical(c.ty, v).with_context(|| format!("{}.{}", t.name, c.name))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                w.write_record(values.iter().map(|v| v.as_deref().unwrap_or("")))?;
                if let Some(Some(key)) = key_col.map(|i| &values[i]) {
                    let bytes = store
                        .get(key)
                        .with_context(|| format!("attachment {key} of {}", t.name))?;
                    let path = format!("attachments/{key}");
                    if written_blobs.insert(key.clone()) {
                        let target = out.join(&path);
                        if let Some(dir) = target.parent() {
                            fs::create_dir_all(dir)?;
                        }
                        fs::File::create(&target)?.write_all(&bytes)?;
                        report.attachments += 1;
                    }
                    let row_key: Vec<&str> = pk_cols
                        .iter()
                        .map(|&i| values[i].as_deref().unwrap_or(""))
                        .collect();
                    blobs.write_record([
                        path.as_str(),
                        &hex(&Sha256::digest(&bytes)),
                        &bytes.len().to_string(),
                        &t.name,
                        &row_key.join("/"),
                    ])?;
                }
                report.rows += 1;
            }
            progress(report.rows, total);
            if (rows.len() as i64) < BATCH {
                break;
            }
            offset += BATCH;
        }
        w.flush()?;
        report.tables += 1;
        let foreign_keys: Vec<serde_json::Value> = t
            .foreign_keys
            .iter()
            .filter(|fk| exported.contains(fk.ref_table.as_str()))
            .map(|fk| {
                serde_json::json!({
                    "fields": fk.columns,
                    "reference": { "resource": fk.ref_table, "fields": fk.ref_columns },
                })
            })
            .collect();
        let mut schema = serde_json::json!({
            "fields": t.columns.iter().map(field).collect::<Vec<_>>(),
            "missingValues": [""],
        });
        if !t.primary_key.is_empty() {
            schema["primaryKey"] = serde_json::json!(t.primary_key);
        }
        if !foreign_keys.is_empty() {
            schema["foreignKeys"] = foreign_keys.into();
        }
        resources.push(resource(&t.name, &file, schema));
    }
    blobs.flush()?;
    resources.push(resource(
        BLOBS_RESOURCE,
        BLOBS_FILE,
        serde_json::json!({
            "fields": [
                { "name": "path", "type": "string", "constraints": { "required": true } },
                { "name": "sha256", "type": "string", "constraints": { "required": true, "pattern": "[0-9a-f]{64}" } },
                { "name": "size", "type": "integer", "constraints": { "required": true, "minimum": 0 } },
                { "name": "table", "type": "string", "constraints": { "required": true } },
                { "name": "row", "type": "string", "description": "primary key of the referencing row, parts joined by /" },
            ],
            "missingValues": [""],
        }),
    ));
    let package = serde_json::json!({
        "profile": "tabular-data-package",
        "name": format!("sportello-{}", code.to_ascii_lowercase()),
        "title": format!("Sportello: export of ente {code}"),
        "sportello": { "ente": code, "format": 1 },
        "resources": resources,
    });
    fs::write(
        out.join("datapackage.json"),
        serde_json::to_string_pretty(&package)? + "\n",
    )?;
    Ok(report)
}

fn resource(name: &str, path: &str, schema: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "profile": "tabular-data-resource",
        "name": name,
        "path": path,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": schema,
    })
}

/// Whether any exportable table of the database holds a row (the import needs none).
pub fn non_empty_tables(conn: &mut DbConn) -> anyhow::Result<Vec<String>> {
    let (tables, _) = plan(conn)?;
    let mut out = Vec::new();
    for t in &tables {
        if catalog::count_rows(conn, &t.name, None)? > 0 {
            out.push(t.name.clone());
        }
    }
    Ok(out)
}

/// Loads an export made by [`export_ente`] into an empty, migrated database: one
/// transaction, tables in foreign-key order, attachments verified against their SHA-256
/// before anything is written.
pub fn import_dir(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    dir: &Path,
    progress: Progress<'_>,
) -> anyhow::Result<ExportReport> {
    let package: serde_json::Value = serde_json::from_slice(
        &fs::read(dir.join("datapackage.json"))
            .with_context(|| format!("{} holds no datapackage.json", dir.display()))?,
    )?;
    let busy = non_empty_tables(conn)?;
    if !busy.is_empty() {
        bail!(
            "the database is not empty (rows in: {}); the import needs a new, migrated database",
            busy.join(", ")
        );
    }
    let (tables, _) = plan(conn)?;
    let by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), t)).collect();

    // The attachments first: every file present with its digest, nothing outside the dir.
    let mut blobs: Vec<(String, PathBuf)> = Vec::new();
    let mut r = csv::Reader::from_path(dir.join(BLOBS_FILE))?;
    let mut seen = BTreeSet::new();
    for rec in r.records() {
        let rec = rec?;
        let (path, digest) = (&rec[0], &rec[1]);
        let key = path
            .strip_prefix("attachments/")
            .filter(|k| k.split('/').all(|s| !s.is_empty() && s != "." && s != ".."))
            .ok_or_else(|| anyhow!("{BLOBS_FILE}: bad path {path}"))?;
        if !seen.insert(key.to_owned()) {
            continue;
        }
        let file = dir.join(path);
        let bytes = fs::read(&file).with_context(|| format!("missing {}", file.display()))?;
        if hex(&Sha256::digest(&bytes)) != digest {
            bail!("{path}: the SHA-256 does not match {BLOBS_FILE}");
        }
        blobs.push((key.to_owned(), file));
    }

    let mut names = Vec::new();
    for res in package["resources"].as_array().into_iter().flatten() {
        let name = res["name"].as_str().unwrap_or_default();
        if name == BLOBS_RESOURCE {
            continue;
        }
        if !by_name.contains_key(name) {
            bail!("the export holds table {name}, which this database does not have");
        }
        names.push(name.to_owned());
    }
    // The database's foreign-key order, not the file's, decides.
    let ordered: Vec<&Table> = tables.iter().filter(|t| names.contains(&t.name)).collect();
    let mut total = 0u64;
    for t in &ordered {
        total += csv::Reader::from_path(dir.join(format!("{}.csv", t.name)))?
            .records()
            .count() as u64;
    }
    let mut report = ExportReport::default();
    db::write_tx(conn, |conn| -> anyhow::Result<()> {
        for t in &ordered {
            let mut r = csv::Reader::from_path(dir.join(format!("{}.csv", t.name)))?;
            let columns: Vec<&Column> = r
                .headers()?
                .iter()
                .map(|h| {
                    t.column(h)
                        .ok_or_else(|| anyhow!("{}: unknown column {h}", t.name))
                })
                .collect::<anyhow::Result<_>>()?;
            for rec in r.records() {
                let rec = rec?;
                let cells = columns
                    .iter()
                    .zip(rec.iter())
                    .map(|(c, f)| parse_field(c, f).with_context(|| t.name.clone()))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                catalog::insert_row(conn, t, &columns, &cells)
                    .with_context(|| format!("inserting into {}", t.name))?;
                report.rows += 1;
                if report.rows % BATCH as u64 == 0 {
                    progress(report.rows, total);
                }
            }
            catalog::advance_sequences(conn, t)?;
            report.tables += 1;
        }
        for (key, file) in &blobs {
            store.put(key, &fs::read(file)?)?;
            report.attachments += 1;
        }
        Ok(())
    })?;
    progress(report.rows, total);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::catalog::ForeignKey;

    fn table(name: &str, cols: &[&str], fks: &[(&str, &str)]) -> Table {
        Table {
            name: name.into(),
            columns: cols
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    ty: ColumnType::Integer,
                    not_null: true,
                })
                .collect(),
            primary_key: vec!["id".into()],
            foreign_keys: fks
                .iter()
                .map(|(c, t)| ForeignKey {
                    columns: vec![(*c).into()],
                    ref_table: (*t).into(),
                    ref_columns: vec!["id".into()],
                })
                .collect(),
        }
    }

    #[test]
    fn tables_reach_their_ente_directly_through_parents_or_are_excluded() {
        let tables = vec![
            table("enti", &["id"], &[]),
            table("citizens", &["id", "ente_id"], &[("ente_id", "enti")]),
            table("calendars", &["id", "ente_id"], &[("ente_id", "enti")]),
            table(
                "slots",
                &["id", "calendar_id"],
                &[("calendar_id", "calendars")],
            ),
            table("holds", &["id", "slot_id"], &[("slot_id", "slots")]),
            table("job_leases", &["id"], &[]),
        ];
        let r = reach(&tables).unwrap();
        assert_eq!(r["enti"], Reach::Ente);
        assert_eq!(r["citizens"], Reach::Column);
        assert_eq!(
            r["holds"],
            Reach::Parents(vec![("slot_id".into(), "slots".into(), "id".into())])
        );
        assert!(matches!(r["job_leases"], Reach::Excluded(_)));
        let by_name: BTreeMap<&str, &Table> = tables.iter().map(|t| (t.name.as_str(), t)).collect();
        assert_eq!(
            filter("holds", &r, &by_name, 7).unwrap(),
            "(\"slot_id\" IN (SELECT \"id\" FROM \"slots\" WHERE (\"calendar_id\" IN \
             (SELECT \"id\" FROM \"calendars\" WHERE \"ente_id\" = 7))))"
        );
    }

    #[test]
    fn a_table_with_no_way_to_its_ente_is_reported() {
        let tables = vec![
            table("enti", &["id"], &[]),
            table("orphans", &["id"], &[]),
            table("children", &["id", "o"], &[("o", "orphans")]),
        ];
        assert_eq!(reach(&tables).unwrap_err(), vec!["orphans", "children"]);
    }

    #[test]
    fn parents_come_before_children() {
        let a = table("a", &["id", "b"], &[("b", "b")]);
        let b = table("b", &["id"], &[]);
        let c = table("c", &["id", "a"], &[("a", "a")]);
        let order: Vec<&str> = foreign_key_order(&[&c, &a, &b])
            .unwrap()
            .iter()
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(order, ["b", "a", "c"]);
    }

    #[test]
    fn values_have_one_canonical_text_on_both_backends() {
        use serde_json::json;
        let ts = "2026-12-03T14:05:06.120000Z";
        for (ty, value, text) in [
            (
                ColumnType::Timestamp,
                json!("2026-12-03 14:05:06.12"),
                Some(ts),
            ),
            (
                ColumnType::Timestamp,
                json!("2026-12-03T14:05:06.12"),
                Some(ts),
            ),
            (ColumnType::Timestamp, json!(ts), Some(ts)),
            (
                ColumnType::Timestamp,
                json!("2026-12-03 14:05:06"),
                Some("2026-12-03T14:05:06.000000Z"),
            ),
            (ColumnType::Boolean, json!(1), Some("true")),
            (ColumnType::Boolean, json!(false), Some("false")),
            (ColumnType::Integer, json!(-42), Some("-42")),
            (ColumnType::Date, json!("2026-01-02"), Some("2026-01-02")),
            (ColumnType::Json, json!("{\"a\": 1}"), Some("{\"a\": 1}")),
            (ColumnType::Text, json!(""), Some("")),
            (ColumnType::Text, json!(null), None),
        ] {
            assert_eq!(canonical(ty, &value).unwrap().as_deref(), text, "{value}");
        }
        assert!(canonical(ColumnType::Integer, &json!("x")).is_err());
    }

    #[test]
    fn fields_read_back_into_typed_values() {
        let col = |ty, not_null| Column {
            name: "c".into(),
            ty,
            not_null,
        };
        assert_eq!(
            parse_field(&col(ColumnType::Text, true), "").unwrap(),
            Cell::Text(String::new())
        );
        assert_eq!(
            parse_field(&col(ColumnType::Text, false), "").unwrap(),
            Cell::Null(ColumnType::Text)
        );
        assert_eq!(
            parse_field(&col(ColumnType::Boolean, true), "true").unwrap(),
            Cell::Boolean(true)
        );
        assert_eq!(
            parse_field(&col(ColumnType::Blob, true), "00ff").unwrap(),
            Cell::Blob(vec![0, 255])
        );
        assert!(parse_field(&col(ColumnType::Boolean, true), "1").is_err());
        let Cell::Timestamp(t) = parse_field(
            &col(ColumnType::Timestamp, true),
            "2026-12-03T14:05:06.000001Z",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            t.format(TIMESTAMP_FORMAT).to_string(),
            "2026-12-03T14:05:06.000001Z"
        );
    }
}
