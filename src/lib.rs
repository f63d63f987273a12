//! Sportello: the online citizen-services desk of Italian municipalities.
//!
//! The library holds everything; the `sportello` binary is a thin CLI over it. See
//! docs/architecture.md for the map of modules.

pub mod audit;
pub mod auth;
pub mod backoffice;
pub mod booking;
pub mod bundle;
pub mod catalog;
pub mod citizens;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod export;
pub mod http;
pub mod init;
pub mod instances;
pub mod metrics;
pub mod notify;
pub mod org;
pub mod payments;
pub mod personal_data;
pub mod procedures;
pub mod protocol;
pub mod ratings;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod text;
pub mod tokens;
pub mod transparency;

#[cfg(test)]
mod layering {
    //! The lower modules depend on each other one way only (docs/architecture.md): an import
    //! that would close a circle again fails here.

    use std::path::Path;

    /// The top-level modules the code (comments aside) of `module` names as `crate::…`.
    fn names(module: &str) -> std::collections::BTreeSet<String> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let dir = src.join(module);
        let mut files = vec![src.join(format!("{module}.rs"))];
        if dir.is_dir() {
            let mut stack = vec![dir];
            while let Some(d) = stack.pop() {
                for entry in std::fs::read_dir(d).unwrap() {
                    let path = entry.unwrap().path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "rs") {
                        files.push(path);
                    }
                }
            }
        }
        let mut found = std::collections::BTreeSet::new();
        for file in files.iter().filter(|f| f.is_file()) {
            let text = std::fs::read_to_string(file).unwrap();
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + "crate::".len()..];
                // `crate::a::…`, or each item of `crate::{a::…, b, …}` at its top level.
                let mut starts = vec![rest];
                if let Some(group) = rest.strip_prefix('{') {
                    let mut depth = 0;
                    let mut from = 0;
                    starts.clear();
                    for (j, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => {
                                starts.push(&group[from..j]);
                                break;
                            }
                            '}' => depth -= 1,
                            ',' if depth == 0 => {
                                starts.push(&group[from..j]);
                                from = j + 1;
                            }
                            _ => {}
                        }
                    }
                }
                for start in starts {
                    let name: String = start
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        found.insert(name);
                    }
                }
            }
        }
        found
    }

    #[test]
    fn text_config_and_db_import_nothing_above_them() {
        let allowed = |m: &str, ok: &[&str]| {
            let extra: Vec<String> = names(m)
                .into_iter()
                .filter(|n| !ok.contains(&n.as_str()))
                .collect();
            assert!(extra.is_empty(), "`{m}` imports {extra:?}");
        };
        allowed("text", &[]);
        allowed("config", &["domain", "storage"]);
        allowed("db", &["config", "text"]);
    }
}
