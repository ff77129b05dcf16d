//! The order an account reads its followers in (by OpenID), and the per-account cache that
//! makes reading them all cost one sort per pass instead of one per page.
//!
//! ## The order
//! [`Engine::followers_page`](crate::Engine::followers_page) lists followers by ascending
//! OpenID. An OpenID is a keyed pseudorandom permutation of (account, user) (see
//! `openid.rs`), so the sorted list tells an account nothing it does not already know: it
//! is the account's own set of OpenIDs, in the one order their values give. Two accounts
//! that share followers see two unrelated orders, a shared user at unrelated positions, and
//! neither order says anything about internal user ids. The cursor is an OpenID as well,
//! and "the followers whose OpenID is greater than the cursor" stays well defined when the
//! cursor's user has stopped following, as with the platform's `next_openid`.
//!
//! Rejected: internal user-id order (what the engine had): zipping two accounts' lists
//! linked them, and the order leaked ids. A keyed order walked through the user-id space in
//! ranges (permuting blocks of ids, or some of an id's bits) would let a page look at one
//! range of the follower bitmap only, but users sharing a range in one account would share
//! it in every account, which links them; an order that mixes all 32 bits is unlinkable
//! but then the first page has to look at every follower anyway, and its cursor would not
//! be an OpenID.
//!
//! ## A page
//! The `limit` smallest OpenIDs greater than `after` among the account's followers at the
//! moment of the call, and whether any greater one follows then. Consequences for a pass
//! (a first page, then each page after the previous page's last OpenID):
//! - no OpenID is returned twice in a pass, whatever changes meanwhile: each page lies
//!   strictly above the previous one;
//! - a user who follows throughout the pass is returned exactly once;
//! - a user who follows during the pass is returned if its OpenID lies above the cursor
//!   when the next page is read, and not otherwise (like `next_openid`: a pass does not go
//!   back); one who unfollows is not returned after it unfollowed (it may have been
//!   before); one who unfollows and follows again keeps its OpenID, so it is returned at
//!   most once;
//! - `total` is the follower count at the moment of each page.
//!
//! ## Cost, and the cache
//! The smallest OpenIDs of an account are known only once every follower's OpenID is
//! computed: about 60 to 100 ns each ([`OpenIdCodec::encode_many`]), up to a second for ten
//! million. Done for every page, a pass over ten million followers would take a thousand
//! times that. So the first page of an account with more followers than
//! `follower_cache_min` and than the page asks for builds a [`FollowerOrder`]: every
//! follower's OpenID, sorted, 8 bytes a follower, computed outside the account's lock on a
//! copy-on-write reference to its follower bitmap. Later pages are a binary search and a
//! copy, whoever reads them: the cache is the account's, not one reader's.
//!
//! The cache follows changes without searching for them. While it exists, the account's
//! graph notes every user whose edge changes (a [`Watch`]), and the next page encodes just
//! those users and files each as added (not in the sorted base) or removed (in it), so a
//! page is exact. If more changes came than the watch holds, the next page takes the
//! differences between the follower bitmap and the one the base was built from instead (a
//! few set operations over the bitmaps' containers). Only when the added and removed
//! together pass an eighth of the base (at most 262,144) is the cache dropped, to be
//! rebuilt by the next page.
//!
//! Memory: 8 bytes a follower only for accounts being paged, and bounded. A cache is
//! dropped after `follower_cache_idle_ms` without a page, with its account, and, least
//! recently used first, when a new one would pass `follower_cache_bytes` in all. Accounts
//! too small for a cache, and pages for which none fits or whose cache another page is
//! building, are computed directly: every follower encoded, the smallest kept
//! ([`select_page`]), in O(limit) memory.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use parking_lot::Mutex;
use roaring::RoaringBitmap;

use crate::clock::Millis;
use crate::domain::openid::OpenIdCodec;
use crate::ids::AccountId;
use crate::ids::OpenId;

/// Users encoded at a time when a page is computed without a cache: a buffer that stays in
/// the first-level cache.
const CHUNK: usize = 1_024;
/// Changes the cache tolerates (added plus removed, beyond the base): an eighth of the base,
/// within these bounds; past that it is rebuilt. The upper bound keeps a resync (below)
/// under about 16 ms of encoding under the account's lock.
const DRIFT_MIN: usize = 1_024;
const DRIFT_MAX: usize = 1 << 18;
const DRIFT_PER_BASE: usize = 8;
/// A watch holds at most a sixty-fourth of the followers' changes between two pages,
/// within these bounds: 4 KiB to 256 KiB, and at most about 4 ms of encoding under the
/// account's lock when the next page catches up.
const WATCH_MIN: usize = 1_024;
const WATCH_MAX: usize = 65_536;
const WATCH_PER_FOLLOWERS: u64 = 64;
/// Heap bytes per entry of a `BTreeSet<u64>`, roughly (keys plus node overhead at the
/// usual fill): for the memory budget only.
const SET_BYTES_PER_ID: usize = 16;

/// How many changes an account with `followers` followers may note between two pages.
pub(crate) fn watch_cap(followers: u64) -> usize {
    ((followers / WATCH_PER_FOLLOWERS) as usize).clamp(WATCH_MIN, WATCH_MAX)
}

/// Bytes a cache built from `followers` takes, as [`FollowerOrder::heap_bytes`] and
/// [`Watch::reserved_bytes`] will count them.
pub(crate) fn estimate_bytes(followers: &RoaringBitmap) -> usize {
    let n = followers.len();
    n as usize * size_of::<u64>() + followers.serialized_size() + watch_cap(n) * size_of::<u32>()
}

/// Users whose follow edge changed, noted by the account's graph for its cache (see the
/// module doc). Written under the account's lock, like the graph.
#[derive(Debug, Clone, Default)]
pub(crate) struct Watch {
    /// In change order, repeats possible; at most `cap`, in an allocation of `cap` made at
    /// the first change and kept while watching, so that its memory is known in advance.
    users: Vec<u32>,
    cap: usize,
    /// More than `cap` changes came: `users` is incomplete (and emptied), and the cache
    /// must be rebuilt.
    overflowed: bool,
}

impl Watch {
    pub(crate) fn new(cap: usize) -> Self {
        Watch {
            users: Vec::new(),
            cap,
            overflowed: false,
        }
    }

    #[inline]
    pub(crate) fn note(&mut self, user: u32) {
        if self.overflowed {
            return;
        }
        if self.users.len() < self.cap {
            if self.users.capacity() == 0 {
                self.users.reserve_exact(self.cap);
            }
            self.users.push(user);
        } else {
            self.overflow();
        }
    }

    pub(crate) fn note_many(&mut self, users: &[u32]) {
        if self.overflowed {
            return;
        }
        if self.users.len() + users.len() <= self.cap {
            if self.users.capacity() == 0 {
                self.users.reserve_exact(self.cap);
            }
            self.users.extend_from_slice(users);
        } else {
            self.overflow();
        }
    }

    fn overflow(&mut self) {
        self.overflowed = true;
        self.users = Vec::new();
    }

    /// Forgets the changes noted (once read), keeping the allocation.
    fn clear(&mut self) {
        self.users.clear();
        self.overflowed = false;
    }

    /// Heap bytes the watch may hold, counted in its cache's budget from the start.
    pub(crate) fn reserved_bytes(&self) -> usize {
        self.cap * size_of::<u32>()
    }
}

/// One account's followers sorted by OpenID as of the moment it was built, and the changes
/// since, as of its last catch-up (see the module doc).
///
/// **Invariant:** after [`catch_up`](Self::catch_up) with the followers of the moment,
/// `(base \ removed) ∪ added` is exactly their OpenIDs; `removed ⊆ base` and
/// `added ∩ base = ∅`.
#[derive(Debug)]
pub(crate) struct FollowerOrder {
    /// OpenIDs of `base_set`, ascending.
    base: Vec<u64>,
    /// The followers when built: the graph's own bitmap, shared copy-on-write (the graph's
    /// next change copies it, once). With it, a watch that overflowed costs a set
    /// difference instead of a rebuild.
    base_set: Arc<RoaringBitmap>,
    /// OpenIDs of followers that are not in `base`.
    added: BTreeSet<u64>,
    /// OpenIDs in `base` whose user no longer follows.
    removed: BTreeSet<u64>,
}

impl FollowerOrder {
    /// Sorts the OpenIDs of `followers`. Call it outside the account's lock: this is the
    /// slow part (about 1 s for ten million followers).
    pub(crate) fn build(
        codec: &OpenIdCodec,
        account: AccountId,
        followers: Arc<RoaringBitmap>,
    ) -> Self {
        let mut base = Vec::with_capacity(followers.len() as usize);
        codec.encode_many(account, followers.iter(), &mut base);
        base.sort_unstable();
        FollowerOrder {
            base,
            base_set: followers,
            added: BTreeSet::new(),
            removed: BTreeSet::new(),
        }
    }

    fn drift_cap(&self) -> usize {
        (self.base.len() / DRIFT_PER_BASE).clamp(DRIFT_MIN, DRIFT_MAX)
    }

    /// Brings the cache up to `followers`, the account's followers now, given `watch`: every
    /// user whose edge changed since the last catch-up (or since the followers the cache was
    /// built from), which it then clears. Encodes only those users; if the watch overflowed,
    /// those that differ from the base ([`resync`](Self::resync)). `false` if the cache has
    /// drifted too far from its base: drop it.
    pub(crate) fn catch_up(
        &mut self,
        codec: &OpenIdCodec,
        account: AccountId,
        watch: &mut Watch,
        followers: &RoaringBitmap,
    ) -> bool {
        if watch.overflowed {
            watch.clear();
            return self.resync(codec, account, followers);
        }
        let users = &mut watch.users;
        users.sort_unstable();
        users.dedup();
        let mut ids = Vec::with_capacity(users.len());
        codec.encode_many(account, users.iter().copied(), &mut ids);
        for (&user, &id) in users.iter().zip(&ids) {
            // Where the user belongs depends only on whether it follows now and whether the
            // base holds it, never on the path between: a user changed any number of times
            // lands right.
            let follows = followers.contains(user);
            if self.base_set.contains(user) {
                if follows {
                    self.removed.remove(&id);
                } else {
                    self.removed.insert(id);
                }
            } else if follows {
                self.added.insert(id);
            } else {
                self.added.remove(&id);
            }
        }
        watch.clear();
        self.added.len() + self.removed.len() <= self.drift_cap()
    }

    /// Recomputes `added` and `removed` from scratch, as the differences between `followers`
    /// and the base's followers: O(containers) set operations, then one OpenID per
    /// difference. `false` (and the sets left as they were) if they are too many.
    fn resync(
        &mut self,
        codec: &OpenIdCodec,
        account: AccountId,
        followers: &RoaringBitmap,
    ) -> bool {
        let added = followers - &*self.base_set;
        let removed = &*self.base_set - followers;
        if added.len() + removed.len() > self.drift_cap() as u64 {
            return false;
        }
        let mut ids = Vec::with_capacity((added.len() + removed.len()) as usize);
        codec.encode_many(account, added.iter(), &mut ids);
        let split = ids.len();
        codec.encode_many(account, removed.iter(), &mut ids);
        self.added = ids[..split].iter().copied().collect();
        self.removed = ids[split..].iter().copied().collect();
        true
    }

    /// The first `limit` OpenIDs above `after` (all from the start if `None`), and whether
    /// more follow. Exact when caught up (see the invariant). O(limit + log n) plus the
    /// removed ones it skips.
    pub(crate) fn page(&self, after: Option<u64>, limit: usize) -> (Vec<OpenId>, bool) {
        let from = after.map_or(0, |a| self.base.partition_point(|&id| id <= a));
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut base = self.base[from..]
            .iter()
            .copied()
            .filter(|id| !self.removed.contains(id))
            .peekable();
        let mut added = self
            .added
            .range((lower, Bound::Unbounded))
            .copied()
            .peekable();
        let mut out = Vec::with_capacity(limit.min(self.base.len() - from + self.added.len()));
        let more = loop {
            // A merge of two ascending, disjoint sequences.
            let next = match (base.peek(), added.peek()) {
                (Some(b), Some(a)) if a < b => added.next(),
                (Some(_), _) => base.next(),
                (None, _) => added.next(),
            };
            let Some(id) = next else { break false };
            if out.len() == limit {
                break true;
            }
            out.push(OpenId(id));
        };
        (out, more)
    }

    /// Heap bytes, counting the base's bitmap as if the graph had already copied it.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.base.capacity() * size_of::<u64>()
            + self.base_set.serialized_size()
            + (self.added.len() + self.removed.len()) * SET_BYTES_PER_ID
    }
}

/// A page computed without a cache: every follower encoded (in chunks, never all held),
/// the `limit` smallest OpenIDs above `after` kept, and whether more follow. O(n) time and
/// O(limit) memory: the candidates are cut back to `limit + 1` with a selection whenever
/// they reach twice that, and after the first cut only OpenIDs below the kept ones are
/// candidates at all.
pub(crate) fn select_page(
    codec: &OpenIdCodec,
    account: AccountId,
    followers: &RoaringBitmap,
    after: Option<u64>,
    limit: usize,
) -> (Vec<OpenId>, bool) {
    // One more than a page: whether it is there says whether another page follows.
    let keep = limit.saturating_add(1);
    let mut best: Vec<u64> = Vec::with_capacity(keep.min(followers.len() as usize) + CHUNK);
    let mut below = u64::MAX;
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut users = followers.iter();
    loop {
        chunk.clear();
        codec.encode_many(account, users.by_ref().take(CHUNK), &mut chunk);
        if chunk.is_empty() {
            break;
        }
        // `below` is the largest OpenID kept by the last cut: one above it cannot make the
        // page (no bound before the first cut). OpenIDs are distinct, so `<=` admits none
        // twice.
        best.extend(
            chunk
                .iter()
                .copied()
                .filter(|&id| after.is_none_or(|a| id > a) && id <= below),
        );
        if best.len() >= 2 * keep {
            best.select_nth_unstable(keep - 1);
            best.truncate(keep);
            below = best.iter().copied().max().unwrap_or(u64::MAX);
        }
    }
    best.sort_unstable();
    let more = best.len() > limit;
    best.truncate(limit);
    (best.into_iter().map(OpenId).collect(), more)
}

/// Every follower-order cache of the engine, for the memory budget and the idle timeout.
/// The caches themselves live in their accounts (written under the account's lock); this
/// keeps their size and last use, each under a stamp that names one cache for its life.
///
/// Lock order: taken after an account shard, never while taking one: the engine drops the
/// caches this evicts after releasing it.
#[derive(Debug)]
pub(crate) struct Registry {
    budget: usize,
    idle_ms: u64,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    by_stamp: HashMap<u64, Entry>,
    next_stamp: u64,
    /// Sum of the entries' bytes.
    bytes: usize,
    /// No entry goes idle before this: every page checks for idle caches, and only a check
    /// at or past it scans the entries. A lower bound, since uses only move it later.
    earliest_idle: Millis,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    account: AccountId,
    bytes: usize,
    last_used: Millis,
    /// False while the cache is being built: a build in progress is never evicted (its
    /// builder holds the account's `building` mark and will install or release it).
    built: bool,
}

/// Caches to drop, as (account, stamp): the engine drops an account's cache if it still
/// carries the stamp.
pub(crate) type Evicted = Vec<(AccountId, u64)>;

impl Registry {
    pub(crate) fn new(budget: usize, idle_ms: u64) -> Self {
        Registry {
            budget,
            idle_ms,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Reserves `bytes` for a cache of `account` about to be built; evicts the least
    /// recently used built caches if that is what makes it fit. `None` (and nothing
    /// evicted) if it cannot fit: the account is then paged without a cache.
    pub(crate) fn reserve(
        &self,
        account: AccountId,
        bytes: usize,
        now: Millis,
    ) -> Option<(u64, Evicted)> {
        let mut e = self.entries.lock();
        let mut evicted = Vec::new();
        if e.bytes.saturating_add(bytes) > self.budget {
            let mut built: Vec<(Millis, u64, usize)> = (e.by_stamp.iter())
                .filter(|(_, x)| x.built)
                .map(|(&stamp, x)| (x.last_used, stamp, x.bytes))
                .collect();
            let evictable: usize = built.iter().map(|x| x.2).sum();
            if (e.bytes - evictable).saturating_add(bytes) > self.budget {
                return None;
            }
            built.sort_unstable();
            for (_, stamp, _) in built {
                if e.bytes + bytes <= self.budget {
                    break;
                }
                if let Some(gone) = e.by_stamp.remove(&stamp) {
                    e.bytes -= gone.bytes;
                    evicted.push((gone.account, stamp));
                }
            }
        }
        let stamp = e.next_stamp;
        e.next_stamp += 1;
        e.bytes += bytes;
        e.earliest_idle = e.earliest_idle.min(now.saturating_add(self.idle_ms));
        e.by_stamp.insert(
            stamp,
            Entry {
                account,
                bytes,
                last_used: now,
                built: false,
            },
        );
        Some((stamp, evicted))
    }

    /// Records a use of the cache `stamp` and its size now; marks it built. `false` if it
    /// was evicted meanwhile, or has grown past what the budget leaves it: the caller drops
    /// it (and a later page builds a new one, evicting others if need be).
    pub(crate) fn used(&self, stamp: u64, bytes: usize, now: Millis) -> bool {
        let mut e = self.entries.lock();
        let total = e.bytes;
        let Some(entry) = e.by_stamp.get_mut(&stamp) else {
            return false;
        };
        if total - entry.bytes + bytes > self.budget {
            return false;
        }
        let old = std::mem::replace(&mut entry.bytes, bytes);
        entry.last_used = entry.last_used.max(now);
        entry.built = true;
        e.bytes = total - old + bytes;
        true
    }

    /// Forgets the cache `stamp` (dropped by its account, or never built).
    pub(crate) fn release(&self, stamp: u64) {
        let mut e = self.entries.lock();
        if let Some(gone) = e.by_stamp.remove(&stamp) {
            e.bytes -= gone.bytes;
        }
    }

    /// Forgets the built caches unused for the idle time; returns them, to drop.
    pub(crate) fn take_idle(&self, now: Millis) -> Evicted {
        let mut e = self.entries.lock();
        if now < e.earliest_idle {
            return Vec::new();
        }
        let idle_ms = self.idle_ms;
        let mut gone = Vec::new();
        let mut freed = 0;
        e.by_stamp.retain(|&stamp, x| {
            let idle = x.built && now.saturating_sub(x.last_used) >= idle_ms;
            if idle {
                gone.push((x.account, stamp));
                freed += x.bytes;
            }
            !idle
        });
        e.bytes -= freed;
        // Entries being built count from their reservation: a bound all the same.
        e.earliest_idle = (e.by_stamp.values())
            .map(|x| x.last_used.saturating_add(idle_ms))
            .min()
            .unwrap_or(Millis::MAX);
        gone
    }

    /// Bytes held or reserved by all caches.
    pub(crate) fn bytes(&self) -> usize {
        self.entries.lock().bytes
    }
}

/// An account's follower-order cache, if any. Lives in the account's state, written under
/// its lock.
///
/// **Invariant:** the account's graph watches changes (`AccountGraph::start_watch`) exactly
/// while `cache` or `building` is set, and at most one of them is.
#[derive(Debug, Default)]
pub(crate) struct OrderSlot {
    /// The cache and its registry stamp.
    pub(crate) cache: Option<(u64, Box<FollowerOrder>)>,
    /// The stamp of the cache one thread is building, outside the lock.
    pub(crate) building: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn codec() -> OpenIdCodec {
        OpenIdCodec::new(*b"0123456789abcdef")
    }

    /// The page as a model computes it: every OpenID, sorted.
    fn model_page(
        followers: &RoaringBitmap,
        after: Option<u64>,
        limit: usize,
    ) -> (Vec<OpenId>, bool) {
        let mut ids: Vec<u64> = followers
            .iter()
            .map(|u| codec().encode(AccountId(5), crate::ids::UserId(u)).0)
            .filter(|&id| after.is_none_or(|a| id > a))
            .collect();
        ids.sort_unstable();
        let more = ids.len() > limit;
        ids.truncate(limit);
        (ids.into_iter().map(OpenId).collect(), more)
    }

    proptest! {
        /// The cache, caught up after arbitrary changes, and the direct selection both give
        /// the model's page, from any cursor.
        #[test]
        fn cached_and_selected_pages_equal_the_model(
            initial in proptest::collection::btree_set(0u32..3_000, 0..600),
            changes in proptest::collection::vec((any::<bool>(), 0u32..3_000), 0..300),
            cursors in proptest::collection::vec(any::<u64>(), 1..6),
            limit in 1usize..700,
            watch_cap in 1usize..400,
        ) {
            let codec = codec();
            let account = AccountId(5);
            let mut followers: RoaringBitmap = initial.iter().copied().collect();
            let mut order = FollowerOrder::build(&codec, account, Arc::new(followers.clone()));
            // Small enough to overflow in some cases: then the cache resyncs.
            let mut watch = Watch::new(watch_cap);
            for (follow, user) in changes {
                if follow { followers.insert(user); } else { followers.remove(user); }
                watch.note(user);
            }
            prop_assert!(order.catch_up(&codec, account, &mut watch, &followers));
            prop_assert!(watch.users.is_empty() && !watch.overflowed);
            // Cursors: none, random values, and OpenIDs of (former) followers.
            let mut afters: Vec<Option<u64>> = vec![None];
            afters.extend(cursors.iter().map(|&c| Some(c)));
            afters.extend(initial.iter().take(3).map(|&u| Some(codec.encode(account, crate::ids::UserId(u)).0)));
            for after in afters {
                let want = model_page(&followers, after, limit);
                prop_assert_eq!(order.page(after, limit), want.clone());
                prop_assert_eq!(select_page(&codec, account, &followers, after, limit), want);
            }
        }
    }

    #[test]
    fn an_overflowed_watch_resyncs_unless_the_drift_is_too_large() {
        let codec = codec();
        let mut followers: RoaringBitmap = (0..2_000).collect();
        let mut order = FollowerOrder::build(&codec, AccountId(5), Arc::new(followers.clone()));
        let mut watch = Watch::new(2);
        watch.note_many(&[1, 2]);
        assert!(!watch.overflowed);
        watch.note(3);
        assert!(watch.overflowed && watch.users.is_empty());
        watch.note(4);
        assert!(watch.users.is_empty(), "nothing noted after overflowing");
        followers.remove(3);
        followers.insert(5_000);
        assert!(order.catch_up(&codec, AccountId(5), &mut watch, &followers));
        assert_eq!(order.page(None, 5_000), model_page(&followers, None, 5_000));
        // More changes than a cache of 2,000 tolerates (1,024).
        followers.remove_range(0..1_100);
        watch.overflow();
        assert!(!order.catch_up(&codec, AccountId(5), &mut watch, &followers));
    }

    #[test]
    fn the_registry_evicts_least_recently_used_built_caches_only() {
        let r = Registry::new(100, 1_000);
        let (a, none) = r.reserve(AccountId(1), 40, 0).unwrap();
        assert!(none.is_empty());
        let (b, _) = r.reserve(AccountId(2), 40, 1).unwrap();
        // Nothing built yet: a third does not fit and nothing is evicted.
        assert!(r.reserve(AccountId(3), 40, 2).is_none());
        assert!(r.used(a, 40, 5) && r.used(b, 40, 3));
        // b is the least recently used.
        let (c, evicted) = r.reserve(AccountId(3), 40, 6).unwrap();
        assert_eq!(evicted, vec![(AccountId(2), b)]);
        assert!(
            !r.used(b, 40, 7),
            "an evicted cache learns it on its next use"
        );
        assert_eq!(r.bytes(), 80);
        // Too big for the budget even when empty.
        assert!(r.reserve(AccountId(4), 101, 7).is_none());
        assert!(r.used(c, 50, 8));
        assert_eq!(r.take_idle(1_006), vec![(AccountId(1), a)]);
        assert_eq!(r.bytes(), 50);
        r.release(c);
        assert_eq!(r.bytes(), 0);
        // Idle checks between uses find nothing until the earliest can have gone idle.
        let (d, _) = r.reserve(AccountId(5), 10, 2_000).unwrap();
        assert!(r.used(d, 10, 2_500));
        assert!(r.take_idle(2_999).is_empty());
        assert!(r.take_idle(3_499).is_empty());
        assert_eq!(r.take_idle(3_500), vec![(AccountId(5), d)]);
    }
}
