//! Copy-on-write string editing: the output is only allocated once the
//! first replacement is made, so clean input comes back borrowed.

use std::borrow::Cow;

/// Replaces byte ranges of `src`, in increasing order, with new text.
pub(crate) struct Splice<'a> {
    src: &'a str,
    out: Option<String>,
    copied: usize,
}

impl<'a> Splice<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self {
            src,
            out: None,
            copied: 0,
        }
    }

    /// Replaces `start..end` with `with`. Ranges must not go backwards;
    /// one that does is clamped rather than duplicating text.
    pub(crate) fn replace(&mut self, start: usize, end: usize, with: &str) {
        let start = start.max(self.copied);
        let out = self
            .out
            .get_or_insert_with(|| String::with_capacity(self.src.len() + 16));
        out.push_str(self.src.get(self.copied..start).unwrap_or_default());
        out.push_str(with);
        self.copied = end.max(start);
    }

    /// The edited text, borrowed when nothing was replaced.
    pub(crate) fn finish(self) -> Cow<'a, str> {
        match self.out {
            None => Cow::Borrowed(self.src),
            Some(mut out) => {
                out.push_str(self.src.get(self.copied..).unwrap_or_default());
                Cow::Owned(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrowed_without_replacements() {
        assert!(matches!(Splice::new("abc").finish(), Cow::Borrowed("abc")));
    }

    #[test]
    fn replaces_in_order() {
        let mut s = Splice::new("a secret and another secret");
        s.replace(2, 8, "[X]");
        s.replace(21, 27, "[Y]");
        assert_eq!(s.finish(), "a [X] and another [Y]");
    }
}
