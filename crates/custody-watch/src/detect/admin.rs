//! New device or new network for an admin session (customer administrators by
//! default): an authenticated admin signal from a device id, or a network hash, that
//! the admin has not been seen with fires [`FindingKind::NewAdminDevice`] (high) or
//! [`FindingKind::NewAdminNetwork`] (medium); a signal new on both is one finding
//! of the device kind with both as evidence. Once reported, the device or network
//! joins the known set, so one change is one finding.
//!
//! The first device (and network) of an admin the watch has no state for is learned
//! silently by default ([`FirstDevice::Learn`]): that device was enrolled with a
//! one-time code, an audited act, and a finding on every admin's first sign-in (and
//! again after every restart or eviction) would teach on-call to ignore this kind.
//! [`FirstDevice::Notify`] reports it as a low-severity finding instead. Either way
//! the dangerous case, a stolen token used from another key, is the hijack
//! detector's and does not depend on this history.
//!
//! Service accounts are watched the same way (default classes: customer_admin and
//! service_account), with one difference: a service account is a machine identity
//! running from a fixed host, so a device or network it has not been seen with is
//! [`FindingKind::ServiceAccountNewContext`] (critical; the default response suspends
//! it), not a notice: its key is being used somewhere else, as the stolen
//! service-account credential of the 2023 incident was.
//!
//! Per admin the known sets are bounded (`max_devices`, `max_networks`, least
//! recently seen dropped first).

use serde::{Deserialize, Serialize};

use super::{Detector, secs_ms};
use crate::finding::{Finding, FindingKind, Severity};
use crate::signal::{PrincipalClass, Signal};
use crate::state::BoundedMap;

/// How the first device of an admin without history is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FirstDevice {
    /// Learn it without a finding (default).
    Learn,
    /// Report it as a low-severity [`FindingKind::NewAdminDevice`].
    Notify,
}

/// Configuration of the admin device detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminDeviceConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Classes watched. Default: customer_admin and service_account.
    pub classes: Vec<PrincipalClass>,
    /// First device of an admin without history. Default learn.
    pub first_device: FirstDevice,
    /// Devices remembered per admin. Default 8.
    pub max_devices: usize,
    /// Networks remembered per admin. Default 16.
    pub max_networks: usize,
    /// Admins remembered. Default 100 000.
    pub capacity: usize,
    /// How long an admin's history is kept after its last signal, seconds.
    /// Default 7 776 000 (90 days).
    pub ttl_secs: u64,
}

impl Default for AdminDeviceConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            classes: vec![
                PrincipalClass::CustomerAdmin,
                PrincipalClass::ServiceAccount,
            ],
            first_device: FirstDevice::Learn,
            max_devices: 8,
            max_networks: 16,
            capacity: 100_000,
            ttl_secs: 7_776_000,
        }
    }
}

#[derive(Debug, Default)]
struct Known {
    /// Most recently seen last.
    devices: Vec<String>,
    networks: Vec<String>,
}

/// Marks `value` seen in `set` (bounded to `max`); true when it was new.
fn remember(set: &mut Vec<String>, value: &str, max: usize) -> bool {
    if let Some(pos) = set.iter().position(|v| v == value) {
        let v = set.remove(pos);
        set.push(v);
        return false;
    }
    if set.len() >= max.max(1) {
        set.remove(0);
    }
    set.push(value.to_owned());
    true
}

/// The admin device detector.
pub(crate) struct AdminDeviceDetector {
    config: AdminDeviceConfig,
    known: BoundedMap<String, Known>,
}

impl AdminDeviceDetector {
    pub(crate) fn new(config: &AdminDeviceConfig) -> Self {
        Self {
            config: config.clone(),
            known: BoundedMap::new(config.capacity, secs_ms(config.ttl_secs)),
        }
    }
}

impl Detector for AdminDeviceDetector {
    fn name(&self) -> &'static str {
        "admin_device"
    }

    fn observe(&mut self, signal: &Signal, out: &mut Vec<Finding>) {
        if !signal.is_authenticated() || !self.config.classes.contains(&signal.principal_class) {
            return;
        }
        let (max_d, max_n) = (self.config.max_devices, self.config.max_networks);
        let Some((known, created)) =
            self.known
                .touch(signal.principal_id.as_str(), signal.time_ms, Known::default)
        else {
            return;
        };
        // A principal's first signals may carry no device (the enrolment itself):
        // its first device is still a first device, learned like a new principal's.
        let knew_devices = !known.devices.is_empty();
        let knew_networks = !known.networks.is_empty();
        let new_device = signal
            .device_id
            .as_ref()
            .is_some_and(|d| remember(&mut known.devices, d, max_d));
        let new_network = signal
            .network_hash
            .as_ref()
            .is_some_and(|n| remember(&mut known.networks, n, max_n))
            && knew_networks;
        // The first device is learned, but a network that differs from the one the
        // principal was first seen on (its enrolment) still counts: a key stolen
        // before its owner ever used it shows up this way.
        let first_device = created || !knew_devices;
        let service = signal.principal_class == PrincipalClass::ServiceAccount;
        let (kind, severity) = if service && (new_network || (new_device && !first_device)) {
            (FindingKind::ServiceAccountNewContext, Severity::Critical)
        } else if first_device {
            if new_network {
                (FindingKind::NewAdminNetwork, Severity::Medium)
            } else if self.config.first_device == FirstDevice::Notify && new_device {
                (FindingKind::NewAdminDevice, Severity::Low)
            } else {
                return;
            }
        } else if new_device {
            (FindingKind::NewAdminDevice, Severity::High)
        } else if new_network {
            (FindingKind::NewAdminNetwork, Severity::Medium)
        } else {
            return;
        };
        let mut f = Finding::about(kind, severity, signal, signal.time_ms)
            .with_opt("session", signal.session_id.as_ref())
            .with_opt("device", signal.device_id.as_ref())
            .with_opt("key_thumbprint", signal.key_thumbprint.as_ref())
            .with_opt("network", signal.network_hash.as_ref());
        if created {
            f = f.with("first_device", "true");
        }
        if new_device && new_network && !created {
            f = f.with("new_network", "true");
        }
        out.push(f);
    }

    fn keys(&self) -> usize {
        self.known.len()
    }
}

#[cfg(test)]
mod tests {
    use custody_audit::event::{EventKind, sample_event};

    use super::*;

    fn admin(t: i64, device: &str, net: &str) -> Signal {
        let mut s = Signal::from(&sample_event(EventKind::TokenIssue, t, 1));
        s.principal_id = "admin-1".into();
        s.principal_class = PrincipalClass::CustomerAdmin;
        s.device_id = Some(device.into());
        s.network_hash = Some(net.into());
        s
    }

    fn run(d: &mut AdminDeviceDetector, signals: &[Signal]) -> Vec<Finding> {
        let mut out = vec![];
        for s in signals {
            d.observe(s, &mut out);
        }
        out
    }

    #[test]
    fn first_device_is_learned_then_a_new_one_fires() {
        let mut d = AdminDeviceDetector::new(&AdminDeviceConfig::default());
        let out = run(
            &mut d,
            &[
                admin(0, "d1", "n1"),
                admin(1, "d1", "n1"),
                admin(2, "d1", "n1"),
            ],
        );
        assert!(out.is_empty());
        let out = run(&mut d, &[admin(3, "d2", "n1"), admin(4, "d2", "n1")]);
        assert_eq!(out.len(), 1, "one change, one finding");
        assert_eq!(out[0].kind, FindingKind::NewAdminDevice);
        assert_eq!(out[0].severity, Severity::High);
        let out = run(&mut d, &[admin(5, "d1", "n2")]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, FindingKind::NewAdminNetwork);
    }

    #[test]
    fn first_device_notify_reports_low_and_agents_are_not_watched() {
        let cfg = AdminDeviceConfig {
            first_device: FirstDevice::Notify,
            ..AdminDeviceConfig::default()
        };
        let mut d = AdminDeviceDetector::new(&cfg);
        let out = run(&mut d, &[admin(0, "d1", "n1")]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].severity, Severity::Low);
        let mut agent = admin(1, "d9", "n9");
        agent.principal_class = PrincipalClass::SupportAgent;
        agent.principal_id = "agent".into();
        assert!(
            run(
                &mut d,
                &[agent.clone(), {
                    agent.device_id = Some("d8".into());
                    agent
                }]
            )
            .is_empty()
        );
    }

    #[test]
    fn an_enrolment_without_a_device_then_the_first_sign_in_is_learned() {
        let mut d = AdminDeviceDetector::new(&AdminDeviceConfig::default());
        for class in [
            PrincipalClass::CustomerAdmin,
            PrincipalClass::ServiceAccount,
        ] {
            let mut enrol = admin(0, "unused", "n1");
            enrol.principal_id = format!("{class:?}");
            enrol.principal_class = class;
            enrol.device_id = None;
            let mut sign_in = enrol.clone();
            sign_in.time_ms = 1;
            sign_in.device_id = Some("d1".into());
            assert!(
                run(&mut d, &[enrol, sign_in.clone()]).is_empty(),
                "{class:?}"
            );
            // The first device seen from another network than the enrolment's is
            // not learned silently: for a service account it is a stolen key used
            // before its owner ever used it.
            let mut early = sign_in.clone();
            early.principal_id = format!("{class:?}-early");
            early.device_id = None;
            early.time_ms = 0;
            let mut elsewhere = early.clone();
            elsewhere.time_ms = 1;
            elsewhere.device_id = Some("d1".into());
            elsewhere.network_hash = Some("attacker-net".into());
            let out = run(&mut d, &[early, elsewhere]);
            assert_eq!(out.len(), 1, "{class:?}");
            assert_eq!(
                out[0].kind,
                if class == PrincipalClass::ServiceAccount {
                    FindingKind::ServiceAccountNewContext
                } else {
                    FindingKind::NewAdminNetwork
                }
            );
            // And from then on a second device still fires.
            sign_in.time_ms = 2;
            sign_in.device_id = Some("d2".into());
            assert_eq!(run(&mut d, &[sign_in]).len(), 1, "{class:?}");
        }
    }

    fn service(t: i64, device: &str, net: &str) -> Signal {
        let mut s = admin(t, device, net);
        s.principal_id = "svc-1".into();
        s.principal_class = PrincipalClass::ServiceAccount;
        s
    }

    #[test]
    fn a_service_account_off_its_host_is_critical_and_on_it_is_quiet() {
        let mut d = AdminDeviceDetector::new(&AdminDeviceConfig::default());
        // Its host, over and over: learned, then quiet.
        let quiet: Vec<Signal> = (0..50).map(|t| service(t, "key-1", "host-net")).collect();
        assert!(run(&mut d, &quiet).is_empty());
        // The same key from another network: the stolen-key case.
        let out = run(&mut d, &[service(60, "key-1", "attacker-net")]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, FindingKind::ServiceAccountNewContext);
        assert_eq!(out[0].severity, Severity::Critical);
        // Not watched (the class removed): no finding, as before this rule.
        let mut d = AdminDeviceDetector::new(&AdminDeviceConfig {
            classes: vec![PrincipalClass::CustomerAdmin],
            ..AdminDeviceConfig::default()
        });
        assert!(run(&mut d, &quiet).is_empty());
        assert!(run(&mut d, &[service(60, "key-1", "attacker-net")]).is_empty());
    }
}
