//! Bad input to the rules API is refused with a typed error, changes nothing and never
//! panics: unknown accounts, subjects, jobs and schedules, and out-of-range settings.

mod common;

use common::*;
use herald::{
    AccountError, AccountId, AccountKind, CorrectError, ExportError, InteractError, JobId, OpenId,
    QueryError, RetractError, ScheduleError, ScheduleId, SendError, Seq, SubjectError, SubjectId,
    TerminateError, UserId,
};

#[test]
fn every_rules_call_refuses_an_unknown_account() {
    let (engine, _) = engine_at(JAN_1_2024);
    let nobody = AccountId(42);
    let job = JobId {
        account: nobody,
        seq: Seq(1),
    };
    engine.add_users(1).unwrap();
    assert_eq!(
        engine.update_registration(nobody, complete()),
        Err(AccountError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.set_verified(nobody, true),
        Err(AccountError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.record_violation(nobody),
        Err(AccountError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.set_speed_tier(nobody, Some(1)),
        Err(AccountError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.set_retention(nobody, Some(1)),
        Err(AccountError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.set_storage_quota(nobody, Some(1)),
        Err(AccountError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.set_auto_reply(nobody, "k", text("r")),
        Err(AccountError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.terminate_account(nobody),
        Err(TerminateError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.schedule(nobody, to_all(text("x")), JAN_1_2024 + 1),
        Err(ScheduleError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.cancel_schedule(nobody, ScheduleId(0)),
        Err(ScheduleError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.retract(job),
        Err(RetractError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.correct_article(job, article_parts("t", "b")),
        Err(CorrectError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.preview(nobody, OpenId(1), text("x")).unwrap_err(),
        SendError::UnknownAccount(nobody)
    );
    assert_eq!(
        engine.reply(nobody, OpenId(1), text("x")).unwrap_err(),
        SendError::UnknownAccount(nobody)
    );
    assert_eq!(
        engine
            .message_account(UserId(0), nobody, text("x"))
            .unwrap_err(),
        InteractError::UnknownAccount(nobody)
    );
    assert_eq!(
        engine
            .message_account(UserId(9), nobody, text("x"))
            .unwrap_err(),
        InteractError::UnknownUser(UserId(9))
    );
    assert_eq!(
        engine.export(nobody, std::env::temp_dir().join("never-written.jsonl")),
        Err(ExportError::UnknownAccount(nobody))
    );
    assert_eq!(engine.article(job), Err(QueryError::UnknownAccount(nobody)));
    assert_eq!(
        engine.active_ban(nobody),
        Err(QueryError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.storage_usage(nobody),
        Err(QueryError::UnknownAccount(nobody))
    );
    assert_eq!(
        engine.approve_quota(SubjectId(3), 9),
        Err(SubjectError::UnknownSubject(SubjectId(3)))
    );
    assert_eq!(engine.account_count(), 0);
}

#[test]
fn an_unknown_job_or_an_export_to_a_bad_path_is_refused() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = account(&engine, "svc", AccountKind::Service);
    let job = JobId {
        account,
        seq: Seq(7),
    };
    assert_eq!(engine.article(job), Err(QueryError::UnknownJob(job)));
    assert_eq!(
        engine.correct_article(job, article_parts("t", "b")),
        Err(CorrectError::UnknownJob(job))
    );
    assert_eq!(engine.retract(job), Err(RetractError::UnknownJob(job)));
    assert!(matches!(
        engine.export(account, "/nonexistent-dir/x/y.jsonl"),
        Err(ExportError::Io(_))
    ));
    assert_eq!(
        engine.set_retention(account, Some(0)),
        Err(AccountError::InvalidRetention)
    );
    let long = "k".repeat(31);
    assert!(matches!(
        engine.set_auto_reply(account, &long, text("r")),
        Err(AccountError::InvalidKeyword { max: 30 })
    ));
}
