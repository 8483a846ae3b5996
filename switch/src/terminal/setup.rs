//! The set-up messages of protocol v2: terminal registration and the ID-issuer list (before
//! login, F8, F10, R38), service-ID registration and lookup at an (ア) terminal (F24, F27).
//! Rare compared with redemptions, so they go to the registry directly, not through actors.

// A refusal is a whole error frame, built once on the cold path of a set-up message.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use actors::catalog::SharedCatalog;
use actors::clock::Clock;
use actors::journal::WalletId;
use actors::registry::{
    IdIssuer as IssuerRecord, RegisterOutcome, Registry, ServiceIdLink, ServiceIdRefusal, TerminalAdminRow,
    TerminalContact as ContactRecord, TerminalRegistration,
};
use actors::store::{Store, TerminalRecord};
use actors::terminal_auth::{check_credentials, HashingSlots, LoginPolicy, TerminalSession};
use actors::wallet_state::WalletStatus;
use actors::SwitchError;
use protocol::{
    ErrorCode, IdIssuer, IdIssuerList, IdIssuerListOk, Response, ServiceIdLookupOk, ServiceIdRegister,
    ServiceIdRegisterOk, TerminalContact, TerminalKind, TerminalRegister, TerminalRegisterOk,
};

use super::refusal;

pub struct TerminalSetup {
    pub store: Arc<dyn Store>,
    pub registry: Arc<dyn Registry>,
    pub catalog: SharedCatalog,
    pub clock: Clock,
    pub policy: LoginPolicy,
    pub hashing: HashingSlots,
}

fn invalid(field: &str, why: &str) -> Response {
    super::refusal::invalid_field(field, why)
}

/// Longest contact fields, in characters (SPEC §5.12).
const CONTACT_NAME_MAX_CHARS: usize = 40;
const SHOP_NAME_MAX_CHARS: usize = 60;
const POSTAL_CODE_CHARS: usize = 8;
const ADDRESS_MAX_CHARS: usize = 120;
const PHONE_MAX_CHARS: usize = 13;
const EMAIL_MAX_CHARS: usize = 254;

/// `NNN-NNNN` in ASCII.
fn postal_code_ok(value: &str) -> bool {
    value.len() == POSTAL_CODE_CHARS && {
        let (a, b) = value.split_at(3);
        a.bytes().all(|x| x.is_ascii_digit()) && b.starts_with('-') && b[1..].bytes().all(|x| x.is_ascii_digit())
    }
}

fn phone_ok(value: &str) -> bool {
    value.bytes().all(|x| x.is_ascii_digit() || x == b'-')
}

fn email_ok(value: &str) -> bool {
    value.contains('@') && !value.starts_with('@') && !value.ends_with('@') && !value.contains(char::is_whitespace)
}

/// The contact details as the registration form requires them: every field present, within
/// its length and of its shape, each checked fully before the next in body order, so the
/// first wrong field of the body is the one named (SPEC §5.12).
fn contact_record(c: &TerminalContact) -> Result<ContactRecord, Response> {
    type Shape = Option<(fn(&str) -> bool, &'static str)>;
    let fields: [(&'static str, &String, usize, Shape); 6] = [
        ("contact_name", &c.contact_name, CONTACT_NAME_MAX_CHARS, None),
        ("shop_name", &c.shop_name, SHOP_NAME_MAX_CHARS, None),
        ("postal_code", &c.postal_code, POSTAL_CODE_CHARS, Some((postal_code_ok, "NNN-NNNN"))),
        ("address", &c.address, ADDRESS_MAX_CHARS, None),
        ("phone", &c.phone, PHONE_MAX_CHARS, Some((phone_ok, "digits and hyphens"))),
        ("email", &c.email, EMAIL_MAX_CHARS, Some((email_ok, "an e-mail address"))),
    ];
    for (name, value, max, shape) in fields {
        let value = value.trim();
        if value.is_empty() {
            return Err(invalid(name, "required"));
        }
        if value.chars().count() > max {
            return Err(invalid(name, &format!("at most {max} characters")));
        }
        if let Some((ok, what)) = shape {
            if !ok(value) {
                return Err(invalid(name, what));
            }
        }
    }
    Ok(ContactRecord {
        contact_name: c.contact_name.trim().into(),
        shop_name: c.shop_name.trim().into(),
        postal_code: c.postal_code.trim().into(),
        address: c.address.trim().into(),
        phone: c.phone.trim().into(),
        email: c.email.trim().into(),
    })
}

impl TerminalSetup {
    /// Id and password right, terminal not retired.
    async fn credentials(&self, terminal: protocol::TerminalId, password: String) -> Result<TerminalRecord, Response> {
        let (record, _turn) =
            check_credentials(&self.store, &self.clock, self.policy, &self.hashing, terminal, password)
                .await
                .map_err(|e| refusal::of_error(&e))?;
        if record.retired {
            return Err(refusal::of_error(&SwitchError::TerminalRetired));
        }
        Ok(record)
    }

    /// The issuers an (ア) terminal may pick: the one its 様式II row names, or all when it names
    /// none. Other kinds pick none.
    async fn issuers_for(&self, terminal: &TerminalAdminRow) -> Result<Vec<IssuerRecord>, Response> {
        if terminal.kind != TerminalKind::ServiceId {
            return Ok(Vec::new());
        }
        let all = self.registry.id_issuers().await.map_err(|e| refusal::of_error(&e.into()))?;
        Ok(match &terminal.id_issuer_name {
            Some(name) => all.into_iter().filter(|i| &i.name == name).collect(),
            None => all,
        })
    }

    async fn admin_row(&self, terminal: protocol::TerminalId) -> Result<TerminalAdminRow, Response> {
        match self.registry.terminal_admin_row(terminal).await {
            Ok(Some(row)) => Ok(row),
            Ok(None) => Err(refusal::of_error(&SwitchError::BadCredentials)),
            Err(e) => Err(refusal::of_error(&e.into())),
        }
    }

    pub async fn id_issuers(&self, request: IdIssuerList) -> Response {
        let result = async {
            self.credentials(request.terminal_id, request.password).await?;
            let row = self.admin_row(request.terminal_id).await?;
            let issuers = self.issuers_for(&row).await?;
            Ok(Response::IdIssuerListOk(IdIssuerListOk {
                issuers: issuers
                    .into_iter()
                    .filter_map(|i| Some(IdIssuer { issuer_id: i.issuer_id.parse().ok()?, name: i.name }))
                    .collect(),
            }))
        };
        result.await.unwrap_or_else(|refusal| refusal)
    }

    pub async fn register_terminal(&self, request: TerminalRegister) -> Response {
        let result = async {
            let record = self.credentials(request.terminal_id, request.password.clone()).await?;
            let contact = contact_record(&request.contact)?;
            let row = self.admin_row(request.terminal_id).await?;
            let issuer_id = request.id_issuer_id.map(|i| i.as_str().to_owned());
            let issuer_name = match (record.kind, &issuer_id) {
                (TerminalKind::ServiceId, Some(id)) => {
                    let allowed = self.issuers_for(&row).await?;
                    let found = allowed.into_iter().find(|i| &i.issuer_id == id);
                    Some(
                        found
                            .ok_or_else(|| {
                                Response::error(ErrorCode::UnknownIdIssuer, "not an issuer of this terminal")
                            })?
                            .name,
                    )
                }
                (TerminalKind::ServiceId, None) => {
                    return Err(Response::error(ErrorCode::UnknownIdIssuer, "an (ア) terminal picks its ID issuer"))
                }
                (_, Some(_)) => return Err(invalid("id_issuer_id", "only (ア) terminals have an ID issuer")),
                (_, None) => None,
            };
            let registration = TerminalRegistration {
                terminal_id: request.terminal_id,
                fingerprint: request.fingerprint,
                contact: contact.clone(),
                id_issuer_id: issuer_id.clone(),
                now_ms: self.clock.now_ms(),
            };
            let registered = match self.registry.register_terminal(registration).await {
                Ok(RegisterOutcome::Registered(row)) => *row,
                Ok(RegisterOutcome::AlreadyRegistered) => {
                    // The same registration again (its answer was lost) gets the first answer.
                    let same = record.fingerprint == Some(request.fingerprint)
                        && row.contact.as_ref() == Some(&contact)
                        && row.id_issuer_id == issuer_id;
                    if !same {
                        return Err(Response::error(
                            ErrorCode::TerminalAlreadyRegistered,
                            "registered on a device already; the municipality can reset it",
                        ));
                    }
                    row
                }
                Ok(RegisterOutcome::UnknownIssuer) => {
                    return Err(Response::error(ErrorCode::UnknownIdIssuer, "unknown ID issuer"))
                }
                Ok(RegisterOutcome::UnknownTerminal) => return Err(refusal::of_error(&SwitchError::BadCredentials)),
                Err(e) => return Err(refusal::of_error(&e.into())),
            };
            let catalog = self.catalog.current();
            Ok(Response::TerminalRegisterOk(TerminalRegisterOk {
                terminal_kind: registered.kind,
                municipality_code: registered.municipality,
                municipality_name: catalog
                    .municipalities
                    .get(&registered.municipality)
                    .map(|m| m.name.clone())
                    .unwrap_or_default(),
                location_name: registered.location_name,
                terminal_name: registered.terminal_name,
                id_issuer_name: issuer_name.unwrap_or_default(),
                registered_at_ms: registered.registered_at_ms.unwrap_or_default(),
            }))
        };
        result.await.unwrap_or_else(|refusal| refusal)
    }

    /// The card holder's wallet and MyKey ID, refusing unknown cards and revoked IDs.
    async fn card_holder(&self, cert_serial: String) -> Result<(WalletId, protocol::MyKeyId), Response> {
        let store_error = |e: actors::store::StoreError| refusal::of_error(&e.into());
        let hit = actors::store::card_holder(self.store.as_ref(), cert_serial).await.map_err(store_error)?;
        let (wallet, _) = hit.ok_or_else(|| refusal::of_error(&SwitchError::UnknownCard))?;
        let citizen = self.registry.citizen(wallet).await.map_err(store_error)?;
        match citizen {
            Some(c) if c.status == WalletStatus::Active => Ok((wallet, c.mykey_id)),
            Some(_) => Err(refusal::of_error(&SwitchError::MyKeyRevoked)),
            None => Err(refusal::of_error(&SwitchError::UnknownCard)),
        }
    }

    /// The issuer of a logged-in (ア) terminal: the one it registered with, else the one its
    /// 様式II row names.
    async fn terminal_issuer(&self, session: &TerminalSession) -> Result<IssuerRecord, Response> {
        if session.kind != TerminalKind::ServiceId {
            return Err(refusal::of_error(&SwitchError::TerminalKindNotAllowed("handle service IDs")));
        }
        let row = self.admin_row(session.terminal_id).await?;
        let all = self.registry.id_issuers().await.map_err(|e| refusal::of_error(&e.into()))?;
        let found = match &row.id_issuer_id {
            Some(id) => all.into_iter().find(|i| &i.issuer_id == id),
            None => all.into_iter().find(|i| Some(&i.name) == row.id_issuer_name.as_ref()),
        };
        found.ok_or_else(|| Response::error(ErrorCode::UnknownIdIssuer, "this terminal has no ID issuer"))
    }

    pub async fn register_service_id(&self, session: &TerminalSession, request: ServiceIdRegister) -> Response {
        let result = async {
            let issuer = self.terminal_issuer(session).await?;
            let (wallet, mykey_id) = self.card_holder(request.cert_serial.clone()).await?;
            let link = ServiceIdLink {
                wallet,
                issuer_id: issuer.issuer_id.clone(),
                customer_id: request.customer_id.clone(),
                signing_cert_serial: request.signing_cert_serial.clone(),
                now_ms: self.clock.now_ms(),
            };
            let replaced = match self.registry.register_service_id(link).await {
                Ok(Ok(replaced)) => replaced,
                Ok(Err(ServiceIdRefusal::UnknownIssuer)) => {
                    return Err(Response::error(ErrorCode::UnknownIdIssuer, "unknown ID issuer"))
                }
                Ok(Err(ServiceIdRefusal::CustomerIdTaken)) => {
                    return Err(invalid("customer_id", "linked to another MyKey ID at this issuer"))
                }
                Err(e) => return Err(refusal::of_error(&e.into())),
            };
            Ok(Response::ServiceIdRegisterOk(ServiceIdRegisterOk {
                mykey_id,
                issuer_id: issuer.issuer_id.parse().map_err(|_| refusal::of_error(&SwitchError::Internal))?,
                issuer_name: issuer.name,
                customer_id: request.customer_id,
                replaced,
            }))
        };
        result.await.unwrap_or_else(|refusal| refusal)
    }

    pub async fn lookup_service_ids(&self, session: &TerminalSession, cert_serial: String) -> Response {
        let result = async {
            let issuer = self.terminal_issuer(session).await?;
            let (wallet, mykey_id) = self.card_holder(cert_serial).await?;
            let rows = self.registry.service_ids_of(wallet).await.map_err(|e| refusal::of_error(&e.into()))?;
            let customer_ids: Vec<String> =
                rows.into_iter().filter(|r| r.issuer_id == issuer.issuer_id).map(|r| r.customer_id).collect();
            if customer_ids.is_empty() {
                return Err(Response::error(ErrorCode::NoServiceId, "no service ID at this terminal's issuer"));
            }
            Ok(Response::ServiceIdLookupOk(ServiceIdLookupOk {
                mykey_id,
                issuer_id: issuer.issuer_id.parse().map_err(|_| refusal::of_error(&SwitchError::Internal))?,
                issuer_name: issuer.name,
                customer_ids,
            }))
        };
        result.await.unwrap_or_else(|refusal| refusal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact() -> TerminalContact {
        TerminalContact {
            contact_name: "川崎 花子".into(),
            shop_name: "川崎市立中原図書館".into(),
            postal_code: "211-0004".into(),
            address: "川崎市中原区新丸子東3-1100-12".into(),
            phone: "044-722-4931".into(),
            email: "nakahara-lib@example.jp".into(),
        }
    }

    fn named_field(c: &TerminalContact) -> String {
        match contact_record(c) {
            Err(Response::Error(e)) => format!("field {}", e.field),
            other => panic!("expected INVALID_FIELD, got {other:?}"),
        }
    }

    #[test]
    fn the_first_wrong_field_of_the_body_is_named_whatever_is_wrong_with_it() {
        assert!(contact_record(&contact()).is_ok());
        // A postal code of the wrong shape comes before a missing e-mail address in the body.
        let c = TerminalContact { postal_code: "2110004".into(), email: " ".into(), ..contact() };
        assert_eq!(named_field(&c), "field postal_code");
        let c = TerminalContact { phone: "044 722 4931".into(), email: String::new(), ..contact() };
        assert_eq!(named_field(&c), "field phone");
        let c = TerminalContact { shop_name: "店".repeat(61), postal_code: "x".into(), ..contact() };
        assert_eq!(named_field(&c), "field shop_name");
        let c = TerminalContact { email: "nakahara-lib@".into(), ..contact() };
        assert_eq!(named_field(&c), "field email");
    }
}
