//! The attachment content sniffer on arbitrary bytes: it must answer (a kind or `None`) for
//! any upload, and what it answers must be consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sportello::storage::sniff::{sniff, FileKind};

/// Windows/DOS, ELF, Mach-O (both byte orders, thin and fat) magic numbers.
const EXECUTABLES: [&[u8]; 7] = [
    b"MZ",
    b"\x7FELF",
    b"\xFE\xED\xFA\xCE",
    b"\xFE\xED\xFA\xCF",
    b"\xCE\xFA\xED\xFE",
    b"\xCF\xFA\xED\xFE",
    b"\xCA\xFE\xBA\xBE",
];

fuzz_target!(|data: &[u8]| {
    let Some(found) = sniff(data) else {
        return;
    };
    // The kind names itself and back, and only a PDF can claim PDF/A.
    assert_eq!(FileKind::parse(found.kind.as_str()), Some(found.kind));
    assert!(!found.pdf_a || found.kind == FileKind::Pdf);
    assert!(!found.mime.is_empty());
    // Executables are never accepted, whatever follows their magic number.
    for magic in EXECUTABLES {
        assert!(!data.starts_with(magic), "{magic:?} accepted as {found:?}");
    }
    // Nor is HTML, which a browser would run, under any kind of text.
    if matches!(found.kind, FileKind::Txt | FileKind::Xml | FileKind::Eml) {
        let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        let start = body
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        let head = &body[start..body.len().min(start + 14)];
        for html in [&b"<!doctype html"[..], b"<html", b"<script>", b"<svg>"] {
            assert!(
                !head
                    .get(..html.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(html)),
                "HTML accepted as {found:?}"
            );
        }
    }
    // The MIME type is safe in a header: no CR, LF or other control byte.
    assert!(
        found.mime.bytes().all(|b| b.is_ascii_graphic()),
        "{:?}",
        found.mime
    );
    // Sniffing looks at content only: the same bytes give the same answer.
    assert_eq!(sniff(data).as_ref(), Some(&found));
});
