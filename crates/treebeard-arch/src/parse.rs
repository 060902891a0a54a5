//! Reading a crate's sources into a [`ModuleGraph`].
//!
//! Every `src/**/*.rs` file is one module (`src/lib.rs` the root,
//! `src/a/mod.rs` and `src/a.rs` = `a`, `src/a/b.rs` = `a::b`). The files are
//! parsed with `syn`, so comments, doc comments and string literals never
//! count. What counts as a reference:
//!
//! - `use` trees, with nested groups, globs and renames;
//! - paths anywhere in code (`crate::x::Y`, `super::Z`, `self::a::B`, and
//!   `child::f` where `child` is a child module of the current one);
//! - the same path shapes inside macro invocations' tokens (`$crate::x` too).
//!
//! Items attributed `#[cfg(test)]` (in practice `mod tests { .. }`) and files
//! named `tests.rs` are skipped: tests may import anything. A `mod child;`
//! declaration is not a reference; visibility paths (`pub(in crate::a)`) and
//! attributes are not either.
//!
//! A reference resolves to the deepest module that prefixes it: with `config`
//! a module and `Config` an item in it, `crate::config::Config` → `config`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{Delimiter, Spacing, Span, TokenStream, TokenTree};
use syn::visit::{self, Visit};
use syn::{Attribute, Item, ItemMod, ItemUse, Macro, UseTree, VisRestricted};

use crate::graph::{ModuleGraph, ROOT, Site};

/// Why a crate could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A directory or file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not valid Rust.
    #[error("cannot parse {path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// `syn`'s message, with its line.
        message: String,
    },
}

/// Reads the crate whose sources are under `src` (the `src` directory
/// itself) into its module graph. Files are named in the graph relative to
/// the parent of `src` (`src/rules.rs`).
pub fn parse_crate(src: &Path) -> Result<ModuleGraph, ParseError> {
    let mut files = Vec::new();
    collect_files(src, src, &mut files)?;
    let has_lib = files.iter().any(|(rel, _)| rel == Path::new("lib.rs"));
    let files: Vec<(Vec<String>, String, PathBuf)> = files
        .into_iter()
        .filter_map(|(rel, full)| {
            let module = module_of(&rel, has_lib)?;
            let shown = Path::new("src").join(&rel);
            let shown = shown.to_string_lossy().replace('\\', "/");
            Some((module, shown, full))
        })
        .collect();

    let mut graph = ModuleGraph::default();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|(m, _, _)| m.clone()).collect();
    for (module, shown, _) in &files {
        graph.add_module(name(module), shown.clone());
    }
    for (module, shown, full) in &files {
        let text = fs::read_to_string(full).map_err(|source| ParseError::Io {
            path: full.clone(),
            source,
        })?;
        let file = syn::parse_file(&text).map_err(|e| ParseError::Syntax {
            path: full.clone(),
            message: format!("line {}: {e}", e.span().start().line),
        })?;
        let mut refs = References {
            modules: &modules,
            scope: module.clone(),
            found: Vec::new(),
        };
        refs.visit_file(&file);
        let from = name(module);
        for (target, line) in refs.found {
            let site = Site {
                file: shown.clone(),
                line,
            };
            graph.add_edge(&from, &name(&target), site);
        }
    }
    Ok(graph)
}

/// The graph name of a module given by its segments.
fn name(module: &[String]) -> String {
    if module.is_empty() {
        ROOT.to_owned()
    } else {
        module.join("::")
    }
}

/// Every `.rs` file under `dir`, as (path relative to `src`, full path),
/// leaving out `tests.rs` files and `src/bin`.
fn collect_files(
    src: &Path,
    dir: &Path,
    out: &mut Vec<(PathBuf, PathBuf)>,
) -> Result<(), ParseError> {
    let io = |source| ParseError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    entries.sort();
    for path in entries {
        let Ok(rel) = path.strip_prefix(src) else {
            continue;
        };
        let rel = rel.to_path_buf();
        if path.is_dir() {
            if rel != Path::new("bin") {
                collect_files(src, &path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push((rel, path));
        }
    }
    Ok(())
}

/// The module a file (relative to `src`) holds: `lib.rs` is the root
/// (`main.rs` too when there is no `lib.rs`), `a/mod.rs` and `a.rs` are `a`.
fn module_of(rel: &Path, has_lib: bool) -> Option<Vec<String>> {
    let mut segments: Vec<String> = rel
        .iter()
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    let file = segments.pop()?;
    let stem = file.strip_suffix(".rs")?;
    match stem {
        "lib" | "main" if segments.is_empty() => (stem == "lib" || !has_lib).then_some(segments),
        "mod" => Some(segments),
        _ => {
            segments.push(stem.to_owned());
            Some(segments)
        }
    }
}

/// Whether the attributes hold a `#[cfg(..)]` that is only on in tests.
fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|list| cfg_needs_test(list.tokens.clone()))
    })
}

/// Whether a cfg predicate can only hold with `test` set: `test`, or
/// `all(..)` with such a predicate inside.
fn cfg_needs_test(tokens: TokenStream) -> bool {
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    match tokens.as_slice() {
        [TokenTree::Ident(i)] => i == "test",
        [TokenTree::Ident(i), TokenTree::Group(g)] if i == "all" => g
            .stream()
            .into_iter()
            .collect::<Vec<_>>()
            .split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','))
            .any(|part| cfg_needs_test(part.iter().cloned().collect())),
        _ => false,
    }
}

/// The attributes of an item, for the `#[cfg(test)]` check.
fn attrs_of(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The references of one file, resolved to modules.
struct References<'m> {
    /// Every module of the crate.
    modules: &'m BTreeSet<Vec<String>>,
    /// The module the visitor is in: the file's, plus inline `mod`s.
    scope: Vec<String>,
    /// (module referred to, line).
    found: Vec<(Vec<String>, usize)>,
}

impl References<'_> {
    /// Records a path as written at `span`. `in_use` allows a one-segment
    /// path relative to a child module (`use child;` is rare, `child;` in
    /// code is a variable).
    fn record(&mut self, segments: &[String], span: Span, in_use: bool) {
        let Some(absolute) = self.absolute(segments, in_use) else {
            return;
        };
        let deepest = (0..=absolute.len())
            .rev()
            .map(|k| &absolute[..k])
            .find(|prefix| self.modules.contains(*prefix));
        if let Some(target) = deepest {
            self.found.push((target.to_vec(), span.start().line));
        }
    }

    /// A path made absolute (segments below the crate root), or `None` for
    /// a path that leaves the crate or is not a module path.
    fn absolute(&self, segments: &[String], in_use: bool) -> Option<Vec<String>> {
        let (first, rest) = segments.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" | "super" => {
                let mut base = self.scope.clone();
                let mut rest = segments;
                while let Some((head, tail)) = rest.split_first() {
                    match head.as_str() {
                        "self" => {}
                        "super" => {
                            base.pop()?;
                        }
                        _ => break,
                    }
                    rest = tail;
                }
                base.extend(rest.iter().cloned());
                Some(base)
            }
            _ if in_use || !rest.is_empty() => {
                let mut child = self.scope.clone();
                child.push(first.clone());
                self.modules
                    .contains(&child)
                    .then(|| child.into_iter().chain(rest.iter().cloned()).collect())
            }
            _ => None,
        }
    }

    /// Records every leaf of a `use` tree under `prefix`.
    fn use_tree(&mut self, tree: &UseTree, prefix: &mut Vec<String>) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(&p.tree, prefix);
                prefix.pop();
            }
            UseTree::Name(n) => self.use_leaf(prefix, &n.ident),
            UseTree::Rename(r) => self.use_leaf(prefix, &r.ident),
            UseTree::Glob(g) => {
                let prefix = prefix.clone();
                self.record(&prefix, g.star_token.span, true);
            }
            UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(tree, prefix);
                }
            }
        }
    }

    fn use_leaf(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut path = prefix.to_vec();
        if ident != "self" || path.is_empty() {
            path.push(ident.to_string());
        }
        self.record(&path, ident.span(), true);
    }

    /// Records the paths found in a macro's tokens: `a::b::c` runs starting
    /// with an identifier not itself after `::` (a leading `::` is a path
    /// outside the crate), `$crate` read as `crate`, `a::{b, c::d}` groups
    /// expanded.
    fn tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < tokens.len() {
            match &tokens[i] {
                TokenTree::Group(g) => {
                    self.tokens(g.stream());
                    i += 1;
                }
                TokenTree::Ident(ident) if !after_path_sep(&tokens, i) => {
                    let mut prefix = vec![ident.to_string()];
                    i = self.token_path(&tokens, i + 1, &mut prefix, ident.span());
                }
                _ => i += 1,
            }
        }
    }

    /// Continues a token path whose segments so far are `prefix` at
    /// `tokens[i]`, records it, and returns the index after it.
    fn token_path(
        &mut self,
        tokens: &[TokenTree],
        mut i: usize,
        prefix: &mut Vec<String>,
        span: Span,
    ) -> usize {
        let depth = prefix.len();
        while is_path_sep(tokens, i) {
            match tokens.get(i + 2) {
                Some(TokenTree::Ident(next)) => {
                    prefix.push(next.to_string());
                    i += 3;
                }
                Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => {
                    let inner: Vec<TokenTree> = g.stream().into_iter().collect();
                    for part in
                        inner.split(|t| matches!(t, TokenTree::Punct(p) if p.as_char() == ','))
                    {
                        if let Some(TokenTree::Ident(first)) = part.first() {
                            let mut nested = prefix.clone();
                            if first != "self" {
                                nested.push(first.to_string());
                            }
                            self.token_path(part, 1, &mut nested, first.span());
                        }
                    }
                    prefix.truncate(depth);
                    return i + 3;
                }
                _ => break,
            }
        }
        if prefix.len() > 1 || depth > 1 {
            self.record(prefix, span, false);
        }
        prefix.truncate(depth);
        i
    }
}

/// Whether `tokens[i..]` starts with `::`.
fn is_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    matches!(
        (tokens.get(i), tokens.get(i + 1)),
        (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
            if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
    )
}

/// Whether `tokens[i]` follows `::` (so is not the start of a path).
fn after_path_sep(tokens: &[TokenTree], i: usize) -> bool {
    i >= 2 && is_path_sep(tokens, i - 2)
}

impl<'ast> Visit<'ast> for References<'_> {
    fn visit_item(&mut self, item: &'ast Item) {
        if !is_test_only(attrs_of(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_mod(&mut self, module: &'ast ItemMod) {
        // `mod child;` declares, it does not import.
        if let Some((_, items)) = &module.content {
            self.scope.push(module.ident.to_string());
            for item in items {
                self.visit_item(item);
            }
            self.scope.pop();
        }
    }

    fn visit_item_use(&mut self, item: &'ast ItemUse) {
        if item.leading_colon.is_none() {
            self.use_tree(&item.tree, &mut Vec::new());
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none()
            && let Some(first) = path.segments.first()
        {
            let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            self.record(&segments, first.ident.span(), false);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        self.visit_path(&mac.path);
        self.tokens(mac.tokens.clone());
    }

    fn visit_attribute(&mut self, _: &'ast Attribute) {}

    fn visit_vis_restricted(&mut self, _: &'ast VisRestricted) {}
}
