//! Accounts and subjects: registering an account (alone, or under a subject's quota),
//! its name and count, registration under a subject's quota, registration information,
//! verification, like-collection violations and bans, speed tiers, and termination.
//!
//! The rules themselves live in `domain/subject.rs` and `domain/policy.rs`; this file
//! validates, logs and applies, like every facade call.

use std::sync::atomic::Ordering;

use crate::clock::Millis;
use crate::domain::account::AccountState;
use crate::domain::subject::{AccountKind, Registration, Subject, SubjectKind, valid_text};
use crate::engine::Engine;
use crate::error::Ban;
use crate::error::{AccountError, QueryError, RegisterError, SubjectError, TerminateError};
use crate::ids::OpenId;
use crate::ids::{AccountId, SubjectId, UserId};
use crate::journal::Record;

/// A name is 1 to `max` characters, not blank, without control characters.
pub(crate) fn valid_name(name: &str, max: usize) -> bool {
    !name.trim().is_empty()
        && !name.chars().any(char::is_control)
        && (name.len() <= max || name.chars().count() <= max)
}

/// # Accounts
impl Engine {
    /// Registers an account outside any subject; its name is 1 to `account_name_max_chars`
    /// characters. The low-level call: such an account has no kind (no daily or monthly
    /// send limit), no registration information to complete and counts against no quota;
    /// bans, speed tiers, storage rules and the other rules apply. The platform's
    /// registration is [`Engine::register_in_subject`].
    pub fn register_account(&self, name: &str) -> Result<AccountId, RegisterError> {
        let max = self.config.limits.account_name_max_chars;
        if !valid_name(name, max) {
            return Err(RegisterError::InvalidName { max });
        }
        let gate = self.begin().map_err(RegisterError::Storage)?;
        let mut next = self.next_account.lock();
        let id = *next;
        next.checked_add(1).ok_or(RegisterError::IdsExhausted)?;
        let lsn = self.log(|| Record::RegisterAccount {
            account: id,
            name: name.to_owned(),
        });
        self.apply_register(&mut next, name);
        drop((next, gate));
        self.commit(lsn).map_err(RegisterError::Storage)?;
        Ok(AccountId(id))
    }

    /// Registers the account with id `*next` (checked by the caller) and advances `next`.
    pub(crate) fn apply_register(&self, next: &mut u32, name: &str) {
        let (shard, index) = self.account_slot(AccountId(*next));
        let mut shard = self.accounts[shard].write();
        if shard.len() <= index {
            shard.resize_with(index + 1, || None);
        }
        shard[index] = Some(AccountState::new(name.to_owned()));
        *next += 1;
    }

    /// Accounts ever registered, terminated ones included: the id the next account gets.
    pub fn account_count(&self) -> u64 {
        u64::from(*self.next_account.lock())
    }

    /// The account's name.
    pub fn account_name(&self, account: AccountId) -> Result<String, QueryError> {
        self.read_account(account, |state| state.name.clone())
            .ok_or(QueryError::UnknownAccount(account))
    }
}

/// A subject as [`Engine::subject`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubjectInfo {
    /// The subject's id.
    pub id: SubjectId,
    /// Its name.
    pub name: String,
    /// Individual or organization.
    pub kind: SubjectKind,
    /// Accounts the subject may hold now (its kind's default or an approved exception).
    pub quota: u32,
    /// Its live accounts, in registration order.
    pub accounts: Vec<AccountId>,
}

/// An account's profile as [`Engine::account_profile`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccountProfile {
    /// The account's id.
    pub id: AccountId,
    /// Its name.
    pub name: String,
    /// `None` for accounts registered with the low-level `register_account`.
    pub subject: Option<SubjectId>,
    /// Subscription or service; `None` for accounts registered with `register_account`.
    pub kind: Option<AccountKind>,
    /// Whether the account is verified (认证), as [`Engine::set_verified`] last set it.
    pub verified: bool,
    /// Its registration information; `None` for accounts registered with `register_account`.
    pub registration: Option<Registration>,
    /// Registration fields still missing; the account cannot send while this is not empty.
    pub missing: Vec<&'static str>,
    /// Like-collection violations recorded.
    pub violations: u32,
    /// The ban in force now, if any.
    pub ban: Option<Ban>,
    /// Its delivery speed tier, 0 to 4; `None` when its speed is not limited (the default).
    pub speed_tier: Option<u8>,
}

/// # Platform rules: subjects, registration, verification, violations, speed, termination
impl Engine {
    // ----- subjects -----------------------------------------------------------------------

    /// Creates a subject: the individual or organization that will own accounts.
    pub fn create_subject(&self, name: &str, kind: SubjectKind) -> Result<SubjectId, SubjectError> {
        let max = self.config.rules.subject_name_max_chars;
        if !valid_text(name, max) {
            return Err(SubjectError::InvalidName { max });
        }
        let gate = self.begin().map_err(SubjectError::Storage)?;
        let mut subjects = self.subjects.write();
        let id = u32::try_from(subjects.len()).map_err(|_| SubjectError::IdsExhausted)?;
        let lsn = self.log(|| Record::CreateSubject {
            subject: id,
            name: name.to_owned(),
            kind,
        });
        subjects.push(Subject {
            name: name.to_owned(),
            kind,
            quota_override: None,
            accounts: Vec::new(),
        });
        drop((subjects, gate));
        self.commit(lsn).map_err(SubjectError::Storage)?;
        Ok(SubjectId(id))
    }

    /// Approves a subject's application for a different account limit: from now on it
    /// may hold `quota` accounts (accounts it holds beyond a lowered limit stay).
    pub fn approve_quota(&self, subject: SubjectId, quota: u32) -> Result<(), SubjectError> {
        let gate = self.begin().map_err(SubjectError::Storage)?;
        let mut subjects = self.subjects.write();
        let entry = subjects
            .get_mut(subject.0 as usize)
            .ok_or(SubjectError::UnknownSubject(subject))?;
        let lsn = self.log(|| Record::ApproveQuota {
            subject: subject.0,
            quota,
        });
        entry.quota_override = Some(quota);
        drop((subjects, gate));
        self.commit(lsn).map_err(SubjectError::Storage)
    }

    /// A subject's name, kind, current quota and live accounts.
    pub fn subject(&self, subject: SubjectId) -> Result<SubjectInfo, QueryError> {
        let subjects = self.subjects.read();
        let s = subjects
            .get(subject.0 as usize)
            .ok_or(QueryError::UnknownSubject(subject))?;
        Ok(SubjectInfo {
            id: subject,
            name: s.name.clone(),
            kind: s.kind,
            quota: s.quota(&self.config.rules),
            accounts: s.accounts.clone(),
        })
    }

    // ----- registration -------------------------------------------------------------------

    /// Registers an account of `kind` under `subject`, within the subject's quota.
    ///
    /// Registration information that is present must be valid; missing fields are allowed,
    /// but the account cannot send until [`update_registration`](Self::update_registration)
    /// completes them.
    pub fn register_in_subject(
        &self,
        subject: SubjectId,
        name: &str,
        kind: AccountKind,
        registration: Registration,
    ) -> Result<AccountId, RegisterError> {
        let max = self.config.limits.account_name_max_chars;
        if !valid_name(name, max) {
            return Err(RegisterError::InvalidName { max });
        }
        registration.validate(&self.config.rules)?;
        let gate = self.begin().map_err(RegisterError::Storage)?;
        let mut subjects = self.subjects.write();
        let s = subjects
            .get(subject.0 as usize)
            .ok_or(RegisterError::UnknownSubject(subject))?;
        let quota = s.quota(&self.config.rules);
        let held = s.accounts.len() as u32;
        if held >= quota {
            return Err(RegisterError::QuotaReached {
                subject,
                held,
                quota,
            });
        }
        let mut next = self.next_account.lock();
        let id = *next;
        next.checked_add(1).ok_or(RegisterError::IdsExhausted)?;
        let lsn = self.log(|| Record::RegisterInSubject {
            account: id,
            subject: subject.0,
            name: name.to_owned(),
            kind,
            registration: registration.clone(),
        });
        self.apply_register_in(&mut subjects, &mut next, subject, name, kind, registration);
        drop((next, subjects, gate));
        self.commit(lsn).map_err(RegisterError::Storage)?;
        Ok(AccountId(id))
    }

    /// Registers account `*next` under `subject` (checked by the caller).
    pub(crate) fn apply_register_in(
        &self,
        subjects: &mut [Subject],
        next: &mut u32,
        subject: SubjectId,
        name: &str,
        kind: AccountKind,
        registration: Registration,
    ) {
        let id = AccountId(*next);
        self.apply_register(next, name);
        self.write_account(id, |state| {
            state.profile.subject = Some(subject);
            state.profile.kind = Some(kind);
            state.profile.registration = Some(registration);
        });
        if let Some(s) = subjects.get_mut(subject.0 as usize) {
            s.accounts.push(id);
        }
    }

    /// Replaces an account's registration information (completing it lifts the send
    /// restriction).
    pub fn update_registration(
        &self,
        account: AccountId,
        registration: Registration,
    ) -> Result<(), AccountError> {
        registration.validate(&self.config.rules)?;
        self.change_account(
            account,
            |state| {
                if state.profile.registration.is_none() {
                    return Err(AccountError::NoRegistration(account));
                }
                Ok(())
            },
            || Record::UpdateRegistration {
                account: account.0,
                registration: registration.clone(),
            },
            |state| state.profile.registration = Some(registration.clone()),
        )
    }

    /// Marks an account verified (认证) or not.
    pub fn set_verified(&self, account: AccountId, verified: bool) -> Result<(), AccountError> {
        self.change_account(
            account,
            |_| Ok(()),
            || Record::SetVerified {
                account: account.0,
                verified,
            },
            |state| state.profile.verified = verified,
        )
    }

    /// An account's name, subject, kind, registration, verification, violations, ban and speed
    /// tier.
    pub fn account_profile(&self, account: AccountId) -> Result<AccountProfile, QueryError> {
        let now = self.clock.now_ms();
        self.read_account(account, |state| AccountProfile {
            id: account,
            name: state.name.clone(),
            subject: state.profile.subject,
            kind: state.profile.kind,
            verified: state.profile.verified,
            registration: state.profile.registration.clone(),
            missing: state
                .profile
                .registration
                .as_ref()
                .map(Registration::missing)
                .unwrap_or_default(),
            violations: state.policy.violations.len() as u32,
            ban: state.policy.active_ban(now),
            speed_tier: state.policy.speed_tier,
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    // ----- penalties and speed ------------------------------------------------------------

    /// Records a like-collection violation now; returns the ban it earned (see
    /// [`Rules::ban_durations_ms`](crate::Rules::ban_durations_ms)).
    pub fn record_violation(&self, account: AccountId) -> Result<Ban, AccountError> {
        let now = self.clock.now_ms();
        let mut ban = Ban::Permanent;
        self.change_account::<AccountError>(
            account,
            |_| Ok(()),
            || Record::Violation {
                account: account.0,
                at_ms: now,
            },
            |state| ban = state.policy.record_violation(now, &self.config.rules),
        )?;
        Ok(ban)
    }

    /// The ban in force now, if any.
    pub fn active_ban(&self, account: AccountId) -> Result<Option<Ban>, QueryError> {
        let now = self.clock.now_ms();
        self.read_account(account, |state| state.policy.active_ban(now))
            .ok_or(QueryError::UnknownAccount(account))
    }

    /// Limits the account's delivery speed to tier 0..=4 (see
    /// [`Rules::speed_tiers_per_minute`](crate::Rules::speed_tiers_per_minute)), or lifts the
    /// limit (`None`, the default). Applies to sends accepted from now on.
    pub fn set_speed_tier(&self, account: AccountId, tier: Option<u8>) -> Result<(), AccountError> {
        if let Some(t) = tier
            && t > 4
        {
            return Err(AccountError::InvalidSpeedTier(t));
        }
        self.change_account(
            account,
            |_| Ok(()),
            || Record::SetSpeedTier {
                account: account.0,
                tier,
            },
            |state| state.policy.set_speed_tier(tier, &self.config.rules),
        )
    }

    /// Broadcasts the follower received from the account in the current calendar month
    /// (service accounts count them; others report 0).
    pub fn broadcasts_this_month(
        &self,
        account: AccountId,
        open_id: OpenId,
    ) -> Result<u32, QueryError> {
        let user = self.user_of(account, open_id)?;
        let at = self.config.rules.time_zone.period(self.clock.now_ms());
        self.read_account(account, |state| {
            state.policy.received_this_month(user.0, at)
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    // ----- termination --------------------------------------------------------------------

    /// Terminates an account: deletes its followers (and so their OpenIDs), tags, messages,
    /// inbox entries, schedules and interaction data, and frees its place in its subject's
    /// quota. Its id is never reused. Export first ([`Engine::export`]) to keep a copy.
    ///
    /// Inbox entries are deleted logically: every read skips them from now on, and their
    /// slots are reused as the inbox rings turn. Its sends still in flight stop: chunks not
    /// yet delivered are skipped, and the jobs finish as [`JobStatus::Cancelled`] with
    /// the skipped recipients in [`JobReport::cancelled`].
    ///
    /// [`JobStatus::Cancelled`]: crate::JobStatus::Cancelled
    /// [`JobReport::cancelled`]: crate::JobReport::cancelled
    pub fn terminate_account(&self, account: AccountId) -> Result<(), TerminateError> {
        let gate = self.begin().map_err(TerminateError::Storage)?;
        let mut subjects = self.subjects.write();
        if self.read_account(account, |_| ()).is_none() {
            return Err(TerminateError::UnknownAccount(account));
        }
        let lsn = self.log(|| Record::Terminate { account: account.0 });
        self.apply_terminate(&mut subjects, account);
        drop((subjects, gate));
        self.commit(lsn).map_err(TerminateError::Storage)
    }

    pub(crate) fn apply_terminate(&self, subjects: &mut [Subject], account: AccountId) {
        let (shard, index) = self.account_slot(account);
        let state = self.accounts[shard]
            .write()
            .get_mut(index)
            .and_then(Option::take);
        let Some(mut state) = state else { return };
        // Its messages are deleted: deliveries still to come are skipped.
        self.pool().cancel_account(account);
        // Its follower-order cache went with it: the budget forgets it now, not when idle.
        if let Some((stamp, _)) = &state.follower_order.cache {
            self.follower_orders.release(*stamp);
        }
        let followers = state.graph.current_followers();
        for user in followers.iter() {
            self.reverse.remove(UserId(user), account);
        }
        self.edges.fetch_sub(followers.len(), Ordering::Relaxed);
        self.originals.write().remove_account(account);
        if let Some(subject) = state.profile.subject
            && let Some(s) = subjects.get_mut(subject.0 as usize)
        {
            s.accounts.retain(|a| *a != account);
        }
    }

    /// One logged change of an account's own state: `check` (may refuse), log, `apply`.
    pub(crate) fn change_account<E>(
        &self,
        account: AccountId,
        check: impl FnOnce(&crate::domain::account::AccountState) -> Result<(), E>,
        record: impl FnOnce() -> Record,
        apply: impl FnOnce(&mut crate::domain::account::AccountState),
    ) -> Result<(), E>
    where
        E: From<Unknown> + From<StoreErrorOf>,
    {
        let gate = self.begin().map_err(|e| E::from(StoreErrorOf(e)))?;
        let lsn = self
            .write_account(account, |state| {
                check(state)?;
                let lsn = self.log(record);
                apply(state);
                Ok(lsn)
            })
            .unwrap_or_else(|| Err(E::from(Unknown(account))))?;
        drop(gate);
        self.commit(lsn).map_err(|e| E::from(StoreErrorOf(e)))
    }

    /// Now, from the engine's clock.
    pub fn now_ms(&self) -> Millis {
        self.clock.now_ms()
    }
}

/// A storage failure, converted into each operation's error by `change_account`.
pub(crate) struct StoreErrorOf(pub(crate) crate::error::StorageError);
/// An unknown account, converted into each operation's error by `change_account`.
pub(crate) struct Unknown(pub(crate) AccountId);

impl From<StoreErrorOf> for AccountError {
    fn from(e: StoreErrorOf) -> Self {
        AccountError::Storage(e.0)
    }
}
impl From<Unknown> for AccountError {
    fn from(e: Unknown) -> Self {
        AccountError::UnknownAccount(e.0)
    }
}
