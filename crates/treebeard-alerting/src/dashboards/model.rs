//! The subset of the DataDog Dashboards API v1 model the generated
//! dashboards use.

use serde::{Deserialize, Serialize};

/// A dashboard, as sent to `POST /api/v1/dashboard`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// Title (identifies the dashboard among the owned ones).
    pub title: String,
    /// Description, ending with the ownership marker and content revision.
    pub description: String,
    /// Always `ordered`: widgets flow top to bottom.
    pub layout_type: String,
    /// Always `auto`.
    pub reflow_type: String,
    /// `$env`, `$service` selectors.
    pub template_variables: Vec<TemplateVariable>,
    /// The widgets.
    pub widgets: Vec<Widget>,
}

/// A template variable such as `$env`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateVariable {
    /// Variable name.
    pub name: String,
    /// Tag key it filters on.
    pub prefix: String,
    /// Default values.
    pub defaults: Vec<String>,
}

impl TemplateVariable {
    /// A variable filtering on tag `key`, defaulting to all values.
    pub fn tag(key: &str) -> Self {
        Self {
            name: key.to_owned(),
            prefix: key.to_owned(),
            defaults: vec!["*".to_owned()],
        }
    }
}

/// One widget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Widget {
    /// What it shows.
    pub definition: Definition,
}

/// The widget kinds used here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Definition {
    /// Markdown text.
    Note {
        /// Markdown content.
        content: String,
        /// Background colour name.
        background_color: String,
        /// Font size in px, as a string.
        font_size: String,
        /// `left`, `center` or `right`.
        text_align: String,
        /// Whether to draw the pointer tick.
        show_tick: bool,
    },
    /// A line or bar chart.
    Timeseries {
        /// Title.
        title: String,
        /// Whether to show the legend.
        show_legend: bool,
        /// Queries.
        requests: Vec<TimeseriesRequest>,
        /// Horizontal lines marking targets.
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        markers: Vec<Marker>,
    },
    /// A single number.
    QueryValue {
        /// Title.
        title: String,
        /// Query.
        requests: Vec<QueryValueRequest>,
        /// Decimals shown.
        precision: i64,
        /// Unit shown after the value.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        custom_unit: Option<String>,
        /// Whether to abbreviate large values.
        autoscale: bool,
    },
    /// A ranked list.
    Toplist {
        /// Title.
        title: String,
        /// Query.
        requests: Vec<ToplistRequest>,
    },
}

/// A timeseries query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeseriesRequest {
    /// Metric query.
    pub q: String,
    /// `line`, `bars` or `area`.
    pub display_type: String,
}

/// A query-value query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryValueRequest {
    /// Metric query.
    pub q: String,
    /// `avg`, `last`, `max`, `min` or `sum`.
    pub aggregator: String,
}

/// A toplist query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToplistRequest {
    /// Metric query, usually `top(..., 10, 'mean', 'desc')`.
    pub q: String,
}

/// A horizontal marker line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// `y = 2` style value.
    pub value: String,
    /// `error dashed`, `warning dashed`, ...
    pub display_type: String,
    /// Label.
    pub label: String,
}

/// Builds a timeseries widget.
pub fn timeseries(title: &str, queries: &[&str]) -> Widget {
    Widget {
        definition: Definition::Timeseries {
            title: title.to_owned(),
            show_legend: true,
            requests: queries
                .iter()
                .map(|q| TimeseriesRequest {
                    q: (*q).to_owned(),
                    display_type: "line".to_owned(),
                })
                .collect(),
            markers: Vec::new(),
        },
    }
}

/// Builds a timeseries widget with a target line at `target`.
pub fn timeseries_with_target(title: &str, queries: &[&str], target: f64, label: &str) -> Widget {
    let mut w = timeseries(title, queries);
    if let Definition::Timeseries { markers, .. } = &mut w.definition {
        markers.push(Marker {
            value: format!("y = {target}"),
            display_type: "error dashed".to_owned(),
            label: label.to_owned(),
        });
    }
    w
}

/// Builds a query-value widget.
pub fn query_value(title: &str, q: &str, aggregator: &str, unit: Option<&str>) -> Widget {
    Widget {
        definition: Definition::QueryValue {
            title: title.to_owned(),
            requests: vec![QueryValueRequest {
                q: q.to_owned(),
                aggregator: aggregator.to_owned(),
            }],
            precision: 2,
            custom_unit: unit.map(str::to_owned),
            autoscale: true,
        },
    }
}

/// Builds a top-10 list of `q`.
pub fn toplist(title: &str, q: &str) -> Widget {
    Widget {
        definition: Definition::Toplist {
            title: title.to_owned(),
            requests: vec![ToplistRequest {
                q: format!("top({q}, 10, 'mean', 'desc')"),
            }],
        },
    }
}

/// Builds a markdown note.
pub fn note(markdown: &str) -> Widget {
    Widget {
        definition: Definition::Note {
            content: markdown.to_owned(),
            background_color: "white".to_owned(),
            font_size: "14".to_owned(),
            text_align: "left".to_owned(),
            show_tick: false,
        },
    }
}

impl Widget {
    /// The metric queries of this widget.
    pub fn queries(&self) -> Vec<&str> {
        match &self.definition {
            Definition::Note { .. } => Vec::new(),
            Definition::Timeseries { requests, .. } => {
                requests.iter().map(|r| r.q.as_str()).collect()
            }
            Definition::QueryValue { requests, .. } => {
                requests.iter().map(|r| r.q.as_str()).collect()
            }
            Definition::Toplist { requests, .. } => requests.iter().map(|r| r.q.as_str()).collect(),
        }
    }
}
