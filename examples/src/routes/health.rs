//! `GET /health`.

use axum::Json;
use serde_json::{Value, json};

/// Liveness: always 200 while the process serves.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
