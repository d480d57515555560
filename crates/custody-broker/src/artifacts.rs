//! Artifacts: upload (sanitize, re-scan, encrypt, store in one streaming pass), view,
//! and download, three distinct audited acts (DESIGN.md §4).
//!
//! Upload never writes a raw byte anywhere: the request body streams through the
//! sanitizer, whose output streams through the at-rest encryption into a temporary
//! blob that is published only when the sanitizer's verdict is clean. A refusal or an
//! error discards it. The audit event is appended before the response; if that fails
//! the artifact is deleted again and the upload fails (I4).

use std::io::{self, Read};
use std::sync::Arc;

use custody_audit::event::EventKind;
use custody_har::artifact::{self, ArtifactError, ArtifactOptions, Kind};
use custody_policy::{Action, ResourceRef};
use custody_scan::Redactor;
use custody_store::{Artifact, ArtifactId, ArtifactKind, BlobKey, CaseId, NewArtifact, Tenant};

use crate::atrest::{BlobReader, BlobWriter, DataKey};
use crate::audit::{Act, Recorded};
use crate::authz::FactSet;
use crate::identity::Caller;
use crate::view::{Indexer, ViewIndex};
use crate::{Broker, BrokerError};

/// The unsafe baseline's ingest ([`crate::Dangerous::store_unsanitized`]): the upload
/// stored as it came (encrypted at rest, nothing removed), reported clean with no
/// redaction. A body whose first non-blank byte is `{` and that holds `"log"` in its
/// first 4 KiB is taken for a HAR; anything else is text.
fn dangerous_store_raw<R: Read>(
    mut body: R,
    sink: custody_store::BlobWriter,
    key: &DataKey,
    bound: &str,
    rules_version: &str,
) -> Result<(artifact::ArtifactReport, Option<ViewIndex>), BrokerError> {
    use sha2::Digest as _;
    let internal = |e: &dyn std::fmt::Display| BrokerError::Internal(e.to_string());
    let mut writer = BlobWriter::new(sink, key, bound).map_err(|e| internal(&e))?;
    let mut indexer = Indexer::new(&mut writer);
    let mut hash = sha2::Sha256::new();
    let mut head = Vec::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(BrokerError::BadRequest(format!(
                    "the upload was interrupted: {}",
                    e.kind()
                )));
            }
        };
        let chunk = buf.get(..n).unwrap_or_default();
        if head.len() < 4096 {
            head.extend_from_slice(chunk.get(..(4096 - head.len()).min(n)).unwrap_or_default());
        }
        hash.update(chunk);
        io::Write::write_all(&mut indexer, chunk).map_err(|e| internal(&e))?;
        total = total.saturating_add(n as u64);
    }
    let first = head.iter().find(|b| !b.is_ascii_whitespace());
    let looks_har = first == Some(&b'{') && head.windows(5).any(|w| w == b"\"log\"");
    let kind = if looks_har { Kind::Har } else { Kind::Text };
    let index = indexer.finish(kind_of(kind));
    let (sink, _) = writer.finish().map_err(|e| internal(&e))?;
    sink.commit()?;
    let digest = hex::encode(hash.finalize());
    let report = artifact::ArtifactReport {
        verdict: "clean",
        kind,
        rules_version: rules_version.to_owned(),
        input_sha256: digest.clone(),
        input_bytes: total,
        output_sha256: digest,
        output_bytes: total,
        redactions: 0,
        by_class: Default::default(),
        by_location: Default::default(),
        entries: 0,
        records: 0,
        lines: 0,
        remaining_count: 0,
        remaining: Vec::new(),
    };
    Ok((report, index))
}

/// The longest artifact name kept (bytes); longer names are cut.
pub const MAX_ARTIFACT_NAME: usize = 200;

fn kind_of(kind: Kind) -> ArtifactKind {
    match kind {
        Kind::Har => ArtifactKind::Har,
        Kind::Json => ArtifactKind::Json,
        Kind::Text => ArtifactKind::Text,
        Kind::Zip => ArtifactKind::Zip,
    }
}

fn digest_of(hex_text: &str) -> Result<[u8; 32], BrokerError> {
    hex::decode(hex_text)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| BrokerError::Internal("sanitizer report digest".into()))
}

/// The artifact's blob binding: tenant and blob key (a blob moved to another tenant
/// or key does not decrypt).
fn binding(tenant: &str, blob: &BlobKey) -> String {
    format!("{tenant}/{}", blob.as_str())
}

/// The artifact's display name: printable, bounded, and with anything the detector
/// flags replaced (a file name can carry a token).
fn safe_name(broker: &Broker, name: &str) -> String {
    let printable: String = name
        .chars()
        .filter(|c| {
            !c.is_control() && !matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    let mut cut = printable.trim().to_owned();
    while cut.len() > MAX_ARTIFACT_NAME {
        cut.pop();
    }
    if cut.is_empty() || !broker.scanner.scan(cut.as_bytes()).is_empty() {
        return "artifact".to_owned();
    }
    cut
}

impl Broker {
    async fn tenant_data_key(
        &self,
        tenant: &Tenant,
    ) -> Result<(DataKey, custody_store::DataKeyId), BrokerError> {
        let stored = match self.store.current_data_key(&tenant.id).await {
            Ok(key) => key,
            Err(e) if e.is_not_found() => {
                let (_, wrapped) = self
                    .kek
                    .new_data_key(tenant.id.as_str())
                    .map_err(|e| BrokerError::Internal(e.to_string()))?;
                self.store
                    .create_data_key(&tenant.id, &wrapped, self.now_secs())
                    .await?
            }
            Err(e) => return Err(e.into()),
        };
        let key = self
            .kek
            .open_data_key(tenant.id.as_str(), &stored.wrapped_key)
            .map_err(|e| BrokerError::Internal(e.to_string()))?;
        Ok((key, stored.id))
    }

    /// Uploads an artifact to `case`: `body` is read to its end on a blocking thread.
    pub async fn upload<R: Read + Send + 'static>(
        &self,
        caller: &Caller,
        case: &CaseId,
        name: &str,
        body: R,
    ) -> Result<Artifact, BrokerError> {
        let (case, tenant) = self.case_for(caller, case, Action::ArtifactUpload).await?;
        let (key, key_id) = self.tenant_data_key(&tenant).await?;
        let blob_key = BlobKey::generate()?;
        let sink = self.blobs.writer(&blob_key)?;
        let bound = binding(tenant.id.as_str(), &blob_key);
        let scanner = Arc::clone(&self.scanner);
        let unsanitized = self.dangerous.store_unsanitized;
        let outcome = tokio::task::spawn_blocking(move || {
            if unsanitized {
                return dangerous_store_raw(body, sink, &key, &bound, scanner.rules_version());
            }
            let mut redactor_key = [0u8; 32];
            getrandom::fill(&mut redactor_key)
                .map_err(|_| BrokerError::Internal("entropy".into()))?;
            let redactor = Redactor::new(redactor_key);
            let mut writer = BlobWriter::new(sink, &key, &bound)
                .map_err(|e| BrokerError::Internal(e.to_string()))?;
            let mut indexer = Indexer::new(&mut writer);
            let result = artifact::sanitize(
                body,
                &mut indexer,
                &scanner,
                &redactor,
                &ArtifactOptions::default(),
            );
            match result {
                Ok(report) => {
                    let index = indexer.finish(kind_of(report.kind));
                    let (sink, _) = writer
                        .finish()
                        .map_err(|e| BrokerError::Internal(e.to_string()))?;
                    sink.commit()?;
                    Ok((report, index))
                }
                Err(ArtifactError::Refused(report)) => Err(BrokerError::Refused {
                    reason: "replayable",
                    detail: format!(
                        "{} replayable credential(s) remain after sanitizing",
                        report.remaining_count
                    ),
                    report: serde_json::to_value(&*report).ok(),
                }),
                Err(ArtifactError::Io(e)) if e.kind() != io::ErrorKind::InvalidData => Err(
                    BrokerError::BadRequest(format!("the upload was interrupted: {}", e.kind())),
                ),
                Err(other) => Err(BrokerError::Refused {
                    reason: "unparseable",
                    detail: other.to_string(),
                    report: None,
                }),
            }
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("upload task: {e}")))?;
        let (report, index) = match outcome {
            Ok(done) => done,
            Err(err) => {
                if matches!(err, BrokerError::Refused { .. }) {
                    self.record(
                        Act::by(
                            caller,
                            EventKind::Ingest,
                            tenant.id.as_str(),
                            "artifact",
                            blob_key.as_str(),
                        )
                        .denied()
                        .with_artifact(None, case.id.as_str()),
                    )
                    .await?;
                }
                return Err(err);
            }
        };
        let artifact = self
            .store
            .create_artifact(&NewArtifact {
                case_id: case.id.clone(),
                tenant_id: tenant.id.clone(),
                kind: kind_of(report.kind),
                original_name: safe_name(self, name),
                size: report.output_bytes,
                sanitized_sha256: digest_of(&report.output_sha256)?,
                input_sha256: digest_of(&report.input_sha256)?,
                report_json: serde_json::to_string(&report)
                    .map_err(|e| BrokerError::Internal(e.to_string()))?,
                rules_version: report.rules_version.clone(),
                blob_key: blob_key.clone(),
                data_key_id: key_id,
                created_at: self.now_secs(),
            })
            .await;
        let artifact = match artifact {
            Ok(artifact) => artifact,
            Err(e) => {
                let _ = self.blobs.delete(&blob_key);
                return Err(e.into());
            }
        };
        if let Some(index) = index {
            let stored = self
                .store
                .put_artifact_view_index(&artifact.id, &index.encode())
                .await;
            if let Err(e) = stored {
                let _ = self.store.delete_artifact(&artifact.id).await;
                let _ = self.blobs.delete(&blob_key);
                return Err(e.into());
            }
        }
        let act = Act::by(
            caller,
            EventKind::Ingest,
            tenant.id.as_str(),
            "artifact",
            artifact.id.as_str(),
        )
        .with_artifact(
            Some(format!("sha256:{}", report.output_sha256)),
            case.id.as_str(),
        );
        if let Err(err) = self.record(act).await {
            let _ = self.store.delete_artifact(&artifact.id).await;
            let _ = self.blobs.delete(&blob_key);
            return Err(err);
        }
        Ok(artifact)
    }

    /// Loads an artifact and decides `action` on it; a deny is audited as a denied
    /// `kind` event before the error is returned.
    async fn artifact_for(
        &self,
        caller: &Caller,
        id: &ArtifactId,
        action: Action,
        kind: EventKind,
    ) -> Result<(Artifact, Recorded), BrokerError> {
        let artifact = self.store.artifact(id).await?;
        let case = self.store.case(&artifact.case_id).await?;
        let tenant = self.store.tenant(&artifact.tenant_id).await?;
        let resource = ResourceRef::Artifact {
            id: artifact.id.as_str().to_owned(),
            case: case.id.as_str().to_owned(),
            tenant: tenant.id.as_str().to_owned(),
        };
        let set = FactSet::default().tenant(&tenant).case(&case);
        let decided = self
            .decide(caller, action, resource, set, Some(&case))
            .await;
        let digest = Some(format!("sha256:{}", hex::encode(artifact.sanitized_sha256)));
        let act = Act::by(
            caller,
            kind,
            tenant.id.as_str(),
            "artifact",
            artifact.id.as_str(),
        )
        .with_artifact(digest, case.id.as_str());
        match decided {
            Ok(()) => {
                let recorded = self.record(act).await?;
                Ok((artifact, recorded))
            }
            Err(err) => {
                self.record(act.denied()).await?;
                Err(err)
            }
        }
    }

    /// The stored blob of an artifact and its data key: the only way to its bytes.
    /// `recorded` must be the durable audit event of this access, for this artifact,
    /// of a kind that touches artifacts (I4).
    async fn artifact_blob(
        &self,
        artifact: &Artifact,
        recorded: &Recorded,
    ) -> Result<(std::fs::File, DataKey), BrokerError> {
        if recorded.resource != artifact.id.as_str() || !recorded.kind.touches_artifact() {
            return Err(BrokerError::Internal(format!(
                "artifact read without its audit event (event {} is {} for another resource)",
                recorded.index,
                recorded.kind.as_str()
            )));
        }
        let stored = self.store.data_key(&artifact.data_key_id).await?;
        let key = self
            .kek
            .open_data_key(artifact.tenant_id.as_str(), &stored.wrapped_key)
            .map_err(|e| BrokerError::Internal(e.to_string()))?;
        Ok((self.blobs.open_blob(&artifact.blob_key)?, key))
    }

    /// Opens the decrypting reader of a stored artifact, from its start (see
    /// [`Broker::artifact_blob`] for the audit requirement).
    pub(crate) async fn open_artifact(
        &self,
        artifact: &Artifact,
        recorded: &Recorded,
    ) -> Result<BlobReader<io::BufReader<std::fs::File>>, BrokerError> {
        let (file, key) = self.artifact_blob(artifact, recorded).await?;
        BlobReader::new(
            io::BufReader::new(file),
            &key,
            &binding(artifact.tenant_id.as_str(), &artifact.blob_key),
        )
        .map_err(|e| BrokerError::Internal(e.to_string()))
    }

    /// Download: the sanitized artifact as a file, for the owning tenant's customer
    /// admins. The `download` event is durable before the reader is returned.
    pub async fn download(
        &self,
        caller: &Caller,
        id: &ArtifactId,
    ) -> Result<(Artifact, impl Read + Send + 'static), BrokerError> {
        let (artifact, recorded) = self
            .artifact_for(caller, id, Action::ArtifactDownload, EventKind::Download)
            .await?;
        let reader = self.open_artifact(&artifact, &recorded).await?;
        Ok((artifact, reader))
    }

    /// View: one page of server-rendered entries (HAR) or lines (text, JSON).
    pub async fn view(
        &self,
        caller: &Caller,
        id: &ArtifactId,
        page: crate::view::PageRequest,
    ) -> Result<crate::view::Page, BrokerError> {
        let (artifact, recorded) = self
            .artifact_for(caller, id, Action::ArtifactView, EventKind::View)
            .await?;
        let page = self.render_page(&artifact, &recorded, page).await?;
        if page.items.is_empty() || self.dangerous.store_unsanitized {
            return Ok(page);
        }
        // I1 again at the view: nothing the current rules call replayable leaves, even
        // if the artifact was stored under older rules.
        let bytes = serde_json::to_vec(&page.items)
            .map_err(|e| BrokerError::Internal(format!("view page: {e}")))?;
        let remaining = self.scanner.scan(&bytes).len();
        if remaining > 0 {
            return Err(BrokerError::Refused {
                reason: "replayable",
                detail: format!(
                    "{remaining} replayable credential(s) found in the page under the current rules; nothing was shown"
                ),
                report: None,
            });
        }
        Ok(page)
    }

    async fn render_page(
        &self,
        artifact: &Artifact,
        recorded: &Recorded,
        page: crate::view::PageRequest,
    ) -> Result<crate::view::Page, BrokerError> {
        let kind = artifact.kind;
        let index = match self.store.artifact_view_index(&artifact.id).await? {
            Some(bytes) => Some(ViewIndex::decode(&bytes, artifact.size).ok_or_else(|| {
                BrokerError::Internal("the stored view index does not decode".into())
            })?),
            None => None,
        };
        let Some(index) = index else {
            // Stored before view indexes existed: read the whole artifact.
            let reader = self.open_artifact(artifact, recorded).await?;
            return tokio::task::spawn_blocking(move || crate::view::render(reader, kind, page))
                .await
                .map_err(|e| BrokerError::Internal(format!("view task: {e}")))?;
        };
        let (file, key) = self.artifact_blob(artifact, recorded).await?;
        let bound = binding(artifact.tenant_id.as_str(), &artifact.blob_key);
        let len = artifact.size;
        tokio::task::spawn_blocking(move || {
            let open = |offset| {
                BlobReader::new_at(io::BufReader::new(file), &key, &bound, len, offset)
                    .map_err(|e| BrokerError::Internal(e.to_string()))
            };
            crate::view::render_indexed(open, kind, &index, page)
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("view task: {e}")))?
    }

    /// The artifacts of a case the caller may read (metadata only; no bytes).
    pub async fn list_artifacts(
        &self,
        caller: &Caller,
        case: &CaseId,
    ) -> Result<Vec<Artifact>, BrokerError> {
        let (case, _) = self.case_for(caller, case, Action::CaseRead).await?;
        Ok(self.store.list_case_artifacts(&case.id).await?)
    }
}
