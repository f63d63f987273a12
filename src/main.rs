//! The `sportello` command. Every failure is one line on stderr and a non-zero exit code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use sportello::bundle::Bundle;
use sportello::config::{self, Environment, Settings};
use sportello::db::Db;
use sportello::startup::Application;
use sportello::telemetry;

#[derive(Debug, Parser)]
#[command(name = "sportello", version, about = "Sportello online del cittadino")]
struct Cli {
    /// Directory with default.toml and <environment>.toml, which override the settings
    /// compiled into the binary. Default: ./config when it has default.toml (the source tree),
    /// else /etc/sportello when it exists, else the compiled-in settings alone.
    #[arg(long, global = true, env = "SPORTELLO_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// Where the demo keeps its SQLite database, attachments and keys. Default: ./data in the
    /// source tree, else $XDG_DATA_HOME/sportello (~/.local/share/sportello).
    #[arg(long, global = true, env = "SPORTELLO_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration environment: demo, test or production.
    #[arg(long = "env", global = true, env = "SPORTELLO_ENV")]
    environment: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve {
        /// Demo mode: SQLite under data/, the demo ente and catalog, development login.
        #[arg(long)]
        demo: bool,
    },
    /// Write what a new ente starts from into --out: a commented production configuration, an
    /// ente bundle skeleton, a session secret (and the SPID certificate, the CIE keys), then
    /// print the next steps. Never overwrites: --out must not exist or be empty.
    Init {
        /// The ente's IPA code, e.g. c_h501.
        #[arg(long)]
        ente_code: String,
        /// The ente's name, e.g. "Comune di Esempio".
        #[arg(long)]
        name: String,
        /// The directory to write (becomes the configuration directory, e.g. /etc/sportello).
        #[arg(long)]
        out: PathBuf,
        /// What citizens type.
        #[arg(long, default_value = "https://sportello.comune.example.it")]
        public_url: String,
        /// The AOO's code in IPA.
        #[arg(long, default_value = "AOO1")]
        aoo_code: String,
        /// The administrator's username.
        #[arg(long, default_value = "amministratore")]
        admin: String,
        /// The administrator's e-mail address.
        #[arg(long, default_value = "amministratore@comune.example.it")]
        admin_email: String,
        /// The ente's seat, for the SPID certificate; default: the name without "Comune di".
        #[arg(long)]
        locality: Option<String>,
        /// Also make the SPID service provider's key and certificate (Avviso SPID n. 29 v3).
        #[arg(long)]
        with_spid: bool,
        /// Also make the CIE relying party's federation, signing and encryption keys.
        #[arg(long)]
        with_cie: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Deliver outbox messages (e-mails) until stopped; several may run at once.
    Worker,
    /// Load an ente bundle (ente.toml + services/*.toml) into the database; idempotent.
    Load {
        /// The bundle directory, e.g. config/demo.
        dir: PathBuf,
    },
    /// Export everything of one ente as CSV + datapackage.json + attachments (docs/export.md).
    Export {
        /// The ente's code, as in its bundle.
        #[arg(long)]
        ente: String,
        /// The directory to write; created, must be empty.
        #[arg(long)]
        out: PathBuf,
    },
    /// Load an export into an empty database (migrated first); refuses a non-empty one.
    Import {
        /// The directory an export wrote.
        dir: PathBuf,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// SPID service provider tools.
    Spid {
        #[command(subcommand)]
        command: SpidCommand,
    },
    /// Protocol register tools.
    Protocol {
        #[command(subcommand)]
        command: ProtocolCommand,
    },
    /// Keys of the CIE relying party (OpenID Connect Federation).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walks each ente's hash chain (or one ente's) and reports the first broken entry:
    /// altered, deleted or inserted. Exit 0 when every chain is intact, 1 otherwise.
    Verify {
        /// Only this ente (its code).
        #[arg(long)]
        ente: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ProtocolCommand {
    /// Produce (or read back, when stored already) an AOO's daily register of a day that is
    /// over: the same bytes every time, stored once. Written to --out, or to standard output.
    DailyRegister {
        /// The AOO's code.
        #[arg(long)]
        aoo: String,
        /// The Italian calendar day, YYYY-MM-DD.
        #[arg(long)]
        date: chrono::NaiveDate,
        #[arg(long, value_enum, default_value_t = RegisterFormat::Json)]
        format: RegisterFormat,
        /// Write the document here (and a summary with its SHA-256 on standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The ente's code, when several enti have an AOO with this code.
        #[arg(long)]
        ente: Option<String>,
    },
    /// Make, offline, a self-signed test key and certificate for an AOO's segnatura
    /// informatica: writes <AOO>.key.pem (mode 0600) and <AOO>.crt.pem into --out-dir; never
    /// overwrites. Point `segnatura.key_dir` at that directory. A real AOO signs with its
    /// qualified electronic seal instead.
    MakeSigningKey {
        /// The AOO's code, as in the ente's bundle.
        #[arg(long)]
        aoo: String,
        /// The organization named in the certificate, e.g. "Comune di Esempio".
        #[arg(long)]
        organization: String,
        #[arg(long, default_value_t = 730)]
        days: u32,
        #[arg(long)]
        out_dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum RegisterFormat {
    Json,
    Csv,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make, offline, the RP's federation, signing and encryption keys (RSA, PEM, mode 0600)
    /// in --out-dir; never overwrites. Point `cie.keys_dir` at that directory.
    Generate {
        #[arg(long)]
        out_dir: PathBuf,
        /// RSA key size (at least 2048).
        #[arg(long, default_value_t = 3072)]
        bits: u32,
    },
}

#[derive(Debug, Subcommand)]
enum SpidCommand {
    /// Make, offline, the key and self-signed certificate of a public-sector SP
    /// (Avviso SPID n. 29 v3): writes key.pem and crt.pem into --out-dir.
    Certificate {
        /// The SP's entityID, e.g. https://sportello.comune.example.it
        #[arg(long)]
        entity_id: String,
        /// The ente's IPA code, e.g. c_h501 (becomes organizationIdentifier PA:IT-<code>).
        #[arg(long)]
        ipa_code: String,
        /// organizationName, e.g. "Comune di Esempio".
        #[arg(long)]
        org_name: String,
        /// commonName; the organization name when absent.
        #[arg(long)]
        common_name: Option<String>,
        /// localityName: the ente's seat.
        #[arg(long)]
        locality: String,
        #[arg(long, default_value_t = 3072)]
        key_size: u32,
        #[arg(long, default_value_t = 730)]
        days: u32,
        #[arg(long, default_value = "sha256")]
        digest: String,
        #[arg(long)]
        out_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate the configuration without starting anything.
    Check,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            let rendered = e.render().to_string();
            let first = rendered
                .lines()
                .next()
                .unwrap_or("error: invalid arguments");
            eprintln!("{first} (see `sportello --help`)");
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn settings_for(cli: &Cli, demo: bool) -> anyhow::Result<Settings> {
    let env = match (&cli.environment, demo) {
        (None, true) => Environment::Demo,
        (Some(e), true) if Environment::parse(e)? != Environment::Demo => {
            anyhow::bail!("--demo runs the demo environment, but SPORTELLO_ENV/--env says `{e}`")
        }
        (Some(e), _) => Environment::parse(e)?,
        (None, false) => Environment::Production,
    };
    let mut settings = config::load(&config_dir(cli)?, env)?;
    if env == Environment::Demo {
        settings.place_demo_data(&data_dir(cli));
    }
    Ok(settings)
}

/// The configuration directory: the one given, or ./config in the source tree, or
/// /etc/sportello; none at all is fine (the compiled-in settings).
fn config_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    Ok(match &cli.config_dir {
        Some(d) if d.is_dir() => d.clone(),
        Some(d) => anyhow::bail!(
            "configuration key `config_dir`: {} is not a directory",
            d.display()
        ),
        None if Path::new("config/default.toml").is_file() => PathBuf::from("config"),
        None if Path::new("/etc/sportello").is_dir() => PathBuf::from("/etc/sportello"),
        None => PathBuf::from("config"),
    })
}

/// The demo's data directory (see `Cli::data_dir`).
fn data_dir(cli: &Cli) -> PathBuf {
    if let Some(d) = &cli.data_dir {
        return d.clone();
    }
    if Path::new("Cargo.toml").is_file() && Path::new("config/demo").is_dir() {
        return PathBuf::from("data");
    }
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    std::env::var_os("XDG_DATA_HOME")
        .and_then(absolute)
        .or_else(|| {
            std::env::var_os("HOME")
                .and_then(absolute)
                .map(|h| h.join(".local/share"))
        })
        .map(|d| d.join("sportello"))
        .unwrap_or_else(|| PathBuf::from("data"))
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve { demo } => {
            let settings = settings_for(&cli, *demo)?;
            telemetry::init(&settings.telemetry);
            let data = demo.then(|| data_dir(&cli));
            serve(settings, data)
        }
        Command::Init {
            ente_code,
            name,
            out,
            public_url,
            aoo_code,
            admin,
            admin_email,
            locality,
            with_spid,
            with_cie,
        } => {
            let done = sportello::init::init(&sportello::init::InitRequest {
                ente_code: ente_code.clone(),
                name: name.clone(),
                out: out.clone(),
                public_url: public_url.clone(),
                data_dir: cli
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/var/lib/sportello")),
                aoo_code: aoo_code.clone(),
                admin: admin.clone(),
                admin_email: admin_email.clone(),
                locality: locality
                    .clone()
                    .unwrap_or_else(|| name.trim_start_matches("Comune di ").trim().to_owned()),
                with_spid: *with_spid,
                with_cie: *with_cie,
            })?;
            println!("Written for {name}:");
            for f in &done.files {
                println!("  {}", f.display());
            }
            println!(
                "
Next steps:"
            );
            for (i, step) in done.next_steps.iter().enumerate() {
                println!("{}. {step}", i + 1);
            }
            Ok(())
        }
        Command::Migrate => {
            let settings = settings_for(&cli, false)?;
            telemetry::init(&settings.telemetry);
            let db = Db::connect_for_command(&settings.database)?;
            let applied = db.migrate()?;
            println!("{applied} migration(s) applied; the schema is current");
            Ok(())
        }
        Command::Worker => {
            let settings = settings_for(&cli, false)?;
            telemetry::init(&settings.telemetry);
            let db = Db::connect(&settings.database)?;
            db.migrate()?;
            let worker = std::sync::Arc::new(
                sportello::notify::Worker::new(db, &settings.mail)?
                    .with_segnatura_keys(settings.segnatura.key_dir.clone())
                    .with_pagopa(settings.pagopa.clone())
                    .with_attachment_store(std::sync::Arc::new(
                        sportello::storage::LocalDirStore::new(settings.storage.local_dir.clone())?,
                    )),
            );
            actix_web::rt::System::new().block_on(async move {
                let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
                let running = tokio::spawn(worker.run(stop.clone()));
                let mut term = actix_web::rt::signal::unix::signal(
                    actix_web::rt::signal::unix::SignalKind::terminate(),
                )?;
                tokio_select_signal(&mut term).await;
                tracing::info!("stopping the outbox worker after the current round");
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                let _ = running.await;
                Ok::<_, anyhow::Error>(())
            })
        }
        Command::Audit {
            command: AuditCommand::Verify { ente },
        } => {
            let settings = settings_for(&cli, false)?;
            telemetry::init(&settings.telemetry);
            let db = Db::connect_for_command(&settings.database)?;
            db.migrate()?;
            let v = sportello::audit::verify(&mut *db.get()?, ente.as_deref())?;
            if let Some(b) = v.first_break {
                anyhow::bail!("audit log broken: {b}");
            }
            for (code, n) in &v.enti {
                println!("ente {code}: {n} entries, chain intact");
            }
            Ok(())
        }
        Command::Load { dir } => {
            let settings = settings_for(&cli, false)?;
            telemetry::init(&settings.telemetry);
            let bundle = Bundle::read(dir)?;
            let db = Db::connect_for_command(&settings.database)?;
            db.migrate()?;
            let report = bundle.load(&mut *db.get()?)?;
            println!("bundle {}: {report}", dir.display());
            Ok(())
        }
        Command::Spid {
            command:
                SpidCommand::Certificate {
                    entity_id,
                    ipa_code,
                    org_name,
                    common_name,
                    locality,
                    key_size,
                    days,
                    digest,
                    out_dir,
                },
        } => {
            use sportello::auth::spid::certificate::{generate, write, CertificateRequest};
            let generated = generate(&CertificateRequest {
                entity_id: entity_id.clone(),
                ipa_code: ipa_code.clone(),
                organization_name: org_name.clone(),
                common_name: common_name.clone().unwrap_or_else(|| org_name.clone()),
                locality: locality.clone(),
                key_bits: *key_size,
                days: *days,
                digest: digest.clone(),
            })?;
            let (key, crt) = write(out_dir, &generated)?;
            println!(
                "private key: {} (keep it secret)\ncertificate: {}",
                key.display(),
                crt.display()
            );
            Ok(())
        }
        Command::Protocol {
            command:
                ProtocolCommand::MakeSigningKey {
                    aoo,
                    organization,
                    days,
                    out_dir,
                },
        } => {
            let (key, crt) =
                sportello::protocol::segnatura::make_test_pair(out_dir, aoo, organization, *days)?;
            println!(
                "private key: {} (keep it secret)\ncertificate: {}",
                key.display(),
                crt.display()
            );
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Generate { out_dir, bits },
        } => {
            let paths = sportello::auth::cie::keys::generate(out_dir, *bits)?;
            let keys = sportello::auth::cie::keys::RpKeys::load(out_dir)?;
            for (p, kid) in paths.iter().zip([
                &keys.federation.kid,
                &keys.signing.kid,
                &keys.encryption.kid,
            ]) {
                println!("{} (kid {kid})", p.display());
            }
            println!(
                "keep these files secret; set cie.keys_dir = \"{}\"",
                out_dir.display()
            );
            Ok(())
        }
        Command::Protocol {
            command:
                ProtocolCommand::DailyRegister {
                    aoo,
                    date,
                    format,
                    out,
                    ente,
                },
        } => {
            use sportello::protocol::daily_register::{self as dr, Format};
            let settings = settings_for(&cli, false)?;
            telemetry::init(&settings.telemetry);
            let db = Db::connect_for_command(&settings.database)?;
            db.migrate()?;
            let mut conn = db.get()?;
            let (_, aoo_id) = dr::aoo_by_code(&mut conn, aoo, ente.as_deref())?;
            let now = sportello::clock::Clock::default().now();
            let produced = dr::produce(&mut conn, aoo_id, *date, "cli", now)?;
            let wanted = match format {
                RegisterFormat::Json => Format::Json,
                RegisterFormat::Csv => Format::Csv,
            };
            let doc = produced
                .documents
                .into_iter()
                .find(|d| d.format == wanted)
                .context("the register was stored without this format")?;
            let doc = dr::verified(doc)?;
            match out {
                Some(path) => {
                    std::fs::write(path, doc.content.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    println!(
                        "{}: daily register of {aoo} for {date} ({}), {} entries, {} annulments, \
                         sha256 {}, {}",
                        path.display(),
                        wanted.as_str(),
                        doc.entries_count,
                        doc.annulments_count,
                        doc.sha256,
                        if produced.new {
                            "produced now"
                        } else {
                            "stored already"
                        }
                    );
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(doc.content.as_bytes())?;
                }
            }
            Ok(())
        }
        Command::Export { ente, out } => {
            let settings = settings_for(&cli, false)?;
            telemetry::init(&settings.telemetry);
            let db = Db::connect_for_command(&settings.database)?;
            db.migrate()?;
            let store = sportello::storage::LocalDirStore::new(settings.storage.local_dir.clone())?;
            let bar = progress_bar("export");
            let mut conn = db.get()?;
            let report = sportello::export::export_ente(
                &mut conn,
                &store,
                ente,
                out,
                &mut |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                },
            )?;
            bar.finish_and_clear();
            sportello::export::record_export(
                &mut conn,
                ente,
                sportello::audit::Actor::System,
                &report,
                "cli",
            )?;
            println!("ente {ente} exported to {}: {report}", out.display());
            Ok(())
        }
        Command::Import { dir } => {
            let settings = settings_for(&cli, false)?;
            telemetry::init(&settings.telemetry);
            let db = Db::connect_for_command(&settings.database)?;
            db.migrate()?;
            let store = sportello::storage::LocalDirStore::new(settings.storage.local_dir.clone())?;
            let bar = progress_bar("import");
            let report =
                sportello::export::import_dir(&mut *db.get()?, &store, dir, &mut |done, total| {
                    bar.set_length(total);
                    bar.set_position(done);
                })?;
            bar.finish_and_clear();
            println!("{} imported: {report}", dir.display());
            Ok(())
        }
        Command::Config {
            command: ConfigCommand::Check,
        } => {
            let settings = settings_for(&cli, false)?;
            let location = settings.database.location()?;
            println!(
                "configuration `{}` is valid: listening on {}, database {:?}, dev login {}",
                settings.environment.as_str(),
                settings.bind_address(),
                location,
                if settings.auth.dev_login { "ON" } else { "off" }
            );
            Ok(())
        }
    }
}

/// A row counter on stderr; hidden when stderr is not a terminal.
fn progress_bar(what: &str) -> indicatif::ProgressBar {
    let bar =
        indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} rows ({eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_owned());
    bar
}

/// Runs the service; with `demo_data` (the demo's data directory), loads the demo ente first.
fn serve(settings: Settings, demo_data: Option<PathBuf>) -> anyhow::Result<()> {
    let mut bundle_dir = settings.demo.bundle_dir.clone();
    let public_url = settings.server.public_url.clone();
    if let Some(data) = &demo_data {
        std::fs::create_dir_all(data)
            .with_context(|| format!("cannot create the data directory {}", data.display()))?;
        tracing::info!(dir = %data.display(), "demo data directory");
        eprintln!("Sportello demo: data in {}", data.display());
        // The demo bundle on disk (the source tree's, or the one configured), else the one
        // compiled into the binary, written out under the data directory.
        if !bundle_dir.is_dir() {
            bundle_dir = data.join("demo-bundle");
            sportello::bundle::write_demo_bundle(&bundle_dir)?;
        }
    }
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings)?;
        if demo_data.is_some() {
            let bundle = Bundle::read(&bundle_dir)?;
            // The demo signs its segnature with test keys of its own, made at first start.
            if let Some(dir) = &app.state().settings.segnatura.key_dir {
                for a in &bundle.ente.aoo {
                    let (key, _) = sportello::protocol::segnatura::SigningKey::paths(dir, &a.code);
                    if !key.exists() {
                        sportello::protocol::segnatura::make_test_pair(
                            dir,
                            &a.code,
                            &bundle.ente.ente.name,
                            3650,
                        )?;
                        tracing::info!(aoo = %a.code, dir = %dir.display(), "demo segnatura test key made");
                    }
                }
            }
            let state = app.state();
            let report = state
                .db
                .run(move |conn| bundle.load(conn))
                .await
                .context("cannot load the demo bundle")?;
            tracing::info!(%report, dir = %bundle_dir.display(), "demo ente ready");
            eprintln!(
                "\nSportello demo: {public_url}\n  catalog: curl {public_url}/api/v1/services\n  \
                 login:   curl -c cookies.txt -H 'Content-Type: application/json' \
                 -d '{{\"codice_fiscale\":\"RSSMRA85T10A562S\"}}' {public_url}/auth/dev/login\n"
            );
        }
        app.run().await.context("server error")
    })
}

/// Waits for SIGTERM or SIGINT.
async fn tokio_select_signal(term: &mut actix_web::rt::signal::unix::Signal) {
    let ctrl_c = actix_web::rt::signal::ctrl_c();
    futures_util::pin_mut!(ctrl_c);
    let term = term.recv();
    futures_util::pin_mut!(term);
    futures_util::future::select(ctrl_c, term).await;
}
