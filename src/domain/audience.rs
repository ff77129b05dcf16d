//! Audiences: who a send goes to, fixed as a bitmap of user ids when the send is accepted.

use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::config::Limits;
use crate::domain::graph::{AccountGraph, Settled};
use crate::error::AudienceError;
use crate::ids::OpenId;
use crate::ids::{TagId, UserId};

/// Who a send goes to. Every variant is evaluated against the account's followers at the
/// moment the send is accepted; later follows and unfollows do not change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// Every follower.
    All,
    /// The followers carrying one tag.
    Tag(TagId),
    /// The followers matching a boolean expression over tags.
    Expr(TagExpr),
    /// An explicit list of followers (duplicates count once).
    OpenIds(Vec<OpenId>),
}

/// A boolean expression over an account's tags. `Not` is relative to all followers.
///
/// ```
/// use herald::{TagExpr, TagId};
/// // (sports or news) and not muted
/// let expr = TagExpr::and([
///     TagExpr::or([TagExpr::Tag(TagId(0)), TagExpr::Tag(TagId(1))]),
///     TagExpr::not(TagExpr::Tag(TagId(2))),
/// ]);
/// assert_eq!(expr.nodes(), 6);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagExpr {
    /// The followers carrying this tag.
    Tag(TagId),
    /// The followers matching every part; there must be at least one part.
    And(Vec<TagExpr>),
    /// The followers matching any part; there must be at least one part.
    Or(Vec<TagExpr>),
    /// The followers not matching the expression.
    Not(Box<TagExpr>),
}

impl TagExpr {
    /// The followers matching every one of `parts`.
    pub fn and(parts: impl IntoIterator<Item = TagExpr>) -> TagExpr {
        TagExpr::And(parts.into_iter().collect())
    }

    /// The followers matching any of `parts`.
    pub fn or(parts: impl IntoIterator<Item = TagExpr>) -> TagExpr {
        TagExpr::Or(parts.into_iter().collect())
    }

    /// The followers not matching `inner`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(inner: TagExpr) -> TagExpr {
        TagExpr::Not(Box::new(inner))
    }

    /// The number of nodes in the expression. Iterative, so an expression nested a million
    /// deep is measured (and refused) without exhausting the stack.
    pub fn nodes(&self) -> usize {
        let mut count = 0;
        let mut stack = vec![self];
        while let Some(expr) = stack.pop() {
            count += 1;
            match expr {
                TagExpr::Tag(_) => {}
                TagExpr::And(parts) | TagExpr::Or(parts) => stack.extend(parts.iter()),
                TagExpr::Not(inner) => stack.push(inner),
            }
        }
        count
    }

    fn check(&self, graph: Settled<'_>) -> Result<(), AudienceError> {
        match self {
            TagExpr::Tag(id) => graph
                .tag(*id)
                .map(|_| ())
                .ok_or(AudienceError::UnknownTag(*id)),
            TagExpr::And(parts) | TagExpr::Or(parts) => {
                if parts.is_empty() {
                    return Err(AudienceError::EmptyExpression);
                }
                parts.iter().try_for_each(|p| p.check(graph))
            }
            TagExpr::Not(inner) => inner.check(graph),
        }
    }

    /// Evaluates a checked expression. Tags only ever hold followers, so every result is a
    /// subset of the followers.
    fn eval(&self, graph: Settled<'_>) -> RoaringBitmap {
        match self {
            TagExpr::Tag(id) => graph
                .tag(*id)
                .map(|t| (*t.members).clone())
                .unwrap_or_default(),
            TagExpr::And(parts) => {
                let mut iter = parts.iter();
                let mut acc = iter.next().map(|p| p.eval(graph)).unwrap_or_default();
                for p in iter {
                    if acc.is_empty() {
                        break;
                    }
                    acc &= p.eval(graph);
                }
                acc
            }
            TagExpr::Or(parts) => parts.iter().fold(RoaringBitmap::new(), |mut acc, p| {
                acc |= p.eval(graph);
                acc
            }),
            TagExpr::Not(inner) => &**graph.followers() - inner.eval(graph),
        }
    }
}

/// Dropping is iterative too: a deep expression built by a caller must not overflow the
/// stack when it is dropped.
impl Drop for TagExpr {
    fn drop(&mut self) {
        let mut stack = Vec::new();
        take_children(self, &mut stack);
        while let Some(mut expr) = stack.pop() {
            take_children(&mut expr, &mut stack);
        }
    }
}

fn take_children(expr: &mut TagExpr, into: &mut Vec<TagExpr>) {
    match expr {
        TagExpr::Tag(_) => {}
        TagExpr::And(parts) | TagExpr::Or(parts) => into.append(parts),
        TagExpr::Not(inner) => into.push(std::mem::replace(&mut **inner, TagExpr::Tag(TagId(0)))),
    }
}

/// Fixes `audience` as a set of user ids, against the graph as it is now. `All` and `Tag`
/// share the graph's bitmap (copy-on-write) instead of copying it. `decode`: the user behind
/// an OpenID of the account, `None` if it is not a valid one (the engine's one meaning:
/// issued for this account, of a user who exists).
///
/// An OpenID list is checked whole: an invalid id is refused at once (the first, in list
/// order); otherwise every id that does not name a follower is collected, so one refusal
/// names them all (up to [`AudienceError::MAX_NAMED`]) and a caller cleans a stale list in
/// one round trip.
pub(crate) fn resolve(
    audience: &Audience,
    graph: &mut AccountGraph,
    decode: impl Fn(OpenId) -> Option<UserId>,
    limits: &Limits,
) -> Result<Arc<RoaringBitmap>, AudienceError> {
    match audience {
        // The followers alone: the tags' pending cleanup can wait.
        Audience::All => Ok(Arc::clone(graph.current_followers())),
        Audience::Tag(id) => graph
            .settled()
            .tag(*id)
            .map(|t| Arc::clone(&t.members))
            .ok_or(AudienceError::UnknownTag(*id)),
        Audience::Expr(expr) => {
            // Exact and iterative: linear in what the caller built, never deeper than the heap.
            let nodes = expr.nodes();
            if nodes > limits.tag_expr_max_nodes {
                return Err(AudienceError::ExpressionTooLarge {
                    nodes,
                    max: limits.tag_expr_max_nodes,
                });
            }
            let graph = graph.settled();
            expr.check(graph)?;
            Ok(Arc::new(expr.eval(graph)))
        }
        Audience::OpenIds(ids) => {
            // The list's own length bounds the work; its distinct ids are the audience.
            if ids.len() > limits.openid_list_max {
                return Err(AudienceError::ListTooLong {
                    len: ids.len(),
                    max: limits.openid_list_max,
                });
            }
            let followers = graph.current_followers();
            let mut set = RoaringBitmap::new();
            let mut stale = RoaringBitmap::new();
            let mut named = Vec::new();
            for &id in ids {
                let user = decode(id).ok_or(AudienceError::InvalidOpenId(id))?;
                if followers.contains(user.0) {
                    set.insert(user.0);
                } else if stale.insert(user.0) && named.len() < AudienceError::MAX_NAMED {
                    named.push(id);
                }
            }
            if !stale.is_empty() {
                return Err(AudienceError::NotFollowing {
                    open_ids: named,
                    count: stale.len() as usize,
                });
            }
            let distinct = set.len() as usize;
            if distinct < limits.openid_list_min {
                return Err(AudienceError::ListSize {
                    len: distinct,
                    min: limits.openid_list_min,
                    max: limits.openid_list_max,
                });
            }
            Ok(Arc::new(set))
        }
    }
}
