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
