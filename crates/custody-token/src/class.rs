//! Token classes (§6, I3): [`TokenClass`] with its disjoint audience, lifetime cap,
//! nonce rule and network rule.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The three disjoint token classes. A token of one class is never accepted where
/// another is required (I3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenClass {
    /// A customer's tenant administrator.
    CustomerAdmin,
    /// A vendor support agent.
    SupportAgent,
    /// A machine identity (integration, worker).
    ServiceAccount,
}

/// A class name that is not one of the three classes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown token class (expected customer_admin, support_agent or service_account)")]
pub struct UnknownClassError;

impl TokenClass {
    /// All classes, in a fixed order.
    pub const ALL: [TokenClass; 3] = [
        TokenClass::CustomerAdmin,
        TokenClass::SupportAgent,
        TokenClass::ServiceAccount,
    ];

    /// The snake_case name used in the `cls` claim and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenClass::CustomerAdmin => "customer_admin",
            TokenClass::SupportAgent => "support_agent",
            TokenClass::ServiceAccount => "service_account",
        }
    }

    /// The class's audience (`aud`): one per class, so audiences are disjoint.
    pub const fn audience(self) -> &'static str {
        match self {
            TokenClass::CustomerAdmin => "urn:custody:aud:customer-admin",
            TokenClass::SupportAgent => "urn:custody:aud:support-agent",
            TokenClass::ServiceAccount => "urn:custody:aud:service-account",
        }
    }

    /// The longest access-token lifetime the class allows (admin 10 min, agent 15 min,
    /// service 5 min). Enforced at issue and again by the verifier.
    pub const fn max_lifetime(self) -> Duration {
        match self {
            TokenClass::CustomerAdmin => Duration::from_secs(10 * 60),
            TokenClass::SupportAgent => Duration::from_secs(15 * 60),
            TokenClass::ServiceAccount => Duration::from_secs(5 * 60),
        }
    }

    /// The absolute lifetime of a refresh-token family (admin and agent 8 h, service 1 h).
    pub const fn refresh_lifetime(self) -> Duration {
        match self {
            TokenClass::CustomerAdmin | TokenClass::SupportAgent => Duration::from_secs(8 * 3600),
            TokenClass::ServiceAccount => Duration::from_secs(3600),
        }
    }

    /// Whether a DPoP proof must carry a server nonce (agent and service classes).
    pub const fn requires_nonce(self) -> bool {
        matches!(self, TokenClass::SupportAgent | TokenClass::ServiceAccount)
    }

    /// Whether a change of network context ends the session under strict policy
    /// (admin and agent sessions).
    pub const fn network_change_ends_session(self) -> bool {
        matches!(self, TokenClass::CustomerAdmin | TokenClass::SupportAgent)
    }
}

impl fmt::Display for TokenClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenClass {
    type Err = UnknownClassError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        TokenClass::ALL
            .into_iter()
            .find(|class| class.as_str() == text)
            .ok_or(UnknownClassError)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn audiences_are_disjoint_and_names_round_trip() {
        let audiences: HashSet<_> = TokenClass::ALL.iter().map(|c| c.audience()).collect();
        assert_eq!(audiences.len(), 3);
        for class in TokenClass::ALL {
            assert_eq!(class.as_str().parse::<TokenClass>(), Ok(class));
        }
        assert!("admin".parse::<TokenClass>().is_err());
    }
}
