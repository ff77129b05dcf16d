//! Every error the API answers with: `{"error":{"code":"...","message":"..."}}`, a stable
//! snake_case code and an HTTP status. herald's typed errors are mapped here, exhaustively
//! for the variants that exist today; herald's error enums are `#[non_exhaustive]`, so each
//! mapping ends with a fallback arm (code `engine_error`, status 500) for variants added
//! later, which a test of this module would then be extended for.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald::{
    AccountError, AddUsersError, AudienceError, CorrectError, ExportError, FetchError, FollowError,
    InteractError, MessageError, QueryError, RegisterError, RetractError, ScheduleError, SendError,
    StorageError, SubjectError, TagError, TerminateError, UnfollowError,
};
use serde_json::json;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable text (never holds a secret).
    pub message: String,
}

impl ApiError {
    /// An error with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 500, for failures that are not the caller's (a panicked blocking task).
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    fn engine<E: std::fmt::Display>(e: &E) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "engine_error",
            e.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

use StatusCode as S;

fn e(status: StatusCode, code: &'static str, err: &impl std::fmt::Display) -> ApiError {
    ApiError::new(status, code, err.to_string())
}

impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> ApiError {
        match &err {
            StorageError::Refused(_) => e(S::SERVICE_UNAVAILABLE, "storage_refused", &err),
            StorageError::NotDurable(_) => e(S::SERVICE_UNAVAILABLE, "storage_not_durable", &err),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<MessageError> for ApiError {
    fn from(err: MessageError) -> ApiError {
        match &err {
            MessageError::Empty { .. }
            | MessageError::TooLong { .. }
            | MessageError::WrongMediaKind { .. }
            | MessageError::ControlCharacter { .. } => e(S::BAD_REQUEST, "invalid_message", &err),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<AudienceError> for ApiError {
    fn from(err: AudienceError) -> ApiError {
        match &err {
            AudienceError::UnknownTag(_) => e(S::NOT_FOUND, "unknown_tag", &err),
            AudienceError::ListSize { .. } | AudienceError::ListTooLong { .. } => {
                e(S::BAD_REQUEST, "invalid_list_size", &err)
            }
            AudienceError::InvalidOpenId(_) => e(S::BAD_REQUEST, "invalid_open_id", &err),
            AudienceError::NotFollowing { .. } => e(S::BAD_REQUEST, "not_following", &err),
            AudienceError::ExpressionTooLarge { .. } | AudienceError::EmptyExpression => {
                e(S::BAD_REQUEST, "invalid_expression", &err)
            }
            _ => ApiError::engine(&err),
        }
    }
}

impl From<SendError> for ApiError {
    fn from(err: SendError) -> ApiError {
        match err {
            SendError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            SendError::InvalidMessage(m) => m.into(),
            SendError::InvalidAudience(a) => a.into(),
            SendError::InvalidIdempotencyKey { .. } => {
                e(S::BAD_REQUEST, "invalid_idempotency_key", &err)
            }
            SendError::Busy { .. } => e(S::TOO_MANY_REQUESTS, "busy", &err),
            SendError::ShuttingDown => e(S::SERVICE_UNAVAILABLE, "shutting_down", &err),
            SendError::SequenceExhausted(_) => e(S::CONFLICT, "sequence_exhausted", &err),
            SendError::RegistrationIncomplete { .. } => {
                e(S::CONFLICT, "registration_incomplete", &err)
            }
            SendError::Banned { .. } => e(S::FORBIDDEN, "banned", &err),
            SendError::DailyLimit { .. } => e(S::TOO_MANY_REQUESTS, "daily_limit", &err),
            SendError::PreviewLimit { .. } => e(S::TOO_MANY_REQUESTS, "preview_limit", &err),
            SendError::Unoriginal { .. } => e(S::CONFLICT, "unoriginal", &err),
            SendError::UnknownOriginal(_) => e(S::NOT_FOUND, "unknown_original", &err),
            SendError::ReprintNotOpen(_) => e(S::CONFLICT, "reprint_not_open", &err),
            SendError::NotAnArticle => e(S::BAD_REQUEST, "not_an_article", &err),
            SendError::StorageQuota { .. } => e(S::CONFLICT, "storage_quota", &err),
            SendError::ScheduleGone(_) => e(S::CONFLICT, "schedule_gone", &err),
            SendError::ReplyWindowClosed { .. } => e(S::CONFLICT, "reply_window_closed", &err),
            SendError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(err: RegisterError) -> ApiError {
        match err {
            RegisterError::InvalidName { .. } => e(S::BAD_REQUEST, "invalid_name", &err),
            RegisterError::IdsExhausted => e(S::CONFLICT, "ids_exhausted", &err),
            RegisterError::UnknownSubject(_) => e(S::NOT_FOUND, "unknown_subject", &err),
            RegisterError::QuotaReached { .. } => e(S::CONFLICT, "quota_reached", &err),
            RegisterError::InvalidRegistration(_) => {
                e(S::BAD_REQUEST, "invalid_registration", &err)
            }
            RegisterError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<AddUsersError> for ApiError {
    fn from(err: AddUsersError) -> ApiError {
        match err {
            AddUsersError::IdsExhausted { .. } => e(S::CONFLICT, "ids_exhausted", &err),
            AddUsersError::OutOfMemory { .. } => e(S::SERVICE_UNAVAILABLE, "out_of_memory", &err),
            AddUsersError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<FollowError> for ApiError {
    fn from(err: FollowError) -> ApiError {
        match err {
            FollowError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            FollowError::UnknownUser(_) => e(S::NOT_FOUND, "unknown_user", &err),
            FollowError::AlreadyFollowing { .. } => e(S::CONFLICT, "already_following", &err),
            FollowError::InvalidSource { .. } => e(S::BAD_REQUEST, "invalid_source", &err),
            FollowError::TooManySources { .. } => e(S::CONFLICT, "too_many_sources", &err),
            FollowError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<UnfollowError> for ApiError {
    fn from(err: UnfollowError) -> ApiError {
        match err {
            UnfollowError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            UnfollowError::UnknownUser(_) => e(S::NOT_FOUND, "unknown_user", &err),
            UnfollowError::NotFollowing { .. } => e(S::CONFLICT, "not_following", &err),
            UnfollowError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<TagError> for ApiError {
    fn from(err: TagError) -> ApiError {
        match err {
            TagError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            TagError::UnknownTag(_) => e(S::NOT_FOUND, "unknown_tag", &err),
            TagError::InvalidName { .. } => e(S::BAD_REQUEST, "invalid_name", &err),
            TagError::DuplicateName(_) => e(S::CONFLICT, "duplicate_name", &err),
            TagError::TooManyTags { .. } => e(S::CONFLICT, "too_many_tags", &err),
            TagError::TooManyTagsOnFollower { .. } => {
                e(S::CONFLICT, "too_many_tags_on_follower", &err)
            }
            TagError::InvalidOpenId(_) => e(S::BAD_REQUEST, "invalid_open_id", &err),
            TagError::NotFollowing(_) => e(S::BAD_REQUEST, "not_following", &err),
            TagError::BatchSize { .. } => e(S::BAD_REQUEST, "invalid_list_size", &err),
            TagError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> ApiError {
        match err {
            QueryError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            QueryError::UnknownUser(_) => e(S::NOT_FOUND, "unknown_user", &err),
            QueryError::UnknownTag(_) => e(S::NOT_FOUND, "unknown_tag", &err),
            QueryError::UnknownSubject(_) => e(S::NOT_FOUND, "unknown_subject", &err),
            QueryError::UnknownJob(_) => e(S::NOT_FOUND, "unknown_job", &err),
            QueryError::InvalidOpenId(_) => e(S::BAD_REQUEST, "invalid_open_id", &err),
            QueryError::PageSize { .. } => e(S::BAD_REQUEST, "invalid_page_size", &err),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<FetchError> for ApiError {
    fn from(err: FetchError) -> ApiError {
        match err {
            FetchError::UnknownUser(_) => e(S::NOT_FOUND, "unknown_user", &err),
            FetchError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            FetchError::Limit { .. } => e(S::BAD_REQUEST, "invalid_limit", &err),
            // The server always builds the engine with its embedded inbox.
            FetchError::NoInbox => ApiError::engine(&err),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<RetractError> for ApiError {
    fn from(err: RetractError) -> ApiError {
        match err {
            RetractError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            RetractError::UnknownJob(_) => e(S::NOT_FOUND, "unknown_job", &err),
            RetractError::NotRetractable => e(S::CONFLICT, "not_retractable", &err),
            RetractError::AlreadyRetracted(_) => e(S::CONFLICT, "already_retracted", &err),
            RetractError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> ApiError {
        match err {
            AccountError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            AccountError::InvalidRegistration(_) => e(S::BAD_REQUEST, "invalid_registration", &err),
            AccountError::NoRegistration(_) => e(S::CONFLICT, "no_registration", &err),
            AccountError::InvalidSpeedTier(_) => e(S::BAD_REQUEST, "invalid_speed_tier", &err),
            AccountError::InvalidRetention => e(S::BAD_REQUEST, "invalid_retention", &err),
            AccountError::InvalidKeyword { .. } => e(S::BAD_REQUEST, "invalid_keyword", &err),
            AccountError::TooManyAutoReplies { .. } => {
                e(S::CONFLICT, "too_many_auto_replies", &err)
            }
            AccountError::UnknownKeyword(_) => e(S::NOT_FOUND, "unknown_keyword", &err),
            AccountError::InvalidMessage(m) => m.into(),
            AccountError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<SubjectError> for ApiError {
    fn from(err: SubjectError) -> ApiError {
        match err {
            SubjectError::InvalidName { .. } => e(S::BAD_REQUEST, "invalid_name", &err),
            SubjectError::UnknownSubject(_) => e(S::NOT_FOUND, "unknown_subject", &err),
            SubjectError::IdsExhausted => e(S::CONFLICT, "ids_exhausted", &err),
            SubjectError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<TerminateError> for ApiError {
    fn from(err: TerminateError) -> ApiError {
        match err {
            TerminateError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            TerminateError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<ScheduleError> for ApiError {
    fn from(err: ScheduleError) -> ApiError {
        match err {
            ScheduleError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            ScheduleError::UnknownSchedule(_) => e(S::NOT_FOUND, "unknown_schedule", &err),
            ScheduleError::NotInFuture { .. } => e(S::BAD_REQUEST, "not_in_future", &err),
            ScheduleError::TooMany { .. } => e(S::CONFLICT, "too_many_schedules", &err),
            ScheduleError::Invalid(send) => send.into(),
            ScheduleError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<CorrectError> for ApiError {
    fn from(err: CorrectError) -> ApiError {
        match err {
            CorrectError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            CorrectError::UnknownJob(_) => e(S::NOT_FOUND, "unknown_job", &err),
            CorrectError::NotAnArticle => e(S::BAD_REQUEST, "not_an_article", &err),
            CorrectError::Retracted(_) => e(S::CONFLICT, "already_retracted", &err),
            CorrectError::AlreadyCorrected { .. } => e(S::CONFLICT, "already_corrected", &err),
            CorrectError::FixedFieldChanged => e(S::BAD_REQUEST, "fixed_field_changed", &err),
            CorrectError::TooManyChanges { .. } => e(S::BAD_REQUEST, "too_many_changes", &err),
            CorrectError::Unchanged => e(S::BAD_REQUEST, "unchanged", &err),
            CorrectError::InvalidMessage(m) => m.into(),
            CorrectError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<InteractError> for ApiError {
    fn from(err: InteractError) -> ApiError {
        match err {
            InteractError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            InteractError::UnknownUser(_) => e(S::NOT_FOUND, "unknown_user", &err),
            InteractError::NotFollowing { .. } => e(S::CONFLICT, "not_following", &err),
            InteractError::UnsupportedKind => e(S::BAD_REQUEST, "unsupported_kind", &err),
            InteractError::InvalidMessage(m) => m.into(),
            InteractError::Storage(s) => s.into(),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(err: ExportError) -> ApiError {
        match err {
            ExportError::UnknownAccount(_) => e(S::NOT_FOUND, "unknown_account", &err),
            ExportError::Io(_) => e(S::INTERNAL_SERVER_ERROR, "export_failed", &err),
            _ => ApiError::engine(&err),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> ApiError {
        let text = rejection.body_text();
        match rejection.status() {
            S::PAYLOAD_TOO_LARGE => ApiError::new(S::PAYLOAD_TOO_LARGE, "body_too_large", text),
            S::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON with Content-Type: application/json",
            ),
            // 422: well-formed JSON of the wrong shape.
            S::UNPROCESSABLE_ENTITY => ApiError::bad_request("invalid_body", text),
            _ => ApiError::bad_request("malformed_json", text),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> ApiError {
        ApiError::bad_request("invalid_path", rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> ApiError {
        ApiError::bad_request("invalid_query", rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald::{AccountId, StoreError, UserId};

    fn pair(e: impl Into<ApiError>) -> (u16, &'static str) {
        let e = e.into();
        (e.status.as_u16(), e.code)
    }

    #[test]
    fn typed_errors_get_their_codes() {
        let refused = StorageError::Refused(StoreError::InMemory);
        let not_durable = StorageError::NotDurable(StoreError::InMemory);
        assert_eq!(pair(SendError::Storage(refused)), (503, "storage_refused"));
        assert_eq!(
            pair(FollowError::Storage(not_durable)),
            (503, "storage_not_durable")
        );
        assert_eq!(
            pair(SendError::Busy {
                unfinished: 9,
                max: 8
            }),
            (429, "busy")
        );
        assert_eq!(pair(SendError::ShuttingDown), (503, "shutting_down"));
        assert_eq!(
            pair(SendError::UnknownAccount(AccountId(1))),
            (404, "unknown_account")
        );
        assert_eq!(
            pair(SendError::InvalidMessage(MessageError::Empty {
                field: "text"
            })),
            (400, "invalid_message")
        );
        assert_eq!(
            pair(SendError::InvalidAudience(AudienceError::EmptyExpression)),
            (400, "invalid_expression")
        );
        assert_eq!(
            pair(FollowError::UnknownUser(UserId(3))),
            (404, "unknown_user")
        );
        assert_eq!(
            pair(QueryError::UnknownUser(UserId(3))),
            (404, "unknown_user")
        );
        assert_eq!(pair(FetchError::NoInbox), (500, "engine_error"));
    }

    #[test]
    fn the_native_routes_errors_get_their_codes() {
        use herald::{JobId, ScheduleId, Seq, SubjectId};
        let job = JobId {
            account: AccountId(1),
            seq: Seq(2),
        };
        // A schedule refused for a send's reason answers as that send would.
        assert_eq!(
            pair(ScheduleError::Invalid(SendError::UnknownAccount(
                AccountId(1)
            ))),
            (404, "unknown_account")
        );
        assert_eq!(
            pair(ScheduleError::UnknownSchedule(ScheduleId(3))),
            (404, "unknown_schedule")
        );
        assert_eq!(
            pair(ScheduleError::NotInFuture {
                due_ms: 1,
                now_ms: 2
            }),
            (400, "not_in_future")
        );
        assert_eq!(
            pair(ScheduleError::TooMany { max: 1 }),
            (409, "too_many_schedules")
        );
        assert_eq!(
            pair(CorrectError::AlreadyCorrected { job, max: 1 }),
            (409, "already_corrected")
        );
        assert_eq!(
            pair(CorrectError::Retracted(job)),
            (409, "already_retracted")
        );
        assert_eq!(
            pair(CorrectError::TooManyChanges {
                changes: 11,
                more_than: false,
                max: 10
            }),
            (400, "too_many_changes")
        );
        assert_eq!(
            pair(InteractError::NotFollowing {
                user: UserId(1),
                account: AccountId(2)
            }),
            (409, "not_following")
        );
        assert_eq!(
            pair(InteractError::UnsupportedKind),
            (400, "unsupported_kind")
        );
        assert_eq!(
            pair(SubjectError::UnknownSubject(SubjectId(4))),
            (404, "unknown_subject")
        );
        assert_eq!(
            pair(TerminateError::UnknownAccount(AccountId(5))),
            (404, "unknown_account")
        );
        assert_eq!(
            pair(ExportError::UnknownAccount(AccountId(5))),
            (404, "unknown_account")
        );
    }
}
