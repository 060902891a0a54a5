//! docs/configuration.md must list every variable of the registry, with its
//! default and who reads it.

use treebeard::config::vars::VARIABLES;

#[test]
fn configuration_table_lists_every_variable_with_its_default() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
    let doc = std::fs::read_to_string(path).expect("docs/configuration.md");
    for var in VARIABLES {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", var.name)))
            .unwrap_or_else(|| panic!("{} has no row in docs/configuration.md", var.name));
        let default = var.default.map_or("unset".to_owned(), |d| {
            if d.starts_with("the value of") {
                d.to_owned()
            } else {
                format!("`{d}`")
            }
        });
        let read_by = var.read_by.as_str();
        assert!(
            row.contains(&format!("| {default} | {read_by} |")),
            "{}: default {default} and reader {read_by} not in {row}",
            var.name
        );
    }
}
