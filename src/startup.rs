//! Builds the application the same way for `main` and for tests: settings in, a bound
//! listener and a running server out. Tests bind port 0 and read the port back.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{middleware, web, App, HttpServer};
use anyhow::Context;

use crate::auth::session::SessionManager;
use crate::config::Settings;
use crate::db::Db;
use crate::http::extract::AppState;
use crate::http::middleware::{request_context, SecurityHeaders};

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
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
        let sessions = SessionManager::new(&settings.session)?;
        let settings = Arc::new(settings);
        let state = web::Data::new(AppState::new(db, sessions, settings.clone()));
        let security = web::Data::new(SecurityHeaders {
            hsts: settings.server.public_url.starts_with("https://"),
        });
        let app_state = state.clone();
        let s = settings.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(security.clone())
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
        Ok(Self {
            port,
            server: server.run(),
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM), then drains in-flight requests.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}
