//! Previews (one follower, at most 100 a day), scheduled sends (fire at their time, can be
//! cancelled before it), and retraction (status retracted, fetch returns a tombstone).

mod common;

use common::*;
use herald::{
    AccountKind, Audience, Content, JobStatus, RetractError, ScheduleError, ScheduleId, SendError,
    SendPurpose, TagExpr, TagId,
};

#[test]
fn a_preview_reaches_only_the_chosen_follower_and_is_not_a_broadcast() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "daily", AccountKind::Subscription);
    let f = followers(&engine, account, 3);
    let job = engine.preview(account, f[1].1, text("draft")).unwrap();
    let r = job.wait();
    assert_eq!((r.total, r.sent), (1, 1));
    assert_eq!(engine.fetch(f[1].0, 0, 10).unwrap().items.len(), 1);
    assert!(engine.fetch(f[0].0, 0, 10).unwrap().items.is_empty());
    assert_eq!(
        engine.article(job.id()).unwrap().purpose,
        SendPurpose::Preview
    );
    // The day's one broadcast is still available.
    assert_eq!(
        engine
            .send(account, to_all(text("final")))
            .unwrap()
            .wait()
            .sent,
        3
    );
}

#[test]
fn the_100th_preview_of_a_day_is_sent_and_the_101st_refused() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 1);
    for i in 0..100 {
        engine
            .preview(account, f[0].1, text(&format!("p{i}")))
            .unwrap_or_else(|e| panic!("preview {}: {e}", i + 1));
    }
    assert_eq!(
        engine.preview(account, f[0].1, text("p101")).unwrap_err(),
        SendError::PreviewLimit {
            limit: 100,
            // Midnight in the platform's zone (Asia/Shanghai).
            next_day_ms: JAN_1_2024_BEIJING + DAY,
            zone: herald::TimeZone::default(),
        }
    );
    clock.set_ms(JAN_1_2024_BEIJING + DAY);
    engine.preview(account, f[0].1, text("next day")).unwrap();
}

#[test]
fn a_preview_to_a_non_follower_is_refused() {
    let (engine, _) = engine_at(JAN_1_2024);
    let a = account(&engine, "a", AccountKind::Service);
    let b = account(&engine, "b", AccountKind::Service);
    let fb = followers(&engine, b, 1);
    let open_id_for_a = engine.open_id(a, fb[0].0).unwrap();
    assert!(matches!(
        engine.preview(a, open_id_for_a, text("x")),
        Err(SendError::InvalidAudience(_))
    ));
    // An OpenID of another account does not decode for this one.
    assert!(engine.preview(a, fb[0].1, text("x")).is_err());
}

#[test]
fn a_scheduled_send_fires_when_the_clock_passes_its_time() {
    let (engine, clock) = engine_at(JAN_1_2024 + 8 * HOUR);
    let account = account(&engine, "evening", AccountKind::Subscription);
    let f = followers(&engine, account, 4);
    let due = JAN_1_2024 + 20 * HOUR;
    let id = engine
        .schedule(account, to_all(text("evening news")), due)
        .unwrap();
    assert_eq!(engine.scheduled(account).unwrap().len(), 1);
    clock.set_ms(due - 1);
    assert!(engine.run_due().is_empty(), "not yet due");
    assert!(engine.fetch(f[0].0, 0, 10).unwrap().items.is_empty());
    clock.set_ms(due);
    let fired = engine.run_due();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].schedule, id);
    let report = fired[0].result.as_ref().unwrap().wait();
    assert_eq!(report.sent, 4);
    assert!(engine.scheduled(account).unwrap().is_empty());
    assert!(engine.run_due().is_empty(), "a schedule fires once");
}

#[test]
fn a_scheduled_send_fixes_its_audience_when_it_fires() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    followers(&engine, account, 2);
    engine
        .schedule(account, to_all(text("later")), JAN_1_2024 + HOUR)
        .unwrap();
    followers(&engine, account, 3);
    clock.set_ms(JAN_1_2024 + HOUR);
    let fired = engine.run_due();
    assert_eq!(fired[0].result.as_ref().unwrap().wait().total, 5);
}

#[test]
fn a_scheduled_send_can_be_cancelled_before_its_time() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 2);
    let id = engine
        .schedule(account, to_all(text("never")), JAN_1_2024 + HOUR)
        .unwrap();
    engine.cancel_schedule(account, id).unwrap();
    assert_eq!(
        engine.cancel_schedule(account, id),
        Err(ScheduleError::UnknownSchedule(id))
    );
    clock.set_ms(JAN_1_2024 + 2 * HOUR);
    assert!(engine.run_due().is_empty());
    engine.wait_idle().unwrap();
    assert!(engine.fetch(f[0].0, 0, 10).unwrap().items.is_empty());
}

#[test]
fn a_scheduled_send_refused_by_the_rules_when_due_is_reported_and_dropped() {
    let (engine, clock) = engine_at(JAN_1_2024);
    let account = account(&engine, "daily", AccountKind::Subscription);
    followers(&engine, account, 1);
    engine
        .schedule(account, to_all(text("later")), JAN_1_2024 + HOUR)
        .unwrap();
    engine.send(account, to_all(text("now"))).unwrap();
    clock.set_ms(JAN_1_2024 + HOUR);
    let fired = engine.run_due();
    assert!(matches!(fired[0].result, Err(SendError::DailyLimit { .. })));
    assert!(engine.scheduled(account).unwrap().is_empty());
}

#[test]
fn scheduling_in_the_past_or_with_a_bad_audience_is_refused() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    assert_eq!(
        engine.schedule(account, to_all(text("x")), JAN_1_2024),
        Err(ScheduleError::NotInFuture {
            due_ms: JAN_1_2024,
            now_ms: JAN_1_2024
        })
    );
    let bad = herald::SendRequest::new(text("x"), Audience::Expr(TagExpr::Tag(TagId(7))));
    assert!(matches!(
        engine.schedule(account, bad, JAN_1_2024 + 1),
        Err(ScheduleError::Invalid(SendError::InvalidAudience(_)))
    ));
    assert!(matches!(
        engine.schedule(account, to_all(text("")), JAN_1_2024 + 1),
        Err(ScheduleError::Invalid(SendError::InvalidMessage(_)))
    ));
    assert!(engine.scheduled(account).unwrap().is_empty());
    assert_eq!(
        engine.cancel_schedule(account, ScheduleId(0)),
        Err(ScheduleError::UnknownSchedule(ScheduleId(0)))
    );
}

#[test]
fn a_retracted_article_reads_as_a_tombstone_and_its_job_is_retracted() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let f = followers(&engine, account, 3);
    let job = engine
        .send(account, to_all(article("Title", "Body of the article")))
        .unwrap();
    job.wait();
    assert!(matches!(
        &engine.fetch(f[0].0, 0, 10).unwrap().items[0].content,
        Content::Message(_)
    ));
    engine.retract(job.id()).unwrap();
    assert_eq!(job.status(), JobStatus::Retracted);
    assert_eq!(job.report().status, JobStatus::Retracted);
    assert_eq!(
        engine.job(job.id()).unwrap().wait().status,
        JobStatus::Retracted
    );
    for (user, _) in &f {
        assert_eq!(
            engine.fetch(*user, 0, 10).unwrap().items[0].content,
            Content::Retracted
        );
    }
    assert_eq!(
        engine.retract(job.id()),
        Err(RetractError::AlreadyRetracted(job.id()))
    );
}

#[test]
fn a_video_can_be_retracted_but_a_text_cannot() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    followers(&engine, account, 1);
    let v = engine.send(account, to_all(video())).unwrap();
    engine.retract(v.id()).unwrap();
    let t = engine.send(account, to_all(text("plain"))).unwrap();
    assert_eq!(engine.retract(t.id()), Err(RetractError::NotRetractable));
    assert_eq!(t.wait().status, JobStatus::Done);
    let unknown = herald::JobId {
        account,
        seq: herald::Seq(99),
    };
    assert_eq!(
        engine.retract(unknown),
        Err(RetractError::UnknownJob(unknown))
    );
}
