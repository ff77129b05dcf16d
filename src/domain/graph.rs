//! The subscription graph: who follows whom, tags, and where follows came from.
//!
//! Two indexes hold every follow edge:
//! - forward, per account, a [`RoaringBitmap`] of follower ids (in [`AccountGraph`]), which
//!   is what fan-out iterates and what audiences are computed from with set algebra;
//! - reverse, per user, the sorted list of followed account ids (in [`ReverseIndex`]),
//!   delta- and varint-encoded into a byte arena per shard: an 8-byte slot per user plus
//!   about two bytes per followed account, with no allocation per user.
//!
//! **Invariant:** an edge is in the forward index iff it is in the reverse index, whenever no
//! follow or unfollow is in progress: both are changed under the account's shard write lock,
//! the reverse one under its user shard lock taken second (lock order: account shard, then
//! user shard; never the other way round).

use std::sync::Arc;

use parking_lot::RwLock;
use roaring::RoaringBitmap;

use crate::ids::{AccountId, TagId, UserId};

/// One tag of an account.
#[derive(Debug, Clone)]
pub(crate) struct Tag {
    pub(crate) name: String,
    pub(crate) members: Arc<RoaringBitmap>,
}

/// Follows that came from one source (a QR scene).
#[derive(Debug, Clone)]
pub(crate) struct Source {
    pub(crate) name: String,
    /// Current followers whose follow came from this source.
    pub(crate) current: Arc<RoaringBitmap>,
    /// Follows from this source ever recorded, including those since undone.
    pub(crate) total: u64,
}

/// The followers, tags and follow sources of one account.
///
/// Bitmaps are shared (`Arc`) and copied on write: a snapshot or a send's audience takes a
/// reference in O(1), and the next change copies only the bitmap it changes.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccountGraph {
    pub(crate) followers: Arc<RoaringBitmap>,
    /// Indexed by `TagId`; `None` marks a deleted tag (ids are never reused, so an old id
    /// cannot silently name a new tag).
    pub(crate) tags: Vec<Option<Tag>>,
    pub(crate) sources: Vec<Source>,
    /// A superset of the users in any tag: whoever a tag gains is added here, and only
    /// unfollowing takes a user out. Unfollow looks here first and searches the tags only on
    /// a hit, which saves a bitmap search per tag (cache misses, at scale) for the untagged
    /// majority. Derived from `tags`, never stored.
    maybe_tagged: Arc<RoaringBitmap>,
}

impl AccountGraph {
    /// A graph from its stored parts (a snapshot); derives what is not stored.
    pub(crate) fn from_parts(
        followers: Arc<RoaringBitmap>,
        tags: Vec<Option<Tag>>,
        sources: Vec<Source>,
    ) -> Self {
        let mut maybe_tagged = RoaringBitmap::new();
        for tag in tags.iter().flatten() {
            maybe_tagged |= &*tag.members;
        }
        AccountGraph {
            followers,
            tags,
            sources,
            maybe_tagged: Arc::new(maybe_tagged),
        }
    }

    pub(crate) fn tag(&self, id: TagId) -> Option<&Tag> {
        self.tags.get(id.0 as usize).and_then(Option::as_ref)
    }

    pub(crate) fn live_tags(&self) -> impl Iterator<Item = (TagId, &Tag)> {
        self.tags
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (TagId(i as u32), t)))
    }

    /// Tags `user` carries in this account.
    pub(crate) fn tags_of(&self, user: UserId) -> impl Iterator<Item = TagId> + '_ {
        self.live_tags()
            .filter(move |(_, t)| t.members.contains(user.0))
            .map(|(id, _)| id)
    }

    /// Adds a follower (the caller checked it is new, and that a new source fits).
    pub(crate) fn add_follower(&mut self, user: UserId, source: Option<&str>) {
        Arc::make_mut(&mut self.followers).insert(user.0);
        if let Some(name) = source {
            let i = match self.sources.iter().position(|s| s.name == name) {
                Some(i) => i,
                None => {
                    self.sources.push(Source {
                        name: name.to_owned(),
                        current: Arc::default(),
                        total: 0,
                    });
                    self.sources.len() - 1
                }
            };
            let source = &mut self.sources[i];
            Arc::make_mut(&mut source.current).insert(user.0);
            source.total += 1;
        }
    }

    /// Removes `user` from the followers and from every tag and source; the reverse index
    /// is the caller's to update.
    pub(crate) fn remove_follower(&mut self, user: UserId) -> bool {
        if !self.followers.contains(user.0) {
            return false;
        }
        Arc::make_mut(&mut self.followers).remove(user.0);
        if self.maybe_tagged.contains(user.0) {
            Arc::make_mut(&mut self.maybe_tagged).remove(user.0);
            for tag in self.tags.iter_mut().flatten() {
                if tag.members.contains(user.0) {
                    Arc::make_mut(&mut tag.members).remove(user.0);
                }
            }
        }
        for source in &mut self.sources {
            if source.current.contains(user.0) {
                Arc::make_mut(&mut source.current).remove(user.0);
            }
        }
        true
    }

    /// Adds or removes `tag` for `users` (all followers); returns how many changed.
    pub(crate) fn retag(&mut self, tag: TagId, users: &[u32], add: bool) -> u64 {
        let Some(Some(tag)) = self.tags.get_mut(tag.0 as usize) else {
            return 0;
        };
        let members = Arc::make_mut(&mut tag.members);
        if !add {
            return users.iter().filter(|&&u| members.remove(u)).count() as u64;
        }
        let maybe_tagged = Arc::make_mut(&mut self.maybe_tagged);
        let mut added = 0;
        for &u in users {
            if members.insert(u) {
                maybe_tagged.insert(u);
                added += 1;
            }
        }
        added
    }

    /// Heap bytes held by this account's bitmaps (serialized size, a close lower bound of
    /// what roaring holds in memory).
    pub(crate) fn bitmap_bytes(&self) -> usize {
        self.followers.serialized_size()
            + self.maybe_tagged.serialized_size()
            + self
                .tags
                .iter()
                .flatten()
                .map(|t| t.members.serialized_size())
                .sum::<usize>()
            + self
                .sources
                .iter()
                .map(|s| s.current.serialized_size())
                .sum::<usize>()
    }
}

/// For every user, the accounts it follows, sharded by user id.
#[derive(Debug)]
pub(crate) struct ReverseIndex {
    /// Shard `i` holds users `u` with `u % shards == i`, at position `u / shards`.
    /// Writers: follow and unfollow (under the account shard lock, taken first).
    shards: Box<[RwLock<Arc<ReverseShard>>]>,
}

/// One shard of the reverse index: an 8-byte slot per user pointing into one byte arena.
///
/// A user's list lives in a region of the arena whose capacity is a power of two (at least
/// [`MIN_CAPACITY`] bytes). A list that outgrows its region moves to the arena's end and the
/// old region becomes garbage; when garbage passes half the arena, the arena is compacted.
/// A user following exactly one account keeps it in the slot itself and uses no arena.
#[derive(Debug, Default, Clone)]
pub(crate) struct ReverseShard {
    slots: Vec<Slot>,
    arena: Vec<u8>,
    garbage: usize,
}

/// Where a user's list is. `meta == 0`: empty. `meta == INLINE`: `offset` is the only
/// account id. Otherwise: bits 0..27 hold the list's length in bytes and bits 27..32 the
/// log2 of its region's capacity, which starts at `offset` in the arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    offset: u32,
    meta: u32,
}

const INLINE: u32 = u32::MAX;
const LEN_BITS: u32 = 27;
const LEN_MASK: u32 = (1 << LEN_BITS) - 1;
const MIN_CAPACITY: usize = 4;

impl Slot {
    fn region(self) -> Option<(usize, usize, usize)> {
        (self.meta != 0 && self.meta != INLINE).then(|| {
            (
                self.offset as usize,
                (self.meta & LEN_MASK) as usize,
                1usize << (self.meta >> LEN_BITS),
            )
        })
    }
}

impl ReverseShard {
    /// Inserts or removes `account` in the user's list in place: the varints around it are
    /// rewritten and the tail shifted within the region, with no allocation. `Some(changed)`
    /// if done; `None` when the list must be re-encoded instead (it is inline or empty, it
    /// would shrink to one account or outgrow its region).
    fn edit_in_place(self: &mut Arc<Self>, pos: usize, account: u32, insert: bool) -> Option<bool> {
        let slot = *self.slots.get(pos)?;
        let (offset, len, cap) = slot.region()?;
        // Walk the varints: the element before `account`'s place, and the one at it.
        let bytes = &self.arena[offset..offset + len];
        let mut prev: Option<u32> = None;
        let mut at: Option<(usize, usize, u32)> = None; // (start, end, value) of first >= account
        let mut after: Option<(usize, usize, u32)> = None; // the element after `at`
        let mut count = 0usize;
        let (mut value, mut shift, mut start, mut last) = (0u32, 0, 0usize, None::<u32>);
        for (i, &b) in bytes.iter().enumerate() {
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 != 0 {
                shift += 7;
                continue;
            }
            let v = last.map_or(value, |p| p + value + 1);
            count += 1;
            match at {
                None if v >= account => at = Some((start, i + 1, v)),
                None => prev = Some(v),
                Some(_) if after.is_none() => after = Some((start, i + 1, v)),
                Some(_) => {}
            }
            last = Some(v);
            (value, shift, start) = (0, 0, i + 1);
        }
        let gap_from = |p: Option<u32>, v: u32| p.map_or(v, |p| v - p - 1);
        let mut new = [0u8; 10];
        let (replace, n) = if insert {
            match at {
                Some((_, _, v)) if v == account => return Some(false),
                // Before `v`: `account`'s gap, then `v`'s gap from `account`.
                Some((s0, e0, v)) => {
                    let n1 = varint(gap_from(prev, account), &mut new);
                    let n2 = varint(v - account - 1, &mut new[n1..]);
                    ((s0, e0), n1 + n2)
                }
                None => ((len, len), varint(gap_from(prev, account), &mut new)),
            }
        } else {
            let Some((s0, e0, _)) = at.filter(|&(_, _, v)| v == account) else {
                return Some(false);
            };
            if count <= 2 {
                return None;
            }
            match after {
                // `after`'s gap now counts from `prev`.
                Some((_, e1, w)) => ((s0, e1), varint(gap_from(prev, w), &mut new)),
                None => ((s0, e0), 0),
            }
        };
        let (s0, e0) = replace;
        let new_len = len - (e0 - s0) + n;
        if new_len > cap {
            return None;
        }
        let shard = Arc::make_mut(self);
        let region = &mut shard.arena[offset..offset + cap];
        region.copy_within(e0..len, s0 + n);
        region[s0..s0 + n].copy_from_slice(&new[..n]);
        let log2 = shard.slots[pos].meta >> LEN_BITS;
        shard.slots[pos].meta = (log2 << LEN_BITS) | new_len as u32;
        Some(true)
    }

    fn list(&self, pos: usize) -> Vec<u32> {
        match self.slots.get(pos) {
            None => Vec::new(),
            Some(slot) if slot.meta == INLINE => vec![slot.offset],
            Some(slot) => match slot.region() {
                None => Vec::new(),
                Some((offset, len, _)) => decode(&self.arena[offset..offset + len]),
            },
        }
    }

    fn store(&mut self, pos: usize, values: &[u32]) {
        let Some(&slot) = self.slots.get(pos) else {
            return;
        };
        let old_region = slot.region();
        if let [only] = values {
            // Inline a single account; any region becomes garbage.
            if let Some((_, _, cap)) = old_region {
                self.garbage += cap;
            }
            self.slots[pos] = Slot {
                offset: *only,
                meta: INLINE,
            };
            return;
        }
        if values.is_empty() && old_region.is_none() {
            self.slots[pos] = Slot::default();
            return;
        }
        let bytes = encode(values);
        let len = bytes.len();
        let offset = match old_region {
            Some((offset, _, cap)) if len <= cap => offset,
            _ => {
                if let Some((_, _, cap)) = old_region {
                    self.garbage += cap;
                }
                let cap = len.next_power_of_two().max(MIN_CAPACITY);
                let offset = self.arena.len();
                self.arena.resize(offset + cap, 0);
                self.slots[pos].meta = (cap.trailing_zeros() << LEN_BITS) | 1;
                offset
            }
        };
        self.arena[offset..offset + len].copy_from_slice(&bytes);
        let log2 = self.slots[pos].meta >> LEN_BITS;
        self.slots[pos] = Slot {
            offset: offset as u32,
            meta: (log2 << LEN_BITS) | len as u32,
        };
        if self.garbage > (1 << 20) && self.garbage * 2 > self.arena.len() {
            self.compact();
        }
    }

    /// The shard as a snapshot stores it: slots packed as `offset << 32 | meta` (plain
    /// words, which the archive copies in one block) and a compacted arena.
    pub(crate) fn to_parts(&self) -> (Vec<u64>, Vec<u8>) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        let slots = self
            .slots
            .iter()
            .map(|slot| {
                let mut slot = *slot;
                if let Some((offset, _, cap)) = slot.region() {
                    slot.offset = arena.len() as u32;
                    arena.extend_from_slice(&self.arena[offset..offset + cap]);
                }
                u64::from(slot.offset) << 32 | u64::from(slot.meta)
            })
            .collect();
        (slots, arena)
    }

    pub(crate) fn from_parts(slots: impl Iterator<Item = u64>, arena: Vec<u8>) -> Self {
        ReverseShard {
            slots: slots
                .map(|packed| Slot {
                    offset: (packed >> 32) as u32,
                    meta: packed as u32,
                })
                .collect(),
            arena,
            garbage: 0,
        }
    }

    /// Checks that every region lies inside the arena (snapshot contents are data).
    fn check(&self) -> Result<(), String> {
        for slot in &self.slots {
            if let Some((offset, len, cap)) = slot.region()
                && (len > cap
                    || offset
                        .checked_add(cap)
                        .is_none_or(|end| end > self.arena.len()))
            {
                return Err("a user list lies outside its shard's arena".into());
            }
        }
        Ok(())
    }

    /// Copies every live region into a fresh arena, dropping the garbage.
    fn compact(&mut self) {
        let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
        for slot in &mut self.slots {
            if let Some((offset, _, cap)) = slot.region() {
                slot.offset = arena.len() as u32;
                arena.extend_from_slice(&self.arena[offset..offset + cap]);
            }
        }
        self.arena = arena;
        self.garbage = 0;
    }
}

impl ReverseIndex {
    pub(crate) fn new(shards: usize) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| RwLock::new(Arc::new(ReverseShard::default())))
            .collect();
        ReverseIndex { shards }
    }

    fn locate(&self, user: UserId) -> (usize, usize) {
        let n = self.shards.len();
        (user.0 as usize % n, user.0 as usize / n)
    }

    /// Makes room for users `0..count`.
    pub(crate) fn grow(&self, count: u64) {
        let n = self.shards.len() as u64;
        for (i, shard) in self.shards.iter().enumerate() {
            // Users i, i + n, i + 2n, ... below count.
            let want = (count + n - 1 - i as u64) / n;
            let mut shard = shard.write();
            if (shard.slots.len() as u64) < want {
                Arc::make_mut(&mut shard)
                    .slots
                    .resize(want as usize, Slot::default());
            }
        }
    }

    pub(crate) fn insert(&self, user: UserId, account: AccountId) {
        let (s, pos) = self.locate(user);
        let mut shard = self.shards[s].write();
        if shard.edit_in_place(pos, account.0, true).is_some() {
            return;
        }
        let mut values = shard.list(pos);
        if let Err(at) = values.binary_search(&account.0) {
            values.insert(at, account.0);
            Arc::make_mut(&mut shard).store(pos, &values);
        }
    }

    pub(crate) fn remove(&self, user: UserId, account: AccountId) {
        let (s, pos) = self.locate(user);
        let mut shard = self.shards[s].write();
        if shard.edit_in_place(pos, account.0, false).is_some() {
            return;
        }
        let mut values = shard.list(pos);
        if let Ok(at) = values.binary_search(&account.0) {
            values.remove(at);
            Arc::make_mut(&mut shard).store(pos, &values);
        }
    }

    /// The accounts `user` follows, in id order.
    pub(crate) fn accounts_of(&self, user: UserId) -> Vec<AccountId> {
        let (s, pos) = self.locate(user);
        self.shards[s]
            .read()
            .list(pos)
            .into_iter()
            .map(AccountId)
            .collect()
    }

    /// The shards as they are now, shared (copy-on-write): for snapshots.
    pub(crate) fn capture(&self) -> Vec<Arc<ReverseShard>> {
        self.shards.iter().map(|s| Arc::clone(&s.read())).collect()
    }

    /// Replaces the (empty) shards with snapshot contents for users `0..users`. A snapshot
    /// written with another shard count (the `shards` setting changed since) is moved list
    /// by list into this index's layout.
    pub(crate) fn restore(&self, shards: Vec<ReverseShard>, users: u64) -> Result<(), String> {
        for theirs in &shards {
            theirs.check()?;
        }
        if shards.len() == self.shards.len() {
            for (mine, theirs) in self.shards.iter().zip(shards) {
                *mine.write() = Arc::new(theirs);
            }
            return Ok(());
        }
        self.grow(users);
        let old = shards.len();
        for (i, theirs) in shards.iter().enumerate() {
            for pos in 0..theirs.slots.len() {
                let user = (pos * old + i) as u64;
                let list = theirs.list(pos);
                if list.is_empty() {
                    continue;
                }
                if user >= users {
                    return Err(format!(
                        "user {user} has follows but is past the user count"
                    ));
                }
                let (s, p) = self.locate(UserId(user as u32));
                Arc::make_mut(&mut self.shards[s].write()).store(p, &list);
            }
        }
        Ok(())
    }

    /// Heap bytes held: the per-user slots plus the arenas (garbage included).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.read();
                s.slots.capacity() * size_of::<Slot>() + s.arena.capacity()
            })
            .sum()
    }
}

/// Decodes a sorted list of ids stored as LEB128 varints of the gaps between them (the
/// first value as it is, later ones as the gap minus one, since ids are distinct).
fn decode(bytes: &[u8]) -> Vec<u32> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut value: u32 = 0;
    let mut shift = 0;
    for &b in bytes {
        value |= u32::from(b & 0x7f) << shift;
        if b & 0x80 != 0 {
            shift += 7;
            continue;
        }
        let id = match out.last() {
            None => value,
            Some(prev) => prev + value + 1,
        };
        out.push(id);
        value = 0;
        shift = 0;
    }
    out
}

/// Writes `v` as a LEB128 varint at the start of `out`; returns its length (1 to 5).
fn varint(mut v: u32, out: &mut [u8]) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v & 0x7f) as u8 | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

fn encode(values: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 2);
    let mut prev: Option<u32> = None;
    for &v in values {
        let mut gap = prev.map_or(v, |p| v - p - 1);
        prev = Some(v);
        while gap >= 0x80 {
            out.push((gap & 0x7f) as u8 | 0x80);
            gap >>= 7;
        }
        out.push(gap as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tag(name: &str) -> Option<Tag> {
        Some(Tag {
            name: name.into(),
            members: Arc::default(),
        })
    }

    proptest! {
        /// Tags and unfollows against a model that searches every tag: `maybe_tagged` may
        /// only skip work, never a member. Most cases rebuild the graph from its parts at a
        /// random point, as a snapshot restore does, so the derived set is rebuilt.
        #[test]
        fn unfollow_leaves_every_tag_whatever_the_tag_history(
            ops in proptest::collection::vec((0u8..4, 0u32..3, 0u32..40), 0..300),
            restart_at in 0usize..400,
        ) {
            let mut graph = AccountGraph {
                tags: vec![tag("a"), tag("b"), tag("c")],
                ..AccountGraph::default()
            };
            let mut model: Vec<std::collections::BTreeSet<u32>> = vec![Default::default(); 3];
            let mut followers = std::collections::BTreeSet::new();
            for (i, &(op, t, user)) in ops.iter().enumerate() {
                if i == restart_at {
                    graph = AccountGraph::from_parts(
                        Arc::clone(&graph.followers),
                        graph.tags.clone(),
                        graph.sources.clone(),
                    );
                }
                match op {
                    // (The graph's caller checks a follow is new.)
                    0 if followers.insert(user) => graph.add_follower(UserId(user), None),
                    1 if followers.contains(&user) => {
                        graph.retag(TagId(t), &[user], true);
                        model[t as usize].insert(user);
                    }
                    2 => {
                        graph.retag(TagId(t), &[user], false);
                        model[t as usize].remove(&user);
                    }
                    3 => {
                        let was = followers.remove(&user);
                        prop_assert_eq!(graph.remove_follower(UserId(user)), was);
                        for m in &mut model {
                            m.remove(&user);
                        }
                    }
                    _ => {}
                }
                for (t, m) in model.iter().enumerate() {
                    let members: Vec<u32> = graph.tags[t].as_ref().unwrap().members.iter().collect();
                    prop_assert_eq!(members, m.iter().copied().collect::<Vec<_>>());
                }
            }
        }
    }

    proptest! {
        /// The reverse index against a `BTreeSet` per user, through inlining, growth,
        /// shrinking and compaction.
        #[test]
        fn reverse_index_behaves_like_sets(ops in proptest::collection::vec(
            (any::<bool>(), 0u32..20, prop_oneof![0u32..300, any::<u32>()]), 0..400)
        ) {
            let index = ReverseIndex::new(3);
            index.grow(20);
            let mut model = vec![std::collections::BTreeSet::new(); 20];
            for (insert, user, account) in ops {
                let (u, a) = (UserId(user), AccountId(account));
                if insert {
                    index.insert(u, a);
                    model[user as usize].insert(account);
                } else {
                    index.remove(u, a);
                    model[user as usize].remove(&account);
                }
                let got: Vec<u32> = index.accounts_of(u).into_iter().map(|a| a.0).collect();
                prop_assert_eq!(got, model[user as usize].iter().copied().collect::<Vec<_>>());
            }
            for shard in index.shards.iter() {
                let mut shard = shard.write();
                Arc::make_mut(&mut shard).compact();
            }
            for (user, set) in model.iter().enumerate() {
                let got: Vec<u32> = index.accounts_of(UserId(user as u32)).into_iter().map(|a| a.0).collect();
                prop_assert_eq!(got, set.iter().copied().collect::<Vec<_>>());
            }
            // Through a snapshot's parts, into the same shard count and into others.
            for shards in [3, 1, 5, 64] {
                let parts: Vec<ReverseShard> = index
                    .capture()
                    .iter()
                    .map(|s| {
                        let (slots, arena) = s.to_parts();
                        ReverseShard::from_parts(slots.into_iter(), arena)
                    })
                    .collect();
                let restored = ReverseIndex::new(shards);
                restored.restore(parts, 20).map_err(TestCaseError::fail)?;
                for (user, set) in model.iter().enumerate() {
                    let got: Vec<u32> = restored.accounts_of(UserId(user as u32)).into_iter().map(|a| a.0).collect();
                    prop_assert_eq!(got, set.iter().copied().collect::<Vec<_>>(), "{} shards", shards);
                }
            }
        }
    }
}
