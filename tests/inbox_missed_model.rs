//! Property test of what a lagging fetch reports: random follows, unfollows and sends
//! (each waited for, so every user's delivery order is known) against a model that keeps
//! every delivery. Tiny inboxes and a short history window make evictions and expiry common.
//!
//! For a fetch from cursor 0, `missed` is every evicted entry and `missed_from` names
//! exactly the accounts with an evicted entry still in their history, each with its
//! latest evicted sequence. From any later cursor, `missed` counts only what came after it.

use std::collections::{BTreeMap, HashMap, HashSet};

use herald::*;
use proptest::prelude::*;

const USERS: u32 = 70; // two blocks of 64 users
const ACCOUNTS: u32 = 3;
const INBOX: usize = 4;
const HISTORY: usize = 6;

#[derive(Debug, Clone)]
enum Op {
    Follow(u32, u32),
    Unfollow(u32, u32),
    Send(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let user = prop_oneof![0..4u32, 62..USERS];
    prop_oneof![
        3 => (0..ACCOUNTS, user.clone()).prop_map(|(a, u)| Op::Follow(a, u)),
        1 => (0..ACCOUNTS, user).prop_map(|(a, u)| Op::Unfollow(a, u)),
        4 => (0..ACCOUNTS).prop_map(Op::Send),
    ]
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let engine = Engine::new(EngineConfig {
        threads: 2,
        inbox_capacity: INBOX,
        history_window: HISTORY,
        ..EngineConfig::default()
    });
    engine.add_users(USERS).unwrap();
    for a in 0..ACCOUNTS {
        engine.register_account(&format!("account {a}")).unwrap();
    }
    let mut follows: HashSet<(u32, u32)> = HashSet::new();
    let mut delivered: HashMap<u32, Vec<(u32, u32)>> = HashMap::new();
    let mut sent = [0u32; ACCOUNTS as usize];
    for op in ops {
        match *op {
            Op::Follow(a, u) => {
                let ok = engine.follow(AccountId(a), UserId(u), None).is_ok();
                prop_assert_eq!(ok, follows.insert((a, u)));
            }
            Op::Unfollow(a, u) => {
                let ok = engine.unfollow(AccountId(a), UserId(u)).is_ok();
                prop_assert_eq!(ok, follows.remove(&(a, u)));
            }
            Op::Send(a) => {
                let request = SendRequest::new(Message::Text(format!("{a}")), Audience::All);
                let Ok(handle) = engine.send(AccountId(a), request) else {
                    continue; // nobody follows: refused, nothing sent
                };
                handle.wait();
                sent[a as usize] += 1;
                let seq = sent[a as usize];
                for &(fa, u) in &follows {
                    if fa == a {
                        delivered.entry(u).or_default().push((a, seq));
                    }
                }
            }
        }
    }
    for u in 0..USERS {
        let all = delivered.get(&u).cloned().unwrap_or_default();
        let evicted = &all[..all.len().saturating_sub(INBOX)];
        let mut expected: BTreeMap<u32, u32> = BTreeMap::new();
        for &(a, seq) in evicted {
            let oldest_in_history = sent[a as usize].saturating_sub(HISTORY as u32) + 1;
            if seq >= oldest_in_history {
                expected.insert(a, seq);
            }
        }
        let fetched = engine.fetch(UserId(u), 0, INBOX).unwrap();
        prop_assert_eq!(fetched.missed, evicted.len() as u64, "user {}", u);
        let named: Vec<(u32, u32)> = fetched
            .missed_from
            .iter()
            .map(|(a, s)| (a.0, s.0))
            .collect();
        prop_assert_eq!(
            named,
            expected.into_iter().collect::<Vec<_>>(),
            "user {} received {:?}",
            u,
            all
        );
        let kept: Vec<(u32, u32)> = fetched
            .items
            .iter()
            .map(|i| (i.account.0, i.seq.0))
            .collect();
        prop_assert_eq!(&kept[..], &all[evicted.len()..]);
        for cursor in 1..=all.len() as u64 {
            let fetched = engine.fetch(UserId(u), cursor, INBOX).unwrap();
            prop_assert_eq!(
                fetched.missed,
                (evicted.len() as u64).saturating_sub(cursor)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn lagging_fetches_agree_with_the_model(ops in proptest::collection::vec(op(), 1..120)) {
        run(&ops)?;
    }
}
