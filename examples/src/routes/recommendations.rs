//! `GET /users/{id}/recommendations`: database, cache, then the scoring service.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};

use super::score::{ScoreRequest, ScoreResponse};
use tracing::Instrument;
use treebeard::apm::client::TracedRequest;
use treebeard::apm::{external_api, trace_async};
use treebeard::metrics::collector;
use treebeard::metrics::conventions::recommendations as names;

use crate::error::ApiError;
use crate::state::AppState;

/// One recommended item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recommendation {
    /// Catalogue item name.
    pub item: String,
    /// Relevance, higher is better.
    pub score: f64,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct RecommendationsResponse {
    /// The user.
    pub user_id: i64,
    /// Items by descending score.
    pub recommendations: Vec<Recommendation>,
    /// Whether the list came from the cache.
    pub cached: bool,
}

/// Recommendations for user `id`: 404 for an unknown user, 502 when the
/// scoring service fails.
pub async fn recommendations(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<RecommendationsResponse>, ApiError> {
    let user = state.db.user(id)?.ok_or(ApiError::NotFound("user"))?;
    if let Some(recommendations) = state.cache.get(id) {
        return Ok(Json(RecommendationsResponse {
            user_id: id,
            recommendations,
            cached: true,
        }));
    }
    let request = ScoreRequest {
        user_id: user.id,
        interests: user.interests,
    };
    // The external-API span is made inside the async block, so that it is
    // a child of `recommendation.generate`.
    let metrics = collector();
    let generate = trace_async(
        "recommendation.generate",
        Some("recommendation-engine"),
        async {
            let call = external_api("recommender", "/internal/score");
            call_scorer(&state, request).instrument(call).await
        },
    );
    let scored = metrics.time_async(names::DURATION, &[], generate).await?;
    let recommendations: Vec<Recommendation> = scored
        .items
        .into_iter()
        .map(|s| Recommendation {
            item: s.item,
            score: s.score,
        })
        .collect();
    tracing::info!(
        user_id = id,
        count = recommendations.len(),
        profile_type = %user.profile_type,
        "recommendations generated"
    );
    // One per generated list, as in the reference (`metrics.increment`).
    metrics.increment(names::GENERATED, &[("profile_type", &user.profile_type)]);
    state.cache.put(id, recommendations.clone());
    Ok(Json(RecommendationsResponse {
        user_id: id,
        recommendations,
        cached: false,
    }))
}

async fn call_scorer(state: &AppState, request: ScoreRequest) -> Result<ScoreResponse, ApiError> {
    // A client span, with the trace headers and the request ID passed on.
    let response = state
        .http
        .post(&*state.recommender_url)
        .json(&request)
        .send_traced()
        .await
        .map_err(|e| ApiError::Upstream(e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(ApiError::Upstream(format!("status {status}")));
    }
    response
        .json()
        .await
        .map_err(|e| ApiError::Upstream(e.without_url().to_string()))
}
