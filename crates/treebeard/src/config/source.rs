//! Where configuration values come from.

use std::collections::{BTreeMap, HashMap};

/// A source of configuration values, looked up by variable name.
///
/// The process environment is the usual source ([`EnvSource`]); tests use a
/// map instead so that they never mutate the process environment.
///
/// ```
/// use std::collections::HashMap;
/// use treebeard::config::ConfigSource;
///
/// let source = HashMap::from([("DD_ENV".to_owned(), "staging".to_owned())]);
/// assert_eq!(ConfigSource::get(&source, "DD_ENV").as_deref(), Some("staging"));
/// assert_eq!(ConfigSource::get(&source, "DD_SERVICE"), None);
/// ```
pub trait ConfigSource {
    /// The raw value of `name`, or `None` when it is not set.
    fn get(&self, name: &str) -> Option<String>;
}

/// Reads the process environment.
///
/// A value that is not valid Unicode is passed on lossily converted, so that
/// validation reports it instead of treating the variable as unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSource;

impl ConfigSource for EnvSource {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }
}

impl ConfigSource for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl ConfigSource for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| (*v).to_owned())
    }
}

impl ConfigSource for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

impl<const N: usize> ConfigSource for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

impl<T: ConfigSource + ?Sized> ConfigSource for &T {
    fn get(&self, name: &str) -> Option<String> {
        (**self).get(name)
    }
}
