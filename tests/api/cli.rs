//! The binary: one-line errors and non-zero exits, never a panic.

use std::process::Command;

use crate::helpers::{fresh_database_url, repo_dir};

fn sportello() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sportello"));
    c.current_dir(repo_dir())
        .env_remove("SPORTELLO_ENV")
        .env("SPORTELLO_CONFIG_DIR", repo_dir().join("config"));
    c
}

fn production_env(c: &mut Command) -> &mut Command {
    c.env("SPORTELLO_ENV", "production")
        .env("SPORTELLO__SERVER__PUBLIC_URL", "https://sportello.example")
        .env(
            "SPORTELLO__SESSION__SECRET",
            "cli-test-secret-0123456789abcdef0123456789",
        )
        .env("SPORTELLO__TENANCY__DEFAULT_ENTE", "c_x000")
}

fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).trim_end().to_owned();
    assert_eq!(text.lines().count(), 1, "expected one line, got: {text}");
    assert!(!text.contains("panicked"), "{text}");
    text
}

#[test]
fn an_unknown_flag_is_one_line_and_exit_2() {
    let out = sportello()
        .args(["serve", "--frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(line.starts_with("error:"), "{line}");
    assert!(line.contains("--frobnicate"), "{line}");
}

#[test]
fn a_dangerous_configuration_is_one_line_naming_the_key() {
    let out = production_env(&mut sportello())
        .env("SPORTELLO__AUTH__DEV_LOGIN", "true")
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("`auth.dev_login`"), "{line}");
}

#[test]
fn an_unknown_environment_is_refused() {
    let out = sportello()
        .env("SPORTELLO_ENV", "staging")
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("SPORTELLO_ENV"), "{line}");
}

#[test]
fn demo_cannot_be_mixed_with_another_environment() {
    let out = sportello()
        .env("SPORTELLO_ENV", "production")
        .args(["serve", "--demo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    one_line(&out.stderr);
}

#[test]
fn config_check_accepts_environment_overrides() {
    let out = production_env(&mut sportello())
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("`production` is valid"), "{stdout}");
    assert!(stdout.contains("dev login off"), "{stdout}");
}

#[test]
fn migrate_and_load_are_idempotent() {
    let url = fresh_database_url();
    let run = |args: &[&str]| {
        let out = sportello()
            .env("SPORTELLO_ENV", "test")
            .env("SPORTELLO__DATABASE__URL", &url)
            .args(args)
            .output()
            .unwrap();
        // Everything the command said, should it fail: its exit status and both streams.
        assert!(
            out.status.success(),
            "sportello {args:?}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let migrations = std::fs::read_dir(repo_dir().join("migrations/sqlite"))
        .unwrap()
        .count();
    let first_run = run(&["migrate"]);
    assert!(
        first_run.starts_with(&format!("{migrations} migration(s) applied")),
        "{first_run}"
    );
    let again = run(&["migrate"]);
    assert!(again.starts_with("0 migration(s) applied"), "{again}");
    let first = run(&["load", "config/demo"]);
    assert!(
        first.contains("30 created, 0 updated, 0 unchanged"),
        "{first}"
    );
    let second = run(&["load", "config/demo"]);
    assert!(
        second.contains("0 created, 0 updated, 30 unchanged"),
        "{second}"
    );
}

/// Waits until `url` answers 200 (the server is up), or panics with what it printed.
fn wait_ready(url: &str, child: &mut std::process::Child, log: &std::path::Path) {
    let client = reqwest::blocking::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(url).send() {
            if r.status() == 200 {
                return;
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the server exited ({status}): {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!(
        "not ready: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// The server, killed on drop.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_binary_alone_in_an_empty_directory_serves_the_demo() {
    // Only the binary: no config/, no demo bundle, no sources; HOME is empty too.
    let dir = crate::helpers::tempdir().join("alone");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let bin = dir.join("sportello");
    std::fs::copy(env!("CARGO_BIN_EXE_sportello"), &bin).unwrap();
    let port = crate::helpers::free_port();
    let metrics = crate::helpers::free_port();
    let log = dir.join("server.log");
    let child = Command::new(&bin)
        .current_dir(&dir)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SPORTELLO__SERVER__PORT", port.to_string())
        .env(
            "SPORTELLO__SERVER__METRICS_LISTEN",
            format!("127.0.0.1:{metrics}"),
        )
        .env(
            "SPORTELLO__SERVER__PUBLIC_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .args(["serve", "--demo"])
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("server.err")).unwrap())
        .spawn()
        .unwrap();
    let mut running = Running(child);
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(
        &format!("{base}/health/ready"),
        &mut running.0,
        &dir.join("server.err"),
    );

    // The demo catalog, the development login, the data where it said.
    let client = reqwest::blocking::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let catalog: serde_json::Value = client
        .get(format!("{base}/api/v1/services"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let slugs: Vec<&str> = catalog["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap())
        .collect();
    for slug in [
        "cambio-di-residenza",
        "accesso-civico-generalizzato",
        "appuntamento-anagrafe",
    ] {
        assert!(slugs.contains(&slug), "{slugs:?}");
    }
    let res = client
        .post(format!("{base}/auth/dev/login"))
        .json(&serde_json::json!({"codice_fiscale": "RSSMRA85T10A562S"}))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let me = client.get(format!("{base}/api/v1/me")).send().unwrap();
    assert_eq!(me.status(), 200);
    let data = home.join(".local/share/sportello");
    assert!(
        data.join("sportello-demo.db").is_file(),
        "database under {}",
        data.display()
    );
    assert!(data.join("demo-bundle/ente.toml").is_file());
    let said = std::fs::read_to_string(dir.join("server.err")).unwrap();
    assert!(
        said.contains(&format!("data in {}", data.display())),
        "{said}"
    );
    assert!(
        !dir.join("data").exists(),
        "nothing written beside the binary"
    );
}

#[test]
fn files_on_disk_still_win_over_the_embedded_settings() {
    use sportello::config::{self, Environment};
    // No file at all: the embedded defaults and demo settings.
    let empty = crate::helpers::tempdir().join("no-config");
    std::fs::create_dir_all(&empty).unwrap();
    let s = config::load(&empty, Environment::Demo).expect("embedded demo settings");
    assert!(s.auth.dev_login);
    assert_eq!(s.server.port, 8080);
    // A partial default.toml and a demo.toml on disk: their keys win, the rest stays.
    let dir = crate::helpers::tempdir().join("partial");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("default.toml"), "[instances]\nmax_files = 7\n").unwrap();
    let s = config::load(&dir, Environment::Demo).unwrap();
    assert_eq!(s.instances.max_files, 7);
    assert!(s.auth.dev_login, "the embedded demo settings still apply");
    std::fs::write(
        dir.join("demo.toml"),
        "[server]\npublic_url = \"http://127.0.0.1:18443\"\n[session]\n\
         secret = \"demo-on-disk-secret-0123456789abcdef0123456789\"\ncookie_secure = false\n\
         [auth]\ndev_login = false\n[tenancy]\ndefault_ente = \"c_x000\"\n",
    )
    .unwrap();
    let s = config::load(&dir, Environment::Demo).unwrap();
    assert!(
        !s.auth.dev_login,
        "demo.toml on disk replaces the embedded one"
    );
    // The command line too: an explicit directory that does not exist is an error naming it.
    let out = sportello()
        .env("SPORTELLO_CONFIG_DIR", dir.join("missing"))
        .args(["config", "check"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(one_line(&out.stderr).contains("config_dir"));
}

#[test]
fn init_writes_a_configuration_and_a_bundle_that_check_and_load_accept() {
    let dir = crate::helpers::tempdir().join("init");
    let out_dir = dir.join("etc");
    let data = dir.join("var");
    let run = |c: &mut Command| {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{c:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let said = run(sportello()
        .env_remove("SPORTELLO_CONFIG_DIR")
        .arg("--data-dir")
        .arg(&data)
        .args([
            "init",
            "--ente-code",
            "c_z999",
            "--name",
            "Comune di Prova",
            "--public-url",
            "https://sportello.comune.prova.it",
            "--with-spid",
            "--with-cie",
            "--out",
        ])
        .arg(&out_dir));
    assert!(said.contains("Next steps"), "{said}");
    assert!(
        said.contains("https://sportello.comune.prova.it/spid/metadata"),
        "{said}"
    );
    for f in [
        "production.toml",
        "session-secret",
        "bundle/ente.toml",
        "spid/key.pem",
        "spid/crt.pem",
        "cie/federation.key.pem",
    ] {
        assert!(out_dir.join(f).is_file(), "{f}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(out_dir.join("session-secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the secret is the owner's only");
    let checked = run(sportello()
        .env_remove("SPORTELLO_ENV")
        .env("SPORTELLO_CONFIG_DIR", &out_dir)
        .args(["config", "check"]));
    assert!(
        checked.contains("configuration `production` is valid"),
        "{checked}"
    );
    assert!(
        checked.contains(&data.join("sportello.db").display().to_string()),
        "{checked}"
    );
    let url = fresh_database_url();
    let loaded = run(sportello()
        .env("SPORTELLO_CONFIG_DIR", &out_dir)
        .env("SPORTELLO__DATABASE__URL", &url)
        .arg("load")
        .arg(out_dir.join("bundle")));
    assert!(loaded.contains("5 created"), "{loaded}");
    // Never overwrites.
    let again = sportello()
        .args([
            "init",
            "--ente-code",
            "c_z999",
            "--name",
            "Comune di Prova",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(one_line(&again.stderr).contains("not empty"));
}
