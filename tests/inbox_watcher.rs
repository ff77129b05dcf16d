//! The inbox watcher: told of every chunk once its entries can be fetched, in memory and
//! durable, by the workers and by inline sends; one watcher per engine, none with an
//! external sink.

mod common;

use std::sync::Arc;

use herald::{
    AccountId, Audience, Engine, EngineConfig, InboxWatcher, JobId, Message, SendRequest, UserId,
    WatchError,
};
use parking_lot::Mutex;

/// Records what it was told, and checks each time that the entries are already there.
struct Recorder {
    engine: Mutex<Option<Arc<Engine>>>,
    told: Mutex<Vec<(JobId, Vec<u32>)>>,
    visible: Mutex<bool>,
}

impl InboxWatcher for Recorder {
    fn appended(&self, job: JobId, recipients: &[u32]) {
        if let Some(engine) = self.engine.lock().as_ref() {
            for &user in recipients {
                let fetched = engine.fetch(UserId(user), 0, 32).unwrap();
                let there = fetched
                    .items
                    .iter()
                    .any(|i| i.account == job.account && i.seq == job.seq);
                *self.visible.lock() &= there;
            }
        }
        self.told.lock().push((job, recipients.to_vec()));
    }
}

fn recorder(engine: &Arc<Engine>) -> Arc<Recorder> {
    let recorder = Arc::new(Recorder {
        engine: Mutex::new(Some(Arc::clone(engine))),
        told: Mutex::new(Vec::new()),
        visible: Mutex::new(true),
    });
    engine
        .watch_inboxes(Arc::clone(&recorder) as Arc<dyn InboxWatcher>)
        .unwrap();
    recorder
}

/// Sends to `audience`; every recipient named once across the chunks the watcher saw.
fn check(engine: &Arc<Engine>, recorder: &Recorder, account: AccountId, expect: &[u32]) {
    recorder.told.lock().clear();
    let job = engine
        .send(
            account,
            SendRequest::new(Message::Text("hi".into()), Audience::All),
        )
        .unwrap();
    job.wait();
    let mut told: Vec<u32> = recorder
        .told
        .lock()
        .iter()
        .inspect(|(id, recipients)| {
            assert_eq!(*id, job.id());
            assert!(recipients.windows(2).all(|w| w[0] < w[1]), "ascending");
        })
        .flat_map(|(_, r)| r.iter().copied())
        .collect();
    told.sort_unstable();
    assert_eq!(told, expect);
    assert!(
        *recorder.visible.lock(),
        "told before the entries were there"
    );
}

fn setup(engine: &Engine, users: u32, followers: impl Iterator<Item = u32>) -> AccountId {
    engine.add_users(users).unwrap();
    let account = engine.register_account("watched").unwrap();
    for u in followers {
        engine.follow(account, UserId(u), None).unwrap();
    }
    account
}

#[test]
fn in_memory_every_recipient_is_told_once_after_its_entry_landed() {
    let config = EngineConfig {
        threads: 2,
        // Small sends go inline, large ones to the workers: both are told.
        inline_max_recipients: 10,
        ..EngineConfig::default()
    };
    let engine = Arc::new(Engine::new(config));
    let small = setup(&engine, 300_000, [3, 64, 65].into_iter());
    let big = engine.register_account("big").unwrap();
    let big_followers: Vec<u32> = (0..300_000).step_by(3).collect();
    for &u in &big_followers {
        engine.follow(big, UserId(u), None).unwrap();
    }
    let recorder = recorder(&engine);
    check(&engine, &recorder, small, &[3, 64, 65]);
    check(&engine, &recorder, big, &big_followers);
    assert_eq!(
        engine
            .watch_inboxes(Arc::clone(&recorder) as Arc<dyn InboxWatcher>)
            .unwrap_err(),
        WatchError::AlreadyWatched
    );
    *recorder.engine.lock() = None; // break the cycle engine → watcher → engine
}

#[test]
fn durable_recipients_are_told_too() {
    let dir = common::disk::fresh_dir("inbox-watcher");
    let engine = Arc::new(Engine::open(&dir, EngineConfig::default()).unwrap());
    let account = setup(&engine, 100, (0..100).step_by(7));
    let recorder = recorder(&engine);
    check(
        &engine,
        &recorder,
        account,
        &(0..100).step_by(7).collect::<Vec<_>>(),
    );
    *recorder.engine.lock() = None;
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_engine_with_an_external_sink_has_no_inbox_to_watch() {
    let (sink, _arrived, _go) = common::sink::holding_sink();
    let engine = Engine::builder(EngineConfig::default()).sink(sink).build();
    let recorder = Arc::new(Recorder {
        engine: Mutex::new(None),
        told: Mutex::new(Vec::new()),
        visible: Mutex::new(true),
    });
    assert_eq!(
        engine
            .watch_inboxes(recorder as Arc<dyn InboxWatcher>)
            .unwrap_err(),
        WatchError::NoInbox
    );
}
