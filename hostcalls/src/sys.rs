//! What this crate asks of the OS beyond `std::fs`, all through files Linux provides (no
//! `unsafe`, no libc): CPU clocks from `/proc` and randomness from `/dev/urandom`.

use std::fs::File;
use std::io::{self, Read};

/// Clock ticks per second of `/proc/<pid>/stat` times: `sysconf(_SC_CLK_TCK)`, which is 100 on
/// every Linux architecture we run on (reading it needs libc).
const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// Nanoseconds per tick of `/proc/self/stat`: the resolution of both CPU clocks (a scheduler
/// tick is at most this long for `HZ >= 100`).
pub(crate) const CPUTIME_RESOLUTION_NS: u64 = 1_000_000_000 / CLOCK_TICKS_PER_SECOND;

/// CPU time of the calling thread, in ns (first field of `/proc/thread-self/schedstat`). The
/// kernel brings it up to date at scheduler ticks and context switches, so it moves in steps of
/// up to [`CPUTIME_RESOLUTION_NS`].
pub(crate) fn thread_cputime_ns() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    text.split_whitespace()
        .next()
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| io::Error::other("unexpected /proc/thread-self/schedstat"))
}

/// CPU time of the whole process (user + system, live and exited threads), in ns, at
/// [`CPUTIME_RESOLUTION_NS`] resolution.
pub(crate) fn process_cputime_ns() -> io::Result<u64> {
    let text = std::fs::read_to_string("/proc/self/stat")?;
    parse_stat_cputime_ticks(&text)
        .map(|ticks| ticks.saturating_mul(CPUTIME_RESOLUTION_NS))
        .ok_or_else(|| io::Error::other("unexpected /proc/self/stat"))
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its last `)`.
fn parse_stat_cputime_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

/// Fills `buf` from the kernel's CSPRNG.
pub(crate) fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_read_after_the_command_name() {
        let line = "42 (a b) c)) S 1 2 3 4 5 6 7 8 9 10 17 25 0 0 20 0";
        assert_eq!(parse_stat_cputime_ticks(line), Some(42));
        assert_eq!(parse_stat_cputime_ticks("garbage"), None);
    }

    #[test]
    fn cpu_clocks_and_random_work_here() {
        // The kernel accounts a running thread's time at scheduler ticks: spin past a few.
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(60) {
            std::hint::black_box(started.elapsed());
        }
        assert!(thread_cputime_ns().unwrap() > 0);
        assert!(process_cputime_ns().is_ok());
        let mut buf = [0u8; 64];
        fill_random(&mut buf).unwrap();
        assert!(buf.iter().any(|&b| b != 0));
    }
}
