//! Scrubbing of `serde_json` values: Sentry event payloads, structured log
//! fields, request bodies.

use std::borrow::Cow;

use serde_json::{Map, Number, Value};

use crate::{Scrubber, markers};

/// Integers with fewer digits cannot hold a card number, so they skip the
/// text scrubber.
const SMALLEST_CARD_LIKE: u64 = 1_000_000_000_000;

impl Scrubber {
    /// Scrubs a JSON value in place.
    ///
    /// - The value of every object key named like a sensitive key (any
    ///   type except `null`) becomes `"[REDACTED]"`.
    /// - Every other string, and every object key, is scrubbed like text.
    ///   Two keys that scrub to the same text are both kept (`"[EMAIL]"`,
    ///   `"[EMAIL] (2)"`).
    /// - Integers long enough to be card numbers are checked too, and
    ///   become strings when they are.
    ///
    /// Deep values are walked with an explicit stack, so no nesting depth
    /// can overflow the thread's stack.
    ///
    /// ```
    /// # use treebeard_pii::Scrubber;
    /// use serde_json::json;
    /// let mut event = json!({
    ///     "user": {"email": "bob@example.com", "password": "hunter2"},
    ///     "headers": {"Authorization": "Bearer abc", "Accept": "*/*"},
    ///     "tags": ["card 4111 1111 1111 1111", 42],
    /// });
    /// Scrubber::global().scrub_json(&mut event);
    /// assert_eq!(event, json!({
    ///     "user": {"email": "[EMAIL]", "password": "[REDACTED]"},
    ///     "headers": {"Authorization": "[REDACTED]", "Accept": "*/*"},
    ///     "tags": ["card [CARD]", 42],
    /// }));
    /// ```
    pub fn scrub_json(&self, value: &mut Value) {
        let mut stack = vec![value];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(text) => {
                    if let Cow::Owned(clean) = self.scrub(text) {
                        *text = clean;
                    }
                }
                Value::Number(number) => {
                    if let Some(clean) = self.scrub_number(number) {
                        *value = Value::String(clean);
                    }
                }
                Value::Array(items) => stack.extend(items.iter_mut()),
                Value::Object(map) => {
                    self.scrub_keys(map);
                    for (key, child) in map.iter_mut() {
                        if child.is_null() {
                            continue;
                        }
                        if self.is_sensitive_key(key) {
                            *child = Value::String(markers::REDACTED.to_owned());
                        } else {
                            stack.push(child);
                        }
                    }
                }
                Value::Null | Value::Bool(_) => {}
            }
        }
    }

    /// The scrubbed text of a card-length integer, if it held PII.
    fn scrub_number(&self, number: &Number) -> Option<String> {
        if number.as_u64().is_none_or(|n| n < SMALLEST_CARD_LIKE) {
            return None;
        }
        match self.scrub(&number.to_string()) {
            Cow::Owned(clean) => Some(clean),
            Cow::Borrowed(_) => None,
        }
    }

    /// Renames object keys that contain PII (an e-mail used as a map key).
    fn scrub_keys(&self, map: &mut Map<String, Value>) {
        let renames: Vec<(String, String)> = map
            .keys()
            .filter_map(|key| match self.scrub(key) {
                Cow::Owned(clean) => Some((key.clone(), clean)),
                Cow::Borrowed(_) => None,
            })
            .collect();
        for (old, clean) in renames {
            if let Some(child) = map.remove(&old) {
                let mut key = clean.clone();
                let mut n = 2;
                while map.contains_key(&key) {
                    key = format!("{clean} ({n})");
                    n += 1;
                }
                map.insert(key, child);
            }
        }
    }
}
