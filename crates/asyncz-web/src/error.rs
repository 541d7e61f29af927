//! Errors: [`WebError`] for configuration, [`ApiError`] for answers. Every API error is a JSON
//! body `{"error": {"code", "message", "field"}}` with a status that says whose fault it was:
//! bad input is a 4xx naming the field, never a 500.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// A configuration error of the web layer (a bad token hash, an unsafe bind).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebError {
    /// The configuration is invalid; the message names the field and value.
    #[error("invalid web config: {0}")]
    Config(String),
}

/// An API error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`not_found`, `invalid`, `conflict`, ...).
    pub code: &'static str,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
    /// One human-readable line.
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// An error with no field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
        }
    }

    /// A 400 naming `field`.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid",
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// 401: no or an unknown credential.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token or session is required",
        )
    }

    /// 403: the principal's role does not allow this.
    pub fn forbidden(needed: crate::Role) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the '{needed}' role"),
        )
    }

    /// 404 for a task id.
    pub fn task_not_found(id: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no task with the id '{id}' was found"),
        )
    }
}

impl From<asyncz_core::Error> for ApiError {
    fn from(e: asyncz_core::Error) -> Self {
        use asyncz_core::Error as E;
        let message = e.to_string();
        match e {
            E::TaskLookup { .. } => Self::new(StatusCode::NOT_FOUND, "not_found", message),
            E::ConflictId { .. } | E::ConflictRun { .. } | E::AlreadySubmitted { .. } => {
                Self::new(StatusCode::CONFLICT, "conflict", message)
            }
            E::MaximumInstances { .. } => Self::new(StatusCode::CONFLICT, "max_instances", message),
            E::InvalidArgument { field, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "invalid",
                field: Some(field),
                message,
            },
            E::Alias { kind, .. } => ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "invalid",
                field: Some(kind.to_owned()),
                message,
            },
            E::SchedulerNotRunning => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_running", message)
            }
            E::Backend { .. } => Self::new(StatusCode::SERVICE_UNAVAILABLE, "store", message),
            E::Decode { .. } => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "decode", message),
            _ => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        let status = match r {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        let text = r.body_text();
        ApiError {
            status,
            code: "invalid",
            field: field_of(&text),
            message: text,
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid",
            field: field_of(&text),
            message: text,
        }
    }
}

/// serde (through axum) names the path of the bad value before its message
/// (`…target type: trigger.type: unknown variant…`, `…query string: desc: …`), or the field in
/// backticks (`missing field `trigger``); pull it out for the `field` member.
fn field_of(text: &str) -> Option<String> {
    let is_path = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
    };
    for marker in ["target type: ", "query string: "] {
        if let Some(start) = text.find(marker) {
            let rest = &text[start + marker.len()..];
            if let Some((path, _)) = rest.split_once(": ") {
                if is_path(path) {
                    return Some(path.to_owned());
                }
            }
        }
    }
    let start = text.find("field `")? + "field `".len();
    let rest = &text[start..];
    let end = rest.find('`')?;
    Some(rest[..end].to_owned())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}
