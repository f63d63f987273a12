//! Attachments of a draft: accepted by content (never by file name), limited in size per
//! file and per instance, stored through the [`BlobStore`] seam with their SHA-256.

use super::view::AttachmentInfo;
use super::{iso, load_own, record_event, CitizenCtx, Event, InstanceError, Links};
use crate::db::schema::{attachments as att, instances as inst};
use crate::db::{now, write_tx, DbConn};
use crate::domain::Transition;
use crate::storage::sniff::{sniff, Detected, FileKind};
use crate::storage::BlobStore;
use crate::text::sha256_hex;
use chrono::NaiveDateTime;
use diesel::prelude::*;

type Row = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    String,
    NaiveDateTime,
);

fn info(
    links: &dyn Links,
    (id, instance_id, filename, description, kind, mime, size_bytes, sha256, created_at): Row,
) -> AttachmentInfo {
    AttachmentInfo {
        download_url: links.attachment(&instance_id, &id),
        id,
        filename,
        description,
        kind,
        mime,
        size_bytes,
        sha256,
        created_at: iso(created_at),
    }
}

macro_rules! columns {
    () => {
        (
            att::id,
            att::instance_id,
            att::filename,
            att::description,
            att::kind,
            att::mime,
            att::size_bytes,
            att::sha256,
            att::created_at,
        )
    };
}

pub fn list(
    conn: &mut DbConn,
    links: &dyn Links,
    instance_id: &str,
) -> QueryResult<Vec<AttachmentInfo>> {
    Ok(att::table
        .filter(att::instance_id.eq(instance_id))
        .order((att::created_at, att::id))
        .select(columns!())
        .load::<Row>(conn)?
        .into_iter()
        .map(|row| info(links, row))
        .collect())
}

/// What the upload limits are.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_total_bytes: u64,
    pub max_files: u32,
    pub allowed: Vec<FileKind>,
}

impl Limits {
    pub fn from_settings(s: &crate::config::InstancesSettings) -> Self {
        Self {
            max_file_bytes: s.max_file_bytes,
            max_total_bytes: s.max_total_bytes,
            max_files: s.max_files,
            allowed: s
                .allowed_types
                .iter()
                .filter_map(|t| FileKind::parse(t))
                .collect(),
        }
    }

    fn allowed_labels(&self) -> String {
        self.allowed
            .iter()
            .map(|k| k.label_it())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// One uploaded file as received.
#[derive(Debug)]
pub struct Upload {
    pub filename: String,
    pub description: Option<String>,
    pub bytes: Vec<u8>,
}

pub fn mib(bytes: u64) -> String {
    let v = bytes as f64 / (1024.0 * 1024.0);
    if v >= 10.0 || (v - v.round()).abs() < 0.05 {
        format!("{v:.0} MB")
    } else {
        format!("{v:.1} MB")
    }
}

/// A file name safe to show and to send back in `Content-Disposition`: the last path
/// component, without control characters and quotes, at most 200 characters.
pub fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        "allegato".to_owned()
    } else {
        cleaned
    }
}

/// Checks one file against the per-file limit and the accepted types, by content.
pub fn check_upload(upload: &Upload, limits: &Limits) -> Result<Detected, InstanceError> {
    if upload.bytes.len() as u64 > limits.max_file_bytes {
        return Err(InstanceError::TooLarge(format!(
            "Il file «{}» supera la dimensione massima di {} per allegato.",
            clean_filename(&upload.filename),
            mib(limits.max_file_bytes)
        )));
    }
    if upload.bytes.is_empty() {
        return Err(InstanceError::AttachmentRefused(format!(
            "Il file «{}» è vuoto.",
            clean_filename(&upload.filename)
        )));
    }
    match sniff(&upload.bytes) {
        Some(d) if limits.allowed.contains(&d.kind) => Ok(d),
        Some(d) => Err(InstanceError::TypeRefused(format!(
            "Il file «{}» è di tipo {}, che non è accettato. Tipi accettati: {}.",
            clean_filename(&upload.filename),
            d.kind.label_it(),
            limits.allowed_labels()
        ))),
        None => Err(InstanceError::TypeRefused(format!(
            "Il contenuto del file «{}» non corrisponde a nessun tipo accettato (il nome del file \
             non conta). Tipi accettati: {}.",
            clean_filename(&upload.filename),
            limits.allowed_labels()
        ))),
    }
}

/// Adds checked files to the citizen's draft, all or none: limits on count and total, each
/// file stored first (so no row ever points to a missing file), then the rows, in one
/// transaction. When anything is refused or fails, the transaction rolls back and every file
/// already written for this upload is deleted again: a refused upload leaves nothing behind.
pub fn add(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    links: &dyn Links,
    ctx: CitizenCtx,
    instance_id: &str,
    uploads: &[(Upload, Detected)],
    limits: &Limits,
) -> Result<Vec<AttachmentInfo>, InstanceError> {
    let mut written: Vec<String> = Vec::new();
    let result = write_tx(conn, |conn| {
        load_own(conn, ctx, instance_id)?.check(Transition::Edit)?;
        let mut added = Vec::with_capacity(uploads.len());
        for (upload, detected) in uploads {
            added.push(add_one(
                conn,
                store,
                links,
                ctx,
                instance_id,
                upload,
                detected,
                limits,
                &mut written,
            )?);
        }
        Ok(added)
    });
    match &result {
        Ok(added) => {
            for a in added {
                tracing::info!(instance = instance_id, attachment = %a.id, kind = %a.kind, size = a.size_bytes, "attachment stored");
            }
        }
        Err(_) => {
            for key in &written {
                if let Err(e) = store.delete(key) {
                    tracing::warn!(error = %e, "cannot delete the file of a refused upload");
                }
            }
            if !written.is_empty() {
                tracing::info!(
                    instance = instance_id,
                    files = written.len(),
                    "upload refused: its files were removed"
                );
            }
        }
    }
    result
}

/// One file of [`add`], inside its transaction; `written` collects the keys stored.
#[expect(clippy::too_many_arguments, reason = "the pieces of one upload step")]
fn add_one(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    links: &dyn Links,
    ctx: CitizenCtx,
    instance_id: &str,
    upload: &Upload,
    detected: &Detected,
    limits: &Limits,
    written: &mut Vec<String>,
) -> Result<AttachmentInfo, InstanceError> {
    // SUM(BIGINT) is NUMERIC on PostgreSQL; add the sizes here instead.
    let sizes: Vec<i64> = att::table
        .filter(att::instance_id.eq(instance_id))
        .select(att::size_bytes)
        .load(conn)?;
    let count = sizes.len() as i64;
    let total: i64 = sizes.iter().sum();
    if count >= i64::from(limits.max_files) {
        return Err(InstanceError::AttachmentRefused(format!(
            "Sono già stati caricati {count} allegati, il massimo per una pratica."
        )));
    }
    let size = upload.bytes.len() as i64;
    if total + size > limits.max_total_bytes as i64 {
        return Err(InstanceError::TooLarge(format!(
            "Gli allegati della pratica supererebbero in totale {}.",
            mib(limits.max_total_bytes)
        )));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let key = format!("{}/{}/{}", ctx.ente_id, instance_id, id);
    let sha = sha256_hex(&upload.bytes);
    store.put(&key, &upload.bytes)?;
    written.push(key.clone());
    let ts = now();
    let filename = clean_filename(&upload.filename);
    let description = upload
        .description
        .as_ref()
        .map(|d| d.trim().chars().take(500).collect::<String>())
        .filter(|d| !d.is_empty());
    let inserted = diesel::insert_into(att::table)
        .values((
            att::id.eq(&id),
            att::instance_id.eq(instance_id),
            att::ente_id.eq(ctx.ente_id),
            att::filename.eq(&filename),
            att::description.eq(&description),
            att::kind.eq(detected.kind.as_str()),
            att::mime.eq(&detected.mime),
            att::size_bytes.eq(size),
            att::sha256.eq(&sha),
            att::storage_key.eq(&key),
            att::created_at.eq(ts),
        ))
        .execute(conn)
        .and_then(|_| {
            // A submission computes its document before claiming the draft; a changed
            // `updated_at` makes a concurrent claim miss instead of losing this file.
            diesel::update(inst::table.find(instance_id))
                .set(inst::updated_at.eq(ts))
                .execute(conn)
        })
        .and_then(|_| {
            record_event(
                conn,
                instance_id,
                ts,
                "citizen",
                &Event::AttachmentAdded {
                    attachment: id.clone(),
                    filename: filename.clone(),
                    sha256: sha.clone(),
                },
            )
        });
    inserted?;
    Ok(AttachmentInfo {
        download_url: links.attachment(instance_id, &id),
        id,
        filename,
        description,
        kind: detected.kind.as_str().to_owned(),
        mime: detected.mime.clone(),
        size_bytes: size,
        sha256: sha,
        created_at: iso(ts),
    })
}

/// Removes an attachment from the citizen's draft.
pub fn remove(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    ctx: CitizenCtx,
    instance_id: &str,
    attachment_id: &str,
) -> Result<(), InstanceError> {
    let key = write_tx(conn, |conn| {
        load_own(conn, ctx, instance_id)?.check(Transition::Edit)?;
        let key: String = att::table
            .filter(att::id.eq(attachment_id))
            .filter(att::instance_id.eq(instance_id))
            .select(att::storage_key)
            .first(conn)
            .optional()?
            .ok_or(InstanceError::NotFound)?;
        diesel::delete(att::table.filter(att::id.eq(attachment_id))).execute(conn)?;
        diesel::update(inst::table.find(instance_id))
            .set(inst::updated_at.eq(now()))
            .execute(conn)?;
        record_event(
            conn,
            instance_id,
            now(),
            "citizen",
            &Event::AttachmentRemoved {
                attachment: attachment_id.to_owned(),
            },
        )?;
        Ok::<_, InstanceError>(key)
    })?;
    store.delete(&key)?;
    Ok(())
}

/// The content of one of the citizen's attachments.
pub fn read(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    links: &dyn Links,
    ctx: CitizenCtx,
    instance_id: &str,
    attachment_id: &str,
) -> Result<(AttachmentInfo, Vec<u8>), InstanceError> {
    load_own(conn, ctx, instance_id)?;
    read_checked(conn, store, links, instance_id, attachment_id)
}

/// An attachment of an instance the caller has already checked access to; its content is
/// checked against the stored digest (a corrupt file is an error, never served).
pub fn read_checked(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    links: &dyn Links,
    instance_id: &str,
    attachment_id: &str,
) -> Result<(AttachmentInfo, Vec<u8>), InstanceError> {
    let (row, key): (Row, String) = att::table
        .filter(att::id.eq(attachment_id))
        .filter(att::instance_id.eq(instance_id))
        .select((columns!(), att::storage_key))
        .first(conn)
        .optional()?
        .ok_or(InstanceError::NotFound)?;
    let bytes = store.get(&key)?;
    Ok((info(links, row), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_cleaned() {
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("C:\\\\Users\\\\x\\\\doc.pdf"), "doc.pdf");
        assert_eq!(clean_filename("a\"b\u{0}c.pdf"), "abc.pdf");
        assert_eq!(clean_filename(""), "allegato");
        assert_eq!(clean_filename(".."), "allegato");
    }

    #[test]
    fn sizes_in_italian_megabytes() {
        assert_eq!(mib(10 * 1024 * 1024), "10 MB");
        assert_eq!(mib(1536 * 1024), "1.5 MB");
    }
}
