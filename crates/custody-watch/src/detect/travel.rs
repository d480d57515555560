//! Impossible travel: two consecutive authenticated signals of one principal whose
//! great-circle (haversine) distance is at least `min_distance_km` and whose implied
//! speed exceeds `max_speed_kmh` (default 805 km/h, Okta's default).
//!
//! Location comes from the signal ([`Signal::geo`]) or from the configured
//! [`GeoLocator`] for its address. When both points carry an accuracy radius, the
//! distance is reduced by both radii before it is judged, so GeoIP jitter inside one
//! metropolitan area never fires. Signals from an allow-listed egress network
//! (CIDR of the address, or network hash) are not judged and do not move the
//! principal's last location: a corporate VPN's exit point says nothing about where
//! the person is.
//!
//! There is no learning period for the classes in `no_learning_classes` (admins and
//! agents by default): the first impossible pair fires. Other classes are judged
//! after `learning_signals` located signals (default 0: also at once). The finding's
//! first event is the signal that completed the impossible pair.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{Detector, secs_ms};
use crate::finding::{Finding, FindingKind, Severity};
use crate::geo::GeoLocator;
use crate::signal::{GeoPoint, PrincipalClass, Signal};
use crate::state::BoundedMap;

/// Configuration of the impossible-travel detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TravelConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Speed above which travel is impossible, km/h. Default 805.
    pub max_speed_kmh: f64,
    /// Distance below which nothing is judged (GeoIP jitter), km. Default 100.
    pub min_distance_km: f64,
    /// Whether accuracy radii are subtracted from the distance. Default true.
    pub use_accuracy_radius: bool,
    /// Egress networks (CIDR) whose signals are not judged. Default none.
    pub allow_networks: Vec<IpNet>,
    /// Network hashes whose signals are not judged. Default none.
    pub allow_network_hashes: Vec<String>,
    /// Classes judged from their first signal. Default: customer_admin,
    /// support_agent, operator, unknown.
    pub no_learning_classes: Vec<PrincipalClass>,
    /// Located signals seen before other classes are judged. Default 0.
    pub learning_signals: u32,
    /// Principals remembered. Default 100 000.
    pub capacity: usize,
    /// How long a last location is remembered, seconds. Default 86 400.
    pub ttl_secs: u64,
}

impl Default for TravelConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_speed_kmh: 805.0,
            min_distance_km: 100.0,
            use_accuracy_radius: true,
            allow_networks: Vec::new(),
            allow_network_hashes: Vec::new(),
            no_learning_classes: vec![
                PrincipalClass::CustomerAdmin,
                PrincipalClass::SupportAgent,
                PrincipalClass::Operator,
                PrincipalClass::Unknown,
            ],
            learning_signals: 0,
            capacity: 100_000,
            ttl_secs: 86_400,
        }
    }
}

#[derive(Debug, Clone)]
struct LastSeen {
    point: GeoPoint,
    time_ms: i64,
    network: Option<String>,
    ip: Option<IpAddr>,
    located: u32,
}

/// The impossible-travel detector.
pub(crate) struct TravelDetector {
    config: TravelConfig,
    locator: Option<Arc<dyn GeoLocator>>,
    last: BoundedMap<String, LastSeen>,
    unlocated: u64,
}

impl TravelDetector {
    pub(crate) fn new(config: &TravelConfig, locator: Option<Arc<dyn GeoLocator>>) -> Self {
        Self {
            config: config.clone(),
            locator,
            last: BoundedMap::new(config.capacity, secs_ms(config.ttl_secs)),
            unlocated: 0,
        }
    }

    /// Authenticated signals that had no location.
    pub(crate) fn unlocated(&self) -> u64 {
        self.unlocated
    }

    fn allowed(&self, signal: &Signal) -> bool {
        signal
            .ip
            .is_some_and(|ip| self.config.allow_networks.iter().any(|n| n.contains(&ip)))
            || signal
                .network_hash
                .as_ref()
                .is_some_and(|h| self.config.allow_network_hashes.contains(h))
    }

    fn locate(&self, signal: &Signal) -> Option<GeoPoint> {
        signal.geo.filter(GeoPoint::is_valid).or_else(|| {
            let ip = signal.ip?;
            self.locator.as_ref()?.locate(ip)
        })
    }

    /// Distance to judge, km: haversine less both accuracy radii when configured.
    fn judged_distance(&self, a: &GeoPoint, b: &GeoPoint) -> f64 {
        let d = a.distance_km(b);
        if !self.config.use_accuracy_radius {
            return d;
        }
        let slack = a.accuracy_km.unwrap_or(0.0) + b.accuracy_km.unwrap_or(0.0);
        (d - slack).max(0.0)
    }
}

impl Detector for TravelDetector {
    fn name(&self) -> &'static str {
        "travel"
    }

    fn observe(&mut self, signal: &Signal, out: &mut Vec<Finding>) {
        if !signal.is_authenticated() || self.allowed(signal) {
            return;
        }
        let Some(point) = self.locate(signal) else {
            self.unlocated = self.unlocated.saturating_add(1);
            return;
        };
        let judged_from_start = self
            .config
            .no_learning_classes
            .contains(&signal.principal_class);
        let learning = self.config.learning_signals;
        let current = LastSeen {
            point,
            time_ms: signal.time_ms,
            network: signal.network_hash.clone(),
            ip: signal.ip,
            located: 1,
        };
        let Some((last, created)) =
            self.last
                .touch(signal.principal_id.as_str(), signal.time_ms, || {
                    current.clone()
                })
        else {
            return;
        };
        if created {
            return;
        }
        let previous = std::mem::replace(
            last,
            LastSeen {
                located: last.located.saturating_add(1),
                ..current
            },
        );
        if !judged_from_start && previous.located < learning {
            return;
        }
        let distance = self.judged_distance(&previous.point, &point);
        if distance < self.config.min_distance_km {
            return;
        }
        let hours = (signal.time_ms.saturating_sub(previous.time_ms)).unsigned_abs() as f64 / 3.6e6;
        let speed = if hours > 0.0 {
            distance / hours
        } else {
            f64::INFINITY
        };
        if speed <= self.config.max_speed_kmh {
            return;
        }
        let speed_text = if speed.is_finite() {
            format!("{speed:.0}")
        } else {
            "inf".to_owned()
        };
        out.push(
            Finding::about(
                FindingKind::ImpossibleTravel,
                Severity::High,
                signal,
                signal.time_ms,
            )
            .with("distance_km", format!("{distance:.0}"))
            .with("speed_kmh", speed_text)
            .with("previous_time_ms", previous.time_ms.to_string())
            .with_opt("previous_network", previous.network.as_ref())
            .with_opt("network", signal.network_hash.as_ref())
            .with_opt("previous_ip", previous.ip.map(|ip| ip.to_string()).as_ref())
            .with_opt("ip", signal.ip.map(|ip| ip.to_string()).as_ref())
            .with_opt("session", signal.session_id.as_ref())
            .with_opt("device", signal.device_id.as_ref()),
        );
    }

    fn keys(&self) -> usize {
        self.last.len()
    }
}

#[cfg(test)]
mod tests {
    use custody_audit::event::{EventKind, sample_event};

    use super::*;

    const LONDON: (f64, f64) = (51.5074, -0.1278);
    const PARIS: (f64, f64) = (48.8566, 2.3522);
    const NEW_YORK: (f64, f64) = (40.7128, -74.0060);
    const SYDNEY: (f64, f64) = (-33.8688, 151.2093);

    fn at(principal: &str, t_ms: i64, (lat, lon): (f64, f64)) -> Signal {
        let mut s = Signal::from(&sample_event(EventKind::View, t_ms, 1));
        s.principal_id = principal.into();
        s.geo = Some(GeoPoint::new(lat, lon));
        s
    }

    fn run(d: &mut TravelDetector, signals: &[Signal]) -> Vec<Finding> {
        let mut out = vec![];
        for s in signals {
            d.observe(s, &mut out);
        }
        out
    }

    #[test]
    fn london_to_new_york_just_above_and_below_the_threshold() {
        // 5 570 km: at 805 km/h that takes 6.92 h (24 910 s).
        let km =
            GeoPoint::new(LONDON.0, LONDON.1).distance_km(&GeoPoint::new(NEW_YORK.0, NEW_YORK.1));
        let limit_ms = (km / 805.0 * 3.6e6) as i64;
        let mut d = TravelDetector::new(&TravelConfig::default(), None);
        let fast = run(
            &mut d,
            &[at("a", 0, LONDON), at("a", limit_ms - 60_000, NEW_YORK)],
        );
        assert_eq!(fast.len(), 1, "one minute faster than 805 km/h fires");
        assert_eq!(fast[0].kind, FindingKind::ImpossibleTravel);
        assert_eq!(fast[0].first_event_ms, limit_ms - 60_000);
        let slow = run(
            &mut d,
            &[at("b", 0, LONDON), at("b", limit_ms + 60_000, NEW_YORK)],
        );
        assert!(slow.is_empty(), "one minute slower does not: {slow:?}");
    }

    #[test]
    fn london_to_paris_by_train_is_possible_but_not_by_teleport() {
        let mut d = TravelDetector::new(&TravelConfig::default(), None);
        // 344 km in 2 h 20 min (147 km/h).
        assert!(run(&mut d, &[at("a", 0, LONDON), at("a", 8_400_000, PARIS)]).is_empty());
        // 344 km in 20 minutes (1 031 km/h).
        assert_eq!(
            run(&mut d, &[at("b", 0, LONDON), at("b", 1_200_000, PARIS)]).len(),
            1
        );
        // Sydney one second after London (the first pair, no learning period).
        assert_eq!(
            run(&mut d, &[at("c", 0, LONDON), at("c", 1_000, SYDNEY)]).len(),
            1
        );
    }

    #[test]
    fn same_city_jitter_never_fires() {
        let mut d = TravelDetector::new(&TravelConfig::default(), None);
        // Within London, 20 km apart, one second apart: under the minimum distance.
        let signals: Vec<_> = (0..50)
            .map(|i| {
                let lat = LONDON.0 + if i % 2 == 0 { 0.09 } else { -0.09 };
                at("a", i * 1000, (lat, LONDON.1))
            })
            .collect();
        assert!(run(&mut d, &signals).is_empty());
        // 150 km apart on paper, but each point is only accurate to 100 km.
        let mut a = at("b", 0, LONDON);
        a.geo = Some(GeoPoint {
            lat: LONDON.0,
            lon: LONDON.1,
            accuracy_km: Some(100.0),
        });
        let mut b = at("b", 1_000, (LONDON.0 + 1.35, LONDON.1));
        b.geo = Some(GeoPoint {
            lat: LONDON.0 + 1.35,
            lon: LONDON.1,
            accuracy_km: Some(100.0),
        });
        assert!(run(&mut d, &[a, b]).is_empty());
    }

    #[test]
    fn allow_listed_egress_is_not_judged() {
        let cfg = TravelConfig {
            allow_networks: vec!["192.0.2.0/24".parse().unwrap()],
            ..TravelConfig::default()
        };
        let mut d = TravelDetector::new(&cfg, None);
        // sample_event's address is 192.0.2.10.
        assert!(run(&mut d, &[at("a", 0, LONDON), at("a", 1_000, SYDNEY)]).is_empty());
        let cfg = TravelConfig {
            allow_network_hashes: vec!["net:3f1c9a".into()],
            ..TravelConfig::default()
        };
        let mut d = TravelDetector::new(&cfg, None);
        assert!(run(&mut d, &[at("a", 0, LONDON), at("a", 1_000, SYDNEY)]).is_empty());
    }

    #[test]
    fn learning_period_applies_only_to_other_classes() {
        let cfg = TravelConfig {
            learning_signals: 2,
            ..TravelConfig::default()
        };
        let mut d = TravelDetector::new(&cfg, None);
        let mut s1 = at("svc", 0, LONDON);
        s1.principal_class = PrincipalClass::ServiceAccount;
        let mut s2 = at("svc", 1_000, SYDNEY);
        s2.principal_class = PrincipalClass::ServiceAccount;
        assert!(run(&mut d, &[s1.clone(), s2.clone()]).is_empty());
        // The agent class fires on its first pair regardless.
        assert_eq!(
            run(
                &mut d,
                &[at("agent", 0, LONDON), at("agent", 1_000, SYDNEY)]
            )
            .len(),
            1
        );
        // After two located signals the service account is judged.
        let mut s3 = at("svc", 2_000, LONDON);
        s3.principal_class = PrincipalClass::ServiceAccount;
        assert_eq!(run(&mut d, &[s3]).len(), 1);
    }

    #[test]
    fn unlocated_signals_are_counted_not_judged() {
        let mut d = TravelDetector::new(&TravelConfig::default(), None);
        let mut s = at("a", 0, LONDON);
        s.geo = None;
        assert!(run(&mut d, &[s]).is_empty());
        assert_eq!(d.unlocated(), 1);
    }
}
