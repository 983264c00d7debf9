//! How many column files the board writer may keep open. Each open SQLite file in WAL mode holds
//! three descriptors (database, WAL, shared memory), and a run may log 10,000 metrics, each its
//! own file: a budget too small makes every burst close and reopen files, one too large runs the
//! process out of descriptors (the training script needs some too).

/// Descriptors each open column file holds.
const PER_FILE: u64 = 3;
const MIN_FILES: usize = 16;
const MAX_FILES: usize = 8192;

/// Raise this process's soft descriptor limit to its hard limit (the soft default, often 1,024,
/// is a leftover of select(); the hard limit is what the system grants) and return how many
/// column files to keep open: three quarters of the descriptors, three per file.
pub fn open_file_budget() -> usize {
    budget_for(raise_nofile_limit())
}

fn budget_for(descriptors: u64) -> usize {
    let files = descriptors.saturating_mul(3) / 4 / PER_FILE;
    (files.min(MAX_FILES as u64) as usize).max(MIN_FILES)
}

#[cfg(unix)]
fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    #[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux and macOS, i64 on some BSDs
    let n = lim.rlim_cur as u64;
    n
}

#[cfg(not(unix))]
fn raise_nofile_limit() -> u64 {
    // Windows: the C runtime's default of 512 stdio handles does not bound Win32 handles;
    // 8,192 is the C runtime's maximum and a safe assumption.
    8192
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_three_quarters_of_the_descriptors_three_per_file_within_bounds() {
        assert_eq!(budget_for(1024), 256);
        assert_eq!(budget_for(20), MIN_FILES);
        assert_eq!(budget_for(1 << 20), MAX_FILES);
        assert_eq!(budget_for(u64::MAX), MAX_FILES);
        assert!(open_file_budget() >= MIN_FILES);
    }
}
