//! The reference's four dashboards, built from the conventions' metric
//! names so a renamed metric changes the dashboards with it.

use treebeard_conventions::{
    api, cache, database, external, host, process, recommendations, runtime, tags,
};

use super::model::{
    Dashboard, TemplateVariable, Widget, note, query_value, timeseries, timeseries_with_target,
    toplist,
};

/// The scope every query uses: the `$env` and `$service` template variables.
const SCOPE: &str = "$env,$service";

struct Names<'a>(&'a str);

impl Names<'_> {
    fn m(&self, suffix: &str) -> String {
        crate::metrics::full_name(self.0, suffix)
    }

    fn error_pct(&self) -> String {
        format!(
            "100 * sum:{}{{{SCOPE}}}.as_count() / sum:{}{{{SCOPE}}}.as_count()",
            self.m(api::ERRORS),
            self.m(api::REQUESTS)
        )
    }
}

fn dashboard(title: &str, description: &str, widgets: Vec<Widget>) -> Dashboard {
    Dashboard {
        title: title.to_owned(),
        description: description.to_owned(),
        layout_type: "ordered".to_owned(),
        reflow_type: "auto".to_owned(),
        template_variables: vec![
            TemplateVariable::tag(tags::ENV),
            TemplateVariable::tag(tags::SERVICE),
        ],
        widgets,
    }
}

/// Service Health: availability, traffic, errors and latency.
pub fn service_health(namespace: &str) -> Dashboard {
    let n = Names(namespace);
    let requests = n.m(api::REQUESTS);
    let duration = n.m(api::REQUEST_DURATION);
    dashboard(
        "TreeBeard - Service Health",
        "Overall API health: availability (target 99.9%), request rate, error rate (target < 1%) and P95 latency (target < 2 s).",
        vec![
            note(
                "## Service Health\nTargets: availability **99.9%**, error rate **< 1%**, latency P95 **< 2 s**.",
            ),
            query_value(
                "Availability",
                &format!("100 - {}", n.error_pct()),
                "avg",
                Some("%"),
            ),
            query_value(
                "Request rate",
                &format!("sum:{requests}{{{SCOPE}}}.as_rate()"),
                "avg",
                Some("req/s"),
            ),
            query_value("Error rate", &n.error_pct(), "avg", Some("%")),
            query_value(
                "Latency P95",
                &format!("p95:{duration}{{{SCOPE}}}"),
                "avg",
                Some("s"),
            ),
            timeseries(
                "Requests per second by status class",
                &[&format!(
                    "sum:{requests}{{{SCOPE}}} by {{{}}}.as_rate()",
                    tags::STATUS_CLASS
                )],
            ),
            timeseries_with_target("Error rate (%)", &[&n.error_pct()], 1.0, "target 1%"),
            timeseries_with_target(
                "Latency P50 / P95 / P99 (s)",
                &[
                    &format!("p50:{duration}{{{SCOPE}}}"),
                    &format!("p95:{duration}{{{SCOPE}}}"),
                    &format!("p99:{duration}{{{SCOPE}}}"),
                ],
                2.0,
                "P95 target 2 s",
            ),
            toplist(
                "Slowest endpoints (P95, s)",
                &format!("p95:{duration}{{{SCOPE}}} by {{{}}}", tags::ENDPOINT),
            ),
        ],
    )
}

/// Infrastructure: CPU, memory, disk, network, runtime and database.
pub fn infrastructure(namespace: &str) -> Dashboard {
    let n = Names(namespace);
    dashboard(
        "TreeBeard - Infrastructure",
        "System resources and database: CPU (target < 70%), memory (< 80%), disk (< 80%), network, async runtime and query time (< 100 ms).",
        vec![
            note(
                "## Infrastructure\nTargets: CPU **< 70%**, memory **< 80%**, disk **< 80%**, DB query average **< 100 ms**.",
            ),
            timeseries_with_target(
                "Process CPU (%)",
                &[&format!(
                    "avg:{}{{{SCOPE}}} by {{host}}",
                    n.m(process::CPU_PERCENT)
                )],
                70.0,
                "target 70%",
            ),
            timeseries_with_target(
                "Process memory (%)",
                &[&format!(
                    "avg:{}{{{SCOPE}}} by {{host}}",
                    n.m(process::MEMORY_PERCENT)
                )],
                80.0,
                "target 80%",
            ),
            timeseries(
                "Resident memory (bytes)",
                &[&format!(
                    "avg:{}{{{SCOPE}}} by {{host}}",
                    n.m(process::MEMORY_RSS)
                )],
            ),
            timeseries_with_target(
                "Disk in use (fraction)",
                &[&format!(
                    "max:{}{{$env}} by {{host,device}}",
                    host::DISK_IN_USE
                )],
                0.8,
                "target 80%",
            ),
            timeseries(
                "Network (bytes/s)",
                &[
                    "sum:system.net.bytes_rcvd{$env} by {host}",
                    "sum:system.net.bytes_sent{$env} by {host}",
                ],
            ),
            timeseries(
                "Open file descriptors and threads",
                &[
                    &format!("avg:{}{{{SCOPE}}} by {{host}}", n.m(process::OPEN_FDS)),
                    &format!("avg:{}{{{SCOPE}}} by {{host}}", n.m(process::THREADS)),
                ],
            ),
            timeseries(
                "Runtime busy ratio and global queue depth",
                &[
                    &format!("avg:{}{{{SCOPE}}}", n.m(runtime::BUSY_RATIO)),
                    &format!("avg:{}{{{SCOPE}}}", n.m(runtime::GLOBAL_QUEUE_DEPTH)),
                ],
            ),
            timeseries_with_target(
                "Database query time, average (s)",
                &[&format!("avg:{}{{{SCOPE}}}", n.m(database::QUERY_DURATION))],
                0.1,
                "target 100 ms",
            ),
        ],
    )
}

/// Application Performance: recommendations, cache, database and the
/// external (Claude) API.
pub fn application_performance(namespace: &str) -> Dashboard {
    let n = Names(namespace);
    let external = n.m(external::REQUEST_DURATION);
    dashboard(
        "TreeBeard - Application Performance",
        "Recommendations (P95 < 3 s), database queries (average < 100 ms), cache hit rate (> 80%) and the Claude API (P95 < 5 s).",
        vec![
            note(
                "## Application Performance\nTargets: recommendation P95 **< 3 s**, DB query average **< 100 ms**, cache hit rate **> 80%**, Claude API P95 **< 5 s**.",
            ),
            timeseries_with_target(
                "Recommendation generation P95 (s)",
                &[&format!(
                    "p95:{}{{{SCOPE}}}",
                    n.m(recommendations::DURATION)
                )],
                3.0,
                "target 3 s",
            ),
            timeseries_with_target(
                "Claude API P95 (s)",
                &[&format!("p95:{external}{{{SCOPE},api:claude}}")],
                5.0,
                "target 5 s",
            ),
            timeseries(
                "External API errors per second",
                &[&format!(
                    "sum:{}{{{SCOPE}}} by {{api}}.as_rate()",
                    n.m(external::ERRORS)
                )],
            ),
            timeseries_with_target(
                "Cache hit rate (fraction)",
                &[&format!("avg:{}{{{SCOPE}}}", n.m(cache::HIT_RATE))],
                0.8,
                "target 80%",
            ),
            timeseries_with_target(
                "Database query time by table, average (s)",
                &[&format!(
                    "avg:{}{{{SCOPE}}} by {{table}}",
                    n.m(database::QUERY_DURATION)
                )],
                0.1,
                "target 100 ms",
            ),
            toplist(
                "Slowest external endpoints (P95, s)",
                &format!("p95:{external}{{{SCOPE}}} by {{api,endpoint}}"),
            ),
        ],
    )
}

/// Business Metrics: recommendation volume and usage.
pub fn business_metrics(namespace: &str) -> Dashboard {
    let n = Names(namespace);
    let generated = n.m(recommendations::GENERATED);
    dashboard(
        "TreeBeard - Business Metrics",
        "User activity and KPIs: recommendations generated per hour and day, by profile type, and API usage per endpoint.",
        vec![
            note(
                "## Business Metrics\nActive users, conversion rate and satisfaction need application events that the layers do not emit; add them with `extra_metrics` and a widget of your own.",
            ),
            query_value(
                "Recommendations generated (period)",
                &format!("sum:{generated}{{{SCOPE}}}.as_count()"),
                "sum",
                None,
            ),
            timeseries(
                "Recommendations generated per hour",
                &[&format!(
                    "sum:{generated}{{{SCOPE}}}.as_count().rollup(sum, 3600)"
                )],
            ),
            toplist(
                "Recommendations by profile type",
                &format!("sum:{generated}{{{SCOPE}}} by {{profile_type}}.as_count()"),
            ),
            toplist(
                "Requests by endpoint",
                &format!(
                    "sum:{}{{{SCOPE}}} by {{{}}}.as_count()",
                    n.m(api::REQUESTS),
                    tags::ENDPOINT
                ),
            ),
        ],
    )
}
