//! Process limits: the open-files limit, raised at start-up so the connection limit is not cut short by it.

/// Raises the soft open-files limit to the hard limit; returns the soft limit now in force.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        limit = raised;
    }
    // rlim_t is u64 on 64-bit Linux but u32 on 32-bit ARM (armv7, glibc), so this is a conversion on one of them.
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(limit.rlim_cur))
}
