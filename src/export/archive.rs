//! The export as one ZIP file (the admin API's answer), built in a temporary file.

use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::path::Path;

use anyhow::Context;

use crate::db::DbConn;
use crate::storage::BlobStore;

/// Exports ente `ente_id` into a temporary directory, packs it into a temporary ZIP file
/// (DEFLATE) and returns that file, opened at its start and already unlinked: it goes away
/// when the handle is dropped. The directory is removed before returning. The export is in
/// the ente's audit log, by `actor`.
pub fn export_zip(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    ente_id: i64,
    actor: crate::audit::Actor,
) -> anyhow::Result<(File, u64)> {
    use crate::db::schema::enti;
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    let code: String = enti::table
        .filter(enti::id.eq(ente_id))
        .select(enti::code)
        .first(conn)?;
    let base = std::env::temp_dir().join(format!("sportello-export-{}", uuid::Uuid::new_v4()));
    let dir = base.join("export");
    let result = (|| {
        let report = super::export_ente(conn, store, &code, &dir, &mut |_, _| {})?;
        let zip_path = base.join("export.zip");
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&zip_path)?;
        write_zip(&dir, &mut file)?;
        fs::remove_file(&zip_path)?;
        let len = file.seek(SeekFrom::End(0))?;
        file.seek(SeekFrom::Start(0))?;
        super::record_export(conn, &code, actor, &report, "api")?;
        Ok((file, len))
    })();
    let _ = fs::remove_dir_all(&base);
    result
}

/// Every file under `dir`, by relative path in sorted order, into a ZIP written to `out`.
fn write_zip(dir: &Path, out: &mut File) -> anyhow::Result<()> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut zip = zip::ZipWriter::new(out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    for path in files {
        let name = path
            .strip_prefix(dir)?
            .to_str()
            .context("non-UTF-8 file name")?
            .replace('\\', "/");
        zip.start_file(name, options)?;
        std::io::copy(&mut File::open(&path)?, &mut zip)?;
    }
    zip.finish()?;
    Ok(())
}
