//! Content sniffing for uploaded attachments.
//!
//! The type of a file is decided from its bytes only: magic numbers, and for ZIP containers
//! and text a look at the structure. The file name and the `Content-Type` sent by the browser
//! are never consulted, because both are chosen by the uploader.
//!
//! The accepted kinds are deliberately few (see [`FileKind`]). Everything else yields `None`,
//! in particular:
//! - executables (Windows `MZ`, ELF, Mach-O), even when a PDF header follows within the
//!   first kilobyte (polyglot files);
//! - HTML, although it is text: served back to a browser it could run scripts. Besides
//!   `<!doctype html` and `<html`, the other openings with which browsers recognise HTML
//!   (`<script`, `<body`, `<iframe`, … as listed by the WHATWG MIME sniffing standard), and
//!   a bare `<svg`, are refused too;
//! - ZIP archives that are neither OpenDocument nor Office Open XML documents.
//!
//! Sniffing classifies honest files; it does not validate them. A crafted file can still look
//! like a PDF or a DOCX, so downloads must be served with the detected MIME type,
//! `Content-Disposition: attachment` and `X-Content-Type-Options: nosniff`. XML in
//! particular (XHTML, SVG, XSLT) can carry scripts when a browser renders it inline.

use serde::{Deserialize, Serialize};

/// The kinds of file the desk accepts as attachments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    Pdf,
    Xml,
    Txt,
    Jpeg,
    Png,
    Tiff,
    Eml,
    Odf,
    Ooxml,
}

impl FileKind {
    /// Every kind, in declaration order.
    pub const ALL: [FileKind; 9] = [
        FileKind::Pdf,
        FileKind::Xml,
        FileKind::Txt,
        FileKind::Jpeg,
        FileKind::Png,
        FileKind::Tiff,
        FileKind::Eml,
        FileKind::Odf,
        FileKind::Ooxml,
    ];

    /// The identifier used in configuration and JSON (same as the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Pdf => "pdf",
            FileKind::Xml => "xml",
            FileKind::Txt => "txt",
            FileKind::Jpeg => "jpeg",
            FileKind::Png => "png",
            FileKind::Tiff => "tiff",
            FileKind::Eml => "eml",
            FileKind::Odf => "odf",
            FileKind::Ooxml => "ooxml",
        }
    }

    /// Inverse of [`FileKind::as_str`]: exact, lowercase match (as serde).
    pub fn parse(s: &str) -> Option<FileKind> {
        FileKind::ALL.into_iter().find(|kind| kind.as_str() == s)
    }

    /// Name of the kind shown to citizens, in Italian.
    pub fn label_it(self) -> &'static str {
        match self {
            FileKind::Pdf => "PDF",
            FileKind::Xml => "documento XML",
            FileKind::Txt => "documento di testo",
            FileKind::Jpeg => "immagine JPEG",
            FileKind::Png => "immagine PNG",
            FileKind::Tiff => "immagine TIFF",
            FileKind::Eml => "messaggio e-mail (EML)",
            FileKind::Odf => "documento OpenDocument",
            FileKind::Ooxml => "documento Office Open XML",
        }
    }
}

/// What [`sniff`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub kind: FileKind,
    /// The MIME type to store and serve the file with.
    pub mime: String,
    /// The PDF declares PDF/A conformance in its XMP metadata (`pdfaid:part`). This is the
    /// file's own claim, not a validation. Always false for other kinds.
    pub pdf_a: bool,
}

impl Detected {
    fn new(kind: FileKind, mime: impl Into<String>) -> Self {
        Detected {
            kind,
            mime: mime.into(),
            pdf_a: false,
        }
    }
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const PDF_MAGIC: &[u8] = b"%PDF-";
/// How many bytes may precede `%PDF-`: PDF readers look for the header in the first KiB.
const PDF_HEADER_WINDOW: usize = 1024;
const PDF_A_MARKER: &[u8] = b"pdfaid:part";
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1A\n";
const JPEG_MAGIC: &[u8] = b"\xFF\xD8\xFF";
const TIFF_LITTLE_ENDIAN: &[u8] = b"II*\0";
const TIFF_BIG_ENDIAN: &[u8] = b"MM\0*";

const ZIP_LOCAL_HEADER: &[u8] = b"PK\x03\x04";
const ZIP_CENTRAL_HEADER: &[u8] = b"PK\x01\x02";
const ZIP_END_OF_CENTRAL_DIR: &[u8] = b"PK\x05\x06";
const ZIP_LOCAL_HEADER_LEN: usize = 30;
const ZIP_CENTRAL_HEADER_LEN: usize = 46;
const ZIP_END_OF_CENTRAL_DIR_LEN: usize = 22;

const ODF_MIMETYPE_ENTRY: &[u8] = b"mimetype";
const ODF_MIME_PREFIX: &str = "application/vnd.oasis.opendocument.";
/// Longest `mimetype` content accepted (the longest real one is about 50 characters).
const ODF_MIME_MAX_LEN: usize = 100;

const OOXML_CONTENT_TYPES_ENTRY: &[u8] = b"[Content_Types].xml";
/// Main part folder of each Office Open XML application, with the document's MIME type.
const OOXML_APPLICATIONS: [(&[u8], &str); 3] = [
    (
        b"word/",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        b"xl/",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        b"ppt/",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
];

/// Header fields typical of an e-mail message; at least two must be present for EML.
const EML_KEY_HEADERS: [&str; 8] = [
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "received",
    "return-path",
];

/// Openings with which browsers recognise HTML (WHATWG MIME sniffing), plus `<svg`, when
/// followed by whitespace, `>` or `/`; `<!doctype html` and `<html` count whatever follows.
const HTML_TAGS: [&[u8]; 16] = [
    b"<head", b"<script", b"<iframe", b"<h1", b"<div", b"<font", b"<table", b"<a", b"<style",
    b"<title", b"<b", b"<body", b"<br", b"<p", b"<!--", b"<svg",
];

/// Decides the kind of `bytes` from their content. `None` when the content is none of the
/// known kinds, or is something that must never be accepted (executables, HTML).
pub fn sniff(bytes: &[u8]) -> Option<Detected> {
    if bytes.is_empty() || is_executable(bytes) {
        return None;
    }
    if bytes.starts_with(PNG_SIGNATURE) {
        return Some(Detected::new(FileKind::Png, "image/png"));
    }
    if bytes.starts_with(JPEG_MAGIC) {
        return Some(Detected::new(FileKind::Jpeg, "image/jpeg"));
    }
    if bytes.starts_with(TIFF_LITTLE_ENDIAN) || bytes.starts_with(TIFF_BIG_ENDIAN) {
        return Some(Detected::new(FileKind::Tiff, "image/tiff"));
    }
    if bytes.starts_with(ZIP_LOCAL_HEADER) {
        return sniff_zip(bytes);
    }
    if looks_like_html(bytes) {
        return None;
    }
    let header_window = &bytes[..bytes.len().min(PDF_HEADER_WINDOW + PDF_MAGIC.len())];
    if find(header_window, PDF_MAGIC).is_some() {
        return Some(Detected {
            pdf_a: find(bytes, PDF_A_MARKER).is_some(),
            ..Detected::new(FileKind::Pdf, "application/pdf")
        });
    }
    sniff_text(bytes)
}

/// Windows/DOS (`MZ`), ELF and Mach-O (thin and fat; `CAFEBABE` is also a Java class file)
/// executables. A text that happens to begin with `MZ` is refused too: rare, and safer than
/// trying to tell the two apart.
fn is_executable(bytes: &[u8]) -> bool {
    const MAGICS: [&[u8]; 7] = [
        b"MZ",
        b"\x7FELF",
        b"\xFE\xED\xFA\xCE",
        b"\xFE\xED\xFA\xCF",
        b"\xCE\xFA\xED\xFE",
        b"\xCF\xFA\xED\xFE",
        b"\xCA\xFE\xBA\xBE",
    ];
    MAGICS.iter().any(|magic| bytes.starts_with(magic))
}

fn looks_like_html(bytes: &[u8]) -> bool {
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let rest = &body[start..];
    if starts_with_ignore_case(rest, b"<!doctype html") || starts_with_ignore_case(rest, b"<html") {
        return true;
    }
    HTML_TAGS.iter().any(|tag| {
        starts_with_ignore_case(rest, tag)
            && rest
                .get(tag.len())
                .is_some_and(|&b| b.is_ascii_whitespace() || b == b'>' || b == b'/')
    })
}

fn starts_with_ignore_case(haystack: &[u8], prefix: &[u8]) -> bool {
    haystack
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

// --- Text --------------------------------------------------------------------------------

fn sniff_text(bytes: &[u8]) -> Option<Detected> {
    let text = decode_text(bytes)?;
    if text.is_empty() {
        return None;
    }
    let detected = if is_xml(text) {
        Detected::new(FileKind::Xml, "application/xml")
    } else if is_eml(text) {
        Detected::new(FileKind::Eml, "message/rfc822")
    } else {
        Detected::new(FileKind::Txt, "text/plain")
    };
    Some(detected)
}

/// The text without its BOM, when `bytes` is UTF-8 with no NUL and no C0 control character
/// other than TAB, LF, FF and CR.
fn decode_text(bytes: &[u8]) -> Option<&str> {
    let body = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    let text = std::str::from_utf8(body).ok()?;
    let forbidden = |b: u8| b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0C | b'\r');
    if text.bytes().any(forbidden) {
        return None;
    }
    Some(text)
}

fn is_xml(text: &str) -> bool {
    text.trim_start_matches(|c: char| c.is_ascii_whitespace())
        .starts_with("<?xml")
}

/// RFC 5322 header section: from the first non-empty line, header fields (`Name: value`,
/// possibly folded onto continuation lines) up to an empty line, with at least two of
/// [`EML_KEY_HEADERS`]. An mbox `From ` envelope line before the headers is tolerated, as
/// some mail clients write one when saving a message.
fn is_eml(text: &str) -> bool {
    let mut seen = [false; EML_KEY_HEADERS.len()];
    let mut in_headers = false;
    let mut first_line = true;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if in_headers {
                return seen.iter().filter(|&&found| found).count() >= 2;
            }
            continue;
        }
        if std::mem::take(&mut first_line) && is_mbox_envelope(line) {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if in_headers {
                continue;
            }
            return false;
        }
        let Some((name, _value)) = line.split_once(':') else {
            return false;
        };
        // The obsolete syntax allows blanks between the name and the colon.
        let name = name.trim_end_matches([' ', '\t']);
        let valid_name = !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b));
        if !valid_name {
            return false;
        }
        in_headers = true;
        if let Some(index) = EML_KEY_HEADERS
            .iter()
            .position(|key| key.eq_ignore_ascii_case(name))
        {
            seen[index] = true;
        }
    }
    false
}

/// `From sender date`, the separator line of mbox files (not a `From:` header field, not
/// even in the obsolete `From :` form).
fn is_mbox_envelope(line: &str) -> bool {
    line.strip_prefix("From ")
        .is_some_and(|rest| !rest.trim_start_matches([' ', '\t']).starts_with(':'))
}

// --- ZIP containers ----------------------------------------------------------------------

fn sniff_zip(bytes: &[u8]) -> Option<Detected> {
    if let Some(mime) = odf_mime(bytes) {
        return Some(Detected::new(FileKind::Odf, mime));
    }
    let names = zip_entry_names(bytes);
    if !names.contains(&OOXML_CONTENT_TYPES_ENTRY) {
        return None;
    }
    OOXML_APPLICATIONS
        .iter()
        .find(|(folder, _)| names.iter().any(|name| name.starts_with(folder)))
        .map(|(_, mime)| Detected::new(FileKind::Ooxml, *mime))
}

/// The MIME type stored in an OpenDocument package: its first entry is `mimetype`, stored
/// uncompressed, holding `application/vnd.oasis.opendocument.<type>`.
fn odf_mime(bytes: &[u8]) -> Option<String> {
    let first = local_header(bytes, 0)?;
    if first.name != ODF_MIMETYPE_ENTRY || first.method != 0 {
        return None;
    }
    let data = bytes.get(first.data_start..)?;
    // With a trustworthy size the content is exactly the entry's data; when the size is
    // missing (data descriptor) the MIME type ends at the first byte it cannot contain.
    let data = match first.compressed_size {
        0 => data,
        size => data.get(..usize::try_from(size).ok()?)?,
    };
    let mime_len = data
        .iter()
        .take(ODF_MIME_MAX_LEN + 1)
        .position(|&b| !is_mime_byte(b))
        .unwrap_or(data.len().min(ODF_MIME_MAX_LEN + 1));
    if mime_len > ODF_MIME_MAX_LEN {
        return None;
    }
    let (mime, rest) = data.split_at(mime_len);
    if first.compressed_size != 0 && !rest.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let mime = std::str::from_utf8(mime).ok()?;
    let subtype = mime.strip_prefix(ODF_MIME_PREFIX)?;
    if subtype.is_empty() {
        return None;
    }
    Some(mime.to_owned())
}

/// Bytes of an ODF MIME type: lowercase letters, digits and `/ . + -`. Anything else
/// (notably CR/LF) ends it, so the value is always safe in a `Content-Type` header.
fn is_mime_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'/' | b'.' | b'+' | b'-')
}

struct LocalHeader<'a> {
    flags: u16,
    method: u16,
    compressed_size: u32,
    name: &'a [u8],
    name_end: usize,
    data_start: usize,
}

/// Flag bit 3: sizes and CRC are in a data descriptor after the data, not in the header.
const ZIP_FLAG_DATA_DESCRIPTOR: u16 = 1 << 3;

fn local_header(bytes: &[u8], at: usize) -> Option<LocalHeader<'_>> {
    let header = bytes.get(at..at.checked_add(ZIP_LOCAL_HEADER_LEN)?)?;
    if !header.starts_with(ZIP_LOCAL_HEADER) {
        return None;
    }
    let name_len = usize::from(le_u16(header, 26)?);
    let extra_len = usize::from(le_u16(header, 28)?);
    let name_start = at + ZIP_LOCAL_HEADER_LEN;
    let name_end = name_start.checked_add(name_len)?;
    Some(LocalHeader {
        flags: le_u16(header, 6)?,
        method: le_u16(header, 8)?,
        compressed_size: le_u32(header, 18)?,
        name: bytes.get(name_start..name_end)?,
        name_end,
        data_start: name_end.checked_add(extra_len)?,
    })
}

/// Names of the archive's entries: from the central directory when it is readable (it lists
/// exactly the archive's own entries), otherwise by scanning the local file headers.
fn zip_entry_names(bytes: &[u8]) -> Vec<&[u8]> {
    match central_directory_names(bytes) {
        Some(names) if !names.is_empty() => names,
        _ => local_header_names(bytes),
    }
}

fn central_directory_names(bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let end = end_of_central_directory(bytes)?;
    let record = bytes.get(end..end.checked_add(ZIP_END_OF_CENTRAL_DIR_LEN)?)?;
    let entries = le_u16(record, 10)?;
    let offset = le_u32(record, 16)?;
    if entries == u16::MAX || offset == u32::MAX {
        // ZIP64: leave it to the local header scan.
        return None;
    }
    let mut at = usize::try_from(offset).ok()?;
    let mut names = Vec::with_capacity(usize::from(entries));
    for _ in 0..entries {
        let header = bytes.get(at..at.checked_add(ZIP_CENTRAL_HEADER_LEN)?)?;
        if !header.starts_with(ZIP_CENTRAL_HEADER) {
            return None;
        }
        let name_len = usize::from(le_u16(header, 28)?);
        let extra_len = usize::from(le_u16(header, 30)?);
        let comment_len = usize::from(le_u16(header, 32)?);
        let name_start = at + ZIP_CENTRAL_HEADER_LEN;
        let name_end = name_start.checked_add(name_len)?;
        names.push(bytes.get(name_start..name_end)?);
        at = name_end.checked_add(extra_len)?.checked_add(comment_len)?;
    }
    Some(names)
}

/// Position of the end-of-central-directory record, searched backwards over the largest
/// possible archive comment.
fn end_of_central_directory(bytes: &[u8]) -> Option<usize> {
    let last = bytes.len().checked_sub(ZIP_END_OF_CENTRAL_DIR_LEN)?;
    let first = last.saturating_sub(usize::from(u16::MAX));
    (first..=last).rev().find(|&at| {
        let record = &bytes[at..];
        record.starts_with(ZIP_END_OF_CENTRAL_DIR)
            && le_u16(record, 20).is_some_and(|comment_len| {
                at + ZIP_END_OF_CENTRAL_DIR_LEN + usize::from(comment_len) <= bytes.len()
            })
    })
}

/// Walks the local file headers from the start of the archive. Where the next header is
/// not where the sizes say (data descriptor, or inconsistent sizes), resynchronises on the
/// next local header signature.
fn local_header_names(bytes: &[u8]) -> Vec<&[u8]> {
    let mut names = Vec::new();
    let mut at = 0;
    while let Some(header) = local_header(bytes, at) {
        names.push(header.name);
        let declared_next = header
            .data_start
            .checked_add(usize::try_from(header.compressed_size).unwrap_or(usize::MAX));
        let sizes_known =
            header.flags & ZIP_FLAG_DATA_DESCRIPTOR == 0 || header.compressed_size != 0;
        at = match declared_next {
            Some(next) if sizes_known && local_header(bytes, next).is_some() => next,
            _ => match bytes
                .get(header.name_end..)
                .and_then(|rest| find(rest, ZIP_LOCAL_HEADER))
            {
                Some(offset) => header.name_end + offset,
                None => break,
            },
        };
    }
    names
}

fn le_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let raw = bytes.get(at..at.checked_add(2)?)?;
    raw.try_into().ok().map(u16::from_le_bytes)
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let raw = bytes.get(at..at.checked_add(4)?)?;
    raw.try_into().ok().map(u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- Samples ---------------------------------------------------------------------

    /// A small but well-formed PDF; with `xmp`, a catalog `/Metadata` stream holding it.
    fn minimal_pdf(xmp: Option<&str>) -> Vec<u8> {
        let mut pdf = Vec::new();
        pdf.extend_from_slice(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
        let metadata_ref = if xmp.is_some() {
            " /Metadata 4 0 R"
        } else {
            ""
        };
        pdf.extend_from_slice(
            format!("1 0 obj\n<< /Type /Catalog /Pages 2 0 R{metadata_ref} >>\nendobj\n")
                .as_bytes(),
        );
        pdf.extend_from_slice(b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n");
        pdf.extend_from_slice(
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n",
        );
        if let Some(xmp) = xmp {
            pdf.extend_from_slice(
                format!(
                    "4 0 obj\n<< /Type /Metadata /Subtype /XML /Length {} >>\n\
                     stream\n{xmp}\nendstream\nendobj\n",
                    xmp.len()
                )
                .as_bytes(),
            );
        }
        pdf.extend_from_slice(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n");
        pdf
    }

    fn xmp_packet(pdfa: bool) -> String {
        let pdfa_properties = if pdfa {
            " xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\" \
             pdfaid:part=\"2\" pdfaid:conformance=\"B\""
        } else {
            ""
        };
        format!(
            "<?xpacket begin=\"\u{FEFF}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
             <x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\
             <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
             <rdf:Description rdf:about=\"\" \
             xmlns:dc=\"http://purl.org/dc/elements/1.1/\"{pdfa_properties}>\
             <dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">Istanza</rdf:li></rdf:Alt>\
             </dc:title>\
             </rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>"
        )
    }

    struct Entry<'a> {
        name: &'a str,
        data: &'a [u8],
    }

    fn entry<'a>(name: &'a str, data: &'a [u8]) -> Entry<'a> {
        Entry { name, data }
    }

    #[derive(Clone, Copy)]
    enum Layout {
        /// Local headers with sizes, then the central directory.
        Complete,
        /// Local headers with sizes only (as the sniffer's fallback sees a truncated file).
        LocalOnly,
        /// Local headers with flag bit 3 and zero sizes, data descriptors after the data,
        /// no central directory: what a streaming writer produces, cut before the end.
        Streamed,
    }

    /// A hand-built ZIP: every entry stored (method 0), CRC left at 0.
    fn zip(entries: &[Entry], layout: Layout) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for entry in entries {
            let offset = u32::try_from(out.len()).unwrap();
            let size = u32::try_from(entry.data.len()).unwrap();
            let name_len = u16::try_from(entry.name.len()).unwrap();
            let (flags, header_size) = match layout {
                Layout::Streamed => (ZIP_FLAG_DATA_DESCRIPTOR, 0),
                Layout::Complete | Layout::LocalOnly => (0, size),
            };
            out.extend_from_slice(ZIP_LOCAL_HEADER);
            out.extend_from_slice(&20u16.to_le_bytes()); // version needed
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // method: stored
            out.extend_from_slice(&0u16.to_le_bytes()); // time
            out.extend_from_slice(&0u16.to_le_bytes()); // date
            out.extend_from_slice(&0u32.to_le_bytes()); // CRC-32
            out.extend_from_slice(&header_size.to_le_bytes()); // compressed size
            out.extend_from_slice(&header_size.to_le_bytes()); // uncompressed size
            out.extend_from_slice(&name_len.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // extra field length
            out.extend_from_slice(entry.name.as_bytes());
            out.extend_from_slice(entry.data);
            if let Layout::Streamed = layout {
                out.extend_from_slice(b"PK\x07\x08");
                out.extend_from_slice(&0u32.to_le_bytes());
                out.extend_from_slice(&size.to_le_bytes());
                out.extend_from_slice(&size.to_le_bytes());
            }

            central.extend_from_slice(ZIP_CENTRAL_HEADER);
            central.extend_from_slice(&20u16.to_le_bytes()); // version made by
            central.extend_from_slice(&20u16.to_le_bytes()); // version needed
            central.extend_from_slice(&flags.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes()); // method
            central.extend_from_slice(&0u16.to_le_bytes()); // time
            central.extend_from_slice(&0u16.to_le_bytes()); // date
            central.extend_from_slice(&0u32.to_le_bytes()); // CRC-32
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&size.to_le_bytes());
            central.extend_from_slice(&name_len.to_le_bytes());
            central.extend_from_slice(&0u16.to_le_bytes()); // extra
            central.extend_from_slice(&0u16.to_le_bytes()); // comment
            central.extend_from_slice(&0u16.to_le_bytes()); // disk
            central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(entry.name.as_bytes());
        }
        if let Layout::Complete = layout {
            let central_offset = u32::try_from(out.len()).unwrap();
            let central_size = u32::try_from(central.len()).unwrap();
            let count = u16::try_from(entries.len()).unwrap();
            out.extend_from_slice(&central);
            out.extend_from_slice(ZIP_END_OF_CENTRAL_DIR);
            out.extend_from_slice(&0u16.to_le_bytes()); // this disk
            out.extend_from_slice(&0u16.to_le_bytes()); // central directory disk
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&central_size.to_le_bytes());
            out.extend_from_slice(&central_offset.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // comment length
        }
        out
    }

    const CONTENT_TYPES: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
        <Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
        <Default Extension=\"xml\" ContentType=\"application/xml\"/></Types>";
    const RELS: &[u8] = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
        <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\"/>";

    fn odt(layout: Layout) -> Vec<u8> {
        zip(
            &[
                entry("mimetype", b"application/vnd.oasis.opendocument.text"),
                entry(
                    "META-INF/manifest.xml",
                    b"<?xml version=\"1.0\"?><manifest:manifest/>",
                ),
                entry(
                    "content.xml",
                    b"<?xml version=\"1.0\"?><office:document-content/>",
                ),
            ],
            layout,
        )
    }

    fn docx(layout: Layout) -> Vec<u8> {
        zip(
            &[
                entry("[Content_Types].xml", CONTENT_TYPES),
                entry("_rels/.rels", RELS),
                entry("word/document.xml", b"<?xml version=\"1.0\"?><w:document/>"),
            ],
            layout,
        )
    }

    fn kind(bytes: &[u8]) -> Option<FileKind> {
        sniff(bytes).map(|detected| detected.kind)
    }

    fn mime(bytes: &[u8]) -> Option<String> {
        sniff(bytes).map(|detected| detected.mime)
    }

    // --- FileKind ----------------------------------------------------------------------

    #[test]
    fn kind_names_round_trip_and_match_serde() {
        for kind in FileKind::ALL {
            assert_eq!(FileKind::parse(kind.as_str()), Some(kind));
            let deserializer =
                serde::de::value::StrDeserializer::<serde::de::value::Error>::new(kind.as_str());
            assert_eq!(FileKind::deserialize(deserializer), Ok(kind));
            assert!(!kind.label_it().is_empty());
        }
        assert_eq!(FileKind::parse("PDF"), None);
        assert_eq!(FileKind::parse("docx"), None);
        assert_eq!(FileKind::parse(""), None);
    }

    #[test]
    fn all_lists_each_kind_once() {
        let mut names: Vec<_> = FileKind::ALL.iter().map(|kind| kind.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FileKind::ALL.len());
    }

    // --- PDF ---------------------------------------------------------------------------

    #[test]
    fn pdf_with_pdfa_identification_is_pdf_a() {
        let detected = sniff(&minimal_pdf(Some(&xmp_packet(true)))).unwrap();
        assert_eq!(
            detected,
            Detected {
                kind: FileKind::Pdf,
                mime: "application/pdf".into(),
                pdf_a: true
            }
        );
    }

    #[test]
    fn pdf_without_pdfa_identification_is_plain_pdf() {
        let with_plain_xmp = sniff(&minimal_pdf(Some(&xmp_packet(false)))).unwrap();
        assert_eq!(with_plain_xmp.kind, FileKind::Pdf);
        assert!(!with_plain_xmp.pdf_a);
        let without_xmp = sniff(&minimal_pdf(None)).unwrap();
        assert_eq!(without_xmp.kind, FileKind::Pdf);
        assert!(!without_xmp.pdf_a);
    }

    #[test]
    fn pdf_header_after_text_is_still_pdf() {
        let mut bytes = b"Scansione allegata alla domanda di iscrizione.\r\n".to_vec();
        bytes.extend_from_slice(&minimal_pdf(None));
        assert_eq!(kind(&bytes), Some(FileKind::Pdf));
        // Even when everything is plain ASCII, i.e. the file would otherwise pass as text.
        assert_eq!(
            kind(b"Nota del protocollo\n%PDF-1.4\n1 0 obj\n<< >>\nendobj\n%%EOF\n"),
            Some(FileKind::Pdf)
        );
    }

    #[test]
    fn pdf_header_must_start_within_the_first_kib() {
        let mut at_limit = vec![b'x'; PDF_HEADER_WINDOW];
        at_limit.extend_from_slice(&minimal_pdf(None));
        assert_eq!(kind(&at_limit), Some(FileKind::Pdf));

        let mut too_far = vec![b'x'; PDF_HEADER_WINDOW + 1];
        too_far.extend_from_slice(b"%PDF-1.7\n1 0 obj\n<< >>\nendobj\n%%EOF\n");
        assert_eq!(kind(&too_far), Some(FileKind::Txt));
        let mut too_far_binary = vec![b'x'; PDF_HEADER_WINDOW + 1];
        too_far_binary.extend_from_slice(&minimal_pdf(None));
        assert_eq!(kind(&too_far_binary), None);
    }

    // --- Images ------------------------------------------------------------------------

    #[test]
    fn png_signature() {
        let mut png = PNG_SIGNATURE.to_vec();
        // IHDR chunk: 16×16, 8-bit RGBA.
        png.extend_from_slice(b"\x00\x00\x00\x0DIHDR");
        png.extend_from_slice(b"\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00");
        png.extend_from_slice(b"\x1F\xF3\xFF\x61");
        assert_eq!(
            sniff(&png),
            Some(Detected {
                kind: FileKind::Png,
                mime: "image/png".into(),
                pdf_a: false
            })
        );
        // A truncated signature is not PNG.
        assert_eq!(kind(&png[..7]), None);
    }

    #[test]
    fn jpeg_magic() {
        let jfif = b"\xFF\xD8\xFF\xE0\x00\x10JFIF\x00\x01\x01\x00\x00\x48\x00\x48\x00\x00\xFF\xDB";
        assert_eq!(kind(jfif), Some(FileKind::Jpeg));
        assert_eq!(mime(jfif).as_deref(), Some("image/jpeg"));
        let exif = b"\xFF\xD8\xFF\xE1\x00\x16Exif\x00\x00II*\x00";
        assert_eq!(kind(exif), Some(FileKind::Jpeg));
    }

    #[test]
    fn tiff_both_byte_orders() {
        let little = b"II*\x00\x08\x00\x00\x00\x0E\x00\x00\x01\x03\x00\x01\x00";
        let big = b"MM\x00*\x00\x00\x00\x08\x00\x0E\x01\x00\x00\x03\x00\x01";
        for bytes in [&little[..], &big[..]] {
            assert_eq!(kind(bytes), Some(FileKind::Tiff));
            assert_eq!(mime(bytes).as_deref(), Some("image/tiff"));
        }
    }

    // --- ZIP containers ----------------------------------------------------------------

    #[test]
    fn odf_from_stored_mimetype_entry() {
        for layout in [Layout::Complete, Layout::LocalOnly, Layout::Streamed] {
            let detected = sniff(&odt(layout)).unwrap();
            assert_eq!(detected.kind, FileKind::Odf);
            assert_eq!(detected.mime, "application/vnd.oasis.opendocument.text");
        }
        let ods = zip(
            &[
                entry(
                    "mimetype",
                    b"application/vnd.oasis.opendocument.spreadsheet",
                ),
                entry("content.xml", b"<?xml version=\"1.0\"?>"),
            ],
            Layout::Complete,
        );
        assert_eq!(
            mime(&ods).as_deref(),
            Some("application/vnd.oasis.opendocument.spreadsheet")
        );
    }

    #[test]
    fn odf_mimetype_must_come_first_and_be_clean() {
        let not_first = zip(
            &[
                entry("content.xml", b"<?xml version=\"1.0\"?>"),
                entry("mimetype", b"application/vnd.oasis.opendocument.text"),
            ],
            Layout::Complete,
        );
        assert_eq!(sniff(&not_first), None);

        let injected = zip(
            &[entry(
                "mimetype",
                b"application/vnd.oasis.opendocument.text\r\nX-Injected: 1",
            )],
            Layout::Complete,
        );
        assert_eq!(sniff(&injected), None);

        let other_type = zip(
            &[entry("mimetype", b"application/epub+zip")],
            Layout::Complete,
        );
        assert_eq!(sniff(&other_type), None);

        let bare_prefix = zip(
            &[entry("mimetype", b"application/vnd.oasis.opendocument.")],
            Layout::Complete,
        );
        assert_eq!(sniff(&bare_prefix), None);
    }

    #[test]
    fn ooxml_word_document() {
        for layout in [Layout::Complete, Layout::LocalOnly, Layout::Streamed] {
            let detected = sniff(&docx(layout)).unwrap();
            assert_eq!(detected.kind, FileKind::Ooxml);
            assert_eq!(
                detected.mime,
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            );
            assert!(!detected.pdf_a);
        }
    }

    #[test]
    fn ooxml_spreadsheet_and_presentation() {
        let xlsx = zip(
            &[
                entry("[Content_Types].xml", CONTENT_TYPES),
                entry("_rels/.rels", RELS),
                entry("xl/workbook.xml", b"<?xml version=\"1.0\"?><workbook/>"),
            ],
            Layout::Complete,
        );
        assert_eq!(
            mime(&xlsx).as_deref(),
            Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        );
        let pptx = zip(
            &[
                entry("[Content_Types].xml", CONTENT_TYPES),
                entry(
                    "ppt/presentation.xml",
                    b"<?xml version=\"1.0\"?><p:presentation/>",
                ),
            ],
            Layout::LocalOnly,
        );
        assert_eq!(
            mime(&pptx).as_deref(),
            Some("application/vnd.openxmlformats-officedocument.presentationml.presentation")
        );
    }

    #[test]
    fn other_zip_archives_are_refused() {
        let photos = zip(
            &[
                entry("foto/facciata.jpg", b"\xFF\xD8\xFF\xE0"),
                entry("leggimi.txt", b"Foto del cantiere"),
            ],
            Layout::Complete,
        );
        assert_eq!(sniff(&photos), None);

        let content_types_only = zip(
            &[entry("[Content_Types].xml", CONTENT_TYPES)],
            Layout::Complete,
        );
        assert_eq!(sniff(&content_types_only), None);

        let word_without_content_types = zip(
            &[entry("word/document.xml", b"<w:document/>")],
            Layout::LocalOnly,
        );
        assert_eq!(sniff(&word_without_content_types), None);

        assert_eq!(sniff(b"PK\x03\x04"), None);
    }

    #[test]
    fn docx_stored_inside_another_zip_does_not_make_it_a_docx() {
        let inner = docx(Layout::Complete);
        let outer = zip(&[entry("allegati/domanda.docx", &inner)], Layout::Complete);
        assert_eq!(sniff(&outer), None);
    }

    // --- Text kinds --------------------------------------------------------------------

    #[test]
    fn xml_with_bom_and_leading_whitespace() {
        let xml = "\u{FEFF}\r\n  <?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                   <p:FatturaElettronica versione=\"FPA12\" \
                   xmlns:p=\"http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2\">\n\
                   \t<Descrizione>Fornitura di materiale per l'ufficio anagrafe</Descrizione>\n\
                   </p:FatturaElettronica>\n";
        assert_eq!(
            sniff(xml.as_bytes()),
            Some(Detected {
                kind: FileKind::Xml,
                mime: "application/xml".into(),
                pdf_a: false
            })
        );
    }

    #[test]
    fn eml_message() {
        let eml = "Return-Path: <mario.rossi@example.it>\r\n\
                   Received: from mail.example.it (mail.example.it [192.0.2.10])\r\n\
                   \tby mx.comune.example.it with ESMTPS id 4F2A1;\r\n\
                   \tMon, 3 Mar 2025 10:15:00 +0100\r\n\
                   From: Mario Rossi <mario.rossi@example.it>\r\n\
                   To: protocollo@comune.example.it\r\n\
                   Subject: Richiesta certificato di residenza\r\n\
                   Date: Mon, 3 Mar 2025 10:14:58 +0100\r\n\
                   Message-ID: <20250303101458.1234@example.it>\r\n\
                   MIME-Version: 1.0\r\n\
                   Content-Type: text/plain; charset=utf-8\r\n\
                   \r\n\
                   Buongiorno, chiedo il rilascio del certificato di residenza.\r\n\
                   Cordiali saluti, Mario Rossi\r\n";
        assert_eq!(kind(eml.as_bytes()), Some(FileKind::Eml));
        assert_eq!(mime(eml.as_bytes()).as_deref(), Some("message/rfc822"));

        let minimal = "\n\nfrom: a@example.it\nSUBJECT : Prova\n\ncorpo\n";
        assert_eq!(kind(minimal.as_bytes()), Some(FileKind::Eml));

        let with_envelope = format!("From - Mon Mar 03 10:15:00 2025\r\n{eml}");
        assert_eq!(kind(with_envelope.as_bytes()), Some(FileKind::Eml));
        let obsolete_from = "From : a@example.it\nDate: Mon, 3 Mar 2025 10:14:58 +0100\n\nx\n";
        assert_eq!(kind(obsolete_from.as_bytes()), Some(FileKind::Eml));
    }

    #[test]
    fn text_resembling_headers_is_not_eml() {
        // Only one of the key headers.
        let one_key = "Subject: Verbale\nAutore: Ufficio tecnico\n\nTesto del verbale.\n";
        assert_eq!(kind(one_key.as_bytes()), Some(FileKind::Txt));
        // Headers never closed by an empty line.
        let unterminated = "From: a@example.it\nTo: b@example.it\nSubject: Prova";
        assert_eq!(kind(unterminated.as_bytes()), Some(FileKind::Txt));
        // A line that is not a header field before the empty line.
        let prose = "From: a@example.it\nTo: b@example.it\nCiao a tutti\n\ntesto\n";
        assert_eq!(kind(prose.as_bytes()), Some(FileKind::Txt));
        // A continuation line with nothing to continue.
        let folded_first = " From: a@example.it\nTo: b@example.it\n\ntesto\n";
        assert_eq!(kind(folded_first.as_bytes()), Some(FileKind::Txt));
        // The mbox envelope is tolerated only as the very first line.
        let late_envelope = "To: b@example.it\nFrom a@example.it\nSubject: x\n\ntesto\n";
        assert_eq!(kind(late_envelope.as_bytes()), Some(FileKind::Txt));
        // An envelope alone does not count as a key header.
        let envelope_and_one_key = "From a@example.it Mon Mar 3 2025\nSubject: x\n\ntesto\n";
        assert_eq!(kind(envelope_and_one_key.as_bytes()), Some(FileKind::Txt));
    }

    #[test]
    fn italian_plain_text() {
        let text = "Perché la città è più bella d'estate?\r\n\
                    \tPerò l'età media è alta: già nel 2024…\x0C\nFine.\n";
        assert_eq!(
            sniff(text.as_bytes()),
            Some(Detected {
                kind: FileKind::Txt,
                mime: "text/plain".into(),
                pdf_a: false
            })
        );
        let mut with_bom = UTF8_BOM.to_vec();
        with_bom.extend_from_slice(text.as_bytes());
        assert_eq!(kind(&with_bom), Some(FileKind::Txt));
    }

    #[test]
    fn text_with_nul_or_control_characters_is_refused() {
        assert_eq!(sniff(b"Nome: Mario\0Rossi\n"), None);
        assert_eq!(sniff(b"\x1B[31mrosso\x1B[0m\n"), None);
        assert_eq!(sniff(b"campo1\x01campo2\n"), None);
    }

    #[test]
    fn invalid_utf8_is_refused() {
        // "città" in Latin-1.
        assert_eq!(sniff(b"citt\xE0 di Roma\n"), None);
        // UTF-16 with BOM.
        assert_eq!(sniff(b"\xFF\xFEc\x00i\x00a\x00o\x00"), None);
    }

    #[test]
    fn empty_input_is_refused() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(UTF8_BOM), None);
    }

    // --- Refused kinds -----------------------------------------------------------------

    #[test]
    fn executables_are_refused() {
        let mut exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xFF\xFF\x00\x00".to_vec();
        exe.resize(0x40, 0);
        exe.extend_from_slice(b"\x0E\x1F\xBA\x0E\x00\xB4\x09\xCD\x21\xB8\x01\x4C\xCD\x21");
        exe.extend_from_slice(b"This program cannot be run in DOS mode.\r\r\n$");
        assert_eq!(sniff(&exe), None);

        let elf = b"\x7FELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3E\x00";
        assert_eq!(sniff(elf), None);

        // A PDF header within the first KiB does not rescue an executable.
        let mut polyglot = exe.clone();
        polyglot.extend_from_slice(&minimal_pdf(None));
        assert_eq!(sniff(&polyglot), None);
    }

    #[test]
    fn html_is_refused() {
        for html in [
            "<!DOCTYPE html>\n<html><body><script>alert(1)</script></body></html>",
            "<!doctype HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\">",
            "  \r\n\t<HTML lang=\"it\"><head><title>Domanda</title></head></html>",
            "\u{FEFF}<html>",
            "<script>document.location='https://example.invalid/'</script>",
            "<body onload=\"alert(1)\">",
            "<iframe src=\"https://example.invalid/\"></iframe>",
            "<!-- commento -->\n<p>testo</p>",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>",
        ] {
            assert_eq!(sniff(html.as_bytes()), None, "{html}");
        }
    }

    #[test]
    fn html_with_a_pdf_header_is_still_refused() {
        let mut bytes = b"<html><script>alert(1)</script></html>\n".to_vec();
        bytes.extend_from_slice(&minimal_pdf(None));
        assert_eq!(sniff(&bytes), None);
    }

    #[test]
    fn text_mentioning_html_later_is_text() {
        let text = "Istruzioni: non allegare file <html> o <script>, solo PDF.\n";
        assert_eq!(kind(text.as_bytes()), Some(FileKind::Txt));
        let angle = "<bozza> da rivedere\n";
        assert_eq!(kind(angle.as_bytes()), Some(FileKind::Txt));
    }
}
