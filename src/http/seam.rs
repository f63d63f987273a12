//! The seam between the capabilities and HTTP (docs/architecture.md): only the HTTP edge,
//! the composition root and the binary may use the web framework. This test lives in the
//! HTTP edge, the one place allowed to name the framework.
fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn nothing_outside_http_and_startup_imports_the_web_framework() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut offenders = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel.starts_with("http/") || rel == "startup.rs" || rel == "main.rs" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("a readable source file");
        for (n, line) in text.lines().enumerate() {
            // The code of the line, without comments and string literals (a log target
            // may name the framework's modules).
            let code: String = line
                .split("//")
                .next()
                .unwrap_or_default()
                .split('"')
                .step_by(2)
                .collect();
            if ["actix_web", "actix_http", "actix_multipart"]
                .iter()
                .any(|c| code.contains(&format!("{c}::")))
            {
                offenders.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the web framework used outside src/http/ and src/startup.rs:\n{}",
        offenders.join("\n")
    );
}
