//! Model-based test: random sequences of follows, unfollows, tag changes and sends, applied
//! both to an engine and to a plain model (followers and tags as `BTreeSet`s, and for every
//! user the list of `(account, seq)` it must have received). Every refused operation must
//! return the error the model predicts and change nothing; at the end every inbox must hold
//! exactly what the model says, once each, in each account's send order, and every job report
//! and graph query must agree with the model.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use herald::{
    AccountId, Audience, AudienceError, Content, Engine, EngineConfig, FollowChange,
    FollowChangeError, FollowError, JobHandle, JobId, JobStatus, Limits, Message, MessageError,
    OpenId, SendError, SendRequest, Seq, SourceStats, TagError, TagExpr, TagId, TagInfo,
    UnfollowError, UserId,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const ACCOUNTS: u32 = 3;
const USERS: u32 = 40;
/// A user id that never exists.
const GHOST_USER: u32 = 1_000;
/// A tag id that is never created.
const GHOST_TAG: TagId = TagId(999);
const TAG_NAMES: [&str; 6] = ["sports", "news", "体育", "vip", "muted", "北京"];
const SOURCES: [&str; 2] = ["qr:station-1", "qr:station-2"];
const KEYS: [&str; 3] = ["order-1", "order-2", "order-3"];

// Small limits so that every refusal is reachable in a short sequence.
const TAGS_PER_ACCOUNT: usize = 4;
const TAGS_PER_FOLLOWER: usize = 2;
const TAG_BATCH_MAX: usize = 5;
const EXPR_MAX_NODES: usize = 8;
const LIST_MIN: usize = 2;
const LIST_MAX: usize = 6;
const INBOX: usize = 256;

fn config() -> EngineConfig {
    EngineConfig {
        threads: 2,
        inbox_capacity: INBOX,
        openid_secret: *b"model-sends-0001",
        limits: Limits {
            tags_per_account: TAGS_PER_ACCOUNT,
            tags_per_follower: TAGS_PER_FOLLOWER,
            tag_batch_max: TAG_BATCH_MAX,
            tag_expr_max_nodes: EXPR_MAX_NODES,
            openid_list_min: LIST_MIN,
            openid_list_max: LIST_MAX,
            ..Limits::default()
        },
        ..Default::default()
    }
}

// ----- operations -------------------------------------------------------------------------

/// A tag as an operation names it, resolved against the model when the operation runs.
#[derive(Debug, Clone, Copy)]
enum TagRef {
    /// The account's n-th live tag (modulo their number); a ghost if it has none.
    Live(usize),
    /// The n-th tag the account created (modulo their number), deleted ones included.
    Created(usize),
    /// A tag id that never existed.
    Ghost,
}

/// A user as an unfollow names it.
#[derive(Debug, Clone, Copy)]
enum UserRef {
    /// The account's n-th follower (modulo their number); user n if it has none.
    Follower(usize),
    Any(u32),
}

/// An OpenID in a tag batch or list audience.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The OpenID of the account's n-th follower (modulo their number) at the time of the
    /// operation; the OpenID of user n if the account has no followers.
    Follower(usize),
    /// The user's OpenID for the operation's account (the user may or may not follow).
    User(u32),
    /// The user's OpenID for another account.
    OtherAccount(u32),
    /// A made-up OpenID.
    Random(u64),
}

#[derive(Debug, Clone)]
enum ExprSpec {
    Tag(TagRef),
    And(Vec<ExprSpec>),
    Or(Vec<ExprSpec>),
    Not(Box<ExprSpec>),
}

#[derive(Debug, Clone)]
enum AudienceSpec {
    All,
    Tag(TagRef),
    Expr(ExprSpec),
    OpenIds(Vec<Target>),
}

#[derive(Debug, Clone)]
enum Op {
    Follow {
        user: u32,
        account: u32,
        source: Option<usize>,
    },
    FollowMany {
        account: u32,
        users: Vec<u32>,
    },
    Unfollow {
        user: UserRef,
        account: u32,
    },
    /// `Engine::change_follows`: (follow?, user, account) in order.
    ChangeFollows(Vec<(bool, UserRef, u32)>),
    CreateTag {
        account: u32,
        name: usize,
    },
    DeleteTag {
        account: u32,
        tag: TagRef,
    },
    Retag {
        account: u32,
        tag: TagRef,
        targets: Vec<Target>,
        add: bool,
    },
    Send {
        account: u32,
        audience: AudienceSpec,
        key: Option<usize>,
        valid_message: bool,
    },
}

fn account() -> impl Strategy<Value = u32> {
    // `ACCOUNTS` itself is an account that was never registered.
    prop_oneof![12 => 0..ACCOUNTS, 1 => Just(ACCOUNTS)]
}

fn user() -> impl Strategy<Value = u32> {
    prop_oneof![30 => 0..USERS, 1 => Just(GHOST_USER)]
}

fn tag_ref() -> impl Strategy<Value = TagRef> {
    prop_oneof![
        12 => (0usize..8).prop_map(TagRef::Live),
        3 => (0usize..8).prop_map(TagRef::Created),
        1 => Just(TagRef::Ghost),
    ]
}

fn user_ref() -> impl Strategy<Value = UserRef> {
    prop_oneof![3 => (0..USERS as usize).prop_map(UserRef::Follower), 1 => user().prop_map(UserRef::Any)]
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        24 => (0..USERS as usize).prop_map(Target::Follower),
        8 => (0..USERS).prop_map(Target::User),
        1 => (0..USERS).prop_map(Target::OtherAccount),
        1 => any::<u64>().prop_map(Target::Random),
    ]
}

fn expr() -> impl Strategy<Value = ExprSpec> {
    tag_ref()
        .prop_map(ExprSpec::Tag)
        .prop_recursive(3, 16, 3, |inner| {
            let parts = prop_oneof![
                1 => Just(Vec::new()),
                8 => prop::collection::vec(inner.clone(), 1..4),
            ];
            prop_oneof![
                parts.clone().prop_map(ExprSpec::And),
                parts.prop_map(ExprSpec::Or),
                inner.prop_map(|e| ExprSpec::Not(Box::new(e))),
            ]
        })
}

fn audience() -> impl Strategy<Value = AudienceSpec> {
    prop_oneof![
        3 => Just(AudienceSpec::All),
        2 => tag_ref().prop_map(AudienceSpec::Tag),
        3 => expr().prop_map(AudienceSpec::Expr),
        2 => prop::collection::vec(target(), 0..LIST_MAX + 2).prop_map(AudienceSpec::OpenIds),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (user(), account(), prop::option::of(0..SOURCES.len()))
            .prop_map(|(user, account, source)| Op::Follow { user, account, source }),
        2 => (account(), prop::collection::vec(user(), 0..16))
            .prop_map(|(account, users)| Op::FollowMany { account, users }),
        3 => (user_ref(), account()).prop_map(|(user, account)| Op::Unfollow { user, account }),
        2 => prop::collection::vec((any::<bool>(), user_ref(), account()), 0..40)
            .prop_map(Op::ChangeFollows),
        4 => (account(), 0..TAG_NAMES.len())
            .prop_map(|(account, name)| Op::CreateTag { account, name }),
        1 => (account(), tag_ref()).prop_map(|(account, tag)| Op::DeleteTag { account, tag }),
        5 => (
            account(),
            tag_ref(),
            prop_oneof![
                1 => Just(Vec::new()),
                12 => prop::collection::vec(target(), 1..TAG_BATCH_MAX + 1),
                1 => prop::collection::vec(target(), TAG_BATCH_MAX + 1..TAG_BATCH_MAX + 3),
            ],
            prop::bool::weighted(0.75),
        )
            .prop_map(|(account, tag, targets, add)| Op::Retag { account, tag, targets, add }),
        6 => (
            account(),
            audience(),
            prop::option::weighted(0.2, 0..KEYS.len()),
            prop::bool::weighted(0.95),
        )
            .prop_map(|(account, audience, key, valid_message)| Op::Send {
                account,
                audience,
                key,
                valid_message,
            }),
    ]
}

/// A random start, so that later operations find followers and tags to work on: each
/// account gets some followers and up to three tags.
fn setup() -> impl Strategy<Value = Vec<Op>> {
    let per_account = |account: u32| {
        (
            prop::collection::vec(0..USERS, 0..25),
            prop::sample::subsequence((0..TAG_NAMES.len()).collect::<Vec<_>>(), 0..=3),
        )
            .prop_map(move |(users, names)| {
                let mut ops = vec![Op::FollowMany { account, users }];
                ops.extend(
                    names
                        .into_iter()
                        .map(|name| Op::CreateTag { account, name }),
                );
                ops
            })
    };
    (per_account(0), per_account(1), per_account(2)).prop_map(|(a, b, c)| [a, b, c].concat())
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    (setup(), prop::collection::vec(op(), 1..60)).prop_map(|(setup, ops)| [setup, ops].concat())
}

// ----- the model --------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct ModelTag {
    name: String,
    members: BTreeSet<u32>,
}

#[derive(Debug, Clone)]
struct ModelSource {
    name: String,
    current: BTreeSet<u32>,
    total: u64,
}

#[derive(Default)]
struct Model {
    followers: HashMap<u32, BTreeSet<u32>>,
    /// Live tags only.
    tags: HashMap<(u32, TagId), ModelTag>,
    /// Every tag id each account was given, deleted ones included, in creation order.
    created: HashMap<u32, Vec<TagId>>,
    sources: HashMap<u32, Vec<ModelSource>>,
    /// What each user must have received: (account, seq), in acceptance order.
    inbox: HashMap<u32, Vec<(u32, u32)>>,
    last_seq: HashMap<u32, u32>,
    keys: HashMap<(u32, &'static str), JobId>,
    messages: HashMap<(u32, u32), Message>,
    /// Every accepted job, with the audience size the model fixed at acceptance.
    jobs: Vec<(JobHandle, u64)>,
}

impl Model {
    /// What `follow(user, account, source)` must return; applied to the model if it
    /// succeeds.
    fn follow(&mut self, account: u32, user: u32, source: Option<&str>) -> Result<(), FollowError> {
        let (u, a) = (UserId(user), AccountId(account));
        if user >= USERS {
            return Err(FollowError::UnknownUser(u));
        }
        if account >= ACCOUNTS {
            return Err(FollowError::UnknownAccount(a));
        }
        if self.follows(account, user) {
            return Err(FollowError::AlreadyFollowing {
                user: u,
                account: a,
            });
        }
        self.followers.entry(account).or_default().insert(user);
        if let Some(name) = source {
            let sources = self.sources.entry(account).or_default();
            let at = match sources.iter().position(|s| s.name == name) {
                Some(at) => at,
                None => {
                    sources.push(ModelSource {
                        name: name.to_owned(),
                        current: BTreeSet::new(),
                        total: 0,
                    });
                    sources.len() - 1
                }
            };
            sources[at].current.insert(user);
            sources[at].total += 1;
        }
        Ok(())
    }

    /// What `unfollow(user, account)` must return; applied to the model if it succeeds.
    fn unfollow(&mut self, account: u32, user: u32) -> Result<(), UnfollowError> {
        let (u, a) = (UserId(user), AccountId(account));
        if user >= USERS {
            return Err(UnfollowError::UnknownUser(u));
        }
        if account >= ACCOUNTS {
            return Err(UnfollowError::UnknownAccount(a));
        }
        if !self.follows(account, user) {
            return Err(UnfollowError::NotFollowing {
                user: u,
                account: a,
            });
        }
        self.remove_follower(account, user);
        Ok(())
    }

    fn follows(&self, account: u32, user: u32) -> bool {
        self.followers
            .get(&account)
            .is_some_and(|f| f.contains(&user))
    }

    fn tag_live(&self, account: u32, tag: TagId) -> bool {
        self.tags.contains_key(&(account, tag))
    }

    fn tags_of(&self, account: u32, user: u32) -> Vec<TagId> {
        let mut tags: Vec<TagId> = self
            .tags
            .iter()
            .filter(|((a, _), t)| *a == account && t.members.contains(&user))
            .map(|((_, id), _)| *id)
            .collect();
        tags.sort();
        tags
    }

    fn resolve_tag(&self, account: u32, tag: TagRef) -> TagId {
        let created = self.created.get(&account).cloned().unwrap_or_default();
        let live: Vec<TagId> = created
            .iter()
            .copied()
            .filter(|id| self.tag_live(account, *id))
            .collect();
        match tag {
            TagRef::Live(n) if !live.is_empty() => live[n % live.len()],
            TagRef::Created(n) if !created.is_empty() => created[n % created.len()],
            _ => GHOST_TAG,
        }
    }

    fn resolve_user(&self, account: u32, user: UserRef) -> u32 {
        match (user, self.followers.get(&account)) {
            (UserRef::Follower(n), Some(f)) if !f.is_empty() => *f.iter().nth(n % f.len()).unwrap(),
            (UserRef::Follower(n), _) => n as u32 % USERS,
            (UserRef::Any(u), _) => u,
        }
    }

    fn remove_follower(&mut self, account: u32, user: u32) {
        self.followers.entry(account).or_default().remove(&user);
        for ((a, _), tag) in self.tags.iter_mut() {
            if *a == account {
                tag.members.remove(&user);
            }
        }
        for source in self.sources.entry(account).or_default() {
            source.current.remove(&user);
        }
    }
}

fn text(op_index: usize) -> Message {
    Message::Text(format!("message of op {op_index}: 你好"))
}

/// The account's OpenID for a target; OpenIDs of an unregistered account are taken from
/// account 0 (the operation fails on the account before looking at them).
fn open_id_of(engine: &Engine, model: &Model, account: u32, target: Target) -> OpenId {
    let issuer = if account < ACCOUNTS { account } else { 0 };
    match target {
        Target::Follower(_) | Target::User(_) => {
            let u = user_behind(engine, model, account, target).unwrap();
            engine.open_id(AccountId(issuer), UserId(u)).unwrap()
        }
        Target::OtherAccount(u) => engine
            .open_id(AccountId((issuer + 1) % ACCOUNTS), UserId(u))
            .unwrap(),
        Target::Random(x) => OpenId(x),
    }
}

/// The user behind an OpenID of `account`, as the model sees it: `None` if it is not an
/// OpenID of that account.
fn user_behind(engine: &Engine, model: &Model, account: u32, target: Target) -> Option<u32> {
    match target {
        Target::Follower(n) => Some(match model.followers.get(&account) {
            Some(f) if !f.is_empty() => *f.iter().nth(n % f.len()).unwrap(),
            _ => n as u32 % USERS,
        }),
        Target::User(u) => Some(u),
        Target::OtherAccount(_) => None,
        Target::Random(x) => {
            // A random id decodes to a real user with probability 2^-32 per try; ask the
            // engine so the model stays exact even then.
            engine
                .user_of(AccountId(account), OpenId(x))
                .ok()
                .map(|u| u.0)
        }
    }
}

fn expr_nodes(e: &ExprSpec) -> usize {
    match e {
        ExprSpec::Tag(_) => 1,
        ExprSpec::And(p) | ExprSpec::Or(p) => 1 + p.iter().map(expr_nodes).sum::<usize>(),
        ExprSpec::Not(inner) => 1 + expr_nodes(inner),
    }
}

fn to_tag_expr(model: &Model, account: u32, e: &ExprSpec) -> TagExpr {
    match e {
        ExprSpec::Tag(t) => TagExpr::Tag(model.resolve_tag(account, *t)),
        ExprSpec::And(p) => TagExpr::and(p.iter().map(|x| to_tag_expr(model, account, x))),
        ExprSpec::Or(p) => TagExpr::or(p.iter().map(|x| to_tag_expr(model, account, x))),
        ExprSpec::Not(inner) => TagExpr::not(to_tag_expr(model, account, inner)),
    }
}

/// The expression's first problem, in the order the expression is written.
fn check_expr(model: &Model, account: u32, e: &TagExpr) -> Result<(), AudienceError> {
    match e {
        TagExpr::Tag(t) if model.tag_live(account, *t) => Ok(()),
        TagExpr::Tag(t) => Err(AudienceError::UnknownTag(*t)),
        TagExpr::And(p) | TagExpr::Or(p) if p.is_empty() => Err(AudienceError::EmptyExpression),
        TagExpr::And(p) | TagExpr::Or(p) => {
            p.iter().try_for_each(|x| check_expr(model, account, x))
        }
        TagExpr::Not(inner) => check_expr(model, account, inner),
    }
}

fn eval_expr(model: &Model, account: u32, e: &TagExpr) -> BTreeSet<u32> {
    match e {
        TagExpr::Tag(t) => model.tags[&(account, *t)].members.clone(),
        TagExpr::And(p) => {
            let mut sets = p.iter().map(|x| eval_expr(model, account, x));
            let first = sets.next().unwrap_or_default();
            sets.fold(first, |acc, s| &acc & &s)
        }
        TagExpr::Or(p) => p.iter().fold(BTreeSet::new(), |acc, x| {
            &acc | &eval_expr(model, account, x)
        }),
        TagExpr::Not(inner) => {
            let all = model.followers.get(&account).cloned().unwrap_or_default();
            &all - &eval_expr(model, account, inner)
        }
    }
}

/// Resolves an audience against the model, with the engine's audience.
fn model_audience(
    engine: &Engine,
    model: &Model,
    account: u32,
    spec: &AudienceSpec,
) -> (Audience, Result<BTreeSet<u32>, AudienceError>) {
    let followers = model.followers.get(&account).cloned().unwrap_or_default();
    match spec {
        AudienceSpec::All => (Audience::All, Ok(followers)),
        AudienceSpec::Tag(t) => {
            let id = model.resolve_tag(account, *t);
            let result = model
                .tags
                .get(&(account, id))
                .map(|t| t.members.clone())
                .ok_or(AudienceError::UnknownTag(id));
            (Audience::Tag(id), result)
        }
        AudienceSpec::Expr(e) => {
            let expr = to_tag_expr(model, account, e);
            let nodes = expr_nodes(e);
            assert_eq!(
                expr.nodes(),
                nodes,
                "TagExpr::nodes disagrees with the model"
            );
            let result = if nodes > EXPR_MAX_NODES {
                Err(AudienceError::ExpressionTooLarge {
                    nodes,
                    max: EXPR_MAX_NODES,
                })
            } else {
                check_expr(model, account, &expr).map(|()| eval_expr(model, account, &expr))
            };
            (Audience::Expr(expr), result)
        }
        AudienceSpec::OpenIds(targets) => {
            let ids: Vec<OpenId> = targets
                .iter()
                .map(|t| open_id_of(engine, model, account, *t))
                .collect();
            let result = (|| {
                if ids.len() > LIST_MAX {
                    return Err(AudienceError::ListTooLong {
                        len: ids.len(),
                        max: LIST_MAX,
                    });
                }
                // An invalid id is refused at once; ids of non-followers are all named.
                let mut set = BTreeSet::new();
                let mut stale = BTreeSet::new();
                let mut named = Vec::new();
                for (t, id) in targets.iter().zip(&ids) {
                    let user = user_behind(engine, model, account, *t)
                        .ok_or(AudienceError::InvalidOpenId(*id))?;
                    if followers.contains(&user) {
                        set.insert(user);
                    } else if stale.insert(user) && named.len() < AudienceError::MAX_NAMED {
                        named.push(*id);
                    }
                }
                if !stale.is_empty() {
                    return Err(AudienceError::NotFollowing {
                        open_ids: named,
                        count: stale.len(),
                    });
                }
                if set.len() < LIST_MIN {
                    return Err(AudienceError::ListSize {
                        len: set.len(),
                        min: LIST_MIN,
                        max: LIST_MAX,
                    });
                }
                Ok(set)
            })();
            (Audience::OpenIds(ids), result)
        }
    }
}

// ----- applying operations ----------------------------------------------------------------

fn apply(
    engine: &Engine,
    model: &mut Model,
    op_index: usize,
    op: &Op,
) -> Result<(), TestCaseError> {
    match op {
        Op::Follow {
            user,
            account,
            source,
        } => {
            let source = source.map(|s| SOURCES[s]);
            let expected = model
                .follow(*account, *user, source)
                .map(|()| engine.open_id(AccountId(*account), UserId(*user)).unwrap());
            let got = engine.follow(AccountId(*account), UserId(*user), source);
            prop_assert_eq!(got, expected, "op {}: {:?}", op_index, op);
        }
        Op::FollowMany { account, users } => {
            let ids: Vec<UserId> = users.iter().map(|&u| UserId(u)).collect();
            let expected = if let Some(&bad) = users.iter().find(|&&u| u >= USERS) {
                Err(FollowError::UnknownUser(UserId(bad)))
            } else if *account >= ACCOUNTS {
                Err(FollowError::UnknownAccount(AccountId(*account)))
            } else {
                let set = model.followers.entry(*account).or_default();
                Ok(users.iter().filter(|&&u| set.insert(u)).count() as u64)
            };
            let got = engine.follow_many(AccountId(*account), &ids);
            prop_assert_eq!(got, expected, "op {}: {:?}", op_index, op);
        }
        Op::Unfollow { user, account } => {
            let user = model.resolve_user(*account, *user);
            let expected = model.unfollow(*account, user);
            let got = engine.unfollow(AccountId(*account), UserId(user));
            prop_assert_eq!(got, expected, "op {}: {:?}", op_index, op);
        }
        Op::ChangeFollows(changes) => {
            let mut batch = Vec::new();
            let mut expected: Vec<Result<(), FollowChangeError>> = Vec::new();
            for &(follow, user, account) in changes {
                // Resolved against the model as the changes before it in the batch left it.
                let user = model.resolve_user(account, user);
                let (u, a) = (UserId(user), AccountId(account));
                if follow {
                    batch.push(FollowChange::Follow {
                        user: u,
                        account: a,
                    });
                    expected.push(model.follow(account, user, None).map_err(Into::into));
                } else {
                    batch.push(FollowChange::Unfollow {
                        user: u,
                        account: a,
                    });
                    expected.push(model.unfollow(account, user).map_err(Into::into));
                }
            }
            let got = engine.change_follows(&batch);
            prop_assert_eq!(got, expected, "op {}: {:?}", op_index, op);
        }
        Op::CreateTag { account, name } => {
            let name = TAG_NAMES[*name];
            let live = |m: &Model| m.tags.iter().filter(|((a, _), _)| a == account).count();
            let expected = if *account >= ACCOUNTS {
                Err(TagError::UnknownAccount(AccountId(*account)))
            } else if model
                .tags
                .iter()
                .any(|((a, _), t)| a == account && t.name == name)
            {
                Err(TagError::DuplicateName(name.to_owned()))
            } else if live(model) >= TAGS_PER_ACCOUNT {
                Err(TagError::TooManyTags {
                    max: TAGS_PER_ACCOUNT,
                })
            } else {
                Ok(())
            };
            let got = engine.create_tag(AccountId(*account), name);
            match (got, expected) {
                (Ok(id), Ok(())) => {
                    let created = model.created.entry(*account).or_default();
                    prop_assert!(
                        !created.contains(&id),
                        "op {op_index}: tag id {id:?} reused (created before: {created:?})"
                    );
                    created.push(id);
                    model.tags.insert(
                        (*account, id),
                        ModelTag {
                            name: name.to_owned(),
                            members: BTreeSet::new(),
                        },
                    );
                }
                (got, expected) => {
                    prop_assert_eq!(got.map(|_| ()), expected, "op {}: {:?}", op_index, op)
                }
            }
        }
        Op::DeleteTag { account, tag } => {
            let id = model.resolve_tag(*account, *tag);
            let expected = if *account >= ACCOUNTS {
                Err(TagError::UnknownAccount(AccountId(*account)))
            } else if !model.tag_live(*account, id) {
                Err(TagError::UnknownTag(id))
            } else {
                model.tags.remove(&(*account, id));
                Ok(())
            };
            let got = engine.delete_tag(AccountId(*account), id);
            prop_assert_eq!(got, expected, "op {}: {:?}", op_index, op);
        }
        Op::Retag {
            account,
            tag,
            targets,
            add,
        } => {
            let id = model.resolve_tag(*account, *tag);
            let ids: Vec<OpenId> = targets
                .iter()
                .map(|t| open_id_of(engine, model, *account, *t))
                .collect();
            let expected = (|| {
                if ids.is_empty() || ids.len() > TAG_BATCH_MAX {
                    return Err(TagError::BatchSize {
                        len: ids.len(),
                        max: TAG_BATCH_MAX,
                    });
                }
                if *account >= ACCOUNTS {
                    return Err(TagError::UnknownAccount(AccountId(*account)));
                }
                if !model.tag_live(*account, id) {
                    return Err(TagError::UnknownTag(id));
                }
                let mut users = Vec::new();
                for (t, oid) in targets.iter().zip(&ids) {
                    let user = user_behind(engine, model, *account, *t)
                        .ok_or(TagError::InvalidOpenId(*oid))?;
                    if !model.follows(*account, user) {
                        return Err(TagError::NotFollowing(*oid));
                    }
                    let carries = model.tags[&(*account, id)].members.contains(&user);
                    if *add && !carries && model.tags_of(*account, user).len() >= TAGS_PER_FOLLOWER
                    {
                        return Err(TagError::TooManyTagsOnFollower {
                            open_id: *oid,
                            max: TAGS_PER_FOLLOWER,
                        });
                    }
                    users.push(user);
                }
                let members = &mut model.tags.get_mut(&(*account, id)).unwrap().members;
                let changed = users
                    .into_iter()
                    .filter(|u| {
                        if *add {
                            members.insert(*u)
                        } else {
                            members.remove(u)
                        }
                    })
                    .count();
                Ok(changed as u64)
            })();
            let got = if *add {
                engine.tag_followers(AccountId(*account), id, &ids)
            } else {
                engine.untag_followers(AccountId(*account), id, &ids)
            };
            prop_assert_eq!(got, expected, "op {}: {:?}", op_index, op);
        }
        Op::Send {
            account,
            audience,
            key,
            valid_message,
        } => {
            let message = if *valid_message {
                text(op_index)
            } else {
                Message::Text("  ".into())
            };
            let (audience, resolved) = model_audience(engine, model, *account, audience);
            let key = key.map(|k| KEYS[k]);
            let mut request = SendRequest::new(message.clone(), audience);
            if let Some(key) = key {
                request = request.idempotency_key(key);
            }
            let got = engine.send(AccountId(*account), request);
            if !*valid_message {
                prop_assert_eq!(
                    got.map(|h| h.id()),
                    Err(SendError::InvalidMessage(MessageError::Empty {
                        field: "text"
                    })),
                    "op {}: {:?}",
                    op_index,
                    op
                );
            } else if *account >= ACCOUNTS {
                prop_assert_eq!(
                    got.map(|h| h.id()),
                    Err(SendError::UnknownAccount(AccountId(*account))),
                    "op {}: {:?}",
                    op_index,
                    op
                );
            } else if let Some(first) = key.and_then(|k| model.keys.get(&(*account, k))) {
                // A repeated key returns the first job, whatever the new audience says.
                prop_assert_eq!(got.map(|h| h.id()), Ok(*first), "op {}: {:?}", op_index, op);
            } else {
                match resolved {
                    Err(e) => prop_assert_eq!(
                        got.map(|h| h.id()),
                        Err(SendError::InvalidAudience(e)),
                        "op {}: {:?}",
                        op_index,
                        op
                    ),
                    Ok(members) => {
                        let seq = model.last_seq.entry(*account).or_default();
                        *seq += 1;
                        let id = JobId {
                            account: AccountId(*account),
                            seq: Seq(*seq),
                        };
                        let handle = match got {
                            Ok(h) => h,
                            Err(e) => {
                                return Err(TestCaseError::fail(format!(
                                    "op {op_index}: {op:?} refused with {e:?}"
                                )));
                            }
                        };
                        prop_assert_eq!(handle.id(), id, "op {}: {:?}", op_index, op);
                        prop_assert_eq!(handle.message().as_ref(), &message);
                        for &u in &members {
                            model.inbox.entry(u).or_default().push((*account, *seq));
                        }
                        model.messages.insert((*account, *seq), message);
                        if let Some(key) = key {
                            model.keys.insert((*account, key), id);
                        }
                        model.jobs.push((handle, members.len() as u64));
                    }
                }
            }
        }
    }
    Ok(())
}

// ----- checks -----------------------------------------------------------------------------

/// An account's tags as (id, name, followers), by id.
fn model_tag_infos(model: &Model, account: u32) -> Vec<(TagId, String, u64)> {
    let mut tags: Vec<(TagId, String, u64)> = model
        .tags
        .iter()
        .filter(|((a, _), _)| *a == account)
        .map(|((_, id), t)| (*id, t.name.clone(), t.members.len() as u64))
        .collect();
    tags.sort_by_key(|t| t.0);
    tags
}

fn tag_infos(tags: Vec<TagInfo>) -> Vec<(TagId, String, u64)> {
    tags.into_iter()
        .map(|t| (t.id, t.name, t.followers))
        .collect()
}

/// Cheap checks after every operation: counts and tags of every account.
fn check_counts(engine: &Engine, model: &Model, op_index: usize) -> Result<(), TestCaseError> {
    for a in 0..ACCOUNTS {
        let account = AccountId(a);
        let followers = model.followers.get(&a).map_or(0, |f| f.len() as u64);
        prop_assert_eq!(
            engine.follower_count(account),
            Ok(followers),
            "after op {}",
            op_index
        );
        prop_assert_eq!(
            engine.tags(account).map(tag_infos),
            Ok(model_tag_infos(model, a)),
            "after op {}",
            op_index
        );
    }
    let edges: u64 = model.followers.values().map(|f| f.len() as u64).sum();
    prop_assert_eq!(engine.follow_edges(), edges, "after op {}", op_index);
    Ok(())
}

/// Full checks of the graph: follows both ways, pages, tags per follower, sources.
fn check_graph(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    for u in 0..USERS {
        let expected: Vec<AccountId> = (0..ACCOUNTS)
            .filter(|&a| model.follows(a, u))
            .map(AccountId)
            .collect();
        prop_assert_eq!(engine.following(UserId(u)), Ok(expected));
        for a in 0..ACCOUNTS {
            prop_assert_eq!(
                engine.is_following(AccountId(a), UserId(u)),
                Ok(model.follows(a, u))
            );
        }
    }
    for a in 0..ACCOUNTS {
        let account = AccountId(a);
        let followers = model.followers.get(&a).cloned().unwrap_or_default();
        // Every page, 3 at a time: each follower exactly once.
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = engine.followers_page(account, after, 3).unwrap();
            prop_assert_eq!(page.total, followers.len() as u64);
            prop_assert!(page.open_ids.len() <= 3);
            for id in &page.open_ids {
                seen.push(engine.user_of(account, *id).unwrap().0);
            }
            pages += 1;
            prop_assert!(pages <= USERS as usize + 1, "pagination does not end");
            match page.next {
                Some(next) => {
                    prop_assert_eq!(Some(&next), page.open_ids.last());
                    after = Some(next);
                }
                None => break,
            }
        }
        let distinct: BTreeSet<u32> = seen.iter().copied().collect();
        prop_assert_eq!(
            distinct.len(),
            seen.len(),
            "a follower appears twice: {:?}",
            seen
        );
        prop_assert_eq!(&distinct, &followers);
        for &u in &followers {
            let id = engine.open_id(account, UserId(u)).unwrap();
            let mut tags = engine.tags_of(account, id).unwrap();
            tags.sort();
            prop_assert_eq!(
                tags,
                model.tags_of(a, u),
                "tags of user {} in {:?}",
                u,
                account
            );
        }
        let sources: Vec<(String, u64, u64)> = model
            .sources
            .get(&a)
            .map(|s| {
                s.iter()
                    .map(|s| (s.name.clone(), s.current.len() as u64, s.total))
                    .collect()
            })
            .unwrap_or_default();
        let engine_sources = engine.follow_sources(account).map(|v| {
            v.into_iter()
                .map(|s: SourceStats| (s.source, s.current, s.total))
                .collect::<Vec<_>>()
        });
        prop_assert_eq!(engine_sources, Ok(sources));
    }
    Ok(())
}

/// Only the entries of one account, in inbox order.
fn of_account(entries: &[(u32, u32)], account: u32) -> Vec<u32> {
    entries
        .iter()
        .filter(|(a, _)| *a == account)
        .map(|(_, s)| *s)
        .collect()
}

fn check_inboxes(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    for u in 0..USERS {
        let fetched = engine.fetch(UserId(u), 0, INBOX).unwrap();
        let expected = model.inbox.get(&u).cloned().unwrap_or_default();
        prop_assert_eq!(fetched.missed, 0);
        prop_assert!(fetched.missed_from.is_empty());
        prop_assert_eq!(fetched.next_cursor, expected.len() as u64, "user {}", u);
        let got: Vec<(u32, u32)> = fetched
            .items
            .iter()
            .map(|i| (i.account.0, i.seq.0))
            .collect();
        for (n, item) in fetched.items.iter().enumerate() {
            prop_assert_eq!(item.cursor, n as u64);
            let message = &model.messages[&(item.account.0, item.seq.0)];
            prop_assert_eq!(&item.content, &Content::Message(message.clone().into()));
        }
        // Accounts deliver in parallel, so only each account's own order is fixed.
        for a in 0..ACCOUNTS {
            let got_a = of_account(&got, a);
            prop_assert_eq!(
                &got_a,
                &of_account(&expected, a),
                "inbox of user {} for account {}: {:?}",
                u,
                a,
                got
            );
            prop_assert!(got_a.windows(2).all(|w| w[0] < w[1]));
        }
        prop_assert_eq!(got.len(), expected.len());
    }
    Ok(())
}

fn check_reports(model: &Model, reports: &mut herald::Reports) -> Result<(), TestCaseError> {
    let mut broadcast: BTreeMap<JobId, herald::JobReport> = BTreeMap::new();
    while let Ok(Some(report)) = reports.try_next() {
        let id = report.job;
        prop_assert!(
            broadcast.insert(id, report).is_none(),
            "{:?} reported twice",
            id
        );
    }
    let accepted: HashSet<JobId> = model.jobs.iter().map(|(h, _)| h.id()).collect();
    prop_assert_eq!(accepted.len(), model.jobs.len());
    prop_assert_eq!(
        broadcast.keys().copied().collect::<HashSet<_>>(),
        accepted,
        "reports() must carry every accepted job once"
    );
    for (handle, total) in &model.jobs {
        let report = handle.report();
        prop_assert_eq!(handle.status(), JobStatus::Done);
        prop_assert_eq!(report.status, JobStatus::Done, "{:?}", report);
        prop_assert_eq!(report.total, *total, "{:?}", report);
        prop_assert_eq!(report.sent, *total, "{:?}", report);
        prop_assert_eq!((report.errors, report.filtered), (0, 0), "{:?}", report);
        prop_assert!(report.finished_at_ms.is_some());
        prop_assert_eq!(&broadcast[&handle.id()], &report);
        prop_assert_eq!(handle.wait(), report);
    }
    Ok(())
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let engine = Engine::new(config());
    prop_assert_eq!(
        engine.add_users(USERS).map(|u| (u.first(), u.len())),
        Ok((UserId(0), USERS as usize))
    );
    for a in 0..ACCOUNTS {
        prop_assert_eq!(
            engine.register_account(&format!("account {a}")),
            Ok(AccountId(a))
        );
    }
    let mut reports = engine.reports();
    let mut model = Model::default();
    for (i, op) in ops.iter().enumerate() {
        apply(&engine, &mut model, i, op)?;
        check_counts(&engine, &model, i)?;
    }
    engine.wait_idle().unwrap();
    prop_assert_eq!(engine.unfinished_jobs(), 0);
    check_reports(&model, &mut reports)?;
    check_inboxes(&engine, &model)?;
    check_graph(&engine, &model)?;
    Ok(())
}

proptest! {
    // 64 cases by default (a few seconds in debug); PROPTEST_CASES=5000 for a longer hunt.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_agrees_with_the_model(ops in ops()) {
        run(&ops)?;
    }
}

/// A fixed sequence through every kind of operation, so the model's paths are exercised
/// even when proptest's random cases happen to miss some.
#[test]
fn a_fixed_sequence_agrees_with_the_model() {
    use Target::User;
    let mut ops = vec![Op::FollowMany {
        account: 0,
        users: (0..20).collect(),
    }];
    ops.extend((10..30).map(|u| Op::Follow {
        user: u,
        account: 1,
        source: Some(u as usize % 2),
    }));
    ops.extend([
        Op::CreateTag {
            account: 0,
            name: 0,
        },
        Op::CreateTag {
            account: 0,
            name: 1,
        },
        Op::CreateTag {
            account: 0,
            name: 2,
        },
        Op::CreateTag {
            account: 0,
            name: 0,
        },
        Op::Retag {
            account: 0,
            tag: TagRef::Created(0),
            targets: vec![User(1), User(2), User(3), User(3)],
            add: true,
        },
        Op::Retag {
            account: 0,
            tag: TagRef::Created(1),
            targets: vec![User(3), User(4)],
            add: true,
        },
        Op::Retag {
            account: 0,
            tag: TagRef::Created(2),
            targets: vec![User(5), User(3)],
            add: true,
        },
        Op::Send {
            account: 0,
            audience: AudienceSpec::Expr(ExprSpec::And(vec![
                ExprSpec::Or(vec![
                    ExprSpec::Tag(TagRef::Created(0)),
                    ExprSpec::Tag(TagRef::Created(1)),
                ]),
                ExprSpec::Not(Box::new(ExprSpec::Tag(TagRef::Created(1)))),
            ])),
            key: Some(0),
            valid_message: true,
        },
        Op::Send {
            account: 0,
            audience: AudienceSpec::All,
            key: Some(0),
            valid_message: true,
        },
        Op::Send {
            account: 1,
            audience: AudienceSpec::All,
            key: Some(0),
            valid_message: true,
        },
        Op::Unfollow {
            user: UserRef::Any(3),
            account: 0,
        },
        Op::Send {
            account: 0,
            audience: AudienceSpec::Tag(TagRef::Created(0)),
            key: None,
            valid_message: true,
        },
        Op::DeleteTag {
            account: 0,
            tag: TagRef::Created(1),
        },
        Op::Send {
            account: 0,
            audience: AudienceSpec::Tag(TagRef::Created(1)),
            key: None,
            valid_message: true,
        },
        Op::Send {
            account: 0,
            audience: AudienceSpec::OpenIds(vec![User(1), User(19), User(1)]),
            key: None,
            valid_message: true,
        },
        Op::Send {
            account: 0,
            audience: AudienceSpec::OpenIds(vec![User(1), User(39)]),
            key: None,
            valid_message: true,
        },
        Op::Send {
            account: 0,
            audience: AudienceSpec::Expr(ExprSpec::Or(
                (0..EXPR_MAX_NODES)
                    .map(|n| ExprSpec::Tag(TagRef::Live(n)))
                    .collect(),
            )),
            key: None,
            valid_message: true,
        },
        Op::Send {
            account: 1,
            audience: AudienceSpec::Expr(ExprSpec::Or(vec![])),
            key: None,
            valid_message: true,
        },
        Op::Send {
            account: 2,
            audience: AudienceSpec::All,
            key: None,
            valid_message: true,
        },
        Op::Send {
            account: 1,
            audience: AudienceSpec::All,
            key: None,
            valid_message: false,
        },
        Op::Send {
            account: 1,
            audience: AudienceSpec::All,
            key: None,
            valid_message: true,
        },
    ]);
    if let Err(e) = run(&ops) {
        panic!("{e}");
    }
}
