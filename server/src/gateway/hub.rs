//! Which users have connections, and waking them when deliveries land in their inboxes.
//!
//! The engine tells the hub of every chunk of deliveries ([`herald::InboxWatcher`]), from a
//! fan-out worker that must not block. The hub tests each recipient against a bit set of
//! connected users (one relaxed load per recipient, the recipients ascending, so it streams
//! through the words), and for a connected one notifies each of its connections'
//! [`Notify`]: a stored permit, never a wait. A connection that is woken reads its inbox
//! itself; the hub never holds a message or a socket.
//!
//! **Invariant:** a user's bit is set before its connection first reads the inbox, and
//! cleared only when its last connection is gone, both under the user's shard lock. A
//! delivery the first read missed was written after that read's block lock, so the
//! watcher call that follows it sees the bit (the block mutex orders them) and wakes the
//! connection: no wake-up is lost.

use herald::{InboxWatcher, JobId};
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Notify;

/// Shards of the user → connections map.
const SHARDS: usize = 64;

/// One connection's wake-up, shared between the hub and the connection.
#[derive(Debug, Default)]
pub struct Waker {
    notify: Notify,
}

impl Waker {
    /// Resolves once a delivery for this connection's user landed since the last call (or
    /// at once if one did while nobody waited).
    pub async fn woken(&self) {
        self.notify.notified().await
    }
}

/// One shard of the user → connections map.
type Shard = Mutex<HashMap<u32, Vec<Arc<Waker>>>>;

/// The connected users and their connections' wakers.
#[derive(Debug)]
pub struct Hub {
    /// Bit `u` is set while user `u` has at least one connection.
    connected: RwLock<Vec<AtomicU64>>,
    shards: Box<[Shard]>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub {
            connected: RwLock::new(Vec::new()),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

/// A registered connection; dropping it unregisters it.
#[derive(Debug)]
pub struct Registration {
    hub: Arc<Hub>,
    user: u32,
    waker: Arc<Waker>,
}

impl Registration {
    /// The connection's wake-up.
    pub fn waker(&self) -> &Waker {
        &self.waker
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.unregister(self.user, &self.waker);
    }
}

impl Hub {
    fn shard(&self, user: u32) -> &Shard {
        &self.shards[user as usize % SHARDS]
    }

    /// Registers a connection of `user`: from now on, every delivery to `user` wakes it.
    /// Register before the connection's first inbox read.
    pub fn register(self: &Arc<Hub>, user: u32) -> Registration {
        let word = (user >> 6) as usize;
        if self.connected.read().len() <= word {
            let mut words = self.connected.write();
            let len = (word + 1).next_power_of_two().max(words.len());
            words.resize_with(len, AtomicU64::default);
        }
        let waker = Arc::new(Waker::default());
        let mut shard = self.shard(user).lock();
        shard.entry(user).or_default().push(Arc::clone(&waker));
        self.connected.read()[word].fetch_or(1 << (user & 63), Ordering::SeqCst);
        drop(shard);
        Registration {
            hub: Arc::clone(self),
            user,
            waker,
        }
    }

    fn unregister(&self, user: u32, waker: &Arc<Waker>) {
        let mut shard = self.shard(user).lock();
        let Some(wakers) = shard.get_mut(&user) else {
            return;
        };
        wakers.retain(|w| !Arc::ptr_eq(w, waker));
        if wakers.is_empty() {
            shard.remove(&user);
            self.connected.read()[(user >> 6) as usize]
                .fetch_and(!(1 << (user & 63)), Ordering::SeqCst);
        }
    }

    /// Connections registered now.
    pub fn connections(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().values().map(Vec::len).sum::<usize>())
            .sum()
    }

    fn wake(&self, user: u32) {
        if let Some(wakers) = self.shard(user).lock().get(&user) {
            for waker in wakers {
                waker.notify.notify_one();
            }
        }
    }
}

impl InboxWatcher for Hub {
    fn appended(&self, _job: JobId, recipients: &[u32]) {
        let words = self.connected.read();
        for &user in recipients {
            let Some(word) = words.get((user >> 6) as usize) else {
                // Ascending: every later recipient is past the set's end too.
                break;
            };
            if word.load(Ordering::Relaxed) & (1 << (user & 63)) != 0 {
                self.wake(user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::{AccountId, Seq};
    use std::time::Duration;

    fn job() -> JobId {
        JobId {
            account: AccountId(1),
            seq: Seq(1),
        }
    }

    async fn woken_soon(waker: &Waker) -> bool {
        tokio::time::timeout(Duration::from_millis(50), waker.woken())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn wakes_every_connection_of_a_recipient_and_nobody_else() {
        let hub = Arc::new(Hub::default());
        let a1 = hub.register(70);
        let a2 = hub.register(70);
        let b = hub.register(3);
        assert_eq!(hub.connections(), 3);
        hub.appended(job(), &[1, 70, 5000]);
        assert!(woken_soon(a1.waker()).await);
        assert!(woken_soon(a2.waker()).await);
        assert!(!woken_soon(b.waker()).await);
        // A permit is kept for a connection that was not waiting, once.
        hub.appended(job(), &[3]);
        hub.appended(job(), &[3]);
        assert!(woken_soon(b.waker()).await);
        assert!(!woken_soon(b.waker()).await);
    }

    #[tokio::test]
    async fn a_user_stays_connected_until_its_last_connection_leaves() {
        let hub = Arc::new(Hub::default());
        let first = hub.register(9);
        let second = hub.register(9);
        drop(first);
        hub.appended(job(), &[9]);
        assert!(woken_soon(second.waker()).await);
        drop(second);
        assert_eq!(hub.connections(), 0);
        assert_eq!(hub.connected.read()[0].load(Ordering::Relaxed), 0);
    }
}
