//! The push gateway's encode-and-enqueue path: one broadcast to N followers who are all
//! connected, swept over 1, 100 and 10,000 online recipients; throughput in deliveries.
//!
//! Each recipient is a connection as `gateway::ws` runs it, minus the socket: a task on a
//! multi-threaded tokio runtime (built as `herald-server` builds its own) that holds a hub
//! [`Registration`] and a [`Reader`] at its cursor, waits for the hub's wake-up, then calls
//! [`Reader::next_batch`] until it comes back empty, as the WebSocket session does. One
//! iteration is one send, timed from the call to [`Engine::send_async`] (what the send
//! routes call, from the bench's thread rather than a runtime worker) until every
//! recipient's task has its frame encoded (the message's JSON from the shared [`Encoded`]
//! cache, the frame's own text around it) and has seen its inbox empty again, and the job
//! has finished.
//!
//! Included: the engine's acceptance and fan-out into the in-memory inboxes (always on the
//! fan-out workers, as `send_async` does), the hub's bit-set test and wake-up per
//! recipient (on the fan-out worker that appended), the runtime scheduling
//! each woken task, each task's two inbox fetches (the entry, then the empty one that
//! sends the session back to waiting), `durable()` (immediate: the engine is in memory,
//! there is no log to wait for), one encoding of the message per send, one frame per
//! recipient, and dropping the frames. Added by the bench: one atomic decrement per
//! recipient, and one wake-up of the bench thread per send, to know when all are done.
//!
//! Not included: the WebSocket framing, the socket write and its syscall, the client, the
//! HTTP request that asks for the send, the `herald_gateway_deliveries_pushed_total`
//! counter (no metrics recorder is installed), and the fsync of a durable engine's log.
//! Setup (users, follows, connections) is outside the timed region; nothing a send does
//! is. Inboxes are rings (`inbox_capacity` entries), so repeated sends keep them bounded.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use herald::{Audience, Engine, EngineConfig, InboxWatcher, Message, SendRequest, UserId};
use herald_server::gateway::hub::{Hub, Registration};
use herald_server::gateway::reader::{Encoded, Reader};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::sync::Notify;

/// 64 bytes of text, as `loadgen net` sends by default.
const TEXT: &str = "gateway bench: sixty-four bytes of text, one frame per recipient";

/// Deliveries still to be read in the current send, and the bench thread's wake-up when
/// the last one is.
#[derive(Default)]
struct Outstanding {
    /// Set by the bench thread before each send; each connection subtracts what it read.
    deliveries: AtomicU64,
    /// Notified by the connection that read the last delivery of the send.
    all_read: Notify,
}

/// One connection's task: wait for the hub, read until the inbox is empty, count.
async fn connection(registration: Registration, mut reader: Reader, outstanding: Arc<Outstanding>) {
    loop {
        registration.waker().woken().await;
        let mut read = 0;
        loop {
            let frames = reader
                .next_batch()
                .await
                .expect("the in-memory inbox reads");
            if frames.is_empty() {
                break;
            }
            read += frames.iter().filter(|f| f.cursor.is_some()).count() as u64;
            // What the session hands to the socket; dropped here instead.
            drop(black_box(frames));
        }
        if read > 0 && outstanding.deliveries.fetch_sub(read, Ordering::AcqRel) == read {
            outstanding.all_read.notify_one();
        }
    }
}

/// An engine with `followers` users following one account, all connected.
struct Setup {
    engine: Arc<Engine>,
    account: herald::AccountId,
    outstanding: Arc<Outstanding>,
    runtime: Runtime,
}

impl Setup {
    fn new(followers: u32) -> Setup {
        let engine = Arc::new(Engine::new(EngineConfig::default()));
        let hub = Arc::new(Hub::default());
        engine
            .watch_inboxes(Arc::clone(&hub) as Arc<dyn InboxWatcher>)
            .expect("the engine has an inbox");
        let users = engine.add_users(followers).expect("users");
        let account = engine.register_account("bench").expect("account");
        let ids: Vec<UserId> = users.iter().collect();
        engine.follow_many(account, &ids).expect("follow");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let encoded = Arc::new(Encoded::default());
        let outstanding = Arc::new(Outstanding::default());
        for user in ids {
            // Registered before the reader's first fetch, as `ws::run` does.
            let registration = hub.register(user.0);
            let reader = Reader::new(Arc::clone(&engine), Arc::clone(&encoded), user.0, 0);
            runtime.spawn(connection(registration, reader, Arc::clone(&outstanding)));
        }
        Setup {
            engine,
            account,
            outstanding,
            runtime,
        }
    }

    /// Sends `iters` broadcasts one after the other, each read by every recipient before
    /// the next; the time they took.
    fn sends(&self, iters: u64, followers: u32) -> Duration {
        self.runtime.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                self.outstanding
                    .deliveries
                    .store(u64::from(followers), Ordering::Release);
                let request = SendRequest::new(Message::Text(TEXT.into()), Audience::All);
                let job = self
                    .engine
                    .send_async(self.account, request)
                    .await
                    .expect("send");
                self.outstanding.all_read.notified().await;
                let report = job.finished().await;
                assert_eq!(report.sent, u64::from(followers));
            }
            start.elapsed()
        })
    }
}

fn gateway(c: &mut Criterion) {
    let mut group = c.benchmark_group("gateway");
    for followers in [1u32, 100, 10_000] {
        let setup = Setup::new(followers);
        group.throughput(Throughput::Elements(u64::from(followers)));
        if followers >= 10_000 {
            group.sample_size(20);
        }
        group.bench_with_input(
            BenchmarkId::from_parameter(followers),
            &followers,
            |b, &followers| b.iter_custom(|iters| setup.sends(iters, followers)),
        );
    }
    group.finish();
}

criterion_group!(benches, gateway);
criterion_main!(benches);
