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
    Response::error(ErrorCode::InvalidField, format!("field {field}: {why}"))
}

/// The contact details as the registration form requires them: every field, sane lengths.
fn contact_record(c: &TerminalContact) -> Result<ContactRecord, Response> {
    let fields = [
        ("contact_name", &c.contact_name, 40),
        ("shop_name", &c.shop_name, 60),
        ("postal_code", &c.postal_code, 8),
        ("address", &c.address, 120),
        ("phone", &c.phone, 13),
        ("email", &c.email, 254),
    ];
    for (name, value, max) in fields {
        let value = value.trim();
        if value.is_empty() {
            return Err(invalid(name, "required"));
        }
        if value.chars().count() > max {
            return Err(invalid(name, &format!("at most {max} characters")));
        }
    }
    let postal_ok = c.postal_code.trim().len() == 8 && {
        let (a, b) = c.postal_code.trim().split_at(3);
        a.bytes().all(|x| x.is_ascii_digit()) && b.starts_with('-') && b[1..].bytes().all(|x| x.is_ascii_digit())
    };
    if !postal_ok {
        return Err(invalid("postal_code", "NNN-NNNN"));
    }
    if !c.phone.trim().bytes().all(|x| x.is_ascii_digit() || x == b'-') {
        return Err(invalid("phone", "digits and hyphens"));
    }
    let email = c.email.trim();
    if !email.contains('@') || email.starts_with('@') || email.ends_with('@') || email.contains(char::is_whitespace) {
        return Err(invalid("email", "an e-mail address"));
    }
    Ok(ContactRecord {
        contact_name: c.contact_name.trim().into(),
        shop_name: c.shop_name.trim().into(),
        postal_code: c.postal_code.trim().into(),
        address: c.address.trim().into(),
        phone: c.phone.trim().into(),
        email: email.into(),
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
