//! Originality: a fingerprint of every article body sent, so an article that matches
//! another account's article is recognised.
//!
//! Two bodies match when they are equal after removing whitespace (re-wrapping a text
//! does not make it original). The fingerprint is 64-bit FNV-1a over the remaining
//! characters' UTF-8: stable across builds and restarts, since it is kept in snapshots.
//! The first account to send a body owns it.

use std::collections::HashMap;

use crate::ids::JobId;

/// The fingerprint of an article body.
pub(crate) fn fingerprint(body: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = [0u8; 4];
    for c in body.chars().filter(|c| !c.is_whitespace()) {
        for b in c.encode_utf8(&mut buf).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Fingerprint -> the first article sent with that body. Shared by all accounts.
#[derive(Debug, Default, Clone)]
pub(crate) struct Originals {
    pub(crate) by_print: HashMap<u64, JobId>,
}

impl Originals {
    /// The article of another account that `body` matches, if any.
    pub(crate) fn matching(&self, print: u64, sender: crate::ids::AccountId) -> Option<JobId> {
        self.by_print
            .get(&print)
            .copied()
            .filter(|j| j.account != sender)
    }

    pub(crate) fn insert(&mut self, print: u64, job: JobId) {
        self.by_print.entry(print).or_insert(job);
    }

    pub(crate) fn remove_job(&mut self, job: JobId) {
        self.by_print.retain(|_, j| *j != job);
    }

    pub(crate) fn remove_account(&mut self, account: crate::ids::AccountId) {
        self.by_print.retain(|_, j| j.account != account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_does_not_make_a_text_original() {
        assert_eq!(
            fingerprint("春眠 不觉晓\n处处闻啼鸟"),
            fingerprint("春眠不觉晓处处闻啼鸟")
        );
        assert_ne!(fingerprint("春眠不觉晓"), fingerprint("春眠不觉晚"));
    }
}
