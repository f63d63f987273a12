//! Documents outside the submission: what the office attaches to a request for integration
//! or sends as its reply, and what the citizen attaches to an answer. Checked by content like
//! submission attachments; the file is stored before its row commits (and removed again if
//! the row is refused); read back only when its digest matches.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::work::{load_for_staff, StaffCtx};
use super::BackofficeError;
use crate::db::schema::{instance_documents as docs, instances as inst};
use crate::db::{write_tx, DbConn};
use crate::domain::InstanceStatus;
use crate::instances::attachments::{clean_filename, Limits, Upload};
use crate::instances::procedure::DocumentInfo;
use crate::instances::{iso, InstanceRow, Links};
use crate::storage::sniff::Detected;
use crate::storage::BlobStore;
use crate::text::sha256_hex;

/// Who uploads: the office (staff) or the citizen.
#[derive(Debug, Clone)]
pub enum Uploader {
    Staff(StaffCtx),
    Citizen { ente_id: i64, citizen_id: i64 },
}

fn load(conn: &mut DbConn, who: &Uploader, id: &str) -> Result<InstanceRow, BackofficeError> {
    match who {
        Uploader::Staff(ctx) => load_for_staff(conn, ctx, id),
        Uploader::Citizen {
            ente_id,
            citizen_id,
        } => {
            let row: InstanceRow = inst::table
                .find(id)
                .filter(inst::ente_id.eq(ente_id))
                .filter(inst::citizen_id.eq(citizen_id))
                .select(InstanceRow::as_select())
                .first(conn)
                .optional()?
                .ok_or(BackofficeError::NotFound)?;
            if row.status.is_draft() {
                return Err(BackofficeError::NotFound);
            }
            Ok(row)
        }
    }
}

fn label(who: &Uploader) -> &'static str {
    match who {
        Uploader::Staff(_) => "office",
        Uploader::Citizen { .. } => "citizen",
    }
}

/// Stores one checked file as a document of the instance, not yet sent. The office may
/// upload while the instance is open; the citizen only while an integration is awaited.
#[expect(clippy::too_many_arguments, reason = "the pieces of one upload")]
pub fn upload(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    links: &dyn Links,
    who: &Uploader,
    id: &str,
    file: &Upload,
    detected: &Detected,
    limits: &Limits,
    now: NaiveDateTime,
) -> Result<DocumentInfo, BackofficeError> {
    let doc_id = uuid::Uuid::new_v4().to_string();
    let mut written: Option<String> = None;
    let result = write_tx(conn, |conn| {
        let row = load(conn, who, id)?;
        let open = match who {
            Uploader::Staff(_) => row.status.is_open(),
            Uploader::Citizen { .. } => row.status == InstanceStatus::AwaitingIntegration,
        };
        if !open {
            return Err(BackofficeError::NotAllowed(Box::new(
                crate::domain::NotAllowed::State {
                    from: row.status,
                    transition: match who {
                        Uploader::Staff(_) => crate::domain::Transition::Message,
                        Uploader::Citizen { .. } => crate::domain::Transition::AnswerIntegration,
                    },
                    allowed: Vec::new(),
                },
            )));
        }
        let count: i64 = docs::table
            .filter(docs::instance_id.eq(id))
            .filter(docs::uploaded_by.eq(label(who)))
            .count()
            .get_result(conn)?;
        if count >= i64::from(limits.max_files) {
            return Err(BackofficeError::Invalid(vec![
                crate::domain::FieldError::new(
                    "/file",
                    format!(
                        "Sono già stati caricati {count} documenti, il massimo per una pratica."
                    ),
                ),
            ]));
        }
        let key = format!("{}/{}/doc-{}", row.ente_id, id, doc_id);
        let sha = sha256_hex(&file.bytes);
        store.put(&key, &file.bytes)?;
        written = Some(key.clone());
        let filename = clean_filename(&file.filename);
        diesel::insert_into(docs::table)
            .values((
                docs::id.eq(&doc_id),
                docs::instance_id.eq(id),
                docs::ente_id.eq(row.ente_id),
                docs::uploaded_by.eq(label(who)),
                docs::filename.eq(&filename),
                docs::mime.eq(&detected.mime),
                docs::size_bytes.eq(file.bytes.len() as i64),
                docs::sha256.eq(&sha),
                docs::storage_key.eq(&key),
                docs::created_at.eq(now),
            ))
            .execute(conn)?;
        Ok(DocumentInfo {
            download_url: links.document(id, &doc_id),
            id: doc_id.clone(),
            filename,
            mime: detected.mime.clone(),
            size_bytes: file.bytes.len() as i64,
            sha256: sha,
            uploaded_by: label(who).to_owned(),
            created_at: iso(now),
            sent: false,
        })
    });
    match &result {
        Ok(d) => {
            tracing::info!(instance = id, document = %d.id, by = label(who), size = d.size_bytes, "document stored")
        }
        Err(_) => {
            if let Some(key) = written {
                if let Err(e) = store.delete(&key) {
                    tracing::warn!(error = %e, "cannot delete the file of a refused document");
                }
            }
        }
    }
    result
}

/// A document's content, for whoever may see it: the office any of the instance's, the
/// citizen those sent to them and their own.
pub fn read(
    conn: &mut DbConn,
    store: &dyn BlobStore,
    links: &dyn Links,
    who: &Uploader,
    id: &str,
    doc_id: &str,
) -> Result<(DocumentInfo, Vec<u8>), BackofficeError> {
    load(conn, who, id)?;
    let for_citizen = matches!(who, Uploader::Citizen { .. });
    let info = crate::instances::procedure::documents(conn, links, id, for_citizen)?
        .into_iter()
        .find(|d| d.id == doc_id)
        .ok_or(BackofficeError::NotFound)?;
    let key: String = docs::table
        .find(doc_id)
        .select(docs::storage_key)
        .first(conn)?;
    let bytes = store.get(&key)?;
    if sha256_hex(&bytes) != info.sha256 {
        return Err(BackofficeError::Other(anyhow::anyhow!(
            "document {doc_id} of instance {id}: stored file does not match its digest"
        )));
    }
    Ok((info, bytes))
}

/// Deletes documents uploaded and never sent, older than `before`; returns their keys.
pub fn sweep_unsent(conn: &mut DbConn, before: NaiveDateTime) -> QueryResult<Vec<String>> {
    write_tx(conn, |conn| {
        let rows: Vec<(String, String)> = docs::table
            .filter(docs::message_id.is_null())
            .filter(docs::created_at.lt(before))
            .select((docs::id, docs::storage_key))
            .load(conn)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&String> = rows.iter().map(|(i, _)| i).collect();
        diesel::delete(docs::table.filter(docs::id.eq_any(ids))).execute(conn)?;
        Ok(rows.into_iter().map(|(_, k)| k).collect())
    })
}
