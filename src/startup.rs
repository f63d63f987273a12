//! The composition root. Builds the application the same way for `main` and for tests:
//! settings in, a bound listener and a running server out (tests bind port 0 and read the
//! port back). [`build_state`] is where the service's parts are made from the settings: the
//! SPID service provider, the CIE relying party, staff single sign-on, the attachment store,
//! the session manager; nothing else constructs them.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;

use crate::auth::cie::CieRp;
use crate::auth::session::SessionManager;
use crate::auth::spid::ServiceProvider;
use crate::auth::staff_sso::StaffSso;
use crate::catalog::forms::FormCache;
use crate::config::{Settings, WorkerMode};
use crate::db::Db;
use crate::http::extract::{AppState, EnteCache};
use crate::http::middleware::{request_context, SecurityHeaders};
use crate::http::slow_body::{slow_body, SlowBodyGuard};
use crate::instances::attachments::Limits;
use crate::notify::Worker;
use crate::storage::LocalDirStore;

/// How long an idle keep-alive connection stays open (actix's default, made explicit: a
/// client that pools connections must not reuse one idle this long, or it races the close).
pub const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    /// The Prometheus listener (`server.metrics_listen`), when configured.
    metrics: Option<(u16, Server)>,
}

impl Application {
    /// Connects to the database (applying migrations when configured), binds the listener
    /// and builds the server. Nothing is served until [`Application::run`] is awaited.
    pub fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(&settings.database)?;
        if settings.database.migrate_on_start {
            let applied = db.migrate()?;
            if applied > 0 {
                tracing::info!(applied, "database migrations applied");
            }
        }
        Self::build_with_db(settings, db)
    }

    pub fn build_with_db(settings: Settings, db: Db) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind_address())
            .with_context(|| format!("cannot listen on {}", settings.bind_address()))?;
        let port = listener.local_addr()?.port();
        let settings = Arc::new(settings);
        let state = web::Data::new(build_state(settings.clone(), db)?);
        let security = web::Data::new(SecurityHeaders {
            hsts: settings.server.public_url.starts_with("https://"),
        });
        let slow_bodies = web::Data::new(SlowBodyGuard::new(
            std::time::Duration::from_secs(settings.server.body_timeout_secs),
            settings.server.body_min_bytes_per_sec,
            settings.server.max_slow_bodies_per_client,
        ));
        let app_state = state.clone();
        let s = settings.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(security.clone())
                .app_data(slow_bodies.clone())
                // Inner to the request context, so its 408/429 answers are problems too.
                .wrap(middleware::from_fn(slow_body))
                .wrap(middleware::from_fn(request_context))
                .configure(|cfg| {
                    crate::http::configure(
                        cfg,
                        s.server.max_json_bytes,
                        s.server.max_body_bytes,
                        s.auth.dev_login,
                    )
                })
        })
        .keep_alive(KEEP_ALIVE)
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .listen(listener)?;
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        tracing::info!(
            address = %settings.bind_address(),
            port,
            environment = settings.environment.as_str(),
            dev_login = settings.auth.dev_login,
            "sportello listening"
        );
        let metrics = if settings.server.metrics_listen.is_empty() {
            None
        } else {
            let listener =
                TcpListener::bind(&settings.server.metrics_listen).with_context(|| {
                    format!(
                        "cannot listen on {} (server.metrics_listen)",
                        settings.server.metrics_listen
                    )
                })?;
            let metrics_port = listener.local_addr()?.port();
            let metrics_state = state.clone();
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(metrics_state.clone())
                    .route("/metrics", web::get().to(crate::http::health::metrics))
            })
            .workers(1)
            .shutdown_timeout(settings.server.shutdown_timeout_secs)
            .listen(listener)?
            .run();
            tracing::info!(address = %settings.server.metrics_listen, port = metrics_port, "metrics listening");
            Some((metrics_port, server))
        };
        Ok(Self {
            port,
            server: server.run(),
            state,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The Prometheus listener's port, when there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(p, _)| *p)
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM), then drains in-flight requests.
    /// Meanwhile: the outbox worker (when `mail.worker = "in_process"`) and housekeeping
    /// every few minutes (expired sessions and drafts; both are also refused on sight, so
    /// this only keeps tables and disk small).
    pub async fn run(self) -> std::io::Result<()> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let worker = if self.state.settings.mail.worker == WorkerMode::InProcess {
            let w = Worker::new(self.state.db.clone(), &self.state.settings.mail)
                .map_err(|e| std::io::Error::other(format!("{e:#}")))?
                .with_segnatura_keys(self.state.settings.segnatura.key_dir.clone())
                .with_pagopa(self.state.settings.pagopa.clone())
                .with_attachment_store(self.state.store.clone());
            Some(tokio::spawn(Arc::new(w).run(stop.clone())))
        } else {
            None
        };
        let state = self.state.clone();
        let housekeeping = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
            loop {
                tick.tick().await;
                housekeeping(&state).await;
            }
        });
        let result = match self.metrics {
            None => self.server.await,
            Some((_, metrics)) => {
                let handle = metrics.handle();
                let metrics = tokio::spawn(metrics);
                let result = self.server.await;
                handle.stop(true).await;
                let _ = metrics.await;
                result
            }
        };
        housekeeping.abort();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(w) = worker {
            let _ = w.await;
        }
        result
    }
}

/// Everything the handlers share, made from the settings: the session manager, the
/// attachment store, and each login method that is enabled.
pub fn build_state(settings: Arc<Settings>, db: Db) -> anyhow::Result<AppState> {
    let sessions = SessionManager::new(&settings.session)?;
    let store = Arc::new(LocalDirStore::new(settings.storage.local_dir.clone())?);
    let spid = if settings.spid.enabled {
        let sp = ServiceProvider::from_settings(&settings.spid, &settings.server.public_url)?;
        tracing::info!(idps = sp.idps.len(), "SPID identity providers loaded");
        Some(sp)
    } else {
        None
    };
    let cie = if settings.cie.enabled {
        let rp = CieRp::from_settings(&settings.cie, &settings.server.public_url)?;
        tracing::info!(
            entity_id = rp.description.entity_id,
            "CIE relying party ready"
        );
        Some(rp)
    } else {
        None
    };
    let staff_sso = if settings.staff_sso.enabled {
        Some(StaffSso::from_settings(
            &settings.staff_sso,
            &settings.server.public_url,
        )?)
    } else {
        None
    };
    Ok(AppState {
        db,
        sessions,
        forms: Arc::new(FormCache::default()),
        store,
        limits: Limits::from_settings(&settings.instances),
        spid,
        cie,
        staff_sso,
        enti: EnteCache::default(),
        clock: Arc::new(crate::clock::Clock::default()),
        metrics: Arc::new(crate::metrics::Metrics::default()),
        settings,
    })
}

/// Deletes expired sessions and drafts (with their files), runs the back office's daily
/// steps (see `backoffice::daily`) and produces the protocol's missing daily registers (see
/// `protocol::daily_register`, one instance at a time under a database lease), at the app's
/// clock.
pub async fn housekeeping(state: &web::Data<AppState>) {
    let st = state.clone();
    let now = state.clock.now();
    let result = state
        .db
        .run(move |conn| {
            let sessions = st.sessions.purge_expired(conn)?;
            let spid = crate::auth::spid::store::purge_expired(conn)?
                + crate::auth::oidc::purge_expired(conn)?;
            if spid > 0 {
                tracing::info!(rows = spid, "expired SPID requests and assertions purged");
            }
            let mut keys = crate::instances::purge_expired_drafts(conn)?;
            keys.extend(crate::backoffice::documents::sweep_unsent(
                conn,
                now - chrono::Duration::days(1),
            )?);
            crate::backoffice::daily::run(conn, now, st.settings.instances.auto_close_days)?;
            // Fees paid (pagoPA receipts) confirm their bookings before the holds run out.
            if let Err(e) = crate::booking::collect_payments(
                conn,
                &st.settings.pagopa,
                crate::booking::Site {
                    public_url: &st.settings.server.public_url,
                },
                now,
            ) {
                tracing::warn!(error = %format!("{e:#}"), "payment receipts not collected");
            }
            // Reminders due and payment holds run out (idempotent, on every instance).
            if let Err(e) = crate::booking::run_jobs(
                conn,
                crate::booking::Site {
                    public_url: &st.settings.server.public_url,
                },
                now,
            ) {
                tracing::warn!(error = %format!("{e:#}"), "booking jobs failed");
            }
            // Its own failure must not hide the rest's outcome: logged, retried next round.
            let holder = format!("{}:{}", std::process::id(), uuid::Uuid::new_v4().simple());
            if let Err(e) = crate::protocol::daily_register::run_job(conn, now, &holder) {
                tracing::warn!(error = %format!("{e:#}"), "daily register job failed");
            }
            Ok::<_, anyhow::Error>((sessions, keys))
        })
        .await;
    match result {
        Ok((sessions, keys)) => {
            if sessions > 0 {
                tracing::info!(sessions, "expired sessions purged");
            }
            for key in keys {
                if let Err(e) = state.store.delete(&key) {
                    tracing::warn!(error = %e, "cannot delete the file of an expired draft");
                }
            }
        }
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "housekeeping failed"),
    }
}
