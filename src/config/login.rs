//! What every login method (`[spid]`, `[cie]`, `[staff_sso]`) shares: defaults and one check.

use super::ConfigError;

pub(super) fn default_spid_level() -> i32 {
    2
}
pub(super) fn default_spid_clock_skew() -> u64 {
    60
}
pub(super) fn default_after_login() -> String {
    "/api/v1/me".to_owned()
}
pub(super) fn default_after_logout() -> String {
    "/".to_owned()
}

/// The settings every login method shares (`<section>.default_level`, `request_ttl_secs`,
/// `clock_skew_secs`, and the local paths the browser is sent to), checked one way.
pub(super) fn check_login_settings(
    section: &str,
    default_level: Option<i32>,
    request_ttl_secs: u64,
    clock_skew_secs: Option<u64>,
    paths: &[(&str, &String)],
) -> Result<(), ConfigError> {
    let key = |name: &str| format!("{section}.{name}");
    if default_level.is_some_and(|l| !(1..=3).contains(&l)) {
        return Err(ConfigError::new(key("default_level"), "must be 1, 2 or 3"));
    }
    if !(60..=3600).contains(&request_ttl_secs) {
        return Err(ConfigError::new(
            key("request_ttl_secs"),
            "must be between 60 and 3600",
        ));
    }
    if clock_skew_secs.is_some_and(|s| s > 300) {
        return Err(ConfigError::new(
            key("clock_skew_secs"),
            "must be at most 300",
        ));
    }
    for (name, path) in paths {
        if !is_local_path(path) {
            return Err(ConfigError::new(
                key(name),
                "must be a local path such as /area-personale",
            ));
        }
    }
    Ok(())
}

/// A local path the browser may be sent to: starts with one `/`, no scheme or host, no
/// backslash or control character (so `next` cannot become an open redirect).
pub fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(|c| c.is_control() || c.is_whitespace())
        && p.len() <= 2000
}
