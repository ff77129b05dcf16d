//! Configuration: the platform's limits (defaults from `platform-rules.md`) and the engine's
//! machinery settings. Every number is a default a deployment may change.

use std::time::Duration;

use crate::clock::TimeZone;

/// The platform's limits on input. Defaults follow the real platform's published limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest text message, in bytes of UTF-8.
    pub text_max_bytes: usize,
    /// Largest image, in bytes.
    pub image_max_bytes: u64,
    /// Largest voice clip, in bytes.
    pub voice_max_bytes: u64,
    /// Longest voice clip, in seconds.
    pub voice_max_secs: u32,
    /// Largest video, in bytes.
    pub video_max_bytes: u64,
    /// Longest article or video title, in characters.
    pub title_max_chars: usize,
    /// Longest article summary or video caption, in characters.
    pub summary_max_chars: usize,
    /// Longest article body, in characters.
    pub body_max_chars: usize,
    /// Longest media id, in bytes.
    pub media_id_max_bytes: usize,
    /// Fewest OpenIDs in a list audience.
    pub openid_list_min: usize,
    /// Most OpenIDs in a list audience.
    pub openid_list_max: usize,
    /// Most tags one account may have.
    pub tags_per_account: usize,
    /// Most tags one follower may carry within one account.
    pub tags_per_follower: usize,
    /// Longest tag name, in characters.
    pub tag_name_max_chars: usize,
    /// Most OpenIDs in one tag or untag call.
    pub tag_batch_max: usize,
    /// Most nodes in a tag expression audience.
    pub tag_expr_max_nodes: usize,
    /// Most OpenIDs in one page of a follower list.
    pub follower_page_max: usize,
    /// Longest follow source (QR scene) string, in characters.
    pub source_max_chars: usize,
    /// Most distinct follow sources per account.
    pub sources_per_account: usize,
    /// Longest account name, in characters.
    pub account_name_max_chars: usize,
    /// Longest idempotency key, in bytes.
    pub idempotency_key_max_bytes: usize,
    /// How long an idempotency key is remembered, in milliseconds.
    pub idempotency_window_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            text_max_bytes: 2_048,
            image_max_bytes: 10 * 1024 * 1024,
            voice_max_bytes: 2 * 1024 * 1024,
            voice_max_secs: 60,
            video_max_bytes: 10 * 1024 * 1024,
            title_max_chars: 64,
            summary_max_chars: 120,
            body_max_chars: 20_000,
            media_id_max_bytes: 128,
            openid_list_min: 2,
            openid_list_max: 10_000,
            tags_per_account: 100,
            tags_per_follower: 20,
            tag_name_max_chars: 30,
            tag_batch_max: 50,
            tag_expr_max_nodes: 64,
            follower_page_max: 10_000,
            source_max_chars: 64,
            sources_per_account: 1_000,
            account_name_max_chars: 64,
            idempotency_key_max_bytes: 64,
            idempotency_window_ms: 24 * 60 * 60 * 1000,
        }
    }
}

/// One day in milliseconds (24 hours: a length, not a calendar day; calendar days follow
/// [`Rules::time_zone`]).
pub const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// The platform's rules (`platform-rules.md`), every number a default a deployment may change.
///
/// Days and months are calendar days and months in [`time_zone`](Rules::time_zone)
/// (default `Asia/Shanghai`), taken from the engine's clock: the daily limits reset at local
/// midnight, the monthly cap at local midnight on the 1st.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The platform's time zone: its calendar days and months are the "per day" and "per
    /// month" of the limits below, and error texts show times in it. A parsed IANA zone, so
    /// an unknown name is a [`TimeZoneError`](crate::TimeZoneError) when the configuration
    /// is built ([`TimeZone::named`]), never when the engine runs. Default `Asia/Shanghai`.
    ///
    /// It may change between runs on one data directory: counts kept for the current day
    /// and month belong to calendar dates, which keep their numbers (see the policy module).
    pub time_zone: TimeZone,
    /// Accounts an individual subject may hold (before an approved exception).
    pub individual_account_quota: u32,
    /// Accounts an organization subject may hold (before an approved exception).
    pub organization_account_quota: u32,
    /// Longest subject name, and longest region, in characters.
    pub subject_name_max_chars: usize,
    /// Longest registration contact (phone number or e-mail address), in characters.
    pub contact_max_chars: usize,
    /// Broadcasts a subscription account may send per calendar day (previews and replies
    /// are not broadcasts).
    pub subscription_broadcasts_per_day: u32,
    /// Broadcasts each follower of a service account receives per calendar month; the
    /// followers over it are left out of a broadcast and counted as `filtered`.
    pub service_broadcasts_per_follower_month: u32,
    /// Delivery speed of tiers 0..=4, in deliveries per minute.
    pub speed_tiers_per_minute: [u64; 5],
    /// Previews an account may send per calendar day.
    pub previews_per_day: u32,
    /// Times one article may be corrected.
    pub corrections_per_article: u32,
    /// Characters a correction may change: the edit distance over user-perceived characters
    /// (extended grapheme clusters) of the bodies in NFC, so what a reader sees as one
    /// character counts one.
    pub correction_max_chars: usize,
    /// Ban length for the 1st, 2nd, ... like-collection violation, in milliseconds; the
    /// violation after the last entry bans permanently.
    pub ban_durations_ms: Vec<u64>,
    /// How long after a follower's last message the account may reply to them.
    pub reply_window_ms: u64,
    /// Keyword auto-reply rules per account.
    pub auto_replies_per_account: usize,
    /// Longest auto-reply keyword, in characters.
    pub keyword_max_chars: usize,
    /// Follower messages kept per account (oldest dropped first).
    pub inbound_kept_per_account: usize,
    /// Scheduled sends pending per account.
    pub schedules_per_account: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            time_zone: TimeZone::default(),
            individual_account_quota: 1,
            organization_account_quota: 2,
            subject_name_max_chars: 64,
            contact_max_chars: 64,
            subscription_broadcasts_per_day: 1,
            service_broadcasts_per_follower_month: 4,
            speed_tiers_per_minute: [800_000, 600_000, 450_000, 300_000, 100_000],
            previews_per_day: 100,
            corrections_per_article: 1,
            correction_max_chars: 10,
            ban_durations_ms: vec![7 * DAY_MS, 15 * DAY_MS, 30 * DAY_MS],
            reply_window_ms: 2 * DAY_MS,
            auto_replies_per_account: 200,
            keyword_max_chars: 30,
            inbound_kept_per_account: 10_000,
            schedules_per_account: 100,
        }
    }
}

/// Everything an [`Engine`](crate::Engine) is built with.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The platform's limits on input: message sizes, audience lists, tags, names, keys.
    pub limits: Limits,
    /// The platform's rules on subjects, sending, corrections, penalties and interaction.
    pub rules: Rules,
    /// Fan-out worker threads. Default: the machine's available parallelism.
    pub threads: usize,
    /// Entries kept per user inbox; older entries are evicted (and reported as missed).
    pub inbox_capacity: usize,
    /// Sent messages each account keeps in its history, for fetches and recovery.
    pub history_window: usize,
    /// Accepted jobs not yet finished, across all accounts; past it a send is refused as busy.
    pub max_unfinished_jobs: usize,
    /// Sparse audiences are cut into chunks of at least this many recipients (a chunk never
    /// splits a block of 65,536 user ids, so a dense block is a chunk of its own).
    pub chunk_target: u32,
    /// Sends to at most this many recipients are delivered by the calling thread, inside
    /// `send`, instead of being handed to a fan-out worker: they are in the inboxes when
    /// `send` returns, however busy the workers are, at the cost of that delivery's time in
    /// the call (`loadgen mixed`'s small sends, up to 1,000 recipients over ten million
    /// users, finish 0.05 ms after `send` began at the median, acceptance included). Due scheduled sends go the same way, on the thread calling `run_due`. Only with the embedded inbox (an external sink's
    /// time is not the engine's to bound), only for an account without a delivery speed
    /// tier, and only when none of the account's earlier sends still holds a recipient
    /// back; otherwise the send goes to the workers as usual. 0: every send goes to them.
    pub inline_max_recipients: u32,
    /// Retries of a failed sink batch before its recipients are counted as errors.
    pub sink_retries: u32,
    /// Lock shards of the account registry and of the user index. May change between runs
    /// on one data directory: a snapshot written with another count is re-sharded on open.
    pub shards: usize,
    /// The secret OpenIDs are derived with. Keep it stable across restarts of a deployment:
    /// changing it changes every OpenID.
    pub openid_secret: [u8; 16],
    /// Capacity of the broadcast channel behind [`Engine::reports`](crate::Engine::reports).
    pub report_channel_capacity: usize,
    /// When the write-ahead log is forced to disk (durable engines only).
    pub sync: SyncPolicy,
    /// Size at which a log segment is closed and a new one started.
    pub segment_bytes: u64,
    /// Bytes that the follower-order caches of all accounts may hold together: an account
    /// being paged through ([`Engine::followers_page`](crate::Engine::followers_page)) holds
    /// its followers' OpenIDs sorted, 8 bytes a follower. Past it the least recently used
    /// caches go; an account whose cache cannot fit is paged without one, each page then
    /// encoding all its followers (about 60 ns each).
    pub follower_cache_bytes: usize,
    /// A follower-order cache unused for this long is dropped (by the next page of any
    /// account, or by [`Engine::run_due`](crate::Engine::run_due)).
    pub follower_cache_idle_ms: u64,
    /// Accounts with at most this many followers (or no more than the page asked for) are
    /// paged without a cache: each page encodes all of them.
    pub follower_cache_min: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            limits: Limits::default(),
            rules: Rules::default(),
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            inbox_capacity: 32,
            history_window: 256,
            max_unfinished_jobs: 4_096,
            chunk_target: 16_384,
            inline_max_recipients: 1_024,
            sink_retries: 2,
            shards: 1_024,
            openid_secret: random_secret(),
            report_channel_capacity: 1_024,
            sync: SyncPolicy::default(),
            segment_bytes: 64 << 20,
            // Three accounts of ten million followers paged at once.
            follower_cache_bytes: 256 << 20,
            follower_cache_idle_ms: 120_000,
            // A page of an account this size costs about 20 µs without a cache, and a pass
            // a page at a time at most 65,536 OpenIDs (4 ms).
            follower_cache_min: 256,
        }
    }
}

/// 128 bits from the standard library's per-process random hasher keys: good enough for a
/// default, but a deployment that restarts must configure its own stable secret.
fn random_secret() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// When the log is forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Every acknowledgement waits for an fsync started for it (concurrent callers still
    /// share one).
    Always,
    /// The log is written and fsynced every `interval`; callers are acknowledged after the
    /// fsync that covers their record. The default, with 2 ms.
    GroupCommit {
        /// How often the log is written and fsynced.
        interval: Duration,
    },
    /// Written every few milliseconds, fsynced only when a segment closes or on
    /// `Engine::sync`, acknowledged at once. **Unsafe** on its own: a crash of the machine
    /// (not just the process) can lose acknowledged operations. For benchmarks, and for bulk
    /// imports that end with `Engine::sync` (or a snapshot) before anything is acknowledged
    /// to anyone.
    None,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy::GroupCommit {
            interval: Duration::from_millis(2),
        }
    }
}
