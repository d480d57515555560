//! Bundle content: a Cedar schema, policy files and test files, with their canonical
//! encoding and content digest (the bundle id), and strict compilation.
//!
//! Main types: [`BundleContent`] (the files), [`ContentError`] (why content is
//! unusable). Compilation parses the schema and every policy once, requires an
//! `@id("...")` annotation on every policy (unique across the bundle: the ids are what
//! decisions report), refuses templates, and validates every policy against the
//! schema in strict mode, treating validator warnings as errors.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use cedar_policy as cedar;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::model::{Action, PrincipalClass};

/// Most policy files (and test files) a bundle may hold.
pub const MAX_FILES: usize = 10_000;
/// Most bytes of schema, policy and test text a bundle may hold.
pub const MAX_CONTENT_BYTES: usize = 16 * 1024 * 1024;

/// Domain tag of the canonical content encoding.
const CONTENT_DOMAIN: &[u8] = b"custody-policy-bundle-content/v1\0";

/// The built-in schema (`policies/custody.cedarschema`).
pub const DEFAULT_SCHEMA: &str = include_str!("../policies/custody.cedarschema");

/// The built-in default policy files (`policies/default/*.cedar`), by file name.
const DEFAULT_POLICIES: [(&str, &str); 5] = [
    (
        "default/00-guards.cedar",
        include_str!("../policies/default/00-guards.cedar"),
    ),
    (
        "default/10-customer-admin.cedar",
        include_str!("../policies/default/10-customer-admin.cedar"),
    ),
    (
        "default/20-support-agent.cedar",
        include_str!("../policies/default/20-support-agent.cedar"),
    ),
    (
        "default/30-service-account.cedar",
        include_str!("../policies/default/30-service-account.cedar"),
    ),
    (
        "default/40-operator.cedar",
        include_str!("../policies/default/40-operator.cedar"),
    ),
];

/// The built-in bundle tests (`policies/tests/default.json`).
const DEFAULT_TESTS: (&str, &str) = (
    "tests/default.json",
    include_str!("../policies/tests/default.json"),
);

/// The files of a policy bundle: one schema, policy files and test files, each keyed
/// by its relative path (`default/00-guards.cedar`, `tests/default.json`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleContent {
    /// The Cedar schema text.
    pub schema: String,
    /// Policy files by relative path.
    pub policies: BTreeMap<String, String>,
    /// Test files by relative path (see [`crate::testing`]).
    #[serde(default)]
    pub tests: BTreeMap<String, String>,
}

impl fmt::Debug for BundleContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BundleContent")
            .field("schema_bytes", &self.schema.len())
            .field("policies", &self.policies.keys().collect::<Vec<_>>())
            .field("tests", &self.tests.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl BundleContent {
    /// The built-in schema, default policy set and its tests, as shipped in
    /// `crates/custody-policy/policies/`.
    pub fn builtin_default() -> Self {
        Self {
            schema: DEFAULT_SCHEMA.to_owned(),
            policies: DEFAULT_POLICIES
                .iter()
                .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
                .collect(),
            tests: BTreeMap::from([(DEFAULT_TESTS.0.to_owned(), DEFAULT_TESTS.1.to_owned())]),
        }
    }

    /// SHA-256 over the canonical encoding: a domain tag, then the schema, then every
    /// policy file and every test file in path order, each field length-prefixed
    /// (u64 big-endian), so no two different contents encode alike.
    pub fn digest(&self) -> [u8; 32] {
        let mut hash = Sha256::new();
        hash.update(CONTENT_DOMAIN);
        put(&mut hash, b"schema");
        put(&mut hash, self.schema.as_bytes());
        for (section, files) in [("policies", &self.policies), ("tests", &self.tests)] {
            put(&mut hash, section.as_bytes());
            hash.update((files.len() as u64).to_be_bytes());
            for (path, text) in files {
                put(&mut hash, path.as_bytes());
                put(&mut hash, text.as_bytes());
            }
        }
        hash.finalize().into()
    }

    /// The bundle id: the lowercase hex of [`Self::digest`].
    pub fn id(&self) -> String {
        hex::encode(self.digest())
    }

    /// Checks the size limits and paths of the content.
    fn check_limits(&self) -> Result<(), ContentError> {
        let files = self.policies.len().saturating_add(self.tests.len());
        if files > MAX_FILES {
            return Err(ContentError::TooLarge { what: "file count" });
        }
        let total = self
            .policies
            .iter()
            .chain(&self.tests)
            .map(|(path, text)| path.len().saturating_add(text.len()))
            .fold(self.schema.len(), usize::saturating_add);
        if total > MAX_CONTENT_BYTES {
            return Err(ContentError::TooLarge {
                what: "content size",
            });
        }
        if self.policies.is_empty() {
            return Err(ContentError::NoPolicies);
        }
        for path in self.policies.keys().chain(self.tests.keys()) {
            let bad = path.is_empty()
                || path.len() > 1024
                || path.starts_with('/')
                || path
                    .split('/')
                    .any(|part| part.is_empty() || part == "." || part == "..")
                || path.chars().any(char::is_control);
            if bad {
                return Err(ContentError::BadPath {
                    path: printable(path),
                });
            }
        }
        Ok(())
    }

    /// Parses and strictly validates the content.
    pub(crate) fn compile(&self) -> Result<Compiled, ContentError> {
        self.check_limits()?;
        let (schema, warnings) =
            cedar::Schema::from_cedarschema_str(&self.schema).map_err(|err| {
                ContentError::Schema {
                    message: err.to_string(),
                }
            })?;
        let warnings: Vec<String> = warnings.map(|warning| warning.to_string()).collect();
        if !warnings.is_empty() {
            return Err(ContentError::Schema {
                message: warnings.join("; "),
            });
        }
        let mut set = cedar::PolicySet::new();
        let mut ids = BTreeSet::new();
        for (path, text) in &self.policies {
            add_file(&mut set, &mut ids, path, text)?;
        }
        let validator = cedar::Validator::new(schema.clone());
        let result = validator.validate(&set, cedar::ValidationMode::Strict);
        let problems: Vec<String> = result
            .validation_errors()
            .map(|err| format!("{}: {err}", err.policy_id()))
            .chain(
                result
                    .validation_warnings()
                    .map(|warn| format!("{}: {warn}", warn.policy_id())),
            )
            .collect();
        if !problems.is_empty() {
            return Err(ContentError::Validation { problems });
        }
        let slices = slice(&set)?;
        Ok(Compiled {
            schema,
            policies: set,
            slices,
            policy_count: ids.len(),
        })
    }
}

/// The policies that can apply to requests of one (principal class, action).
#[derive(Debug, Default)]
pub(crate) struct Slice {
    /// Every policy of the slice (used when the resource's tenant is not known).
    pub(crate) all: cedar::PolicySet,
    /// Per tenant: the policies not scoped to a tenant plus those scoped to it.
    pub(crate) by_tenant: HashMap<String, cedar::PolicySet>,
    /// The policies not scoped to any tenant (used for tenants with none of their own).
    pub(crate) untenanted: cedar::PolicySet,
}

/// Splits the policy set by (principal class, action), then by the tenant a policy's
/// resource scope names (`resource in / == / is .. in Custody::Tenant::"t"`).
///
/// A policy outside the set used for a request cannot apply to (nor error on) it:
/// Cedar evaluates the scope first and a scope test never errors; a principal or
/// action scope that excludes the class or action never matches; a resource scope
/// naming tenant t matches only resources whose ancestors include t, and a tenant,
/// case or artifact has exactly one tenant among its ancestors. So the decision,
/// its reasons and its errors are those of the whole set (tested in `engine`).
fn slice(set: &cedar::PolicySet) -> Result<HashMap<(PrincipalClass, Action), Slice>, ContentError> {
    let index_error = |err: cedar::PolicySetError| ContentError::Parse {
        path: "(policy index)".to_owned(),
        message: err.to_string(),
    };
    let mut slices: HashMap<(PrincipalClass, Action), Slice> = HashMap::new();
    for class in PrincipalClass::ALL {
        for action in Action::ALL {
            slices.insert((class, *action), Slice::default());
        }
    }
    for policy in set.policies() {
        let tenant = scope_tenant(policy);
        for class in scope_classes(policy) {
            for action in scope_actions(policy) {
                let Some(slice) = slices.get_mut(&(class, action)) else {
                    continue;
                };
                slice.all.add(policy.clone()).map_err(index_error)?;
                match &tenant {
                    None => slice.untenanted.add(policy.clone()).map_err(index_error)?,
                    Some(tenant) => {
                        slice
                            .by_tenant
                            .entry(tenant.clone())
                            .or_default()
                            .add(policy.clone())
                            .map_err(index_error)?;
                    }
                }
            }
        }
    }
    // Each per-tenant set also holds the untenanted policies of its slice.
    for slice in slices.values_mut() {
        for tenant_set in slice.by_tenant.values_mut() {
            for policy in slice.untenanted.policies() {
                tenant_set.add(policy.clone()).map_err(index_error)?;
            }
        }
    }
    Ok(slices)
}

/// The tenant a policy's resource scope confines it to, if any.
fn scope_tenant(policy: &cedar::Policy) -> Option<String> {
    let uid = match policy.resource_constraint() {
        cedar::ResourceConstraint::In(uid)
        | cedar::ResourceConstraint::Eq(uid)
        | cedar::ResourceConstraint::IsIn(_, uid) => uid,
        cedar::ResourceConstraint::Any | cedar::ResourceConstraint::Is(_) => return None,
    };
    (uid.type_name().to_string() == "Custody::Tenant").then(|| uid.id().unescaped().to_owned())
}

/// The principal classes a policy's principal scope can match.
fn scope_classes(policy: &cedar::Policy) -> Vec<PrincipalClass> {
    let of_type = |name: &cedar::EntityTypeName| {
        PrincipalClass::ALL
            .into_iter()
            .filter(|class| name.to_string() == crate::engine::principal_type(*class))
            .collect()
    };
    match policy.principal_constraint() {
        cedar::PrincipalConstraint::Is(name) | cedar::PrincipalConstraint::IsIn(name, _) => {
            of_type(&name)
        }
        cedar::PrincipalConstraint::Eq(uid) => of_type(uid.type_name()),
        cedar::PrincipalConstraint::Any | cedar::PrincipalConstraint::In(_) => {
            PrincipalClass::ALL.to_vec()
        }
    }
}

/// The actions a policy's action scope can match (all of them when it names an
/// action that is not one of ours, e.g. a group).
fn scope_actions(policy: &cedar::Policy) -> Vec<Action> {
    let named = |uids: Vec<cedar::EntityUid>| -> Option<Vec<Action>> {
        uids.iter()
            .map(|uid| {
                (uid.type_name().to_string() == "Custody::Action")
                    .then(|| uid.id().unescaped().parse::<Action>().ok())
                    .flatten()
            })
            .collect()
    };
    let actions = match policy.action_constraint() {
        cedar::ActionConstraint::Any => None,
        cedar::ActionConstraint::Eq(uid) => named(vec![uid]),
        cedar::ActionConstraint::In(uids) => named(uids),
    };
    actions.unwrap_or_else(|| Action::ALL.to_vec())
}

/// Adds one policy file's policies to `set`, each under its `@id`.
fn add_file(
    set: &mut cedar::PolicySet,
    ids: &mut BTreeSet<String>,
    path: &str,
    text: &str,
) -> Result<(), ContentError> {
    let parsed = cedar::PolicySet::from_str(text).map_err(|err| ContentError::Parse {
        path: path.to_owned(),
        message: err.to_string(),
    })?;
    if parsed.templates().next().is_some() {
        return Err(ContentError::Template {
            path: path.to_owned(),
        });
    }
    for policy in parsed.policies() {
        let Some(id) = policy.annotation("id") else {
            return Err(ContentError::MissingId {
                path: path.to_owned(),
            });
        };
        crate::model::check_id("policy @id", id).map_err(|_| ContentError::BadId {
            path: path.to_owned(),
        })?;
        if !ids.insert(id.to_owned()) {
            return Err(ContentError::DuplicateId {
                path: path.to_owned(),
                id: id.to_owned(),
            });
        }
        set.add(policy.new_id(cedar::PolicyId::new(id)))
            .map_err(|err| ContentError::Parse {
                path: path.to_owned(),
                message: err.to_string(),
            })?;
    }
    Ok(())
}

/// Hashes one length-prefixed field.
fn put(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}

/// A path made safe to print (control characters escaped, length bounded).
fn printable(path: &str) -> String {
    path.chars()
        .take(200)
        .flat_map(char::escape_debug)
        .collect()
}

/// Schema and policies, parsed and validated once.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub(crate) schema: cedar::Schema,
    pub(crate) policies: cedar::PolicySet,
    /// The policies per (principal class, action); see [`slice`].
    pub(crate) slices: HashMap<(PrincipalClass, Action), Slice>,
    pub(crate) policy_count: usize,
}

/// Why bundle content cannot be used. Messages name files, policies and Cedar's
/// diagnostics; policy files are not secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// The schema does not parse, or parses with warnings.
    #[error("schema: {message}")]
    Schema {
        /// Cedar's diagnostic.
        message: String,
    },
    /// A policy file does not parse.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// Cedar's diagnostic.
        message: String,
    },
    /// A policy file holds a template; bundles hold static policies only.
    #[error("{path}: templates are not allowed in a bundle")]
    Template {
        /// The file.
        path: String,
    },
    /// A policy has no `@id("...")` annotation.
    #[error("{path}: a policy has no @id(\"...\") annotation")]
    MissingId {
        /// The file.
        path: String,
    },
    /// A policy's `@id` is empty, too long or holds control characters.
    #[error("{path}: a policy @id is empty, longer than 256 bytes or holds control characters")]
    BadId {
        /// The file.
        path: String,
    },
    /// Two policies share an `@id`.
    #[error("{path}: duplicate policy @id {id:?}")]
    DuplicateId {
        /// The file of the second one.
        path: String,
        /// The id.
        id: String,
    },
    /// Strict validation against the schema failed (warnings count as failures).
    #[error("strict validation failed: {}", problems.join("; "))]
    Validation {
        /// One entry per error or warning, prefixed by the policy id.
        problems: Vec<String>,
    },
    /// The bundle holds no policy at all.
    #[error("the bundle holds no policy file")]
    NoPolicies,
    /// A file path is empty, absolute, has `.`/`..`/empty segments or control characters.
    #[error("bad file path {path:?} in the bundle")]
    BadPath {
        /// The path, escaped.
        path: String,
    },
    /// The content exceeds [`MAX_FILES`] or [`MAX_CONTENT_BYTES`].
    #[error("bundle content too large ({what})")]
    TooLarge {
        /// Which limit.
        what: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_content_compiles_strictly() {
        let compiled = BundleContent::builtin_default().compile().unwrap();
        assert!(compiled.policy_count > 20);
    }

    #[test]
    fn digest_is_stable_and_sensitive_to_every_part() {
        let base = BundleContent::builtin_default();
        assert_eq!(base.digest(), base.clone().digest());
        let mut schema = base.clone();
        schema.schema.push(' ');
        let mut renamed = base.clone();
        let text = renamed
            .policies
            .remove("default/40-operator.cedar")
            .unwrap();
        renamed
            .policies
            .insert("default/41-operator.cedar".into(), text);
        let mut tests = base.clone();
        tests.tests.insert("tests/extra.json".into(), String::new());
        for other in [schema, renamed, tests] {
            assert_ne!(base.digest(), other.digest());
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let one = BundleContent {
            schema: String::new(),
            policies: BTreeMap::from([("a".into(), "bc".into())]),
            tests: BTreeMap::new(),
        };
        let two = BundleContent {
            schema: String::new(),
            policies: BTreeMap::from([("ab".into(), "c".into())]),
            tests: BTreeMap::new(),
        };
        assert_ne!(one.digest(), two.digest());
    }

    fn with_policy(text: &str) -> BundleContent {
        let mut content = BundleContent::builtin_default();
        content.policies.insert("extra.cedar".into(), text.into());
        content
    }

    #[test]
    fn policies_without_id_duplicates_templates_and_type_errors_are_refused() {
        let missing = with_policy("permit(principal, action, resource);");
        assert!(matches!(
            missing.compile(),
            Err(ContentError::MissingId { .. })
        ));
        let duplicate =
            with_policy("@id(\"forbid.risk.high\") permit(principal, action, resource);");
        assert!(matches!(
            duplicate.compile(),
            Err(ContentError::DuplicateId { .. })
        ));
        let template = with_policy("@id(\"t\") permit(principal == ?principal, action, resource);");
        assert!(matches!(
            template.compile(),
            Err(ContentError::Template { .. })
        ));
        let typo = with_policy(
            "@id(\"typo\") permit(principal is Custody::SupportAgent, action, resource) when { principal.nme == \"x\" };",
        );
        assert!(matches!(
            typo.compile(),
            Err(ContentError::Validation { .. })
        ));
        let unknown_type =
            with_policy("@id(\"u\") permit(principal is Custody::Uzer, action, resource);");
        assert!(matches!(
            unknown_type.compile(),
            Err(ContentError::Validation { .. })
        ));
    }

    #[test]
    fn bad_paths_are_refused() {
        for path in ["", "/abs.cedar", "a/../b.cedar", "a//b.cedar", "x\n.cedar"] {
            let mut content = BundleContent::builtin_default();
            content.policies.insert(
                path.into(),
                "@id(\"z\") permit(principal, action, resource);".into(),
            );
            assert!(
                matches!(content.compile(), Err(ContentError::BadPath { .. })),
                "{path:?}"
            );
        }
    }
}
