//! The application every variant wraps: a small JSON route and a route
//! with a path parameter, as in the bare axum baseline.

use axum::extract::Path;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

#[derive(Serialize)]
struct Message {
    message: &'static str,
    id: u64,
    ok: bool,
}

#[derive(Serialize)]
struct User {
    id: u64,
    name: &'static str,
    profile_type: &'static str,
}

async fn json() -> Json<Message> {
    Json(Message {
        message: "hello, world",
        id: 42,
        ok: true,
    })
}

async fn user(Path(id): Path<u64>) -> Json<User> {
    Json(User {
        id,
        name: "Treebeard",
        profile_type: "ent",
    })
}

/// The routes, without any layer.
pub fn routes() -> Router {
    Router::new()
        .route("/json", get(json))
        .route("/users/{id}", get(user))
}
