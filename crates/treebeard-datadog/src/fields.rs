//! A span's fields: the ones DataDog gives a meaning to, and the rest as
//! tags (strings) and metrics (numbers).

use tracing::field::{Field, Visit};

use crate::inline::{Slot, Tags, Text};

/// The span fields DataDog gives a meaning to, and the rest as tags.
///
/// Every text value lives in one [`Text`], inline for a usual span, so
/// recording a span's fields allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    text: Text,
    /// `operation.name`, else `otel.name`.
    operation: Option<Slot>,
    /// `resource.name`.
    resource: Option<Slot>,
    /// `service.name`: another service than the process's.
    service: Option<Slot>,
    /// `span.type`.
    span_type: Option<Slot>,
    /// `otel.kind`.
    pub(crate) kind: Kind,
    /// `otel.status_code = "error"`.
    pub(crate) error: bool,
    /// Every other field with a value: `meta` strings.
    tags: Tags,
    /// The first `http.method` and `http.route` tags, by index in `tags`:
    /// the operation, resource and type derive from them, for every span.
    http_method: Option<u16>,
    http_route: Option<u16>,
    /// Which tag names may be in `tags` (one bit per name address), so a
    /// new tag is pushed without a search.
    seen: u64,
    /// Numeric fields: `metrics`.
    pub(crate) metrics: Vec<(&'static str, f64)>,
}

impl Fields {
    pub(crate) fn operation(&self) -> Option<&[u8]> {
        self.operation.map(|slot| self.text.bytes(slot))
    }

    pub(crate) fn resource(&self) -> Option<&[u8]> {
        self.resource.map(|slot| self.text.bytes(slot))
    }

    pub(crate) fn service(&self) -> Option<&[u8]> {
        self.service.map(|slot| self.text.bytes(slot))
    }

    pub(crate) fn span_type(&self) -> Option<&[u8]> {
        self.span_type.map(|slot| self.text.bytes(slot))
    }

    /// The `http.method` tag.
    pub(crate) fn http_method(&self) -> Option<&[u8]> {
        self.tag_at(self.http_method)
    }

    /// The `http.route` tag.
    pub(crate) fn http_route(&self) -> Option<&[u8]> {
        self.tag_at(self.http_route)
    }

    fn tag_at(&self, index: Option<u16>) -> Option<&[u8]> {
        let (_, slot) = self.tags.get(usize::from(index?))?;
        Some(self.text.bytes(*slot))
    }

    /// The value of tag `key` (the first of that name), if the span has one.
    #[cfg(test)]
    pub(crate) fn tag(&self, key: &str) -> Option<&str> {
        let (_, slot) = self.tags.iter().find(|(k, _)| *k == key)?;
        Some(self.text.str(*slot))
    }

    /// Every tag, in the order first recorded.
    pub(crate) fn tags(&self) -> impl Iterator<Item = (&'static str, &[u8])> {
        self.tags
            .iter()
            .map(|(k, slot)| (*k, self.text.bytes(*slot)))
    }

    /// Every tag as `str`s, for the sampler's rules.
    pub(crate) fn tag_strs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.tags.iter().map(|(k, slot)| (*k, self.text.str(*slot)))
    }

    pub(crate) fn set(&mut self, name: &'static str, value: &str) {
        match name {
            "operation.name" => self.operation = self.text.push(value),
            "otel.name" => {
                if self.operation.is_none() {
                    self.operation = self.text.push(value);
                }
            }
            "resource.name" => self.resource = self.text.push(value),
            "service.name" => self.service = self.text.push(value),
            "span.type" => self.span_type = self.text.push(value),
            "otel.kind" => self.kind = Kind::parse(value),
            "otel.status_code" => self.error = value.eq_ignore_ascii_case("error"),
            _ => {
                if let Some(slot) = self.text.push(value) {
                    self.set_tag(name, slot);
                }
            }
        }
    }

    fn set_tag(&mut self, name: &'static str, slot: Slot) {
        // A field recorded twice keeps its last value. Names are the
        // span's own `&'static str`s, so the address says which field.
        let bit = 1u64 << ((name.as_ptr() as usize >> 1) % 64);
        if self.seen & bit != 0 {
            let same = |k: &&str| k.as_ptr() == name.as_ptr() && k.len() == name.len();
            if let Some((_, old)) = self.tags.iter_mut().find(|(k, _)| same(k)) {
                *old = slot;
                return;
            }
        }
        self.seen |= bit;
        let index = u16::try_from(self.tags.len()).ok();
        match name {
            "http.method" if self.http_method.is_none() => self.http_method = index,
            "http.route" if self.http_route.is_none() => self.http_route = index,
            _ => {}
        }
        self.tags.push((name, slot));
    }

    fn set_metric(&mut self, name: &'static str, value: f64) {
        match self.metrics.iter_mut().find(|(k, _)| *k == name) {
            Some((_, v)) => *v = value,
            None => self.metrics.push((name, value)),
        }
    }

    /// Whether this span names the same service as `other` (both may
    /// leave it to the process's).
    pub(crate) fn same_service(&self, other: &Fields) -> bool {
        self.service() == other.service()
    }
}

/// The fields [`Fields::set`] gives a meaning to, rather than keeping as tags.
fn is_special(name: &str) -> bool {
    matches!(
        name,
        "operation.name"
            | "otel.name"
            | "resource.name"
            | "service.name"
            | "span.type"
            | "otel.kind"
            | "otel.status_code"
    )
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), if value { "true" } else { "false" });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set_metric(field.name(), value as f64);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set_metric(field.name(), value as f64);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set_metric(field.name(), value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field.name(), &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let name = field.name();
        if is_special(name) {
            return self.set(name, &format!("{value:?}"));
        }
        // A tag: formatted straight into the text, no `String` of its own.
        if let Some(slot) = self.text.push_fmt(format_args!("{value:?}")) {
            self.set_tag(name, slot);
        }
    }
}

/// `otel.kind`, as DataDog's `span.kind` tag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Kind {
    Server,
    Client,
    Producer,
    Consumer,
    #[default]
    Internal,
}

impl Kind {
    pub(crate) fn parse(value: &str) -> Self {
        // Without lowercasing a copy: this runs for every span.
        [Self::Server, Self::Client, Self::Producer, Self::Consumer]
            .into_iter()
            .find(|kind| value.eq_ignore_ascii_case(kind.as_str()))
            .unwrap_or(Self::Internal)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
            Self::Internal => "internal",
        }
    }

    /// DataDog computes stats for these even when not top-level (`_dd.measured`).
    pub(crate) fn measured(self) -> bool {
        matches!(self, Self::Client | Self::Producer | Self::Consumer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_recorded_again_keeps_its_place_and_takes_the_new_value() {
        let mut fields = Fields::default();
        // Two names at different addresses, and one recorded twice.
        let (a, b): (&'static str, &'static str) = ("http.method", "x");
        fields.set(a, "GET");
        fields.set(b, "1");
        fields.set("http.route", "/a");
        fields.set(a, "POST");
        let tags: Vec<_> = fields.tag_strs().collect();
        assert_eq!(
            tags,
            [("http.method", "POST"), ("x", "1"), ("http.route", "/a")]
        );
        assert_eq!(fields.http_method(), Some(&b"POST"[..]));
        assert_eq!(fields.http_route(), Some(&b"/a"[..]));
        assert_eq!(fields.tag("x"), Some("1"));
    }

    #[test]
    fn the_first_http_method_tag_is_the_one_read() {
        let mut fields = Fields::default();
        let other: &'static str = Box::leak(String::from("http.method").into_boxed_str());
        fields.set("http.method", "GET");
        fields.set(other, "PUT");
        assert_eq!(fields.tags.len(), 2, "another name at another address");
        assert_eq!(fields.http_method(), Some(&b"GET"[..]));
        assert_eq!(fields.tag("http.method"), Some("GET"));
    }
}
