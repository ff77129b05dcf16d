//! Lagging readers: when an inbox overflows, a fetch says how many entries were missed and,
//! per account, the latest missed sequence number; `recover` returns exactly the evicted
//! messages the reader was in the audience of; a message that left its account's history
//! window reads as `Content::Expired`.

use std::sync::Arc;

use herald::{
    AccountId, Audience, Content, Engine, EngineConfig, Fetched, JobStatus, Message, SendRequest,
    Seq, UserId,
};

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

fn engine(inbox_capacity: usize, history_window: usize) -> Engine {
    Engine::new(EngineConfig {
        threads: 2,
        inbox_capacity,
        history_window,
        openid_secret: *b"inbox-lagging-01",
        ..Default::default()
    })
}

/// Sends and waits, so that inboxes receive sends in exactly this order.
fn send(engine: &Engine, account: AccountId, audience: Audience, body: &str) -> Seq {
    let job = engine
        .send(account, SendRequest::new(text(body), audience))
        .unwrap();
    let report = job.wait();
    assert_eq!((report.status, report.errors), (JobStatus::Done, 0));
    job.id().seq
}

/// `(account, seq)` of each fetched item.
fn entries(fetched: &Fetched) -> Vec<(AccountId, u32)> {
    fetched.items.iter().map(|i| (i.account, i.seq.0)).collect()
}

/// Sequence numbers and texts of what `recover` returns.
fn recovered(engine: &Engine, user: UserId, account: AccountId, after: u32) -> Vec<(u32, Message)> {
    engine
        .recover(account, user, Seq(after), engine.config().history_window)
        .unwrap()
        .messages
        .iter()
        .map(|(seq, m)| (seq.0, m.as_ref().clone()))
        .collect()
}

struct World {
    engine: Engine,
    a: AccountId,
    b: AccountId,
    /// Follows both; left out of a's tagged sends.
    u: UserId,
    /// Follows both, in another block of users than `u`; in every send.
    v: UserId,
    /// Follows only b, in the same block of users as `u`.
    w: UserId,
}

/// Ten sends, A and B alternating, two of A's to a tag that leaves out `u`:
///
/// | # | send        | u's inbox index | v's inbox index |
/// |---|-------------|-----------------|-----------------|
/// | 1 | A#1 all     | 0               | 0               |
/// | 2 | B#1 all     | 1               | 1               |
/// | 3 | A#2 tag     | -               | 2               |
/// | 4 | A#3 all     | 2               | 3               |
/// | 5 | B#2 all     | 3               | 4               |
/// | 6 | A#4 tag     | -               | 5               |
/// | 7 | A#5 all     | 4               | 6               |
/// | 8 | B#3 all     | 5               | 7               |
/// | 9 | A#6 all     | 6               | 8               |
/// |10 | B#4 all     | 7               | 9               |
fn world(inbox_capacity: usize) -> World {
    let engine = engine(inbox_capacity, 64);
    engine.add_users(200).unwrap();
    let (u, v, w) = (UserId(0), UserId(130), UserId(1));
    let a = engine.register_account("alpha").unwrap();
    let b = engine.register_account("beta").unwrap();
    engine.follow_many(a, &[u, v]).unwrap();
    engine.follow_many(b, &[u, v, w]).unwrap();
    let tag = engine.create_tag(a, "without u").unwrap();
    engine
        .tag_followers(a, tag, &[engine.open_id(a, v).unwrap()])
        .unwrap();
    let script = [
        (a, Audience::All),
        (b, Audience::All),
        (a, Audience::Tag(tag)),
        (a, Audience::All),
        (b, Audience::All),
        (a, Audience::Tag(tag)),
        (a, Audience::All),
        (b, Audience::All),
        (a, Audience::All),
        (b, Audience::All),
    ];
    let mut seqs = [0u32; 2];
    for (account, audience) in script {
        let expected = &mut seqs[account.0 as usize];
        *expected += 1;
        let body = format!("{} #{}", account.0, *expected);
        assert_eq!(send(&engine, account, audience, &body), Seq(*expected));
    }
    World {
        engine,
        a,
        b,
        u,
        v,
        w,
    }
}

fn message(account: AccountId, seq: u32) -> Message {
    text(&format!("{} #{seq}", account.0))
}

#[test]
fn a_fetch_from_the_start_reports_what_was_evicted() {
    let World {
        engine,
        a,
        b,
        u,
        v,
        w,
    } = world(4);

    // v received all 10 sends; the 4 newest are kept.
    let fetched = engine.fetch(v, 0, 4).unwrap();
    assert_eq!(entries(&fetched), [(a, 5), (b, 3), (a, 6), (b, 4)]);
    assert_eq!(
        fetched.items.iter().map(|i| i.cursor).collect::<Vec<_>>(),
        [6, 7, 8, 9]
    );
    assert_eq!((fetched.missed, fetched.next_cursor), (6, 10));
    assert_eq!(fetched.missed_from, [(a, Seq(4)), (b, Seq(2))]);
    for item in &fetched.items {
        assert_eq!(
            item.content,
            Content::Message(Arc::new(message(item.account, item.seq.0)))
        );
    }

    // u received 8 (not A#2 and A#4); it missed A#1, B#1, A#3, B#2.
    let fetched = engine.fetch(u, 0, 4).unwrap();
    assert_eq!(entries(&fetched), [(a, 5), (b, 3), (a, 6), (b, 4)]);
    assert_eq!((fetched.missed, fetched.next_cursor), (4, 8));
    assert_eq!(fetched.missed_from, [(a, Seq(3)), (b, Seq(2))]);

    // w, in u's block of users, received B's 4 sends and lost nothing.
    let fetched = engine.fetch(w, 0, 4).unwrap();
    assert_eq!(entries(&fetched), [(b, 1), (b, 2), (b, 3), (b, 4)]);
    assert_eq!((fetched.missed, fetched.next_cursor), (0, 4));
    assert!(fetched.missed_from.is_empty());
}

#[test]
fn a_fetch_from_a_later_cursor_counts_only_what_it_missed() {
    let World {
        engine, a, b, v, ..
    } = world(4);
    // The reader had read up to index 4 (B#2): it missed only index 5 (A#4).
    let fetched = engine.fetch(v, 5, 4).unwrap();
    assert_eq!((fetched.missed, fetched.next_cursor), (1, 10));
    // B is named too (its B#2 was evicted, after this reader read it); recovering after
    // what the reader saw of each account returns exactly the one missed message.
    assert_eq!(fetched.missed_from, [(a, Seq(4)), (b, Seq(2))]);
    let up_to = |account: AccountId, after: u32, last: Seq| -> Vec<u32> {
        recovered(&engine, v, account, after)
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| *s <= last.0)
            .collect()
    };
    assert_eq!(up_to(a, 3, Seq(4)), [4]);
    assert!(up_to(b, 2, Seq(2)).is_empty());
    assert_eq!(entries(&fetched), [(a, 5), (b, 3), (a, 6), (b, 4)]);
    // A reader that kept up misses nothing, and pages with small limits.
    let fetched = engine.fetch(v, 6, 2).unwrap();
    assert_eq!((fetched.missed, fetched.next_cursor), (0, 8));
    assert!(fetched.missed_from.is_empty());
    assert_eq!(entries(&fetched), [(a, 5), (b, 3)]);
    let fetched = engine.fetch(v, fetched.next_cursor, 4).unwrap();
    assert_eq!(entries(&fetched), [(a, 6), (b, 4)]);
    assert_eq!(fetched.next_cursor, 10);
    // At the end: nothing new, and the cursor stays.
    let fetched = engine.fetch(v, 10, 4).unwrap();
    assert!(fetched.items.is_empty());
    assert_eq!((fetched.missed, fetched.next_cursor), (0, 10));
    // A small limit from the start still reports everything missed before the first item.
    let fetched = engine.fetch(v, 0, 1).unwrap();
    assert_eq!(entries(&fetched), [(a, 5)]);
    assert_eq!((fetched.missed, fetched.next_cursor), (6, 7));
    assert_eq!(fetched.missed_from, [(a, Seq(4)), (b, Seq(2))]);
}

#[test]
fn recover_returns_exactly_the_evicted_messages_of_the_audience() {
    let World {
        engine, a, u, v, ..
    } = world(4);
    for user in [u, v] {
        let fetched = engine.fetch(user, 0, 4).unwrap();
        // What the user's inbox received and then lost, per account, oldest first.
        let delivered_total = fetched.next_cursor;
        let kept = entries(&fetched);
        for &(account, up_to) in &fetched.missed_from {
            let first_kept = kept
                .iter()
                .find(|(acc, _)| *acc == account)
                .map(|(_, s)| *s);
            let got: Vec<(u32, Message)> = recovered(&engine, user, account, 0)
                .into_iter()
                .filter(|(seq, _)| *seq <= up_to.0)
                .collect();
            // u was left out of A#2 and A#4; v was in every send.
            let expected: Vec<u32> = match (user == u, account == a) {
                (true, true) => vec![1, 3],
                (true, false) => vec![1, 2],
                (false, true) => vec![1, 2, 3, 4],
                (false, false) => vec![1, 2],
            };
            assert_eq!(
                got,
                expected
                    .iter()
                    .map(|&s| (s, message(account, s)))
                    .collect::<Vec<_>>(),
                "{user} {account}"
            );
            // The recovered and the kept entries join without a gap or an overlap.
            assert!(first_kept.is_none_or(|k| k > up_to.0));
        }
        let recovered_count: usize = fetched
            .missed_from
            .iter()
            .map(|&(account, up_to)| {
                recovered(&engine, user, account, 0)
                    .iter()
                    .filter(|(seq, _)| *seq <= up_to.0)
                    .count()
            })
            .sum();
        assert_eq!(recovered_count as u64, fetched.missed);
        assert_eq!(delivered_total, fetched.missed + kept.len() as u64);
    }
    // Recovering after a sequence number skips what came before it.
    assert_eq!(
        recovered(&engine, u, a, 3)
            .iter()
            .map(|(s, _)| *s)
            .collect::<Vec<_>>(),
        [5, 6]
    );
    assert_eq!(
        engine.recover(a, u, Seq(0), 1).unwrap().messages[0].0,
        Seq(1)
    );
    // A user never in an account's audience recovers nothing from it.
    let stranger = UserId(199);
    assert!(recovered(&engine, stranger, a, 0).is_empty());
    assert_eq!(
        engine
            .recover(a, stranger, Seq(0), 10)
            .unwrap()
            .oldest_available,
        Some(Seq(1))
    );
}

#[test]
fn messages_past_the_history_window_read_as_expired() {
    // Inboxes keep 8 entries, accounts keep their last 3 sends.
    let engine = engine(8, 3);
    engine.add_users(10).unwrap();
    let a = engine.register_account("alpha").unwrap();
    let b = engine.register_account("beta").unwrap();
    let user = UserId(4);
    engine.follow(a, user, None).unwrap();
    engine.follow(b, user, None).unwrap();
    for n in 1..=5 {
        send(&engine, a, Audience::All, &format!("{} #{n}", a.0));
    }
    send(&engine, b, Audience::All, &format!("{} #1", b.0));
    let fetched = engine.fetch(user, 0, 8).unwrap();
    assert_eq!(fetched.missed, 0);
    let contents: Vec<(AccountId, u32, Content)> = fetched
        .items
        .iter()
        .map(|i| (i.account, i.seq.0, i.content.clone()))
        .collect();
    let live = |account, seq| Content::Message(Arc::new(message(account, seq)));
    assert_eq!(
        contents,
        [
            (a, 1, Content::Expired),
            (a, 2, Content::Expired),
            (a, 3, live(a, 3)),
            (a, 4, live(a, 4)),
            (a, 5, live(a, 5)),
            (b, 1, live(b, 1)),
        ]
    );
    let recovered = engine.recover(a, user, Seq(0), 3).unwrap();
    assert_eq!(recovered.oldest_available, Some(Seq(3)));
    assert_eq!(
        recovered
            .messages
            .iter()
            .map(|(s, m)| (s.0, m.as_ref().clone()))
            .collect::<Vec<_>>(),
        [(3, message(a, 3)), (4, message(a, 4)), (5, message(a, 5))]
    );
    assert!(
        engine
            .job(herald::JobId {
                account: a,
                seq: Seq(2)
            })
            .is_none()
    );
    assert!(
        engine
            .job(herald::JobId {
                account: a,
                seq: Seq(3)
            })
            .is_some()
    );
}

#[test]
fn a_reader_told_of_evicted_and_expired_messages_learns_where_history_starts() {
    // Inboxes keep 2 entries, accounts keep their last 3 sends: of 5 sends, 3 are evicted
    // and 2 of those are gone from the history as well.
    let engine = engine(2, 3);
    engine.add_users(3).unwrap();
    let a = engine.register_account("alpha").unwrap();
    let user = UserId(2);
    engine.follow(a, user, None).unwrap();
    for n in 1..=5 {
        send(&engine, a, Audience::All, &format!("{} #{n}", a.0));
    }
    let fetched = engine.fetch(user, 0, 2).unwrap();
    assert_eq!(entries(&fetched), [(a, 4), (a, 5)]);
    assert_eq!(
        (fetched.missed, fetched.missed_from.clone()),
        (3, vec![(a, Seq(3))])
    );
    let recovered = engine.recover(a, user, Seq(0), 3).unwrap();
    assert_eq!(recovered.oldest_available, Some(Seq(3)));
    assert_eq!(recovered.messages[0].0, Seq(3));
}

/// Regression (fixed): unfollowing an account used to erase the inbox's eviction records
/// of that account, but not the entries' share of `missed`. A reader who fell behind and
/// then unfollowed was told it missed 4 entries while `missed_from` only accounted for B's 2,
/// though the messages are still recoverable (`recover` uses the audience fixed at
/// acceptance). `missed_from` is now derived from the histories; an unfollowed account is a
/// candidate through the reverse index's note of the unfollow.
#[test]
fn regression_unfollowing_drops_the_accounts_missed_entries_from_missed_from() {
    let World {
        engine, a, b, u, ..
    } = world(4);
    let before = engine.fetch(u, 0, 4).unwrap();
    assert_eq!(before.missed_from, [(a, Seq(3)), (b, Seq(2))]);
    engine.unfollow(a, u).unwrap();
    // The inbox itself is unchanged by the unfollow...
    let after = engine.fetch(u, 0, 4).unwrap();
    assert_eq!(entries(&after), entries(&before));
    assert_eq!(after.missed, 4);
    // ...and A's evicted messages can still be recovered...
    assert_eq!(
        recovered(&engine, u, a, 0)
            .iter()
            .map(|(s, _)| *s)
            .collect::<Vec<_>>(),
        [1, 3, 5, 6]
    );
    // ...but the fetch no longer says where to recover them up to.
    assert_eq!(
        after.missed_from, before.missed_from,
        "missed == 4 but missed_from no longer accounts for A's 2 missed entries"
    );
}
