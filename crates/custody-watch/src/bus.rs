//! The detection bus: the [`Transport`] trait (publish, subscribe), its in-process
//! implementation [`LocalBus`] (a bounded tokio channel), and the serialised schema
//! ([`encode_signal`], [`decode_signal`]) a cross-node transport such as NATS
//! JetStream carries: versioned JSON of [`Signal`], size-limited and validated on
//! the way in.
//!
//! Publishing never drops a signal silently: [`Transport::publish`] waits for room
//! (back-pressure), [`LocalBus::try_publish`] says when the bus is full, and the
//! broker decides what a full bus means for the request.

use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::signal::Signal;

/// Version of the serialised signal schema.
pub const SIGNAL_SCHEMA_VERSION: u32 = 1;
/// Largest serialised signal accepted, in bytes.
pub const MAX_SIGNAL_BYTES: usize = 16 * 1024;

/// A bus error. Carries no signal content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The bus is full (only from non-waiting publishes).
    #[error("detection bus is full")]
    Full,
    /// The bus is closed (no subscriber any more).
    #[error("detection bus is closed")]
    Closed,
    /// The in-process bus has one subscriber and it is taken.
    #[error("detection bus already has its subscriber")]
    AlreadySubscribed,
    /// A serialised signal is too large, malformed, of another schema version or
    /// has an invalid field.
    #[error("serialised signal is invalid: {0}")]
    Invalid(&'static str),
}

/// Carries signals from the broker to the watch.
pub trait Transport: Send + Sync {
    /// What [`Transport::subscribe`] returns.
    type Subscription: Subscription;

    /// Publishes one signal, waiting for room.
    fn publish(&self, signal: Signal) -> impl Future<Output = Result<(), TransportError>> + Send;

    /// Subscribes to the signals.
    ///
    /// # Errors
    /// When the transport cannot give a subscription.
    fn subscribe(&self) -> Result<Self::Subscription, TransportError>;
}

/// A stream of signals.
pub trait Subscription: Send {
    /// The next signal, or `None` when the bus is closed.
    fn next(&mut self) -> impl Future<Output = Option<Signal>> + Send;
}

/// The in-process bus of one node: a bounded channel with one subscriber.
#[derive(Debug)]
pub struct LocalBus {
    tx: mpsc::Sender<Signal>,
    rx: Mutex<Option<mpsc::Receiver<Signal>>>,
}

/// The subscription of a [`LocalBus`].
#[derive(Debug)]
pub struct LocalSubscription {
    rx: mpsc::Receiver<Signal>,
}

impl LocalBus {
    /// A bus holding up to `capacity` signals in flight (at least one).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Publishes without waiting.
    ///
    /// # Errors
    /// [`TransportError::Full`] or [`TransportError::Closed`].
    pub fn try_publish(&self, signal: Signal) -> Result<(), TransportError> {
        self.tx.try_send(signal).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TransportError::Full,
            mpsc::error::TrySendError::Closed(_) => TransportError::Closed,
        })
    }

    /// A publisher handle (cheap to clone) for the broker's request paths.
    #[must_use]
    pub fn publisher(&self) -> LocalPublisher {
        LocalPublisher {
            tx: self.tx.clone(),
        }
    }
}

/// A clonable publisher onto a [`LocalBus`].
#[derive(Debug, Clone)]
pub struct LocalPublisher {
    tx: mpsc::Sender<Signal>,
}

impl LocalPublisher {
    /// Publishes, waiting for room.
    ///
    /// # Errors
    /// [`TransportError::Closed`] when the subscriber is gone.
    pub async fn publish(&self, signal: Signal) -> Result<(), TransportError> {
        self.tx
            .send(signal)
            .await
            .map_err(|_| TransportError::Closed)
    }

    /// Publishes without waiting.
    ///
    /// # Errors
    /// [`TransportError::Full`] or [`TransportError::Closed`].
    pub fn try_publish(&self, signal: Signal) -> Result<(), TransportError> {
        self.tx.try_send(signal).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TransportError::Full,
            mpsc::error::TrySendError::Closed(_) => TransportError::Closed,
        })
    }
}

impl Transport for LocalBus {
    type Subscription = LocalSubscription;

    fn publish(&self, signal: Signal) -> impl Future<Output = Result<(), TransportError>> + Send {
        let tx = self.tx.clone();
        async move { tx.send(signal).await.map_err(|_| TransportError::Closed) }
    }

    fn subscribe(&self) -> Result<LocalSubscription, TransportError> {
        let mut slot = self
            .rx
            .lock()
            .map_err(|_| TransportError::AlreadySubscribed)?;
        slot.take()
            .map(|rx| LocalSubscription { rx })
            .ok_or(TransportError::AlreadySubscribed)
    }
}

impl Subscription for LocalSubscription {
    fn next(&mut self) -> impl Future<Output = Option<Signal>> + Send {
        self.rx.recv()
    }
}

#[derive(Serialize)]
struct EnvelopeRef<'a> {
    v: u32,
    signal: &'a Signal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeOwned {
    v: u32,
    signal: Signal,
}

/// The serialised form of `signal`: `{"v":1,"signal":{...}}`.
///
/// # Errors
/// [`TransportError::Invalid`] when the signal has an invalid field or is too large.
pub fn encode_signal(signal: &Signal) -> Result<Vec<u8>, TransportError> {
    signal
        .validate()
        .map_err(|e| TransportError::Invalid(e.field()))?;
    let bytes = serde_json::to_vec(&EnvelopeRef {
        v: SIGNAL_SCHEMA_VERSION,
        signal,
    })
    .map_err(|_| TransportError::Invalid("encoding"))?;
    if bytes.len() > MAX_SIGNAL_BYTES {
        return Err(TransportError::Invalid("size"));
    }
    Ok(bytes)
}

/// Parses and validates a serialised signal.
///
/// # Errors
/// [`TransportError::Invalid`] for an oversized, malformed, other-version or
/// invalid signal (naming what, never echoing content).
pub fn decode_signal(bytes: &[u8]) -> Result<Signal, TransportError> {
    if bytes.len() > MAX_SIGNAL_BYTES {
        return Err(TransportError::Invalid("size"));
    }
    let envelope: EnvelopeOwned =
        serde_json::from_slice(bytes).map_err(|_| TransportError::Invalid("json"))?;
    if envelope.v != SIGNAL_SCHEMA_VERSION {
        return Err(TransportError::Invalid("version"));
    }
    envelope
        .signal
        .validate()
        .map_err(|e| TransportError::Invalid(e.field()))?;
    Ok(envelope.signal)
}

#[cfg(test)]
mod tests {
    use custody_audit::event::{EventKind, sample_event};

    use super::*;
    use crate::signal::{GeoPoint, Happening, RefusalReason};

    #[test]
    fn serialised_signals_round_trip_and_bad_ones_are_refused() {
        let mut s = Signal::from(&sample_event(EventKind::Export, 42, 9));
        s.geo = Some(GeoPoint::new(1.5, -2.25));
        s.proof_id = Some("proof-1".into());
        let bytes = encode_signal(&s).unwrap();
        assert_eq!(decode_signal(&bytes).unwrap(), s);
        s.what = Happening::AuthRefused {
            reason: RefusalReason::NetworkMismatch,
            token_verified: true,
        };
        assert_eq!(decode_signal(&encode_signal(&s).unwrap()).unwrap(), s);

        let other_version = String::from_utf8(bytes.clone())
            .unwrap()
            .replacen("\"v\":1", "\"v\":2", 1);
        assert_eq!(
            decode_signal(other_version.as_bytes()),
            Err(TransportError::Invalid("version"))
        );
        assert_eq!(decode_signal(b"{"), Err(TransportError::Invalid("json")));
        assert_eq!(
            decode_signal(&vec![b' '; MAX_SIGNAL_BYTES + 1]),
            Err(TransportError::Invalid("size"))
        );
        let empty_tenant = String::from_utf8(bytes)
            .unwrap()
            .replace("\"tenant-2\"", "\"\"");
        assert_eq!(
            decode_signal(empty_tenant.as_bytes()),
            Err(TransportError::Invalid("tenant"))
        );
    }

    #[tokio::test]
    async fn local_bus_delivers_in_order_and_has_one_subscriber() {
        let bus = LocalBus::new(2);
        let mut sub = bus.subscribe().unwrap();
        assert_eq!(
            bus.subscribe().unwrap_err(),
            TransportError::AlreadySubscribed
        );
        let a = Signal::from(&sample_event(EventKind::View, 1, 1));
        let b = Signal::from(&sample_event(EventKind::View, 2, 2));
        bus.publish(a.clone()).await.unwrap();
        bus.publisher().try_publish(b.clone()).unwrap();
        assert_eq!(bus.try_publish(a.clone()), Err(TransportError::Full));
        assert_eq!(sub.next().await, Some(a));
        assert_eq!(sub.next().await, Some(b));
        drop(sub);
        assert_eq!(
            bus.try_publish(Signal::from(&sample_event(EventKind::View, 3, 3))),
            Err(TransportError::Closed)
        );
    }
}
