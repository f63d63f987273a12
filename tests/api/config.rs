//! Each invalid or dangerous configuration is refused, naming the key.

use crate::helpers::repo_dir;
use sportello::config::{self, Environment};

const GOOD_PRODUCTION: &str = r#"
[server]
public_url = "https://sportello.comune.example.it"
[session]
secret = "a-real-secret-of-enough-length-0123456789abcdef"
[tenancy]
default_ente = "c_x000"
"#;

/// A config dir with the real default.toml and `production.toml` = GOOD_PRODUCTION + extra.
fn production_with(extra: &str) -> Result<config::Settings, config::ConfigError> {
    let dir = std::env::temp_dir().join(format!("sportello-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        repo_dir().join("config/default.toml"),
        dir.join("default.toml"),
    )
    .unwrap();
    // Later tables with the same name would be a TOML error: merge by rewriting sections.
    let merged = merge_toml(GOOD_PRODUCTION, extra);
    std::fs::write(dir.join("production.toml"), merged).unwrap();
    config::load(&dir, Environment::Production)
}

fn merge_toml(base: &str, extra: &str) -> String {
    let mut base: toml::Table = toml::from_str(base).unwrap();
    let extra: toml::Table = toml::from_str(extra).unwrap();
    for (section, values) in extra {
        match (base.get_mut(&section), values) {
            (Some(toml::Value::Table(b)), toml::Value::Table(e)) => b.extend(e),
            (_, v) => {
                base.insert(section, v);
            }
        }
    }
    toml::to_string(&base).unwrap()
}

fn refused(extra: &str, key: &str) {
    match production_with(extra) {
        Ok(_) => panic!("accepted a configuration that should be refused: {extra}"),
        Err(e) => {
            assert_eq!(e.key, key, "wrong key for {extra}: {e}");
            assert!(e.to_string().contains(key), "{e}");
        }
    }
}

#[test]
fn a_sane_production_configuration_is_accepted() {
    let s = production_with("").expect("valid");
    assert_eq!(s.environment, Environment::Production);
    assert!(!s.auth.dev_login);
    assert!(s.session.cookie_secure);
}

#[test]
fn the_shipped_demo_and_test_configurations_are_valid() {
    config::load(&repo_dir().join("config"), Environment::Demo).expect("demo");
    config::load(&repo_dir().join("config"), Environment::Test).expect("test");
}

#[test]
fn dev_login_is_refused_in_production() {
    refused("[auth]\ndev_login = true", "auth.dev_login");
}

#[test]
fn insecure_cookies_are_refused_in_production() {
    refused("[session]\ncookie_secure = false", "session.cookie_secure");
}

#[test]
fn the_public_demo_secret_is_refused_in_production() {
    refused(
        "[session]\nsecret = \"demo-only-secret-not-for-production-use-0123456789abcdef0123456789\"",
        "session.secret",
    );
}

#[test]
fn a_short_secret_is_refused() {
    refused("[session]\nsecret = \"short\"", "session.secret");
}

#[test]
fn plain_http_public_url_is_refused_in_production() {
    refused(
        "[server]\npublic_url = \"http://sportello.example\"",
        "server.public_url",
    );
    refused(
        "[server]\npublic_url = \"sportello.example\"",
        "server.public_url",
    );
}

#[test]
fn a_bad_database_url_is_refused() {
    refused("[database]\nurl = \"mysql://x\"", "database.url");
    refused("[database]\nurl = \"sqlite://:memory:\"", "database.url");
    refused("[database]\npool_size = 0", "database.pool_size");
}

#[test]
fn timeouts_must_be_consistent() {
    refused(
        "[session]\nidle_timeout_minutes = 60\nabsolute_timeout_minutes = 30",
        "session.absolute_timeout_minutes",
    );
    refused(
        "[session]\nidle_timeout_minutes = 0",
        "session.idle_timeout_minutes",
    );
}

#[test]
fn tenancy_codes_must_be_valid() {
    refused(
        "[tenancy]\ndefault_ente = \"Not A Code!\"",
        "tenancy.default_ente",
    );
    refused(
        "[tenancy.hosts]\n\"a.example\" = \"???\"",
        "tenancy.hosts.\"a.example\"",
    );
}

#[test]
fn a_bad_log_filter_is_refused() {
    refused(
        "[telemetry]\nfilter = \"sportello=loud\"",
        "telemetry.filter",
    );
}

#[test]
fn a_wrong_type_names_the_key() {
    refused("[server]\nport = \"ottanta\"", "server.port");
}

#[test]
fn an_unknown_key_is_refused() {
    let e = production_with("[server]\nprot = 8080").unwrap_err();
    assert!(e.to_string().contains("prot"), "{e}");
}

#[test]
fn secrets_can_come_from_files() {
    let file = std::env::temp_dir().join(format!("sportello-secret-{}", uuid::Uuid::new_v4()));
    std::fs::write(&file, "secret-from-a-file-0123456789abcdefghijklmn\n").unwrap();
    let s = production_with(&format!("[session]\nsecret_file = \"{}\"", file.display()));
    // Both given: refused, naming the file key.
    let e = s.unwrap_err();
    assert_eq!(e.key, "session.secret_file");

    let dir = std::env::temp_dir().join(format!("sportello-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        repo_dir().join("config/default.toml"),
        dir.join("default.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("production.toml"),
        format!(
            "[server]\npublic_url = \"https://x.example\"\n[session]\nsecret_file = \"{}\"\n[tenancy]\ndefault_ente = \"c_x000\"\n",
            file.display()
        ),
    )
    .unwrap();
    let s = config::load(&dir, Environment::Production).expect("secret from file");
    assert_eq!(
        s.session.secret().unwrap().expose(),
        "secret-from-a-file-0123456789abcdefghijklmn"
    );
    // A missing file is named.
    std::fs::remove_file(&file).unwrap();
    let e = config::load(&dir, Environment::Production).unwrap_err();
    assert_eq!(e.key, "session.secret_file");
}

#[test]
fn cie_and_staff_sso_settings_are_checked() {
    let cie_with = |providers: &str, extra: &str| {
        format!(
            "[cie]\nenabled = true\nkeys_dir = \"/etc/sportello/cie\"\norganization_name = \"Comune\"\n\
             homepage_uri = \"https://www.comune.example.it\"\ncontacts = [\"p@comune.example.it\"]\n\
             authority_hints = [\"https://registry.interno.gov.it\"]\n\
             providers = {providers}\n\
             trust_anchors = [{{ entity_id = \"https://registry.interno.gov.it\", jwks_file = \"/etc/ta.json\" }}]\n{extra}"
        )
    };
    let cie = |extra: &str| cie_with("[\"https://id.servizicie.interno.gov.it\"]", extra);
    production_with(&cie("")).expect("a complete [cie] is valid");
    refused(
        &cie("entity_id = \"http://sportello.comune.example.it\""),
        "cie.entity_id",
    );
    refused(&cie("default_level = 4"), "cie.default_level");
    refused(
        &cie("after_login_path = \"https://evil.example\""),
        "cie.after_login_path",
    );
    refused(&cie_with("[\"http://op.example\"]", ""), "cie.providers");
    refused(&cie_with("[]", ""), "cie.providers");
    refused("[cie]\nenabled = true", "cie.keys_dir");

    let sso = "[staff_sso]\nenabled = true\nissuer = \"https://login.comune.example.it\"\nclient_id = \"sportello\"\nclient_secret = \"s3cret\"\n";
    production_with(sso).expect("a complete [staff_sso] is valid");
    refused(
        &format!("{sso}match_claim = \"sub\""),
        "staff_sso.match_claim",
    );
    refused(
        &sso.replace("https://login", "http://login"),
        "staff_sso.issuer",
    );
    refused(
        "[staff_sso]\nenabled = true\nissuer = \"https://login.comune.example.it\"\nclient_id = \"x\"",
        "staff_sso.client_secret",
    );
}
