//! One run of one system: start its server, connect every client, measure the server's
//! memory with them idle, send the broadcasts, wait for every client (or the drain
//! deadline), and return each client's record.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;

use super::herald::{self, Herald};
use super::nats::{self, Nats};
use super::process::Server;
use super::record::{Recorder, Shared, is_slow, payload};
use super::redis::{self, Resp};
use super::{NetArgs, Publish, System};

/// Connections being opened and subscribed at once: more only overflows the listen queue.
const CONNECTING_AT_ONCE: usize = 256;
/// The servers settle this long after the last client subscribed before their memory is
/// read.
const SETTLE: Duration = Duration::from_secs(1);

/// What one run of one system measured.
#[derive(Debug)]
pub struct Outcome {
    pub system: System,
    pub slow_share: f64,
    /// Sends per second the publisher was held to, `None` for as fast as accepted.
    pub send_rate: Option<f64>,
    /// The system whose achieved send rate this run was held to (`--compare`'s extra
    /// herald run at Redis's pace).
    pub paced_as: Option<System>,
    pub connect_secs: f64,
    pub rss_before: u64,
    pub rss_idle: u64,
    /// Microseconds after the run's base instant: the first send call, and the last one's
    /// return.
    pub first_send_us: u64,
    pub last_send_us: u64,
    pub clients: Vec<Recorder>,
    /// Clients that ended with an error, and the first error.
    pub failed: u64,
    pub first_error: Option<String>,
    /// herald only: connections that fell behind and caught up from the inbox.
    pub catchup_switches: Option<u64>,
}

impl Outcome {
    /// Sends per second from the first send call to the last one's answer.
    pub fn sends_per_sec(&self) -> f64 {
        let messages = self.clients.first().map_or(0, |c| c.messages());
        f64::from(messages) / ((self.last_send_us - self.first_send_us) as f64 / 1e6).max(1e-9)
    }
}

enum Target {
    Herald(Herald),
    Redis(Server, std::net::SocketAddr),
    Nats(Server, std::net::SocketAddr),
}

impl Target {
    fn server(&self) -> &Server {
        match self {
            Target::Herald(h) => &h.server,
            Target::Redis(s, _) | Target::Nats(s, _) => s,
        }
    }

    fn publisher(&self) -> anyhow::Result<Box<dyn Publish + Send>> {
        Ok(match self {
            Target::Herald(h) => Box::new(h.publisher()),
            Target::Redis(_, addr) => Box::new(redis::Publisher::connect(*addr)?),
            Target::Nats(_, addr) => Box::new(nats::Publisher::connect(*addr)?),
        })
    }
}

/// Runs `system` with `slow_share` of its clients slow, sending at `send_rate` per second
/// (or as fast as the system accepts); `None` when its server is not installed.
pub fn run(
    system: System,
    args: &NetArgs,
    slow_share: f64,
    send_rate: Option<f64>,
    server_bin: &std::path::Path,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Option<Outcome>> {
    let n = args.connections;
    let started = Instant::now();
    let target = match system {
        System::Herald => Target::Herald(Herald::start(
            server_bin,
            n,
            args.inbox_capacity(),
            !args.in_memory,
        )?),
        System::Redis => match redis::start(n)? {
            Some((server, addr)) => Target::Redis(server, addr),
            None => return Ok(None),
        },
        System::Nats => match nats::start()? {
            Some((server, addr)) => Target::Nats(server, addr),
            None => return Ok(None),
        },
    };
    let label = format!(
        "{}{}",
        system.name(),
        match (slow_share > 0.0, send_rate) {
            (true, _) => format!(", {:.0}% slow", slow_share * 100.0),
            (false, Some(rate)) => format!(" at {rate:.1} sends/s"),
            (false, None) => String::new(),
        }
    );
    eprintln!(
        "{label}: server ready in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    std::thread::sleep(SETTLE);
    let rss_before = target.server().rss_bytes();

    let shared = Shared::new(args.messages);
    let pause = Duration::from_millis(args.slow_pause_ms);
    let permits = Arc::new(Semaphore::new(CONNECTING_AT_ONCE));
    let target = Arc::new(target);
    let connect_start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let shared = Arc::clone(&shared);
            let permits = Arc::clone(&permits);
            let target = Arc::clone(&target);
            runtime.spawn(async move {
                let mut rec = Recorder::new(Arc::clone(&shared), is_slow(i, slow_share), pause);
                let permit = permits.acquire_owned().await.expect("never closed");
                let subscribed = move || {
                    shared.subscribed.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                };
                let result = match &*target {
                    Target::Herald(h) => {
                        herald::client(h.addr, &h.tokens[i as usize], &mut rec, subscribed).await
                    }
                    Target::Redis(_, addr) => client(&Resp, *addr, &mut rec, subscribed).await,
                    Target::Nats(_, addr) => client(&Nats, *addr, &mut rec, subscribed).await,
                };
                (rec, result.err().map(|e| format!("{e:#}")))
            })
        })
        .collect();

    let bar = progress(u64::from(n), &format!("{label}: connecting"));
    let mut last_progress = (0, Instant::now());
    loop {
        let subscribed = shared.subscribed.load(Ordering::Relaxed);
        bar.set_position(subscribed);
        if subscribed == u64::from(n) {
            break;
        }
        let finished = tasks.iter().filter(|t| t.is_finished()).count();
        if finished > 0 {
            let failed = tasks
                .into_iter()
                .find(|t| t.is_finished())
                .expect("one finished");
            let (_, error) = runtime.block_on(failed)?;
            bail!(
                "{label}: a client ended while connecting: {}",
                error.unwrap_or_default()
            );
        }
        if subscribed > last_progress.0 {
            last_progress = (subscribed, Instant::now());
        } else if last_progress.1.elapsed() > Duration::from_secs(60) {
            bail!("{label}: {subscribed} of {n} clients subscribed; none more in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bar.finish_and_clear();
    let connect_secs = connect_start.elapsed().as_secs_f64();
    std::thread::sleep(SETTLE);
    let rss_idle = target.server().rss_bytes();
    eprintln!(
        "{label}: {n} clients subscribed in {connect_secs:.1} s; server RSS {:.1} → {:.1} MiB",
        rss_before as f64 / 1048576.0,
        rss_idle as f64 / 1048576.0
    );

    // The broadcasts, from their own thread, each call waiting for the system's answer.
    let mut publisher = target.publisher()?;
    let publishing = {
        let shared = Arc::clone(&shared);
        let bytes = args.payload;
        std::thread::spawn(move || -> anyhow::Result<(u64, u64)> {
            let first = shared.base.elapsed().as_micros() as u64;
            let start = std::time::Instant::now();
            for i in 0..shared.messages() {
                let text = payload(i, bytes);
                if let Some(rate) = send_rate {
                    let due = start + Duration::from_secs_f64(f64::from(i) / rate);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                shared.mark_sent(i);
                publisher
                    .publish(&text)
                    .with_context(|| format!("sending message {i}"))?;
            }
            Ok((first, shared.base.elapsed().as_micros() as u64))
        })
    };
    let expected = u64::from(n) * u64::from(args.messages);
    let bar = progress(expected, &format!("{label}: delivering"));
    // A slow client's pause is a silence that is not a loss.
    let drain = Duration::from_secs(args.drain_secs)
        + if slow_share > 0.0 {
            pause
        } else {
            Duration::ZERO
        };
    let mut progress_at = (0, Instant::now());
    loop {
        let received = shared.received.load(Ordering::Relaxed);
        bar.set_position(received.min(expected));
        if shared.complete.load(Ordering::Relaxed) == u64::from(n) {
            break;
        }
        if received > progress_at.0 {
            progress_at = (received, Instant::now());
        }
        // Clients that got nothing for `drain` after the last send are not going to: what
        // they lack is lost.
        if publishing.is_finished() && progress_at.1.elapsed() > drain {
            eprintln!(
                "{label}: {} of {n} clients still missing messages, and no message arrived in {} s; counting what they lack as lost",
                u64::from(n) - shared.complete.load(Ordering::Relaxed),
                drain.as_secs()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    bar.finish_and_clear();
    let (first_send_us, last_send_us) = publishing
        .join()
        .expect("the publisher panicked")
        .context(label.clone())?;
    let _ = shared.deadline.send(true);
    let mut clients = Vec::with_capacity(n as usize);
    let mut failed = 0;
    let mut first_error = None;
    for task in tasks {
        let (rec, error) = runtime.block_on(task)?;
        if let Some(e) = error {
            failed += 1;
            first_error.get_or_insert(e);
        }
        clients.push(rec);
    }
    let target = Arc::into_inner(target).context("every client has ended")?;
    let catchup_switches = match &target {
        Target::Herald(h) => h.catchup_switches(),
        _ => None,
    };
    match target {
        Target::Herald(h) => h.server.stop(),
        Target::Redis(s, _) | Target::Nats(s, _) => s.stop(),
    }
    Ok(Some(Outcome {
        system,
        slow_share,
        send_rate,
        paced_as: None,
        connect_secs,
        rss_before,
        rss_idle,
        first_send_us,
        last_send_us,
        clients,
        failed,
        first_error,
        catchup_switches,
    }))
}

/// A Redis or NATS subscriber: connect, subscribe, record.
async fn client<P: super::stream::Protocol>(
    protocol: &P,
    addr: std::net::SocketAddr,
    rec: &mut Recorder,
    subscribed: impl FnOnce(),
) -> anyhow::Result<()> {
    let stream = super::stream::connect(addr).await?;
    if super::stream::run(protocol, stream, rec, subscribed).await? == super::stream::Ended::Closed
    {
        rec.disconnects += 1;
    }
    Ok(())
}

fn progress(len: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec})")
            .expect("a valid template"),
    );
    bar.set_message(message.to_owned());
    bar
}
