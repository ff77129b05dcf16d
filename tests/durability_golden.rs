//! Data directories written by earlier builds open, and hold what they held.
//!
//! `tests/data/golden-v1/`, `golden-v2/` and `golden-v3/` are data directories written by
//! the engine at log format 1, 2 and 3 (snapshot format 6 all): a snapshot in the middle of a workload that uses every kind of log
//! record (subjects, accounts of each kind, follows with sources, tags, sends of every
//! purpose and audience, schedules, retractions, corrections, violations, speed tiers,
//! retention, quotas, follower messages and auto-replies, a termination), and log segments
//! after it. `expected.txt` is what the engine that wrote it observed (the same workload, so
//! the same text for every version). A change of format must keep these directories opening
//! to the same observation (read the old version, as the version fields of the log and
//! snapshot headers allow); a new format adds a directory of its own, written with
//! `write_golden` below (`HERALD_GOLDEN=golden-vN cargo test --release --test
//! durability_golden -- --ignored write_golden`), and keeps the old ones.
//!
//! Opening a directory of an older log format and changing it leaves segments of both
//! formats in it: the test reopens it after a change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use herald::{
    AccountId, AccountKind, Article, Audience, Category, Content, Engine, EngineConfig, JobId,
    ManualClock, Media, MediaFormat, Message, Registration, SendRequest, Seq, SubjectKind,
    SyncPolicy, TagExpr, UserId,
};

/// 2024-03-04T09:00:00+08:00.
const START: u64 = 1_709_514_000_000;
const HOUR: u64 = 60 * 60 * 1000;
const USERS: u32 = 200;

fn golden(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(version)
}

fn config() -> EngineConfig {
    EngineConfig {
        threads: 2,
        inbox_capacity: 8,
        openid_secret: *b"golden-secret-01",
        sync: SyncPolicy::Always,
        // Small segments: the directory holds several.
        segment_bytes: 2_048,
        ..EngineConfig::default()
    }
}

fn open(dir: &Path, clock: Arc<ManualClock>) -> Engine {
    Engine::builder(config()).clock(clock).open(dir).unwrap()
}

fn article(title: &str, body: &str) -> Message {
    Message::Article(Article {
        title: title.into(),
        summary: "summary".into(),
        body: body.into(),
        cover: Media {
            media_id: "cover".into(),
            format: MediaFormat::Jpeg,
            bytes: 1_000,
            duration_secs: 0,
        },
    })
}

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

/// The workload: half of it before the snapshot, half after.
fn write(dir: &Path) -> String {
    let clock = Arc::new(ManualClock::new(START));
    let engine = open(dir, clock.clone());
    engine.add_users(USERS).unwrap();
    let person = engine
        .create_subject("Chen Jing", SubjectKind::Individual)
        .unwrap();
    let firm = engine
        .create_subject("Zhaoqing Daily", SubjectKind::Organization)
        .unwrap();
    engine.approve_quota(firm, 3).unwrap();
    let registration = Registration::new("Zhaoqing", Category::Media, "press@zhaoqing.cn");
    let news = engine
        .register_in_subject(firm, "news", AccountKind::Service, registration.clone())
        .unwrap();
    let diary = engine
        .register_in_subject(person, "diary", AccountKind::Subscription, registration)
        .unwrap();
    let plain = engine.register_account("plain").unwrap();
    let doomed = engine
        .register_in_subject(
            firm,
            "doomed",
            AccountKind::Subscription,
            Registration::new("Zhaoqing", Category::Enterprise, "ceo@doomed.cn"),
        )
        .unwrap();
    engine.set_verified(news, true).unwrap();
    for u in 0..USERS {
        let source = (u % 3 == 0).then_some("qr:station-3");
        engine.follow(news, UserId(u), source).unwrap();
        if u % 2 == 0 {
            engine.follow(diary, UserId(u), None).unwrap();
        }
        if u % 5 == 0 {
            engine.follow(doomed, UserId(u), None).unwrap();
        }
    }
    let everyone: Vec<UserId> = (0..USERS).map(UserId).collect();
    engine.follow_many(plain, &everyone[..50]).unwrap();
    let sports = engine.create_tag(news, "sports").unwrap();
    let weather = engine.create_tag(news, "weather").unwrap();
    let gone = engine.create_tag(news, "gone").unwrap();
    let tagged: Vec<_> = (0..40)
        .map(|u| engine.open_id(news, UserId(u)).unwrap())
        .collect();
    engine.tag_followers(news, sports, &tagged).unwrap();
    engine
        .tag_followers(news, weather, &tagged[10..30])
        .unwrap();
    engine.untag_followers(news, sports, &tagged[..5]).unwrap();
    engine.delete_tag(news, gone).unwrap();
    engine.unfollow(news, UserId(7)).unwrap();
    let first = engine
        .send(news, SendRequest::new(text("morning"), Audience::All))
        .unwrap();
    first.wait();
    let mut request = SendRequest::new(
        article("Rain", "It rains in Zhaoqing today."),
        Audience::All,
    );
    request.open_for_reprint = true;
    request.idempotency_key = Some("rain-1".into());
    let rain = engine.send(news, request).unwrap();
    rain.wait();
    engine
        .send(
            news,
            SendRequest::new(
                text("sports fans, not weather"),
                Audience::Expr(TagExpr::and(vec![
                    TagExpr::Tag(sports),
                    TagExpr::not(TagExpr::Tag(weather)),
                ])),
            ),
        )
        .unwrap()
        .wait();
    engine
        .send(
            diary,
            SendRequest::new(
                text("dear diary"),
                Audience::OpenIds(vec![
                    engine.open_id(diary, UserId(2)).unwrap(),
                    engine.open_id(diary, UserId(4)).unwrap(),
                ]),
            ),
        )
        .unwrap()
        .wait();
    engine
        .preview(
            plain,
            engine.open_id(plain, UserId(1)).unwrap(),
            text("preview"),
        )
        .unwrap()
        .wait();
    engine
        .schedule(
            news,
            SendRequest::new(text("evening push"), Audience::Tag(weather)),
            START + 10 * HOUR,
        )
        .unwrap();
    let cancelled = engine
        .schedule(
            news,
            SendRequest::new(text("never"), Audience::All),
            START + 11 * HOUR,
        )
        .unwrap();
    engine.cancel_schedule(news, cancelled).unwrap();
    engine.wait_idle().unwrap();
    engine.snapshot().unwrap();

    // After the snapshot, the next day: these live in the log only.
    clock.advance_ms(24 * HOUR);
    engine.add_users(10).unwrap();
    engine.follow(news, UserId(USERS + 1), Some("web")).unwrap();
    engine
        .correct_article(
            rain.id(),
            match article("Rain", "It rains in Zhaoqing tonight.") {
                Message::Article(a) => a,
                _ => unreachable!(),
            },
        )
        .unwrap();
    let video = engine
        .send(
            plain,
            SendRequest::new(
                Message::Video(herald::Video {
                    media: Media {
                        media_id: "v1".into(),
                        format: MediaFormat::Mp4,
                        bytes: 5_000,
                        duration_secs: 30,
                    },
                    title: "clip".into(),
                    description: "a clip".into(),
                }),
                Audience::All,
            ),
        )
        .unwrap();
    video.wait();
    engine.retract(video.id()).unwrap();
    let mut reprint = SendRequest::new(
        article("Rain", "It rains in Zhaoqing today."),
        Audience::All,
    );
    reprint.reprint_of = Some(rain.id());
    engine.send(diary, reprint).unwrap().wait();
    engine
        .set_auto_reply(news, "hours", text("9 to 5"))
        .unwrap();
    engine
        .message_account(UserId(3), news, text("hours?"))
        .unwrap()
        .map(|job| job.wait());
    engine
        .reply(
            news,
            engine.open_id(news, UserId(3)).unwrap(),
            text("any time"),
        )
        .unwrap()
        .wait();
    engine.record_violation(plain).unwrap();
    engine.set_speed_tier(diary, Some(2)).unwrap();
    engine.set_retention(news, Some(30 * 24 * HOUR)).unwrap();
    engine.set_storage_quota(diary, Some(1 << 20)).unwrap();
    // Renamed to the name it has: a `RenameTag` record (log format 3) that leaves the
    // observation the one the older formats witness.
    engine.rename_tag(news, weather, "weather").unwrap();
    engine
        .send(doomed, SendRequest::new(text("last words"), Audience::All))
        .unwrap()
        .wait();
    engine.terminate_account(doomed).unwrap();
    engine.wait_idle().unwrap();
    let observed = observe(&engine);
    drop(engine);
    observed
}

/// What a reader of the engine sees, as text: a change to any of it shows as a diff.
fn observe(engine: &Engine) -> String {
    engine.wait_idle().unwrap();
    let mut out = String::new();
    let users = engine.user_count() as u32;
    writeln!(out, "users {users}, accounts {}", engine.account_count()).unwrap();
    for s in 0..2 {
        let subject = engine.subject(herald::SubjectId(s)).unwrap();
        writeln!(
            out,
            "subject {}: {} {:?} quota {} accounts {:?}",
            s, subject.name, subject.kind, subject.quota, subject.accounts
        )
        .unwrap();
    }
    for a in 0..engine.account_count() as u32 {
        let account = AccountId(a);
        let Ok(profile) = engine.account_profile(account) else {
            writeln!(out, "account {a}: gone").unwrap();
            continue;
        };
        let followers: Vec<u32> = (0..users)
            .filter(|&u| engine.is_following(account, UserId(u)).unwrap())
            .collect();
        writeln!(
            out,
            "account {a}: {} kind {:?} subject {:?} verified {} missing {:?} ban {:?}",
            profile.name,
            profile.kind,
            profile.subject,
            profile.verified,
            profile.missing,
            engine.active_ban(account).unwrap()
        )
        .unwrap();
        writeln!(out, "  followers {} {:?}", followers.len(), followers).unwrap();
        for tag in engine.tags(account).unwrap() {
            writeln!(out, "  tag {:?} {} {}", tag.id, tag.name, tag.followers).unwrap();
        }
        for source in engine.follow_sources(account).unwrap() {
            writeln!(
                out,
                "  source {} current {} total {}",
                source.source, source.current, source.total
            )
            .unwrap();
        }
        for s in engine.scheduled(account).unwrap() {
            writeln!(out, "  scheduled {:?} at {}", s.id, s.due_ms).unwrap();
        }
        let storage = engine.storage_usage(account).unwrap();
        writeln!(
            out,
            "  storage used {} quota {:?} retention {:?}",
            storage.used_bytes, storage.quota_bytes, storage.retention_ms
        )
        .unwrap();
        for (keyword, reply) in engine.auto_replies(account).unwrap() {
            writeln!(out, "  auto-reply {keyword}: {reply:?}").unwrap();
        }
        for m in engine.follower_messages(account, 10).unwrap_or_default() {
            writeln!(out, "  from a follower at {}: {:?}", m.at_ms, m.message).unwrap();
        }
        for seq in 1.. {
            let Some(job) = engine.job(JobId {
                account,
                seq: Seq(seq),
            }) else {
                break;
            };
            let r = job.report();
            writeln!(
                out,
                "  job {seq}: {:?} total {} filtered {} sent {} errors {}",
                r.status, r.total, r.filtered, r.sent, r.errors
            )
            .unwrap();
            if let Ok(info) = engine.article(job.id()) {
                writeln!(
                    out,
                    "    article corrections {} retracted {} reprint of {:?} open {}",
                    info.corrections, info.retracted, info.reprint_of, info.open_for_reprint
                )
                .unwrap();
            }
        }
    }
    for u in [0, 1, 2, 3, 4, 7, 10, 15, 20, 199, 201] {
        let fetched = engine.fetch(UserId(u), 0, 8).unwrap();
        let items: Vec<String> = fetched
            .items
            .iter()
            .map(|i| {
                let content = match &i.content {
                    Content::Message(m) => match &**m {
                        Message::Text(t) => format!("text {t:?}"),
                        Message::Article(a) => format!("article {:?}", a.body),
                        other => format!("{other:?}").chars().take(20).collect(),
                    },
                    Content::Retracted => "retracted".into(),
                    Content::Expired => "expired".into(),
                };
                format!("{}/{} {content}", i.account.0, i.seq.0)
            })
            .collect();
        writeln!(out, "inbox {u}: missed {} {:?}", fetched.missed, items).unwrap();
    }
    out
}

/// Copies the committed directory, so opening it (which writes) leaves the original as is.
fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_directory_written_at_log_format_1_and_snapshot_format_6_opens_unchanged() {
    opens_unchanged("golden-v1");
}

#[test]
fn a_directory_written_at_log_format_2_and_snapshot_format_6_opens_unchanged() {
    opens_unchanged("golden-v2");
}

#[test]
fn a_directory_written_at_log_format_3_and_snapshot_format_6_opens_unchanged() {
    opens_unchanged("golden-v3");
}

#[test]
fn every_format_witnesses_the_same_workload() {
    let v1 = std::fs::read_to_string(golden("golden-v1").join("expected.txt")).unwrap();
    let v2 = std::fs::read_to_string(golden("golden-v2").join("expected.txt")).unwrap();
    let v3 = std::fs::read_to_string(golden("golden-v3").join("expected.txt")).unwrap();
    assert_eq!(v1, v2);
    assert_eq!(v2, v3);
}

/// The current build writes the current format's bytes: the snapshot byte for byte, and
/// the same log records, frame for frame, each segment with the format-3 header. (The
/// workload is deterministic: a manual clock, each send waited for, one snapshot after
/// `wait_idle`. Where the segments are cut may move with the flusher's timing, so the log
/// is compared as one sequence of frames.) A change that moves a byte of either format
/// fails here and needs a new format version.
#[test]
fn this_build_writes_golden_v3_byte_for_byte() {
    let committed = golden("golden-v3").join("data");
    let dir = std::env::temp_dir().join(format!("herald-golden-write-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write(&dir);
    let snapshot = "snapshot-00000000000000000371.hsnap";
    assert!(
        std::fs::read(dir.join(snapshot)).unwrap()
            == std::fs::read(committed.join(snapshot)).unwrap(),
        "the snapshot differs from the committed golden-v3"
    );
    assert_eq!(frames(&dir), frames(&committed), "the log's records differ");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every log segment's frames, in order, after checking its header is format 3's.
fn frames(dir: &Path) -> Vec<u8> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    let mut out = Vec::new();
    for path in segments {
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..16], b"HERALDWL\x03\0\0\0\0\0\0\0", "{path:?}");
        out.extend_from_slice(&bytes[16..]);
    }
    out
}

/// Opens a copy of the committed directory `version`, from its snapshot and from its log
/// alone, and compares what it sees with `expected.txt`; then changes it and reopens it.
fn opens_unchanged(version: &str) {
    let committed = golden(version);
    let expected = std::fs::read_to_string(committed.join("expected.txt")).unwrap();
    let dir = std::env::temp_dir().join(format!("herald-{version}-{}", std::process::id()));
    copy_dir(&committed.join("data"), &dir);
    let clock = Arc::new(ManualClock::new(START + 30 * HOUR));
    let engine = open(&dir, clock);
    assert_eq!(engine.recovery_warnings(), &[] as &[String]);
    let observed = observe(&engine);
    if observed != expected {
        for (i, (a, b)) in observed.lines().zip(expected.lines()).enumerate() {
            if a != b {
                panic!("line {}: opened {a:?}\n    expected {b:?}", i + 1);
            }
        }
        panic!("opened:\n{observed}\nexpected:\n{expected}");
    }
    // The log alone (no snapshot) replays to the same state: every record kind of the
    // old format decodes.
    let log_only =
        std::env::temp_dir().join(format!("herald-{version}-log-{}", std::process::id()));
    copy_dir(&committed.join("data"), &log_only);
    for snapshot in std::fs::read_dir(&log_only).unwrap() {
        let path = snapshot.unwrap().path();
        if path.extension().is_some_and(|e| e == "hsnap") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let replayed = open(&log_only, Arc::new(ManualClock::new(START + 30 * HOUR)));
    assert_eq!(observe(&replayed), expected, "replaying the whole log");
    drop(replayed);
    let _ = std::fs::remove_dir_all(&log_only);
    // And it takes changes and opens again.
    engine.follow(AccountId(0), UserId(205), None).unwrap();
    engine.snapshot().unwrap();
    drop(engine);
    let engine = open(&dir, Arc::new(ManualClock::new(START + 31 * HOUR)));
    assert!(engine.is_following(AccountId(0), UserId(205)).unwrap());
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `tests/data/$HERALD_GOLDEN` (default `golden-v3`, the current format) anew. Run
/// by hand, only for a new format version (with a new directory name): a committed
/// directory is its format's witness.
#[test]
#[ignore]
fn write_golden() {
    let target = golden(&std::env::var("HERALD_GOLDEN").unwrap_or_else(|_| "golden-v3".into()));
    let data = target.join("data");
    let _ = std::fs::remove_dir_all(&target);
    let expected = write(&data);
    // The lock file is the running engine's, not part of the format.
    let _ = std::fs::remove_file(data.join("LOCK"));
    // Reopened as the test will: the observation must not depend on the process.
    let dir = std::env::temp_dir().join(format!("herald-golden-check-{}", std::process::id()));
    copy_dir(&data, &dir);
    let engine = open(&dir, Arc::new(ManualClock::new(START + 30 * HOUR)));
    assert_eq!(observe(&engine), expected);
    drop(engine);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::write(target.join("expected.txt"), expected).unwrap();
}
