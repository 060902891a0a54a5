//! `POST /internal/score`: the scoring service the recommendations call.
//!
//! It stands in for an external ML service (the Claude API in the original
//! design), so that one process shows an outgoing HTTP call.

use axum::Json;
use serde::{Deserialize, Serialize};

/// What is scored: a user's interests.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScoreRequest {
    /// The user the items are for.
    pub user_id: i64,
    /// Topics the user follows.
    pub interests: Vec<String>,
}

/// One scored catalogue item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScoredItem {
    /// Catalogue item name.
    pub item: String,
    /// Relevance, higher is better.
    pub score: f64,
}

/// The scoring answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScoreResponse {
    /// Items by descending score.
    pub items: Vec<ScoredItem>,
}

/// The catalogue: item name and the topics it covers.
const CATALOGUE: &[(&str, &[&str])] = &[
    ("Zero To Production In Rust", &["rust", "observability"]),
    (
        "Designing Data-Intensive Applications",
        &["databases", "observability"],
    ),
    ("Crafting Interpreters", &["compilers"]),
    (
        "Site Reliability Engineering",
        &["observability", "kernels"],
    ),
    ("Eloquent JavaScript", &["javascript"]),
    ("Cosmos", &["space"]),
    ("The Blue Planet", &["diving", "hiking"]),
    ("How Music Works", &["music"]),
];

/// Scores the catalogue against the interests: share of an item's topics
/// the user follows; items with no overlap are left out.
pub async fn score(Json(request): Json<ScoreRequest>) -> Json<ScoreResponse> {
    let mut items: Vec<ScoredItem> = CATALOGUE
        .iter()
        .filter_map(|(item, topics)| {
            let overlap = topics
                .iter()
                .filter(|t| request.interests.iter().any(|i| i == *t))
                .count();
            (overlap > 0).then(|| ScoredItem {
                item: (*item).to_owned(),
                score: overlap as f64 / topics.len() as f64,
            })
        })
        .collect();
    items.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.item.cmp(&b.item))
    });
    Json(ScoreResponse { items })
}
