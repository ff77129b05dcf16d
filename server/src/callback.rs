//! Job-finished events: when a send finishes, herald POSTs an event to the URL configured
//! with `--callback-url`.
//!
//! ## Formats
//! `xml` (default): WeChat's `MASSSENDJOBFINISH` event, for sends made through
//! `/cgi-bin/message/mass/sendall` and `send` only (WeChat sends none for previews, and
//! native sends have the JSON form), signed as WeChat signs pushes when `--callback-token`
//! is set (`signature` = SHA-1 of the sorted token, timestamp and nonce). `json`: every
//! job's report (native and WeChat sends, previews), as `GET /v1/accounts/{a}/jobs/{seq}`
//! renders it, plus `msg_id`.
//!
//! ## Delivery
//! Each event is POSTed by its own task, retried with exponential backoff (the first retry
//! after `--callback-retry-ms`, 1 s by default, then 2, 4, 8, 16 s: six attempts in all)
//! until the receiver answers 2xx; then it is dropped with a warning. Events are not
//! persisted: a restart loses the ones not yet delivered, and the reports of jobs that
//! finish after a restart are not matched to the `/cgi-bin` sends that started them (no
//! XML event for those).
//!
//! ## Matching reports to WeChat sends
//! The engine publishes every job's report; a `/cgi-bin` send registers its job with
//! [`Notifier::track`] once accepted. A small job may finish before that, so reports of
//! untracked jobs are kept for a while (the last [`EARLY_KEPT`]) and `track` delivers the
//! event at once when the report is already there. Both sides work under one lock, so each
//! tracked job gets exactly one event.
//!
//! **Invariant:** the report reader never waits on the network: delivery runs in tasks.

use crate::config::{Callback, CallbackFormat};
use crate::wire::ReportJson;
use herald::{JobId, JobReport, JobStatus, ReportsError};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Attempts per event.
pub const ATTEMPTS: u32 = 6;
/// Reports of untracked jobs kept for a `track` that comes after them.
pub const EARLY_KEPT: usize = 4096;

/// Finished jobs waiting to be matched.
#[derive(Debug, Default)]
struct Pending {
    /// WeChat sends accepted and not finished yet.
    tracked: HashSet<JobId>,
    /// Reports of jobs not tracked (yet), oldest first.
    early: HashMap<JobId, JobReport>,
    early_order: VecDeque<JobId>,
}

/// Sends job-finished events.
pub struct Notifier {
    config: Callback,
    client: reqwest::Client,
    /// An account's appid (the `ToUserName` of XML events).
    appid: Box<dyn Fn(u32) -> String + Send + Sync>,
    /// Written by the report reader and by `track`.
    pending: Mutex<Pending>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("url", &self.config.url)
            .field("format", &self.config.format)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier for `config`; `appid` names accounts in XML events.
    pub fn new(
        config: Callback,
        appid: impl Fn(u32) -> String + Send + Sync + 'static,
    ) -> Result<Arc<Notifier>, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("building the callback client: {e}"))?;
        Ok(Arc::new(Notifier {
            config,
            client,
            appid: Box::new(appid),
            pending: Mutex::default(),
        }))
    }

    /// A `/cgi-bin` send's job was accepted: its report becomes an XML event.
    pub fn track(self: &Arc<Self>, job: JobId) {
        if self.config.format != CallbackFormat::Xml {
            return;
        }
        let early = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match pending.early.remove(&job) {
                Some(report) => Some(report),
                None => {
                    pending.tracked.insert(job);
                    None
                }
            }
        };
        if let Some(report) = early {
            self.deliver(report);
        }
    }

    /// Reads the engine's reports until the engine goes; takes a subscription made before
    /// the first request.
    pub async fn run(self: Arc<Self>, mut reports: herald::Reports) {
        loop {
            match reports.next().await {
                Ok(report) => self.on_report(report),
                Err(ReportsError::Missed(n)) => {
                    tracing::warn!(missed = n, "callback: fell behind the job reports");
                }
                Err(_) => return,
            }
        }
    }

    fn on_report(self: &Arc<Self>, report: JobReport) {
        if self.config.format == CallbackFormat::Json {
            self.deliver(report);
            return;
        }
        let tracked = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            if pending.tracked.remove(&report.job) {
                true
            } else {
                if pending.early.len() >= EARLY_KEPT
                    && let Some(old) = pending.early_order.pop_front()
                {
                    pending.early.remove(&old);
                }
                pending.early_order.push_back(report.job);
                pending.early.insert(report.job, report.clone());
                false
            }
        };
        if tracked {
            self.deliver(report);
        }
    }

    fn deliver(self: &Arc<Self>, report: JobReport) {
        let (body, content_type) = match self.config.format {
            CallbackFormat::Xml => (
                event_xml(&report, &(self.appid)(report.job.account.0)),
                "text/xml; charset=utf-8",
            ),
            CallbackFormat::Json => (event_json(&report), "application/json"),
        };
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut delay = this.config.retry;
            for attempt in 1..=ATTEMPTS {
                let url = this.signed_url();
                let result = this
                    .client
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body.clone())
                    .send()
                    .await;
                match result {
                    Ok(r) if r.status().is_success() => return,
                    Ok(r) => tracing::debug!(attempt, status = %r.status(), "callback refused"),
                    Err(e) => tracing::debug!(attempt, "callback failed: {e}"),
                }
                if attempt < ATTEMPTS {
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
            }
            tracing::warn!(
                job = %report.job.seq.0,
                account = report.job.account.0,
                "callback: event dropped after {ATTEMPTS} attempts"
            );
        });
    }

    /// The URL with WeChat's signature parameters when a token is configured.
    fn signed_url(&self) -> String {
        let Some(token) = &self.config.token else {
            return self.config.url.clone();
        };
        let timestamp = crate::auth::now_secs().to_string();
        let nonce = crate::keys::random::<4>()
            .map(|b| u32::from_le_bytes(b).to_string())
            .unwrap_or_else(|_| "0".into());
        let signature = signature(token, &timestamp, &nonce);
        let sep = if self.config.url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}signature={signature}&timestamp={timestamp}&nonce={nonce}",
            self.config.url
        )
    }
}

/// WeChat's push signature: SHA-1 (hex) of the token, timestamp and nonce sorted and
/// concatenated.
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    hex::encode(sha1(parts.concat().as_bytes()))
}

/// WeChat's `Status` words.
fn status_text(report: &JobReport) -> &'static str {
    match report.status {
        JobStatus::Done | JobStatus::Retracted => "send success",
        _ => "send fail",
    }
}

/// The `MASSSENDJOBFINISH` event of a report. `FilterCount` is WeChat's "after filtering"
/// count (= sent + errors), not herald's `filtered` (the skipped).
pub fn event_xml(report: &JobReport, appid: &str) -> String {
    let msg_id = crate::routes::wechat::msg_id(report.job);
    let created = report
        .finished_at_ms
        .unwrap_or(report.accepted_at_ms)
        .saturating_div(1000);
    format!(
        "<xml>\
<ToUserName><![CDATA[{appid}]]></ToUserName>\
<FromUserName><![CDATA[mphelper]]></FromUserName>\
<CreateTime>{created}</CreateTime>\
<MsgType><![CDATA[event]]></MsgType>\
<Event><![CDATA[MASSSENDJOBFINISH]]></Event>\
<MsgID>{msg_id}</MsgID>\
<Status><![CDATA[{status}]]></Status>\
<TotalCount>{total}</TotalCount>\
<FilterCount>{after_filter}</FilterCount>\
<SentCount>{sent}</SentCount>\
<ErrorCount>{errors}</ErrorCount>\
<CopyrightCheckResult><Count>0</Count><ResultList></ResultList><CheckState>1</CheckState></CopyrightCheckResult>\
<ArticleUrlResult><Count>0</Count><ResultList></ResultList></ArticleUrlResult>\
</xml>",
        status = status_text(report),
        total = report.total,
        after_filter = report.total.saturating_sub(report.filtered),
        sent = report.sent,
        errors = report.errors,
    )
}

/// The JSON event of a report.
pub fn event_json(report: &JobReport) -> String {
    let mut value = serde_json::to_value(ReportJson::from(report)).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("event".into(), "job_finished".into());
        map.insert(
            "msg_id".into(),
            crate::routes::wechat::msg_id(report.job).into(),
        );
    }
    value.to_string()
}

/// SHA-1 (FIPS 180-4), for WeChat's push signature only: it is not used for anything
/// whose security rests on SHA-1's collision resistance.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_the_standard_vectors() {
        assert_eq!(
            hex::encode(sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            hex::encode(sha1(b"")),
            "da39a3ee5e6b4b0d3255bfef95601890afd80709"
        );
        assert_eq!(
            hex::encode(sha1(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
    }

    #[test]
    fn signatures_sort_their_parts() {
        assert_eq!(signature("b", "a", "c"), hex::encode(sha1(b"abc")));
    }
}
