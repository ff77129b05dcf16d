//! The subscription graph: who follows whom, tags, and where follows came from.
//!
//! Two indexes hold every follow edge:
//! - forward, per account, a [`RoaringBitmap`] of follower ids (in [`AccountGraph`]), which
//!   is what fan-out iterates and what audiences are computed from with set algebra;
//! - reverse, per user, the sorted list of followed account ids (in [`ReverseIndex`]),
//!   delta- and varint-encoded into a byte arena per shard: an 8-byte slot per user plus
//!   about two bytes per followed account, with no allocation per user. Each shard also
//!   remembers its users' recent unfollows, for the inbox's lag reports.
//!
//! **Invariant:** an edge is in the forward index (its bitmap with the account's unapplied
//! changes applied, see [`AccountGraph`]) iff it is in the reverse index, whenever no follow
//! or unfollow is in progress: both are changed under the account's shard write lock, the
//! reverse one under its user shard lock taken second (lock order: account shard, then user
//! shard; never the other way round). So the reverse index, under the account's lock, says
//! whether a follow or an unfollow is valid.

use std::collections::TryReserveError;
use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::RwLock;
use roaring::RoaringBitmap;

use crate::domain::follower_order::Watch;
use crate::ids::{AccountId, TagId, UserId};
use crate::machinery::prefetch::prefetch;

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
///
/// ## Pending changes
/// A follow or unfollow does not search the bitmaps. It appends the user to `unapplied`, and
/// the log is applied, in order, when it is full or before anyone reads a member set. At
/// scale an account's followers span up to 153 containers (ten million users, 65,536 per
/// container), and one lookup is a binary search over them: seven or eight cache misses,
/// one after another, and as many again in `maybe_tagged`. Applied as a batch sorted by
/// user, consecutive searches share most of their lines. Whether an edge exists is the
/// reverse index's to say (one short list per user), so the engine validates a follow or an
/// unfollow there and never needs the bitmap on that path.
///
/// Leaving an account also means leaving its tags and sources. That cleanup waits longer
/// still: applying the log only collects the users who left (`unfollowed`), and they are taken
/// out of the tags and sources with set operations, a walk over the containers for all of
/// them at once, when a tag or source is next read (or `unfollowed` grows past its limit). A
/// broadcast to all followers reads no tag, so it never waits for that.
///
/// Member sets are read only through [`AccountGraph::settled`], which applies both, or
/// [`AccountGraph::current_followers`], which applies the log; the types make a stale read
/// impossible to write. What does not depend on the members (tag names, counts, whether one
/// user follows) is exact without either.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccountGraph {
    followers: Arc<RoaringBitmap>,
    /// Indexed by `TagId`; `None` marks a deleted tag (ids are never reused, so an old id
    /// cannot silently name a new tag).
    tags: Vec<Option<Tag>>,
    sources: Vec<Source>,
    /// A superset of the users in any tag: whoever a tag gains is added here, and only
    /// unfollowing takes a user out. Settling an unfollow looks here first and searches the
    /// tags only on a hit, which saves a bitmap search per tag for the untagged majority.
    /// Derived from `tags`, never stored.
    maybe_tagged: Arc<RoaringBitmap>,
    /// Follows and unfollows not yet applied to the bitmaps, oldest first, each packed as
    /// `user << 32 | position << 1 | follows`: sorting the words orders them by user and,
    /// for one user, in log order. Each one changed the edge (the caller checked), so a
    /// follow means "was not following" and an unfollow "was following".
    unapplied: Vec<u64>,
    /// Users who unfollowed since the tags and sources were last cleaned (copies and users
    /// who followed again possible): those sets are exact except for these users.
    unfollowed: Vec<u32>,
    /// Length at which `unapplied` is applied: [`UNAPPLIED_PER_FOLLOWERS`] of the followers,
    /// within [`UNAPPLIED_MIN`]..=[`UNAPPLIED_MAX`] (set when settling; 0 until the first).
    unapplied_cap: u32,
    /// Users whose edge changed since the account's follower-order cache last caught up
    /// (see `follower_order.rs`): `Some` only while the account has such a cache or one is
    /// being built. Every change to the followers passes through [`push`](Self::push),
    /// [`follow`](Self::follow) or [`follow_many`](Self::follow_many), which note it here.
    /// In memory only, never stored.
    watch: Option<Watch>,
}

/// Changes an account's graph keeps unapplied at most (see [`AccountGraph`]). Larger batches
/// share more of their searches: churn alone on the default `loadgen mixed` graph ran at
/// 0.84, 0.95 and 1.04 M ops/s with 64, 256 and 1,024 (a679d76, this constant changed by
/// hand, the cap not yet scaled to the followers). `is_follower` scans the log, 8 KiB at
/// most.
const UNAPPLIED_MAX: usize = 1_024;
/// Pending changes allowed however few followers an account has.
const UNAPPLIED_MIN: usize = 64;
/// Followers per allowed unapplied change: the log's memory stays below an eighth of a byte
/// per edge (8 bytes per change), plus 512 bytes per account.
const UNAPPLIED_PER_FOLLOWERS: u64 = 64;
/// Followers per user allowed in `unfollowed` before the tags are cleaned without a read: at most
/// an eighth of a byte per edge (4 bytes per user), plus 256 bytes per account.
const UNFOLLOWED_PER_FOLLOWERS: u64 = 32;
/// Users allowed in `unfollowed` however few followers an account has.
const UNFOLLOWED_MIN: usize = 64;

/// An account graph's parts as a snapshot stores them (see [`AccountGraph::stored`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored<'a> {
    pub(crate) followers: &'a RoaringBitmap,
    pub(crate) tags: &'a [Option<Tag>],
    pub(crate) sources: &'a [Source],
    pub(crate) unapplied: &'a [u64],
    pub(crate) unfollowed: &'a [u32],
}

/// An account graph with no unapplied changes: the only way to read member sets.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settled<'a>(&'a AccountGraph);

impl<'a> Settled<'a> {
    pub(crate) fn followers(self) -> &'a Arc<RoaringBitmap> {
        &self.0.followers
    }

    pub(crate) fn tag(self, id: TagId) -> Option<&'a Tag> {
        self.0.tags.get(id.0 as usize).and_then(Option::as_ref)
    }

    pub(crate) fn live_tags(self) -> impl Iterator<Item = (TagId, &'a Tag)> {
        self.0.live_tags()
    }

    /// Tags `user` carries in this account.
    pub(crate) fn tags_of(self, user: UserId) -> impl Iterator<Item = TagId> + 'a {
        self.live_tags()
            .filter(move |(_, t)| t.members.contains(user.0))
            .map(|(id, _)| id)
    }

    pub(crate) fn sources(self) -> &'a [Source] {
        &self.0.sources
    }
}

impl AccountGraph {
    /// A graph from its stored parts (a snapshot, see [`stored`](Self::stored)); derives
    /// what is not stored.
    pub(crate) fn from_parts(
        followers: Arc<RoaringBitmap>,
        tags: Vec<Option<Tag>>,
        sources: Vec<Source>,
        unapplied: Vec<u64>,
        unfollowed: Vec<u32>,
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
            unapplied,
            unfollowed,
            unapplied_cap: 0,
            watch: None,
        }
    }

    /// The graph as a snapshot stores it: the sets as they are, with the changes not yet
    /// applied to them, so that capturing a snapshot applies nothing (it holds every
    /// change back meanwhile). Not a way to read members: see [`settled`](Self::settled).
    pub(crate) fn stored(&self) -> Stored<'_> {
        Stored {
            followers: &self.followers,
            tags: &self.tags,
            sources: &self.sources,
            unapplied: &self.unapplied,
            unfollowed: &self.unfollowed,
        }
    }

    /// Users named by the changes not yet applied (to check a snapshot against the user
    /// count).
    pub(crate) fn unapplied_users(&self) -> impl Iterator<Item = u32> + '_ {
        (self.unapplied.iter().map(|&c| (c >> 32) as u32)).chain(self.unfollowed.iter().copied())
    }

    /// Applies the unapplied changes and cleans the tags and sources; the graph can then be
    /// read.
    pub(crate) fn settled(&mut self) -> Settled<'_> {
        self.settle();
        self.clean_tags();
        Settled(self)
    }

    /// The followers, exact: applies the unapplied changes, not the tag cleanup.
    pub(crate) fn current_followers(&mut self) -> &Arc<RoaringBitmap> {
        self.settle();
        &self.followers
    }

    // ----- exact without settling ---------------------------------------------------------

    pub(crate) fn is_follower(&self, user: u32) -> bool {
        match self
            .unapplied
            .iter()
            .rev()
            .find(|&&c| (c >> 32) as u32 == user)
        {
            Some(&change) => change & 1 == 1,
            None => self.followers.contains(user),
        }
    }

    /// Starts loading where the next unapplied change goes (see [`prefetch`]).
    pub(crate) fn prefetch_unapplied(&self) {
        prefetch(self.unapplied.as_ptr().wrapping_add(self.unapplied.len()));
    }

    pub(crate) fn follower_count(&self) -> u64 {
        let follows = self.unapplied.iter().filter(|&&c| c & 1 == 1).count() as u64;
        let unfollows = self.unapplied.len() as u64 - follows;
        self.followers.len() + follows - unfollows
    }

    fn live_tags(&self) -> impl Iterator<Item = (TagId, &Tag)> {
        self.tags
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.as_ref().map(|t| (TagId(i as u32), t)))
    }

    /// Live tags by id and name (their members need [`settled`](Self::settled)).
    pub(crate) fn tag_names(&self) -> impl Iterator<Item = (TagId, &str)> {
        self.live_tags().map(|(id, t)| (id, t.name.as_str()))
    }

    pub(crate) fn has_tag(&self, id: TagId) -> bool {
        matches!(self.tags.get(id.0 as usize), Some(Some(_)))
    }

    /// The id the next tag gets: tag ids are never reused.
    pub(crate) fn next_tag_id(&self) -> usize {
        self.tags.len()
    }

    pub(crate) fn source_count(&self) -> usize {
        self.sources.len()
    }

    pub(crate) fn has_source(&self, name: &str) -> bool {
        self.sources.iter().any(|s| s.name == name)
    }

    /// Starts noting which users' edges change, afresh (see [`Watch`]).
    pub(crate) fn start_watch(&mut self, cap: usize) {
        self.watch = Some(Watch::new(cap));
    }

    /// Stops noting changes.
    pub(crate) fn stop_watch(&mut self) {
        self.watch = None;
    }

    /// The changes noted since [`start_watch`](Self::start_watch) (its reader clears
    /// them); `None` if not watching.
    pub(crate) fn watch_mut(&mut self) -> Option<&mut Watch> {
        self.watch.as_mut()
    }

    // ----- changes ------------------------------------------------------------------------

    /// Adds a follower (the caller checked it is new, and that a new source fits).
    pub(crate) fn follow(&mut self, user: UserId, source: Option<&str>) {
        let Some(name) = source else {
            self.push(user.0, true);
            return;
        };
        // Rare: applied at once, after whatever is unapplied, so that the source's set stays
        // in order with the unfollows before it.
        self.settled();
        if let Some(watch) = &mut self.watch {
            watch.note(user.0);
        }
        Arc::make_mut(&mut self.followers).insert(user.0);
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

    /// Removes a follower (the caller checked it follows); settling takes it out of every
    /// tag and source too. The reverse index is the caller's to update.
    pub(crate) fn unfollow(&mut self, user: UserId) {
        self.push(user.0, false);
    }

    /// Adds followers in bulk (ascending, none of them following yet).
    pub(crate) fn follow_many(&mut self, new: &[u32]) {
        self.settle();
        if let Some(watch) = &mut self.watch {
            watch.note_many(new);
        }
        if let Ok(added) = RoaringBitmap::from_sorted_iter(new.iter().copied()) {
            *Arc::make_mut(&mut self.followers) |= added;
        }
    }

    fn push(&mut self, user: u32, follows: bool) {
        if let Some(watch) = &mut self.watch {
            watch.note(user);
        }
        let position = self.unapplied.len() as u64;
        self.unapplied
            .push(u64::from(user) << 32 | position << 1 | u64::from(follows));
        if self.unapplied.len() >= (self.unapplied_cap as usize).max(UNAPPLIED_MIN) {
            self.settle();
        }
    }

    /// Applies the unapplied follows and unfollows, sorted by user (each user's changes in
    /// log order). A user who unfollowed at any point in the log goes to `unfollowed`, to leave
    /// its tags and sources: a later follow in the same log is a new follow, with none.
    fn settle(&mut self) {
        if self.unapplied.is_empty() {
            return;
        }
        let mut log = std::mem::take(&mut self.unapplied);
        log.sort_unstable();
        let followers = Arc::make_mut(&mut self.followers);
        for changes in log.chunk_by(|a, b| a >> 32 == b >> 32) {
            let user = (changes[0] >> 32) as u32;
            if changes.iter().any(|&c| c & 1 == 0) {
                self.unfollowed.push(user);
            }
            if changes[changes.len() - 1] & 1 == 1 {
                followers.insert(user);
            } else {
                followers.remove(user);
            }
        }
        log.clear();
        self.unapplied = log;
        let followers = self.followers.len();
        let cap = (followers / UNAPPLIED_PER_FOLLOWERS) as usize;
        self.unapplied_cap = cap.clamp(UNAPPLIED_MIN, UNAPPLIED_MAX) as u32;
        // A log that grew for a larger following gives the memory back.
        if self.unapplied.capacity() > 2 * self.unapplied_cap as usize {
            self.unapplied.shrink_to(self.unapplied_cap as usize);
        }
        if self.unfollowed.len()
            > ((followers / UNFOLLOWED_PER_FOLLOWERS) as usize).max(UNFOLLOWED_MIN)
        {
            self.clean_tags();
        }
    }

    /// Takes the users in `unfollowed` out of every tag and source, with one set operation per
    /// set they touch.
    fn clean_tags(&mut self) {
        if self.unfollowed.is_empty() {
            return;
        }
        let mut unfollowed = std::mem::take(&mut self.unfollowed);
        unfollowed.sort_unstable();
        unfollowed.dedup();
        let gone = RoaringBitmap::from_sorted_iter(unfollowed.iter().copied()).unwrap_or_default();
        if !self.maybe_tagged.is_disjoint(&gone) {
            let untag = &gone & &*self.maybe_tagged;
            *Arc::make_mut(&mut self.maybe_tagged) -= &untag;
            for tag in self.tags.iter_mut().flatten() {
                if !tag.members.is_disjoint(&untag) {
                    *Arc::make_mut(&mut tag.members) -= &untag;
                }
            }
        }
        for source in &mut self.sources {
            if !source.current.is_disjoint(&gone) {
                *Arc::make_mut(&mut source.current) -= &gone;
            }
        }
        unfollowed.clear();
        self.unfollowed = unfollowed;
    }

    /// Creates a tag with the next id; returns it.
    pub(crate) fn create_tag(&mut self, name: String) -> TagId {
        self.tags.push(Some(Tag {
            name,
            members: Arc::default(),
        }));
        TagId(self.tags.len() as u32 - 1)
    }

    /// Renames a tag; `false` if there is no such tag.
    pub(crate) fn rename_tag(&mut self, id: TagId, name: String) -> bool {
        match self.tags.get_mut(id.0 as usize) {
            Some(Some(tag)) => {
                tag.name = name;
                true
            }
            _ => false,
        }
    }

    /// Deletes a tag; `false` if there is no such tag.
    pub(crate) fn delete_tag(&mut self, id: TagId) -> bool {
        match self.tags.get_mut(id.0 as usize) {
            Some(slot @ Some(_)) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }

    /// Adds or removes `tag` for `users` (all followers); returns how many changed.
    pub(crate) fn retag(&mut self, tag: TagId, users: &[u32], add: bool) -> u64 {
        // Cleaned first: a user who left and came back must not lose a tag given now.
        self.settled();
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
    /// what roaring holds in memory) and its unapplied log.
    pub(crate) fn bitmap_bytes(&self) -> usize {
        self.followers.serialized_size()
            + self.maybe_tagged.serialized_size()
            + self.unapplied.capacity() * size_of::<u64>()
            + self.unfollowed.capacity() * size_of::<u32>()
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

/// Why a stored reverse index cannot be restored (snapshot contents are data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ReverseRestoreError {
    #[error("a user list lies outside its shard's arena")]
    ListOutsideArena,
    #[error("a recorded unfollow names a user outside its shard")]
    UnfollowOutsideShard,
    #[error("user {user} has follows or unfollows but is past the user count")]
    PastUserCount { user: u64 },
}

/// For every user, the accounts it follows, sharded by user id.
#[derive(Debug)]
pub(crate) struct ReverseIndex {
    /// Shard `i` holds users `u` with `u % shards == i`, at position `u / shards`.
    /// Writers: follow and unfollow (under the account shard lock, taken first).
    shards: Box<[RwLock<Arc<ReverseShard>>]>,
    /// Whether shards keep their recent unfollows (only the embedded inbox reads them).
    keep_unfollows: bool,
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
    /// Recent unfollows of the shard's users, oldest first: (position, account). At most
    /// [`UNFOLLOWS_PER_USER`] per user of the shard on average (at least
    /// [`UNFOLLOWS_MIN`]); past that the oldest go, copies included: unlike the per-block
    /// records before them, which dropped copies first, one user who unfollows and follows
    /// again very often can push the shard's older unfollows out. Finding copies in a ring this
    /// size, under the lock every unfollow of the shard takes, costs more than it saves.
    ///
    /// Why here: a fetch that finds entries evicted unread must name the accounts they came
    /// from, and an account the user no longer follows is in no list. The unfollow already
    /// holds this shard's lock, and one shard's tail is one cache line, so recording it costs
    /// next to nothing; kept per inbox block it cost a lock and two cache misses per
    /// unfollow. A lagging fetch scans the shard's unfollows instead.
    unfollows: VecDeque<(u32, u32)>,
}

/// Unfollows a reverse shard keeps per user, on average.
const UNFOLLOWS_PER_USER: usize = 4;
/// Unfollows a reverse shard keeps however few users it has.
const UNFOLLOWS_MIN: usize = 64;

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

/// Where an account is, or would go, in a user's list in the arena (see
/// `ReverseShard::find`): byte ranges are relative to the list's start.
#[derive(Debug, Clone, Copy)]
struct Place {
    /// The list's length in bytes and its region's capacity.
    len: usize,
    cap: usize,
    /// Accounts in the list.
    count: usize,
    /// The last account before the place.
    prev: Option<u32>,
    /// (start, end, account) of the first account at or after it, and of the one after that.
    at: Option<(usize, usize, u32)>,
    after: Option<(usize, usize, u32)>,
}

impl ReverseShard {
    /// Where `account` is, or would go, in the user's list, and whether the list holds it:
    /// one walk of its varints. No place for a list that is inline or empty.
    fn find(&self, pos: usize, account: u32) -> (bool, Option<Place>) {
        let Some(&slot) = self.slots.get(pos) else {
            return (false, None);
        };
        if slot.meta == INLINE {
            return (slot.offset == account, None);
        }
        let Some((offset, len, cap)) = slot.region() else {
            return (false, None);
        };
        let mut place = Place {
            len,
            cap,
            count: 0,
            prev: None,
            at: None,
            after: None,
        };
        for (start, end, id) in ids(&self.arena[offset..offset + len]) {
            place.count += 1;
            match place.at {
                None if id >= account => place.at = Some((start, end, id)),
                None => place.prev = Some(id),
                Some(_) if place.after.is_none() => place.after = Some((start, end, id)),
                Some(_) => {}
            }
        }
        (
            place.at.is_some_and(|(_, _, id)| id == account),
            Some(place),
        )
    }

    /// Inserts or removes `account` at its `place` in the user's list (found by
    /// [`find`](Self::find) under the same lock): the varints around it are rewritten and
    /// the tail shifted within the region, with no allocation. `Some(changed)` if done;
    /// `None` when the list must be re-encoded instead (it would shrink to one account or
    /// outgrow its region).
    fn edit_in_place(
        self: &mut Arc<Self>,
        pos: usize,
        account: u32,
        insert: bool,
        place: &Place,
    ) -> Option<bool> {
        let &Place {
            len,
            cap,
            count,
            prev,
            at,
            after,
        } = place;
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
        let offset = shard.slots[pos].offset as usize;
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

    fn record_unfollow(self: &mut Arc<Self>, pos: usize, account: u32) {
        let cap = (self.slots.len() * UNFOLLOWS_PER_USER).max(UNFOLLOWS_MIN);
        let shard = Arc::make_mut(self);
        while shard.unfollows.len() >= cap {
            shard.unfollows.pop_front();
        }
        shard.unfollows.push_back((pos as u32, account));
    }

    /// Recent unfollows, oldest first, as (position, account).
    pub(crate) fn recent_unfollows(&self) -> impl ExactSizeIterator<Item = (u32, u32)> + '_ {
        self.unfollows.iter().copied()
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

    pub(crate) fn from_parts(
        slots: impl Iterator<Item = u64>,
        arena: Vec<u8>,
        unfollows: impl Iterator<Item = (u32, u32)>,
    ) -> Self {
        ReverseShard {
            slots: slots
                .map(|packed| Slot {
                    offset: (packed >> 32) as u32,
                    meta: packed as u32,
                })
                .collect(),
            arena,
            garbage: 0,
            unfollows: unfollows.collect(),
        }
    }

    /// Checks that every region lies inside the arena (snapshot contents are data).
    fn check(&self) -> Result<(), ReverseRestoreError> {
        for slot in &self.slots {
            if let Some((offset, len, cap)) = slot.region()
                && (len > cap
                    || offset
                        .checked_add(cap)
                        .is_none_or(|end| end > self.arena.len()))
            {
                return Err(ReverseRestoreError::ListOutsideArena);
            }
        }
        if self
            .unfollows
            .iter()
            .any(|&(pos, _)| pos as usize >= self.slots.len())
        {
            return Err(ReverseRestoreError::UnfollowOutsideShard);
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
    pub(crate) fn new(shards: usize, keep_unfollows: bool) -> Self {
        let shards = (0..shards.max(1))
            .map(|_| RwLock::new(Arc::new(ReverseShard::default())))
            .collect();
        ReverseIndex {
            shards,
            keep_unfollows,
        }
    }

    fn locate(&self, user: UserId) -> (usize, usize) {
        let n = self.shards.len();
        (user.0 as usize % n, user.0 as usize / n)
    }

    /// Reserves room for users `0..count` without adding them: after this, `grow(count)`
    /// allocates nothing (unless a snapshot holds a shard, which is then copied).
    /// Fails if memory runs out, after giving back what it reserved.
    pub(crate) fn try_reserve(&self, count: u64) -> Result<(), TryReserveError> {
        let n = self.shards.len() as u64;
        for (i, shard) in self.shards.iter().enumerate() {
            let want = (count + n - 1 - i as u64) / n;
            let mut guard = shard.write();
            let len = guard.slots.len() as u64;
            if len < want
                && let Err(e) = Arc::make_mut(&mut guard)
                    .slots
                    .try_reserve_exact((want - len) as usize)
            {
                drop(guard);
                self.release_reserved();
                return Err(e);
            }
        }
        Ok(())
    }

    /// Gives back room reserved by [`try_reserve`](Self::try_reserve) for users never added.
    pub(crate) fn release_reserved(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.write();
            if shard.slots.capacity() > shard.slots.len() {
                let slots = &mut Arc::make_mut(&mut shard).slots;
                slots.shrink_to(slots.len());
            }
        }
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
        let (_, place) = shard.find(pos, account.0);
        Self::insert_at(&mut shard, pos, account, place);
    }

    fn insert_at(
        shard: &mut Arc<ReverseShard>,
        pos: usize,
        account: AccountId,
        place: Option<Place>,
    ) {
        if let Some(place) = place
            && shard.edit_in_place(pos, account.0, true, &place).is_some()
        {
            return;
        }
        let mut values = shard.list(pos);
        if let Err(at) = values.binary_search(&account.0) {
            values.insert(at, account.0);
            Arc::make_mut(shard).store(pos, &values);
        }
    }

    /// Follows (`follow`) or unfollows if `check`, called under the user's shard lock with
    /// whether the user follows `account` now, allows. An unfollow is recorded in the shard's recent unfollows.
    /// One lock and one walk of the user's list both decide and change.
    pub(crate) fn change<E>(
        &self,
        user: UserId,
        account: AccountId,
        follow: bool,
        check: impl FnOnce(bool) -> Result<(), E>,
    ) -> Result<(), E> {
        let (s, pos) = self.locate(user);
        let mut shard = self.shards[s].write();
        let (following, place) = shard.find(pos, account.0);
        check(following)?;
        if follow {
            Self::insert_at(&mut shard, pos, account, place);
        } else {
            Self::remove_at(&mut shard, pos, account, place);
            if self.keep_unfollows {
                shard.record_unfollow(pos, account.0);
            }
        }
        Ok(())
    }

    /// Starts loading `user`'s slot (see [`prefetch`]): the first of a batch's two steps.
    pub(crate) fn prefetch_slot(&self, user: UserId) {
        let (s, pos) = self.locate(user);
        prefetch(self.shards[s].read().slots.as_ptr().wrapping_add(pos));
    }

    /// Starts loading the start of `user`'s list, once its slot has arrived: the second step.
    pub(crate) fn prefetch_list(&self, user: UserId) {
        let (s, pos) = self.locate(user);
        let shard = self.shards[s].read();
        if let Some((offset, _, _)) = shard.slots.get(pos).and_then(|slot| slot.region()) {
            prefetch(shard.arena.as_ptr().wrapping_add(offset));
        }
    }

    /// Removes an edge (for a terminated account: not recorded as an unfollow).
    pub(crate) fn remove(&self, user: UserId, account: AccountId) {
        let (s, pos) = self.locate(user);
        let mut shard = self.shards[s].write();
        let (_, place) = shard.find(pos, account.0);
        Self::remove_at(&mut shard, pos, account, place);
    }

    fn remove_at(
        shard: &mut Arc<ReverseShard>,
        pos: usize,
        account: AccountId,
        place: Option<Place>,
    ) {
        if let Some(place) = place
            && shard.edit_in_place(pos, account.0, false, &place).is_some()
        {
            return;
        }
        let mut values = shard.list(pos);
        if let Ok(at) = values.binary_search(&account.0) {
            values.remove(at);
            Arc::make_mut(shard).store(pos, &values);
        }
    }

    /// Accounts `user` unfollowed that its shard still remembers, oldest first (copies
    /// possible). Scans the shard's recent unfollows: for lagging fetches, not for every read.
    pub(crate) fn recent_unfollows_of(&self, user: UserId) -> Vec<AccountId> {
        let (s, pos) = self.locate(user);
        self.shards[s]
            .read()
            .unfollows
            .iter()
            .filter(|d| d.0 as usize == pos)
            .map(|d| AccountId(d.1))
            .collect()
    }

    #[cfg(test)]
    fn contains(&self, user: UserId, account: AccountId) -> bool {
        let (s, pos) = self.locate(user);
        self.shards[s].read().find(pos, account.0).0
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
    pub(crate) fn restore(
        &self,
        shards: Vec<ReverseShard>,
        users: u64,
    ) -> Result<(), ReverseRestoreError> {
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
            for &(pos, account) in &theirs.unfollows {
                let user = pos as u64 * old as u64 + i as u64;
                if user >= users {
                    return Err(ReverseRestoreError::PastUserCount { user });
                }
                let (s, p) = self.locate(UserId(user as u32));
                self.shards[s].write().record_unfollow(p, account);
            }
            for pos in 0..theirs.slots.len() {
                let user = (pos * old + i) as u64;
                let list = theirs.list(pos);
                if list.is_empty() {
                    continue;
                }
                if user >= users {
                    return Err(ReverseRestoreError::PastUserCount { user });
                }
                let (s, p) = self.locate(UserId(user as u32));
                Arc::make_mut(&mut self.shards[s].write()).store(p, &list);
            }
        }
        Ok(())
    }

    /// Heap bytes held: the per-user slots plus the arenas (garbage included), and the
    /// recent unfollows.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.read();
                s.slots.capacity() * size_of::<Slot>()
                    + s.arena.capacity()
                    + s.unfollows.capacity() * size_of::<(u32, u32)>()
            })
            .sum()
    }
}

/// Decodes a sorted list of ids stored as LEB128 varints of the gaps between them (the
/// first value as it is, later ones as the gap minus one, since ids are distinct).
fn decode(bytes: &[u8]) -> Vec<u32> {
    // At most one id per byte; `ids` gives no size hint.
    let mut out = Vec::with_capacity(bytes.len());
    out.extend(ids(bytes).map(|(_, _, id)| id));
    out
}

/// The ids of an encoded list, in order, each with the byte range of its varint.
fn ids(bytes: &[u8]) -> impl Iterator<Item = (usize, usize, u32)> + '_ {
    let (mut at, mut last) = (0, None::<u32>);
    std::iter::from_fn(move || {
        let (start, mut value, mut shift) = (at, 0u32, 0);
        while let Some(&b) = bytes.get(at) {
            at += 1;
            value |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                let id = last.map_or(value, |p| p + value + 1);
                last = Some(id);
                return Some((start, at, id));
            }
            shift += 7;
        }
        None
    })
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

    use std::collections::{BTreeMap, BTreeSet};

    /// The graph as a model keeps it: plain sets, changed at once.
    #[derive(Default)]
    struct Model {
        followers: BTreeSet<u32>,
        tags: Vec<BTreeSet<u32>>,
        sources: BTreeMap<&'static str, BTreeSet<u32>>,
    }

    fn check_settled(graph: &mut AccountGraph, model: &Model) -> Result<(), TestCaseError> {
        let settled = graph.settled();
        let followers: Vec<u32> = settled.followers().iter().collect();
        prop_assert_eq!(
            followers,
            model.followers.iter().copied().collect::<Vec<_>>()
        );
        for (t, m) in model.tags.iter().enumerate() {
            let members: Vec<u32> = settled
                .tag(TagId(t as u32))
                .unwrap()
                .members
                .iter()
                .collect();
            prop_assert_eq!(members, m.iter().copied().collect::<Vec<_>>(), "tag {}", t);
        }
        for source in settled.sources() {
            let current: Vec<u32> = source.current.iter().collect();
            let want: Vec<u32> = model.sources[source.name.as_str()]
                .iter()
                .copied()
                .collect();
            prop_assert_eq!(current, want, "source {}", &source.name);
        }
        prop_assert!(graph.unapplied.is_empty() && graph.unfollowed.is_empty());
        Ok(())
    }

    proptest! {
        /// Follows (with and without a source), unfollows, tagging and reads against a model
        /// that applies every change at once. Unsettled, `is_follower` and `follower_count`
        /// must already be exact; settled, every member set. `maybe_tagged` may only skip
        /// work, never a member. Most cases rebuild the graph from its parts at a random
        /// point, as a snapshot restore does, so the derived set is rebuilt. Few users and a
        /// log longer than `UNAPPLIED_MIN` make the same user follow and unfollow within one
        /// unapplied log.
        #[test]
        fn graph_with_pending_changes_behaves_like_plain_sets(
            ops in proptest::collection::vec((0u8..9, 0u32..3, 0u32..40), 0..400),
            restart_at in 0usize..500,
        ) {
            let mut graph = AccountGraph::default();
            let mut model = Model::default();
            for name in ["a", "b", "c"] {
                graph.create_tag(name.into());
                model.tags.push(BTreeSet::new());
            }
            for (i, &(op, t, user)) in ops.iter().enumerate() {
                if i == restart_at {
                    // As a snapshot stores it: unapplied changes included.
                    let stored = graph.stored();
                    graph = AccountGraph::from_parts(
                        Arc::new(stored.followers.clone()),
                        stored.tags.to_vec(),
                        stored.sources.to_vec(),
                        stored.unapplied.to_vec(),
                        stored.unfollowed.to_vec(),
                    );
                }
                let follows = model.followers.contains(&user);
                match op {
                    // (The graph's caller checks a follow or an unfollow is valid.)
                    0 | 1 if !follows => {
                        model.followers.insert(user);
                        let source = (op == 1).then_some(["x", "y", "z"][t as usize]);
                        if let Some(name) = source {
                            model.sources.entry(name).or_default().insert(user);
                        }
                        graph.follow(UserId(user), source);
                    }
                    2 if follows => {
                        model.followers.remove(&user);
                        for m in model.tags.iter_mut().chain(model.sources.values_mut()) {
                            m.remove(&user);
                        }
                        graph.unfollow(UserId(user));
                    }
                    3 if follows => {
                        let added = graph.retag(TagId(t), &[user], true);
                        prop_assert_eq!(added, u64::from(model.tags[t as usize].insert(user)));
                    }
                    4 => {
                        let removed = graph.retag(TagId(t), &[user], false);
                        prop_assert_eq!(removed, u64::from(model.tags[t as usize].remove(&user)));
                    }
                    5 => check_settled(&mut graph, &model)?,
                    // Bulk import of users not following yet.
                    7 if !follows => {
                        let new: Vec<u32> = (user..40).filter(|u| !model.followers.contains(u)).take(3).collect();
                        model.followers.extend(&new);
                        graph.follow_many(&new);
                    }
                    // A broadcast to all reads the followers alone: tags stay uncleaned.
                    6 => {
                        let followers: Vec<u32> = graph.current_followers().iter().collect();
                        prop_assert_eq!(followers, model.followers.iter().copied().collect::<Vec<_>>());
                    }
                    _ => {}
                }
                prop_assert_eq!(graph.is_follower(user), model.followers.contains(&user));
                prop_assert_eq!(graph.follower_count(), model.followers.len() as u64);
            }
            check_settled(&mut graph, &model)?;
        }
    }

    proptest! {
        /// The reverse index against a `BTreeSet` per user, through inlining, growth,
        /// shrinking and compaction; its recent unfollows against a ring per shard that keeps
        /// the newest, copies included (op 2 unfollows; op 1 removes without recording,
        /// as terminating an account does).
        #[test]
        fn reverse_index_behaves_like_sets(ops in proptest::collection::vec(
            (0u8..3, 0u32..20, prop_oneof![0u32..300, any::<u32>()]), 0..400)
        ) {
            let index = ReverseIndex::new(3, true);
            index.grow(20);
            let mut model = vec![BTreeSet::new(); 20];
            // Per shard (user % 3), its unfollows oldest first; a shard holds 7 or 6 users, so
            // its limit is UNFOLLOWS_MIN.
            let mut rings: Vec<VecDeque<(u32, u32)>> = vec![VecDeque::new(); 3];
            for (op, user, account) in ops {
                let (u, a) = (UserId(user), AccountId(account));
                match op {
                    0 => {
                        let mut seen = None;
                        index.change(u, a, true, |following| {
                            seen = Some(following);
                            Ok::<_, ()>(())
                        }).unwrap();
                        prop_assert_eq!(seen, Some(model[user as usize].contains(&account)));
                        model[user as usize].insert(account);
                    }
                    1 => {
                        index.remove(u, a);
                        model[user as usize].remove(&account);
                    }
                    _ => {
                        let mut seen = None;
                        index.change(u, a, false, |following| {
                            seen = Some(following);
                            Ok::<_, ()>(())
                        }).unwrap();
                        prop_assert_eq!(seen, Some(model[user as usize].contains(&account)));
                        model[user as usize].remove(&account);
                        let ring = &mut rings[user as usize % 3];
                        if ring.len() == UNFOLLOWS_MIN {
                            ring.pop_front();
                        }
                        ring.push_back((user, account));
                    }
                }
                let got: Vec<u32> = index.accounts_of(u).into_iter().map(|a| a.0).collect();
                prop_assert_eq!(got, model[user as usize].iter().copied().collect::<Vec<_>>());
                for probe in [account, account.wrapping_add(1), account.wrapping_sub(1), 0] {
                    prop_assert_eq!(
                        index.contains(u, AccountId(probe)),
                        model[user as usize].contains(&probe)
                    );
                }
            }
            let unfollows = |user: u32| -> Vec<AccountId> {
                rings[user as usize % 3]
                    .iter()
                    .filter(|n| n.0 == user)
                    .map(|n| AccountId(n.1))
                    .collect()
            };
            for user in 0..20 {
                prop_assert_eq!(index.recent_unfollows_of(UserId(user)), unfollows(user));
            }
            for shard in index.shards.iter() {
                let mut shard = shard.write();
                Arc::make_mut(&mut shard).compact();
            }
            for (user, set) in model.iter().enumerate() {
                let got: Vec<u32> = index.accounts_of(UserId(user as u32)).into_iter().map(|a| a.0).collect();
                prop_assert_eq!(got, set.iter().copied().collect::<Vec<_>>());
            }
            // Through a snapshot's parts, into the same shard count and into others. Another
            // shard count has other limits: a user's model may lose their oldest, no more.
            for shards in [3, 1, 5, 64] {
                let parts: Vec<ReverseShard> = index
                    .capture()
                    .iter()
                    .map(|s| {
                        let (slots, arena) = s.to_parts();
                        ReverseShard::from_parts(slots.into_iter(), arena, s.recent_unfollows())
                    })
                    .collect();
                let restored = ReverseIndex::new(shards, true);
                restored
                    .restore(parts, 20)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                for (user, set) in model.iter().enumerate() {
                    let got: Vec<u32> = restored.accounts_of(UserId(user as u32)).into_iter().map(|a| a.0).collect();
                    prop_assert_eq!(got, set.iter().copied().collect::<Vec<_>>(), "{} shards", shards);
                    let kept = restored.recent_unfollows_of(UserId(user as u32));
                    let all = unfollows(user as u32);
                    if shards == 3 {
                        prop_assert_eq!(&kept, &all);
                    }
                    prop_assert!(all.ends_with(&kept), "{} shards: {:?} of {:?}", shards, kept, all);
                }
            }
        }
    }

    #[test]
    fn a_full_shard_drops_its_oldest_departures() {
        let index = ReverseIndex::new(1, true);
        index.grow(100);
        let cap = 100 * UNFOLLOWS_PER_USER;
        for account in 0..cap as u32 + 10 {
            index.insert(UserId(7), AccountId(account));
            let following = |f: bool| if f { Ok(()) } else { Err(()) };
            index
                .change(UserId(7), AccountId(account), false, following)
                .unwrap();
        }
        let kept = index.recent_unfollows_of(UserId(7));
        assert_eq!(kept.len(), cap);
        assert_eq!(kept[0], AccountId(10), "the ten oldest went");
        assert_eq!(kept.last(), Some(&AccountId(cap as u32 + 9)));
        assert!(index.recent_unfollows_of(UserId(8)).is_empty());
    }
}
