//! The citizen's own data (GDPR art. 15, right of access, and art. 20, portability): one ZIP
//! with everything Sportello holds about the logged-in citizen in one ente — profile,
//! instances (drafts included) with their frozen documents, attachments and the office's
//! documents sent to them, messages and history as their own area shows them, bookings — and
//! a JSON index (`index.json`) naming every file with its SHA-256. Nothing of anyone else:
//! every row is read through the citizen's own views, which load only their instances.
//!
//! The ZIP is built in memory: a citizen's files are bounded by the attachment limits per
//! instance (docs/instances.md).

use std::io::Write;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::backoffice::documents::{self, Uploader};
use crate::catalog::forms::FormCache;
use crate::db::schema::{citizens, enti, instances as inst};
use crate::db::DbConn;
use crate::instances::view::InstanceView;
use crate::instances::{attachments, iso, CitizenCtx, Links};
use crate::storage::BlobStore;

/// The version of the index's layout.
pub const FORMAT: &str = "sportello-personal-data/1";

#[derive(Debug, thiserror::Error)]
pub enum PersonalDataError {
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::db::DbError> for PersonalDataError {
    fn from(e: crate::db::DbError) -> Self {
        Self::Other(anyhow::Error::new(e))
    }
}

/// The citizen as Sportello knows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Profile {
    pub codice_fiscale: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    /// First seen (first login).
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A file inside the ZIP.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FileEntry {
    /// Its path inside the ZIP.
    pub path: String,
    /// `document` (the frozen submission), `attachment` or `office_document`.
    pub kind: String,
    pub sha256: String,
    pub size_bytes: u64,
}

/// One instance: as the citizen's area shows it, and its files.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InstanceEntry {
    pub instance: InstanceView,
    pub files: Vec<FileEntry>,
}

/// `index.json`
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Index {
    /// `sportello-personal-data/1`
    pub format: String,
    #[schema(format = DateTime)]
    pub generated_at: String,
    pub ente: crate::catalog::EnteRef,
    pub profile: Profile,
    pub instances: Vec<InstanceEntry>,
    pub bookings: crate::booking::MyBookings,
    /// The citizen's logins and logouts of the last 12 months, from the audit log.
    pub logins: Vec<crate::audit::query::AuditRecord>,
}

/// The ZIP and what it holds.
#[derive(Debug)]
pub struct Archive {
    pub bytes: Vec<u8>,
    pub index: Index,
    pub file_name: String,
}

/// The file name part of a stored name, safe inside a ZIP (no directories, no controls).
fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    match clean.trim() {
        "" | "." | ".." => "file".into(),
        s => s.to_owned(),
    }
}

/// Gathers the citizen's data and writes the ZIP.
pub fn build(
    conn: &mut DbConn,
    forms: &FormCache,
    store: &dyn BlobStore,
    links: &dyn Links,
    who: CitizenCtx,
    now: NaiveDateTime,
) -> Result<Archive, PersonalDataError> {
    let (cf, given, family, email, created, updated): (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        NaiveDateTime,
        NaiveDateTime,
    ) = citizens::table
        .find(who.citizen_id)
        .filter(citizens::ente_id.eq(who.ente_id))
        .select((
            citizens::codice_fiscale,
            citizens::given_name,
            citizens::family_name,
            citizens::email,
            citizens::created_at,
            citizens::updated_at,
        ))
        .first(conn)?;
    let (ente_code, ente_name): (String, String) = enti::table
        .find(who.ente_id)
        .select((enti::code, enti::name))
        .first(conn)?;
    let ids: Vec<(String, Option<String>)> = inst::table
        .filter(inst::ente_id.eq(who.ente_id))
        .filter(inst::citizen_id.eq(who.citizen_id))
        .order((inst::created_at.asc(), inst::id.asc()))
        .select((inst::id, inst::document))
        .load(conn)?;

    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let put = |zip: &mut zip::ZipWriter<std::io::Cursor<Vec<u8>>>,
               path: &str,
               kind: &str,
               bytes: &[u8]|
     -> anyhow::Result<FileEntry> {
        zip.start_file(path, opts)?;
        zip.write_all(bytes)?;
        Ok(FileEntry {
            path: path.to_owned(),
            kind: kind.to_owned(),
            sha256: crate::text::sha256_hex(bytes),
            size_bytes: bytes.len() as u64,
        })
    };

    let today = crate::domain::calendar::rome_date(now);
    let mut instances = Vec::new();
    for (id, document) in ids {
        let view = crate::instances::view(conn, forms, links, who, &id, today)
            .map_err(|e| anyhow::anyhow!("instance {id}: {e}"))?;
        let mut files = Vec::new();
        if let Some(doc) = document {
            files.push(put(
                &mut zip,
                &format!("istanze/{id}/documento.json"),
                "document",
                doc.as_bytes(),
            )?);
        }
        for a in &view.attachments {
            let (info, bytes) = attachments::read_checked(conn, store, links, &id, &a.id)
                .map_err(|e| anyhow::anyhow!("attachment {} of {id}: {e}", a.id))?;
            files.push(put(
                &mut zip,
                &format!(
                    "istanze/{id}/allegati/{}/{}",
                    a.id,
                    safe_name(&info.filename)
                ),
                "attachment",
                &bytes,
            )?);
        }
        let citizen = Uploader::Citizen {
            ente_id: who.ente_id,
            citizen_id: who.citizen_id,
        };
        for d in crate::instances::procedure::documents(conn, links, &id, true)? {
            let (info, bytes) = documents::read(conn, store, links, &citizen, &id, &d.id)
                .map_err(|e| anyhow::anyhow!("document {} of {id}: {e}", d.id))?;
            files.push(put(
                &mut zip,
                &format!(
                    "istanze/{id}/documenti/{}/{}",
                    d.id,
                    safe_name(&info.filename)
                ),
                "office_document",
                &bytes,
            )?);
        }
        instances.push(InstanceEntry {
            instance: view,
            files,
        });
    }
    let bookings =
        crate::booking::mine(conn, &who).map_err(|e| anyhow::anyhow!("bookings: {e}"))?;
    let index = Index {
        format: FORMAT.into(),
        generated_at: iso(now),
        ente: crate::catalog::EnteRef {
            code: ente_code.clone(),
            name: ente_name,
        },
        profile: Profile {
            codice_fiscale: cf.clone(),
            given_name: given,
            family_name: family,
            email,
            created_at: iso(created),
            updated_at: iso(updated),
        },
        instances,
        bookings,
        logins: crate::audit::query::citizen_logins(
            conn,
            who.ente_id,
            who.citizen_id,
            now - chrono::Duration::days(365),
        )?,
    };
    let json = serde_json::to_vec_pretty(&index).map_err(anyhow::Error::from)?;
    put(&mut zip, "index.json", "index", &json)?;
    crate::audit::record(
        conn,
        crate::audit::Entry::new(
            who.ente_id,
            crate::audit::Actor::Citizen(who.citizen_id),
            crate::audit::Action::PersonalDataExport,
            "citizen",
            who.citizen_id.to_string(),
        )
        .with(serde_json::json!({
            "instances": index.instances.len(),
            "files": index.instances.iter().map(|i| i.files.len()).sum::<usize>(),
        })),
    )?;
    let bytes = zip.finish().map_err(anyhow::Error::from)?.into_inner();
    Ok(Archive {
        bytes,
        file_name: format!(
            "dati-personali-{}-{}-{}.zip",
            ente_code,
            cf,
            now.format("%Y%m%d")
        ),
        index,
    })
}

#[cfg(test)]
mod tests {
    use super::safe_name;

    #[test]
    fn names_inside_the_zip_have_no_directories() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("C:\\x\\Contratto.pdf"), "Contratto.pdf");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("a\u{0}b.pdf"), "a_b.pdf");
    }
}
