//! A thread that runs a job every `interval` until it is stopped (or dropped).

use std::sync::mpsc::{RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

pub struct Periodic {
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Periodic {
    /// Runs `tick` every `interval`; a tick returning false ends the thread.
    pub fn start(name: &str, interval: Duration, mut tick: impl FnMut() -> bool + Send + 'static) -> Periodic {
        let (stop, stopped) = channel::<()>();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    if !tick() {
                        break;
                    }
                }
            })
            .expect("spawning a thread");
        Periodic { stop: Some(stop), handle: Some(handle) }
    }
}

impl Drop for Periodic {
    /// Stops the thread and waits for its current tick to end.
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
