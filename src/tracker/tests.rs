//! The tracker on synthetic people: steady walks, crossings, occlusion, gaps, low scores,
//! re-entry after the timeout, and IDs never reused.

use super::*;

const MS: u64 = 1_000_000;

/// A standing person: box centred on (cx, cy), w x h, with 17 keypoints laid out inside it.
fn person(cx: f32, cy: f32, w: f32, h: f32, score: f32) -> Person {
    // Fractions of the box (x, y) of a COCO pose, facing the camera.
    const LAYOUT: [(f32, f32); 17] = [
        (0.50, 0.08), (0.46, 0.06), (0.54, 0.06), (0.42, 0.08), (0.58, 0.08), (0.35, 0.22), (0.65, 0.22), (0.28, 0.40),
        (0.72, 0.40), (0.25, 0.55), (0.75, 0.55), (0.40, 0.55), (0.60, 0.55), (0.40, 0.75), (0.60, 0.75), (0.40, 0.95),
        (0.60, 0.95),
    ];
    let (x1, y1) = (cx - w / 2.0, cy - h / 2.0);
    Person {
        bbox: [x1, y1, x1 + w, y1 + h],
        score,
        keypoints: LAYOUT.iter().map(|(fx, fy)| [x1 + fx * w, y1 + fy * h, 0.9]).collect(),
        track_id: 0,
    }
}

fn ids(people: &[Person]) -> Vec<u64> {
    people.iter().map(|p| p.track_id).collect()
}

#[test]
fn people_walking_keep_their_ids() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut first = Vec::new();
    for frame in 0..60u64 {
        let t = frame * 33 * MS;
        let x = frame as f32 * 4.0;
        let mut people = vec![person(100.0 + x, 300.0, 80.0, 200.0, 0.9), person(600.0 - x, 320.0, 90.0, 220.0, 0.8)];
        tracker.update(t, &mut people);
        if frame == 0 {
            first = ids(&people);
            assert_eq!(first, vec![1, 2]);
        }
        assert_eq!(ids(&people), first, "frame {frame}");
    }
}

#[test]
fn two_people_crossing_keep_their_ids() {
    // Walking towards each other at 150 px/s along the same line; they pass through each
    // other around frame 30, where their boxes overlap almost entirely.
    let mut tracker = Tracker::new(TrackerConfig::default());
    for frame in 0..60u64 {
        let t = frame * 33 * MS;
        let d = frame as f32 * 5.0;
        let mut people = vec![person(200.0 + d, 300.0, 80.0, 200.0, 0.9), person(500.0 - d, 300.0, 80.0, 200.0, 0.9)];
        tracker.update(t, &mut people);
        assert_eq!(ids(&people), vec![1, 2], "frame {frame}: the one walking right is still 1");
    }
}

#[test]
fn an_occluded_person_comes_back_with_the_same_id() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    for frame in 0..50u64 {
        let t = frame * 33 * MS;
        let walker = person(100.0 + frame as f32 * 3.0, 300.0, 80.0, 200.0, 0.9);
        let mut people = vec![person(700.0, 300.0, 80.0, 200.0, 0.9)];
        // Hidden for 15 frames (half a second) behind something.
        if !(20..35).contains(&frame) {
            people.push(walker);
        }
        tracker.update(t, &mut people);
        assert_eq!(people[0].track_id, 1);
        if people.len() == 2 {
            assert_eq!(people[1].track_id, 2, "frame {frame}");
        }
    }
}

#[test]
fn ids_hold_when_only_one_frame_in_four_arrives() {
    // 30 fps with drop-oldest keeping one frame in four: 133 ms gaps, 40 px moves.
    let mut tracker = Tracker::new(TrackerConfig::default());
    for frame in (0..120u64).step_by(4) {
        let t = frame * 33 * MS;
        let x = frame as f32 * 10.0;
        let mut people = vec![person(100.0 + x, 300.0, 80.0, 200.0, 0.9), person(120.0 + x, 600.0, 80.0, 200.0, 0.9)];
        tracker.update(t, &mut people);
        assert_eq!(ids(&people), vec![1, 2], "frame {frame}");
    }
}

/// A fast mover (a sprint, a jump) seen one frame in three: the body covers a third of its
/// width between the frames that arrive, and its limbs swing far further, so its keypoints
/// alone no longer say who it is; its box still does.
#[test]
fn a_fast_mover_with_swinging_limbs_keeps_its_id_through_gaps() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    for (n, frame) in (0..90u64).step_by(3).enumerate() {
        let t = frame * 33 * MS;
        // Speeding up and slowing down: 0 to 600 px/s, not the constant velocity the motion assumes.
        let x = 100.0 + 300.0 * (1.0 - (frame as f32 / 90.0 * std::f32::consts::PI).cos());
        let mut runner = person(x, 300.0, 90.0, 220.0, 0.9);
        // Arms and legs (keypoints 7..17) swing by up to 80 px from frame to frame.
        let swing = if n % 2 == 0 { 80.0 } else { -80.0 };
        for k in &mut runner.keypoints[7..] {
            k[0] += swing;
            k[1] += swing / 2.0;
        }
        let mut people = vec![runner, person(800.0, 300.0, 90.0, 220.0, 0.9)];
        tracker.update(t, &mut people);
        assert_eq!(ids(&people), vec![1, 2], "frame {frame}");
    }
}

#[test]
fn a_low_score_person_continues_a_track_but_starts_none() {
    let mut tracker = Tracker::new(TrackerConfig::default());
    let mut people = vec![person(100.0, 300.0, 80.0, 200.0, 0.9)];
    tracker.update(0, &mut people);
    // Half turned away: a low score, where the track expects the person.
    let mut people = vec![person(102.0, 300.0, 80.0, 200.0, 0.3), person(600.0, 300.0, 80.0, 200.0, 0.3)];
    tracker.update(33 * MS, &mut people);
    assert_eq!(ids(&people), vec![1, 0], "the low-score stranger gets no ID");
}

#[test]
fn after_the_timeout_a_returning_person_is_someone_new_and_ids_are_never_reused() {
    let mut tracker = Tracker::new(TrackerConfig { timeout: 500 * MS, ..TrackerConfig::default() });
    let mut people = vec![person(100.0, 300.0, 80.0, 200.0, 0.9)];
    tracker.update(0, &mut people);
    let mut people = vec![person(100.0, 300.0, 80.0, 200.0, 0.9)];
    tracker.update(400 * MS, &mut people);
    assert_eq!(ids(&people), vec![1], "within the timeout");
    let mut people = vec![person(100.0, 300.0, 80.0, 200.0, 0.9)];
    tracker.update(1_000 * MS, &mut people);
    assert_eq!(ids(&people), vec![2], "600 ms unseen: a new track");
    tracker.reset();
    let mut people = vec![person(100.0, 300.0, 80.0, 200.0, 0.9)];
    tracker.update(1_033 * MS, &mut people);
    assert_eq!(ids(&people), vec![3], "a reset forgets tracks, not the IDs given");
}
