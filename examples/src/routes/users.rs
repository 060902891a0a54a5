//! `GET /users/{id}`.

use axum::Json;
use axum::extract::{Path, State};

use crate::db::User;
use crate::error::ApiError;
use crate::state::AppState;

/// The user with `id` from the database, or 404.
pub async fn get_user(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<User>, ApiError> {
    let user = state.db.user(id)?.ok_or(ApiError::NotFound("user"))?;
    tracing::info!(user_id = user.id, profile_type = %user.profile_type, "user loaded");
    Ok(Json(user))
}
