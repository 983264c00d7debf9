//! What the `*_floor` examples share: their command line and the median they report.

use std::path::PathBuf;

/// The arguments `<dir> <count> <x> <repeats>`; prints `usage` and exits with status 2 when
/// they are not four.
pub fn args(usage: &str) -> (PathBuf, usize, usize, usize) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, n, x, repeats] = &args[..] else {
        eprintln!("usage: {usage}");
        std::process::exit(2);
    };
    let number = |s: &str| s.parse::<usize>().expect("a number");
    (PathBuf::from(dir), number(n), number(x), number(repeats))
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}
