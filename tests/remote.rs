//! Inference on a real inference server over the Open Inference Protocol (KServe V2 gRPC):
//! MLServer with scripts/remote/posebatch_runtime.py, installed by `make setup`, started here
//! on loopback. Keypoints equal local inference; two processes share one server; a server
//! killed and restarted mid-stream only costs poses meanwhile when a timeout is set, and
//! costs nothing but time for a file without one; a non-pose model is refused at READY; a
//! slow server is waited for by files and hits the deadline of live streams and of a set
//! timeout; NVIDIA's tritonclient sends the same request.
//!
//! The server shares this machine's cores with the tests beside it, so no test relies on it
//! answering fast: the ones that let frames go on without poses give it seconds.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use gst::prelude::*;
use gstposebatch::meta::PoseMeta;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test server's virtualenv (MLServer, ONNX Runtime, onnx, tritonclient).
fn venv_bin(tool: &str) -> PathBuf {
    let bin = gstposebatch::install_paths::data_dir().join("remote-venv/bin").join(tool);
    assert!(bin.is_file(), "{} missing: run `make setup`", bin.display());
    bin
}

fn python(script: &str, args: &[&str]) -> std::process::Output {
    Command::new(venv_bin("python")).arg(repo().join("scripts/remote").join(script)).args(args).output().unwrap()
}

/// The model as served: normalisation inside, UINT8 frames in (built once per run).
fn served_model() -> &'static Path {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| {
        let out = std::env::temp_dir().join(format!("posebatch-served-{}.onnx", std::process::id()));
        let done = python("make_served_model.py", &[common::model().to_str().unwrap(), out.to_str().unwrap()]);
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        out
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An MLServer on loopback serving `models` (name=file.onnx[,delay_ms=N]); stopped on drop.
struct Server {
    child: Option<Child>,
    repository: PathBuf,
    port: u16,
    http_port: u16,
    ready_model: String,
    capture: Option<PathBuf>,
}

impl Server {
    fn start(models: &[String]) -> Server {
        let repository = std::env::temp_dir().join(format!("posebatch-repository-{}-{}", std::process::id(), free_port()));
        let mut args = vec![repository.to_str().unwrap().to_string()];
        args.extend(models.iter().cloned());
        let done = python("make_repository.py", &args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        let ready_model = models[0].split('=').next().unwrap().to_string();
        let mut server = Server { child: None, repository, port: free_port(), http_port: free_port(), ready_model, capture: None };
        server.run();
        server
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same ports, and waits until the first model is ready.
    fn run(&mut self) {
        let mut cmd = Command::new(venv_bin("mlserver"));
        cmd.arg("start")
            .arg(&self.repository)
            .env("MLSERVER_GRPC_PORT", self.port.to_string())
            .env("MLSERVER_HTTP_PORT", self.http_port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(capture) = &self.capture {
            cmd.env("POSEBATCH_CAPTURE", capture);
        }
        self.child = Some(cmd.spawn().unwrap());
        let ready = python("wait_ready.py", &[&self.port.to_string(), &self.ready_model, "90"]);
        assert!(ready.status.success(), "the server on port {} did not get ready", self.port);
    }

    /// Kills the server at once, as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.repository);
    }
}

fn pose_server() -> Server {
    Server::start(&[format!("yolo11n-pose={}", served_model().display())])
}

fn frames_of_four_cameras() -> Vec<Vec<gst::Sample>> {
    common::init();
    (1..=4).map(|cam| common::decode_frames(&common::camera(cam), "NV12", &[0, 30, 60, 90])).collect()
}

#[test]
fn keypoints_through_the_server_equal_local_inference() {
    let server = Server::start(&[
        format!("yolo11n-pose={}", served_model().display()),
        format!("yolo11n-pose-fp32={}", common::model().display()),
    ]);
    let frames = frames_of_four_cameras();
    let (local, _) = common::run_posebatch_on(&frames, 4, "cpu");
    for model in ["yolo11n-pose", "yolo11n-pose-fp32"] {
        let (remote, stats) =
            common::run_posebatch_with(&frames, 4, &[("inference-server", &server.address()), ("remote-model", model)]);
        assert_eq!(stats.get::<&str>("provider").unwrap(), "remote");
        let mut people = 0;
        for (l, r) in local.iter().flatten().zip(remote.iter().flatten()) {
            assert_eq!(r.people.len(), l.people.len(), "{model}: the same people");
            let (matched, _, max) = common::compare_people(&l.people, &r.people);
            assert_eq!(matched, l.people.len());
            assert!(max <= 0.1, "{model}: keypoints differ from local inference by up to {max} px");
            people += matched;
        }
        assert!(people >= 30, "{model}: {people} people");
    }
}

/// A gst-launch-1.0 process with four cameras into posebatch on `server`, poses to files.
/// Two of them and the server share two CPU cores here: a generous timeout (10 s).
fn launch_four_cameras(server: &str, out: &Path) -> Child {
    let mut args = vec!["-q".to_string(), "posebatch".into(), "name=p".into(), format!("inference-server={server}")];
    args.push("remote-timeout=10000000000".into());
    for i in 0..4 {
        args.extend(common::decode_launch(&common::camera(i + 1), "video/x-raw,format=NV12").split_whitespace().map(String::from));
        args.extend(["!".into(), format!("p.sink_{i}")]);
        args.extend([format!("p.src_{i}"), "!".into(), "posejson".into(), "!".into(), "filesink".into()]);
        args.push(format!("location={}", out.join(format!("cam{i}.ndjson")).display()));
    }
    Command::new("gst-launch-1.0")
        .args(&args)
        .env("GST_PLUGIN_PATH", common::plugin_dir())
        .env("GST_REGISTRY", std::env::temp_dir().join("posebatch-test-registry.bin"))
        .spawn()
        .unwrap()
}

#[test]
fn two_processes_with_four_streams_each_share_one_server() {
    common::init();
    let server = pose_server();
    let dirs: Vec<PathBuf> = (0..2)
        .map(|i| {
            let d = std::env::temp_dir().join(format!("posebatch-remote-shared-{}-{i}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            d
        })
        .collect();
    let mut processes: Vec<Child> = dirs.iter().map(|d| launch_four_cameras(&server.address(), d)).collect();
    for p in &mut processes {
        assert!(p.wait().unwrap().success(), "gst-launch-1.0 with a shared server");
    }
    for d in &dirs {
        for i in 0..4 {
            let text = std::fs::read_to_string(d.join(format!("cam{i}.ndjson"))).unwrap();
            let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(lines.len(), 100, "every frame written");
            let with_people = lines.iter().filter(|l| l["poses"].as_array().is_some_and(|p| !p.is_empty())).count();
            assert!(with_people >= 95, "{}: poses in {with_people} of 100 frames", d.display());
        }
        std::fs::remove_dir_all(d).unwrap();
    }
}

#[test]
fn a_server_killed_and_restarted_mid_stream_costs_poses_meanwhile_and_nothing_else() {
    common::init();
    let mut server = pose_server();
    let samples = common::decode_frames(&common::camera(1), "NV12", &(0..20).collect::<Vec<_>>());
    let pb = common::posebatch();
    pb.set_property("inference-server", server.address());
    // Frames go on without poses after 5 s: a killed server refuses at once, and a live one
    // answers well within that even on a busy machine.
    pb.set_property("remote-timeout", 5_000_000_000u64);
    pb.set_property_from_str("overflow", "block");
    let (pipeline, src, sink) = common::one_stream_through(&pb, &samples[0].caps().unwrap().to_owned());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    // Frames at 10 fps for 12 s; the server is killed at 2 s and started again at 4 s.
    let (mut with_poses, mut without) = ([0usize; 3], [0usize; 3]);
    let started = Instant::now();
    let mut killed = false;
    let mut restarted = false;
    let mut i = 0u64;
    while started.elapsed() < Duration::from_secs(12) {
        if !killed && started.elapsed() > Duration::from_secs(2) {
            server.kill();
            killed = true;
        }
        if killed && !restarted && started.elapsed() > Duration::from_secs(4) {
            server.run(); // returns once the model is ready again
            restarted = true;
        }
        let mut buffer = samples[(i % 20) as usize].buffer_owned().unwrap();
        buffer.make_mut().set_pts(gst::ClockTime::from_mseconds(100 * i));
        src.push_buffer(buffer).unwrap();
        i += 1;
        let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(10)).expect("frames keep flowing");
        let phase = usize::from(killed) + usize::from(restarted);
        if PoseMeta::from_buffer(sample.buffer().unwrap()).is_some() {
            with_poses[phase] += 1;
        } else {
            without[phase] += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    src.end_of_stream().unwrap();
    let mut warnings = Vec::new();
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(10)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("no pipeline error: {}", e.error()),
            gst::MessageView::Warning(w) => warnings.push(w.error().to_string()),
            _ => {}
        }
    }
    let stats = pb.property::<gst::Structure>("stats").get::<gst::Structure>("stream-0").unwrap();
    pipeline.set_state(gst::State::Null).unwrap();
    println!("before the kill {with_poses:?} with poses, {without:?} without; warnings {warnings:?}");
    assert!(with_poses[0] > 5 && without[0] == 0, "poses while the server runs");
    assert!(without[1] > 5, "frames go on without poses while it is gone");
    assert!(with_poses[2] > 5, "poses come back by themselves");
    let lost: Vec<&String> = warnings.iter().filter(|w| w.contains("inference server unavailable")).collect();
    assert_eq!(lost.len(), 1, "one warning, not one per frame: {warnings:?}");
    assert!(lost[0].contains("without poses"), "{}", lost[0]);
    let count = |f: &str| stats.get::<u64>(f).unwrap();
    assert_eq!(count("frames-in"), i);
    assert_eq!(count("frames-in"), count("frames-out") + count("dropped") + count("late"), "{stats}");
    assert_eq!(count("passed") as usize, without.iter().sum::<usize>(), "frames without poses are counted passed");
}

/// The element error `pb` posts when it fails to go to READY.
fn error_at_ready(pb: &gst::Element) -> String {
    let bus = gst::Bus::new();
    pb.set_bus(Some(&bus));
    assert!(pb.set_state(gst::State::Ready).is_err());
    let error = std::iter::from_fn(|| bus.pop()).find_map(|m| match m.view() {
        gst::MessageView::Error(e) => Some(e.error().to_string()),
        _ => None,
    });
    error.expect("an element error")
}

#[test]
fn a_model_that_is_not_a_pose_model_is_refused_at_ready() {
    common::init();
    let identity = repo().join("tests/data/identity.onnx");
    let server = Server::start(&[format!("identity={}", identity.display())]);
    let pb = gst::ElementFactory::make("posebatch")
        .property("inference-server", server.address())
        .property("remote-model", "identity")
        .build()
        .unwrap();
    let error = error_at_ready(&pb);
    assert!(error.contains("not a YOLO pose model") && error.contains(&server.address()), "{error}");

    // And a server that is not there at all: an error naming the address.
    let nowhere = format!("127.0.0.1:{}", free_port());
    let pb = gst::ElementFactory::make("posebatch").property("inference-server", &nowhere).build().unwrap();
    let error = error_at_ready(&pb);
    assert!(error.contains(&nowhere) && error.contains("unreachable"), "{error}");
}

/// A server that answers every request 2 s late (the model as served, `delay_ms`).
fn slow_server() -> Server {
    Server::start(&[format!("slow={},delay_ms=2000", served_model().display())])
}

#[test]
fn files_wait_for_a_slow_server_and_every_frame_gets_its_poses() {
    let server = slow_server();
    let frames: Vec<Vec<gst::Sample>> = frames_of_four_cameras().into_iter().map(|f| f[..2].to_vec()).collect();
    let (local, _) = common::run_posebatch_on(&frames, 4, "cpu");
    // No remote-timeout, files (not live): the element waits for each answer.
    let (remote, stats) = common::run_posebatch_with(&frames, 4, &[("inference-server", &server.address()), ("remote-model", "slow")]);
    assert_eq!(stats.get::<u64>("passed").unwrap(), 0, "nothing went on without poses");
    for (l, r) in local.iter().flatten().zip(remote.iter().flatten()) {
        assert_eq!(r.people.len(), l.people.len(), "the same people");
        let (matched, _, max) = common::compare_people(&l.people, &r.people);
        assert_eq!(matched, l.people.len());
        assert!(max <= 0.1, "keypoints differ from local inference by up to {max} px");
    }
    assert!(remote.iter().flatten().all(|m| m.inference_ns >= 2_000_000_000), "each batch waited for the 2 s answer");
}

#[test]
fn a_file_waits_while_its_server_is_away_and_loses_no_poses() {
    common::init();
    let mut server = pose_server();
    let samples = common::decode_frames(&common::camera(2), "NV12", &(0..12).collect::<Vec<_>>());
    let pb = common::posebatch();
    pb.set_property("inference-server", server.address());
    pb.set_property_from_str("overflow", "block");
    let (pipeline, src, sink) = common::one_stream_through(&pb, &samples[0].caps().unwrap().to_owned());
    let bus = pipeline.bus().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut with_poses = 0;
    for (i, sample) in samples.iter().enumerate() {
        if i == 4 {
            server.kill();
        }
        src.push_buffer(sample.buffer_owned().unwrap()).unwrap();
        if i == 4 {
            // The frame waits in the element: nothing comes out while the server is away.
            assert!(sink.try_pull_sample(gst::ClockTime::from_seconds(2)).is_none(), "a frame left without its poses");
            server.run();
        }
        let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(60)).expect("frames flow again");
        with_poses += usize::from(PoseMeta::from_buffer(sample.buffer().unwrap()).is_some());
    }
    src.end_of_stream().unwrap();
    let mut messages = Vec::new();
    while let Some(msg) = bus.timed_pop(gst::ClockTime::from_seconds(10)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("no pipeline error: {}", e.error()),
            gst::MessageView::Warning(w) => messages.push(format!("warning: {}", w.error())),
            gst::MessageView::Info(i) => messages.push(format!("info: {}", i.error())),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    assert_eq!(with_poses, samples.len(), "every frame has its poses");
    let waits = messages.iter().filter(|m| m.starts_with("warning: inference server unavailable, batches wait")).count();
    let back = messages.iter().filter(|m| m.starts_with("info: inference server back")).count();
    assert_eq!((waits, back), (1, 1), "one warning, one info: {messages:?}");
}

#[test]
fn a_slow_server_hits_a_set_timeout_and_the_latency_budget_of_live_streams() {
    common::init();
    let server = slow_server();
    let sample = common::decode_frames(&common::camera(1), "NV12", &[0]).remove(0);
    // A file with remote-timeout set: the element waits 300 ms, then the frame goes on.
    let pb = common::posebatch();
    pb.set_property("inference-server", server.address());
    pb.set_property("remote-model", "slow");
    pb.set_property("remote-timeout", 300_000_000u64);
    pb.set_property_from_str("overflow", "block");
    let mut h = gst_check::Harness::with_element(&pb, Some("sink_0"), Some("src_0"));
    h.set_src_caps(sample.caps().unwrap().to_owned());
    h.play();
    let started = Instant::now();
    for _ in 0..3 {
        h.push(sample.buffer_owned().unwrap()).unwrap();
        let out = h.pull().unwrap();
        assert!(PoseMeta::from_buffer(&out).is_none(), "no poses from a late server");
    }
    assert!(started.elapsed() < Duration::from_secs(4), "each batch waited the timeout, not the server: {:?}", started.elapsed());
    let stats = pb.property::<gst::Structure>("stats").get::<gst::Structure>("stream-0").unwrap();
    assert_eq!(stats.get::<u64>("passed").unwrap(), 3);
    drop(h);

    // A live stream with a 400 ms budget and no remote-timeout: the budget is the limit.
    let pb = common::posebatch();
    pb.set_property("inference-server", server.address());
    pb.set_property("remote-model", "slow");
    pb.set_property("latency-budget", 400_000_000u64);
    let pipeline = gst::Pipeline::new();
    let src = gst_app::AppSrc::builder()
        .caps(&sample.caps().unwrap().to_owned())
        .format(gst::Format::Time)
        .is_live(true)
        .do_timestamp(true)
        .build();
    let sink = gst_app::AppSink::builder().sync(false).build();
    pipeline.add_many([src.upcast_ref::<gst::Element>(), &pb, sink.upcast_ref()]).unwrap();
    src.link(&pb).unwrap();
    pb.link(&sink).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let started = Instant::now();
    for _ in 0..3 {
        let mut buffer = sample.buffer_owned().unwrap();
        buffer.make_mut().set_pts(gst::ClockTime::NONE);
        src.push_buffer(buffer).unwrap();
        let out = sink.try_pull_sample(gst::ClockTime::from_seconds(10)).expect("live frames flow");
        assert!(PoseMeta::from_buffer(out.buffer().unwrap()).is_none(), "no poses from a server later than the budget");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "live frames kept to the budget: {:?}", started.elapsed());
    pipeline.set_state(gst::State::Null).unwrap();
}

#[test]
fn our_requests_are_what_nvidias_client_sends() {
    common::init();
    let capture = std::env::temp_dir().join(format!("posebatch-capture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&capture);
    let mut server = Server::start(&[format!("yolo11n-pose={}", served_model().display())]);
    server.kill();
    server.capture = Some(capture.clone());
    server.run();
    // One frame from posebatch (besides its warm-up), then the same tensor from tritonclient.
    let frames: Vec<Vec<gst::Sample>> = vec![common::decode_frames(&common::camera(1), "NV12", &[0])];
    common::run_posebatch_with(&frames, 1, &[("inference-server", &server.address())]);
    let mut requests: Vec<PathBuf> = std::fs::read_dir(&capture).unwrap().map(|e| e.unwrap().path()).collect();
    requests.sort();
    let ours = requests.iter().rfind(|p| p.extension().is_some_and(|e| e == "npy")).unwrap().clone();
    let triton = python("triton_infer.py", &[&server.port.to_string(), "yolo11n-pose", "images", ours.to_str().unwrap()]);
    assert!(triton.status.success(), "{}", String::from_utf8_lossy(&triton.stderr));
    let mut requests: Vec<PathBuf> = std::fs::read_dir(&capture).unwrap().map(|e| e.unwrap().path()).collect();
    requests.sort();
    let jsons: Vec<serde_json::Value> = requests
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    let (ours_described, theirs_described) = (&jsons[jsons.len() - 2], &jsons[jsons.len() - 1]);
    assert_eq!(ours_described, theirs_described, "the same model, input name, datatype, shape and outputs");
    assert_eq!(ours_described["inputs"][0]["datatype"], "UINT8");
    let npys: Vec<&PathBuf> = requests.iter().filter(|p| p.extension().is_some_and(|e| e == "npy")).collect();
    assert_eq!(std::fs::read(npys[npys.len() - 2]).unwrap(), std::fs::read(npys[npys.len() - 1]).unwrap(), "the same tensor");
    std::fs::remove_dir_all(&capture).unwrap();
}
