//! The database catalog (tables, columns, keys) and untyped row access, for the open export
//! and import (`src/export/`). SQLite answers from `sqlite_master` and its pragmas,
//! PostgreSQL from `information_schema` and `pg_catalog`; both give the same description of
//! the same migrations, so code above this module never names a table.
//!
//! Table and column names are taken from the catalog and checked to be plain identifiers
//! (`[A-Za-z0-9_]`) before they are quoted into SQL; values always go in as bind parameters.

use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::sql_types::{BigInt, Binary, Bool, Date, Double, Integer, Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;
use diesel::{QueryResult, QueryableByName, RunQueryDsl};

use super::DbConn;

/// The column types the export knows, from the declared type on either backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Integer,
    Number,
    Boolean,
    Timestamp,
    Date,
    Json,
    Text,
    Blob,
}

impl ColumnType {
    /// Maps a declared type (`BIGINT`, `timestamp without time zone`, `jsonb`...) to its kind.
    pub fn from_declared(declared: &str) -> Self {
        let d = declared.to_ascii_lowercase();
        if d.contains("int") || d.contains("serial") {
            Self::Integer
        } else if d.starts_with("bool") {
            Self::Boolean
        } else if d.starts_with("timestamp") || d.starts_with("datetime") {
            Self::Timestamp
        } else if d == "date" {
            Self::Date
        } else if d.starts_with("json") {
            Self::Json
        } else if d.contains("real")
            || d.contains("double")
            || d.contains("float")
            || d.contains("numeric")
            || d.contains("decimal")
        {
            Self::Number
        } else if d == "blob" || d == "bytea" {
            Self::Blob
        } else {
            Self::Text
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
    pub not_null: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    pub columns: Vec<String>,
    pub ref_table: String,
    pub ref_columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// In declaration order.
    pub columns: Vec<Column>,
    pub primary_key: Vec<String>,
    /// Sorted by their columns, so both backends list them alike.
    pub foreign_keys: Vec<ForeignKey>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A value to insert, typed for its bind parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null(ColumnType),
    Integer(i64),
    Number(f64),
    Boolean(bool),
    Timestamp(chrono::NaiveDateTime),
    Date(chrono::NaiveDate),
    /// Text, and JSON text (cast to `json` on PostgreSQL).
    Text(String),
    Blob(Vec<u8>),
}

/// `name` as a quoted identifier, refusing anything but `[A-Za-z0-9_]`.
pub fn quote_ident(name: &str) -> QueryResult<String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(format!("\"{name}\""))
    } else {
        Err(diesel::result::Error::QueryBuilderError(
            format!("unexpected identifier in the catalog: {name:?}").into(),
        ))
    }
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    declared: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct ForeignKeyRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    ref_table: String,
    #[diesel(sql_type = Text)]
    col: String,
    #[diesel(sql_type = Nullable<Text>)]
    ref_col: Option<String>,
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    row: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn literal(name: &str) -> QueryResult<String> {
    quote_ident(name).map(|_| format!("'{name}'"))
}

/// Every table of the database (including bookkeeping such as the migrations table), sorted
/// by name.
pub fn tables(conn: &mut DbConn) -> QueryResult<Vec<Table>> {
    let names: Vec<NameRow> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             ORDER BY name",
        )
        .load(c)?,
        DbConn::Postgres(c) => diesel::sql_query(
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             ORDER BY 1",
        )
        .load(c)?,
    };
    let mut out = Vec::with_capacity(names.len());
    for NameRow { name } in names {
        let lit = literal(&name)?;
        let (columns, pk, fks): (Vec<ColumnRow>, Vec<NameRow>, Vec<ForeignKeyRow>) = match conn {
            DbConn::Sqlite(c) => {
                let columns: Vec<ColumnRow> = diesel::sql_query(format!(
                    "SELECT name, type AS declared, \"notnull\" AS not_null, pk \
                         FROM pragma_table_info({lit}) ORDER BY cid"
                ))
                .load(c)?;
                let mut keyed: Vec<&ColumnRow> = columns.iter().filter(|c| c.pk > 0).collect();
                keyed.sort_by_key(|c| c.pk);
                let pk = keyed
                    .into_iter()
                    .map(|c| NameRow {
                        name: c.name.clone(),
                    })
                    .collect();
                let fks = diesel::sql_query(format!(
                    "SELECT CAST(id AS TEXT) AS id, \"table\" AS ref_table, \"from\" AS col, \
                         \"to\" AS ref_col FROM pragma_foreign_key_list({lit}) ORDER BY id, seq"
                ))
                .load(c)?;
                (columns, pk, fks)
            }
            DbConn::Postgres(c) => {
                let columns = diesel::sql_query(format!(
                        "SELECT CAST(column_name AS TEXT) AS name, CAST(data_type AS TEXT) AS declared, \
                         CASE WHEN is_nullable = 'NO' THEN 1 ELSE 0 END AS not_null, 0 AS pk \
                         FROM information_schema.columns \
                         WHERE table_schema = current_schema() AND table_name = {lit} \
                         ORDER BY ordinal_position"
                    ))
                    .load(c)?;
                let pk = diesel::sql_query(format!(
                        "SELECT CAST(a.attname AS TEXT) AS name FROM pg_index i \
                         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                         WHERE i.indrelid = CAST({lit} AS regclass) AND i.indisprimary \
                         ORDER BY array_position(CAST(i.indkey AS int2[]), a.attnum)"
                    ))
                    .load(c)?;
                let fks = diesel::sql_query(format!(
                        "SELECT CAST(con.conname AS TEXT) AS id, CAST(cf.relname AS TEXT) AS ref_table, \
                         CAST(a.attname AS TEXT) AS col, CAST(af.attname AS TEXT) AS ref_col \
                         FROM pg_constraint con \
                         JOIN pg_class cl ON cl.oid = con.conrelid \
                         JOIN pg_namespace ns ON ns.oid = cl.relnamespace \
                         JOIN pg_class cf ON cf.oid = con.confrelid \
                         CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(att, fatt, n) \
                         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.att \
                         JOIN pg_attribute af ON af.attrelid = con.confrelid AND af.attnum = k.fatt \
                         WHERE con.contype = 'f' AND ns.nspname = current_schema() AND cl.relname = {lit} \
                         ORDER BY con.conname, k.n"
                    ))
                    .load(c)?;
                (columns, pk, fks)
            }
        };
        let columns: Vec<Column> = columns
            .into_iter()
            .map(|c| Column {
                ty: ColumnType::from_declared(&c.declared),
                // SQLite lets a primary-key column be NULL unless declared otherwise; the
                // data never is.
                not_null: c.not_null != 0 || c.pk > 0,
                name: c.name,
            })
            .collect();
        let mut foreign_keys: Vec<ForeignKey> = Vec::new();
        let mut current: Option<String> = None;
        for fk in fks {
            if current.as_deref() != Some(fk.id.as_str()) {
                current = Some(fk.id.clone());
                foreign_keys.push(ForeignKey {
                    columns: Vec::new(),
                    ref_table: fk.ref_table.clone(),
                    ref_columns: Vec::new(),
                });
            }
            let last = foreign_keys.last_mut().expect("pushed above");
            last.columns.push(fk.col);
            // SQLite leaves `to` empty when the parent's primary key is meant.
            last.ref_columns.push(
                fk.ref_col
                    .filter(|c| !c.is_empty())
                    .unwrap_or_else(|| "id".into()),
            );
        }
        foreign_keys.sort_by(|a, b| (&a.columns, &a.ref_table).cmp(&(&b.columns, &b.ref_table)));
        foreign_keys.dedup();
        out.push(Table {
            name,
            columns,
            primary_key: pk.into_iter().map(|n| n.name).collect(),
            foreign_keys,
        });
    }
    Ok(out)
}

/// The rows of `table` matching `filter` (SQL over the table's columns, no parameters),
/// ordered by primary key (byte order for text), `limit` from `offset`. Each row is a JSON
/// array in column order: numbers, strings, booleans (PostgreSQL) or 0/1 (SQLite), null;
/// JSON columns as their stored text, blobs as lowercase hex.
pub fn select_rows(
    conn: &mut DbConn,
    table: &Table,
    filter: &str,
    limit: i64,
    offset: i64,
) -> QueryResult<Vec<Vec<serde_json::Value>>> {
    let sqlite = matches!(conn, DbConn::Sqlite(_));
    let mut exprs = Vec::with_capacity(table.columns.len());
    for c in &table.columns {
        let q = quote_ident(&c.name)?;
        exprs.push(match (c.ty, sqlite) {
            (ColumnType::Blob, true) => format!("lower(hex({q}))"),
            (ColumnType::Blob, false) => format!("encode({q}, 'hex')"),
            (ColumnType::Json, false) => format!("CAST({q} AS TEXT)"),
            _ => q,
        });
    }
    let order_cols: Vec<&Column> = if table.primary_key.is_empty() {
        table.columns.iter().collect()
    } else {
        table
            .primary_key
            .iter()
            .filter_map(|k| table.column(k))
            .collect()
    };
    let mut order = Vec::new();
    for c in order_cols {
        let q = quote_ident(&c.name)?;
        order.push(if !sqlite && c.ty == ColumnType::Text {
            format!("{q} COLLATE \"C\"")
        } else {
            q
        });
    }
    let name = quote_ident(&table.name)?;
    let array = if sqlite {
        "json_array"
    } else {
        "json_build_array"
    };
    let sql = format!(
        "SELECT CAST({array}({}) AS TEXT) AS row FROM {name} WHERE {filter} ORDER BY {} \
         LIMIT {limit} OFFSET {offset}",
        exprs.join(", "),
        order.join(", ")
    );
    let rows: Vec<JsonRow> = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).load(c)?,
        DbConn::Postgres(c) => diesel::sql_query(sql).load(c)?,
    };
    rows.into_iter()
        .map(|r| {
            serde_json::from_str::<Vec<serde_json::Value>>(&r.row).map_err(|e| {
                diesel::result::Error::DeserializationError(
                    format!("row of {}: {e}", table.name).into(),
                )
            })
        })
        .collect()
}

/// How many rows `table` holds, optionally only those matching `filter`.
pub fn count_rows(conn: &mut DbConn, table: &str, filter: Option<&str>) -> QueryResult<i64> {
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {} WHERE {}",
        quote_ident(table)?,
        filter.unwrap_or("1 = 1")
    );
    let row: CountRow = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(sql).get_result(c)?,
        DbConn::Postgres(c) => diesel::sql_query(sql).get_result(c)?,
    };
    Ok(row.n)
}

macro_rules! bind_cells {
    ($query:expr, $cells:expr) => {{
        let mut q = $query;
        for cell in $cells {
            q = match cell {
                Cell::Null(ColumnType::Integer) => q.bind::<Nullable<BigInt>, _>(None::<i64>),
                Cell::Null(ColumnType::Number) => q.bind::<Nullable<Double>, _>(None::<f64>),
                Cell::Null(ColumnType::Boolean) => q.bind::<Nullable<Bool>, _>(None::<bool>),
                Cell::Null(ColumnType::Timestamp) => {
                    q.bind::<Nullable<Timestamp>, _>(None::<chrono::NaiveDateTime>)
                }
                Cell::Null(ColumnType::Date) => {
                    q.bind::<Nullable<Date>, _>(None::<chrono::NaiveDate>)
                }
                Cell::Null(ColumnType::Blob) => q.bind::<Nullable<Binary>, _>(None::<Vec<u8>>),
                Cell::Null(_) => q.bind::<Nullable<Text>, _>(None::<String>),
                Cell::Integer(v) => q.bind::<BigInt, _>(*v),
                Cell::Number(v) => q.bind::<Double, _>(*v),
                Cell::Boolean(v) => q.bind::<Bool, _>(*v),
                Cell::Timestamp(v) => q.bind::<Timestamp, _>(*v),
                Cell::Date(v) => q.bind::<Date, _>(*v),
                Cell::Text(v) => q.bind::<Text, _>(v.clone()),
                Cell::Blob(v) => q.bind::<Binary, _>(v.clone()),
            };
        }
        q
    }};
}

/// Inserts one row: `cells` in the order of `columns`.
pub fn insert_row(
    conn: &mut DbConn,
    table: &Table,
    columns: &[&Column],
    cells: &[Cell],
) -> QueryResult<()> {
    let sqlite = matches!(conn, DbConn::Sqlite(_));
    let mut names = Vec::with_capacity(columns.len());
    let mut params = Vec::with_capacity(columns.len());
    for (i, c) in columns.iter().enumerate() {
        names.push(quote_ident(&c.name)?);
        params.push(match (sqlite, c.ty) {
            (true, _) => "?".to_owned(),
            (false, ColumnType::Json) => format!("CAST(${} AS JSON)", i + 1),
            (false, _) => format!("${}", i + 1),
        });
    }
    let sql = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote_ident(&table.name)?,
        names.join(", "),
        params.join(", ")
    );
    match conn {
        DbConn::Sqlite(c) => {
            bind_cells!(diesel::sql_query(sql).into_boxed::<Sqlite>(), cells).execute(c)?
        }
        DbConn::Postgres(c) => {
            bind_cells!(diesel::sql_query(sql).into_boxed::<Pg>(), cells).execute(c)?
        }
    };
    Ok(())
}

/// On PostgreSQL, moves the identity/serial sequence of each single integer primary key past
/// the largest id in the table (after rows were inserted with explicit ids). SQLite needs
/// nothing: its rowid continues from the largest value.
pub fn advance_sequences(conn: &mut DbConn, table: &Table) -> QueryResult<()> {
    let DbConn::Postgres(c) = conn else {
        return Ok(());
    };
    let [pk] = table.primary_key.as_slice() else {
        return Ok(());
    };
    if table.column(pk).map(|c| c.ty) != Some(ColumnType::Integer) {
        return Ok(());
    }
    let t = quote_ident(&table.name)?;
    let k = quote_ident(pk)?;
    let (tl, kl) = (literal(&table.name)?, literal(pk)?);
    c.batch_execute(&format!(
        "SELECT setval(pg_get_serial_sequence({tl}, {kl}), \
         COALESCE((SELECT MAX({k}) FROM {t}), 1), (SELECT MAX({k}) FROM {t}) IS NOT NULL) \
         WHERE pg_get_serial_sequence({tl}, {kl}) IS NOT NULL"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_of_both_backends_map_alike() {
        for (declared, ty) in [
            ("BIGINT", ColumnType::Integer),
            ("bigint", ColumnType::Integer),
            ("INTEGER", ColumnType::Integer),
            ("BOOLEAN", ColumnType::Boolean),
            ("boolean", ColumnType::Boolean),
            ("TIMESTAMP", ColumnType::Timestamp),
            ("timestamp without time zone", ColumnType::Timestamp),
            ("DATE", ColumnType::Date),
            ("JSON", ColumnType::Json),
            ("jsonb", ColumnType::Json),
            ("TEXT", ColumnType::Text),
            ("text", ColumnType::Text),
            ("double precision", ColumnType::Number),
            ("BLOB", ColumnType::Blob),
            ("bytea", ColumnType::Blob),
        ] {
            assert_eq!(ColumnType::from_declared(declared), ty, "{declared}");
        }
    }

    #[test]
    fn identifiers_are_checked_before_quoting() {
        assert_eq!(quote_ident("ente_id").unwrap(), "\"ente_id\"");
        assert!(quote_ident("a\"; DROP TABLE x; --").is_err());
        assert!(quote_ident("").is_err());
    }
}
