//! A headless Chromium driven over the Chrome DevTools Protocol (one WebSocket to the
//! browser, pages attached with flat sessions), for the console's browser test.
//!
//! The binary is `chromium` (Debian package `chromium`) or `$HERALD_CHROMIUM`. Without it,
//! [`Browser::launch`] fails the test naming the package, unless `HERALD_SKIP_BROWSER=1`.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// How long one protocol call may take before the test fails.
const CALL_WAIT: Duration = Duration::from_secs(30);

/// A running Chromium; closed, killed and its profile directory removed when dropped.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// The last lines Chromium wrote to stderr, for failure messages.
    stderr: Arc<Mutex<Vec<String>>>,
}

/// A page (tab) of the browser, addressed by its flat session.
pub struct Page {
    session: String,
}

/// The executable to run: `$HERALD_CHROMIUM`, else `chromium` when it is on the `PATH`.
fn executable() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HERALD_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
}

impl Browser {
    /// Starts Chromium headless on a free DevTools port; `None` when there is none and
    /// `HERALD_SKIP_BROWSER=1` says to skip. Panics, naming the package, when it is missing.
    pub fn launch(name: &str) -> Option<Browser> {
        let Some(exe) = executable() else {
            if std::env::var("HERALD_SKIP_BROWSER").as_deref() == Ok("1") {
                eprintln!("skipped: no `chromium` on the PATH and HERALD_SKIP_BROWSER=1");
                return None;
            }
            panic!(
                "the console's browser test needs Chromium: install the Debian package \
                 `chromium` (apt-get install chromium), point HERALD_CHROMIUM at a Chromium \
                 binary, or set HERALD_SKIP_BROWSER=1 to skip this test"
            );
        };
        let profile = super::temp_dir(name);
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                // Pages in the background keep their timers: the test watches two at once.
                "--disable-background-timer-throttling",
                "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group, so that the guard can end the renderers with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", exe.display()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::clone(&stderr);
        // Reads stderr to its end, so that Chromium never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = url_tx.send(url.trim().to_string());
                }
                let mut log = log.lock().unwrap();
                if log.len() == 50 {
                    log.remove(0);
                }
                log.push(line);
            }
        });
        let url = match url_rx.recv_timeout(CALL_WAIT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&profile);
                panic!(
                    "chromium printed no `DevTools listening on` line; its stderr:\n{}",
                    stderr.lock().unwrap().join("\n")
                );
            }
        };
        let (socket, _) = tungstenite::connect(url.as_str()).expect("connect to DevTools");
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream.set_read_timeout(Some(CALL_WAIT)).unwrap();
        }
        Some(Browser {
            child,
            profile,
            socket,
            next_id: 1,
            stderr,
        })
    }

    /// One protocol call, at the browser (`session` None) or in a page; its result.
    /// Events that arrive meanwhile are dropped: the test polls the DOM instead.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut command = json!({"id": id, "method": method, "params": params});
        if let Some(session) = session {
            command["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::text(command.to_string()))
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        let deadline = Instant::now() + CALL_WAIT;
        loop {
            assert!(Instant::now() < deadline, "{method}: no answer");
            let text = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(e) => panic!(
                    "{method}: {e}; chromium's stderr:\n{}",
                    self.stderr.lock().unwrap().join("\n")
                ),
            };
            let answer: Value = serde_json::from_str(text.as_str()).unwrap();
            if answer["id"] != id {
                continue;
            }
            assert!(answer["error"].is_null(), "{method}: {}", answer["error"]);
            return answer["result"].clone();
        }
    }

    /// A new page showing `url`.
    pub fn open(&mut self, url: &str) -> Page {
        let target = self.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        let page = Page {
            session: attached["sessionId"].as_str().unwrap().to_string(),
        };
        self.call(Some(&page.session), "Page.navigate", json!({ "url": url }));
        self.wait(
            &page,
            10,
            "the page loaded",
            "document.readyState === 'complete'",
        );
        page
    }

    /// The value of a JavaScript expression in `page` (promises awaited); a thrown
    /// exception fails the test.
    pub fn eval(&mut self, page: &Page, expression: &str) -> Value {
        let r = self.call(
            Some(&page.session),
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(
            r["exceptionDetails"].is_null(),
            "{expression}: {}",
            r["exceptionDetails"]
        );
        r["result"]["value"].clone()
    }

    /// Polls `expression` every 100 ms until it is truthy, for up to `secs` seconds; its
    /// value. On time-out the test fails with `what` and the page's text.
    pub fn wait(&mut self, page: &Page, secs: u64, what: &str, expression: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.eval(page, expression);
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                let text = self.eval(page, "document.body ? document.body.innerText : ''");
                panic!("never happened within {secs} s: {what}\npage text:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sets the value of the field `#id` as typing would (an `input` and a `change` event).
    pub fn fill(&mut self, page: &Page, id: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.getElementById({id}); e.value = {value}; \
             e.dispatchEvent(new Event('input', {{bubbles: true}})); \
             e.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()",
            id = json!(id),
            value = json!(value),
        );
        self.eval(page, &js);
    }

    /// Clicks `#id`.
    pub fn click(&mut self, page: &Page, id: &str) {
        self.eval(
            page,
            &format!("document.getElementById({}).click(), true", json!(id)),
        );
    }

    /// The text of `#id`.
    pub fn text(&mut self, page: &Page, id: &str) -> String {
        let v = self.eval(
            page,
            &format!("document.getElementById({}).textContent", json!(id)),
        );
        v.as_str().unwrap_or("").to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Asked first, so that Chromium ends its renderers and flushes its profile.
        let closing = serde_json::json!({"id": 0, "method": "Browser.close"}).to_string();
        let _ = self.socket.send(Message::text(closing));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        if matches!(self.child.try_wait(), Ok(None)) {
            // Still running (not yet reaped, so the group id is still its own): the whole
            // process group, renderers included, then the browser itself.
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
