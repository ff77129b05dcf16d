//! The servers `net` measures, each a child process on a free loopback port: started, found
//! ready, measured by its resident memory, and stopped (also when the run fails).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A server process of ours; killed, and its data directory removed, when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    dir: Option<PathBuf>,
}

impl Server {
    pub fn new(child: Child, dir: Option<PathBuf>) -> Server {
        Server { child, dir }
    }

    /// The server's resident memory now, in bytes.
    pub fn rss_bytes(&self) -> u64 {
        crate::report::rss_bytes_of(self.child.id())
    }

    /// Fails when the process has already exited, with its exit status.
    pub fn check_alive(&mut self, name: &str) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{name} exited: {status}");
        }
        Ok(())
    }

    /// Stops the process (SIGKILL: nothing of a run's servers outlives it) and removes its
    /// data directory.
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Starts `program` from PATH on a free loopback port, with the arguments `args` gives for
/// that port, its output discarded, and waits until it listens; `None` when the program is
/// not installed.
pub fn start_from_path(
    program: &str,
    args: impl FnOnce(u16) -> Vec<String>,
) -> anyhow::Result<Option<(Server, SocketAddr)>> {
    let Some(path) = on_path(program) else {
        return Ok(None);
    };
    let port = free_port()?;
    let child = spawn(&path, &args(port), Stdio::null(), Stdio::null())?;
    let mut server = Server::new(child, None);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_listening(addr, &mut server, program)?;
    Ok(Some((server, addr)))
}

/// A loopback port nobody listens on now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Waits until something accepts connections at `addr`.
pub fn wait_listening(addr: SocketAddr, server: &mut Server, name: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        server.check_alive(name)?;
        if Instant::now() > deadline {
            bail!("{name} did not listen on {addr} within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `program` from PATH, or `None` when it is not installed.
pub fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Starts `program` with `args`; `stdout` piped or discarded, `stderr` shown or not.
pub fn spawn(
    program: &Path,
    args: &[String],
    stdout: Stdio,
    stderr: Stdio,
) -> anyhow::Result<Child> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Quiet unless the caller asks for the server's logs.
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .spawn()
        .with_context(|| format!("starting {}", program.display()))
}

/// A fresh directory under the system's temporary directory.
pub fn temp_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("loadgen-net-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
