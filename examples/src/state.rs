//! Shared state: the database, the HTTP client, the recommendations cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use treebeard::metrics::collector;
use treebeard::metrics::conventions::cache;

use crate::db::Db;
use crate::routes::recommendations::Recommendation;

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The embedded database.
    pub db: Db,
    /// Client for the scoring service.
    pub http: reqwest::Client,
    /// URL of `POST /internal/score` (or an external equivalent).
    pub recommender_url: Arc<str>,
    /// Recommendations by user ID.
    pub cache: Arc<Cache>,
}

impl AppState {
    /// State with a fresh seeded database and an empty cache.
    pub fn new(db: Db, recommender_url: impl Into<Arc<str>>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(1))
            .build()?;
        Ok(Self {
            db,
            http,
            recommender_url: recommender_url.into(),
            cache: Arc::new(Cache::default()),
        })
    }
}

/// A small cache of recommendation lists with hit/miss counters.
#[derive(Default)]
pub struct Cache {
    entries: Mutex<HashMap<i64, Vec<Recommendation>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Cache {
    /// The cached list for `user_id`, counting the hit or miss.
    pub fn get(&self, user_id: i64) -> Option<Vec<Recommendation>> {
        let found = self
            .entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(&user_id).cloned());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        collector().gauge(
            cache::HIT_RATE,
            self.hit_rate(),
            &[("cache", "recommendations")],
        );
        found
    }

    /// Stores the list for `user_id`.
    pub fn put(&self, user_id: i64, items: Vec<Recommendation>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(user_id, items);
        }
    }

    /// Share of lookups that hit, from 0.0 to 1.0.
    pub fn hit_rate(&self) -> f64 {
        let hits = self.hits.load(Ordering::Relaxed) as f64;
        let total = hits + self.misses.load(Ordering::Relaxed) as f64;
        if total == 0.0 { 0.0 } else { hits / total }
    }
}
