//! A seeded world most suite tests start from: one tenant with an admin, a case and a
//! data key, support agents and approvers with devices, and a second tenant.

use custody_store::*;

pub const T0: i64 = 1_700_000_000;

pub fn digest(byte: u8) -> Digest {
    [byte; 32]
}

pub const JWK: &str =
    r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

/// A well-formed id of kind `T` that is not stored.
pub fn unknown<T: std::str::FromStr>(prefix: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).expect("random");
    format!("{prefix}{}", hex::encode(raw)).parse().expect("id")
}

pub struct World {
    pub tenant: Tenant,
    pub other_tenant: Tenant,
    pub admin: Principal,
    #[expect(
        dead_code,
        reason = "kept for symmetry with `admin`; tests use `other_case`"
    )]
    pub other_admin: Principal,
    pub agent: Principal,
    pub agent_device: Device,
    pub other_agent: Principal,
    pub other_agent_device: Device,
    pub lead: Principal,
    pub reviewer: Principal,
    pub case: Case,
    pub other_case: Case,
    pub data_key: TenantDataKey,
    pub other_data_key: TenantDataKey,
}

pub async fn tenant(store: &Store, name: &str) -> Tenant {
    store
        .create_tenant(&NewTenant {
            name: name.into(),
            support_mode: SupportMode::OnRequest,
            created_at: T0,
        })
        .await
        .expect("tenant")
}

pub async fn principal(
    store: &Store,
    class: PrincipalClass,
    tenant: Option<&Tenant>,
    groups: &[&str],
) -> Principal {
    store
        .create_principal(&NewPrincipal {
            class,
            tenant_id: tenant.map(|t| t.id.clone()),
            display_name: format!("{class} principal"),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            service: None,
            created_at: T0,
        })
        .await
        .expect("principal")
}

pub async fn device(store: &Store, owner: &Principal, jkt: u8) -> Device {
    store
        .create_device(&NewDevice {
            principal_id: owner.id.clone(),
            hpke_public_jwk: JWK.into(),
            pop_public_jwk: JWK.into(),
            pop_jkt: digest(jkt),
            created_at: T0,
        })
        .await
        .expect("device")
}

pub async fn case(store: &Store, tenant: &Tenant, admin: &Principal) -> Case {
    store
        .create_case(&NewCase {
            tenant_id: tenant.id.clone(),
            opened_by: admin.id.clone(),
            title: "Login loop".into(),
            created_at: T0,
        })
        .await
        .expect("case")
}

pub fn new_artifact(w: &World) -> NewArtifact {
    NewArtifact {
        case_id: w.case.id.clone(),
        tenant_id: w.tenant.id.clone(),
        kind: ArtifactKind::Har,
        original_name: "capture.har".into(),
        size: 1234,
        sanitized_sha256: digest(1),
        input_sha256: digest(2),
        report_json: r#"{"findings":[{"rule":"cookie","at":"/log/entries/0"}]}"#.into(),
        rules_version: "2026.11.1".into(),
        blob_key: BlobKey::generate().expect("key"),
        data_key_id: w.data_key.id.clone(),
        created_at: T0 + 1,
    }
}

pub async fn artifact(store: &Store, w: &World) -> Artifact {
    store
        .create_artifact(&new_artifact(w))
        .await
        .expect("artifact")
}

pub fn new_grant(w: &World) -> NewGrant {
    NewGrant {
        agent_id: w.agent.id.clone(),
        tenant_id: w.tenant.id.clone(),
        case_id: w.case.id.clone(),
        actions: vec!["artifact.view".into(), "artifact.export".into()],
        requested_at: T0,
        expires_at: T0 + 3600,
        request_hash: digest(7),
    }
}

pub fn new_request(w: &World, grant: Option<&Grant>) -> NewApprovalRequest {
    NewApprovalRequest {
        action: "grant.approve".into(),
        tenant_id: Some(w.tenant.id.clone()),
        request_hash: grant.map_or(digest(9), |g| g.request_hash),
        requester_id: w.agent.id.clone(),
        parameters_json: r#"{"case":"x","actions":["artifact.view"]}"#.into(),
        grant_id: grant.map(|g| g.id.clone()),
        created_at: T0,
        expires_at: T0 + 900,
    }
}

pub fn approval(req: &ApprovalRequest, approver: &Principal, group: &str) -> NewApproval {
    NewApproval {
        request_id: req.id.clone(),
        request_hash: req.request_hash,
        approver_id: approver.id.clone(),
        group: group.into(),
        signature: vec![0xAB; 64],
        approved_at: T0 + 10,
    }
}

pub async fn world(store: &Store) -> World {
    let tenant = tenant(store, "Acme").await;
    let other_tenant = tenant_named(store, "Globex").await;
    let admin = principal(
        store,
        PrincipalClass::CustomerAdmin,
        Some(&tenant),
        &["tenant_admin"],
    )
    .await;
    let other_admin = principal(
        store,
        PrincipalClass::CustomerAdmin,
        Some(&other_tenant),
        &[],
    )
    .await;
    let agent = principal(store, PrincipalClass::SupportAgent, None, &["support_lead"]).await;
    let other_agent = principal(store, PrincipalClass::SupportAgent, None, &[]).await;
    let lead = principal(store, PrincipalClass::SupportAgent, None, &["support_lead"]).await;
    let reviewer = principal(
        store,
        PrincipalClass::Operator,
        None,
        &["security_reviewer"],
    )
    .await;
    let agent_device = device(store, &agent, 0xA1).await;
    let other_agent_device = device(store, &other_agent, 0xA2).await;
    let case = case(store, &tenant, &admin).await;
    let other_case = self::case(store, &other_tenant, &other_admin).await;
    let data_key = store
        .create_data_key(&tenant.id, b"wrapped-key-acme", T0)
        .await
        .expect("data key");
    let other_data_key = store
        .create_data_key(&other_tenant.id, b"wrapped-key-globex", T0)
        .await
        .expect("data key");
    World {
        tenant,
        other_tenant,
        admin,
        other_admin,
        agent,
        agent_device,
        other_agent,
        other_agent_device,
        lead,
        reviewer,
        case,
        other_case,
        data_key,
        other_data_key,
    }
}

async fn tenant_named(store: &Store, name: &str) -> Tenant {
    tenant(store, name).await
}
