//! Interaction: followers write to an account; the account replies within the window
//! their last message opened; keyword auto-replies answer at once.

use crate::clock::Millis;
use crate::domain::interaction::Inbound;
use crate::domain::send::{SendPurpose, SendRequest};
use crate::domain::sent::JobHandle;
use crate::engine::Engine;
use crate::engine::accounts::{StoreErrorOf, Unknown};
use crate::engine::valid_name;
use crate::error::{AccountError, InteractError, QueryError, SendError};
use crate::ids::OpenId;
use crate::ids::{AccountId, UserId};
use crate::journal::Record;
use crate::message::Message;

/// A follower's message as the account sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InboundMessage {
    /// The follower who wrote, as this account sees them.
    pub open_id: OpenId,
    /// When they wrote, in ms since the epoch (the engine's clock).
    pub at_ms: Millis,
    /// What they wrote.
    pub message: Message,
}

/// # Platform rules: follower messages, replies, auto-replies
impl Engine {
    /// `user` sends `message` (text, image, voice or video) to `account`, which they follow.
    /// Opens (or extends) the account's reply window for them. If the message is a text
    /// containing an auto-reply keyword, the reply is sent at once and its job returned.
    pub fn message_account(
        &self,
        user: UserId,
        account: AccountId,
        message: Message,
    ) -> Result<Option<JobHandle>, InteractError> {
        if !self.user_exists(user) {
            return Err(InteractError::UnknownUser(user));
        }
        if matches!(message, Message::Article(_)) {
            return Err(InteractError::UnsupportedKind);
        }
        message.validate(&self.config.limits)?;
        let now = self.clock.now_ms();
        let gate = self.begin().map_err(InteractError::Storage)?;
        let (auto, lsn) = self
            .write_account(account, |state| {
                if !state.graph.is_follower(user.0) {
                    return Err(InteractError::NotFollowing { user, account });
                }
                let lsn = self.log(|| Record::Inbound {
                    account: account.0,
                    user: user.0,
                    at_ms: now,
                    message: message.clone(),
                });
                let auto = match &message {
                    Message::Text(text) => state.interaction.auto_reply(text).cloned(),
                    _ => None,
                };
                state.interaction.receive(
                    Inbound {
                        user: user.0,
                        at_ms: now,
                        message,
                    },
                    &self.config.rules,
                );
                Ok((auto, lsn))
            })
            .unwrap_or(Err(InteractError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(InteractError::Storage)?;
        // The message is taken; an auto-reply the rules refuse (e.g. a ban) is not sent.
        Ok(auto.and_then(|reply| {
            self.submit(
                account,
                SendRequest::new(reply, crate::Audience::All),
                SendPurpose::Reply,
                Some(user),
                None,
            )
            .ok()
        }))
    }

    /// Replies to one follower; allowed within
    /// [`Rules::reply_window_ms`](crate::Rules::reply_window_ms) of their last message.
    pub fn reply(
        &self,
        account: AccountId,
        open_id: OpenId,
        message: Message,
    ) -> Result<JobHandle, SendError> {
        self.send_to_one(account, open_id, message, SendPurpose::Reply)
    }

    /// The latest follower messages the account keeps, oldest first, at most `limit`.
    pub fn follower_messages(
        &self,
        account: AccountId,
        limit: usize,
    ) -> Result<Vec<InboundMessage>, QueryError> {
        self.read_account(account, |state| {
            let inbox = &state.interaction.inbox;
            inbox
                .iter()
                .skip(inbox.len().saturating_sub(limit))
                .map(|m| InboundMessage {
                    open_id: self.codec.encode(account, UserId(m.user)),
                    at_ms: m.at_ms,
                    message: m.message.clone(),
                })
                .collect()
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    /// Sets the auto-reply for `keyword` (replacing an earlier one for the same keyword).
    /// A follower's text containing the keyword is answered with `reply`.
    pub fn set_auto_reply(
        &self,
        account: AccountId,
        keyword: &str,
        reply: Message,
    ) -> Result<(), AccountError> {
        let rules = &self.config.rules;
        if !valid_name(keyword, rules.keyword_max_chars) {
            return Err(AccountError::InvalidKeyword {
                max: rules.keyword_max_chars,
            });
        }
        reply.validate(&self.config.limits)?;
        self.change_account(
            account,
            |state| {
                let rules_now = &state.interaction.auto_replies;
                if rules_now.len() >= rules.auto_replies_per_account
                    && !rules_now.iter().any(|(k, _)| k == keyword)
                {
                    return Err(AccountError::TooManyAutoReplies {
                        max: rules.auto_replies_per_account,
                    });
                }
                Ok(())
            },
            || Record::SetAutoReply {
                account: account.0,
                keyword: keyword.to_owned(),
                reply: reply.clone(),
            },
            |state| {
                state
                    .interaction
                    .set_auto_reply(keyword.to_owned(), reply.clone())
            },
        )
    }

    /// Removes the auto-reply for `keyword`.
    pub fn remove_auto_reply(&self, account: AccountId, keyword: &str) -> Result<(), AccountError> {
        self.change_account(
            account,
            |state| {
                if state
                    .interaction
                    .auto_replies
                    .iter()
                    .any(|(k, _)| k == keyword)
                {
                    Ok(())
                } else {
                    Err(AccountError::UnknownKeyword(keyword.to_owned()))
                }
            },
            || Record::RemoveAutoReply {
                account: account.0,
                keyword: keyword.to_owned(),
            },
            |state| {
                state.interaction.remove_auto_reply(keyword);
            },
        )
    }

    /// The account's auto-reply rules, in the order they apply.
    pub fn auto_replies(&self, account: AccountId) -> Result<Vec<(String, Message)>, QueryError> {
        self.read_account(account, |state| state.interaction.auto_replies.clone())
            .ok_or(QueryError::UnknownAccount(account))
    }
}

impl From<StoreErrorOf> for InteractError {
    fn from(e: StoreErrorOf) -> Self {
        InteractError::Storage(e.0)
    }
}
impl From<Unknown> for InteractError {
    fn from(e: Unknown) -> Self {
        InteractError::UnknownAccount(e.0)
    }
}
