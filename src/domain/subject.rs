//! Subjects and account registration: who owns an account, how many accounts a subject may
//! hold, and the registration information an account must complete before it may send.
//!
//! ## Quotas
//! A subject holds at most [`Rules::individual_account_quota`] or
//! [`Rules::organization_account_quota`] live accounts, unless an approved exception set
//! its own limit. Terminating an account frees its place.
//!
//! ## Completeness
//! Registration information may be registered incomplete (a field left empty): the
//! account exists but is restricted, and every send is refused with the missing fields,
//! until [`Engine::update_registration`](crate::Engine::update_registration) completes it.
//! Information that is present must be valid, or the call is refused.

use crate::config::Rules;
use crate::error::RegistrationError;
use crate::ids::AccountId;

/// Who a subject is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubjectKind {
    /// A person.
    Individual,
    /// A company, public body or other organization.
    Organization,
}

/// The two kinds of official account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// May broadcast [`Rules::subscription_broadcasts_per_day`] times a day.
    Subscription,
    /// Each follower receives at most [`Rules::service_broadcasts_per_follower_month`]
    /// broadcasts a calendar month.
    Service,
}

/// The category of the record registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Category {
    /// A government body.
    Government,
    /// A news or media organization.
    Media,
    /// A company.
    Enterprise,
    /// A person.
    Individual,
    /// Anything else.
    Other,
}

/// Record-registration metadata of an account. An empty `region` or `contact`, or no
/// `category`, is incomplete: the account cannot send until it is completed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Registration {
    /// The region the account is registered in: at most
    /// [`Rules::subject_name_max_chars`] characters (default 64), no control characters;
    /// empty while incomplete.
    pub region: String,
    /// The record category; `None` while incomplete.
    pub category: Option<Category>,
    /// A phone number (digits, spaces, `+`, `-`, parentheses; at least 5 digits) or an
    /// e-mail address.
    pub contact: String,
}

impl Registration {
    /// Registration information with a category; an empty `region` or `contact` is still
    /// missing.
    pub fn new(region: impl Into<String>, category: Category, contact: impl Into<String>) -> Self {
        Registration {
            region: region.into(),
            category: Some(category),
            contact: contact.into(),
        }
    }

    /// The fields still missing; empty when the registration is complete.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.region.trim().is_empty() {
            out.push("region");
        }
        if self.category.is_none() {
            out.push("category");
        }
        if self.contact.trim().is_empty() {
            out.push("contact");
        }
        out
    }

    /// Checks the fields that are present (missing ones are allowed, see the module doc).
    pub(crate) fn validate(&self, rules: &Rules) -> Result<(), RegistrationError> {
        if !self.region.trim().is_empty() && !valid_text(&self.region, rules.subject_name_max_chars)
        {
            return Err(RegistrationError::InvalidRegion {
                max: rules.subject_name_max_chars,
            });
        }
        if !self.contact.trim().is_empty() && !valid_contact(&self.contact, rules.contact_max_chars)
        {
            return Err(RegistrationError::InvalidContact {
                max: rules.contact_max_chars,
            });
        }
        Ok(())
    }
}

/// A subject as the engine keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Subject {
    pub(crate) name: String,
    pub(crate) kind: SubjectKind,
    /// An approved exception's limit, replacing the kind's default.
    pub(crate) quota_override: Option<u32>,
    /// Live accounts, in registration order.
    pub(crate) accounts: Vec<AccountId>,
}

impl Subject {
    pub(crate) fn quota(&self, rules: &Rules) -> u32 {
        self.quota_override.unwrap_or(match self.kind {
            SubjectKind::Individual => rules.individual_account_quota,
            SubjectKind::Organization => rules.organization_account_quota,
        })
    }
}

/// 1 to `max` characters, not blank, no control characters.
pub(crate) fn valid_text(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && !s.chars().any(char::is_control) && s.chars().count() <= max
}

/// A phone number or an e-mail address of at most `max` characters.
pub(crate) fn valid_contact(s: &str, max: usize) -> bool {
    if !valid_text(s, max) {
        return false;
    }
    if let Some((local, domain)) = s.split_once('@') {
        return !local.is_empty()
            && !local.contains(char::is_whitespace)
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains(['@', ' ']);
    }
    let digits = s.chars().filter(char::is_ascii_digit).count();
    digits >= 5
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | '(' | ')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_phone_numbers_or_email_addresses() {
        assert!(valid_contact("+86 755-8888 1234", 64));
        assert!(valid_contact("press@city.gov.cn", 64));
        assert!(!valid_contact("call me", 64));
        assert!(!valid_contact("a@b", 64));
        assert!(!valid_contact("1234", 64));
    }

    #[test]
    fn missing_fields_are_listed() {
        let r = Registration {
            region: "Zhaoqing".into(),
            ..Registration::default()
        };
        assert_eq!(r.missing(), vec!["category", "contact"]);
    }

    #[test]
    fn a_blank_field_is_missing_not_invalid() {
        let r = Registration {
            region: "   ".into(),
            contact: " ".into(),
            ..Registration::default()
        };
        assert_eq!(r.validate(&Rules::default()), Ok(()));
        assert_eq!(r.missing(), vec!["region", "category", "contact"]);
    }
}
