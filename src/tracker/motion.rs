//! A person's box in motion: an alpha-beta filter (constant velocity) on the box centre and
//! size. Chosen over a Kalman filter because frames reach the tracker at uneven intervals
//! (drop-oldest, pauses, batches) and an alpha-beta filter takes any interval as it comes
//! with two fixed gains; with the noise levels of a pose detector (a few pixels) a Kalman
//! filter's adaptive gains would settle to about these anyway.

/// Seconds between two times in ns.
fn seconds(from: u64, to: u64) -> f32 {
    to.saturating_sub(from) as f32 / 1e9
}

/// Weight of a new measurement in the position, and of the implied velocity change.
const ALPHA: f32 = 0.75;
const BETA: f32 = 0.25;

/// Box centre x, y and width, height, with their velocities (pixels per second).
#[derive(Clone, Debug, PartialEq)]
pub struct BoxMotion {
    state: [f32; 4],
    velocity: [f32; 4],
    time: u64,
}

fn to_state(b: &[f32; 4]) -> [f32; 4] {
    [(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0, b[2] - b[0], b[3] - b[1]]
}

fn to_box(s: &[f32; 4]) -> [f32; 4] {
    let (w, h) = (s[2].max(1.0), s[3].max(1.0));
    [s[0] - w / 2.0, s[1] - h / 2.0, s[0] + w / 2.0, s[1] + h / 2.0]
}

impl BoxMotion {
    /// A box first seen at `time`, not moving yet.
    pub fn new(bbox: &[f32; 4], time: u64) -> BoxMotion {
        BoxMotion { state: to_state(bbox), velocity: [0.0; 4], time }
    }

    /// Where the box is expected at `time`.
    pub fn predict(&self, time: u64) -> [f32; 4] {
        let dt = seconds(self.time, time);
        to_box(&std::array::from_fn(|i| self.state[i] + self.velocity[i] * dt))
    }

    /// The centre's expected move from the last measurement to `time` (x, y).
    pub fn shift(&self, time: u64) -> [f32; 2] {
        let dt = seconds(self.time, time);
        [self.velocity[0] * dt, self.velocity[1] * dt]
    }

    /// The box was measured at `time`.
    pub fn update(&mut self, bbox: &[f32; 4], time: u64) {
        let dt = seconds(self.time, time);
        let measured = to_state(bbox);
        for ((state, velocity), measured) in self.state.iter_mut().zip(&mut self.velocity).zip(measured) {
            let predicted = *state + *velocity * dt;
            let residual = measured - predicted;
            *state = predicted + ALPHA * residual;
            if dt > 0.0 {
                *velocity += BETA * residual / dt;
            }
        }
        self.time = self.time.max(time);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn learns_a_steady_walk_and_predicts_it_across_a_gap() {
        // 120 px/s to the right, measured at 30 fps with uneven gaps.
        let at = |t: u64| {
            let x = 100.0 + 120.0 * t as f32 / S as f32;
            [x, 200.0, x + 80.0, 400.0]
        };
        let mut m = BoxMotion::new(&at(0), 0);
        let mut t = 0;
        for step in [1, 1, 3, 1, 2, 4, 1, 1, 2, 1, 1, 1, 2, 1] {
            t += step * S / 30;
            m.update(&at(t), t);
        }
        let later = t + S / 2; // half a second without a measurement
        let (p, truth) = (m.predict(later), at(later));
        assert!((p[0] - truth[0]).abs() < 6.0, "predicted {p:?}, truth {truth:?}");
        assert!((m.shift(later)[0] - 60.0).abs() < 6.0);
    }

    #[test]
    fn a_still_box_stays_put() {
        let b = [10.0, 20.0, 50.0, 120.0];
        let mut m = BoxMotion::new(&b, 0);
        for i in 1..10 {
            m.update(&b, i * S / 30);
        }
        assert_eq!(m.predict(5 * S), b);
    }
}
