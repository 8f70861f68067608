//! The plugin as users meet it: loaded by gst-launch-1.0 from the built library
//! (`cargo build --release` first; `make test` does). Python and C readers of PoseMeta are
//! tested with the embedding examples (tests/embed.rs).

mod common;

use std::process::Command;

use serde_json::Value;

fn with_plugin(cmd: &mut Command) -> &mut Command {
    cmd.env("GST_PLUGIN_PATH", common::plugin_dir()).env("GST_REGISTRY", std::env::temp_dir().join("posebatch-test-registry.bin"))
}

#[test]
fn gst_launch_records_two_cameras_to_ndjson() {
    common::init();
    let out = std::env::temp_dir().join(format!("posebatch-launch-{}", std::process::id()));
    std::fs::create_dir_all(&out).unwrap();
    let mut args = vec!["-q".to_string(), "posebatch".into(), "name=p".into(), format!("model={}", common::model().display())];
    for i in 0..2 {
        args.extend(
            common::decode_launch(&common::camera(i + 1), "video/x-raw,format=NV12")
                .split_whitespace()
                .map(String::from),
        );
        args.extend(["!".into(), format!("p.sink_{i}")]);
    }
    for i in 0..2 {
        args.extend([format!("p.src_{i}"), "!".into(), "posejson".into(), "!".into(), "filesink".into()]);
        args.push(format!("location={}", out.join(format!("cam{i}.ndjson")).display()));
    }
    let status = with_plugin(&mut Command::new("gst-launch-1.0")).args(&args).status().unwrap();
    assert!(status.success(), "gst-launch-1.0 {}", args.join(" "));
    for i in 0..2 {
        let text = std::fs::read_to_string(out.join(format!("cam{i}.ndjson"))).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 100, "one line per frame");
        let mut people = 0;
        for line in &lines {
            assert_eq!(line["stream"], i);
            assert_eq!((line["width"].as_i64(), line["height"].as_i64()), (Some(1088), Some(1920)));
            let poses = line["poses"].as_array().unwrap();
            people += poses.len();
            for p in poses {
                assert_eq!(p["keypoints"].as_array().unwrap().len(), 17);
                assert_eq!(p["box"].as_array().unwrap().len(), 4);
            }
        }
        assert!(people >= 150, "camera {i}: {people} people in 100 frames");
    }
    std::fs::remove_dir_all(&out).unwrap();
}
