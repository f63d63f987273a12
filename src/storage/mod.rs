//! Attachment storage: where the bytes of citizens' attachments live.
//!
//! The database records attachments; their content goes to a [`BlobStore`], addressed by a
//! key. Today the store is [`LocalDirStore`], a directory on local disk; an S3-compatible
//! object store will implement the same trait, so callers will not change.
//!
//! Keys are relative, slash-separated names: 1 to 200 characters of `[A-Za-z0-9._/-]`, no
//! leading slash, no empty segment and no `.` or `..` segment. Every operation validates
//! the key before touching the disk, so a key can never point outside the store's root
//! (no path traversal), and keys map one to one onto S3 object names.
//!
//! Durability: once `put` returns `Ok`, the upload is acknowledged to the citizen (and may
//! be registered in the protocol), so nothing acknowledged may be lost to a crash or power
//! failure, and nobody may ever read a half-written object. [`LocalDirStore::put`]
//! therefore writes a uniquely named temporary file in the target directory, flushes it to
//! disk (`sync_all`), renames it over the final name (atomic within a file system: readers
//! see the old content or the new, never a mix) and then flushes the directories, so that
//! the rename and any newly created directory survive a crash too.
//!
//! The API is blocking (`std::fs`): callers run it on the blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub mod sniff;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid storage key: {0}")]
    InvalidKey(String),
    #[error("object not found: {0}")]
    NotFound(String),
    #[error("storage I/O error on {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: io::Error,
    },
}

/// A store of blobs addressed by key. Blocking API: callers run it on the blocking pool.
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores `bytes` under `key`, replacing any previous content atomically. When this
    /// returns `Ok` the content is durable.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError>;
    /// The content stored under `key`, or [`StorageError::NotFound`].
    fn get(&self, key: &str) -> Result<Vec<u8>, StorageError>;
    /// Removes `key`; deleting a missing key is `Ok`.
    fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Whether an object is stored under `key`.
    fn exists(&self, key: &str) -> Result<bool, StorageError>;
}

const MAX_KEY_LEN: usize = 200;
/// Prefix of temporary files. `~` cannot appear in a key, so no key ever names one.
const TEMP_PREFIX: &str = ".~tmp-";
/// How much of an invalid key is repeated in the error.
const INVALID_KEY_SHOWN_CHARS: usize = 100;

/// Checks `key` against the rules in the module documentation.
fn validate_key(key: &str) -> Result<(), StorageError> {
    let allowed_byte = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/');
    let valid = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(allowed_byte)
        && key
            .split('/')
            .all(|segment| !segment.is_empty() && segment != "." && segment != "..");
    if valid {
        Ok(())
    } else {
        Err(StorageError::InvalidKey(printable_key(key)))
    }
}

/// An invalid key as it may appear in logs: control characters escaped, length capped.
fn printable_key(key: &str) -> String {
    let mut shown: String = key
        .chars()
        .take(INVALID_KEY_SHOWN_CHARS)
        .flat_map(char::escape_debug)
        .collect();
    if key.chars().nth(INVALID_KEY_SHOWN_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

fn io_error(key: &str, source: io::Error) -> StorageError {
    StorageError::Io {
        key: key.to_owned(),
        source,
    }
}

/// The error kinds meaning "no such object": the file is missing, or a directory on its
/// path is missing or is a file.
fn is_missing(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

/// Flushes a directory's entries (names created, renamed or removed in it) to disk.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Directories cannot be opened for syncing with `std` outside Unix; the service runs on
/// Unix, this only keeps the crate building elsewhere.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn write_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Blobs as files under a root directory; the key is the path relative to the root.
#[derive(Debug, Clone)]
pub struct LocalDirStore {
    root: PathBuf,
}

impl LocalDirStore {
    /// Opens the store at `root`, creating the directory (and its parents) if needed.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, StorageError> {
        let root = root.into();
        let root_error = |source| io_error(&root.display().to_string(), source);
        if !root.is_dir() {
            fs::create_dir_all(&root).map_err(root_error)?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent).map_err(root_error)?;
            }
        }
        Ok(LocalDirStore { root })
    }

    /// The file of a (validated) key.
    fn path_of(&self, key: &str) -> PathBuf {
        let mut path = self.root.clone();
        path.extend(key.split('/'));
        path
    }

    /// Creates the directories of a (validated) key that do not exist yet. Returns the
    /// chain of directories from the root (first) to the key's own directory (last).
    fn ensure_dirs(&self, key: &str) -> io::Result<Vec<PathBuf>> {
        let mut dirs = vec![self.root.clone()];
        let segments: Vec<&str> = key.split('/').collect();
        let dir_segments = &segments[..segments.len().saturating_sub(1)];
        let mut dir = self.root.clone();
        for segment in dir_segments {
            dir.push(segment);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
            dirs.push(dir.clone());
        }
        Ok(dirs)
    }
}

impl BlobStore for LocalDirStore {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), StorageError> {
        validate_key(key)?;
        let dirs = self.ensure_dirs(key).map_err(|e| io_error(key, e))?;
        let final_path = self.path_of(key);
        let dir = dirs.last().unwrap_or(&self.root);
        let temp_path = dir.join(format!("{TEMP_PREFIX}{}", uuid::Uuid::new_v4().simple()));

        let written =
            write_synced(&temp_path, bytes).and_then(|()| fs::rename(&temp_path, &final_path));
        if let Err(error) = written {
            // Best effort: the temporary file may not even exist.
            let _ = fs::remove_file(&temp_path);
            return Err(io_error(key, error));
        }

        // The rename is durable once the target directory is flushed; a directory created
        // by this call (or by a concurrent one that has not flushed yet) is durable once
        // its parent is. Flushing the whole chain, innermost first, covers both.
        for dir in dirs.iter().rev() {
            sync_dir(dir).map_err(|e| io_error(key, e))?;
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        validate_key(key)?;
        let not_found = || StorageError::NotFound(key.to_owned());
        let mut file = match File::open(self.path_of(key)) {
            Ok(file) => file,
            Err(error) if is_missing(&error) => return Err(not_found()),
            Err(error) => return Err(io_error(key, error)),
        };
        let metadata = file.metadata().map_err(|e| io_error(key, e))?;
        if !metadata.is_file() {
            // A directory holding longer keys, not an object.
            return Err(not_found());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        file.read_to_end(&mut bytes).map_err(|e| io_error(key, e))?;
        Ok(bytes)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        validate_key(key)?;
        let path = self.path_of(key);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if is_missing(&error) => return Ok(()),
            Err(error) => {
                let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
                return if is_dir {
                    // A directory holding longer keys: no object by this name.
                    Ok(())
                } else {
                    Err(io_error(key, error))
                };
            }
        }
        match path.parent() {
            Some(dir) => sync_dir(dir).map_err(|e| io_error(key, e)),
            None => Ok(()),
        }
    }

    fn exists(&self, key: &str) -> Result<bool, StorageError> {
        validate_key(key)?;
        match fs::metadata(self.path_of(key)) {
            Ok(metadata) => Ok(metadata.is_file()),
            Err(error) if is_missing(&error) => Ok(false),
            Err(error) => Err(io_error(key, error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> Self {
            let path = std::env::temp_dir().join(format!(
                "sportello-storage-test-{}",
                uuid::Uuid::new_v4().simple()
            ));
            fs::create_dir(&path).unwrap();
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn store() -> (TempDir, LocalDirStore) {
        let dir = TempDir::new();
        let store = LocalDirStore::new(dir.0.join("blobs")).unwrap();
        (dir, store)
    }

    /// Every file under `dir`, as a key relative to it, sorted.
    fn files_under(dir: &Path) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, out);
                } else {
                    let relative = path.strip_prefix(root).unwrap();
                    let segments: Vec<_> = relative
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect();
                    out.push(segments.join("/"));
                }
            }
        }
        let mut out = Vec::new();
        walk(dir, dir, &mut out);
        out.sort();
        out
    }

    const KEY: &str = "enti/A123/pratiche/7f3c2a/allegato-1.pdf";

    #[test]
    fn new_creates_the_root() {
        let dir = TempDir::new();
        let root = dir.0.join("a").join("b").join("blobs");
        LocalDirStore::new(&root).unwrap();
        assert!(root.is_dir());
        // Opening an existing root is fine too.
        LocalDirStore::new(&root).unwrap();
    }

    #[test]
    fn new_fails_when_the_root_is_a_file() {
        let dir = TempDir::new();
        let file = dir.0.join("not-a-dir");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(
            LocalDirStore::new(&file),
            Err(StorageError::Io { .. })
        ));
    }

    #[test]
    fn round_trip() {
        let (_dir, store) = store();
        let content = b"%PDF-1.7\n\xE2\xE3\xCF\xD3 contenuto binario\0\x01\x02";
        store.put(KEY, content).unwrap();
        assert_eq!(store.get(KEY).unwrap(), content);
        store.put("radice.txt", b"").unwrap();
        assert_eq!(store.get("radice.txt").unwrap(), b"");
    }

    #[test]
    fn overwrite_replaces_the_content() {
        let (_dir, store) = store();
        store.put(KEY, b"prima versione, piuttosto lunga").unwrap();
        store.put(KEY, b"seconda").unwrap();
        assert_eq!(store.get(KEY).unwrap(), b"seconda");
    }

    #[test]
    fn exists_reports_objects_only() {
        let (_dir, store) = store();
        assert!(!store.exists(KEY).unwrap());
        store.put(KEY, b"x").unwrap();
        assert!(store.exists(KEY).unwrap());
        // A directory on the way to a key is not an object.
        assert!(!store.exists("enti/A123").unwrap());
        // Nor is anything below an object.
        assert!(!store.exists(&format!("{KEY}/altro")).unwrap());
    }

    #[test]
    fn get_missing_is_not_found() {
        let (_dir, store) = store();
        let missing = "enti/A123/mancante.pdf";
        match store.get(missing) {
            Err(StorageError::NotFound(key)) => assert_eq!(key, missing),
            other => panic!("expected NotFound, got {other:?}"),
        }
        store.put(KEY, b"x").unwrap();
        assert!(matches!(
            store.get("enti/A123"),
            Err(StorageError::NotFound(_))
        ));
        assert!(matches!(
            store.get(&format!("{KEY}/altro")),
            Err(StorageError::NotFound(_))
        ));
    }

    #[test]
    fn delete_is_idempotent() {
        let (_dir, store) = store();
        store.put(KEY, b"x").unwrap();
        store.delete(KEY).unwrap();
        assert!(!store.exists(KEY).unwrap());
        assert!(matches!(store.get(KEY), Err(StorageError::NotFound(_))));
        store.delete(KEY).unwrap();
        store.delete("mai/esistito/nulla.txt").unwrap();
        // Deleting a directory prefix removes nothing.
        store.put(KEY, b"x").unwrap();
        store.delete("enti/A123").unwrap();
        assert!(store.exists(KEY).unwrap());
    }

    #[test]
    fn invalid_keys_are_refused_by_every_operation() {
        let (dir, store) = store();
        let too_long = "a".repeat(MAX_KEY_LEN + 1);
        let invalid = [
            "",
            "/etc/passwd",
            "/",
            "a//b",
            "a/",
            ".",
            "..",
            "./a",
            "a/./b",
            "a/.",
            "../fuori",
            "a/../../fuori",
            "a/..",
            "a\\..\\b",
            "a b",
            "a:b",
            "a~b",
            "%2e%2e/fuori",
            "città",
            "a\0b",
            "a\nb",
            too_long.as_str(),
        ];
        for key in invalid {
            let is_invalid = |result: Result<(), StorageError>| {
                matches!(result, Err(StorageError::InvalidKey(_)))
            };
            assert!(is_invalid(store.put(key, b"x")), "put {key:?}");
            assert!(is_invalid(store.get(key).map(drop)), "get {key:?}");
            assert!(is_invalid(store.delete(key)), "delete {key:?}");
            assert!(is_invalid(store.exists(key).map(drop)), "exists {key:?}");
        }
        // Nothing was written anywhere, inside the root or next to it.
        assert_eq!(files_under(&dir.0), Vec::<String>::new());
    }

    #[test]
    fn unusual_but_valid_keys_are_accepted() {
        let (_dir, store) = store();
        let longest = "a".repeat(MAX_KEY_LEN);
        for key in [
            ".nascosto",
            "a..b",
            "...",
            "-trattino",
            "A_b-c.d/E.f",
            longest.as_str(),
        ] {
            store.put(key, key.as_bytes()).unwrap();
            assert_eq!(store.get(key).unwrap(), key.as_bytes());
        }
    }

    #[test]
    fn invalid_key_error_is_escaped_and_capped() {
        let error = validate_key("a\nb").unwrap_err();
        assert_eq!(error.to_string(), "invalid storage key: a\\nb");
        let long = "x".repeat(1000);
        let StorageError::InvalidKey(shown) = validate_key(&long).unwrap_err() else {
            panic!("expected InvalidKey");
        };
        assert_eq!(shown.chars().count(), INVALID_KEY_SHOWN_CHARS + 1);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn put_leaves_no_temporary_files() {
        let (dir, store) = store();
        store.put(KEY, b"uno").unwrap();
        store.put(KEY, b"due").unwrap();
        store
            .put("enti/A123/altro.xml", b"<?xml version=\"1.0\"?><a/>")
            .unwrap();
        store.put("radice.txt", b"tre").unwrap();
        assert_eq!(
            files_under(&dir.0.join("blobs")),
            vec![
                "enti/A123/altro.xml".to_owned(),
                KEY.to_owned(),
                "radice.txt".to_owned()
            ]
        );
    }

    #[test]
    fn failed_put_leaves_no_temporary_file() {
        let (dir, store) = store();
        store.put("pratica/allegato.pdf", b"x").unwrap();
        // "pratica" is a directory: renaming a file over it fails.
        assert!(matches!(
            store.put("pratica", b"y"),
            Err(StorageError::Io { .. })
        ));
        // "pratica/allegato.pdf" is a file: no directory can be created there.
        assert!(matches!(
            store.put("pratica/allegato.pdf/sotto", b"z"),
            Err(StorageError::Io { .. })
        ));
        assert_eq!(
            files_under(&dir.0.join("blobs")),
            vec!["pratica/allegato.pdf".to_owned()]
        );
        assert_eq!(store.get("pratica/allegato.pdf").unwrap(), b"x");
    }

    #[test]
    fn usable_as_a_shared_trait_object() {
        let (_dir, store) = store();
        let shared: std::sync::Arc<dyn BlobStore> = std::sync::Arc::new(store);
        let clone = std::sync::Arc::clone(&shared);
        std::thread::spawn(move || clone.put("da/altro/thread", b"ok").unwrap())
            .join()
            .unwrap();
        assert_eq!(shared.get("da/altro/thread").unwrap(), b"ok");
    }
}
