//! Whether the platform's rules admit a send: registration, ban, daily limits, the reply
//! window, the storage quota, a scheduled send still pending, originality, and the monthly
//! cap that filters a service account's broadcast audience.
//!
//! Pure functions of an account's state, the rules and the time: the engine calls them under
//! the account's write lock (`engine/send.rs`) and changes nothing when they refuse; tests
//! call them without an engine. The checks run cheapest first, so the first refusal a caller
//! sees does not depend on work it did not need.

use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::clock::{Millis, Period};
use crate::config::Rules;
use crate::domain::account::AccountState;
use crate::domain::originality::{self, Originals};
use crate::domain::send::SendPurpose;
use crate::domain::subject::AccountKind;
use crate::error::SendError;
use crate::ids::{AccountId, JobId, ScheduleId, UserId};
use crate::message::Message;

/// A send as the rules see it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a> {
    pub(crate) account: AccountId,
    pub(crate) purpose: SendPurpose,
    pub(crate) message: &'a Message,
    /// The one recipient of a reply (or of a send to one user).
    pub(crate) single: Option<UserId>,
    /// The scheduled send this one fires, if it does.
    pub(crate) schedule: Option<u32>,
    /// The original the sender declared, if any.
    pub(crate) reprint_of: Option<JobId>,
    /// Send an unoriginal article anyway, as a reprint of the original found.
    pub(crate) continue_as_reprint: bool,
    pub(crate) now: Millis,
}

/// What the rules decided about an admitted send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    /// The original it reprints: the declared one, or the one the originality check found.
    pub(crate) reprint_of: Option<JobId>,
    /// The day and month of the send in the platform's zone, which its counts go to.
    pub(crate) at: Period,
}

/// Admits a send or says which rule refuses it.
pub(crate) fn admit(
    state: &AccountState,
    attempt: &Attempt<'_>,
    rules: &Rules,
    originals: &Originals,
) -> Result<Admission, SendError> {
    let now = attempt.now;
    if let Some(registration) = &state.profile.registration {
        let missing = registration.missing();
        if !missing.is_empty() {
            return Err(SendError::RegistrationIncomplete { missing });
        }
    }
    if let Some(ban) = state.policy.active_ban(now) {
        return Err(SendError::Banned {
            ban,
            zone: rules.time_zone.clone(),
        });
    }
    // The day's counts reset when the day after the one they count starts (see `policy` on
    // clocks that step back).
    let at = rules.time_zone.period(now);
    let next_day_ms = || {
        let day = state.policy.counting_day(at);
        rules.time_zone.day_start(day.saturating_add(1))
    };
    match attempt.purpose {
        SendPurpose::Broadcast => {
            if state.profile.kind == Some(AccountKind::Subscription)
                && state.policy.broadcasts_on(at) >= rules.subscription_broadcasts_per_day
            {
                return Err(SendError::DailyLimit {
                    limit: rules.subscription_broadcasts_per_day,
                    next_day_ms: next_day_ms(),
                    zone: rules.time_zone.clone(),
                });
            }
        }
        SendPurpose::Preview => {
            if state.policy.previews_on(at) >= rules.previews_per_day {
                return Err(SendError::PreviewLimit {
                    limit: rules.previews_per_day,
                    next_day_ms: next_day_ms(),
                    zone: rules.time_zone.clone(),
                });
            }
        }
        SendPurpose::Reply => {
            let user = attempt.single.map_or(u32::MAX, |u| u.0);
            state
                .interaction
                .may_reply(user, now, rules)
                .map_err(|last_message_ms| SendError::ReplyWindowClosed { last_message_ms })?;
        }
    }
    if let Some(quota) = state.storage.quota_bytes {
        let needed = attempt.message.stored_bytes();
        if state.storage.used_bytes.saturating_add(needed) > quota {
            return Err(SendError::StorageQuota {
                used: state.storage.used_bytes,
                needed,
                quota,
            });
        }
    }
    if let Some(id) = attempt.schedule
        && !state.schedules.contains_key(&id)
    {
        return Err(SendError::ScheduleGone(ScheduleId(id)));
    }
    let mut reprint_of = attempt.reprint_of;
    if attempt.purpose == SendPurpose::Broadcast
        && reprint_of.is_none()
        && let Message::Article(article) = attempt.message
    {
        let print = originality::fingerprint(&article.body);
        if let Some(original) = originals.matching(print, attempt.account) {
            if !attempt.continue_as_reprint {
                return Err(SendError::Unoriginal { original });
            }
            reprint_of = Some(original);
        }
    }
    Ok(Admission { reprint_of, at })
}

/// A service account's broadcast reaches only followers under the monthly cap: the
/// audience without the others, and how many were left out.
pub(crate) fn cap_audience(
    state: &AccountState,
    purpose: SendPurpose,
    audience: Arc<RoaringBitmap>,
    rules: &Rules,
    at: Period,
) -> (Arc<RoaringBitmap>, u64) {
    if purpose != SendPurpose::Broadcast || state.profile.kind != Some(AccountKind::Service) {
        return (audience, 0);
    }
    let over = state
        .policy
        .over_cap(&audience, rules.service_broadcasts_per_follower_month, at);
    if over.is_empty() {
        return (audience, 0);
    }
    let filtered = over.len();
    (Arc::new(&*audience - &over), filtered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::subject::Registration;
    use crate::error::Ban;
    use crate::message::{Article, Media, MediaFormat};

    const NOW: Millis = 1_700_000_000_000;

    fn text() -> Message {
        Message::Text("hello".into())
    }

    fn attempt(message: &Message) -> Attempt<'_> {
        Attempt {
            account: AccountId(1),
            purpose: SendPurpose::Broadcast,
            message,
            single: None,
            schedule: None,
            reprint_of: None,
            continue_as_reprint: false,
            now: NOW,
        }
    }

    fn admit_text(state: &AccountState, rules: &Rules) -> Result<Admission, SendError> {
        let m = text();
        admit(state, &attempt(&m), rules, &Originals::default())
    }

    #[test]
    fn a_plain_account_is_admitted_and_counts_in_the_platform_day() {
        let rules = Rules::default();
        let state = AccountState::new("a".into());
        let admission = admit_text(&state, &rules).unwrap();
        assert_eq!(admission.at, rules.time_zone.period(NOW));
        assert_eq!(admission.reprint_of, None);
    }

    #[test]
    fn an_incomplete_registration_refuses_before_anything_else() {
        let rules = Rules::default();
        let mut state = AccountState::new("a".into());
        state.profile.registration = Some(Registration::default());
        state.policy.ban = Some(Ban::Permanent);
        assert!(matches!(
            admit_text(&state, &rules),
            Err(SendError::RegistrationIncomplete { .. })
        ));
    }

    #[test]
    fn a_ban_refuses_until_its_end() {
        let rules = Rules::default();
        let mut state = AccountState::new("a".into());
        state.policy.ban = Some(Ban::Until(NOW + 1));
        assert!(matches!(
            admit_text(&state, &rules),
            Err(SendError::Banned { .. })
        ));
        state.policy.ban = Some(Ban::Until(NOW));
        assert!(admit_text(&state, &rules).is_ok());
    }

    #[test]
    fn a_subscription_account_meets_its_daily_limit() {
        let rules = Rules::default();
        let mut state = AccountState::new("a".into());
        state.profile.kind = Some(AccountKind::Subscription);
        let at = rules.time_zone.period(NOW);
        for _ in 0..rules.subscription_broadcasts_per_day {
            assert!(admit_text(&state, &rules).is_ok());
            state.policy.count_broadcast(at);
        }
        let Err(SendError::DailyLimit { next_day_ms, .. }) = admit_text(&state, &rules) else {
            panic!("the limit should refuse");
        };
        assert_eq!(next_day_ms, rules.time_zone.day_start(at.day + 1));
    }

    #[test]
    fn the_storage_quota_counts_the_message_being_sent() {
        let rules = Rules::default();
        let mut state = AccountState::new("a".into());
        let needed = text().stored_bytes();
        state.storage.quota_bytes = Some(needed);
        assert!(admit_text(&state, &rules).is_ok());
        state.storage.used_bytes = 1;
        assert_eq!(
            admit_text(&state, &rules).unwrap_err(),
            SendError::StorageQuota {
                used: 1,
                needed,
                quota: needed
            }
        );
    }

    #[test]
    fn an_unoriginal_article_is_refused_or_becomes_a_reprint() {
        let rules = Rules::default();
        let state = AccountState::new("a".into());
        let body = "An article body long enough to have a fingerprint of its own.".repeat(4);
        let article = Message::Article(Article {
            title: "t".into(),
            summary: String::new(),
            body: body.clone(),
            cover: Media {
                media_id: "cover".into(),
                format: MediaFormat::Jpeg,
                bytes: 1_000,
                duration_secs: 0,
            },
        });
        let original = JobId {
            account: AccountId(2),
            seq: crate::ids::Seq(7),
        };
        let mut originals = Originals::default();
        originals.insert(originality::fingerprint(&body), original);
        let mut a = attempt(&article);
        assert_eq!(
            admit(&state, &a, &rules, &originals).unwrap_err(),
            SendError::Unoriginal { original }
        );
        a.continue_as_reprint = true;
        let admission = admit(&state, &a, &rules, &originals).unwrap();
        assert_eq!(admission.reprint_of, Some(original));
        // The original's own account may send it again.
        a.account = AccountId(2);
        a.continue_as_reprint = false;
        assert!(admit(&state, &a, &rules, &originals).is_ok());
    }

    #[test]
    fn the_monthly_cap_filters_a_service_accounts_broadcast_only() {
        let rules = Rules::default();
        let mut state = AccountState::new("a".into());
        let at = rules.time_zone.period(NOW);
        let audience: Arc<RoaringBitmap> = Arc::new((0..10).collect());
        let full: RoaringBitmap = (0..5).collect();
        for _ in 0..rules.service_broadcasts_per_follower_month {
            state
                .policy
                .count_monthly(&full, rules.service_broadcasts_per_follower_month, at);
        }
        let (same, filtered) =
            cap_audience(&state, SendPurpose::Broadcast, audience.clone(), &rules, at);
        assert_eq!((same.len(), filtered), (10, 0), "not a service account");
        state.profile.kind = Some(AccountKind::Service);
        let (capped, filtered) =
            cap_audience(&state, SendPurpose::Broadcast, audience.clone(), &rules, at);
        assert_eq!(filtered, 5);
        assert!(capped.iter().eq(5..10));
        let (preview, filtered) = cap_audience(&state, SendPurpose::Preview, audience, &rules, at);
        assert_eq!((preview.len(), filtered), (10, 0));
    }
}
