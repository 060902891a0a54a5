//! The example's own settings (the monitoring ones come from `treebeard::Config`).

use std::net::IpAddr;

use treebeard::config::ConfigSource;

/// Where the example listens and whom it calls.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `HOST` (default `127.0.0.1`).
    pub host: IpAddr,
    /// `PORT` (default `8080`; `0` picks a free port).
    pub port: u16,
    /// `RECOMMENDER_URL` (default: this process's own `/internal/score`).
    pub recommender_url: Option<String>,
}

impl Settings {
    /// Reads `HOST`, `PORT` and `RECOMMENDER_URL`; every invalid one is reported.
    pub fn from_source(source: &dyn ConfigSource) -> Result<Self, String> {
        let mut errors = Vec::new();
        let host = match source.get("HOST") {
            None => IpAddr::from([127, 0, 0, 1]),
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                errors.push(format!(
                    "HOST={v:?}: expected an IP address such as 127.0.0.1 or 0.0.0.0"
                ));
                IpAddr::from([127, 0, 0, 1])
            }),
        };
        let port = match source.get("PORT") {
            None => 8080,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                errors.push(format!(
                    "PORT={v:?}: expected a port number from 0 to 65535"
                ));
                8080
            }),
        };
        let recommender_url = source
            .get("RECOMMENDER_URL")
            .filter(|v| !v.trim().is_empty());
        if let Some(url) = &recommender_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            errors.push(format!(
                "RECOMMENDER_URL={url:?}: expected an http:// or https:// URL"
            ));
        }
        if errors.is_empty() {
            Ok(Self {
                host,
                port,
                recommender_url,
            })
        } else {
            Err(errors.join("\n  - "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_errors() {
        let s = Settings::from_source(&[("X", "")]).unwrap();
        assert_eq!((s.host.to_string(), s.port), ("127.0.0.1".to_owned(), 8080));
        let err = Settings::from_source(&[
            ("PORT", "http"),
            ("HOST", "localhost"),
            ("RECOMMENDER_URL", "ftp://x"),
        ])
        .unwrap_err();
        assert!(
            err.contains("PORT=\"http\"")
                && err.contains("HOST=")
                && err.contains("RECOMMENDER_URL="),
            "{err}"
        );
    }
}
