//! Samples of a server process from `/proc`: resident memory (`VmRSS` in `/proc/PID/status`) and CPU time
//! (`utime + stime` in `/proc/PID/stat`), and the tool's own CPU time from `getrusage`.

use std::fs;
use std::io;
use std::time::Duration;

/// One look at a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct ProcSample {
    pub(crate) rss_kib: u64,
    /// User plus system CPU time since the process started.
    pub(crate) cpu: Duration,
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`.
pub(crate) fn sample(pid: u32) -> io::Result<ProcSample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read /proc/{pid}/status: {e}")))?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| io::Error::new(e.kind(), format!("cannot read /proc/{pid}/stat: {e}")))?;
    let rss_kib = parse_vm_rss_kib(&status).ok_or_else(|| invalid(pid, "status has no VmRSS line"))?;
    let ticks = parse_cpu_ticks(&stat).ok_or_else(|| invalid(pid, "stat has no utime and stime fields"))?;
    Ok(ProcSample { rss_kib, cpu: ticks_to_duration(ticks) })
}

fn invalid(pid: u32, what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("/proc/{pid}/{what}"))
}

/// `VmRSS:    1234 kB` → 1234.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `utime + stime` in clock ticks. The command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the last `)`: state is field 3, utime field 14, stime field 15.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = if per_second > 0 { per_second as u64 } else { 100 };
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}

/// CPU time (user plus system) used so far by the calling thread.
pub(crate) fn thread_cpu() -> Duration {
    rusage_cpu(libc::RUSAGE_THREAD)
}

/// CPU time (user plus system) used so far by this whole process.
pub(crate) fn process_cpu() -> Duration {
    rusage_cpu(libc::RUSAGE_SELF)
}

fn rusage_cpu(who: libc::c_int) -> Duration {
    // SAFETY: getrusage writes only into the struct we own; an all-zero rusage is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return Duration::ZERO;
    }
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        assert_eq!(parse_vm_rss_kib("Name:\tx\nVmRSS:\t    2048 kB\nVmSwap: 0 kB\n"), Some(2048));
        let stat = "42 (odd (name) here) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 5 1000 200";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn samples_this_process() {
        let now = sample(std::process::id()).expect("own /proc entry");
        assert!(now.rss_kib > 0);
        assert!(process_cpu() >= thread_cpu());
    }
}
