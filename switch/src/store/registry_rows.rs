//! What both engines store of the set-up side in the same form: the JSON of a registration's
//! details, the event code rule, and the staff role's column value. Decided once here so the
//! two engines hold the same data.

use actors::registration::bank_account::BankAccount;
use actors::registration::point::{is_prefecture, Contact, ExpiryPolicy, MunicipalPoint, SupportEvent};
use actors::registry::StaffRole;
use protocol::{MunicipalityCode, TerminalId};
use serde::{Deserialize, Serialize};

/// The parts of a municipal point that live in `municipalities.details`.
#[derive(Serialize, Deserialize)]
struct PointDetails {
    expiry: Option<ExpiryPolicy>,
    contact: Contact,
    bank: BankAccount,
}

/// The parts of an event that live in `events.details`.
#[derive(Serialize, Deserialize)]
struct EventDetails {
    expiry: Option<ExpiryPolicy>,
    owner_name: String,
    contact: Contact,
    bank: Option<BankAccount>,
}

/// The expiry policy inside a municipal point's or an event's details JSON (both keep it under
/// `expiry`); None when there are no details or no policy: points then never expire.
pub fn expiry_in_details(details: Option<&str>) -> Option<ExpiryPolicy> {
    #[derive(Deserialize)]
    struct Expiry {
        expiry: Option<ExpiryPolicy>,
    }
    serde_json::from_str::<Expiry>(details?).ok()?.expiry
}

pub fn point_details_json(point: &MunicipalPoint) -> String {
    let details = PointDetails { expiry: point.expiry, contact: point.contact.clone(), bank: point.bank.clone() };
    serde_json::to_string(&details).unwrap_or_default()
}

/// The point from its columns and details; None when the details do not parse (a municipality
/// loaded without a registration, as the demo's was before schema 3, has none).
pub fn point_from_row(
    code: MunicipalityCode,
    name: String,
    point_name: String,
    details: &str,
) -> Option<MunicipalPoint> {
    let d: PointDetails = serde_json::from_str(details).ok()?;
    Some(MunicipalPoint {
        point_name,
        expiry: d.expiry,
        municipality_name: name,
        municipality_code: code,
        contact: d.contact,
        bank: d.bank,
    })
}

pub fn event_details_json(event: &SupportEvent) -> String {
    let details = EventDetails {
        expiry: event.expiry,
        owner_name: event.owner_name.clone(),
        contact: event.contact.clone(),
        bank: event.bank.clone(),
    };
    serde_json::to_string(&details).unwrap_or_default()
}

/// The event from its row; the terminals come from `event_terminals`.
pub fn event_from_row(
    owner_code: MunicipalityCode,
    point_name: String,
    service: (u32, u32),
    details: &str,
    terminals: Vec<TerminalId>,
) -> Option<SupportEvent> {
    let d: EventDetails = serde_json::from_str(details).ok()?;
    Some(SupportEvent {
        point_name,
        expiry: d.expiry,
        service_from: service.0,
        service_to: service.1,
        owner_name: d.owner_name,
        owner_is_prefecture: is_prefecture(&owner_code),
        owner_code,
        contact: d.contact,
        bank: d.bank,
        terminals,
    })
}

/// The next event code of an owner: `<owner code>-E<nnn>` (F5 DEFAULT: a unique code the system
/// assigns), numbered after the highest of `existing`.
pub fn next_event_code(owner: MunicipalityCode, existing: impl IntoIterator<Item = String>) -> String {
    let prefix = format!("{}-E", owner.as_str());
    let highest = existing.into_iter().filter_map(|c| c.strip_prefix(&prefix)?.parse::<u32>().ok()).max().unwrap_or(0);
    format!("{prefix}{:03}", highest + 1)
}

/// `staff_accounts.municipality`: NULL for the platform operator.
pub fn role_column(role: &StaffRole) -> Option<String> {
    match role {
        StaffRole::Mic => None,
        StaffRole::Municipality(code) => Some(code.as_str().to_owned()),
    }
}

pub fn role_from_column(municipality: Option<String>) -> Option<StaffRole> {
    match municipality {
        None => Some(StaffRole::Mic),
        Some(code) => code.parse().ok().map(StaffRole::Municipality),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes_count_up_per_owner() {
        let owner: MunicipalityCode = "141305".parse().unwrap();
        assert_eq!(next_event_code(owner, Vec::new()), "141305-E001");
        let existing = vec!["141305-E001".to_owned(), "141305-E007".to_owned(), "131016-E009".to_owned()];
        assert_eq!(next_event_code(owner, existing), "141305-E008");
    }
}
