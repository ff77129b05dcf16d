//! The web console at `/console`: its files as served, and the console itself in a real
//! headless Chromium (over the DevTools protocol): a text typed into the account view is
//! sent, its job's bar fills up, the follower view connected over the push gateway shows
//! it, resumes from its cursor after a close, and the node stats count the users.

mod common;

use common::cdp::{Browser, Page};
use common::*;
use serde_json::json;

const FOLLOWERS: u32 = 3;

fn get(s: &Server, path: &str) -> reqwest::blocking::Response {
    s.client.get(s.url(path)).send().unwrap()
}

fn header(r: &reqwest::blocking::Response, name: &str) -> String {
    r.headers()[name].to_str().unwrap().to_string()
}

#[test]
fn console_files_are_served_with_their_types() {
    let s = Server::start(&[]);
    for (path, content_type) in [
        ("/console", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/style.css", "text/css; charset=utf-8"),
    ] {
        let r = get(&s, path);
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), content_type, "{path}");
        assert_eq!(header(&r, "cache-control"), "no-cache", "{path}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        let body = r.text().unwrap();
        // Self-contained: nothing is loaded from another origin.
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} refers to another origin"
        );
        if path == "/console/app.js" {
            assert!(!body.contains("innerHTML"), "app.js must insert text only");
        }
    }
    let page = get(&s, "/console").text().unwrap();
    assert!(page.contains(r#"src="/console/app.js""#));
    assert!(page.contains(r#"href="/console/style.css""#));
    for path in ["/console/x", "/console/app.jsx", "/console/..%2Fapp.rs"] {
        err(get(&s, path), 404, "not_found");
    }
    // Outside /v1: the OpenAPI description does not list it.
    let openapi = get(&s, "/v1/openapi.json").text().unwrap();
    assert!(!openapi.contains("/console"));
}

/// Waits until the follower page shows `count` message frames, the newest holding `text`.
fn wait_message(b: &mut Browser, page: &Page, count: usize, text: &str) {
    b.wait(
        page,
        20,
        &format!("the follower view shows {text:?} as message {count}"),
        &format!(
            "(() => {{ const m = document.querySelectorAll('#follower-feed li[data-type=message]'); \
             return m.length === {count} && m[0].textContent.includes({}); }})()",
            json!(text)
        ),
    );
}

/// Sends `text` from the account view; the job's sequence number once its bar is full.
fn send_from_console(b: &mut Browser, page: &Page, text: &str) -> u64 {
    let jobs_before = b.eval(page, "document.querySelectorAll('#jobs li').length");
    b.fill(page, "send-text", text);
    b.click(page, "send-submit");
    let seq = b.wait(
        page,
        10,
        "the send was accepted and listed",
        &format!(
            "document.querySelectorAll('#jobs li').length > {jobs_before} && \
             Number(document.querySelector('#jobs li').id.slice(4))"
        ),
    );
    let seq = seq.as_u64().unwrap();
    let done = b.wait(
        page,
        20,
        "the job's bar reaches done",
        &format!(
            "(() => {{ const li = document.getElementById('job-{seq}'); \
             const bar = document.getElementById('job-{seq}-bar'); \
             return li.dataset.status === 'done' && bar.value === bar.max && \
             document.getElementById('job-{seq}-report').children.length > 0 && \
             {{sent: Number(li.dataset.sent), total: Number(li.dataset.total), max: bar.max}}; }})()"
        ),
    );
    assert_eq!(
        done,
        json!({"sent": FOLLOWERS, "total": FOLLOWERS, "max": FOLLOWERS})
    );
    let report = b.text(page, &format!("job-{seq}-report"));
    assert!(report.contains(&format!("sent{FOLLOWERS}")), "{report}");
    seq
}

#[test]
fn a_send_typed_in_the_console_reaches_the_follower_view_live() {
    let s = Server::start(&[]);
    s.add_users(FOLLOWERS);
    let a = s.admin("/v1/accounts", json!({"name": "console news"}));
    let account = a["account"].as_u64().unwrap() as u32;
    s.follow(account, &(0..FOLLOWERS).collect::<Vec<_>>());
    let user_token = s.user_token(0);

    let Some(mut b) = Browser::launch("console-chromium") else {
        return;
    };

    // The follower view, connected over the gateway.
    let follower = b.open(&s.url("/console#follower"));
    b.fill(&follower, "follower-token", &user_token);
    b.click(&follower, "follower-connect");
    b.wait(
        &follower,
        10,
        "the follower view is connected",
        "document.getElementById('follower-state').textContent === 'connected'",
    );
    assert_eq!(
        b.text(&follower, "follower-hello"),
        "hello: user 0, from cursor 0"
    );

    // The account view: sign in with appid and secret, send a unique text. Markup in it
    // must come out as text.
    let console = b.open(&s.url("/console#account"));
    b.fill(&console, "login-appid", a["appid"].as_str().unwrap());
    b.fill(&console, "login-secret", a["secret"].as_str().unwrap());
    b.click(&console, "login-submit");
    b.wait(
        &console,
        10,
        "signed in",
        "!document.getElementById('send-form').hidden",
    );
    assert!(b.text(&console, "login-status").contains("console news"));
    let unique = format!("<b>live</b> & from the console {}", now_ms());
    let seq = send_from_console(&mut b, &console, &unique);
    wait_message(&mut b, &follower, 1, &unique);
    let first = b.eval(
        &follower,
        "document.querySelector('#follower-feed li[data-type=message]').textContent",
    );
    assert_eq!(
        first,
        json!(format!("messageaccount {account} #{seq}: {unique}"))
    );
    assert_eq!(
        b.eval(&follower, "document.querySelector('#follower-feed b')"),
        json!(null),
        "the text was inserted as markup"
    );
    assert_eq!(
        b.eval(&follower, "localStorage.getItem('herald.console.cursor.0')"),
        json!("1")
    );

    // A dropped connection comes back from the last cursor + 1: the next message once, the
    // first not again.
    b.eval(&follower, "follower.ws.close(4000), true");
    b.wait(
        &follower,
        10,
        "the follower view reconnects",
        "document.getElementById('follower-state').textContent === 'connected' && \
         document.getElementById('follower-hello').textContent.endsWith('from cursor 1')",
    );
    let second = format!("second {}", now_ms());
    send_from_console(&mut b, &console, &second);
    wait_message(&mut b, &follower, 2, &second);

    // Node stats, in the account page's stats view.
    b.eval(&console, "location.hash = 'stats', true");
    b.wait(
        &console,
        10,
        "the node stats show the users and the follower's connection",
        &format!(
            "document.getElementById('stat-herald_users').textContent === '{FOLLOWERS}' && \
             document.getElementById('stat-herald_gateway_connections').textContent === '1' && \
             document.getElementById('stat-herald_deliveries_stored_total').textContent === '{}' && \
             document.getElementById('stats-ready').textContent === 'ready'",
            2 * FOLLOWERS
        ),
    );
    assert_eq!(b.text(&console, "stat-herald_accounts"), "1");
    assert_eq!(
        b.text(&console, "stat-herald_gateway_deliveries_pushed_total"),
        "2"
    );
}
