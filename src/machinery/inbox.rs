//! The embedded inbox store: a bounded inbox per user, the default [`Sink`].
//!
//! ## Layout
//! Users are grouped in blocks of 64 consecutive ids; 1,024 blocks make a page, so one page
//! covers exactly one roaring container's 65,536 ids (one fan-out key). Pages and blocks are
//! allocated on first delivery. A block holds, for each of its users, the number of entries
//! ever delivered (`heads`) and a ring of `capacity` entries of 8 bytes (account, sequence).
//! The rings are stored slot-major (slot `s` of user `o` at `s * 64 + o`): when a broadcast
//! reaches users whose inboxes are equally full, as it does for the followers of one account,
//! consecutive recipients write consecutive words, so fan-out writes stream through memory
//! like a flat array instead of touching one cache line per recipient.
//!
//! ## Write combining
//! Fan-out does not write the rings directly. A block visit appends one record, the entry
//! and a 64-bit mask of the block's recipients, to the block's *deferred writes*; when
//! they are full, or before anyone reads or copies the block, they are written into the
//! heads and rings in record order. A broadcast to followers spread over ten million users
//! writes a few recipients per block; written directly, each is a cache miss in a different
//! line of a 16 KiB block. Deferred, a visit touches the block's header and one line of its
//! records, and writing 64 records sweeps the rings once, with each line holding several of
//! the new entries. Readers never see the difference: every read writes the deferred
//! records first.
//!
//! ## Posted appends
//! An in-memory delivery never waits for a block somebody else holds. On a busy machine the
//! holder may have lost its core in the middle of its few microseconds, and then keeps the
//! block for a scheduler time slice, milliseconds: measured in `loadgen mixed`, that was
//! most of a small send's latency once small sends were delivered by their callers. The
//! delivery *posts* its record (entry and mask) to the page's queue of posted appends
//! instead and goes on. Every lock of a block, for writing, reading or copying, first moves
//! the appends posted to the block into its deferred writes, in the order they were posted,
//! so nobody sees the block without them. Per-account order holds: a later send of the same
//! account reaches a recipient only after the earlier one's chunk finished, which is after
//! its append was posted, so the later send's lock finds that append (or posts its own
//! behind it). Logged deliveries (durable mode) still lock every block of the chunk, as
//! their log order must be the inbox order. A loom model checks this protocol
//! (`loom_an_append_posted_to_a_held_block_is_applied_once_in_order`).
//!
//! ## Yield points
//! A long delivery runs its thread's yield point every [`YIELD_EVERY_BLOCKS`] blocks,
//! holding no lock: whoever drives the thread sets it ([`set_yield_point`]; the fan-out pool
//! runs waiting small jobs there), and elsewhere it does nothing. The inbox knows nothing of
//! what it does.
//!
//! ## Lagging
//! When a user's ring is full, the oldest entry is evicted, and nothing else happens on the
//! fan-out path: writing a deferred record costs one slot write and one head increment per
//! recipient. A fetch from a
//! cursor older than the oldest retained entry learns how many entries it missed from the
//! head alone; which accounts they came from, and up to which sequence, the engine derives
//! at read time from the account histories (see `Engine::fetch`), which hold each send's
//! audience. Candidates are the accounts the user follows, the accounts of its retained
//! entries, and the accounts it recently unfollowed, which the reverse index keeps as
//! *departures* (see `ReverseShard`).
//!
//! **Invariant:** a block is only read or written under its own mutex, taken through
//! `InboxStore::lock` (or `try_lock`), which moves the appends posted to it in first; the
//! fan-out pool takes each block's mutex once per batch (recipients are ascending), not once
//! per recipient. A thread holds several block mutexes only in ascending block order, and while
//! it holds them takes no lock of the graph or the pool, only its page's queue of posted
//! appends (always the last lock taken, held for a vector push or sweep); a delivery holds
//! up to [`LOCK_GROUP`] blocks in memory, a logged chunk all of its blocks around its log append,
//! and all other users of the store one block at a time.

use std::cell::Cell;
use std::collections::TryReserveError;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::ids::{AccountId, Seq};
use crate::loom;
use crate::sink::{Batch, Sink, SinkError};
use crate::store::snapshot::{ArchivedBlockSnap, BlockSnap};

const BLOCK_USERS: usize = 64;
const BLOCK_SHIFT: u32 = 6;
const PAGE_BLOCKS: usize = 1_024;
const PAGE_SHIFT: u32 = 10;
const PAGES: usize = 1 << (32 - BLOCK_SHIFT - PAGE_SHIFT);

/// One inbox entry: a message of an account, by sequence number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) account: u32,
    pub(crate) seq: u32,
}

struct Block {
    /// LSN of the last logged chunk written here (durable mode; 0 otherwise).
    applied_lsn: u64,
    /// Records in `deferred`, not yet written into `heads` and `slots`.
    deferred_len: usize,
    /// Deliveries not yet written into the rings, oldest first: the entry and the mask of
    /// its recipients' offsets in the block.
    deferred: [(Entry, u64); DEFERRED_PER_BLOCK],
    heads: [u64; BLOCK_USERS],
    /// `capacity * BLOCK_USERS` entries, slot-major.
    slots: Box<[Entry]>,
}

/// Block visits between two yield points of a delivery (see [`set_yield_point`]): a few
/// microseconds of work.
const YIELD_EVERY_BLOCKS: usize = 32;

/// Block visits a block's deferred writes hold before they are written into the rings.
const DEFERRED_PER_BLOCK: usize = 64;

thread_local! {
    /// What a delivery on this thread runs between groups of blocks ([`set_yield_point`]).
    static YIELD_POINT: Cell<fn()> = const { Cell::new(no_yield) };
}

fn no_yield() {}

/// Makes every in-memory delivery on this thread run `yield_point` between groups of
/// [`YIELD_EVERY_BLOCKS`] blocks, holding no block lock: the fan-out pool sets it on its
/// workers, so that waiting small sends run during a big chunk. A per-thread function
/// pointer keeps the inbox below the pool that drives it, and costs one indirect call per
/// group of blocks, none per recipient.
pub(crate) fn set_yield_point(yield_point: fn()) {
    YIELD_POINT.set(yield_point);
}

/// What [`InboxStore::read`] found for one user.
#[derive(Debug, Default)]
pub(crate) struct RawFetch {
    /// Entries from the first index at or after the cursor, with their indexes.
    pub(crate) entries: Vec<(u64, Entry)>,
    /// Total entries ever delivered to the user: the cursor after the newest.
    pub(crate) head: u64,
    /// Entries after the cursor that were evicted before this read.
    pub(crate) missed: u64,
    /// Per account of the retained entries, its oldest retained sequence.
    pub(crate) oldest_retained: Vec<(AccountId, Seq)>,
}

/// 1,024 blocks, each allocated on first use, and the appends posted to those of them that
/// were held.
struct Page {
    blocks: Box<[BlockCell]>,
    posted: PostedAppends,
}

/// Deliveries that found their block held (see [`InboxStore::append`]), waiting for the
/// block's next lock: each the block's index in the page, the entry and the recipients'
/// mask, oldest first.
struct PostedAppends {
    /// Bit `i`: appends wait for block `i`. Set and cleared under `queue`; read before
    /// taking anything else, at every lock of a block.
    waiting: [loom::AtomicU64; PAGE_BLOCKS / 64],
    queue: loom::Mutex<Vec<(u16, Entry, u64)>>,
}

type BlockCell = loom::Mutex<Option<Box<Block>>>;
type BlockGuard<'a> = loom::MutexGuard<'a, Option<Box<Block>>>;

/// Blocks a fan-out delivery locks and writes at a time (see `InboxStore::append`).
const LOCK_GROUP: usize = 16;

/// A stored inbox block whose shape does not match the configured capacity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inbox block {block} does not match an inbox capacity of {capacity}")]
pub(crate) struct BlockRestoreError {
    pub(crate) block: u32,
    pub(crate) capacity: usize,
}

pub(crate) struct InboxStore {
    /// Entries per user, a power of two.
    capacity: usize,
    pages: Box<[OnceLock<Page>]>,
    blocks_allocated: AtomicUsize,
}

impl std::fmt::Debug for InboxStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxStore")
            .field("capacity", &self.capacity)
            .field("blocks_allocated", &self.blocks_allocated)
            .finish_non_exhaustive()
    }
}

/// Checks that 64 KiB can still be allocated. A block's page (16 KiB, at its first block)
/// and the block's fixed part (1.5 KiB) are allocated infallibly (a fallible `Box` needs
/// unsafe code); checking for more than both first makes running out of memory while
/// reserving an error rather than an abort.
fn headroom() -> Result<(), TryReserveError> {
    let mut probe: Vec<u8> = Vec::new();
    probe.try_reserve_exact(64 << 10)?;
    // Kept observable, so the allocation is not optimized away.
    std::hint::black_box(&probe);
    Ok(())
}

impl InboxStore {
    /// A store whose inboxes hold `capacity` entries, rounded up to a power of two.
    pub(crate) fn new(capacity: usize) -> Self {
        Self::with_pages(capacity, PAGES)
    }

    /// A store of the first `pages` pages only (the loom model's, which needs one).
    fn with_pages(capacity: usize, pages: usize) -> Self {
        InboxStore {
            capacity: capacity.clamp(1, 1 << 20).next_power_of_two(),
            pages: (0..pages).map(|_| OnceLock::new()).collect(),
            blocks_allocated: AtomicUsize::new(0),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    fn page(&self, block_index: usize) -> &Page {
        self.pages[block_index >> PAGE_SHIFT].get_or_init(|| Page {
            blocks: (0..PAGE_BLOCKS).map(|_| loom::Mutex::new(None)).collect(),
            posted: PostedAppends {
                waiting: Default::default(),
                queue: loom::Mutex::new(Vec::new()),
            },
        })
    }

    /// Locks block `block_index` (allocating its page, not the block), with the appends
    /// posted to it moved in.
    fn lock(&self, block_index: usize) -> BlockGuard<'_> {
        let page = self.page(block_index);
        let i = block_index & (PAGE_BLOCKS - 1);
        self.take_posted(page, i, page.blocks[i].lock())
    }

    /// Like [`lock`](Self::lock), if nobody holds the block.
    fn try_lock(&self, block_index: usize) -> Option<BlockGuard<'_>> {
        let page = self.page(block_index);
        let i = block_index & (PAGE_BLOCKS - 1);
        let guard = page.blocks[i].try_lock()?;
        Some(self.take_posted(page, i, guard))
    }

    /// Like [`lock`](Self::lock), if the block's page exists.
    fn lock_existing(&self, block_index: usize) -> Option<BlockGuard<'_>> {
        let page = self.pages[block_index >> PAGE_SHIFT].get()?;
        let i = block_index & (PAGE_BLOCKS - 1);
        Some(self.take_posted(page, i, page.blocks[i].lock()))
    }

    /// Moves the appends posted to block `i` of `page`, which `guard` holds, into its
    /// deferred writes, in the order they were posted. Every lock of a block comes through
    /// here, so a posted append is in its block before anyone reads or writes the block
    /// after it.
    fn take_posted<'a>(&self, page: &Page, i: usize, mut guard: BlockGuard<'a>) -> BlockGuard<'a> {
        let bit = 1u64 << (i % 64);
        if page.posted.waiting[i / 64].load(Ordering::Acquire) & bit == 0 {
            return guard;
        }
        // Taken out under the queue's lock, written into the block after it: deliveries to
        // the page's other blocks may be waiting to post, and writing full deferred records
        // takes microseconds. Nobody else can take this block's appends: we hold the block.
        let mut mine = Vec::new();
        {
            let mut queue = page.posted.queue.lock();
            queue.retain(|&(b, entry, mask)| {
                let ours = usize::from(b) == i;
                if ours {
                    mine.push((entry, mask));
                }
                !ours
            });
            page.posted.waiting[i / 64].fetch_and(!bit, Ordering::Release);
        }
        let block = guard.get_or_insert_with(|| self.new_block());
        for (entry, mask) in mine {
            block.push_mask(entry, mask, self.capacity as u64);
        }
        guard
    }

    /// Posts a delivery to `users` of block `block_index` for whoever locks it next.
    fn post(&self, block_index: usize, entry: Entry, users: &[u32]) {
        let page = self.page(block_index);
        let i = block_index & (PAGE_BLOCKS - 1);
        let mut queue = page.posted.queue.lock();
        queue.push((i as u16, entry, mask_of(users)));
        page.posted.waiting[i / 64].fetch_or(1 << (i % 64), Ordering::Release);
    }

    fn new_block(&self) -> Box<Block> {
        match self.try_new_block() {
            Ok(block) => block,
            Err(_) => std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<Entry>(self.capacity * BLOCK_USERS)
                    .unwrap_or(std::alloc::Layout::new::<Block>()),
            ),
        }
    }

    /// A new block, or an error if memory runs out.
    fn try_new_block(&self) -> Result<Box<Block>, TryReserveError> {
        // Filled with a value that is never read (slots past a head are dead), but not
        // zero: a zero fill may become a lazily mapped calloc, and reserving is meant to
        // take the page faults now rather than during fan-out.
        let unused = Entry {
            account: u32::MAX,
            seq: u32::MAX,
        };
        let mut slots = Vec::new();
        slots.try_reserve_exact(self.capacity * BLOCK_USERS)?;
        slots.resize(self.capacity * BLOCK_USERS, unused);
        self.blocks_allocated.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(Block {
            applied_lsn: 0,
            deferred_len: 0,
            deferred: [(unused, 0); DEFERRED_PER_BLOCK],
            heads: [0; BLOCK_USERS],
            slots: slots.into_boxed_slice(),
        }))
    }

    /// Allocates the inboxes of users `users` up front, so fan-out to them never
    /// allocates or faults in memory. Fails if memory runs out, after freeing the blocks
    /// it allocated.
    pub(crate) fn try_reserve(&self, users: std::ops::Range<u64>) -> Result<(), TryReserveError> {
        if users.is_empty() {
            return Ok(());
        }
        let first = (users.start >> BLOCK_SHIFT) as usize;
        let last = ((users.end - 1) >> BLOCK_SHIFT) as usize;
        let mut allocated = Vec::new();
        let reserved = allocated
            .try_reserve_exact(last - first + 1)
            .and_then(|()| {
                for block_index in first..=last {
                    headroom()?;
                    let mut guard = self.lock(block_index);
                    if guard.is_none() {
                        *guard = Some(self.try_new_block()?);
                        allocated.push(block_index);
                    }
                }
                Ok(())
            });
        if reserved.is_err() {
            // Nobody delivers to users that do not exist yet: these blocks are untouched.
            for index in allocated {
                *self.lock(index) = None;
                self.blocks_allocated.fetch_sub(1, Ordering::Relaxed);
            }
        }
        reserved
    }

    /// Appends `(account, seq)` to the inbox of every user in `recipients` (ascending).
    pub(crate) fn append(&self, account: AccountId, seq: Seq, recipients: &[u32]) {
        let entry = Entry {
            account: account.0,
            seq: seq.0,
        };
        debug_assert!(
            recipients.is_sorted_by(|a, b| a < b),
            "recipients must ascend"
        );
        let cap = self.capacity as u64;
        let mut blocks = by_block(recipients);
        let mut since_yield = 0;
        loop {
            // Lock a group of blocks (ascending, like `append_logged`), then write them all:
            // a lock is a locked instruction, which waits for every earlier store to reach
            // the cache, so one lock per block would wait out each block's cache miss in
            // turn; grouped, the group's misses overlap and the unlocks wait once.
            //
            // A block somebody holds is not waited for: the holder may have lost its core
            // and keep the block for a scheduler time slice, milliseconds. The delivery
            // is posted to the page's queue instead, which the block's next lock moves into
            // it, before anyone can read the block or write it again.
            let mut group: [Option<(BlockGuard<'_>, &[u32])>; LOCK_GROUP] = Default::default();
            let mut n = 0;
            for (slot, (block_index, mine)) in group.iter_mut().zip(blocks.by_ref()) {
                match self.try_lock(block_index) {
                    Some(guard) => *slot = Some((guard, mine)),
                    None => self.post(block_index, entry, mine),
                }
                n += 1;
            }
            if n == 0 {
                return;
            }
            for (guard, mine) in group.iter_mut().flatten() {
                let block = guard.get_or_insert_with(|| self.new_block());
                block.push_all(mine, entry, cap);
            }
            drop(group);
            since_yield += n;
            if since_yield >= YIELD_EVERY_BLOCKS {
                since_yield = 0;
                YIELD_POINT.get()();
            }
        }
    }

    /// Appends like [`append`](Self::append), holding every block of `recipients` locked
    /// while `critical` runs (it logs the chunk and returns the record's LSN) and until the
    /// entries are written; each block then remembers the LSN.
    pub(crate) fn append_logged(
        &self,
        account: AccountId,
        seq: Seq,
        recipients: &[u32],
        critical: impl FnOnce() -> u64,
    ) {
        let entry = Entry {
            account: account.0,
            seq: seq.0,
        };
        // Ascending block order: two chunks that share blocks take them in the same order,
        // so the one that logs first also writes first in every shared block.
        let mut guards: Vec<_> = by_block(recipients)
            .map(|(index, mine)| (self.lock(index), mine))
            .collect();
        let lsn = critical();
        for (guard, mine) in &mut guards {
            let block = guard.get_or_insert_with(|| self.new_block());
            block.push_all(mine, entry, self.capacity as u64);
            block.applied_lsn = lsn;
        }
    }

    /// Replays a logged chunk: writes it to every block that does not hold it yet.
    pub(crate) fn append_replayed(
        &self,
        account: AccountId,
        seq: Seq,
        recipients: &[u32],
        lsn: u64,
    ) {
        let entry = Entry {
            account: account.0,
            seq: seq.0,
        };
        for (block_index, mine) in by_block(recipients) {
            let mut guard = self.lock(block_index);
            let block = guard.get_or_insert_with(|| self.new_block());
            if block.applied_lsn < lsn {
                block.push_all(mine, entry, self.capacity as u64);
                block.applied_lsn = lsn;
            }
        }
    }

    /// Copies every block that holds entries, one block lock at a time.
    pub(crate) fn capture(&self) -> Vec<BlockSnap> {
        let mut out = Vec::new();
        for (page_index, page) in self.pages.iter().enumerate() {
            let Some(page) = page.get() else { continue };
            for (i, cell) in page.blocks.iter().enumerate() {
                let mut guard = self.take_posted(page, i, cell.lock());
                let Some(block) = guard.as_mut() else {
                    continue;
                };
                block.write_deferred(self.capacity as u64);
                if block.heads.iter().all(|&h| h == 0) {
                    continue;
                }
                out.push(BlockSnap {
                    index: ((page_index << PAGE_SHIFT) | i) as u32,
                    applied_lsn: block.applied_lsn,
                    heads: block.heads.to_vec(),
                    slots: block.slots.iter().map(|e| (e.account, e.seq)).collect(),
                });
            }
        }
        out
    }

    /// Restores one block from a snapshot taken with the same capacity.
    pub(crate) fn restore_block(&self, snap: &ArchivedBlockSnap) -> Result<(), BlockRestoreError> {
        let cap = self.capacity;
        if snap.heads.len() != BLOCK_USERS || snap.slots.len() != cap * BLOCK_USERS {
            return Err(BlockRestoreError {
                block: snap.index.to_native(),
                capacity: cap,
            });
        }
        let mut guard = self.lock(snap.index.to_native() as usize);
        let block = guard.get_or_insert_with(|| self.new_block());
        debug_assert_eq!(
            block.deferred_len, 0,
            "restored into a block with deliveries"
        );
        block.applied_lsn = snap.applied_lsn.to_native();
        for (h, s) in block.heads.iter_mut().zip(snap.heads.iter()) {
            *h = s.to_native();
        }
        for (e, s) in block.slots.iter_mut().zip(snap.slots.iter()) {
            *e = Entry {
                account: s.0.to_native(),
                seq: s.1.to_native(),
            };
        }
        Ok(())
    }

    /// Reads up to `limit` entries of `user` from `cursor` on.
    pub(crate) fn read(&self, user: u32, cursor: u64, limit: usize) -> RawFetch {
        let block_index = (user >> BLOCK_SHIFT) as usize;
        let off = user as usize & (BLOCK_USERS - 1);
        let Some(mut guard) = self.lock_existing(block_index) else {
            return RawFetch::default();
        };
        let Some(block) = guard.as_mut() else {
            return RawFetch::default();
        };
        let cap = self.capacity as u64;
        block.write_deferred(cap);
        let slot = |index: u64| slot_of(off, index, cap);
        let head = block.heads[off];
        let oldest = head.saturating_sub(cap);
        let start = cursor.clamp(oldest, head);
        let end = head.min(start.saturating_add(limit as u64));
        let entries = (start..end).map(|i| (i, block.slots[slot(i)])).collect();
        let missed = oldest.saturating_sub(cursor);
        let mut oldest_retained: Vec<(AccountId, Seq)> = Vec::new();
        if missed > 0 {
            oldest_retained = (oldest..head)
                .map(|i| {
                    let e = block.slots[slot(i)];
                    (AccountId(e.account), Seq(e.seq))
                })
                .collect();
            // Stable: per account the ring order, oldest first, which dedup keeps.
            oldest_retained.sort_by_key(|(a, _)| *a);
            oldest_retained.dedup_by_key(|(a, _)| *a);
        }
        RawFetch {
            entries,
            head,
            missed,
            oldest_retained,
        }
    }

    /// Heap bytes held by allocated blocks.
    pub(crate) fn heap_bytes(&self) -> usize {
        // `size_of::<Block>()` includes the deferred writes.
        let per_block = size_of::<Block>() + self.capacity * BLOCK_USERS * size_of::<Entry>();
        self.blocks_allocated.load(Ordering::Relaxed) * per_block
    }
}

impl Block {
    /// Delivers `entry` to `users` (all in this block): one record in the deferred writes,
    /// which are written first if they are full.
    fn push_all(&mut self, users: &[u32], entry: Entry, cap: u64) {
        self.push_mask(entry, mask_of(users), cap);
    }

    /// Delivers `entry` to the users of `mask` (bit `o`: the block's user at offset `o`).
    fn push_mask(&mut self, entry: Entry, mask: u64, cap: u64) {
        if mask == 0 {
            return;
        }
        if self.deferred_len == DEFERRED_PER_BLOCK {
            self.write_deferred(cap);
        }
        self.deferred[self.deferred_len] = (entry, mask);
        self.deferred_len += 1;
    }

    /// Writes the deferred records into the rings, in the order they were delivered.
    fn write_deferred(&mut self, cap: u64) {
        for &(entry, mut mask) in &self.deferred[..self.deferred_len] {
            while mask != 0 {
                let off = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let head = self.heads[off];
                self.slots[slot_of(off, head, cap)] = entry;
                self.heads[off] = head + 1;
            }
        }
        self.deferred_len = 0;
    }
}

/// The mask of `users` (all in one block) in their block.
fn mask_of(users: &[u32]) -> u64 {
    users
        .iter()
        .fold(0u64, |m, &u| m | 1 << (u as usize & (BLOCK_USERS - 1)))
}

/// Where entry `index` of the user at `off` lives in its block's slot-major slots.
fn slot_of(off: usize, index: u64, cap: u64) -> usize {
    (index & (cap - 1)) as usize * BLOCK_USERS + off
}

/// Splits ascending `recipients` into (block index, the recipients in it).
fn by_block(recipients: &[u32]) -> impl Iterator<Item = (usize, &[u32])> {
    let mut rest = recipients;
    std::iter::from_fn(move || {
        let &first = rest.first()?;
        let block_index = (first >> BLOCK_SHIFT) as usize;
        let in_block = rest.partition_point(|&u| (u >> BLOCK_SHIFT) as usize == block_index);
        let (mine, tail) = rest.split_at(in_block);
        rest = tail;
        Some((block_index, mine))
    })
}

impl Sink for InboxStore {
    fn deliver(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.append(batch.job.account, batch.job.seq, batch.recipients);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_and_reports_what_was_missed() {
        let store = InboxStore::new(4);
        for seq in 1..=6 {
            store.append(AccountId(7), Seq(seq), &[3, 64, 65]);
        }
        store.append(AccountId(9), Seq(1), &[3]);
        let read = store.read(3, 0, 100);
        assert_eq!(read.head, 7);
        assert_eq!(read.missed, 3);
        assert_eq!(
            read.oldest_retained,
            vec![(AccountId(7), Seq(4)), (AccountId(9), Seq(1))]
        );
        let seqs: Vec<_> = read
            .entries
            .iter()
            .map(|(i, e)| (*i, e.account, e.seq))
            .collect();
        assert_eq!(seqs, vec![(3, 7, 4), (4, 7, 5), (5, 7, 6), (6, 9, 1)]);
        // A reader that kept up misses nothing.
        let read = store.read(3, 5, 100);
        assert_eq!((read.missed, read.entries.len()), (0, 2));
        // Users of another block are independent.
        assert_eq!(store.read(64, 0, 2).entries.len(), 2);
        assert_eq!(store.read(4, 0, 10).head, 0);
        assert_eq!(store.read(u32::MAX, 0, 10).head, 0);
    }

    /// The entries of `user` as (account, seq), oldest first.
    fn entries_of(store: &InboxStore, user: u32) -> Vec<(u32, u32)> {
        let read = store.read(user, 0, store.capacity());
        read.entries
            .iter()
            .map(|(_, e)| (e.account, e.seq))
            .collect()
    }

    #[test]
    fn a_delivery_to_a_held_block_is_posted_and_keeps_its_place() {
        let store = InboxStore::new(8);
        store.try_reserve(0..128).unwrap();
        let held = store.lock(0);
        // User 3 is in the held block 0; user 70 in block 1, which is free.
        store.append(AccountId(1), Seq(1), &[3, 70]);
        store.append(AccountId(1), Seq(2), &[3]);
        store.append(AccountId(2), Seq(1), &[5, 3]);
        {
            let page = store.page(0);
            assert_eq!(page.posted.queue.lock().len(), 3, "block 0 was held");
            assert_eq!(page.posted.waiting[0].load(Ordering::Acquire), 1);
        }
        assert_eq!(entries_of(&store, 70), vec![(1, 1)], "block 1 was written");
        drop(held);
        // The next lock of block 0, here a delivery, moves the posted appends in before its
        // own.
        store.append(AccountId(1), Seq(3), &[3]);
        assert!(store.page(0).posted.queue.lock().is_empty());
        assert_eq!(store.page(0).posted.waiting[0].load(Ordering::Acquire), 0);
        assert_eq!(entries_of(&store, 3), vec![(1, 1), (1, 2), (2, 1), (1, 3)]);
        assert_eq!(entries_of(&store, 5), vec![(2, 1)]);

        // Readers and snapshot copies take the posted appends in too, and so does a block
        // that was never allocated.
        let held = store.lock(0);
        let unallocated = store.lock(2);
        store.append(AccountId(3), Seq(1), &[4, 130]);
        drop((held, unallocated));
        assert_eq!(entries_of(&store, 4), vec![(3, 1)]);
        let held = store.lock(2);
        store.append(AccountId(3), Seq(2), &[130]);
        drop(held);
        let snaps = store.capture();
        let block = snaps.iter().find(|b| b.index == 2).expect("block 2 copied");
        assert_eq!(block.heads[2], 2);
    }

    /// Threads deliver their own account's sends, in order, to overlapping users of four
    /// blocks while readers read: every inbox ends up with each account's sends to it, once
    /// and in sequence order, whether a delivery found its block free or left it in the
    /// posted it.
    #[test]
    fn concurrent_deliveries_through_posted_appends_lose_nothing_and_keep_each_accounts_order() {
        const USERS: u32 = 256;
        const SENDS: u32 = 300;
        const WRITERS: u32 = 4;
        let store = InboxStore::new(2_048);
        let audience = |account: u32, seq: u32| -> Vec<u32> {
            let mut x = u64::from(account) << 32 | u64::from(seq);
            (0..USERS)
                .filter(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    x >> 61 < 3
                })
                .collect()
        };
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let writers: Vec<_> = (0..WRITERS)
                .map(|account| {
                    let store = &store;
                    s.spawn(move || {
                        for seq in 1..=SENDS {
                            store.append(AccountId(account), Seq(seq), &audience(account, seq));
                        }
                    })
                })
                .collect();
            s.spawn(|| {
                // Reads in between: each account's entries are in order at every moment.
                let mut user = 0;
                while !done.load(Ordering::Acquire) {
                    let mut last = [0u32; WRITERS as usize];
                    for (account, seq) in entries_of(&store, user) {
                        assert!(seq > last[account as usize], "user {user}: {account}/{seq}");
                        last[account as usize] = seq;
                    }
                    user = (user + 37) % USERS;
                }
            });
            for w in writers {
                w.join().unwrap();
            }
            done.store(true, Ordering::Release);
        });
        for user in 0..USERS {
            let got = entries_of(&store, user);
            for account in 0..WRITERS {
                let want: Vec<(u32, u32)> = (1..=SENDS)
                    .filter(|&seq| audience(account, seq).contains(&user))
                    .map(|seq| (account, seq))
                    .collect();
                let mine: Vec<(u32, u32)> =
                    got.iter().copied().filter(|e| e.0 == account).collect();
                assert_eq!(mine, want, "user {user}, account {account}");
            }
        }
    }

    #[test]
    fn deferred_records_reach_every_reader_in_delivery_order() {
        // Many more block visits than the deferred writes hold, to subsets of two blocks,
        // with reads in between: every read must see exactly what a plain per-user list
        // holds (the newest `capacity`), whether the records were written because they were
        // full or by the read itself.
        let cap = 8;
        let store = InboxStore::new(cap);
        let mut model: Vec<Vec<Entry>> = vec![Vec::new(); 128];
        let mut x = 0x9e37_79b9_u64;
        for seq in 1..=5 * DEFERRED_PER_BLOCK as u32 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let recipients: Vec<u32> = (0..128).filter(|u| x >> (u % 61) & 3 == 0).collect();
            let entry = Entry {
                account: seq % 5,
                seq,
            };
            store.append(AccountId(entry.account), Seq(seq), &recipients);
            for &u in &recipients {
                model[u as usize].push(entry);
            }
            if seq % 97 == 0 || seq == 5 * DEFERRED_PER_BLOCK as u32 {
                for (user, want) in model.iter().enumerate() {
                    let read = store.read(user as u32, 0, cap);
                    assert_eq!(read.head, want.len() as u64, "user {user}");
                    let kept = &want[want.len().saturating_sub(cap)..];
                    let got: Vec<Entry> = read.entries.iter().map(|(_, e)| *e).collect();
                    assert_eq!(got, kept, "user {user} after seq {seq}");
                }
            }
        }
        // A snapshot copy sees the same: capture writes the deferred records too.
        store.append(AccountId(1), Seq(10_000), &[3]);
        let snaps = store.capture();
        let block = snaps.iter().find(|b| b.index == 0).expect("block 0");
        assert_eq!(block.heads[3], model[3].len() as u64 + 1);
    }
}

/// A loom model of posted appends: run with `RUSTFLAGS="--cfg loom" cargo test --release
/// --lib loom` (see `.ci/run`).
#[cfg(all(test, loom))]
mod loom_models {
    use ::loom::sync::Arc;

    use super::*;

    /// User `user`'s entries as (account, seq), oldest first, read as `Engine::fetch` does.
    fn entries_of(store: &InboxStore, user: u32) -> Vec<(u32, u32)> {
        let read = store.read(user, 0, store.capacity());
        read.entries
            .iter()
            .map(|(_, e)| (e.account, e.seq))
            .collect()
    }

    /// Each account's sequence numbers in `entries`: must be 1, 2, ... with no gap or
    /// repetition, as every account here sends in order from 1.
    fn check_order(entries: &[(u32, u32)]) {
        for account in [1, 2] {
            let seqs: Vec<u32> = entries
                .iter()
                .filter(|e| e.0 == account)
                .map(|e| e.1)
                .collect();
            let want: Vec<u32> = (1..=seqs.len() as u32).collect();
            assert_eq!(seqs, want, "account {account} in {entries:?}");
        }
    }

    /// Account 1 sends twice and account 2 once to user 3 of block 0 while another thread
    /// holds the block and then reads it: a delivery that finds the block held posts its
    /// append, and whoever locks the block next moves it in. Every read sees each
    /// account's entries in order, none twice, and at the end each is there exactly once.
    #[test]
    fn loom_an_append_posted_to_a_held_block_is_applied_once_in_order() {
        ::loom::model(|| {
            let store = Arc::new(InboxStore::with_pages(8, 1));
            // The page is published by a std `OnceLock`, which loom does not see: it is made
            // before the threads start. Its blocks are allocated by their first lock.
            store.page(0);
            let first = {
                let store = Arc::clone(&store);
                ::loom::thread::spawn(move || {
                    store.append(AccountId(1), Seq(1), &[3]);
                    store.append(AccountId(1), Seq(2), &[3]);
                })
            };
            let second = {
                let store = Arc::clone(&store);
                ::loom::thread::spawn(move || store.append(AccountId(2), Seq(1), &[3, 5]))
            };
            // The main thread holds the block a while, as a reader or a delivery does, and
            // loses its core meanwhile (a yield: loom runs the others), so that deliveries
            // find the block held and post; then it reads.
            let held = store.lock(0);
            ::loom::thread::yield_now();
            drop(held);
            check_order(&entries_of(&store, 3));
            first.join().unwrap();
            second.join().unwrap();
            let mut got = entries_of(&store, 3);
            check_order(&got);
            got.sort_unstable();
            assert_eq!(got, vec![(1, 1), (1, 2), (2, 1)]);
            assert_eq!(entries_of(&store, 5), vec![(2, 1)]);
        });
    }
}
