//! The One Euro filter (Casiez, Roussel and Vogel, CHI 2012) on one coordinate: a low-pass
//! filter whose cutoff rises with the signal's speed, so a still keypoint is held steady and
//! a moving one follows with little lag. Times are the frames' own (ns), so uneven intervals
//! (frames dropped, pauses) are taken as they come.

use std::f32::consts::PI;

/// The filter's settings (the element's `smoothing-*` properties).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneEuroParams {
    /// Cutoff at rest, Hz: lower holds a still point steadier, with more lag when it moves.
    pub min_cutoff: f32,
    /// How much the cutoff rises with speed, Hz per (box height per second): speed is
    /// measured in the person's own box heights, so the same setting suits a person near the
    /// camera and far from it, at any resolution.
    pub beta: f32,
    /// Cutoff of the speed estimate itself, Hz.
    pub d_cutoff: f32,
}

/// The weight of a new sample for a first-order low-pass at `cutoff` Hz after `dt` seconds.
fn smoothing_factor(cutoff: f32, dt: f32) -> f32 {
    let tau = 1.0 / (2.0 * PI * cutoff.max(1e-3));
    1.0 / (1.0 + tau / dt)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OneEuro {
    value: f32,
    speed: f32,
    time: u64,
}

impl OneEuro {
    /// A filter starting at `value`, measured at `time`.
    pub fn new(value: f32, time: u64) -> OneEuro {
        OneEuro { value, speed: 0.0, time }
    }

    /// The filtered value of `value` measured at `time`; `scale` (pixels, > 0) is what
    /// speed is measured in (the person's box height).
    pub fn filter(&mut self, value: f32, time: u64, scale: f32, params: &OneEuroParams) -> f32 {
        if time <= self.time {
            return self.value; // the same instant again (or time went back): nothing new
        }
        let dt = (time - self.time) as f32 / 1e9;
        let speed = (value - self.value) / dt;
        self.speed += smoothing_factor(params.d_cutoff, dt) * (speed - self.speed);
        let cutoff = params.min_cutoff + params.beta * self.speed.abs() / scale.max(1.0);
        self.value += smoothing_factor(cutoff, dt) * (value - self.value);
        self.time = time;
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: OneEuroParams = OneEuroParams { min_cutoff: 1.0, beta: 1.0, d_cutoff: 1.0 };
    const FRAME: u64 = 33_333_333;

    #[test]
    fn a_still_point_with_noise_is_held_steady() {
        let mut f = OneEuro::new(100.0, 0);
        let noise = [3.0, -2.0, 4.0, -3.0, 1.0, -4.0, 2.0, -1.0];
        let mut worst: f32 = 0.0;
        for i in 1..200u64 {
            let out = f.filter(100.0 + noise[i as usize % noise.len()], i * FRAME, 500.0, &PARAMS);
            if i > 30 {
                worst = worst.max((out - 100.0).abs());
            }
        }
        assert!(worst < 1.0, "noise of up to 4 px held within {worst} px");
    }

    #[test]
    fn a_moving_point_is_followed_with_a_lag_that_shrinks_with_beta() {
        let lag = |beta: f32| {
            let params = OneEuroParams { beta, ..PARAMS };
            let mut f = OneEuro::new(0.0, 0);
            let mut out = 0.0;
            for i in 1..60u64 {
                out = f.filter(300.0 * i as f32 / 30.0, i * FRAME, 500.0, &params); // 300 px/s
            }
            300.0 * 59.0 / 30.0 - out
        };
        let (slow, fast) = (lag(0.0), lag(20.0));
        assert!(fast < slow / 2.0 && fast > 0.0, "lag {fast} px with beta, {slow} px without");
    }

    #[test]
    fn uneven_intervals_are_taken_as_they_come() {
        // The same motion sampled at 30 fps and at a third of that reaches the same place.
        let run = |step: u64| {
            let mut f = OneEuro::new(0.0, 0);
            let mut out = 0.0;
            for i in (step..=90).step_by(step as usize) {
                out = f.filter(200.0, i * FRAME, 500.0, &PARAMS);
            }
            out
        };
        assert!((run(1) - run(3)).abs() < 2.0, "{} vs {}", run(1), run(3));
        let mut f = OneEuro::new(5.0, 10);
        assert_eq!(f.filter(50.0, 10, 500.0, &PARAMS), 5.0, "no time passed, nothing changes");
    }
}
