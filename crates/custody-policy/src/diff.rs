//! `custody policy diff`: what changed between two bundle contents. Policies are
//! compared by `@id` and by their parsed form (formatting and comments do not count);
//! the schema by its entity types and actions, plus whether its text changed.

use std::collections::{BTreeMap, BTreeSet};

use cedar_policy as cedar;

use crate::content::{BundleContent, ContentError};

/// Differences between two bundles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleDiff {
    /// Policy ids only in the new bundle.
    pub added: Vec<String>,
    /// Policy ids only in the old bundle.
    pub removed: Vec<String>,
    /// Policy ids in both whose parsed policy differs.
    pub changed: Vec<String>,
    /// Entity types only in the new schema.
    pub entity_types_added: Vec<String>,
    /// Entity types only in the old schema.
    pub entity_types_removed: Vec<String>,
    /// Actions only in the new schema.
    pub actions_added: Vec<String>,
    /// Actions only in the old schema.
    pub actions_removed: Vec<String>,
    /// Whether the schema text differs at all (attributes, context, comments...).
    pub schema_text_changed: bool,
    /// Whether the test files differ.
    pub tests_changed: bool,
}

impl BundleDiff {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Compares two contents (both must compile).
///
/// # Errors
/// [`ContentError`] of whichever side does not compile.
pub fn diff(old: &BundleContent, new: &BundleContent) -> Result<BundleDiff, ContentError> {
    let old_compiled = old.compile()?;
    let new_compiled = new.compile()?;
    let old_policies = by_id(&old_compiled.policies);
    let new_policies = by_id(&new_compiled.policies);
    let mut result = BundleDiff {
        schema_text_changed: old.schema != new.schema,
        tests_changed: old.tests != new.tests,
        ..BundleDiff::default()
    };
    for (id, text) in &new_policies {
        match old_policies.get(id) {
            None => result.added.push(id.clone()),
            Some(before) if before != text => result.changed.push(id.clone()),
            Some(_) => {}
        }
    }
    result.removed = old_policies
        .keys()
        .filter(|id| !new_policies.contains_key(*id))
        .cloned()
        .collect();
    let (old_types, old_actions) = schema_names(&old_compiled.schema);
    let (new_types, new_actions) = schema_names(&new_compiled.schema);
    result.entity_types_added = new_types.difference(&old_types).cloned().collect();
    result.entity_types_removed = old_types.difference(&new_types).cloned().collect();
    result.actions_added = new_actions.difference(&old_actions).cloned().collect();
    result.actions_removed = old_actions.difference(&new_actions).cloned().collect();
    Ok(result)
}

/// Policy id -> a canonical form (Cedar's JSON form, which ignores layout).
fn by_id(set: &cedar::PolicySet) -> BTreeMap<String, String> {
    set.policies()
        .map(|policy| {
            let canonical = policy
                .to_json()
                .map_or_else(|_| policy.to_string(), |json| json.to_string());
            (policy.id().to_string(), canonical)
        })
        .collect()
}

fn schema_names(schema: &cedar::Schema) -> (BTreeSet<String>, BTreeSet<String>) {
    let types = schema.entity_types().map(ToString::to_string).collect();
    let actions = schema.actions().map(ToString::to_string).collect();
    (types, actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_added_removed_changed_and_ignores_layout() {
        let old = BundleContent::builtin_default();
        let mut new = old.clone();
        let guards = new.policies.get_mut("default/00-guards.cedar").unwrap();
        *guards = guards.replace(">= 70", ">= 50").replace("\n\n", "\n\n\n");
        let operator = new.policies.remove("default/40-operator.cedar").unwrap();
        let operator = operator.replace(
            "@id(\"permit.operator.case-assign\")",
            "@id(\"permit.operator.case-assign-2\")",
        );
        new.policies
            .insert("default/40-operator.cedar".into(), operator);
        let result = diff(&old, &new).unwrap();
        assert_eq!(result.changed, vec!["forbid.risk.high".to_owned()]);
        assert_eq!(
            result.added,
            vec!["permit.operator.case-assign-2".to_owned()]
        );
        assert_eq!(
            result.removed,
            vec!["permit.operator.case-assign".to_owned()]
        );
        assert!(!result.schema_text_changed);
        assert!(diff(&old, &old).unwrap().is_empty());
    }

    #[test]
    fn reports_schema_changes() {
        let old = BundleContent::builtin_default();
        let mut new = old.clone();
        new.schema = new.schema.replace(
            "entity PolicyBundle;",
            "entity PolicyBundle;\n  entity Extra;",
        );
        let result = diff(&old, &new).unwrap();
        assert_eq!(result.entity_types_added, vec!["Custody::Extra".to_owned()]);
        assert!(result.schema_text_changed);
    }
}
