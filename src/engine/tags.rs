//! Tags: creating and deleting an account's tags, putting followers in and out of them
//! (a batch is all or nothing), and reading them.

use crate::domain::follower_order;
use crate::engine::valid_name;
use crate::engine::{Engine, FollowerPage};
use crate::error::{QueryError, TagError};
use crate::ids::OpenId;
use crate::ids::{AccountId, TagId};
use crate::journal::Record;

/// One tag of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagInfo {
    /// The tag's id.
    pub id: TagId,
    /// Its name.
    pub name: String,
    /// Followers carrying it.
    pub followers: u64,
}

/// # Tags
impl Engine {
    /// Creates a tag: `name` is 1 to
    /// [`Limits::tag_name_max_chars`](crate::Limits::tag_name_max_chars) characters, unique in
    /// the account. Returns its id.
    pub fn create_tag(&self, account: AccountId, name: &str) -> Result<TagId, TagError> {
        let limits = &self.config.limits;
        if !valid_name(name, limits.tag_name_max_chars) {
            return Err(TagError::InvalidName {
                max: limits.tag_name_max_chars,
            });
        }
        let gate = self.begin().map_err(TagError::Storage)?;
        let (id, lsn) = self
            .write_account(account, |state| {
                let graph = &mut state.graph;
                if graph.tag_names().any(|(_, n)| n == name) {
                    return Err(TagError::DuplicateName(name.to_owned()));
                }
                if graph.tag_names().count() >= limits.tags_per_account {
                    return Err(TagError::TooManyTags {
                        max: limits.tags_per_account,
                    });
                }
                let id = u32::try_from(graph.next_tag_id()).map_err(|_| TagError::TooManyTags {
                    max: limits.tags_per_account,
                })?;
                let lsn = self.log(|| Record::CreateTag {
                    account: account.0,
                    tag: id,
                    name: name.to_owned(),
                });
                Ok((graph.create_tag(name.to_owned()), lsn))
            })
            .unwrap_or(Err(TagError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(TagError::Storage)?;
        Ok(id)
    }

    /// Deletes a tag; its followers keep following. Its id is never reused.
    pub fn delete_tag(&self, account: AccountId, tag: TagId) -> Result<(), TagError> {
        let gate = self.begin().map_err(TagError::Storage)?;
        let lsn = self
            .write_account(account, |state| {
                if !state.graph.has_tag(tag) {
                    return Err(TagError::UnknownTag(tag));
                }
                let lsn = self.log(|| Record::DeleteTag {
                    account: account.0,
                    tag: tag.0,
                });
                state.graph.delete_tag(tag);
                Ok(lsn)
            })
            .unwrap_or(Err(TagError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(TagError::Storage)
    }

    /// Renames a tag: `name` as for [`create_tag`](Self::create_tag), unique in the
    /// account (renaming a tag to its own name is allowed). Nothing changes on an error.
    pub fn rename_tag(&self, account: AccountId, tag: TagId, name: &str) -> Result<(), TagError> {
        let limits = &self.config.limits;
        if !valid_name(name, limits.tag_name_max_chars) {
            return Err(TagError::InvalidName {
                max: limits.tag_name_max_chars,
            });
        }
        let gate = self.begin().map_err(TagError::Storage)?;
        let lsn = self
            .write_account(account, |state| {
                let graph = &mut state.graph;
                if !graph.has_tag(tag) {
                    return Err(TagError::UnknownTag(tag));
                }
                if graph.tag_names().any(|(id, n)| id != tag && n == name) {
                    return Err(TagError::DuplicateName(name.to_owned()));
                }
                let lsn = self.log(|| Record::RenameTag {
                    account: account.0,
                    tag: tag.0,
                    name: name.to_owned(),
                });
                graph.rename_tag(tag, name.to_owned());
                Ok(lsn)
            })
            .unwrap_or(Err(TagError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(TagError::Storage)
    }

    /// One page of the followers carrying `tag`, in OpenID order, as
    /// [`followers_page`](Self::followers_page) pages all followers: the `limit` smallest
    /// OpenIDs above `after` among the tag's members at the moment of the call; `total` is
    /// the tag's member count. Each page selects from the tag's members (a copy-on-write
    /// reference taken under the account's lock, the OpenIDs computed outside it), so a
    /// page costs one OpenID per member; tags have no cached order.
    ///
    /// # Errors
    /// [`QueryError::PageSize`] unless `1 <= limit <= follower_page_max`;
    /// [`QueryError::UnknownAccount`]; [`QueryError::UnknownTag`];
    /// [`QueryError::InvalidOpenId`] if `after` is not an OpenID of `account`.
    pub fn tag_followers_page(
        &self,
        account: AccountId,
        tag: TagId,
        after: Option<OpenId>,
        limit: usize,
    ) -> Result<FollowerPage, QueryError> {
        let max = self.config.limits.follower_page_max;
        if limit == 0 || limit > max {
            return Err(QueryError::PageSize { len: limit, max });
        }
        let members = self
            .write_account(account, |state| {
                let graph = state.graph.settled();
                graph.tag(tag).map(|t| std::sync::Arc::clone(&t.members))
            })
            .ok_or(QueryError::UnknownAccount(account))?
            .ok_or(QueryError::UnknownTag(tag))?;
        if let Some(id) = after
            && self.codec.decode(account, id).is_none()
        {
            return Err(QueryError::InvalidOpenId(id));
        }
        let (open_ids, more) = follower_order::select_page(
            &self.codec,
            account,
            &members,
            after.map(|id| id.0),
            limit,
        );
        Ok(FollowerPage {
            next: if more { open_ids.last().copied() } else { None },
            open_ids,
            total: members.len(),
        })
    }

    /// The account's tags, in id order.
    pub fn tags(&self, account: AccountId) -> Result<Vec<TagInfo>, QueryError> {
        self.write_account(account, |state| {
            state
                .graph
                .settled()
                .live_tags()
                .map(|(id, t)| TagInfo {
                    id,
                    name: t.name.clone(),
                    followers: t.members.len(),
                })
                .collect()
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    /// Adds `tag` to followers; all or nothing. Returns how many did not carry it yet.
    pub fn tag_followers(
        &self,
        account: AccountId,
        tag: TagId,
        open_ids: &[OpenId],
    ) -> Result<u64, TagError> {
        self.retag(account, tag, open_ids, true)
    }

    /// Removes `tag` from followers; all or nothing. Returns how many carried it.
    pub fn untag_followers(
        &self,
        account: AccountId,
        tag: TagId,
        open_ids: &[OpenId],
    ) -> Result<u64, TagError> {
        self.retag(account, tag, open_ids, false)
    }

    fn retag(
        &self,
        account: AccountId,
        tag: TagId,
        open_ids: &[OpenId],
        add: bool,
    ) -> Result<u64, TagError> {
        let limits = &self.config.limits;
        if open_ids.is_empty() || open_ids.len() > limits.tag_batch_max {
            return Err(TagError::BatchSize {
                len: open_ids.len(),
                max: limits.tag_batch_max,
            });
        }
        let gate = self.begin().map_err(TagError::Storage)?;
        let (changed, lsn) = self
            .write_account(account, |state| {
                let graph = state.graph.settled();
                let members = &graph.tag(tag).ok_or(TagError::UnknownTag(tag))?.members;
                // Validate everything before changing anything.
                let mut users = Vec::with_capacity(open_ids.len());
                for &id in open_ids {
                    let user = self
                        .decode_open_id(account, id)
                        .ok_or(TagError::InvalidOpenId(id))?;
                    if !graph.followers().contains(user.0) {
                        return Err(TagError::NotFollowing(id));
                    }
                    if add
                        && !members.contains(user.0)
                        && graph.tags_of(user).count() >= limits.tags_per_follower
                    {
                        return Err(TagError::TooManyTagsOnFollower {
                            open_id: id,
                            max: limits.tags_per_follower,
                        });
                    }
                    users.push(user.0);
                }
                let lsn = self.log(|| Record::Retag {
                    account: account.0,
                    tag: tag.0,
                    add,
                    users: users.clone(),
                });
                Ok((state.graph.retag(tag, &users, add), lsn))
            })
            .unwrap_or(Err(TagError::UnknownAccount(account)))?;
        drop(gate);
        self.commit(lsn).map_err(TagError::Storage)?;
        Ok(changed)
    }

    /// The tags a follower carries.
    pub fn tags_of(&self, account: AccountId, open_id: OpenId) -> Result<Vec<TagId>, QueryError> {
        let user = self.user_of(account, open_id)?;
        self.write_account(account, |state| {
            state.graph.settled().tags_of(user).collect()
        })
        .ok_or(QueryError::UnknownAccount(account))
    }

    // ----- sending ------------------------------------------------------------------------
}
