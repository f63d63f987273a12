//! `sportello spid certificate`: the SP key and certificate pass the official validator
//! (`spid-compliant-certificates validator --sector public`, from the test virtualenv).

use std::process::Command;

use crate::helpers::repo_dir;

fn sportello(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sportello"))
        .current_dir(repo_dir())
        .args(args)
        .output()
        .expect("run sportello")
}

fn validator() -> std::path::PathBuf {
    let python = std::env::var("SPORTELLO_TEST_PYTHON")
        .expect("SPORTELLO_TEST_PYTHON (the test virtualenv): run ./scripts/test");
    std::path::Path::new(&python)
        .parent()
        .expect("venv bin")
        .join("spid-compliant-certificates")
}

fn tempdir() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("sportello-spid-{}", uuid::Uuid::new_v4()))
}

/// Runs the official validator; returns its report without colours.
fn validate(crt: &std::path::Path) -> String {
    let out = Command::new(validator())
        .args(["validator", "--sector", "public", "--crt-file"])
        .arg(crt)
        .output()
        .expect("run spid-compliant-certificates");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let mut plain = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn the_certificate_passes_the_official_public_sector_validator() {
    for (bits, digest) in [("3072", "sha256"), ("2048", "sha512")] {
        let dir = tempdir();
        let out = sportello(&[
            "spid",
            "certificate",
            "--entity-id",
            "https://sportello.comune.example.it",
            "--ipa-code",
            "c_x000",
            "--org-name",
            "Comune di Esempio",
            "--locality",
            "Esempio",
            "--key-size",
            bits,
            "--digest",
            digest,
            "--out-dir",
            dir.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = validate(&dir.join("crt.pem"));
        assert!(
            report.contains("matches the public sector specifications"),
            "{bits}/{digest}: {report}"
        );
        assert!(!report.contains("[E]"), "{report}");
        assert!(report.contains(&format!("(now: {bits})")), "{report}");
        assert!(report.contains(&format!("(now: {digest})")), "{report}");
        assert!(report.contains("(now: PA:IT-c_x000)"), "{report}");
        assert!(
            report.contains("(now: https://sportello.comune.example.it)"),
            "{report}"
        );
        // The key is readable by its owner only, and matches the certificate.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let key =
            openssl::pkey::PKey::private_key_from_pem(&std::fs::read(dir.join("key.pem")).unwrap())
                .unwrap();
        let crt =
            openssl::x509::X509::from_pem(&std::fs::read(dir.join("crt.pem")).unwrap()).unwrap();
        assert!(crt.public_key().unwrap().public_eq(&key));
        assert!(crt.verify(&key).unwrap(), "self-signed");
    }
}

#[test]
fn it_never_overwrites_and_refuses_bad_input_in_one_line() {
    let dir = tempdir();
    let args = |dir: &str, code: &'static str| {
        vec![
            "spid".to_owned(),
            "certificate".into(),
            "--entity-id".into(),
            "https://sportello.comune.example.it".into(),
            "--ipa-code".into(),
            code.into(),
            "--org-name".into(),
            "Comune di Esempio".into(),
            "--locality".into(),
            "Esempio".into(),
            "--key-size".into(),
            "2048".into(),
            "--out-dir".into(),
            dir.to_owned(),
        ]
    };
    let run = |a: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_sportello"))
            .args(a)
            .output()
            .unwrap()
    };
    assert!(run(args(dir.to_str().unwrap(), "c_x000")).status.success());
    let before = std::fs::read(dir.join("key.pem")).unwrap();
    let again = run(args(dir.to_str().unwrap(), "c_x000"));
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("not overwriting"), "{err}");
    assert_eq!(std::fs::read(dir.join("key.pem")).unwrap(), before);

    let other = tempdir();
    let bad = run(args(other.to_str().unwrap(), "c x000"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--ipa-code"));
    assert!(!other.join("key.pem").exists());
}

#[test]
fn keys_generate_makes_three_rsa_keys_once() {
    let dir = tempdir();
    let out = sportello(&[
        "keys",
        "generate",
        "--out-dir",
        dir.to_str().unwrap(),
        "--bits",
        "2048",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for f in [
        "federation.key.pem",
        "signing.key.pem",
        "encryption.key.pem",
    ] {
        assert!(dir.join(f).exists(), "{f}");
        assert!(text.contains(f), "{text}");
    }
    let keys = sportello::auth::cie::keys::RpKeys::load(&dir).unwrap();
    assert!(text.contains(&keys.federation.kid));
    // Never overwrites; refuses small keys.
    let again = sportello(&["keys", "generate", "--out-dir", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    let small = sportello(&[
        "keys",
        "generate",
        "--out-dir",
        tempdir().to_str().unwrap(),
        "--bits",
        "1024",
    ]);
    assert_eq!(small.status.code(), Some(1));
}
