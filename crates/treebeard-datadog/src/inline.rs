//! The storage behind a span's fields: room inline for a usual span, the
//! heap only for what does not fit. A span's record moves (into the
//! registry, the trace, the export queue) but is allocated for by nobody
//! else, and it is dropped on the exporter thread: each heap buffer it
//! owned was a malloc on a request thread and a free on another.

use std::fmt;

/// Bytes of text values kept inline: a request span's method, route, URL,
/// user agent, client IP, status and request ID fit.
pub(crate) const TEXT_INLINE: usize = 256;

/// Tags kept inline: a request span has up to nine.
pub(crate) const TAGS_INLINE: usize = 12;

/// Where a value sits in [`Text`]: offsets below [`TEXT_INLINE`] are in
/// the inline bytes, the rest in the heap part, [`TEXT_INLINE`] on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    start: u32,
    end: u32,
}

/// Text values back to back: inline while they fit, then on the heap.
/// A value is never split: one that does not fit inline goes whole to
/// the heap part.
#[derive(Debug, Clone)]
pub(crate) struct Text {
    inline: [u8; TEXT_INLINE],
    /// Bytes of `inline` in use.
    len: u16,
    heap: String,
}

impl Default for Text {
    fn default() -> Self {
        Self {
            inline: [0; TEXT_INLINE],
            len: 0,
            heap: String::new(),
        }
    }
}

impl Text {
    /// Appends `value`. A value that would not fit the u32 offsets is
    /// dropped: no span field is 4 GiB.
    pub(crate) fn push(&mut self, value: &str) -> Option<Slot> {
        let start = usize::from(self.len);
        let end = start + value.len();
        if let Some(room) = self.inline.get_mut(start..end) {
            room.copy_from_slice(value.as_bytes());
            self.len = end as u16; // end <= TEXT_INLINE
            return Some(Slot {
                start: start as u32,
                end: end as u32,
            });
        }
        self.push_heap(value)
    }

    fn push_heap(&mut self, value: &str) -> Option<Slot> {
        let start = u32::try_from(TEXT_INLINE + self.heap.len()).ok()?;
        let end = start.checked_add(u32::try_from(value.len()).ok()?)?;
        self.heap.push_str(value);
        Some(Slot { start, end })
    }

    /// Appends `value` formatted, without a `String` of its own when it
    /// fits inline.
    pub(crate) fn push_fmt(&mut self, value: fmt::Arguments<'_>) -> Option<Slot> {
        let mut writer = Writer {
            start: usize::from(self.len),
            heap_start: None,
            text: self,
        };
        // A failing `Debug` impl leaves what it wrote, as `format!` would
        // have too (up to the error).
        let _ = fmt::write(&mut writer, value);
        let Writer {
            start,
            heap_start,
            text,
        } = writer;
        match heap_start {
            None => Some(Slot {
                start: start as u32,
                end: u32::from(text.len),
            }),
            Some(heap_start) => Some(Slot {
                start: u32::try_from(TEXT_INLINE + heap_start).ok()?,
                end: u32::try_from(TEXT_INLINE + text.heap.len()).ok()?,
            }),
        }
    }

    /// The bytes of the value at `slot` (always UTF-8: only `str`s are
    /// written).
    pub(crate) fn bytes(&self, slot: Slot) -> &[u8] {
        let (start, end) = (slot.start as usize, slot.end as usize);
        let bytes = if end <= TEXT_INLINE {
            self.inline.get(start..end)
        } else {
            let heap = start
                .checked_sub(TEXT_INLINE)
                .zip(end.checked_sub(TEXT_INLINE));
            heap.and_then(|(start, end)| self.heap.as_bytes().get(start..end))
        };
        bytes.unwrap_or_default()
    }

    /// The value at `slot` as a `str`, for the few readers that need one
    /// (the sampler's rules); the encoder takes [`Self::bytes`].
    pub(crate) fn str(&self, slot: Slot) -> &str {
        std::str::from_utf8(self.bytes(slot)).unwrap_or_default()
    }
}

/// Formats one value into a [`Text`]: inline while it fits, else moved
/// whole to the heap part.
struct Writer<'a> {
    /// Where the value starts inline.
    start: usize,
    /// Where it starts in the heap part, once moved there.
    heap_start: Option<usize>,
    text: &'a mut Text,
}

impl fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.heap_start.is_none() {
            let len = usize::from(self.text.len);
            if let Some(room) = self.text.inline.get_mut(len..len + s.len()) {
                room.copy_from_slice(s.as_bytes());
                self.text.len = (len + s.len()) as u16; // <= TEXT_INLINE
                return Ok(());
            }
            // Too long: what was written of it moves to the heap part.
            let heap_start = self.text.heap.len();
            let written = self.text.inline.get(self.start..len).unwrap_or_default();
            self.text
                .heap
                .push_str(std::str::from_utf8(written).unwrap_or_default());
            self.text.len = self.start as u16;
            self.heap_start = Some(heap_start);
        }
        self.text.heap.push_str(s);
        Ok(())
    }
}

/// A tag: its field's name and where its value is.
pub(crate) type Tag = (&'static str, Slot);

/// Tags in the order they were first recorded: inline while they fit,
/// then on the heap.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tags {
    inline: [Tag; TAGS_INLINE],
    /// Entries of `inline` in use.
    len: u8,
    heap: Vec<Tag>,
}

impl Tags {
    pub(crate) fn push(&mut self, tag: Tag) {
        match self.inline.get_mut(usize::from(self.len)) {
            Some(room) => {
                *room = tag;
                self.len += 1;
            }
            None => self.heap.push(tag),
        }
    }

    pub(crate) fn len(&self) -> usize {
        usize::from(self.len) + self.heap.len()
    }

    /// The tag at `index`, in recording order.
    pub(crate) fn get(&self, index: usize) -> Option<&Tag> {
        match index.checked_sub(TAGS_INLINE) {
            None => self.inline.get(..usize::from(self.len))?.get(index),
            Some(index) => self.heap.get(index),
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Tag> {
        let inline = self.inline.get(..usize::from(self.len)).unwrap_or_default();
        inline.iter().chain(&self.heap)
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Tag> {
        let inline = self
            .inline
            .get_mut(..usize::from(self.len))
            .unwrap_or_default();
        inline.iter_mut().chain(&mut self.heap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_past_the_inline_room_go_whole_to_the_heap() {
        let mut text = Text::default();
        let a = text.push(&"a".repeat(200)).unwrap();
        let b = text.push(&"b".repeat(100)).unwrap();
        let c = text.push(&"c".repeat(56)).unwrap();
        let d = text.push("").unwrap();
        let e = text.push("e").unwrap();
        assert_eq!(text.str(a), "a".repeat(200));
        assert_eq!(text.str(b), "b".repeat(100));
        assert_eq!(text.str(c), "c".repeat(56));
        assert_eq!((text.str(d), text.str(e)), ("", "e"));
        assert_eq!(
            usize::from(text.len),
            TEXT_INLINE,
            "c filled the inline room"
        );
        assert_eq!(text.heap, format!("{}e", "b".repeat(100)));
    }

    #[test]
    fn a_formatted_value_that_outgrows_the_inline_room_moves_whole() {
        let mut text = Text::default();
        let a = text.push(&"a".repeat(250)).unwrap();
        let short = text.push_fmt(format_args!("{}", 1)).unwrap();
        let long = text.push_fmt(format_args!("{:?}", ["xy"; 3])).unwrap();
        let tiny = text.push_fmt(format_args!("{}{}", "!", 2)).unwrap();
        assert_eq!(text.str(a), "a".repeat(250));
        assert_eq!(text.str(short), "1");
        assert_eq!(text.str(long), r#"["xy", "xy", "xy"]"#);
        assert_eq!(text.str(tiny), "!2");
        assert_eq!(text.heap, r#"["xy", "xy", "xy"]"#);
        assert_eq!(usize::from(text.len), 253);
    }

    #[test]
    fn tags_keep_their_order_past_the_inline_room() {
        const NAMES: [&str; 15] = [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o",
        ];
        let mut tags = Tags::default();
        for name in NAMES {
            tags.push((name, Slot::default()));
        }
        let names: Vec<&str> = tags.iter().map(|(k, _)| *k).collect();
        assert_eq!(names, NAMES);
        assert_eq!(tags.len(), 15);
        assert_eq!(tags.get(11).map(|t| t.0), Some("l"));
        assert_eq!(tags.get(12).map(|t| t.0), Some("m"));
        assert_eq!(tags.get(15), None);
        assert_eq!(tags.iter_mut().count(), 15);
    }
}
