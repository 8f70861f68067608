//! GPU-memory guard policy: which stream to pause when the card fills up, and which to
//! resume when it empties. Pure: readings come in, one action at a time goes out.
//!
//! Above `limit` (fraction of total), the lowest-priority active stream is paused; under
//! `resume`, the stream paused last is resumed first. Between the two (the hysteresis
//! band) nothing happens, so a reading that wobbles around one threshold cannot make a
//! stream flap. One action per step: the caller re-reads memory before the next.

/// One reading of a GPU's memory, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryReading {
    pub used: u64,
    pub total: u64,
    /// This process's use, when the driver tells.
    pub process_used: Option<u64>,
}

impl MemoryReading {
    pub fn fraction(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.used as f64 / self.total as f64 }
    }
}

/// Something that can read GPU memory: NVML on a real card, a script in tests.
pub trait MemoryMonitor: Send {
    fn read(&mut self) -> Result<MemoryReading, String>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardAction {
    Pause(u32),
    Resume(u32),
}

/// The streams the guard has paused, in the order it paused them.
#[derive(Debug, Default)]
pub struct MemoryGuard {
    paused: Vec<u32>,
}

impl MemoryGuard {
    /// Decides at most one action. `active` lists the running streams (not paused by
    /// anyone) with their priorities. `limit <= 0` turns the guard off: it gives back the
    /// streams it holds.
    pub fn step(&mut self, reading: &MemoryReading, limit: f64, resume: f64, active: &[(u32, i32)]) -> Option<GuardAction> {
        let fraction = reading.fraction();
        if limit > 0.0 && fraction > limit {
            // Lowest priority first; among equals the most recently added stream.
            let (stream, _) = active.iter().min_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))?;
            self.paused.push(*stream);
            return Some(GuardAction::Pause(*stream));
        }
        if limit <= 0.0 || fraction < resume.min(limit) {
            return self.paused.pop().map(GuardAction::Resume);
        }
        None
    }

    /// The stream is no longer the guard's to resume (released, or resumed by the user).
    pub fn forget(&mut self, stream: u32) {
        self.paused.retain(|&s| s != stream);
    }

    pub fn holds(&self, stream: u32) -> bool {
        self.paused.contains(&stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(fraction: f64) -> MemoryReading {
        MemoryReading { used: (fraction * 1000.0) as u64, total: 1000, process_used: None }
    }

    #[test]
    fn pauses_lowest_priority_first_and_resumes_in_reverse() {
        let mut guard = MemoryGuard::default();
        let mut active = vec![(0, 5), (1, 0), (2, 9), (3, 0)];
        let mut actions = Vec::new();
        for f in [0.5, 0.95, 0.95, 0.85, 0.85, 0.7, 0.7, 0.7] {
            if let Some(a) = guard.step(&reading(f), 0.9, 0.8, &active) {
                match a {
                    GuardAction::Pause(s) => active.retain(|x| x.0 != s),
                    GuardAction::Resume(s) => active.push((s, 0)),
                }
                actions.push(a);
            }
        }
        use GuardAction::*;
        assert_eq!(actions, vec![Pause(3), Pause(1), Resume(1), Resume(3)]);
    }

    #[test]
    fn no_flapping_inside_the_band() {
        let mut guard = MemoryGuard::default();
        let active = [(0, 0), (1, 0)];
        assert_eq!(guard.step(&reading(0.91), 0.9, 0.8, &active), Some(GuardAction::Pause(1)));
        for f in [0.89, 0.81, 0.85, 0.8, 0.88] {
            assert_eq!(guard.step(&reading(f), 0.9, 0.8, &active[..1]), None, "at {f}");
        }
        assert_eq!(guard.step(&reading(0.79), 0.9, 0.8, &active[..1]), Some(GuardAction::Resume(1)));
    }

    #[test]
    fn turning_the_guard_off_gives_streams_back() {
        let mut guard = MemoryGuard::default();
        assert_eq!(guard.step(&reading(0.99), 0.9, 0.8, &[(4, 0)]), Some(GuardAction::Pause(4)));
        assert_eq!(guard.step(&reading(0.99), 0.0, 0.8, &[]), Some(GuardAction::Resume(4)));
        assert_eq!(guard.step(&reading(0.99), 0.0, 0.8, &[(4, 0)]), None);
    }
}
