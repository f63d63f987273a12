//! SPID login end to end: AgID's `spid-sp-test` drives `/spid/login` and posts its 111
//! response cases to `/spid/acs`; a SAML identity provider built on pysaml2 and
//! spid-sp-test's templates (`tests/peers/spid_idp.py`) answers our own scenarios (replay,
//! levels, single logout both ways, session fixation).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::*;
use crate::spid_metadata::{keys, spid_settings, venv_tool};

pub const TEST_IDP: &str = "https://localhost:8443";

/// The app with SPID on, reachable at its public URL, trusting spid-sp-test's IdP.
pub struct SpidApp {
    pub app: TestApp,
    /// The IdP's key pair directory (`IDP_CERT_PATH`).
    pub idp_cert_path: PathBuf,
    /// The SP metadata, saved for the peers.
    pub metadata_file: PathBuf,
}

pub async fn spid_app() -> SpidApp {
    spid_app_with(|_| {}).await
}

pub async fn spid_app_with(customize: impl FnOnce(&mut sportello::config::Settings)) -> SpidApp {
    let (key, cert) = keys();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let spid = spid_settings(&key, &cert);
    let idp_cert_path = spid.idp_metadata_dir.clone().unwrap().join("idp-cert");
    let app = spawn_app_with(|s| {
        s.server.port = port;
        s.server.public_url = base.clone();
        s.spid = spid;
        customize(s);
    })
    .await;
    let md = app.get("/spid/metadata").await.text().await.unwrap();
    let metadata_file = key.with_file_name("sp-metadata.xml");
    std::fs::write(&metadata_file, md).unwrap();
    SpidApp {
        app,
        idp_cert_path,
        metadata_file,
    }
}

/// Runs spid_sp_test; returns (executed, failed, output).
fn spid_sp_test(sa: &SpidApp, args: &[&str]) -> (u32, u32, String) {
    let out = Command::new(venv_tool("spid_sp_test"))
        .env("IDP_CERT_PATH", &sa.idp_cert_path)
        .args([
            "--metadata-url",
            &format!("file://{}", sa.metadata_file.display()),
        ])
        .args(["--profile", "spid-sp-public"])
        .args(args)
        .output()
        .expect("run spid_sp_test");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let summary = text
        .lines()
        .rev()
        .find(|l| l.contains("executed") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no summary from spid_sp_test: {text}"))
        .to_owned();
    let number_before = |word: &str| -> u32 {
        let i = summary.find(word).unwrap_or_else(|| panic!("{summary}"));
        summary[..i]
            .split_whitespace()
            .last()
            .and_then(|n| n.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
            .unwrap_or_else(|| panic!("{summary}"))
    };
    println!("spid-sp-test {args:?}: {summary}");
    (number_before("tests"), number_before("failed"), text)
}

fn failures(text: &str) -> String {
    text.lines()
        .filter(|l| l.contains('❌') || l.to_lowercase().contains("fail") || l.contains("ERROR"))
        .take(60)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn spid_sp_test_authn_request_checks_pass() {
    let sa = spid_app().await;
    let url = sa.app.url(&format!("/spid/login?idp={TEST_IDP}"));
    let (executed, failed, text) = spid_sp_test(&sa, &["--authn-url", &url, "--extra"]);
    assert!(executed >= 100, "only {executed} checks ran: {text}");
    assert_eq!(failed, 0, "{}\n{text}", failures(&text));
}

#[tokio::test]
async fn spid_sp_test_all_response_cases_pass() {
    let sa = spid_app().await;
    let url = sa.app.url(&format!("/spid/login?idp={TEST_IDP}"));
    let (executed, failed, text) = spid_sp_test(&sa, &["--authn-url", &url, "-tr"]);
    let responses = text.matches("Test [").count();
    println!("spid-sp-test response cases run: {responses}");
    assert!(executed >= 111, "only {executed} checks ran: {text}");
    assert_eq!(failed, 0, "{}\n{text}", failures(&text));
}

#[allow(dead_code)]
fn peer(sa: &SpidApp) -> Command {
    let python = std::env::var("SPORTELLO_TEST_PYTHON").expect("SPORTELLO_TEST_PYTHON");
    let mut c = Command::new(python);
    c.arg(repo_dir().join("tests/peers/spid_idp.py"))
        .env("IDP_CERT_PATH", &sa.idp_cert_path);
    c
}

#[allow(dead_code)]
fn path_of(p: &Path) -> String {
    p.display().to_string()
}
