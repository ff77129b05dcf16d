//! What each client of a `net` run records, the same for every system: which messages it
//! got, in what order, how long after their send call, and its slow-client pause.
//!
//! Every payload starts with its message's index in eight ASCII digits, so a client knows
//! which broadcast a frame carries whatever the system's framing. A client is checked
//! against the one right answer: messages `0..M`, each once, in that order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// What the publisher and every client of one run share.
#[derive(Debug)]
pub struct Shared {
    /// The instant every time of the run is measured from.
    pub base: Instant,
    /// Per message: nanoseconds after `base` just before its send call, 0 until then.
    pub sent_at: Box<[AtomicU64]>,
    /// Clients subscribed and ready to receive.
    pub subscribed: AtomicU64,
    /// Messages received by all clients, duplicates included (for the progress bar).
    pub received: AtomicU64,
    /// Clients that have every message.
    pub complete: AtomicU64,
    /// Becomes true when the run's drain deadline passes: clients stop waiting.
    pub deadline: watch::Sender<bool>,
}

impl Shared {
    pub fn new(messages: u32) -> Arc<Shared> {
        Arc::new(Shared {
            base: Instant::now(),
            sent_at: (0..messages).map(|_| AtomicU64::new(0)).collect(),
            subscribed: AtomicU64::new(0),
            received: AtomicU64::new(0),
            complete: AtomicU64::new(0),
            deadline: watch::channel(false).0,
        })
    }

    pub fn messages(&self) -> u32 {
        self.sent_at.len() as u32
    }

    /// Marks message `index` as being sent now.
    pub fn mark_sent(&self, index: u32) {
        let nanos = (self.base.elapsed().as_nanos() as u64).max(1);
        self.sent_at[index as usize].store(nanos, Ordering::Release);
    }

    fn offset(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }
}

/// The payload of message `index`: its index in eight digits, then `x` up to `bytes`.
pub fn payload(index: u32, bytes: usize) -> String {
    let mut s = format!("{index:08}");
    s.extend(std::iter::repeat_n('x', bytes.saturating_sub(8)));
    s
}

/// The message index at the start of a payload.
pub fn index_of(payload: &[u8]) -> Option<u32> {
    let digits = payload.get(..8)?;
    digits.iter().try_fold(0u32, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
    })
}

/// Whether client `i` of a run with `slow_share` slow clients is slow: spread evenly, so
/// any 1/share consecutive clients hold one.
pub fn is_slow(i: u32, slow_share: f64) -> bool {
    slow_share > 0.0
        && ((f64::from(i) + 1.0) * slow_share).floor() > (f64::from(i) * slow_share).floor()
}

/// One receipt: latency in microseconds and arrival in microseconds after `base`.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub latency_us: u32,
    pub at_us: u64,
}

/// One client's record of a run.
#[derive(Debug)]
pub struct Recorder {
    shared: Arc<Shared>,
    seen: Vec<u64>,
    last: Option<u32>,
    pub distinct: u32,
    pub duplicates: u32,
    /// Messages that arrived after a later one had.
    pub out_of_order: u32,
    /// Connections lost (or closed by the server) before the client had everything.
    pub disconnects: u32,
    /// Messages the system said were skipped (herald's `missed` frames).
    pub reported_missed: u64,
    pub samples: Vec<Sample>,
    pub slow: bool,
    pause: Option<Duration>,
    /// When a slow client started reading again.
    pub resumed_at: Option<Instant>,
    unreported: u64,
}

impl Recorder {
    pub fn new(shared: Arc<Shared>, slow: bool, pause: Duration) -> Recorder {
        let messages = shared.messages() as usize;
        Recorder {
            seen: vec![0; messages.div_ceil(64)],
            samples: Vec::with_capacity(messages),
            shared,
            last: None,
            distinct: 0,
            duplicates: 0,
            out_of_order: 0,
            disconnects: 0,
            reported_missed: 0,
            slow,
            pause: slow.then_some(pause),
            resumed_at: None,
            unreported: 0,
        }
    }

    /// Messages in the run.
    pub fn messages(&self) -> u32 {
        self.shared.messages()
    }

    /// The instant the run's times are measured from.
    pub fn base(&self) -> Instant {
        self.shared.base
    }

    /// Every message has arrived.
    pub fn complete(&self) -> bool {
        self.distinct == self.shared.messages()
    }

    /// A frame carrying `payload` arrived at `now`. Unknown payloads count as nothing.
    pub fn message(&mut self, payload: &[u8], now: Instant) {
        let Some(index) = index_of(payload).filter(|&i| i < self.shared.messages()) else {
            return;
        };
        self.unreported += 1;
        let (word, bit) = (index as usize / 64, 1u64 << (index % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= bit;
        self.distinct += 1;
        if self.complete() {
            self.shared.complete.fetch_add(1, Ordering::Relaxed);
        }
        if self.last.is_some_and(|last| index < last) {
            self.out_of_order += 1;
        }
        self.last = Some(self.last.map_or(index, |l| l.max(index)));
        let sent = self.shared.sent_at[index as usize].load(Ordering::Acquire);
        let at = self.shared.offset(now);
        let latency_us = (at.saturating_sub(sent) / 1_000).min(u64::from(u32::MAX)) as u32;
        self.samples.push(Sample {
            latency_us,
            at_us: at / 1_000,
        });
    }

    /// After a read's frames: publishes the count for the progress bar, and returns the
    /// pause a slow client takes now (once, after its first message).
    pub fn after_read(&mut self) -> Option<Duration> {
        if self.unreported > 0 {
            self.shared
                .received
                .fetch_add(self.unreported, Ordering::Relaxed);
            self.unreported = 0;
        }
        if self.distinct > 0 {
            self.pause.take()
        } else {
            None
        }
    }

    pub fn resumed(&mut self) {
        self.resumed_at = Some(Instant::now());
    }

    pub fn deadline(&self) -> watch::Receiver<bool> {
        self.shared.deadline.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_index_and_size() {
        assert_eq!(payload(42, 64).len(), 64);
        assert_eq!(index_of(payload(42, 64).as_bytes()), Some(42));
        assert_eq!(
            index_of(payload(99_999_999, 8).as_bytes()),
            Some(99_999_999)
        );
        assert_eq!(index_of(b"1234567"), None);
        assert_eq!(index_of(b"1234x678"), None);
    }

    #[test]
    fn slow_clients_are_spread_evenly() {
        let slow = (0..1_000).filter(|&i| is_slow(i, 0.1)).count();
        assert_eq!(slow, 100);
        assert!((0..10).any(|i| is_slow(i, 0.1)));
        assert!(!(0..1_000).any(|i| is_slow(i, 0.0)));
        assert!((0..10).all(|i| is_slow(i, 1.0)));
    }

    #[test]
    fn the_recorder_finds_gaps_repeats_and_disorder() {
        let shared = Shared::new(4);
        for i in 0..4 {
            shared.mark_sent(i);
        }
        let mut r = Recorder::new(Arc::clone(&shared), false, Duration::ZERO);
        let now = Instant::now();
        for i in [0, 2, 1, 2] {
            r.message(payload(i, 16).as_bytes(), now);
        }
        r.message(b"not ours", now);
        assert_eq!((r.distinct, r.duplicates, r.out_of_order), (3, 1, 1));
        assert!(!r.complete());
        r.message(payload(3, 16).as_bytes(), now);
        assert!(r.complete());
        assert_eq!(r.samples.len(), 4);
        assert_eq!(r.after_read(), None);
        assert_eq!(shared.received.load(Ordering::Relaxed), 5);
    }
}
