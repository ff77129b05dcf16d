//! Interaction: messages followers send to an account, the reply window they open, and
//! keyword auto-replies.
//!
//! An account may reply to a follower only within [`Rules::reply_window_ms`] of that
//! follower's last message. A follower's text message that contains an auto-reply keyword
//! (the first rule, in the order they were set) is answered at once with the rule's reply.

use std::collections::{HashMap, VecDeque};

use crate::clock::Millis;
use crate::config::Rules;
use crate::message::Message;

/// One message a follower sent to an account, as the account sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inbound {
    pub(crate) user: u32,
    pub(crate) at_ms: Millis,
    pub(crate) message: Message,
}

/// An account's interaction state. Written under the account's shard lock.
#[derive(Debug, Default, Clone)]
pub(crate) struct Interaction {
    /// Follower -> time of their last message.
    pub(crate) last_message: HashMap<u32, Millis>,
    /// The latest follower messages, oldest first, at most `inbound_kept_per_account`.
    pub(crate) inbox: VecDeque<Inbound>,
    /// (keyword, reply), in the order they were set.
    pub(crate) auto_replies: Vec<(String, Message)>,
}

impl Interaction {
    pub(crate) fn receive(&mut self, inbound: Inbound, rules: &Rules) {
        let at = self.last_message.entry(inbound.user).or_insert(0);
        *at = (*at).max(inbound.at_ms);
        self.inbox.push_back(inbound);
        while self.inbox.len() > rules.inbound_kept_per_account.max(1) {
            self.inbox.pop_front();
        }
    }

    /// Whether the account may reply to `user` at `now`; `Err` holds the last message's
    /// time (`None`: the user never wrote).
    pub(crate) fn may_reply(
        &self,
        user: u32,
        now: Millis,
        rules: &Rules,
    ) -> Result<(), Option<Millis>> {
        match self.last_message.get(&user) {
            Some(&at) if now >= at && now - at <= rules.reply_window_ms => Ok(()),
            Some(&at) if now < at => Ok(()),
            other => Err(other.copied()),
        }
    }

    /// The reply of the first rule whose keyword `text` contains.
    pub(crate) fn auto_reply(&self, text: &str) -> Option<&Message> {
        self.auto_replies
            .iter()
            .find(|(k, _)| text.contains(k.as_str()))
            .map(|(_, m)| m)
    }

    /// Sets (or replaces) the rule for `keyword`.
    pub(crate) fn set_auto_reply(&mut self, keyword: String, reply: Message) {
        match self.auto_replies.iter_mut().find(|(k, _)| *k == keyword) {
            Some(rule) => rule.1 = reply,
            None => self.auto_replies.push((keyword, reply)),
        }
    }

    pub(crate) fn remove_auto_reply(&mut self, keyword: &str) -> bool {
        let before = self.auto_replies.len();
        self.auto_replies.retain(|(k, _)| k != keyword);
        self.auto_replies.len() != before
    }

    /// Forgets a follower's window (after an unfollow the account cannot reply).
    pub(crate) fn forget(&mut self, user: u32) {
        // Most accounts have no open window: skip hashing the id on every unfollow.
        if !self.last_message.is_empty() {
            self.last_message.remove(&user);
        }
    }
}
