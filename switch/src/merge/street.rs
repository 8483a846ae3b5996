//! The shopping streets whose merge files this switch takes (F34, F39 DEFAULT: the key and the
//! secret string provisioned per street system). They are read from `merge.streets_file`, a
//! TOML file kept outside the repository because it holds the streets' keys:
//!
//! ```toml
//! [[street]]
//! id = 1                       # the street's number: its house account G1, its keys G1:<取引済番号>
//! name = "元住吉商店街"
//! municipality = "141305"      # whose staff may send and fetch its files
//! account = "M141305"          # the citizens' points a merge takes (default: the municipality's)
//! key = "000102030405060708090a0b0c0d0e0f"   # AES-128 common key, 32 hex digits
//! secret = "…"                 # the lines' MD5 secret string (特定の文字列)
//! # id_issuer = "…"            # field 1 holds the street's point IDs registered as service IDs
//! #                            # of this ID-issuing business (F37); absent: MyKey IDs (F38)
//! terminals = [52570]          # the street's shop terminals (F34) that merge at the counter
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use figment::providers::{Format, Toml};
use figment::Figment;
use protocol::{AccountKind, AccountRef, MunicipalityCode, TerminalId};
use serde::Deserialize;

use super::file::StreetKeys;

/// Streets one switch takes files from at most.
pub const STREETS_MAX: usize = 10_000;
/// Largest street id (its house account `G<id>` and its journal keys carry it).
pub const STREET_ID_MAX: u32 = 999_999;

/// What field 1 of a street's merge lines holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holders {
    /// The citizen's MyKey ID (§III.17①, F38).
    MyKeyIds,
    /// The street's own point ID, registered as a service ID of this ID-issuing business (F37).
    ServiceIds { issuer: String },
}

/// One shopping street.
#[derive(Debug, Clone)]
pub struct Street {
    pub id: u32,
    pub name: String,
    /// The municipality whose staff (and MIC) may send and fetch the street's files.
    pub municipality: MunicipalityCode,
    /// The citizens' municipal point or event a merge takes points from.
    pub account: AccountRef,
    pub keys: StreetKeys,
    pub holders: Holders,
    /// The street's shop terminals, which merge at the counter (画面37–39).
    pub terminals: BTreeSet<TerminalId>,
}

/// The configured streets, by id.
#[derive(Debug, Clone, Default)]
pub struct Streets {
    by_id: BTreeMap<u32, Street>,
    by_terminal: HashMap<TerminalId, u32>,
}

impl Streets {
    pub fn get(&self, id: u32) -> Option<&Street> {
        self.by_id.get(&id)
    }

    /// The street whose shop terminal this is.
    pub fn of_terminal(&self, terminal: TerminalId) -> Option<&Street> {
        self.by_terminal.get(&terminal).and_then(|id| self.by_id.get(id))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Street> {
        self.by_id.values()
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The streets of `merge.streets_file`; an empty path is no streets.
    pub fn load(path: &Path) -> Result<Streets, StreetsError> {
        if path.as_os_str().is_empty() {
            return Ok(Streets::default());
        }
        if !path.is_file() {
            return Err(StreetsError(format!("{}: no such file", path.display())));
        }
        let file: StreetsFile =
            Figment::from(Toml::file(path)).extract().map_err(|e| StreetsError(format!("{}: {e}", path.display())))?;
        Streets::from_entries(file.street)
    }

    /// Checks every entry; the first wrong one is named with its field.
    pub fn from_entries(entries: Vec<StreetEntry>) -> Result<Streets, StreetsError> {
        if entries.len() > STREETS_MAX {
            return Err(StreetsError(format!("more than {STREETS_MAX} streets")));
        }
        let mut by_id = BTreeMap::new();
        let mut by_terminal = HashMap::new();
        for e in entries {
            let street = e.check()?;
            let id = street.id;
            for t in &street.terminals {
                if let Some(other) = by_terminal.insert(*t, id) {
                    return Err(StreetsError(format!("street {id}: terminals: {t} is street {other}'s too")));
                }
            }
            if by_id.insert(id, street).is_some() {
                return Err(StreetsError(format!("street {id}: the id is listed twice")));
            }
        }
        Ok(Streets { by_id, by_terminal })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("merge.streets_file: {0}")]
pub struct StreetsError(pub String);

#[derive(Debug, Deserialize)]
struct StreetsFile {
    #[serde(default)]
    street: Vec<StreetEntry>,
}

/// One `[[street]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreetEntry {
    pub id: u32,
    pub name: String,
    pub municipality: String,
    pub account: Option<String>,
    pub key: String,
    pub secret: String,
    pub id_issuer: Option<String>,
    #[serde(default)]
    pub terminals: Vec<u32>,
}

impl StreetEntry {
    fn check(self) -> Result<Street, StreetsError> {
        let id = self.id;
        let wrong = |field: &str, why: &str| StreetsError(format!("street {id}: {field}: {why}"));
        if !(1..=STREET_ID_MAX).contains(&id) {
            return Err(wrong("id", &format!("1 to {STREET_ID_MAX}")));
        }
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(wrong("name", "1 to 100 characters"));
        }
        let municipality: MunicipalityCode =
            self.municipality.parse().map_err(|_| wrong("municipality", "a 6-digit local government code"))?;
        let account = match &self.account {
            None => AccountRef::municipal(municipality),
            Some(text) => text.parse().map_err(|_| wrong("account", "M<municipality code> or E<event code>"))?,
        };
        if account.kind == AccountKind::Reserved {
            return Err(wrong("account", "reserved points are never merged (R20)"));
        }
        let keys = StreetKeys::parse(&self.key, &self.secret).map_err(|e| wrong("key/secret", &e.to_string()))?;
        let holders = match self.id_issuer {
            None => Holders::MyKeyIds,
            Some(issuer) if !issuer.trim().is_empty() => Holders::ServiceIds { issuer: issuer.trim().to_owned() },
            Some(_) => return Err(wrong("id_issuer", "empty")),
        };
        let terminals = self
            .terminals
            .iter()
            .map(|t| TerminalId::new(*t).map_err(|_| wrong("terminals", &format!("{t} is no terminal ID"))))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(Street { id, name: name.to_owned(), municipality, account, keys, holders, terminals })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u32) -> StreetEntry {
        StreetEntry {
            id,
            name: "元住吉商店街".into(),
            municipality: "141305".into(),
            account: None,
            key: "000102030405060708090a0b0c0d0e0f".into(),
            secret: "KAWASAKI-SHOTENGAI-2026".into(),
            id_issuer: None,
            terminals: Vec::new(),
        }
    }

    #[test]
    fn streets_are_checked_field_by_field() {
        let streets = Streets::from_entries(vec![entry(1), entry(2)]).unwrap();
        assert_eq!(streets.get(1).unwrap().account.to_string(), "M141305");
        assert_eq!(streets.get(2).unwrap().holders, Holders::MyKeyIds);
        let shop = StreetEntry { terminals: vec![52570], ..entry(3) };
        let streets = Streets::from_entries(vec![entry(1), shop.clone()]).unwrap();
        assert_eq!(streets.of_terminal(TerminalId::new(52570).unwrap()).map(|s| s.id), Some(3));
        assert!(streets.of_terminal(TerminalId::new(52571).unwrap()).is_none());
        let shared = Streets::from_entries(vec![shop.clone(), StreetEntry { id: 4, ..shop }]).unwrap_err();
        assert!(shared.0.contains("terminals"), "{shared}");
        let twice = Streets::from_entries(vec![entry(1), entry(1)]).unwrap_err();
        assert!(twice.0.contains("twice"), "{twice}");
        for (bad, field) in [
            (StreetEntry { id: 0, ..entry(1) }, "id"),
            (StreetEntry { municipality: "141306".into(), ..entry(1) }, "municipality"),
            (StreetEntry { account: Some("R".into()), ..entry(1) }, "account"),
            (StreetEntry { key: "00".into(), ..entry(1) }, "key"),
            (StreetEntry { id_issuer: Some(" ".into()), ..entry(1) }, "id_issuer"),
        ] {
            let err = Streets::from_entries(vec![bad]).unwrap_err();
            assert!(err.0.contains(field), "{err} names {field}");
        }
    }

    #[test]
    fn the_file_is_read_and_an_empty_path_is_no_streets() {
        assert!(Streets::load(Path::new("")).unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("streets.toml");
        std::fs::write(
            &path,
            "[[street]]\nid = 7\nname = \"商店街\"\nmunicipality = \"141305\"\naccount = \"EE001\"\n\
             key = \"000102030405060708090a0b0c0d0e0f\"\nsecret = \"S\"\nid_issuer = \"SHOTENGAI\"\n",
        )
        .unwrap();
        let streets = Streets::load(&path).unwrap();
        let s = streets.get(7).unwrap();
        assert_eq!(
            (s.account.to_string().as_str(), &s.holders),
            ("EE001", &Holders::ServiceIds { issuer: "SHOTENGAI".into() })
        );
        assert!(Streets::load(&dir.path().join("missing.toml")).is_err());
    }
}
