//! The conformance suite: each function takes a fresh, migrated store and checks one
//! area of behaviour; `conformance.rs` runs every function against both backends.

use std::sync::Arc;

use custody_store::*;
use tokio::sync::Barrier;

use crate::support::{assert_conflict, assert_expired, assert_invalid, assert_not_found};
use crate::world::*;

/// Runs `n` copies of `op` at once (released together by a barrier) and returns how
/// many succeeded, asserting every failure is a `Conflict`.
async fn race<F, Fut, T>(n: usize, op: F) -> usize
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let mut tasks = Vec::new();
    for i in 0..n {
        let fut = op(i);
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut wins = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => panic!("a racing call failed with something other than Conflict: {e:?}"),
        }
    }
    wins
}

pub async fn tenants(store: &Store) {
    let t = tenant(store, "Acme").await;
    assert!(t.id.as_str().starts_with("ten_"));
    assert_eq!(store.tenant(&t.id).await.unwrap(), t);
    assert_conflict(
        store
            .create_tenant(&NewTenant {
                name: "Acme".into(),
                support_mode: SupportMode::Off,
                created_at: T0,
            })
            .await,
    );
    assert_invalid(
        store
            .create_tenant(&NewTenant {
                name: "bad\nname".into(),
                support_mode: SupportMode::Off,
                created_at: T0,
            })
            .await,
    );
    assert_invalid(
        store
            .create_tenant(&NewTenant {
                name: String::new(),
                support_mode: SupportMode::Off,
                created_at: T0,
            })
            .await,
    );
    let b = tenant(store, "Beta").await;
    let names: Vec<_> = store
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["Acme", "Beta"]);
    let b2 = store
        .set_support_mode(&b.id, SupportMode::Delegated)
        .await
        .unwrap();
    assert_eq!(b2.support_mode, SupportMode::Delegated);
    assert_eq!(
        store.tenant(&b.id).await.unwrap().support_mode,
        SupportMode::Delegated
    );
    assert_not_found(store.tenant(&unknown("ten_")).await);
    assert_not_found(
        store
            .set_support_mode(&unknown("ten_"), SupportMode::Off)
            .await,
    );
}

pub async fn principals(store: &Store) {
    let t = tenant(store, "Acme").await;
    let t2 = tenant(store, "Beta").await;
    let base = |class, tenant_id: Option<TenantId>, service| NewPrincipal {
        class,
        tenant_id,
        display_name: "Dana".into(),
        groups: vec![
            "security_reviewer".into(),
            "support_lead".into(),
            "support_lead".into(),
        ],
        service,
        created_at: T0,
    };
    // Class rules: a tenant for customer admins only, a scope for service accounts only.
    assert_invalid(
        store
            .create_principal(&base(PrincipalClass::CustomerAdmin, None, None))
            .await,
    );
    assert_invalid(
        store
            .create_principal(&base(
                PrincipalClass::SupportAgent,
                Some(t.id.clone()),
                None,
            ))
            .await,
    );
    assert_invalid(
        store
            .create_principal(&base(PrincipalClass::ServiceAccount, None, None))
            .await,
    );
    let scope = ServiceScope {
        function: "ticket_sync".into(),
        tenants: vec![t2.id.clone(), t.id.clone()],
    };
    assert_invalid(
        store
            .create_principal(&base(
                PrincipalClass::SupportAgent,
                None,
                Some(scope.clone()),
            ))
            .await,
    );
    assert_not_found(
        store
            .create_principal(&base(
                PrincipalClass::CustomerAdmin,
                Some(unknown("ten_")),
                None,
            ))
            .await,
    );
    let bad_scope = ServiceScope {
        function: "x".into(),
        tenants: vec![unknown("ten_")],
    };
    assert_not_found(
        store
            .create_principal(&base(PrincipalClass::ServiceAccount, None, Some(bad_scope)))
            .await,
    );
    let mut bad_group = base(PrincipalClass::SupportAgent, None, None);
    bad_group.groups = vec!["Support Lead".into()];
    assert_invalid(store.create_principal(&bad_group).await);

    let admin = store
        .create_principal(&base(
            PrincipalClass::CustomerAdmin,
            Some(t.id.clone()),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(admin.groups, ["security_reviewer", "support_lead"]);
    assert_eq!(store.principal(&admin.id).await.unwrap(), admin);
    let sa = store
        .create_principal(&base(PrincipalClass::ServiceAccount, None, Some(scope)))
        .await
        .unwrap();
    let read = store.principal(&sa.id).await.unwrap();
    let mut expected_tenants = vec![t.id.clone(), t2.id.clone()];
    expected_tenants.sort();
    assert_eq!(read.service.as_ref().unwrap().tenants, expected_tenants);
    assert_eq!(read.service.as_ref().unwrap().function, "ticket_sync");
    assert_eq!(read.tenant_id, None);

    let agents = store
        .list_principals(Some(PrincipalClass::ServiceAccount))
        .await
        .unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(store.list_principals(None).await.unwrap().len(), 2);
    assert_eq!(
        store.list_tenant_admins(&t.id).await.unwrap(),
        vec![admin.clone()]
    );
    assert!(store.list_tenant_admins(&t2.id).await.unwrap().is_empty());

    assert!(
        store
            .set_suspended(&admin.id, true)
            .await
            .unwrap()
            .suspended
    );
    assert!(store.principal(&admin.id).await.unwrap().suspended);
    let regrouped = store
        .set_groups(&admin.id, &["tenant_admin".into()])
        .await
        .unwrap();
    assert_eq!(regrouped.groups, ["tenant_admin"]);
    assert_not_found(store.principal(&unknown("prn_")).await);
    assert_not_found(store.set_suspended(&unknown("prn_"), true).await);
    assert_not_found(store.set_groups(&unknown("prn_"), &[]).await);
}

pub async fn devices(store: &Store) {
    let w = world(store).await;
    assert_eq!(
        store.device(&w.agent_device.id).await.unwrap(),
        w.agent_device
    );
    assert_eq!(
        store.device_by_jkt(&digest(0xA1)).await.unwrap(),
        w.agent_device
    );
    assert_not_found(store.device_by_jkt(&digest(0x00)).await);
    // The same PoP key cannot be registered twice, not even for another principal.
    let dup = NewDevice {
        principal_id: w.lead.id.clone(),
        hpke_public_jwk: JWK.into(),
        pop_public_jwk: JWK.into(),
        pop_jkt: digest(0xA1),
        created_at: T0,
    };
    assert_conflict(store.create_device(&dup).await);
    let orphan = NewDevice {
        principal_id: unknown("prn_"),
        pop_jkt: digest(0xEE),
        ..dup.clone()
    };
    assert_not_found(store.create_device(&orphan).await);
    let bad_jwk = NewDevice {
        pop_public_jwk: "[1,2]".into(),
        pop_jkt: digest(0xEF),
        ..dup
    };
    assert_invalid(
        store
            .create_device(&NewDevice {
                hpke_public_jwk: "not json".into(),
                ..bad_jwk.clone()
            })
            .await,
    );
    assert_invalid(store.create_device(&bad_jwk).await);
    let second = store
        .create_device(&NewDevice {
            principal_id: w.agent.id.clone(),
            pop_jkt: digest(0xA3),
            created_at: T0 + 1,
            ..orphan
        })
        .await
        .unwrap();
    assert_eq!(
        store.list_devices(&w.agent.id).await.unwrap(),
        vec![w.agent_device.clone(), second.clone()]
    );
    let revoked = store.revoke_device(&second.id, T0 + 5).await.unwrap();
    assert_eq!(
        (revoked.status, revoked.revoked_at),
        (DeviceStatus::Revoked, Some(T0 + 5))
    );
    assert_conflict(store.revoke_device(&second.id, T0 + 6).await);
    assert_not_found(store.revoke_device(&unknown("dev_"), T0).await);
    assert_not_found(store.device(&unknown("dev_")).await);
}

pub async fn enrolment_codes(store: &Store) {
    let w = world(store).await;
    let code = digest(0x11);
    store
        .create_enrolment_code(&code, &w.agent.id, T0, T0 + 600)
        .await
        .unwrap();
    assert_conflict(
        store
            .create_enrolment_code(&code, &w.agent.id, T0, T0 + 600)
            .await,
    );
    assert_not_found(
        store
            .create_enrolment_code(&digest(0x12), &unknown("prn_"), T0, T0 + 600)
            .await,
    );
    assert_invalid(
        store
            .create_enrolment_code(&digest(0x13), &w.agent.id, T0, T0)
            .await,
    );
    assert_not_found(store.consume_enrolment_code(&digest(0x99), T0 + 1).await);
    let used = store.consume_enrolment_code(&code, T0 + 1).await.unwrap();
    assert_eq!(
        (used.principal_id, used.used_at),
        (w.agent.id.clone(), Some(T0 + 1))
    );
    assert_conflict(store.consume_enrolment_code(&code, T0 + 2).await);
    // Expiry is exclusive: at expires_at the code is dead.
    let late = digest(0x14);
    store
        .create_enrolment_code(&late, &w.agent.id, T0, T0 + 600)
        .await
        .unwrap();
    assert_expired(store.consume_enrolment_code(&late, T0 + 600).await);
    assert_expired(store.consume_enrolment_code(&late, T0 - 1).await);
    assert!(store.consume_enrolment_code(&late, T0 + 599).await.is_ok());
}

pub async fn enrolment_code_race(store: &Store) {
    let w = world(store).await;
    let code = digest(0x21);
    store
        .create_enrolment_code(&code, &w.agent.id, T0, T0 + 600)
        .await
        .unwrap();
    let wins = race(8, |_| {
        let store = store.clone();
        async move { store.consume_enrolment_code(&code, T0 + 1).await }
    })
    .await;
    assert_eq!(wins, 1, "exactly one concurrent consumer may win");
}

pub async fn challenges(store: &Store) {
    let w = world(store).await;
    let nonce = digest(0x31);
    store
        .create_challenge(&nonce, &w.agent_device.id, T0, T0 + 60)
        .await
        .unwrap();
    assert_not_found(
        store
            .create_challenge(&digest(0x32), &unknown("dev_"), T0, T0 + 60)
            .await,
    );
    // Another device cannot answer it, and trying does not use it up.
    assert_not_found(
        store
            .consume_challenge(&nonce, &w.other_agent_device.id, T0 + 1)
            .await,
    );
    assert_expired(
        store
            .consume_challenge(&nonce, &w.agent_device.id, T0 + 60)
            .await,
    );
    let c = store
        .consume_challenge(&nonce, &w.agent_device.id, T0 + 1)
        .await
        .unwrap();
    assert_eq!(c.device_id, w.agent_device.id);
    assert_conflict(
        store
            .consume_challenge(&nonce, &w.agent_device.id, T0 + 2)
            .await,
    );

    let raced = digest(0x33);
    store
        .create_challenge(&raced, &w.agent_device.id, T0, T0 + 60)
        .await
        .unwrap();
    let device = w.agent_device.id.clone();
    let wins = race(8, |_| {
        let (store, device) = (store.clone(), device.clone());
        async move { store.consume_challenge(&raced, &device, T0 + 1).await }
    })
    .await;
    assert_eq!(wins, 1);
}

pub async fn sessions(store: &Store) {
    let w = world(store).await;
    let new = NewSession {
        principal_id: w.agent.id.clone(),
        device_id: w.agent_device.id.clone(),
        class: PrincipalClass::SupportAgent,
        network_hash: digest(0x41),
        created_at: T0,
        expires_at: T0 + 900,
    };
    let s = store.create_session(&new).await.unwrap();
    assert_eq!(store.session(&s.id).await.unwrap(), s);
    // The class must be the principal's, and the device the principal's own.
    assert_not_found(
        store
            .create_session(&NewSession {
                class: PrincipalClass::CustomerAdmin,
                ..new.clone()
            })
            .await,
    );
    assert_not_found(
        store
            .create_session(&NewSession {
                device_id: w.other_agent_device.id.clone(),
                ..new.clone()
            })
            .await,
    );
    assert_invalid(
        store
            .create_session(&NewSession {
                expires_at: T0,
                ..new.clone()
            })
            .await,
    );
    let s2 = store.create_session(&new).await.unwrap();
    let r = store.revoke_session(&s.id, T0 + 10).await.unwrap();
    assert_eq!(r.revoked_at, Some(T0 + 10));
    assert_eq!(
        store
            .revoke_session(&s.id, T0 + 20)
            .await
            .unwrap()
            .revoked_at,
        Some(T0 + 10)
    );
    assert_eq!(
        store
            .revoke_principal_sessions(&w.agent.id, T0 + 30)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.session(&s2.id).await.unwrap().revoked_at,
        Some(T0 + 30)
    );
    assert_eq!(store.list_sessions(&w.agent.id).await.unwrap().len(), 2);
    assert_not_found(store.session(&unknown("ses_")).await);
    assert_not_found(store.revoke_session(&unknown("ses_"), T0).await);
}

pub async fn cases(store: &Store) {
    let w = world(store).await;
    assert_eq!(store.case(&w.case.id).await.unwrap(), w.case);
    assert_not_found(
        store
            .create_case(&NewCase {
                tenant_id: unknown("ten_"),
                opened_by: w.admin.id.clone(),
                title: "x".into(),
                created_at: T0,
            })
            .await,
    );
    assert_invalid(
        store
            .create_case(&NewCase {
                tenant_id: w.tenant.id.clone(),
                opened_by: w.admin.id.clone(),
                title: "\u{0}".into(),
                created_at: T0,
            })
            .await,
    );
    let assigned = store
        .assign_case(&w.case.id, &w.agent.id, T0 + 1)
        .await
        .unwrap();
    assert_eq!(assigned.assigned, vec![w.agent.id.clone()]);
    assert_conflict(store.assign_case(&w.case.id, &w.agent.id, T0 + 2).await);
    // Only support agents can be assigned.
    assert_not_found(store.assign_case(&w.case.id, &w.admin.id, T0 + 2).await);
    assert_not_found(store.assign_case(&w.case.id, &w.reviewer.id, T0 + 2).await);
    assert_not_found(
        store
            .assign_case(&unknown("cas_"), &w.agent.id, T0 + 2)
            .await,
    );
    assert_eq!(
        store.list_assigned_cases(&w.agent.id).await.unwrap(),
        vec![assigned.clone()]
    );
    assert_eq!(
        store.list_cases(&w.tenant.id).await.unwrap(),
        vec![assigned]
    );
    assert_eq!(
        store.list_cases(&w.other_tenant.id).await.unwrap(),
        vec![w.other_case.clone()]
    );
    assert!(
        store
            .unassign_case(&w.case.id, &w.agent.id)
            .await
            .unwrap()
            .assigned
            .is_empty()
    );
    assert_not_found(store.unassign_case(&w.case.id, &w.agent.id).await);
    assert_not_found(store.case(&unknown("cas_")).await);
}

pub async fn data_keys(store: &Store) {
    let w = world(store).await;
    assert_eq!(store.data_key(&w.data_key.id).await.unwrap(), w.data_key);
    let newer = store
        .create_data_key(&w.tenant.id, b"rotated", T0 + 100)
        .await
        .unwrap();
    assert_eq!(store.current_data_key(&w.tenant.id).await.unwrap(), newer);
    assert_eq!(
        store.current_data_key(&w.other_tenant.id).await.unwrap(),
        w.other_data_key
    );
    assert_not_found(
        store
            .current_data_key(&tenant(store, "Empty").await.id)
            .await,
    );
    assert_not_found(store.create_data_key(&unknown("ten_"), b"k", T0).await);
    assert_invalid(store.create_data_key(&w.tenant.id, b"", T0).await);
    assert_not_found(store.data_key(&unknown("tdk_")).await);
    // Wrapped bytes never show in Debug output.
    let debug = format!("{newer:?}");
    assert!(
        !debug.contains("rotated") && !debug.contains("114, 111"),
        "{debug}"
    );
}

pub async fn artifacts(store: &Store) {
    let w = world(store).await;
    let a = artifact(store, &w).await;
    assert_eq!(store.artifact(&a.id).await.unwrap(), a);
    // A case of another tenant, or another tenant's data key, is refused.
    let cross_case = NewArtifact {
        case_id: w.other_case.id.clone(),
        ..new_artifact(&w)
    };
    assert_not_found(store.create_artifact(&cross_case).await);
    let cross_key = NewArtifact {
        data_key_id: w.other_data_key.id.clone(),
        ..new_artifact(&w)
    };
    assert_not_found(store.create_artifact(&cross_key).await);
    let wrong_tenant = NewArtifact {
        tenant_id: w.other_tenant.id.clone(),
        data_key_id: w.other_data_key.id.clone(),
        ..new_artifact(&w)
    };
    assert_not_found(store.create_artifact(&wrong_tenant).await);
    let same_blob = NewArtifact {
        blob_key: a.blob_key.clone(),
        ..new_artifact(&w)
    };
    assert_conflict(store.create_artifact(&same_blob).await);
    assert_invalid(
        store
            .create_artifact(&NewArtifact {
                report_json: "{not json".into(),
                ..new_artifact(&w)
            })
            .await,
    );
    assert_invalid(
        store
            .create_artifact(&NewArtifact {
                original_name: "a\u{7}.har".into(),
                ..new_artifact(&w)
            })
            .await,
    );
    assert_invalid(
        store
            .create_artifact(&NewArtifact {
                size: u64::MAX,
                ..new_artifact(&w)
            })
            .await,
    );

    let b = store
        .create_artifact(&NewArtifact {
            rules_version: "2026.12.0".into(),
            created_at: T0 + 2,
            ..new_artifact(&w)
        })
        .await
        .unwrap();
    assert_eq!(
        store.list_case_artifacts(&w.case.id).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        store.list_tenant_artifacts(&w.tenant.id).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    assert!(
        store
            .list_tenant_artifacts(&w.other_tenant.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .list_artifacts_not_on_rules("2026.12.0")
            .await
            .unwrap(),
        vec![a.clone()]
    );
    assert_eq!(store.delete_artifact(&a.id).await.unwrap(), a);
    assert_not_found(store.delete_artifact(&a.id).await);
    assert_not_found(store.artifact(&a.id).await);
}

pub async fn artifact_view_indexes(store: &Store) {
    let w = world(store).await;
    let a = artifact(store, &w).await;
    assert_eq!(store.artifact_view_index(&a.id).await.unwrap(), None);
    assert_invalid(store.put_artifact_view_index(&a.id, &[]).await);
    assert_not_found(
        store
            .put_artifact_view_index(&unknown::<ArtifactId>("art_"), &[1, 2])
            .await,
    );
    store
        .put_artifact_view_index(&a.id, &[1, 2, 3])
        .await
        .unwrap();
    assert_eq!(
        store.artifact_view_index(&a.id).await.unwrap(),
        Some(vec![1, 2, 3])
    );
    // One index per artifact: a second is a conflict, the first stays.
    assert_conflict(store.put_artifact_view_index(&a.id, &[9]).await);
    assert_eq!(
        store.artifact_view_index(&a.id).await.unwrap(),
        Some(vec![1, 2, 3])
    );
    // Deleting the artifact deletes its index (and is not blocked by it).
    store.delete_artifact(&a.id).await.unwrap();
    assert_eq!(store.artifact_view_index(&a.id).await.unwrap(), None);
}

pub async fn grants(store: &Store) {
    let w = world(store).await;
    let g = store.create_grant(&new_grant(&w)).await.unwrap();
    assert_eq!(g.status, GrantStatus::Requested);
    assert_eq!(g.actions, ["artifact.export", "artifact.view"]);
    assert_eq!(store.grant(&g.id).await.unwrap(), g);
    // Only support agents, only a case of the named tenant.
    assert_not_found(
        store
            .create_grant(&NewGrant {
                agent_id: w.admin.id.clone(),
                ..new_grant(&w)
            })
            .await,
    );
    assert_not_found(
        store
            .create_grant(&NewGrant {
                case_id: w.other_case.id.clone(),
                ..new_grant(&w)
            })
            .await,
    );
    assert_not_found(
        store
            .create_grant(&NewGrant {
                tenant_id: w.other_tenant.id.clone(),
                ..new_grant(&w)
            })
            .await,
    );
    assert_invalid(
        store
            .create_grant(&NewGrant {
                actions: vec![],
                ..new_grant(&w)
            })
            .await,
    );
    assert_invalid(
        store
            .create_grant(&NewGrant {
                actions: vec!["DROP TABLE".into()],
                ..new_grant(&w)
            })
            .await,
    );
    assert_invalid(
        store
            .create_grant(&NewGrant {
                expires_at: T0,
                ..new_grant(&w)
            })
            .await,
    );
    // A requested grant is not active, and cannot be approved outside complete_approval.
    assert!(
        store
            .list_agent_grants(&w.agent.id, Some(T0 + 1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.list_agent_grants(&w.agent.id, None).await.unwrap(),
        vec![g.clone()]
    );
    assert_invalid(
        store
            .set_grant_status(&g.id, GrantStatus::Requested, GrantStatus::Approved, T0)
            .await,
    );
    let denied = store
        .set_grant_status(&g.id, GrantStatus::Requested, GrantStatus::Denied, T0 + 1)
        .await
        .unwrap();
    assert_eq!(
        (denied.status, denied.decided_at),
        (GrantStatus::Denied, Some(T0 + 1))
    );
    assert_conflict(
        store
            .set_grant_status(&g.id, GrantStatus::Requested, GrantStatus::Denied, T0 + 2)
            .await,
    );
    assert_not_found(
        store
            .set_grant_status(
                &unknown("gnt_"),
                GrantStatus::Requested,
                GrantStatus::Denied,
                T0,
            )
            .await,
    );
    assert_not_found(store.grant(&unknown("gnt_")).await);
}

pub async fn approvals(store: &Store) {
    let w = world(store).await;
    let g = store.create_grant(&new_grant(&w)).await.unwrap();
    let req = store
        .create_approval_request(&new_request(&w, Some(&g)))
        .await
        .unwrap();
    assert_eq!(store.approval_request(&req.id).await.unwrap(), req);
    assert_conflict(
        store
            .create_approval_request(&new_request(&w, Some(&g)))
            .await,
    );

    // The requester cannot approve, even though the agent is in support_lead.
    assert_conflict(
        store
            .add_approval(&approval(&req, &w.agent, "support_lead"))
            .await,
    );
    // An approval over another hash (the request changed) is refused.
    assert_conflict(
        store
            .add_approval(&NewApproval {
                request_hash: digest(0x66),
                ..approval(&req, &w.lead, "support_lead")
            })
            .await,
    );
    assert_expired(
        store
            .add_approval(&NewApproval {
                approved_at: T0 + 900,
                ..approval(&req, &w.lead, "support_lead")
            })
            .await,
    );
    assert_not_found(
        store
            .add_approval(&NewApproval {
                request_id: unknown("apr_"),
                ..approval(&req, &w.lead, "support_lead")
            })
            .await,
    );
    assert_not_found(
        store
            .add_approval(&NewApproval {
                approver_id: unknown("prn_"),
                ..approval(&req, &w.lead, "support_lead")
            })
            .await,
    );
    store
        .add_approval(&approval(&req, &w.lead, "support_lead"))
        .await
        .unwrap();
    assert_conflict(
        store
            .add_approval(&approval(&req, &w.lead, "security_reviewer"))
            .await,
    );
    store
        .add_approval(&approval(&req, &w.reviewer, "security_reviewer"))
        .await
        .unwrap();
    let listed = store.list_approvals(&req.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|a| a.request_id == req.id && a.approver_id != w.agent.id)
    );

    // Approving after the window fails and changes nothing.
    assert_expired(store.complete_approval(&req.id, true, T0 + 900).await);
    let (done, grant) = store
        .complete_approval(&req.id, true, T0 + 20)
        .await
        .unwrap();
    assert_eq!(done.status, ApprovalStatus::Approved);
    let grant = grant.unwrap();
    assert_eq!(grant.status, GrantStatus::Approved);
    assert!(grant.is_active_at(T0 + 20));
    assert_eq!(
        store
            .list_agent_grants(&w.agent.id, Some(T0 + 20))
            .await
            .unwrap(),
        vec![grant.clone()]
    );
    assert!(
        store
            .list_agent_grants(&w.agent.id, Some(T0 + 3600))
            .await
            .unwrap()
            .is_empty()
    );
    assert_conflict(store.complete_approval(&req.id, true, T0 + 21).await);
    assert_conflict(
        store
            .add_approval(&approval(&req, &w.other_agent, "support_lead"))
            .await,
    );
    assert_not_found(store.complete_approval(&unknown("apr_"), true, T0).await);
    assert_not_found(store.approval_request(&unknown("apr_")).await);
}

pub async fn approval_is_atomic(store: &Store) {
    let w = world(store).await;
    let g = store.create_grant(&new_grant(&w)).await.unwrap();
    // A request whose hash is not the grant's: completing it must fail as a whole.
    let req = store
        .create_approval_request(&NewApprovalRequest {
            request_hash: digest(0x77),
            ..new_request(&w, Some(&g))
        })
        .await
        .unwrap();
    store
        .add_approval(&approval(&req, &w.lead, "support_lead"))
        .await
        .unwrap();
    assert_conflict(store.complete_approval(&req.id, true, T0 + 20).await);
    assert_eq!(
        store.approval_request(&req.id).await.unwrap().status,
        ApprovalStatus::Pending,
        "the request change was rolled back"
    );
    assert_eq!(
        store.grant(&g.id).await.unwrap().status,
        GrantStatus::Requested
    );

    // Denial closes both; a request without a grant closes alone.
    let g2 = store.create_grant(&new_grant(&w)).await.unwrap();
    let req2 = store
        .create_approval_request(&new_request(&w, Some(&g2)))
        .await
        .unwrap();
    let (denied, grant) = store
        .complete_approval(&req2.id, false, T0 + 30)
        .await
        .unwrap();
    assert_eq!(
        (denied.status, grant.unwrap().status),
        (ApprovalStatus::Denied, GrantStatus::Denied)
    );
    let solo = store
        .create_approval_request(&new_request(&w, None))
        .await
        .unwrap();
    let (solo, none) = store
        .complete_approval(&solo.id, true, T0 + 30)
        .await
        .unwrap();
    assert_eq!((solo.status, none), (ApprovalStatus::Approved, None));
}

pub async fn approval_races(store: &Store) {
    let w = world(store).await;
    let req = store
        .create_approval_request(&new_request(&w, None))
        .await
        .unwrap();
    let one = approval(&req, &w.lead, "support_lead");
    let wins = race(6, |_| {
        let (store, one) = (store.clone(), one.clone());
        async move { store.add_approval(&one).await }
    })
    .await;
    assert_eq!(wins, 1, "one approver counts once");
    let id = req.id.clone();
    let wins = race(6, |_| {
        let (store, id) = (store.clone(), id.clone());
        async move { store.complete_approval(&id, true, T0 + 20).await }
    })
    .await;
    assert_eq!(wins, 1, "a request completes once");
}

fn new_export(w: &World, artifact: &Artifact) -> NewExport {
    NewExport {
        artifact_id: artifact.id.clone(),
        agent_id: w.agent.id.clone(),
        device_id: w.agent_device.id.clone(),
        network_hash: digest(0x51),
        not_before: T0 + 100,
        not_after: T0 + 400,
        wrapped_content_key: b"sealed-content-key".to_vec(),
        created_at: T0 + 100,
    }
}

fn claim(w: &World) -> ReleaseClaim {
    ReleaseClaim {
        agent_id: w.agent.id.clone(),
        device_id: w.agent_device.id.clone(),
        network_hash: digest(0x51),
    }
}

pub async fn exports(store: &Store) {
    let w = world(store).await;
    let a = artifact(store, &w).await;
    let e = store.create_export(&new_export(&w, &a)).await.unwrap();
    assert_eq!(e.state, ExportState::Pending);
    assert_eq!(store.export(&e.id).await.unwrap(), e);
    // The device must be the agent's own.
    assert_not_found(
        store
            .create_export(&NewExport {
                device_id: w.other_agent_device.id.clone(),
                ..new_export(&w, &a)
            })
            .await,
    );
    assert_not_found(
        store
            .create_export(&NewExport {
                artifact_id: unknown("art_"),
                ..new_export(&w, &a)
            })
            .await,
    );
    assert_invalid(
        store
            .create_export(&NewExport {
                wrapped_content_key: vec![],
                ..new_export(&w, &a)
            })
            .await,
    );
    assert_invalid(
        store
            .create_export(&NewExport {
                not_after: T0 + 100,
                ..new_export(&w, &a)
            })
            .await,
    );

    // Wrong agent, device or network: refused, and the release is not used up.
    let other = ReleaseClaim {
        agent_id: w.other_agent.id.clone(),
        device_id: w.other_agent_device.id.clone(),
        ..claim(&w)
    };
    assert_conflict(store.release_export_once(&e.id, &other, T0 + 200).await);
    assert_conflict(
        store
            .release_export_once(
                &e.id,
                &ReleaseClaim {
                    device_id: w.other_agent_device.id.clone(),
                    ..claim(&w)
                },
                T0 + 200,
            )
            .await,
    );
    assert_conflict(
        store
            .release_export_once(
                &e.id,
                &ReleaseClaim {
                    network_hash: digest(0x52),
                    ..claim(&w)
                },
                T0 + 200,
            )
            .await,
    );
    assert_expired(store.release_export_once(&e.id, &claim(&w), T0 + 99).await);
    assert_expired(store.release_export_once(&e.id, &claim(&w), T0 + 400).await);
    assert_eq!(
        store.export(&e.id).await.unwrap().state,
        ExportState::Pending
    );

    let released = store
        .release_export_once(&e.id, &claim(&w), T0 + 200)
        .await
        .unwrap();
    assert_eq!(
        (released.state, released.released_at),
        (ExportState::Released, Some(T0 + 200))
    );
    assert_eq!(released.wrapped_content_key, b"sealed-content-key");
    assert_conflict(store.release_export_once(&e.id, &claim(&w), T0 + 201).await);
    assert_conflict(
        store
            .end_export(&e.id, ExportState::Revoked, T0 + 202)
            .await,
    );
    assert_not_found(
        store
            .release_export_once(&unknown("exp_"), &claim(&w), T0 + 200)
            .await,
    );

    let e2 = store.create_export(&new_export(&w, &a)).await.unwrap();
    assert_invalid(store.end_export(&e2.id, ExportState::Released, T0).await);
    let revoked = store
        .end_export(&e2.id, ExportState::Revoked, T0 + 150)
        .await
        .unwrap();
    assert_eq!(
        (revoked.state, revoked.ended_at),
        (ExportState::Revoked, Some(T0 + 150))
    );
    assert_conflict(
        store
            .release_export_once(&e2.id, &claim(&w), T0 + 200)
            .await,
    );
    assert_eq!(
        store.list_agent_exports(&w.agent.id).await.unwrap().len(),
        2
    );
    // An artifact with exports cannot be deleted from under them.
    assert_conflict(store.delete_artifact(&a.id).await);
    // The sealed key never shows in Debug output.
    let debug = format!("{released:?}");
    assert!(
        !debug.contains("sealed") && !debug.contains("115, 101"),
        "{debug}"
    );
}

pub async fn export_release_race(store: &Store) {
    let w = world(store).await;
    let a = artifact(store, &w).await;
    let e = store.create_export(&new_export(&w, &a)).await.unwrap();
    let (id, claim) = (e.id.clone(), claim(&w));
    let wins = race(8, |_| {
        let (store, id, claim) = (store.clone(), id.clone(), claim.clone());
        async move { store.release_export_once(&id, &claim, T0 + 200).await }
    })
    .await;
    assert_eq!(wins, 1, "the content key is released exactly once");
}

pub async fn settings(store: &Store) {
    assert_eq!(store.setting("policy.active").await.unwrap(), None);
    store
        .put_setting("policy.active", b"bundle-1", T0)
        .await
        .unwrap();
    assert_eq!(
        store.setting("policy.active").await.unwrap().as_deref(),
        Some(&b"bundle-1"[..])
    );
    store
        .put_setting("policy.active", b"bundle-2", T0)
        .await
        .unwrap();
    assert_conflict(
        store
            .compare_and_set_setting("policy.active", Some(b"bundle-1"), b"bundle-3", T0)
            .await,
    );
    assert_conflict(
        store
            .compare_and_set_setting("policy.active", None, b"bundle-3", T0)
            .await,
    );
    store
        .compare_and_set_setting("policy.active", Some(b"bundle-2"), b"bundle-3", T0)
        .await
        .unwrap();
    store
        .compare_and_set_setting("fresh", None, b"v", T0)
        .await
        .unwrap();
    assert_eq!(
        store.setting("policy.active").await.unwrap().as_deref(),
        Some(&b"bundle-3"[..])
    );
    assert!(store.delete_setting("policy.active").await.unwrap());
    assert!(!store.delete_setting("policy.active").await.unwrap());
    assert_invalid(store.setting("../etc").await);
    assert_invalid(store.put_setting("", b"v", T0).await);
    let wins = race(6, |i| {
        let store = store.clone();
        async move {
            store
                .compare_and_set_setting("raced", None, format!("v{i}").as_bytes(), T0)
                .await
        }
    })
    .await;
    assert_eq!(wins, 1);
}

pub async fn ping_and_debug(store: &Store) {
    store.ping().await.unwrap();
    let debug = format!("{store:?}");
    assert!(
        !debug.contains("://") && !debug.contains("password"),
        "{debug}"
    );
    assert!(debug.contains(store.backend_name()));
}
