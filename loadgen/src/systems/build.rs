//! Building generated graphs into the systems: account ranks dealt round-robin to threads,
//! and a progress bar over the edges (herald and the naive system under the mixed
//! workload); the Zipf graph alone into a herald engine (`graph`, `restart`).

use herald::{AccountId, Engine, UserId};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::workload::{Plan, ZipfGraph};

/// Runs `f` for every account rank, ranks dealt round-robin to `threads` threads.
pub fn parallel_ranks(
    plan: &Plan,
    threads: usize,
    f: impl Fn(u32) -> anyhow::Result<()> + Sync,
) -> anyhow::Result<()> {
    let threads = threads.max(1);
    let n = plan.sizes.len();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || (t..n).step_by(threads).try_for_each(|r| f(r as u32)))
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a builder thread panicked"))?
        })
    })
}

/// A progress bar over `len` follow edges.
pub fn build_bar(len: u64, prefix: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:.bold} {elapsed:>4} [{bar:24}] {human_pos}/{human_len} edges ({per_sec}, eta {eta})",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar.set_prefix(prefix.to_owned());
    bar
}

/// Builds the follows of every account of `spec` into `engine`, accounts dealt round-robin
/// to `threads` threads.
pub fn follow_zipf_graph(
    engine: &Engine,
    spec: &ZipfGraph,
    sizes: &[u32],
    threads: usize,
) -> anyhow::Result<()> {
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> anyhow::Result<()> {
                    for rank in (t..sizes.len()).step_by(threads) {
                        let users: Vec<UserId> = spec
                            .followers(rank as u32, sizes[rank])
                            .into_iter()
                            .map(UserId)
                            .collect();
                        engine.follow_many(AccountId(rank as u32), &users)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| anyhow::anyhow!("a builder thread panicked"))?
        })
    })
}
