//! A small client for the DataDog API endpoints the CLI needs: monitors and
//! dashboards (v1: list, create, update, delete), key validation, and the
//! Events API v2 search that the alert digest reads.

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use crate::env::{self, ConfigSource, EnvError};
use crate::notify::{trim_base_url, truncate};
use crate::retry::RetryPolicy;

/// Page size when listing monitors.
const PAGE_SIZE: usize = 1000;

/// The Events API v2 search endpoint, read by the alert digest.
pub const EVENTS_SEARCH_PATH: &str = "/api/v2/events/search";

/// Why a DataDog API call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A variable is missing or invalid.
    #[error(transparent)]
    Config(#[from] EnvError),
    /// 401/403: the keys are wrong or lack a permission.
    #[error(
        "DataDog refused the credentials ({status} on {method} {path}): check DD_API_KEY and DD_APP_KEY, that they belong to site {site}, and that the application key has the scopes the command needs (monitors/dashboards write for plan/apply, events read for the digest). Answer: {body}"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// Base URL in use.
        site: String,
        /// Answer, shortened.
        body: String,
    },
    /// Any other error status (after retries for 429/5xx).
    #[error("DataDog answered {status} to {method} {path}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// HTTP method.
        method: String,
        /// Request path.
        path: String,
        /// Answer, shortened.
        body: String,
    },
    /// No answer (after retries).
    #[error("cannot reach DataDog at {url}: {source}")]
    Transport {
        /// The URL.
        url: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The answer was not the JSON expected.
    #[error("unexpected answer to {path}: {message}")]
    Decode {
        /// Request path.
        path: String,
        /// What was wrong.
        message: String,
    },
}

/// A monitor as listed by the API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RemoteMonitor {
    /// Its id.
    pub id: i64,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The whole object, for comparisons.
    #[serde(skip)]
    pub raw: Value,
}

/// A dashboard summary as listed by the API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RemoteDashboard {
    /// Its id.
    pub id: String,
    /// Its title.
    #[serde(default)]
    pub title: String,
    /// Its description.
    #[serde(default)]
    pub description: Option<String>,
}

/// DataDog API v1 client.
#[derive(Clone)]
pub struct DatadogClient {
    base_url: String,
    api_key: String,
    app_key: String,
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl std::fmt::Debug for DatadogClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatadogClient")
            .field("base_url", &self.base_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// The API base URL of a DataDog site (`datadoghq.eu` → `https://api.datadoghq.eu`).
pub fn site_url(site: &str) -> String {
    format!("https://api.{}", site.trim().trim_start_matches("api."))
}

impl DatadogClient {
    /// A client for the default site with the given keys.
    pub fn new(api_key: impl Into<String>, app_key: impl Into<String>) -> Self {
        Self {
            base_url: site_url(env::DEFAULT_DD_SITE),
            api_key: api_key.into(),
            app_key: app_key.into(),
            client: reqwest::Client::new(),
            retry: RetryPolicy::default(),
        }
    }

    /// Reads `DD_API_KEY`, `DD_APP_KEY`, `DD_SITE` and `DD_API_URL`.
    pub fn from_env(source: &(impl ConfigSource + ?Sized)) -> Result<Self, EnvError> {
        let api_key = source.value(env::DD_API_KEY).ok_or(EnvError::Missing {
            name: env::DD_API_KEY.name,
            hint: Some("a DataDog API key"),
        })?;
        let app_key = source.value(env::DD_APP_KEY).ok_or(EnvError::Missing {
            name: env::DD_APP_KEY.name,
            hint: Some(
                "a DataDog application key: monitors/dashboards write scopes for plan/apply, events_read for the digest",
            ),
        })?;
        let mut client = Self::new(api_key, app_key);
        if let Some(site) = source.value(env::DD_SITE) {
            if site.contains('/') || site.contains(' ') {
                return Err(EnvError::Invalid {
                    name: env::DD_SITE.name,
                    value: site,
                    expected: "a DataDog site such as datadoghq.com, datadoghq.eu or us5.datadoghq.com",
                });
            }
            client.base_url = site_url(&site);
        }
        if let Some(url) = source.value(env::DD_API_URL) {
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {
                    client = client.with_base_url(url)
                }
                _ => {
                    return Err(EnvError::Invalid {
                        name: env::DD_API_URL.name,
                        value: url,
                        expected: "an http(s) URL such as https://api.datadoghq.com",
                    });
                }
            }
        }
        Ok(client)
    }

    /// Sets the base URL (default from the site).
    #[must_use]
    pub fn with_base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = trim_base_url(url);
        self
    }

    /// Sets timeouts and retries.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The base URL in use.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base_url);
        let response = self
            .retry
            .send(|| {
                let request = self
                    .client
                    .request(method.clone(), &url)
                    .header("DD-API-KEY", &self.api_key)
                    .header("DD-APPLICATION-KEY", &self.app_key);
                match body {
                    Some(b) => request.json(b),
                    None => request,
                }
            })
            .await
            .map_err(|source| ApiError::Transport {
                url: url.clone(),
                source,
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ApiError::Unauthorized {
                status: status.as_u16(),
                method: method.to_string(),
                path: path.to_owned(),
                site: self.base_url.clone(),
                body: truncate(&text, 300),
            });
        }
        if !status.is_success() {
            return Err(ApiError::Status {
                status: status.as_u16(),
                method: method.to_string(),
                path: path.to_owned(),
                body: truncate(&text, 500),
            });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// DataDog's web app for this API (`https://api.datadoghq.eu` →
    /// `https://app.datadoghq.eu`, `https://api.us5.datadoghq.com` →
    /// `https://us5.datadoghq.com`); a base URL of another shape (a proxy,
    /// a test stand-in) is returned as it is.
    ///
    /// ```
    /// use treebeard_alerting::datadog_api::DatadogClient;
    /// let c = DatadogClient::new("k", "a");
    /// assert_eq!(c.app_url(), "https://app.datadoghq.com");
    /// let eu = c.clone().with_base_url("https://api.us5.datadoghq.com/");
    /// assert_eq!(eu.app_url(), "https://us5.datadoghq.com");
    /// ```
    pub fn app_url(&self) -> String {
        match self.base_url.split_once("://api.") {
            // Sites of two labels (datadoghq.com, datadoghq.eu) serve the app
            // on `app.`; regional sites (us3., us5., ap1.) on the site itself.
            Some((scheme, site)) if site.matches('.').count() == 1 => {
                format!("{scheme}://app.{site}")
            }
            Some((scheme, site)) => format!("{scheme}://{site}"),
            None => self.base_url.clone(),
        }
    }

    /// `POST /api/v2/events/search` with `request` (an `EventsListRequest`);
    /// returns the `EventsListResponse` as JSON (the digest's
    /// `digest::history` builds the request and reads the answer).
    pub async fn search_events(&self, request: &Value) -> Result<Value, ApiError> {
        self.call(Method::POST, EVENTS_SEARCH_PATH, Some(request))
            .await
    }

    /// `GET /api/v1/validate`: whether the API key is valid.
    pub async fn validate_keys(&self) -> Result<(), ApiError> {
        self.call(Method::GET, "/api/v1/validate", None)
            .await
            .map(|_| ())
    }

    /// Lists the monitors carrying `tag` (the API filters, we check again).
    pub async fn list_monitors(&self, tag: &str) -> Result<Vec<RemoteMonitor>, ApiError> {
        let mut all = Vec::new();
        for page in 0.. {
            let path = format!(
                "/api/v1/monitor?monitor_tags={}&page={page}&page_size={PAGE_SIZE}",
                encode(tag)
            );
            let value = self.call(Method::GET, &path, None).await?;
            let items = value.as_array().cloned().ok_or_else(|| ApiError::Decode {
                path: path.clone(),
                message: "expected a JSON array of monitors".into(),
            })?;
            let count = items.len();
            for raw in items {
                let mut monitor: RemoteMonitor =
                    serde_json::from_value(raw.clone()).map_err(|e| ApiError::Decode {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                monitor.raw = raw;
                if monitor.tags.iter().any(|t| t == tag) {
                    all.push(monitor);
                }
            }
            if count < PAGE_SIZE {
                break;
            }
        }
        Ok(all)
    }

    /// Creates a monitor; returns its id.
    pub async fn create_monitor(&self, monitor: &Value) -> Result<i64, ApiError> {
        let path = "/api/v1/monitor";
        let answer = self.call(Method::POST, path, Some(monitor)).await?;
        answer
            .get("id")
            .and_then(Value::as_i64)
            .ok_or(ApiError::Decode {
                path: path.into(),
                message: "no numeric `id` in the created monitor".into(),
            })
    }

    /// Replaces monitor `id`.
    pub async fn update_monitor(&self, id: i64, monitor: &Value) -> Result<(), ApiError> {
        self.call(Method::PUT, &format!("/api/v1/monitor/{id}"), Some(monitor))
            .await
            .map(|_| ())
    }

    /// Deletes monitor `id`.
    pub async fn delete_monitor(&self, id: i64) -> Result<(), ApiError> {
        self.call(Method::DELETE, &format!("/api/v1/monitor/{id}"), None)
            .await
            .map(|_| ())
    }

    /// Lists all dashboards (summaries).
    pub async fn list_dashboards(&self) -> Result<Vec<RemoteDashboard>, ApiError> {
        let path = "/api/v1/dashboard";
        let value = self.call(Method::GET, path, None).await?;
        let items = value
            .get("dashboards")
            .cloned()
            .unwrap_or(Value::Array(Vec::new()));
        serde_json::from_value(items).map_err(|e| ApiError::Decode {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// Creates a dashboard; returns its id.
    pub async fn create_dashboard(&self, dashboard: &Value) -> Result<String, ApiError> {
        let path = "/api/v1/dashboard";
        let answer = self.call(Method::POST, path, Some(dashboard)).await?;
        answer
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or(ApiError::Decode {
                path: path.into(),
                message: "no `id` in the created dashboard".into(),
            })
    }

    /// Replaces dashboard `id`.
    pub async fn update_dashboard(&self, id: &str, dashboard: &Value) -> Result<(), ApiError> {
        self.call(
            Method::PUT,
            &format!("/api/v1/dashboard/{}", encode(id)),
            Some(dashboard),
        )
        .await
        .map(|_| ())
    }

    /// Deletes dashboard `id`.
    pub async fn delete_dashboard(&self, id: &str) -> Result<(), ApiError> {
        self.call(
            Method::DELETE,
            &format!("/api/v1/dashboard/{}", encode(id)),
            None,
        )
        .await
        .map(|_| ())
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
