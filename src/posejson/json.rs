//! The JSON line of one frame, as the README's "posejson" section documents it.

use std::fmt::Write;

use crate::meta::PoseMeta;

/// Writes a float compactly; JSON has no NaN or infinity, so those become null.
fn number(out: &mut String, v: f32) {
    if v.is_finite() {
        let rounded = (v * 1000.0).round() / 1000.0;
        let _ = write!(out, "{rounded}");
    } else {
        out.push_str("null");
    }
}

/// `{"stream":0,"pts":123,"width":1088,"height":1920,"poses":[{"id":7,"box":[..],"score":..,"keypoints":[[x,y,c],..]}]}`
/// `pts` is null for a buffer without a timestamp, `id` for a person without a track ID;
/// `"smoothed":true` (before `poses`) when the keypoints and boxes are smoothed. A
/// frame without PoseMeta (it went on without inference) has `"poses":null`, not `[]`
/// (inferred, nobody there), and the size from its caps.
pub fn frame_line(meta: Option<&PoseMeta>, stream: u32, pts: Option<u64>, width: i32, height: i32) -> String {
    let mut out = String::with_capacity(256);
    let stream = meta.map_or(stream, |m| m.stream_index);
    let (width, height) = meta.map_or((width, height), |m| (m.width, m.height));
    let _ = write!(out, "{{\"stream\":{stream},\"pts\":");
    match pts {
        Some(pts) => {
            let _ = write!(out, "{pts}");
        }
        None => out.push_str("null"),
    }
    let _ = write!(out, ",\"width\":{width},\"height\":{height},");
    let Some(meta) = meta else {
        out.push_str("\"poses\":null}\n");
        return out;
    };
    if meta.raw_keypoints.is_some() {
        out.push_str("\"smoothed\":true,");
    }
    out.push_str("\"poses\":[");
    for (i, person) in meta.people.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if person.track_id > 0 {
            let _ = write!(out, "{{\"id\":{},\"box\":[", person.track_id);
        } else {
            out.push_str("{\"id\":null,\"box\":[");
        }
        for (j, v) in person.bbox.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            number(&mut out, *v);
        }
        out.push_str("],\"score\":");
        number(&mut out, person.score);
        out.push_str(",\"keypoints\":[");
        for (j, kp) in person.keypoints.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push('[');
            number(&mut out, kp[0]);
            out.push(',');
            number(&mut out, kp[1]);
            out.push(',');
            number(&mut out, kp[2]);
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push_str("]}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::Person;

    #[test]
    fn line_has_the_documented_shape() {
        let meta = PoseMeta {
            stream_index: 1,
            width: 1088,
            height: 1920,
            num_keypoints: 2,
            people: vec![
                Person { bbox: [1.0, 2.5, 3.0, 4.0], score: 0.91, keypoints: vec![[5.0, 6.0, 0.5], [7.0, f32::NAN, 0.25]], track_id: 7 },
                Person { bbox: [0.0; 4], score: 0.3, keypoints: vec![], track_id: 0 },
            ],
            ..Default::default()
        };
        let line = frame_line(Some(&meta), 0, Some(123), 0, 0);
        assert_eq!(
            line,
            "{\"stream\":1,\"pts\":123,\"width\":1088,\"height\":1920,\"poses\":[{\"id\":7,\"box\":[1,2.5,3,4],\"score\":0.91,\"keypoints\":[[5,6,0.5],[7,null,0.25]]},{\"id\":null,\"box\":[0,0,0,0],\"score\":0.3,\"keypoints\":[]}]}\n"
        );
        assert_eq!(
            frame_line(None, 3, None, 640, 480),
            "{\"stream\":3,\"pts\":null,\"width\":640,\"height\":480,\"poses\":null}\n",
            "a frame that went on without inference"
        );
        let nobody = PoseMeta { people: vec![], ..meta.clone() };
        assert!(frame_line(Some(&nobody), 0, None, 0, 0).ends_with("\"poses\":[]}\n"), "inferred, nobody there");
        let smoothed = PoseMeta { people: vec![], raw_keypoints: Some(vec![]), ..meta };
        assert!(frame_line(Some(&smoothed), 0, None, 0, 0).ends_with(",\"smoothed\":true,\"poses\":[]}\n"));
    }
}
