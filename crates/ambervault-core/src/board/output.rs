//! Captured stdout/stderr: collapsed (a progress bar redrawn with '\r' keeps its last state),
//! stderr lines marked, appended to the run's `logs/output.log`.

use super::layout;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Output text on its way to `logs/output.log`: partial lines wait per (writer, stream) for their
/// newline.
pub struct Output {
    path: PathBuf,
    pending: HashMap<(usize, bool), String>,
}

impl Output {
    pub fn new(run_dir: &Path) -> Self {
        Output {
            path: layout::output_path(run_dir),
            pending: HashMap::new(),
        }
    }

    /// Collapse `text` (from `writer`'s stdout or stderr) into `out`, keeping a partial last line.
    pub fn add(&mut self, writer: usize, stderr: bool, text: &str, out: &mut String) {
        let pending = self.pending.entry((writer, stderr)).or_default();
        collapse_output(pending, text, stderr, out);
    }

    /// Append collapsed text to the file (nothing to do for an empty burst).
    pub fn append(&self, text: &str) -> Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::from(e).context(self.path.display()))?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::from(e).context(self.path.display()))
    }

    /// Write out partial lines (a progress bar without its final newline) at the end.
    pub fn finish(&mut self) -> Result<()> {
        let mut out = String::new();
        for ((_, stderr), line) in self.pending.drain() {
            if !line.is_empty() {
                if stderr {
                    out.push_str("[stderr] ");
                }
                out.push_str(&line);
                out.push('\n');
            }
        }
        self.append(&out)
    }
}

/// Append `text` to the output, keeping only the last state of carriage-return-updated lines
/// (progress bars) and marking stderr lines. `pending` carries the unfinished last line.
pub fn collapse_output(pending: &mut String, text: &str, stderr: bool, out: &mut String) {
    for (i, part) in text.split('\n').enumerate() {
        if i > 0 {
            let line = std::mem::take(pending);
            let line = line.strip_suffix('\r').unwrap_or(&line);
            if stderr {
                out.push_str("[stderr] ");
            }
            out.push_str(line);
            out.push('\n');
        }
        // A '\r' restarts the line: keep only what follows the last one (a trailing '\r' may
        // still be the first half of "\r\n", so it takes effect when more text arrives).
        let mut s = part;
        if !s.is_empty() && pending.ends_with('\r') {
            pending.clear();
        }
        if let Some(p) = s.strip_suffix('\r').unwrap_or(s).rfind('\r') {
            pending.clear();
            s = &s[p + 1..];
        }
        pending.push_str(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bars_collapse_and_stderr_is_marked() {
        let mut pending = String::new();
        let mut out = String::new();
        collapse_output(&mut pending, "epoch 1\n 10%\r 50%", false, &mut out);
        collapse_output(&mut pending, "\r100%\ndone\r\n", false, &mut out);
        assert_eq!(out, "epoch 1\n100%\ndone\n");
        let mut out = String::new();
        collapse_output(&mut String::new(), "oops\n", true, &mut out);
        assert_eq!(out, "[stderr] oops\n");
    }
}
