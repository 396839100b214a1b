//! CPU time per thread, for the bench's "no thread above 25 % of the process" check.
//!
//! Every thread the pipeline spawns calls [`finish_thread`] as its last act; that
//! records the thread's name and its CPU time so far (`CLOCK_THREAD_CPUTIME_ID`:
//! user plus system time of this thread alone) in one process-wide list. A thread's
//! CPU clock dies with it, so it must be read by the thread itself before it ends;
//! nothing here samples other threads. [`report`] returns the list plus the calling
//! thread's own CPU time, which is how the main thread gets in.
//!
//! Entries are never merged: `tlstap-flow-0` and `tlstap-flow-1` stay two rows (the
//! 25 % target is per thread), and a thread calling [`finish_thread`] twice keeps only
//! its latest figure. The list holds one small entry per thread that ever finished;
//! the pipeline spawns a fixed number per run, so it needs no bound.

use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::Duration;

/// (thread, its name, its CPU time when it last called [`finish_thread`]).
static FINISHED: Mutex<Vec<(ThreadId, String, Duration)>> = Mutex::new(Vec::new());

/// Name a thread was given, `main` for the main thread. An unnamed spawned thread is
/// `unnamed`, so it can never pass for the main thread in a report.
fn current_name() -> String {
    let t = std::thread::current();
    match t.name() {
        Some(n) => n.to_string(),
        None => "unnamed".to_string(),
    }
}

/// CPU time (user + system) the calling thread has used; zero if the clock is not
/// available (never on Linux).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the local we pass.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if r != 0 {
        return Duration::ZERO;
    }
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}

/// Records the calling thread's name and CPU time. Call it last thing before the
/// thread returns; a second call replaces the first one's figure.
pub fn finish_thread() {
    let id = std::thread::current().id();
    let entry = (id, current_name(), thread_cpu());
    // A poisoned list still holds valid entries: a panic elsewhere must not lose them.
    let mut list = FINISHED.lock().unwrap_or_else(|e| e.into_inner());
    match list.iter_mut().find(|(t, _, _)| *t == id) {
        Some(slot) => *slot = entry,
        None => list.push(entry),
    }
}

/// Every recorded thread, in the order they finished, then the calling thread with
/// its CPU time now (unless it recorded itself, when that entry is refreshed instead).
pub fn report() -> Vec<(String, Duration)> {
    let id = std::thread::current().id();
    let now = thread_cpu();
    let list = FINISHED.lock().unwrap_or_else(|e| e.into_inner());
    let mut out: Vec<(String, Duration)> = list
        .iter()
        .map(|(t, name, cpu)| (name.clone(), if *t == id { now } else { *cpu }))
        .collect();
    if !list.iter().any(|(t, _, _)| *t == id) {
        out.push((current_name(), now));
    }
    // Threads still running that never reported (a global pool's threads live as long
    // as the process): read from the kernel's per-task accounting.
    for (name, cpu) in live_tasks() {
        let known = out.iter().any(|(n, _)| n.starts_with(&name));
        if !known && !cpu.is_zero() {
            out.push((name, cpu));
        }
    }
    out
}

/// Name and CPU time (user + system) of every thread of this process but the calling
/// one, from `/proc/self/task/*/stat` (clock-tick resolution; empty where there is no
/// procfs). Names are the kernel's, cut to 15 bytes.
fn live_tasks() -> Vec<(String, Duration)> {
    // SAFETY: gettid and sysconf have no preconditions.
    let (me, ticks) = unsafe { (libc::gettid(), libc::sysconf(libc::_SC_CLK_TCK)) };
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let ticks = u64::try_from(ticks).unwrap_or(100).max(1);
    let mut out = Vec::new();
    for e in dir.flatten() {
        if e.file_name().to_str() == Some(&me.to_string()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat.get(open + 1..close).unwrap_or("").to_owned();
        let rest: Vec<&str> = stat
            .get(close + 1..)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        // Fields 14 and 15 (utime, stime) are the 12th and 13th after the comm.
        let field = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let t = field(11) + field(12);
        out.push((name, Duration::from_millis(t * 1000 / ticks)));
    }
    out
}

/// The report as TSV: a `thread\tcpu_ms` header, then one line per entry
/// (milliseconds with three decimals).
pub fn report_tsv() -> String {
    let mut s = String::from("thread\tcpu_ms\n");
    for (name, cpu) in report() {
        // Tabs or newlines in a thread name would break the table.
        let name: String = name
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        s.push_str(&format!("{name}\t{:.3}\n", cpu.as_secs_f64() * 1e3));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Spins until this thread has used `cpu` of CPU time (not wall time, so a busy
    /// machine only makes the test slower, never wrong).
    fn burn(cpu: Duration) -> u64 {
        let mut x = 0u64;
        let start = thread_cpu();
        while thread_cpu() - start < cpu {
            for i in 0..10_000u64 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
            }
        }
        x
    }

    fn spawn(name: &str, cpu: Duration) -> std::thread::JoinHandle<u64> {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let x = burn(cpu);
                finish_thread();
                x
            })
            .expect("spawn")
    }

    #[test]
    fn two_threads_burning_different_amounts_are_ordered() {
        // Names with the same prefix and a trailing number: kept apart, not merged.
        let light = spawn("threadcpu-test-1", Duration::from_millis(30));
        let heavy = spawn("threadcpu-test-2", Duration::from_millis(150));
        light.join().expect("light thread");
        heavy.join().expect("heavy thread");
        let r = report();
        let cpu_of = |n: &str| {
            let hits: Vec<Duration> = r.iter().filter(|(k, _)| k == n).map(|e| e.1).collect();
            assert_eq!(hits.len(), 1, "{n} recorded once: {r:?}");
            hits[0]
        };
        let (l, h) = (cpu_of("threadcpu-test-1"), cpu_of("threadcpu-test-2"));
        assert!(l >= Duration::from_millis(30), "light {l:?}");
        assert!(h >= Duration::from_millis(150), "heavy {h:?}");
        assert!(h > l, "heavy {h:?} > light {l:?}");
        // The calling (test) thread is in the report too, with its CPU so far.
        let me = current_name();
        assert!(r.iter().any(|(k, _)| *k == me), "{me} in {r:?}");
    }

    #[test]
    fn a_second_call_replaces_the_first() {
        let t = std::thread::Builder::new()
            .name("threadcpu-twice".into())
            .spawn(|| {
                finish_thread();
                let x = burn(Duration::from_millis(20));
                finish_thread();
                x
            })
            .expect("spawn");
        t.join().expect("thread");
        let r = report();
        let hits: Vec<_> = r.iter().filter(|(k, _)| k == "threadcpu-twice").collect();
        assert_eq!(hits.len(), 1, "{r:?}");
        assert!(hits[0].1 >= Duration::from_millis(20), "{r:?}");
    }

    #[test]
    fn thread_cpu_is_cpu_not_wall_time() {
        let (wall, cpu) = (Instant::now(), thread_cpu());
        std::thread::sleep(Duration::from_millis(50));
        assert!(thread_cpu() - cpu < wall.elapsed());
    }

    #[test]
    fn tsv_has_a_header_and_one_line_per_entry() {
        let tsv = report_tsv();
        let mut lines = tsv.lines();
        assert_eq!(lines.next(), Some("thread\tcpu_ms"));
        for l in lines {
            let (name, ms) = l.split_once('\t').expect("two columns");
            assert!(!name.is_empty());
            assert!(ms.parse::<f64>().is_ok(), "{l}");
        }
    }
}
