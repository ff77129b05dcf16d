//! Fan-out fairness and isolation: a small send is not stuck behind a huge one, a slow,
//! failing or panicking sink batch is counted and reported without stopping other accounts'
//! jobs, and the sink sees one ascending, non-overlapping batch per chunk, never one call per
//! recipient.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use herald::{
    AccountId, Audience, Batch, Engine, EngineConfig, JobHandle, JobId, JobReport, JobStatus,
    Message, Reports, SendRequest, Sink, SinkError, UserId,
};

fn send_all(engine: &Engine, account: AccountId, text: &str) -> JobHandle {
    engine
        .send(
            account,
            SendRequest::new(Message::Text(text.into()), Audience::All),
        )
        .unwrap()
}

/// The reports received so far, in the order they were broadcast.
fn drain(reports: &mut Reports) -> Vec<JobReport> {
    let mut out = Vec::new();
    while let Ok(Some(r)) = reports.try_next() {
        out.push(r);
    }
    out
}

fn position(reports: &[JobReport], job: JobId) -> usize {
    reports
        .iter()
        .position(|r| r.job == job)
        .unwrap_or_else(|| panic!("{job} was never reported: {reports:?}"))
}

/// Through the pool: small sends here are not delivered by their caller, so this is about
/// the small-job queue and the yield points.
#[test]
fn a_small_send_finishes_while_a_huge_one_is_still_running() {
    const BIG: u32 = 5_000_000;
    const USERS: u32 = 5_100_000;
    let engine = Engine::new(EngineConfig {
        threads: 2,
        inbox_capacity: 2,
        inline_max_recipients: 0,
        openid_secret: *b"fairness-test-01",
        ..Default::default()
    });
    engine.add_users(USERS).unwrap();
    let big = engine.register_account("national broadcaster").unwrap();
    let small = engine.register_account("village notices").unwrap();
    let all: Vec<UserId> = (0..BIG).map(UserId).collect();
    engine.follow_many(big, &all).unwrap();
    // 100 followers spread over the whole id space, most of them also followers of `big`.
    let spread: Vec<UserId> = (0..100).map(|i| UserId(i * (USERS / 100) + 17)).collect();
    engine.follow_many(small, &spread).unwrap();
    let mut reports = engine.reports();

    // If the test thread is descheduled between the two sends, the big job may be nearly
    // done before the small one is even accepted: such a round proves nothing, so retry.
    for attempt in 0..5 {
        let b = send_all(&engine, big, "evening news");
        let a = send_all(&engine, small, "water cut tomorrow");
        let b_at_accept = b.report();
        if b_at_accept.sent > u64::from(BIG) / 2 {
            eprintln!("attempt {attempt}: big job half done before the small one was accepted");
            b.wait();
            engine.wait_idle().unwrap();
            drain(&mut reports);
            continue;
        }
        let a_report = a.wait();
        let b_status = b.status();
        let b_sent = b.report().sent;
        let b_report = b.wait();
        engine.wait_idle().unwrap();
        eprintln!(
            "small job done after {} of {BIG} big deliveries ({} at its acceptance)",
            b_sent, b_at_accept.sent
        );
        assert_eq!(
            (a_report.status, a_report.total, a_report.sent),
            (JobStatus::Done, 100, 100)
        );
        assert!(
            !b_status.is_finished() && b_sent < u64::from(BIG),
            "the small job finished only after the big one: {b_status:?}, {b_sent} sent"
        );
        assert_eq!(
            (b_report.status, b_report.total, b_report.sent),
            (JobStatus::Done, u64::from(BIG), u64::from(BIG))
        );
        let order = drain(&mut reports);
        assert!(
            position(&order, a.id()) < position(&order, b.id()),
            "reports() gave the big job's report first: {order:?}"
        );
        // Both messages reached a follower of both accounts.
        let inbox = engine.fetch(spread[3], 0, 2).unwrap();
        let got: BTreeSet<JobId> = inbox
            .items
            .iter()
            .map(|i| JobId {
                account: i.account,
                seq: i.seq,
            })
            .collect();
        assert_eq!(got, BTreeSet::from([a.id(), b.id()]));
        return;
    }
    panic!("five attempts in a row could not start the small send while the big one ran");
}

// ----- external sinks ---------------------------------------------------------------------

/// What the scripted sink does with one account's batches.
#[derive(Debug, Clone, Copy)]
enum Behaviour {
    Deliver,
    /// Sleep this long per batch, then deliver.
    Slow(Duration),
    /// Refuse every attempt.
    Fail,
    /// Panic on every attempt.
    Panic,
    /// Refuse the first attempt of each batch, accept the retry.
    FailFirstAttempt,
}

#[derive(Debug, Clone)]
struct Call {
    job: JobId,
    recipients: Vec<u32>,
    attempt: u32,
    message: Message,
    /// Whether a fan-out worker made the call.
    on_worker: bool,
}

/// A sink that behaves per account as scripted and records every call.
#[derive(Default)]
struct ScriptedSink {
    script: BTreeMap<AccountId, Behaviour>,
    calls: Mutex<Vec<Call>>,
}

impl ScriptedSink {
    fn new(script: impl IntoIterator<Item = (AccountId, Behaviour)>) -> Arc<Self> {
        Arc::new(ScriptedSink {
            script: script.into_iter().collect(),
            calls: Mutex::default(),
        })
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl Sink for ScriptedSink {
    fn deliver(&self, batch: &Batch<'_>) -> Result<(), SinkError> {
        self.calls.lock().unwrap().push(Call {
            job: batch.job,
            recipients: batch.recipients.to_vec(),
            attempt: batch.attempt,
            message: batch.message.as_ref().clone(),
            on_worker: std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("herald-fanout")),
        });
        assert_eq!(batch.users().len(), batch.recipients.len());
        match self
            .script
            .get(&batch.job.account)
            .copied()
            .unwrap_or(Behaviour::Deliver)
        {
            Behaviour::Deliver => Ok(()),
            Behaviour::Slow(pause) => {
                std::thread::sleep(pause);
                Ok(())
            }
            Behaviour::Fail => Err(SinkError(format!("gateway down for {}", batch.job))),
            Behaviour::Panic => panic!("scripted sink panics for {}", batch.job),
            Behaviour::FailFirstAttempt if batch.attempt == 0 => Err(SinkError("timeout".into())),
            Behaviour::FailFirstAttempt => Ok(()),
        }
    }
}

/// Checks the batches of every job: recipients ascending; first attempts of one job never
/// share a recipient and together cover exactly `audiences[job]`; a retry repeats a first
/// attempt's batch exactly.
fn check_batches(calls: &[Call], audiences: &BTreeMap<JobId, BTreeSet<u32>>) {
    let mut covered: BTreeMap<JobId, Vec<u32>> = BTreeMap::new();
    let mut firsts: BTreeMap<JobId, Vec<Vec<u32>>> = BTreeMap::new();
    for call in calls {
        assert!(!call.recipients.is_empty(), "empty batch for {}", call.job);
        assert!(
            call.recipients.windows(2).all(|w| w[0] < w[1]),
            "batch of {} not strictly ascending",
            call.job
        );
        if call.attempt == 0 {
            covered
                .entry(call.job)
                .or_default()
                .extend(&call.recipients);
            firsts
                .entry(call.job)
                .or_default()
                .push(call.recipients.clone());
        }
    }
    for call in calls.iter().filter(|c| c.attempt > 0) {
        assert!(
            firsts[&call.job].contains(&call.recipients),
            "retry {} of {} is not a repeat of a first attempt",
            call.attempt,
            call.job
        );
    }
    for (job, audience) in audiences {
        let got = covered.remove(job).unwrap_or_default();
        let distinct: BTreeSet<u32> = got.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            got.len(),
            "{job}: a recipient in two batches"
        );
        assert_eq!(
            &distinct, audience,
            "{job}: batches do not cover the audience"
        );
    }
    assert!(covered.is_empty(), "batches of unknown jobs: {covered:?}");
}

/// Keeps the scripted panics out of the test output; other panics print as usual.
fn quiet_scripted_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let scripted = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.starts_with("scripted sink panics"));
        if !scripted {
            default(info);
        }
    }));
}

#[test]
fn failing_panicking_and_slow_sink_batches_are_counted_and_do_not_stop_other_accounts() {
    quiet_scripted_panics();
    const KEYS: u32 = 40;
    let (slow, failing, panicking, flaky, normal) = (
        AccountId(0),
        AccountId(1),
        AccountId(2),
        AccountId(3),
        AccountId(4),
    );
    let sink = ScriptedSink::new([
        (slow, Behaviour::Slow(Duration::from_millis(15))),
        (failing, Behaviour::Fail),
        (panicking, Behaviour::Panic),
        (flaky, Behaviour::FailFirstAttempt),
    ]);
    let engine = Engine::builder(EngineConfig {
        threads: 2,
        // One batch per block of 65,536 ids, even for a single recipient.
        chunk_target: 1,
        sink_retries: 2,
        openid_secret: *b"fairness-test-02",
        ..Default::default()
    })
    .sink(sink.clone())
    .build();
    engine.add_users(KEYS * 65_536).unwrap();
    let mut audiences: BTreeMap<AccountId, BTreeSet<u32>> = BTreeMap::new();
    for a in 0..5 {
        let account = engine.register_account(&format!("account {a}")).unwrap();
        assert_eq!(account, AccountId(a));
        // The slow, failing and panicking accounts have one follower in each of 40 blocks
        // (40 batches); the others a few followers in one block (one batch).
        let users: BTreeSet<u32> = if a < 3 {
            (0..KEYS).map(|k| k * 65_536 + a).collect()
        } else {
            (0..10).map(|i| 1_000 * i + a).collect()
        };
        let ids: Vec<UserId> = users.iter().map(|&u| UserId(u)).collect();
        engine.follow_many(account, &ids).unwrap();
        audiences.insert(account, users);
    }
    let mut reports = engine.reports();

    let started = Instant::now();
    let slow_job = send_all(&engine, slow, "slow");
    let failing_job = send_all(&engine, failing, "failing");
    let panicking_job = send_all(&engine, panicking, "panicking");
    let flaky_job = send_all(&engine, flaky, "flaky");
    let normal_job = send_all(&engine, normal, "normal");

    // The one-batch jobs finish while the slow job (40 batches of 15 ms on 2 workers, at
    // least 300 ms) is still running.
    let normal_report = normal_job.wait_timeout(Duration::from_secs(10)).unwrap();
    let flaky_report = flaky_job.wait_timeout(Duration::from_secs(10)).unwrap();
    let slow_status = slow_job.status();
    eprintln!("one-batch jobs done after {:?}", started.elapsed());
    assert!(
        !slow_status.is_finished(),
        "a one-batch job waited for the whole slow job"
    );
    assert_eq!(
        (
            normal_report.status,
            normal_report.sent,
            normal_report.errors
        ),
        (JobStatus::Done, 10, 0)
    );
    // A batch refused once and accepted on retry counts as sent.
    assert_eq!(
        (flaky_report.status, flaky_report.sent, flaky_report.errors),
        (JobStatus::Done, 10, 0)
    );
    assert_eq!(flaky_report.last_error, None);

    let failing_report = failing_job.wait();
    assert_eq!(
        failing_report.status,
        JobStatus::Failed,
        "{failing_report:?}"
    );
    assert_eq!(
        (
            failing_report.total,
            failing_report.sent,
            failing_report.errors
        ),
        (u64::from(KEYS), 0, u64::from(KEYS))
    );
    assert!(
        failing_report
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("gateway down")),
        "{failing_report:?}"
    );
    let panicking_report = panicking_job.wait();
    assert_eq!(
        panicking_report.status,
        JobStatus::Failed,
        "{panicking_report:?}"
    );
    assert_eq!(
        (
            panicking_report.total,
            panicking_report.sent,
            panicking_report.errors
        ),
        (u64::from(KEYS), 0, u64::from(KEYS))
    );
    assert!(
        panicking_report.last_error.is_some(),
        "{panicking_report:?}"
    );

    let slow_report = slow_job.wait();
    assert_eq!(
        (slow_report.status, slow_report.sent, slow_report.errors),
        (JobStatus::Done, u64::from(KEYS), 0)
    );

    // The pool survived the panics: a new send still goes through.
    let after = send_all(&engine, normal, "after the panics")
        .wait_timeout(Duration::from_secs(10))
        .expect("the pool stopped working after a sink panicked");
    assert_eq!((after.status, after.sent), (JobStatus::Done, 10));
    engine.wait_idle().unwrap();
    assert_eq!(engine.unfinished_jobs(), 0);

    // Every job reported once, with the same report its handle gives.
    let broadcast = drain(&mut reports);
    assert_eq!(broadcast.len(), 6, "{broadcast:?}");
    for job in [
        &slow_job,
        &failing_job,
        &panicking_job,
        &flaky_job,
        &normal_job,
    ] {
        assert_eq!(broadcast[position(&broadcast, job.id())], job.report());
    }

    // Attempts: a failing or panicking batch is tried 1 + sink_retries times, a flaky one
    // twice, the others once.
    let calls = sink.calls();
    let attempts = |job: JobId| {
        let mut per_attempt = BTreeMap::new();
        for c in calls.iter().filter(|c| c.job == job) {
            *per_attempt.entry(c.attempt).or_insert(0) += 1;
        }
        per_attempt
    };
    assert_eq!(
        attempts(failing_job.id()),
        BTreeMap::from([(0, 40), (1, 40), (2, 40)])
    );
    assert_eq!(
        attempts(panicking_job.id()),
        BTreeMap::from([(0, 40), (1, 40), (2, 40)])
    );
    assert_eq!(attempts(flaky_job.id()), BTreeMap::from([(0, 1), (1, 1)]));
    assert_eq!(attempts(slow_job.id()), BTreeMap::from([(0, 40)]));
    assert_eq!(attempts(normal_job.id()), BTreeMap::from([(0, 1)]));
    for c in &calls {
        let expected = if c.job.seq.0 == 2 {
            "after the panics"
        } else {
            ["slow", "failing", "panicking", "flaky", "normal"][c.job.account.0 as usize]
        };
        assert_eq!(c.message, Message::Text(expected.into()));
    }
    let mut by_job: BTreeMap<JobId, BTreeSet<u32>> = BTreeMap::new();
    for job in [
        &slow_job,
        &failing_job,
        &panicking_job,
        &flaky_job,
        &normal_job,
    ] {
        by_job.insert(job.id(), audiences[&job.id().account].clone());
    }
    by_job.insert(
        JobId {
            account: normal,
            seq: herald::Seq(2),
        },
        audiences[&normal].clone(),
    );
    check_batches(&calls, &by_job);
}

#[test]
fn with_default_chunking_a_million_recipients_arrive_in_few_batches() {
    let sink = ScriptedSink::new([]);
    let engine = Engine::builder(EngineConfig {
        threads: 2,
        openid_secret: *b"fairness-test-03",
        ..Default::default()
    })
    .sink(sink.clone())
    .build();
    let chunk_target = engine.config().chunk_target;
    engine.add_users(3_000_000).unwrap();
    let dense = engine.register_account("dense").unwrap();
    let sparse = engine.register_account("sparse").unwrap();
    let scattered = engine.register_account("scattered").unwrap();
    let dense_users: Vec<UserId> = (0..1_000_000).map(UserId).collect();
    // Every third user of 3,000,000: 1,000,000 followers, about 21,845 per block.
    let sparse_users: Vec<UserId> = (0..1_000_000).map(|i| UserId(3 * i + 1)).collect();
    // 100 followers spread over 46 blocks: together far fewer than a chunk's target.
    let scattered_users: Vec<UserId> = (0..100).map(|i| UserId(i * 29_989)).collect();
    engine.follow_many(dense, &dense_users).unwrap();
    engine.follow_many(sparse, &sparse_users).unwrap();
    engine.follow_many(scattered, &scattered_users).unwrap();

    let jobs = [
        send_all(&engine, dense, "dense"),
        send_all(&engine, sparse, "sparse"),
        send_all(&engine, scattered, "scattered"),
    ];
    engine.wait_idle().unwrap();
    for job in &jobs {
        let r = job.report();
        assert_eq!((r.status, r.sent, r.errors), (JobStatus::Done, r.total, 0));
    }
    let calls = sink.calls();
    let batches = |job: &JobHandle| calls.iter().filter(|c| c.job == job.id()).count();
    let (n_dense, n_sparse, n_scattered) =
        (batches(&jobs[0]), batches(&jobs[1]), batches(&jobs[2]));
    eprintln!("batches: dense {n_dense}, sparse {n_sparse}, scattered {n_scattered}");
    // One call per chunk: more than one, and never anywhere near one per recipient.
    let most = 1_000_000 / chunk_target as usize + 1;
    assert!(
        n_dense > 1 && n_dense <= most,
        "{n_dense} batches for 1,000,000 dense recipients"
    );
    assert!(
        n_sparse > 1 && n_sparse <= most,
        "{n_sparse} batches for 1,000,000 sparse recipients"
    );
    // Sparse blocks are coalesced: 100 recipients in 100 blocks make one batch.
    assert_eq!(
        n_scattered, 1,
        "100 scattered recipients in {n_scattered} batches"
    );
    for c in &calls {
        let n = c.recipients.len();
        assert!(
            c.job != jobs[0].id() || n <= 65_536,
            "a dense batch spans more than one block: {n}"
        );
    }
    let audiences = BTreeMap::from([
        (jobs[0].id(), dense_users.iter().map(|u| u.0).collect()),
        (jobs[1].id(), sparse_users.iter().map(|u| u.0).collect()),
        (jobs[2].id(), scattered_users.iter().map(|u| u.0).collect()),
    ]);
    check_batches(&calls, &audiences);
}

#[test]
fn an_async_waiter_sees_the_same_final_report() {
    let sink = ScriptedSink::new([(AccountId(0), Behaviour::Slow(Duration::from_millis(5)))]);
    let engine = Engine::builder(EngineConfig {
        threads: 2,
        chunk_target: 1,
        openid_secret: *b"fairness-test-04",
        ..Default::default()
    })
    .sink(sink)
    .build();
    engine.add_users(10 * 65_536).unwrap();
    let account = engine.register_account("slow").unwrap();
    let users: Vec<UserId> = (0..10).map(|k| UserId(k * 65_536)).collect();
    engine.follow_many(account, &users).unwrap();
    let job = send_all(&engine, account, "hello");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let report = runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), job.finished())
            .await
            .expect("finished() never resolved")
    });
    assert_eq!((report.status, report.sent), (JobStatus::Done, 10));
    assert!(report.finished_at_ms.is_some());
    assert_eq!(report, job.wait());
}

/// Regression (fixed): one account's slow sink batches throttle every other
/// account's multi-batch jobs to the slow account's pace. The pool requeues a job after
/// each chunk (round robin, `machinery/pool.rs`, `run_one_chunk`) and lets any number of
/// workers run chunks of the same job, so with 2 workers both spend nearly all their time
/// inside the slow account's `deliver`, and a 40-batch job whose batches take microseconds
/// finishes only together with the slow job (measured: both after ~400 ms). The design
/// brief's isolation property says a slow sink batch "never stalls other jobs".
#[test]
fn regression_a_slow_sink_account_throttles_other_accounts_multi_batch_jobs() {
    const KEYS: u32 = 40;
    let (slow, fast) = (AccountId(0), AccountId(1));
    let sink = ScriptedSink::new([(slow, Behaviour::Slow(Duration::from_millis(20)))]);
    let engine = Engine::builder(EngineConfig {
        threads: 2,
        chunk_target: 1,
        openid_secret: *b"fairness-test-05",
        ..Default::default()
    })
    .sink(sink)
    .build();
    engine.add_users(KEYS * 65_536).unwrap();
    for a in 0..2 {
        let account = engine.register_account(&format!("account {a}")).unwrap();
        // One follower in each of 40 blocks: 40 batches per send.
        let users: Vec<UserId> = (0..KEYS).map(|k| UserId(k * 65_536 + a)).collect();
        engine.follow_many(account, &users).unwrap();
    }
    let started = Instant::now();
    let slow_job = send_all(&engine, slow, "slow");
    let fast_job = send_all(&engine, fast, "fast");
    let fast_report = fast_job.wait();
    let slow_sent = slow_job.report().sent;
    let elapsed = started.elapsed();
    slow_job.wait();
    assert_eq!(fast_report.sent, u64::from(KEYS));
    // The fast job needs well under a millisecond of work: it should be done long before
    // the slow job (40 batches of 20 ms) is half way.
    assert!(
        slow_sent < u64::from(KEYS) / 2,
        "the fast job finished after {elapsed:?}, when the slow job had delivered \
         {slow_sent} of {KEYS} batches"
    );
}

/// A handle outlives its engine: dropping the engine mid-job ends the handle's wait with
/// `Interrupted` instead of blocking forever.
#[test]
fn dropping_the_engine_interrupts_pending_handles() {
    struct Stall;
    impl Sink for Stall {
        fn deliver(&self, _batch: &Batch<'_>) -> Result<(), SinkError> {
            std::thread::sleep(std::time::Duration::from_millis(20));
            Ok(())
        }
    }
    let engine = Engine::builder(EngineConfig {
        threads: 1,
        ..EngineConfig::default()
    })
    .sink(std::sync::Arc::new(Stall))
    .build();
    let users = engine.add_users(400_000).unwrap();
    let account = engine.register_account("big").unwrap();
    let ids: Vec<UserId> = users.iter().collect();
    engine.follow_many(account, &ids).unwrap();
    let job = engine
        .send(
            account,
            SendRequest::new(Message::Text("x".into()), Audience::All),
        )
        .unwrap();
    drop(engine);
    let report = job
        .wait_timeout(std::time::Duration::from_secs(10))
        .expect("the handle is released");
    assert_eq!(report.status, JobStatus::Interrupted);
    assert!(report.sent < report.total, "{report:?}");
    assert!(job.status().is_finished());
}

/// Big multi-chunk sends and small ones interleaved on two workers, so that some small
/// sends run from inside big chunks (the inbox's yield points; 7 of 240 in a run here, a
/// number that depends on timing, so it is not asserted: the pool's own tests check the
/// mechanism deterministically): every inbox still holds each account's entries once and in
/// sequence order, and every send reached exactly its audience.
#[test]
fn sends_served_from_inside_chunks_keep_order_and_reach_their_audience_once() {
    interleaved_sends_keep_order_and_reach_their_audience_once(0);
}

/// The same with the small sends delivered by their caller, into blocks the workers are
/// writing (so some go through the inbox's mailbox).
#[test]
fn sends_delivered_in_the_call_keep_order_and_reach_their_audience_once() {
    interleaved_sends_keep_order_and_reach_their_audience_once(1_024);
}

fn interleaved_sends_keep_order_and_reach_their_audience_once(inline_max_recipients: u32) {
    const USERS: u32 = 200_000;
    let engine = Engine::new(EngineConfig {
        threads: 2,
        inbox_capacity: 256,
        inline_max_recipients,
        openid_secret: *b"fairness-test-03",
        ..Default::default()
    });
    engine.add_users(USERS).unwrap();
    let everyone: Vec<UserId> = (0..USERS).map(UserId).collect();
    let bigs: Vec<AccountId> = (0..3)
        .map(|i| {
            let a = engine.register_account(&format!("daily {i}")).unwrap();
            engine.follow_many(a, &everyone).unwrap();
            a
        })
        .collect();
    // Small accounts' followers: spread over every block of the big sends' chunks.
    let smalls: Vec<(AccountId, Vec<UserId>)> = (0..12u32)
        .map(|i| {
            let a = engine.register_account(&format!("shop {i}")).unwrap();
            let followers: Vec<UserId> = (0..40).map(|k| UserId(k * 4_999 + i * 7)).collect();
            engine.follow_many(a, &followers).unwrap();
            (a, followers)
        })
        .collect();
    let mut handles = Vec::new();
    for round in 0..20 {
        for &big in &bigs {
            handles.push((big, send_all(&engine, big, &format!("edition {round}"))));
        }
        for (small, _) in &smalls {
            handles.push((*small, send_all(&engine, *small, &format!("offer {round}"))));
        }
    }
    for (_, h) in &handles {
        let r = h.wait();
        assert_eq!((r.status, r.sent), (JobStatus::Done, r.total), "{r:?}");
    }
    engine.wait_idle().unwrap();
    // Every follower of a small account, and a sample of the rest.
    let mut users: BTreeSet<u32> = smalls
        .iter()
        .flat_map(|(_, f)| f.iter().map(|u| u.0))
        .collect();
    users.extend((0..USERS).step_by(997));
    for user in users {
        let fetched = engine.fetch(UserId(user), 0, 256).unwrap();
        assert_eq!(fetched.missed, 0);
        let mut seqs: BTreeMap<AccountId, Vec<u32>> = BTreeMap::new();
        for item in &fetched.items {
            seqs.entry(item.account).or_default().push(item.seq.0);
        }
        for &big in &bigs {
            assert_eq!(
                seqs.remove(&big),
                Some((1..=20).collect()),
                "user {user}, {big}"
            );
        }
        for (small, followers) in &smalls {
            let want = followers
                .contains(&UserId(user))
                .then(|| (1..=20).collect());
            assert_eq!(seqs.remove(small), want, "user {user}, {small}");
        }
        assert!(seqs.is_empty(), "user {user} got sends of {seqs:?}");
    }
}

/// A small send is in the inboxes when `send` returns, unless something holds it back: an
/// earlier send of its account still on the way to its recipients (order), or a sink the
/// engine cannot vouch for.
#[test]
fn small_sends_are_delivered_in_the_call_unless_something_holds_them_back() {
    const USERS: u32 = 4_000_000;
    let engine = Engine::new(EngineConfig {
        threads: 2,
        inbox_capacity: 4,
        openid_secret: *b"fairness-test-04",
        ..Default::default()
    });
    assert_eq!(engine.config().inline_max_recipients, 1_024);
    engine.add_users(USERS).unwrap();
    let shop = engine.register_account("corner shop").unwrap();
    let customers: Vec<UserId> = (0..1_024).map(|i| UserId(i * 3_000 + 1)).collect();
    engine.follow_many(shop, &customers).unwrap();
    let handle = send_all(&engine, shop, "open late tonight");
    let report = handle.report();
    assert_eq!(
        (report.status, report.sent, report.total),
        (JobStatus::Done, 1_024, 1_024),
        "delivered before send returned"
    );
    assert_eq!(engine.fetch(customers[700], 0, 4).unwrap().items.len(), 1);

    // One follower more than the limit: the workers deliver it, as every big send.
    engine.follow(shop, UserId(5), None).unwrap();
    let handle = send_all(&engine, shop, "closed on monday");
    assert_eq!(handle.wait().sent, 1_025);

    // Behind a send of the same account that has not reached the recipient yet, a small
    // send waits its turn: the recipient (in the last block) gets both, in order.
    let paper = engine.register_account("daily paper").unwrap();
    let everyone: Vec<UserId> = (0..USERS).map(UserId).collect();
    engine.follow_many(paper, &everyone).unwrap();
    let last = UserId(USERS - 1);
    let open_ids = vec![
        engine.open_id(paper, UserId(USERS - 2)).unwrap(),
        engine.open_id(paper, last).unwrap(),
    ];
    for round in 0..3 {
        let big = send_all(&engine, paper, &format!("edition {round}"));
        let small = engine
            .send(
                paper,
                SendRequest::new(
                    Message::Text(format!("your renewal {round}")),
                    Audience::OpenIds(open_ids.clone()),
                ),
            )
            .unwrap();
        assert_eq!(small.wait().sent, 2);
        assert_eq!(big.wait().sent, u64::from(USERS));
        let got: Vec<u32> = engine
            .fetch(last, 0, 4)
            .unwrap()
            .items
            .iter()
            .map(|i| i.seq.0)
            .collect();
        assert_eq!(got[got.len() - 2..], [big.id().seq.0, small.id().seq.0]);
    }

    // An external sink is always called from a worker.
    let sink = ScriptedSink::new([]);
    let engine = Engine::builder(EngineConfig {
        threads: 1,
        openid_secret: *b"fairness-test-05",
        ..Default::default()
    })
    .sink(sink.clone())
    .build();
    engine.add_users(10).unwrap();
    let shop = engine.register_account("corner shop").unwrap();
    engine.follow(shop, UserId(3), None).unwrap();
    assert_eq!(send_all(&engine, shop, "hello").wait().sent, 1);
    let calls = sink.calls();
    assert_eq!(calls.len(), 1);
    assert!(calls[0].on_worker, "{calls:?}");
}
