//! A tour of the platform's rules: one service account from registration to termination,
//! on a manual clock, printing what happens at each step.
//!
//! `cargo run --example tour`

use std::sync::Arc;

use herald::{
    AccountKind, Article, Audience, Category, Clock, Content, Engine, EngineConfig, ManualClock,
    Media, MediaFormat, Message, Registration, SendRequest, SubjectKind,
};

const HOUR: u64 = 60 * 60 * 1000;
const DAY: u64 = 24 * HOUR;
/// 2024-03-04T09:00:00+08:00, a Monday morning in the platform's default zone
/// (Asia/Shanghai).
const START: u64 = 1_709_514_000_000;

fn main() {
    let clock = Arc::new(ManualClock::new(START));
    let engine = Engine::builder(EngineConfig {
        threads: 2,
        ..EngineConfig::default()
    })
    .clock(clock.clone())
    .build();
    let at = |c: &ManualClock| when(c.now_ms());

    step("Registration");
    let chen = engine
        .create_subject("Chen Jing", SubjectKind::Individual)
        .unwrap();
    let partial = Registration {
        region: "Zhaoqing, Guangdong".into(),
        category: Some(Category::Individual),
        contact: String::new(),
    };
    let account = engine
        .register_in_subject(
            chen,
            "Seven Star Crags Daily",
            AccountKind::Service,
            partial,
        )
        .unwrap();
    say(format!(
        "{} registers {account} (a service account); its contact is missing",
        engine.subject(chen).unwrap().name
    ));
    let second = engine.register_in_subject(
        chen,
        "Chen's second account",
        AccountKind::Subscription,
        complete(),
    );
    say(format!(
        "a second account for the same person: {}",
        err(second)
    ));

    step("Follows from QR scenes, and tags");
    let users = engine.add_users(6).unwrap();
    let mut open_ids = Vec::new();
    for u in users {
        let scene = if u.0 % 2 == 0 {
            "qr:station-3"
        } else {
            "qr:expo-hall"
        };
        open_ids.push(engine.follow(account, u, Some(scene)).unwrap());
    }
    for s in engine.follow_sources(account).unwrap() {
        say(format!("{} followers from {}", s.current, s.source));
    }
    let hikers = engine.create_tag(account, "hikers").unwrap();
    engine
        .tag_followers(account, hikers, &open_ids[..3])
        .unwrap();
    say(format!(
        "tag \"hikers\" on {} followers, e.g. {}",
        engine.tags(account).unwrap()[0].followers,
        open_ids[0]
    ));

    step("Preview (restricted until the registration is complete)");
    let draft = article(
        "Spring at the crags",
        "The azaleas on Seven Star Crags bloom early this year; the lake paths open at dawn.",
    );
    say(format!(
        "preview: {}",
        err(engine.preview(account, open_ids[0], draft.clone()))
    ));
    engine.update_registration(account, complete()).unwrap();
    let preview = engine
        .preview(account, open_ids[0], draft.clone())
        .unwrap()
        .wait();
    say(format!(
        "registration completed; preview delivered to {} follower",
        preview.sent
    ));

    step("A scheduled broadcast");
    let evening = START + 11 * HOUR;
    let schedule = engine
        .schedule(
            account,
            SendRequest::new(draft.clone(), Audience::All).open_for_reprint(),
            evening,
        )
        .unwrap();
    say(format!("{schedule} due at {}", when(evening)));
    clock.set_ms(evening - 1);
    say(format!(
        "{}: run_due fires {} sends",
        at(&clock),
        engine.run_due().len()
    ));
    clock.set_ms(evening);
    let fired = engine.run_due();
    let first = fired[0].result.as_ref().unwrap();
    let report = first.wait();
    say(format!(
        "{}: {} fired as {}: {} of {} delivered",
        at(&clock),
        fired[0].schedule,
        report.job,
        report.sent,
        report.total
    ));

    step("The monthly cap (4 broadcasts per follower per calendar month)");
    for (i, day) in [(2, 1), (3, 2)] {
        clock.set_ms(START + day * DAY);
        let r = engine
            .send(
                account,
                SendRequest::new(Message::Text(format!("Trail news #{i}")), Audience::All),
            )
            .unwrap()
            .wait();
        say(format!(
            "{}: broadcast {i} to all: sent {}, filtered {}",
            at(&clock),
            r.sent,
            r.filtered
        ));
    }
    let r = engine
        .send(
            account,
            SendRequest::new(
                Message::Text("Hikers' meetup".into()),
                Audience::Tag(hikers),
            ),
        )
        .unwrap()
        .wait();
    say(format!(
        "{}: broadcast 4 to \"hikers\": sent {}, filtered {}",
        at(&clock),
        r.sent,
        r.filtered
    ));
    let r = engine
        .send(
            account,
            SendRequest::new(Message::Text("Trail news #5".into()), Audience::All),
        )
        .unwrap()
        .wait();
    say(format!(
        "{}: broadcast 5 to all: total {}, sent {}, filtered {} (the hikers had their 4), errors {}",
        at(&clock),
        r.total,
        r.sent,
        r.filtered,
        r.errors
    ));

    step("A correction (once, at most 10 characters, body only)");
    let Message::Article(original) = draft.clone() else {
        unreachable!()
    };
    let mut fixed = original.clone();
    fixed.body = fixed.body.replace("at dawn", "at 6 a.m.");
    engine.correct_article(first.id(), fixed).unwrap();
    let mut too_much = original.clone();
    too_much.body = "Completely rewritten.".into();
    say("corrected \"at dawn\" to \"at 6 a.m.\" (within the 10-character limit)".to_string());
    say(format!(
        "a second correction: {}",
        err(engine.correct_article(first.id(), too_much))
    ));
    engine.wait_idle().unwrap();
    if let Content::Message(m) = &engine.fetch(users.first(), 0, 10).unwrap().items[1].content
        && let Message::Article(a) = &**m
    {
        say(format!("a reader now reads: \"{}\"", a.body));
    }

    step("Reprints and originality");
    let press = engine
        .create_subject("Zhaoqing Press", SubjectKind::Organization)
        .unwrap();
    let other = engine
        .register_in_subject(press, "Zhaoqing Weekend", AccountKind::Service, complete())
        .unwrap();
    engine.follow(other, users.get(1).unwrap(), None).unwrap();
    say(format!(
        "{other} sends the same article as its own: {}",
        err(engine.send(other, SendRequest::new(draft.clone(), Audience::All)))
    ));
    let reprint = engine
        .send(
            other,
            SendRequest::new(draft.clone(), Audience::All).reprint_of(first.id()),
        )
        .unwrap();
    let info = engine.article(reprint.id()).unwrap();
    say(format!(
        "{other} reprints it (open for reprint): {} attributed to {}",
        reprint.id(),
        info.reprint_of.unwrap()
    ));

    step("A like-collection violation and its ban");
    let ban = engine.record_violation(account).unwrap();
    say(format!("1st violation at {}: banned {ban}", at(&clock)));
    let refused = engine.send(
        account,
        SendRequest::new(Message::Text("Vote for us!".into()), Audience::All),
    );
    say(format!("a send now: {}", err(refused)));
    if let herald::Ban::Until(until) = ban {
        clock.set_ms(until - 1_000);
        say(format!(
            "{}: {}",
            at(&clock),
            err(engine.preview(account, open_ids[0], Message::Text("still?".into())))
        ));
        clock.set_ms(until);
        let ok = engine
            .preview(account, open_ids[0], Message::Text("back".into()))
            .unwrap()
            .wait();
        say(format!(
            "{}: the ban lifted by itself; a preview is delivered to {}",
            at(&clock),
            ok.sent
        ));
    }

    step("Export");
    let path = std::env::temp_dir().join("herald-tour-export.jsonl");
    let summary = engine.export(account, &path).unwrap();
    say(format!(
        "{} messages, {} followers, {} tags, {} sources, {} bytes written to {}",
        summary.messages,
        summary.followers,
        summary.tags,
        summary.sources,
        summary.bytes,
        path.display()
    ));
    for line in std::fs::read_to_string(&path).unwrap().lines().take(3) {
        say(format!("  {}", shorten(line)));
    }

    step("Termination");
    let edges = engine.follow_edges();
    engine.terminate_account(account).unwrap();
    say(format!(
        "{account} terminated: follow edges {edges} -> {}, its inbox entries are gone ({} has {} left)",
        engine.follow_edges(),
        users.first(),
        engine.fetch(users.first(), 0, 10).unwrap().items.len()
    ));
    let again = engine
        .register_in_subject(
            chen,
            "Chen's second account",
            AccountKind::Subscription,
            complete(),
        )
        .unwrap();
    say(format!(
        "{} may register again: {again}",
        engine.subject(chen).unwrap().name
    ));
    let _ = std::fs::remove_file(&path);
}

fn complete() -> Registration {
    Registration::new(
        "Zhaoqing, Guangdong",
        Category::Individual,
        "chen.jing@example.cn",
    )
}

fn article(title: &str, body: &str) -> Message {
    Message::Article(Article {
        title: title.into(),
        summary: "What to see this week".into(),
        body: body.into(),
        cover: Media {
            media_id: "cover-azaleas".into(),
            format: MediaFormat::Jpeg,
            bytes: 180_000,
            duration_secs: 0,
        },
    })
}

fn step(title: &str) {
    println!("\n== {title}");
}

fn say(s: String) {
    println!("   {s}");
}

fn err<T: std::fmt::Debug, E: std::fmt::Display>(r: Result<T, E>) -> String {
    match r {
        Ok(v) => format!("accepted ({v:?})"),
        Err(e) => format!("refused: {e}"),
    }
}

fn shorten(line: &str) -> String {
    if line.chars().count() > 150 {
        format!("{}…", line.chars().take(150).collect::<String>())
    } else {
        line.to_string()
    }
}

/// `ms` as a date and time in the platform's default zone.
fn when(ms: u64) -> String {
    herald::LocalTime::new(ms, &herald::TimeZone::default()).to_string()
}
