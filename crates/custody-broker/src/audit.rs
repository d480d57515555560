//! Appending audit events (I4): [`Act`] describes one act; [`Broker::record`] appends
//! it durably (group commit, fsync) and only then may the act proceed. A failed append
//! is [`BrokerError::AuditUnavailable`]: the caller must not perform the act.

use std::sync::Arc;

use custody_audit::event::{Actor, AuditEvent, Decision, Device, Endpoint, EventKind, Resource};

use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// One act to record.
#[derive(Debug, Clone)]
pub(crate) struct Act {
    pub kind: EventKind,
    pub actor: Actor,
    pub device: Option<Device>,
    pub endpoint: Option<Endpoint>,
    pub tenant: String,
    pub resource: Resource,
    pub decision: Decision,
    /// The caller's access token id and proof id, for the detection bus (never in
    /// the audit event itself).
    pub watch: custody_watch::RequestContext,
}

impl Act {
    /// An act by an authenticated caller, allowed.
    pub fn by(caller: &Caller, kind: EventKind, tenant: &str, resource: &str, id: &str) -> Self {
        Self {
            kind,
            actor: Actor {
                principal_id: caller.principal.id.as_str().to_owned(),
                principal_class: caller.principal.class.as_str().to_owned(),
                session_id: Some(caller.session.clone()),
            },
            device: Some(Device {
                id: caller.device.id.as_str().to_owned(),
                key_thumbprint: Some(hex::encode(caller.device.pop_jkt)),
            }),
            endpoint: Some(Endpoint {
                ip: Some(caller.peer.to_string()),
                network_hash: Some(caller.network.as_str().to_owned()),
            }),
            tenant: tenant.to_owned(),
            resource: Resource {
                kind: resource.to_owned(),
                id: id.to_owned(),
                digest: None,
                case_id: None,
            },
            decision: Decision::Allow,
            watch: custody_watch::RequestContext {
                token_id: Some(caller.token_id.clone()),
                proof_id: caller.proof_id.clone(),
                geo: None,
            },
        }
    }

    /// An act by the system itself (bootstrap, containment).
    pub fn system(kind: EventKind, tenant: &str, resource: &str, id: &str) -> Self {
        Self {
            kind,
            actor: Actor {
                principal_id: "system".to_owned(),
                principal_class: "system".to_owned(),
                session_id: None,
            },
            device: None,
            endpoint: None,
            tenant: tenant.to_owned(),
            resource: Resource {
                kind: resource.to_owned(),
                id: id.to_owned(),
                digest: None,
                case_id: None,
            },
            decision: Decision::Allow,
            watch: custody_watch::RequestContext::default(),
        }
    }

    /// An act of a principal that has no session yet (device enrolment with a
    /// one-time code), from the device it concerns.
    pub fn by_principal(
        principal: &custody_store::Principal,
        device: &custody_store::Device,
        kind: EventKind,
        resource: &str,
        id: &str,
    ) -> Self {
        let mut act = Self::system(kind, &tenant_of(principal), resource, id);
        act.actor = Actor {
            principal_id: principal.id.as_str().to_owned(),
            principal_class: principal.class.as_str().to_owned(),
            session_id: None,
        };
        act.device = Some(Device {
            id: device.id.as_str().to_owned(),
            key_thumbprint: Some(hex::encode(device.pop_jkt)),
        });
        act
    }

    /// Adds the case the resource belongs to.
    #[must_use]
    pub fn in_case(mut self, case: &str) -> Self {
        self.resource.case_id = Some(case.to_owned());
        self
    }

    /// Marks the act denied.
    #[must_use]
    pub fn denied(mut self) -> Self {
        self.decision = Decision::Deny;
        self
    }

    /// Adds the resource's digest and case.
    #[must_use]
    pub fn with_artifact(mut self, digest: Option<String>, case: &str) -> Self {
        self.resource.digest = digest;
        self.resource.case_id = Some(case.to_owned());
        self
    }
}

/// The tenant an act concerning `principal` is filed under: its tenant, or `vendor`
/// for vendor staff (operators, agents), as token issue events do.
pub(crate) fn tenant_of(principal: &custody_store::Principal) -> String {
    principal
        .tenant_id
        .as_ref()
        .map_or_else(|| "vendor".to_owned(), |t| t.as_str().to_owned())
}

fn trace_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        return "unavailable".to_owned();
    }
    hex::encode(bytes)
}

/// Proof that an act was recorded durably: only [`Broker::record`] makes one, and
/// reading artifact bytes requires one for that artifact (see
/// `Broker::open_artifact`), so no code path can read stored bytes without first
/// appending its audit event (I4).
#[derive(Debug)]
pub(crate) struct Recorded {
    /// Log index of the event.
    pub index: u64,
    /// Its kind.
    pub kind: EventKind,
    /// The resource id it names.
    pub resource: String,
}

impl Broker {
    /// Appends `act` durably. The act may proceed only on `Ok`.
    pub(crate) async fn record(&self, act: Act) -> Result<Recorded, BrokerError> {
        let kind = act.kind;
        let resource = act.resource.id.clone();
        let event = AuditEvent {
            time_ms: self.now_ms(),
            kind: act.kind,
            actor: act.actor,
            device: act.device,
            src_endpoint: act.endpoint,
            tenant: act.tenant,
            resource: act.resource,
            trace_id: trace_id(),
            decision: act.decision,
            policy_bundle_id: self.policy.bundle_id().unwrap_or_else(|| "none".to_owned()),
            rules_version: self.scanner.rules_version().to_owned(),
        };
        let index = self.append_with(event, &act.watch).await?;
        Ok(Recorded {
            index,
            kind,
            resource,
        })
    }

    /// Appends a ready-made event (the watch's `finding` and `containment` records)
    /// durably, then publishes it on the detection bus.
    pub(crate) async fn append_event(&self, event: AuditEvent) -> Result<u64, BrokerError> {
        self.append_with(event, &custody_watch::RequestContext::default())
            .await
    }

    /// Appends `event` durably and, only then, publishes it on the detection bus
    /// (without waiting: see [`crate::watch`]).
    async fn append_with(
        &self,
        event: AuditEvent,
        ctx: &custody_watch::RequestContext,
    ) -> Result<u64, BrokerError> {
        let log = Arc::clone(&self.audit);
        let (index, event) =
            tokio::task::spawn_blocking(move || log.append(&event).map(|index| (index, event)))
                .await
                .map_err(|e| BrokerError::AuditUnavailable(e.to_string()))?
                .map_err(|e| BrokerError::AuditUnavailable(e.to_string()))?;
        self.publish_event(&event, ctx);
        Ok(index)
    }
}
