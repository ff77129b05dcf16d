//! herald-server: herald as a service. An HTTP control API (JSON under `/v1`) over one
//! [`herald::Engine`], durable in a data directory or in memory; see `docs/http-api.md`.

pub mod app;
pub mod auth;
pub mod callback;
pub mod config;
pub mod console;
pub mod error;
pub mod fired;
pub mod gateway;
pub mod keys;
pub mod metrics;
pub mod routes;
pub mod tokens;
pub mod wire;

use app::AppState;
use auth::Auth;
use config::Settings;
use herald::{Engine, EngineConfig};
use keys::Keys;
use routes::wechat::{MediaStore, WxState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokens::TokenTable;

/// An engine opened or created as the settings say, with the server's keys.
pub fn open(settings: &Settings) -> Result<(Arc<Engine>, Keys), String> {
    match &settings.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
            let keys = Keys::load_or_create(dir, settings.admin_key.clone())?;
            let config = EngineConfig {
                openid_secret: keys.openid_secret,
                inbox_capacity: settings.inbox_capacity,
                ..EngineConfig::default()
            };
            let engine_dir = dir.join("engine");
            let engine = Engine::open(&engine_dir, config)
                .map_err(|e| format!("opening {}: {e}", engine_dir.display()))?;
            for warning in engine.recovery_warnings() {
                tracing::warn!("recovery: {warning}");
            }
            Ok((Arc::new(engine), keys))
        }
        None => {
            let keys = Keys::ephemeral(settings.admin_key.clone())?;
            let config = EngineConfig {
                openid_secret: keys.openid_secret,
                inbox_capacity: settings.inbox_capacity,
                ..EngineConfig::default()
            };
            Ok((Arc::new(Engine::new(config)), keys))
        }
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Snapshots a durable engine every `every`, off the runtime's threads: each snapshot lets
/// the log before the previous one go and shortens the replay at the next start.
async fn snapshot_every(engine: Arc<Engine>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    loop {
        ticks.tick().await;
        let engine = Arc::clone(&engine);
        match tokio::task::spawn_blocking(move || engine.snapshot()).await {
            Ok(Ok(stats)) => {
                metrics::snapshot_taken(Some(&stats));
                tracing::info!(
                    bytes = stats.bytes,
                    pause_us = stats.pause.as_micros() as u64,
                    segments_removed = stats.segments_removed,
                    "periodic snapshot"
                )
            }
            Ok(Err(e)) => {
                metrics::snapshot_taken(None);
                tracing::warn!("periodic snapshot failed (the log still has everything): {e}")
            }
            Err(e) => {
                metrics::snapshot_taken(None);
                tracing::warn!("periodic snapshot failed: {e}")
            }
        }
    }
}

/// How often the server fires due scheduled sends and applies retention.
pub const TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Calls [`Engine::run_due`] every `every`, off the runtime's threads: it fires the
/// scheduled sends that came due (the engine fires nothing by itself), purges messages past
/// their account's retention and drops idle caches. Each fired send is logged; a refused
/// one says why (the engine drops it unless the cause passes, see `herald::Fired`), and
/// each outcome goes to the state's [`fired::FiredLog`] for the schedule route.
async fn tick_every(state: Arc<AppState>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let engine = Arc::clone(&state.engine);
        let fired = match tokio::task::spawn_blocking(move || engine.run_due()).await {
            Ok(fired) => fired,
            Err(e) => {
                tracing::warn!("running due schedules failed: {e}");
                continue;
            }
        };
        for f in fired {
            state.fired.record(&f);
            match &f.result {
                Ok(job) => tracing::info!(
                    account = f.account.0,
                    schedule = f.schedule.0,
                    seq = job.id().seq.0,
                    "scheduled send fired"
                ),
                Err(e) => tracing::warn!(
                    account = f.account.0,
                    schedule = f.schedule.0,
                    "scheduled send refused when due: {e}"
                ),
            }
        }
    }
}

/// Serves until SIGTERM/SIGINT, then stops accepting, lets running sends finish (within
/// `shutdown_timeout`) and snapshots a durable engine.
pub async fn serve(settings: Settings) -> Result<(), String> {
    let (engine, keys) = tokio::task::block_in_place(|| open(&settings))?;
    metrics::install()?;
    // Subscribed before the first request, so that the metrics see every job's report.
    let reports = tokio::spawn(metrics::read_reports(engine.reports()));
    if engine.is_durable() {
        println!(
            "durable engine in {}",
            settings
                .data_dir
                .as_ref()
                .map_or(String::new(), |d| d.display().to_string())
        );
    } else {
        println!("running in memory: durability off, everything is lost when the server stops");
    }
    if keys.admin_key_generated {
        // Printed once, to stdout, never to the logs.
        match &settings.data_dir {
            Some(dir) => println!(
                "admin key (generated, kept in {}): {}",
                dir.join("admin.key").display(),
                keys.admin_key
            ),
            None => println!("admin key (generated for this run): {}", keys.admin_key),
        }
    }
    let (tokens, media) = match &settings.data_dir {
        Some(dir) => (
            TokenTable::open(dir, settings.token_overlap)?,
            MediaStore::open(dir)?,
        ),
        None => (
            TokenTable::in_memory(settings.token_overlap),
            MediaStore::in_memory(),
        ),
    };
    let auth = Auth::new(keys.admin_key, keys.signing_key, settings.token_ttl)
        .with_tokens(Arc::new(tokens));
    // Job-finished events: subscribed before the first request, as the metrics are.
    let notifier = match settings.callback.clone() {
        Some(callback) => {
            let namer = Auth::new(String::new(), keys.signing_key, settings.token_ttl);
            let notifier = callback::Notifier::new(callback, move |a| namer.appid(a))?;
            tokio::spawn(Arc::clone(&notifier).run(engine.reports()));
            Some(notifier)
        }
        None => None,
    };
    let wechat = Arc::new(WxState::new(&keys.signing_key, media, notifier));
    let state = Arc::new(AppState {
        engine: Arc::clone(&engine),
        auth,
        shutting_down: AtomicBool::new(false),
        gateway: gateway::Gateway::new(
            settings.ping_interval,
            settings.pong_timeout,
            settings.write_timeout,
        )
        .map_err(|e| format!("starting the push gateway's runtime: {e}"))?,
        fired: fired::FiredLog::default(),
    });
    match engine.watch_inboxes(Arc::clone(&state.gateway.hub) as Arc<dyn herald::InboxWatcher>) {
        Ok(()) | Err(herald::WatchError::NoInbox) => {}
        Err(e) => return Err(format!("connecting the push gateway: {e}")),
    }
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("listening on {}: {e}", settings.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    // Frames and responses go out as written: with Nagle's algorithm a small frame waited
    // for the previous one's ACK, and on loopback (a 64 KiB MSS) a client whose window had
    // shrunk while it was not reading stalled for seconds in zero-window probing.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("setting TCP_NODELAY on a connection: {e}");
        }
    });
    println!("listening on http://{addr}");
    tracing::info!(%addr, durable = engine.is_durable(), "serving");
    let snapshots = match settings.snapshot_interval {
        Some(every) if engine.is_durable() => {
            Some(tokio::spawn(snapshot_every(Arc::clone(&engine), every)))
        }
        _ => None,
    };
    let ticker = tokio::spawn(tick_every(Arc::clone(&state), TICK));
    let router =
        app::router(Arc::clone(&state), settings.body_limit).layer(axum::Extension(wechat));
    let flag = Arc::clone(&state);
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            flag.shutting_down.store(true, Ordering::Relaxed);
            // Every gateway connection sends its reconnect hint and closes, so that the
            // graceful shutdown does not wait for them.
            flag.gateway.shutdown.send_replace(true);
            tracing::info!("shutdown signal: no new connections, finishing requests");
        })
        .await
        .map_err(|e| format!("serving: {e}"))?;
    if let Some(task) = snapshots {
        task.abort();
    }
    ticker.abort();
    reports.abort();
    let idle = {
        let engine = Arc::clone(&engine);
        tokio::task::spawn_blocking(move || engine.wait_idle())
    };
    match tokio::time::timeout(settings.shutdown_timeout, idle).await {
        Ok(Ok(Ok(()))) => tracing::info!("every accepted send has finished"),
        Ok(Ok(Err(e))) => tracing::warn!("sends wait for the log: {e}"),
        Ok(Err(e)) => tracing::warn!("waiting for sends failed: {e}"),
        Err(_) => tracing::warn!(
            unfinished = engine.unfinished_jobs(),
            "sends still running after the shutdown timeout; a durable engine resumes them at the next start"
        ),
    }
    if engine.is_durable() {
        let engine = Arc::clone(&engine);
        match tokio::task::spawn_blocking(move || engine.snapshot()).await {
            Ok(Ok(stats)) => tracing::info!(bytes = stats.bytes, "snapshot taken"),
            Ok(Err(e)) => {
                tracing::warn!("final snapshot failed (the log still has everything): {e}")
            }
            Err(e) => tracing::warn!("final snapshot failed: {e}"),
        }
    }
    tracing::info!("stopped");
    Ok(())
}
