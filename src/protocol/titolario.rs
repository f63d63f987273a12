//! The ente's titolario (classification scheme): titles and their classes, as data.
//!
//! The standard scheme for Italian comuni (2005) is compiled in from
//! `config/titolario/comuni-2005.toml`; a bundle's own `titolario.toml` replaces it for that
//! ente. Codes are the title's Roman numeral ("VI") and, for a class, "<title>.<number>"
//! ("VI.3"). A title without classes (XIV, "Oggetti diversi") classifies by itself.

use std::collections::BTreeSet;

use anyhow::{bail, Context};
use serde::Deserialize;

/// The standard scheme, as shipped.
pub const STANDARD: &str = include_str!("../../config/titolario/comuni-2005.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TitolarioFile {
    pub name: String,
    pub titles: Vec<TitleDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TitleDef {
    pub code: String,
    pub title: String,
    #[serde(default)]
    pub classes: Vec<ClassDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassDef {
    pub number: u32,
    pub title: String,
}

/// One entry of the scheme, in the scheme's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub code: String,
    pub title: String,
    /// The title a class belongs to; `None` for a title.
    pub parent: Option<String>,
}

/// A checked scheme.
#[derive(Debug, Clone)]
pub struct Titolario {
    pub name: String,
    pub entries: Vec<Entry>,
}

fn is_roman(s: &str) -> bool {
    !s.is_empty() && s.len() <= 8 && s.chars().all(|c| matches!(c, 'I' | 'V' | 'X' | 'L'))
}

impl Titolario {
    /// Parses and checks a scheme written as `config/titolario/comuni-2005.toml` is.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: TitolarioFile = toml::from_str(text).context("invalid titolario")?;
        if file.titles.is_empty() {
            bail!("titolario `{}`: no titles", file.name);
        }
        let mut codes = BTreeSet::new();
        let mut entries = Vec::new();
        for t in &file.titles {
            if !is_roman(&t.code) {
                bail!("titolario: title code `{}` is not a Roman numeral", t.code);
            }
            if t.title.trim().is_empty() {
                bail!("titolario: title {} has no name", t.code);
            }
            if !codes.insert(t.code.clone()) {
                bail!("titolario: title {} appears twice", t.code);
            }
            entries.push(Entry {
                code: t.code.clone(),
                title: t.title.trim().to_owned(),
                parent: None,
            });
            for c in &t.classes {
                let code = format!("{}.{}", t.code, c.number);
                if c.number == 0 {
                    bail!("titolario: class {code}: numbers start at 1");
                }
                if c.title.trim().is_empty() {
                    bail!("titolario: class {code} has no name");
                }
                if !codes.insert(code.clone()) {
                    bail!("titolario: class {code} appears twice");
                }
                entries.push(Entry {
                    code,
                    title: c.title.trim().to_owned(),
                    parent: Some(t.code.clone()),
                });
            }
        }
        Ok(Self {
            name: file.name,
            entries,
        })
    }

    /// The standard scheme for comuni.
    pub fn standard() -> Self {
        Self::parse(STANDARD).expect("the shipped titolario is valid")
    }

    pub fn get(&self, code: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.code == code)
    }

    /// Whether documents may be classified under `code`: a class, or a title without classes.
    pub fn classifies(&self, code: &str) -> bool {
        match self.get(code) {
            Some(Entry {
                parent: Some(_), ..
            }) => true,
            Some(Entry { parent: None, .. }) => !self
                .entries
                .iter()
                .any(|e| e.parent.as_deref() == Some(code)),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_scheme_has_fourteen_titles_and_their_classes() {
        let t = Titolario::standard();
        let titles: Vec<&str> = t
            .entries
            .iter()
            .filter(|e| e.parent.is_none())
            .map(|e| e.code.as_str())
            .collect();
        assert_eq!(
            titles,
            [
                "I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII",
                "XIV"
            ]
        );
        assert_eq!(t.get("XI.2").unwrap().title, "Anagrafe e certificazioni");
        assert_eq!(t.get("VI.3").unwrap().title, "Edilizia privata");
        assert_eq!(t.get("I.8").unwrap().parent.as_deref(), Some("I"));
        assert!(t.classifies("XI.2"));
        assert!(
            !t.classifies("XI"),
            "a title with classes is not itself a class"
        );
        assert!(t.classifies("XIV"), "a title without classes classifies");
        assert!(!t.classifies("XV"));
        let classes = t.entries.iter().filter(|e| e.parent.is_some()).count();
        assert_eq!(
            classes,
            17 + 22 + 15 + 14 + 3 + 10 + 15 + 7 + 4 + 5 + 4 + 5 + 4
        );
    }

    #[test]
    fn a_scheme_with_mistakes_is_refused_with_the_reason() {
        let err = |s: &str| Titolario::parse(s).unwrap_err().to_string();
        assert!(err("name = \"x\"\ntitles = []").contains("no titles"));
        assert!(err("name = \"x\"\n[[titles]]\ncode = \"A\"\ntitle = \"t\"").contains("Roman"));
        assert!(err(
            "name = \"x\"\n[[titles]]\ncode = \"I\"\ntitle = \"t\"\nclasses = [{ number = 1, title = \"a\" }, { number = 1, title = \"b\" }]"
        )
        .contains("I.1 appears twice"));
    }
}
