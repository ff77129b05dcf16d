//! Follower paging: [`Engine::followers_page`] in OpenID order, and the per-account caches
//! that make a pass over millions of followers one sort (`domain/follower_order.rs`).
//!
//! The engine's part is where each step runs: deciding, catching a cache up and serving a
//! page under the account's write lock (microseconds); building a cache or computing a page
//! of an account without one outside it (up to a second for ten million followers), on a
//! copy-on-write reference to the followers bitmap; dropping evicted caches with no lock
//! held but the evicted account's own.

use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::Engine;
use crate::clock::Millis;
use crate::domain::account::AccountState;
use crate::domain::follower_order::{self, FollowerOrder};
use crate::error::QueryError;
use crate::ids::AccountId;
use crate::ids::OpenId;

/// One page of an account's followers, from [`Engine::followers_page`]: OpenIDs in
/// ascending order, all greater than the page's `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowerPage {
    /// Ascending.
    pub open_ids: Vec<OpenId>,
    /// Pass as `after` to read the next page: the last OpenID of this one, if followers
    /// with greater OpenIDs followed at the time of the read; `None` on the last page.
    pub next: Option<OpenId>,
    /// Followers in all, at the time of the read.
    pub total: u64,
}

/// What a page needs once the account's lock is released.
enum Plan {
    /// Served from the account's cache.
    Served(FollowerPage),
    /// Computed from the followers as they were under the lock, without a cache.
    Select(Arc<RoaringBitmap>),
    /// A cache to build from the followers as they were under the lock (the account is
    /// marked as building it, and its graph notes changes from that moment), after dropping
    /// the caches evicted to make room.
    Build {
        followers: Arc<RoaringBitmap>,
        stamp: u64,
        evicted: follower_order::Evicted,
    },
}

/// # Follower pages
///
/// An account's followers as its own OpenIDs, page by page in ascending order.
impl Engine {
    /// A page of at most `limit` of `account`'s followers: the followers whose OpenIDs are
    /// the smallest greater than `after` (all, from the smallest, if `None`), in ascending
    /// OpenID order. Pass the page's `next` as the following page's `after`.
    ///
    /// # Order
    /// OpenID order is unlinkable across accounts: OpenIDs are per-account pseudorandom, so
    /// two accounts sharing followers list them in unrelated orders, and neither order says
    /// anything about internal user ids. Any OpenID of the account is a valid `after`, also
    /// one whose user has stopped following.
    ///
    /// # Concurrent follows and unfollows
    /// Each page is exact at the moment of the call: the `limit` smallest OpenIDs above
    /// `after` among the followers then. Over a pass (each page after the previous `next`),
    /// no OpenID is returned twice, and a user who follows throughout is returned exactly
    /// once. A user who follows during the pass is returned if its OpenID is above the
    /// cursor at the next page, and not otherwise (the pass does not go back, as with the
    /// platform's `next_openid`); one who unfollows is not returned after it unfollowed.
    /// `total` is the follower count at the moment of the page.
    ///
    /// # Cost
    /// An account with more followers than a page and than `follower_cache_min` gets, on
    /// its first page, its followers' OpenIDs sorted (8 bytes a follower, about 1 s per
    /// ten million, computed without holding the account's lock); later pages take
    /// microseconds, follows and unfollows meanwhile cost one OpenID each on the next
    /// page. The cache goes when unused for `follower_cache_idle_ms`, or to keep all caches
    /// within `follower_cache_bytes`. Without a cache (a small account, or none fits) every
    /// page encodes all the account's followers.
    ///
    /// # Errors
    /// [`QueryError::PageSize`] unless `1 <= limit <= follower_page_max`;
    /// [`QueryError::UnknownAccount`]; [`QueryError::InvalidOpenId`] if `after` is not an
    /// OpenID of `account`. Nothing changes on an error.
    pub fn followers_page(
        &self,
        account: AccountId,
        after: Option<OpenId>,
        limit: usize,
    ) -> Result<FollowerPage, QueryError> {
        let max = self.config.limits.follower_page_max;
        if limit == 0 || limit > max {
            return Err(QueryError::PageSize { len: limit, max });
        }
        if let Some(id) = after
            && self.codec.decode(account, id).is_none()
        {
            self.read_account(account, |_| ())
                .ok_or(QueryError::UnknownAccount(account))?;
            return Err(QueryError::InvalidOpenId(id));
        }
        let after = after.map(|id| id.0);
        let now = self.clock.now_ms();
        // Before this account's lock: dropping a cache takes its account's lock.
        self.evict_idle_follower_orders(now);
        let plan = self
            .write_account(account, |state| {
                self.plan_page(account, state, after, limit, now)
            })
            .ok_or(QueryError::UnknownAccount(account))?;
        let (followers, stamp, evicted) = match plan {
            Plan::Served(page) => return Ok(page),
            Plan::Select(followers) => {
                return Ok(self.select_page(account, &followers, after, limit));
            }
            Plan::Build {
                followers,
                stamp,
                evicted,
            } => (followers, stamp, evicted),
        };
        self.drop_follower_orders(&evicted);
        let mut building = Building {
            engine: self,
            account,
            stamp,
            done: false,
        };
        let order = FollowerOrder::build(&self.codec, account, followers);
        let installed = self.write_account(account, |state| {
            self.install(account, state, stamp, order, after, limit, now)
        });
        building.done = true;
        match installed {
            Some(Ok(page)) => Ok(page),
            // Drifted too far during the build, or past the budget: this page without one.
            Some(Err(followers)) => Ok(self.select_page(account, &followers, after, limit)),
            None => {
                self.follower_orders.release(stamp);
                Err(QueryError::UnknownAccount(account))
            }
        }
    }

    /// Drops the follower-order caches unused for `follower_cache_idle_ms`. Takes each
    /// such account's lock: call it holding no account lock.
    pub(crate) fn evict_idle_follower_orders(&self, now: Millis) {
        let evicted = self.follower_orders.take_idle(now);
        self.drop_follower_orders(&evicted);
    }

    /// Drops the caches the registry evicted, each if its account still holds it.
    fn drop_follower_orders(&self, evicted: &[(AccountId, u64)]) {
        for &(account, stamp) in evicted {
            self.write_account(account, |state| {
                let slot = &mut state.follower_order;
                if slot.cache.as_ref().is_some_and(|(s, _)| *s == stamp) {
                    slot.cache = None;
                    // Invariant of `OrderSlot`: watching only for a cache or a build.
                    if slot.building.is_none() {
                        state.graph.stop_watch();
                    }
                }
            });
        }
    }

    /// Under the account's lock: serves the page from the cache if there is one that can
    /// be caught up, else decides how to compute it.
    fn plan_page(
        &self,
        account: AccountId,
        state: &mut AccountState,
        after: Option<u64>,
        limit: usize,
        now: Millis,
    ) -> Plan {
        let followers = Arc::clone(state.graph.current_followers());
        if let Some(page) = self.cached_page(account, state, &followers, after, limit, now) {
            return Plan::Served(page);
        }
        let n = followers.len();
        let slot = &mut state.follower_order;
        let small = n <= self.config.follower_cache_min.max(limit as u64);
        if small || slot.building.is_some() {
            return Plan::Select(followers);
        }
        let bytes = follower_order::estimate_bytes(&followers);
        let reserved = self.follower_orders.reserve(account, bytes, now);
        match reserved {
            None => Plan::Select(followers),
            Some((stamp, evicted)) => {
                slot.building = Some(stamp);
                // From this moment: the build starts from `followers` as they are now.
                state.graph.start_watch(follower_order::watch_cap(n));
                Plan::Build {
                    followers,
                    stamp,
                    evicted,
                }
            }
        }
    }

    /// The page from the account's cache, caught up with the changes since its last page;
    /// `None` if there is no cache, or it is stale or was evicted (it is then dropped).
    fn cached_page(
        &self,
        account: AccountId,
        state: &mut AccountState,
        followers: &RoaringBitmap,
        after: Option<u64>,
        limit: usize,
        now: Millis,
    ) -> Option<FollowerPage> {
        let (stamp, order) = state.follower_order.cache.as_mut()?;
        let stamp = *stamp;
        let fresh = state.graph.watch_mut().is_some_and(|watch| {
            order.catch_up(&self.codec, account, watch, followers)
                && self.follower_orders.used(
                    stamp,
                    order.heap_bytes() + watch.reserved_bytes(),
                    now,
                )
        });
        if fresh {
            let (open_ids, more) = order.page(after, limit);
            return Some(page(open_ids, more, followers.len()));
        }
        state.follower_order.cache = None;
        state.graph.stop_watch();
        self.follower_orders.release(stamp);
        None
    }

    /// Under the account's lock: installs the cache built from the followers of the moment
    /// its build began, caught up with the changes since, and serves the page from it.
    /// `Err` with the followers now if it cannot be caught up: nothing is installed.
    #[allow(clippy::too_many_arguments)]
    fn install(
        &self,
        account: AccountId,
        state: &mut AccountState,
        stamp: u64,
        mut order: FollowerOrder,
        after: Option<u64>,
        limit: usize,
        now: Millis,
    ) -> Result<FollowerPage, Arc<RoaringBitmap>> {
        let followers = Arc::clone(state.graph.current_followers());
        let slot = &mut state.follower_order;
        // Only this build sets or clears its own mark; checked all the same.
        let ours = slot.building == Some(stamp) && slot.cache.is_none();
        if ours {
            slot.building = None;
        }
        let fresh = ours
            && state.graph.watch_mut().is_some_and(|watch| {
                order.catch_up(&self.codec, account, watch, &followers)
                    && self.follower_orders.used(
                        stamp,
                        order.heap_bytes() + watch.reserved_bytes(),
                        now,
                    )
            });
        if !fresh {
            if ours {
                state.graph.stop_watch();
            }
            self.follower_orders.release(stamp);
            return Err(followers);
        }
        let (open_ids, more) = order.page(after, limit);
        state.follower_order.cache = Some((stamp, Box::new(order)));
        Ok(page(open_ids, more, followers.len()))
    }

    /// A page computed from `followers` without a cache (outside any lock).
    fn select_page(
        &self,
        account: AccountId,
        followers: &RoaringBitmap,
        after: Option<u64>,
        limit: usize,
    ) -> FollowerPage {
        let (open_ids, more) =
            follower_order::select_page(&self.codec, account, followers, after, limit);
        page(open_ids, more, followers.len())
    }
}

fn page(open_ids: Vec<OpenId>, more: bool, total: u64) -> FollowerPage {
    FollowerPage {
        // `limit >= 1`, so a page followed by more is not empty.
        next: if more { open_ids.last().copied() } else { None },
        open_ids,
        total,
    }
}

/// A cache build in progress: if it unwinds before installing, the account's mark and
/// watch and the registry's reservation are undone, so that a failed build never leaves
/// the account unable to build again.
struct Building<'a> {
    engine: &'a Engine,
    account: AccountId,
    stamp: u64,
    done: bool,
}

impl Drop for Building<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.engine.write_account(self.account, |state| {
            let slot = &mut state.follower_order;
            if slot.building == Some(self.stamp) {
                slot.building = None;
                if slot.cache.is_none() {
                    state.graph.stop_watch();
                }
            }
        });
        self.engine.follower_orders.release(self.stamp);
    }
}
