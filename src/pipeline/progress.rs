//! Progress display on a terminal: bytes read, packets, handshakes, rate and ETA.
//! Drawn by its own thread from the pipeline's atomic counters, so the capture
//! threads never wait for the terminal. Nothing is drawn when stderr is not a
//! terminal (pipes, CI) or when disabled with `--quiet`.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use indicatif::{HumanCount, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::LiveCounters;

/// Whether to show progress.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    enabled: bool,
}

impl Progress {
    /// Shown only if `wanted` and stderr is a terminal.
    pub fn new(wanted: bool) -> Self {
        Progress {
            enabled: wanted && std::io::stderr().is_terminal(),
        }
    }

    pub fn hidden() -> Self {
        Progress { enabled: false }
    }

    pub fn start(&self, total_bytes: u64, live: Arc<LiveCounters>) -> Ticker {
        if !self.enabled {
            return Ticker {
                done: None,
                handle: None,
            };
        }
        let bar = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let handle = std::thread::Builder::new()
            .name("tlstap-progress".into())
            .spawn(move || {
                while !d.load(Ordering::Relaxed) {
                    bar.set_position(live.bytes.load(Ordering::Relaxed));
                    bar.set_message(format!(
                        "{} packets, {} handshakes",
                        HumanCount(live.packets.load(Ordering::Relaxed)),
                        HumanCount(live.handshakes.load(Ordering::Relaxed)),
                    ));
                    std::thread::sleep(Duration::from_millis(200));
                }
                bar.finish_and_clear();
            })
            .ok();
        Ticker {
            done: Some(done),
            handle,
        }
    }
}

/// Running progress display; stop it with [`Ticker::finish`].
pub struct Ticker {
    done: Option<Arc<AtomicBool>>,
    handle: Option<JoinHandle<()>>,
}

impl Ticker {
    pub fn finish(mut self) {
        if let Some(d) = self.done.take() {
            d.store(true, Ordering::Relaxed);
        }
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
