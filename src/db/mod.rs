//! Database access: one codebase over SQLite (embedded default) and PostgreSQL.
//!
//! Only this module knows which backend is in use. Everything else receives a `&mut DbConn`
//! and writes backend-neutral diesel; the few statements that differ between backends are
//! written here. Blocking diesel calls never run on the actix worker threads: [`Db::run`]
//! moves them to the blocking pool and carries the caller's tracing span along.

pub mod catalog;
pub mod request;
pub mod schema;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::config::{DatabaseSettings, DbLocation};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to either backend. Queries written against it compile for both.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which database engine a deployment runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Opens connections of the configured backend and prepares each one (SQLite pragmas).
#[derive(Debug)]
pub struct Manager {
    location: DbLocation,
    busy_timeout_ms: u64,
    sqlite_synchronous: String,
}

impl ManageConnection for Manager {
    type Connection = DbConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConn, Self::Error> {
        match &self.location {
            DbLocation::Postgres(url) => PgConnection::establish(url.expose())
                .map(DbConn::Postgres)
                .map_err(diesel::r2d2::Error::ConnectionError),
            DbLocation::Sqlite(path) => {
                let path = path.to_string_lossy();
                let mut conn = SqliteConnection::establish(&path)
                    .map_err(diesel::r2d2::Error::ConnectionError)?;
                // WAL lets readers work while one writer commits; the busy timeout makes a
                // second writer wait instead of failing; foreign keys are off by default in
                // SQLite and must be switched on for every connection.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = {}; PRAGMA foreign_keys = ON;",
                    self.busy_timeout_ms, self.sqlite_synchronous
                ))
                .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConn) -> bool {
        conn.is_broken()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
    #[error("the database task was cancelled")]
    Cancelled,
}

impl DbError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Query(diesel::result::Error::NotFound))
    }
}

/// The shared handle to the database: a pool plus the backend it talks to.
#[derive(Clone)]
pub struct Db {
    pool: Pool<Manager>,
    backend: Backend,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Builds the pool. For SQLite the parent directory of the file is created, so a fresh
    /// checkout starts with no set-up. Fails fast if the database cannot be reached.
    pub fn connect(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        Self::build(settings, 1)
    }

    /// The pool of a one-off command (`sportello migrate`, `load`, `export`, …): it keeps no
    /// idle connection, so none is being opened in the background when the command ends and
    /// the process exits (an exit during a connection's set-up can crash inside the client
    /// library). Still fails fast if the database cannot be reached.
    pub fn connect_for_command(settings: &DatabaseSettings) -> anyhow::Result<Self> {
        use anyhow::Context;
        let db = Self::build(settings, 0)?;
        drop(db.get().context("cannot connect to the database")?);
        Ok(db)
    }

    fn build(settings: &DatabaseSettings, min_idle: u32) -> anyhow::Result<Self> {
        use anyhow::Context;
        let location = settings.location()?;
        if let DbLocation::Sqlite(path) = &location {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create directory {}", dir.display()))?;
            }
        }
        let backend = match &location {
            DbLocation::Sqlite(_) => Backend::Sqlite,
            DbLocation::Postgres(_) => Backend::Postgres,
        };
        let manager = Manager {
            location,
            busy_timeout_ms: settings.sqlite_busy_timeout_ms,
            sqlite_synchronous: settings.sqlite_synchronous.as_pragma().to_owned(),
        };
        let pool = Pool::builder()
            .max_size(settings.pool_size)
            .min_idle(Some(min_idle))
            .connection_timeout(Duration::from_secs(settings.connect_timeout_secs))
            .build(manager)
            .context("cannot connect to the database")?;
        Ok(Self { pool, backend })
    }

    /// The pool now: connections open, of which idle, and its largest size.
    pub fn pool_state(&self) -> (u32, u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections, self.pool.max_size())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for blocking code (CLI commands, start-up, workers' own threads).
    pub fn get(&self) -> Result<PooledConnection<Manager>, DbError> {
        Ok(self.pool.get()?)
    }

    /// Runs blocking diesel work on the blocking thread pool, inside the caller's span.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        // The request's address and id, for the audit entries the work may write.
        let audit = request::Context::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get().map_err(DbError::from)?;
            audit.enter(|| f(&mut conn))
        })
        .await
        .map_err(|_| E::from(DbError::Cancelled))?
    }

    /// Applies every migration not yet applied. Idempotent.
    pub fn migrate(&self) -> anyhow::Result<usize> {
        let mut conn = self.get()?;
        run_migrations(&mut conn)
    }

    /// True when the schema is up to date with the migrations embedded in this binary.
    pub fn migrations_current(&self) -> anyhow::Result<bool> {
        let mut conn = self.get()?;
        let pending = match &mut *conn {
            DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS),
            DbConn::Postgres(c) => c.has_pending_migration(POSTGRES_MIGRATIONS),
        }
        .map_err(|e| anyhow::anyhow!("cannot read the migration table: {e}"))?;
        Ok(!pending)
    }
}

fn run_migrations(conn: &mut DbConn) -> anyhow::Result<usize> {
    let applied = match conn {
        DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConn::Postgres(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    }
    .map_err(|e| anyhow::anyhow!("migration failed: {e}"))?;
    Ok(applied)
}

/// Serialises this process's SQLite write transactions (see [`write_tx`]). Other processes
/// on the same file are still kept in order by SQLite's lock and busy timeout.
static SQLITE_WRITER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A transaction for any read-then-write. On SQLite it opens with `BEGIN IMMEDIATE`, which
/// takes the write lock up front: a plain `BEGIN` that reads first fails with "database is
/// locked" when another writer commits in between. On PostgreSQL it is a normal transaction.
/// Inside an open transaction it nests as a savepoint.
pub fn write_tx<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let depth = <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map_err(E::from)?;
    if depth.is_some() {
        return conn.transaction(f);
    }
    // SQLite has one writer at a time. Waiting here, in order, is much cheaper than waiting
    // in SQLite's busy handler, which sleeps in growing steps (long tail latencies under load).
    let _writer = match conn {
        DbConn::Sqlite(c) => {
            let guard = SQLITE_WRITER.lock().unwrap_or_else(|p| p.into_inner());
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?;
            Some(guard)
        }
        DbConn::Postgres(c) => {
            AnsiTransactionManager::begin_transaction(c)?;
            None
        }
    };
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(user_error) => {
            match <DbConn as Connection>::TransactionManager::rollback_transaction(conn) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(user_error),
                Err(rollback_error) => Err(rollback_error.into()),
            }
        }
    }
}

/// A read-only transaction over one consistent snapshot (the open export: every table read
/// as of the same moment while the service keeps writing). PostgreSQL: `REPEATABLE READ
/// READ ONLY`; SQLite (WAL): a deferred transaction, whose snapshot is taken at its first
/// read and does not block writers. Inside an open transaction it nests as a savepoint.
pub fn read_snapshot<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let depth = <DbConn as Connection>::TransactionManager::transaction_manager_status_mut(conn)
        .transaction_depth()
        .map_err(E::from)?;
    if depth.is_some() {
        return conn.transaction(f);
    }
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN DEFERRED")?,
        DbConn::Postgres(c) => AnsiTransactionManager::begin_transaction_sql(
            c,
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        )?,
    }
    match f(conn) {
        Ok(value) => {
            <DbConn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(user_error) => {
            match <DbConn as Connection>::TransactionManager::rollback_transaction(conn) {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(user_error),
                Err(rollback_error) => Err(rollback_error.into()),
            }
        }
    }
}

/// The current time as stored in the database: UTC, microsecond precision (both backends
/// keep microseconds, so a value read back equals the value written).
pub fn now() -> chrono::NaiveDateTime {
    use chrono::{SubsecRound, Utc};
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// A message claimed from the outbox by one worker.
#[derive(Debug, diesel::QueryableByName)]
pub struct ClaimedMessage {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub id: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub ente_id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub payload: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub attempts: i32,
}

/// Claims up to `limit` due outbox messages for `worker` until `lease_until`. On PostgreSQL
/// rows locked by another worker's claim are skipped (`FOR UPDATE SKIP LOCKED`); on SQLite
/// the write transaction serialises claims. Either way a message has one holder at a time,
/// and a crashed holder's lease runs out so another worker picks the message up.
pub fn claim_outbox(
    conn: &mut DbConn,
    worker: &str,
    at: chrono::NaiveDateTime,
    lease_until: chrono::NaiveDateTime,
    limit: i64,
) -> diesel::QueryResult<Vec<ClaimedMessage>> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    use diesel::RunQueryDsl;
    let lock = match conn {
        DbConn::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let sql = format!(
        "UPDATE outbox SET locked_by = $1, locked_until = $2 WHERE id IN (\
           SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $3 \
           AND (locked_until IS NULL OR locked_until <= $3) ORDER BY id LIMIT $4 {lock}) \
         RETURNING id, ente_id, kind, payload, attempts"
    );
    // RETURNING follows no order on PostgreSQL: sorted here, so messages of one instance go
    // out in the order they were queued (an external register numbers its acts in order).
    let mut claimed: Vec<ClaimedMessage> = write_tx(conn, |conn| {
        diesel::sql_query(sql)
            .bind::<Text, _>(worker)
            .bind::<Timestamp, _>(lease_until)
            .bind::<Timestamp, _>(at)
            .bind::<BigInt, _>(limit)
            .load(conn)
    })?;
    claimed.sort_by_key(|m| m.id);
    Ok(claimed)
}

/// Claims the job lease `name` for `holder` until `until`, if nobody holds it now (no row, or
/// the holder's lease ran out at `at`, or `holder` holds it already). One statement, atomic
/// on both backends (an upsert whose update only applies to an expired lease), so of several
/// app instances asking at once exactly one gets `true`. A crashed holder's lease runs out and
/// the next claim takes it over. Any periodic job that must run on one instance uses it.
pub fn claim_lease(
    conn: &mut DbConn,
    name: &str,
    holder: &str,
    at: chrono::NaiveDateTime,
    until: chrono::NaiveDateTime,
) -> diesel::QueryResult<bool> {
    use diesel::sql_types::{Text, Timestamp};
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Holder {
        #[diesel(sql_type = Text)]
        #[expect(dead_code, reason = "only whether a row comes back matters")]
        holder: String,
    }
    let rows: Vec<Holder> = diesel::sql_query(
        "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE job_leases.expires_at <= $4 OR job_leases.holder = $2 \
         RETURNING holder",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(holder)
    .bind::<Timestamp, _>(until)
    .bind::<Timestamp, _>(at)
    .load(conn)?;
    Ok(!rows.is_empty())
}

/// Gives the lease back early (the job is done): the next claim, by anyone, succeeds.
pub fn release_lease(
    conn: &mut DbConn,
    name: &str,
    holder: &str,
    at: chrono::NaiveDateTime,
) -> diesel::QueryResult<()> {
    use diesel::prelude::*;
    use schema::job_leases as jl;
    diesel::update(
        jl::table
            .filter(jl::name.eq(name))
            .filter(jl::holder.eq(holder)),
    )
    .set(jl::expires_at.eq(at))
    .execute(conn)?;
    Ok(())
}
