//! The API's error type: a status and a JSON body with the request ID.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use treebeard::{RequestId, ResponseError};

use crate::db::DbError;

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The resource does not exist (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The database failed (500).
    #[error(transparent)]
    Db(#[from] DbError),
    /// The scoring service failed (502).
    #[error("recommender call failed: {0}")]
    Upstream(String),
    /// Any other server-side failure (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A stable name per variant: errors group by it.
    fn kind(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "NotFound",
            Self::Db(_) => "DbError",
            Self::Upstream(_) => "UpstreamError",
            Self::Internal(_) => "InternalError",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Db(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // DataDog's standard error attributes; the request line has the status.
            tracing::error!(error.kind = self.kind(), error.message = %self, "request failed");
        }
        // Server errors do not leak internals to clients; the log has them.
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "internal server error".to_owned()
        } else {
            self.to_string()
        };
        let request_id = RequestId::current().map(|id| id.to_string());
        let body = Json(json!({ "error": message, "request_id": request_id }));
        let mut response = (status, body).into_response();
        // The span and error capture learn the real cause; the client does not.
        ResponseError::new(self.kind(), self.to_string()).attach(&mut response);
        response
    }
}
