//! Subjects and accounts: per-subject quotas (individual 1, organization 2) with approved
//! exceptions, registration information validated and required before sending, account
//! kinds, verification and record-registration metadata.

mod common;

use common::*;
use herald::{
    AccountKind, Category, QueryError, RegisterError, Registration, RegistrationError, SendError,
    SubjectId, SubjectKind,
};

#[test]
fn an_individual_subject_may_hold_one_account() {
    let (engine, _) = engine_at(JAN_1_2024);
    let me = engine
        .create_subject("Li Lei", SubjectKind::Individual)
        .unwrap();
    engine
        .register_in_subject(me, "li's notes", AccountKind::Subscription, complete())
        .unwrap();
    let second = engine.register_in_subject(
        me,
        "li's other notes",
        AccountKind::Subscription,
        complete(),
    );
    assert_eq!(
        second,
        Err(RegisterError::QuotaReached {
            subject: me,
            held: 1,
            quota: 1
        })
    );
    assert_eq!(
        engine.account_count(),
        1,
        "a refused registration changes nothing"
    );
}

#[test]
fn an_organization_subject_may_hold_two_accounts() {
    let (engine, _) = engine_at(JAN_1_2024);
    let org = engine
        .create_subject("Zhaoqing Daily", SubjectKind::Organization)
        .unwrap();
    engine
        .register_in_subject(org, "news", AccountKind::Subscription, complete())
        .unwrap();
    engine
        .register_in_subject(org, "service", AccountKind::Service, complete())
        .unwrap();
    assert!(matches!(
        engine.register_in_subject(org, "third", AccountKind::Service, complete()),
        Err(RegisterError::QuotaReached {
            held: 2,
            quota: 2,
            ..
        })
    ));
}

#[test]
fn an_approved_exception_raises_the_subjects_own_limit() {
    let (engine, _) = engine_at(JAN_1_2024);
    let org = engine
        .create_subject("Big Corp", SubjectKind::Organization)
        .unwrap();
    let other = engine
        .create_subject("Small Corp", SubjectKind::Organization)
        .unwrap();
    for name in ["a", "b"] {
        engine
            .register_in_subject(org, name, AccountKind::Service, complete())
            .unwrap();
    }
    engine.approve_quota(org, 5).unwrap();
    engine
        .register_in_subject(org, "c", AccountKind::Service, complete())
        .unwrap();
    assert_eq!(engine.subject(org).unwrap().quota, 5);
    assert_eq!(engine.subject(org).unwrap().accounts.len(), 3);
    assert_eq!(
        engine.subject(other).unwrap().quota,
        2,
        "only that subject's limit moved"
    );
}

#[test]
fn quotas_are_configuration() {
    let mut config = config();
    config.rules.individual_account_quota = 5;
    let (engine, _) = engine_with(config, JAN_1_2024);
    let me = engine
        .create_subject("Li Lei", SubjectKind::Individual)
        .unwrap();
    for i in 0..5 {
        engine
            .register_in_subject(me, &format!("n{i}"), AccountKind::Subscription, complete())
            .unwrap();
    }
    assert!(
        engine
            .register_in_subject(me, "n5", AccountKind::Subscription, complete())
            .is_err()
    );
}

#[test]
fn terminating_an_account_frees_its_place_in_the_quota() {
    let (engine, _) = engine_at(JAN_1_2024);
    let me = engine
        .create_subject("Li Lei", SubjectKind::Individual)
        .unwrap();
    let first = engine
        .register_in_subject(me, "one", AccountKind::Subscription, complete())
        .unwrap();
    assert!(
        engine
            .register_in_subject(me, "two", AccountKind::Subscription, complete())
            .is_err()
    );
    engine.terminate_account(first).unwrap();
    let second = engine
        .register_in_subject(me, "two", AccountKind::Subscription, complete())
        .unwrap();
    assert_ne!(first, second, "account ids are never reused");
    assert_eq!(engine.subject(me).unwrap().accounts, vec![second]);
}

#[test]
fn an_account_with_incomplete_registration_cannot_send_until_completed() {
    let (engine, _) = engine_at(JAN_1_2024);
    let org = engine
        .create_subject("Org", SubjectKind::Organization)
        .unwrap();
    let partial = Registration {
        region: "Zhaoqing".into(),
        ..Registration::default()
    };
    let account = engine
        .register_in_subject(org, "news", AccountKind::Service, partial)
        .unwrap();
    followers(&engine, account, 3);
    assert_eq!(
        engine.send(account, to_all(text("hi"))).unwrap_err(),
        SendError::RegistrationIncomplete {
            missing: vec!["category", "contact"]
        }
    );
    assert_eq!(engine.account_profile(account).unwrap().missing.len(), 2);
    engine.update_registration(account, complete()).unwrap();
    let report = engine.send(account, to_all(text("hi"))).unwrap().wait();
    assert_eq!(report.sent, 3);
}

#[test]
fn invalid_registration_information_is_refused() {
    let (engine, _) = engine_at(JAN_1_2024);
    let org = engine
        .create_subject("Org", SubjectKind::Organization)
        .unwrap();
    let bad_contact = Registration::new("Zhaoqing", Category::Enterprise, "call me maybe");
    assert!(matches!(
        engine.register_in_subject(org, "x", AccountKind::Service, bad_contact),
        Err(RegisterError::InvalidRegistration(
            RegistrationError::InvalidContact { .. }
        ))
    ));
    let bad_region = Registration::new("a\u{7}b", Category::Enterprise, "+86 758 1234567");
    assert!(matches!(
        engine.register_in_subject(org, "x", AccountKind::Service, bad_region),
        Err(RegisterError::InvalidRegistration(
            RegistrationError::InvalidRegion { .. }
        ))
    ));
    assert_eq!(engine.account_count(), 0);
    assert_eq!(
        engine.register_in_subject(SubjectId(9), "x", AccountKind::Service, complete()),
        Err(RegisterError::UnknownSubject(SubjectId(9)))
    );
    assert!(
        engine
            .create_subject("  ", SubjectKind::Individual)
            .is_err()
    );
}

#[test]
fn accounts_carry_kind_verification_and_record_registration_metadata() {
    let (engine, _) = engine_at(JAN_1_2024);
    let org = engine
        .create_subject("City Gov", SubjectKind::Organization)
        .unwrap();
    let reg = Registration::new("Zhaoqing", Category::Government, "+86 758 2222 333");
    let account = engine
        .register_in_subject(org, "city", AccountKind::Service, reg.clone())
        .unwrap();
    engine.set_verified(account, true).unwrap();
    let profile = engine.account_profile(account).unwrap();
    assert_eq!(profile.subject, Some(org));
    assert_eq!(profile.kind, Some(AccountKind::Service));
    assert!(profile.verified);
    assert_eq!(profile.registration, Some(reg));
    assert!(profile.missing.is_empty());
}

#[test]
fn low_level_accounts_have_no_subject_and_no_kind_limits() {
    let (engine, _) = engine_at(JAN_1_2024);
    let account = engine.register_account("legacy").unwrap();
    followers(&engine, account, 2);
    for i in 0..6 {
        let r = engine
            .send(account, to_all(text(&format!("m{i}"))))
            .unwrap()
            .wait();
        assert_eq!((r.sent, r.filtered), (2, 0));
    }
    let profile = engine.account_profile(account).unwrap();
    assert_eq!((profile.subject, profile.kind), (None, None));
    assert!(matches!(
        engine.update_registration(account, complete()),
        Err(herald::AccountError::NoRegistration(_))
    ));
    assert_eq!(
        engine.subject(SubjectId(0)),
        Err(QueryError::UnknownSubject(SubjectId(0)))
    );
}
