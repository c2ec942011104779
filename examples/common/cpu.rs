//! CPU time of processes, read from `/proc/PID/stat` (Linux).

#![allow(dead_code)] // each example uses the readers it needs

/// CPU seconds (user plus system) a process has used so far, and those of its children it has
/// waited for (a PostgreSQL server's exited backends).
pub fn cpu_seconds(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields = after_name(&stat);
    let ticks = |k: usize| fields.get(k).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // After the command name: state is field 0, utime 11, stime 12, cutime 13, cstime 14, in
    // ticks of 1/100 s.
    ((ticks(11) + ticks(12)) / 100.0, (ticks(13) + ticks(14)) / 100.0)
}

/// The fields of a `/proc/PID/stat` line after the command name (which may hold spaces).
fn after_name(stat: &str) -> Vec<&str> {
    stat.rsplit(')').next().unwrap_or("").split_whitespace().collect()
}

/// The processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
            // Field 2 after the name is the parent's id.
            after_name(&stat).get(1).and_then(|p| p.parse::<u32>().ok()) == Some(pid)
        })
        .collect()
}
