//! Values from the network as they enter a diagnostic log: written with every control
//! character escaped, so that no request can forge a log line (`\n`) or send a terminal
//! escape sequence (`\x1b[…`) to whoever reads the log.

use std::fmt::{self, Display, Write};

/// Displays `T` with its control characters (C0, DEL, C1) escaped as `\n`, `\r`, `\t` or
/// `\u{…}`; everything else as it is (a value escaped twice reads the same).
///
/// ```
/// use ringbolt::escape::Escaped;
/// let path = "x\n2026-12-01T00:00:00Z ERROR forged\u{1b}[31m";
/// assert_eq!(
///     Escaped(path).to_string(),
///     "x\\n2026-12-01T00:00:00Z ERROR forged\\u{1b}[31m"
/// );
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Escaped<T>(pub T);

impl<T: Display> Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapingWriter(f), "{}", self.0)
    }
}

/// A writer that escapes what passes through it, as [`Escaped`] describes.
pub struct EscapingWriter<W>(pub W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find(needs_escape) {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().unwrap_or_default();
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            Escaped("plain /files/a b.txt").to_string(),
            "plain /files/a b.txt"
        );
        assert_eq!(Escaped("a\r\nb\tc\\").to_string(), "a\\r\\nb\\tc\\");
        let once = Escaped("a\nb").to_string();
        assert_eq!(Escaped(&once).to_string(), once);
        assert_eq!(
            Escaped("\u{1b}[31m\u{7f}\u{85}é").to_string(),
            "\\u{1b}[31m\\u{7f}\\u{85}é"
        );
        let p = std::path::Path::new("/m/x\n2026 ERROR");
        assert_eq!(Escaped(p.display()).to_string(), "/m/x\\n2026 ERROR");
    }
}
