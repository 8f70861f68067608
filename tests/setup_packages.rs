//! Set-up installs what the project uses: every GStreamer element named in the project's
//! pipelines, scripts, examples, tests and sources must come from a Debian package listed in
//! scripts/debian-packages.txt (the list scripts/setup.sh installs). An element that is not
//! installed at all fails too: on a fresh machine set-up has run before this test, so it is
//! missing from the list.
//!
//! Elements are found the way gst-launch reads a description: the word after a ` ! `, the
//! last word before one (skipping `name=value` properties), and the names given to
//! `ElementFactory::make` / `gst_element_factory_make`. Each element's plugin file is then
//! looked up with `dpkg -S`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use gst::prelude::*;

/// Words before a `!` that make it a shell negation rather than a link.
const SHELL_KEYWORDS: [&str; 7] = ["if", "elif", "while", "until", "then", "do", "else"];

/// Elements this project provides itself.
const OWN_ELEMENTS: [&str; 3] = ["posebatch", "posejson", "poseoverlay"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Characters that wrap a word in source text but are not part of it; a shell assignment's
/// name (`LIMIT="identity` is `identity`).
fn strip_wrapping(token: &str) -> &str {
    let token = token.rsplit_once("=\"").map_or(token, |(_, value)| value);
    token.trim_matches(|c: char| matches!(c, '"' | '\'' | '`' | '\\' | '(' | ')' | ',' | ';' | '+'))
}

/// A word that can name an element (not a property, caps, a pad reference or a variable).
fn element_word(token: &str) -> Option<&str> {
    let word = strip_wrapping(token);
    let mut chars = word.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    (starts_well && rest_ok).then_some(word)
}

/// `name=value`, as an element's property in a description.
fn is_property(token: &str) -> bool {
    token.split_once('=').is_some_and(|(name, _)| element_word(name) == Some(name))
}

/// Element names in a text holding gst-launch descriptions.
fn elements_in(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let tokens: Vec<&str> = text.split_whitespace().collect();
    for (i, token) in tokens.iter().enumerate() {
        if strip_wrapping(token) != "!" {
            continue;
        }
        // The element before it: the nearest word that is not a property, a quote or a
        // variable (`$pads`, `{limit}`); a shell assignment (`LIMIT="identity`) holds one.
        let before = tokens[..i].iter().rev().map(|t| t.trim_matches(['"', '\'', '\\'])).find(|t| {
            !t.is_empty() && (t.contains("=\"") || (!is_property(t) && !t.starts_with(['$', '{'])))
        });
        // A shell negation (`if ! command`), not a link.
        if before.is_some_and(|b| SHELL_KEYWORDS.contains(&b)) {
            continue;
        }
        if let Some(word) = before.and_then(element_word) {
            found.insert(word.to_string());
        }
        // The element after the link: the next word that is not a line continuation.
        let next = tokens[i + 1..].iter().find(|t| !matches!(**t, "\\" | "\"" | "+"));
        if let Some(word) = next.and_then(|next| element_word(next)) {
            found.insert(word.to_string());
        }
    }
    for call in ["ElementFactory::make(\"", "ElementFactory.make(\"", "gst_element_factory_make (\""] {
        for (at, _) in text.match_indices(call) {
            let rest = &text[at + call.len()..];
            if let Some(end) = rest.find('"') {
                found.insert(rest[..end].to_string());
            }
        }
    }
    found
}

/// The project's files that may name elements.
fn project_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.ends_with("tests/setup_packages.rs") {
                // This checker's own sample pipeline is not a use.
            } else if path.extension().is_some_and(|e| ["rs", "sh", "py", "c"].contains(&e.to_str().unwrap_or(""))) {
                out.push(path);
            }
        }
    }
    let mut files = vec![repo().join("Makefile")];
    for dir in ["src", "examples", "tests", "pipelines", "scripts"] {
        walk(&repo().join(dir), &mut files);
    }
    files
}

/// The packages set-up installs.
fn listed_packages() -> BTreeSet<String> {
    let list = std::fs::read_to_string(repo().join("scripts/debian-packages.txt")).expect("scripts/debian-packages.txt");
    list.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// The Debian package that owns `file`, per dpkg.
fn owning_package(file: &str) -> Result<String, String> {
    let out = Command::new("dpkg").args(["-S", file]).output().map_err(|e| format!("dpkg: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "gstreamer1.0-plugins-bad:amd64: /usr/lib/.../libgstvideoparsersbad.so"
    let package = text.split(": ").next().unwrap_or("").split(':').next().unwrap_or("").trim();
    if out.status.success() && !package.is_empty() {
        Ok(package.to_string())
    } else {
        Err(format!("no Debian package owns {file}"))
    }
}

#[test]
fn the_parser_finds_elements_the_way_gst_launch_reads_them() {
    let text = r#"gst-launch-1.0 -q posebatch name=p \
        filesrc location="$MEDIA/cam01.mp4" ! qtdemux ! h264parse ! avdec_h264 ! $LIMIT
        videoconvert ! video/x-raw,format=RGBx ! p.sink_0 \
        compositor name=mix $pads ! identity eos-after=$FRAMES {limit} ! fakesink
        LIMIT="identity eos-after=$FRAMES !" filesrc location="plain.mp4" ! decodebin
        p.src_0 ! poseoverlay line-width=6 ! "{tail}" ! tee name=t t. ! queue
        if [ ! -e "$x" ]; then echo; fi
        if ! ls "$x"/*.whl; then local decode="filesrc location=$v ! qtdemux"; fi
        let pipeline = gst::parse::launch(&format!("{} ! appsink", x));
        gst::ElementFactory::make("fakesink")"#;
    let found = elements_in(text);
    let expected = ["appsink", "avdec_h264", "compositor", "decodebin", "fakesink", "filesrc", "h264parse", "identity", "poseoverlay", "qtdemux", "queue", "tee", "videoconvert"];
    assert_eq!(found, expected.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());
}

#[test]
fn every_element_used_comes_from_a_package_setup_installs() {
    common::init();
    let listed = listed_packages();
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in project_sources() {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let name = file.strip_prefix(repo()).unwrap_or(&file).display().to_string();
        for element in elements_in(&text) {
            used.entry(element).or_default().insert(name.clone());
        }
    }
    for own in OWN_ELEMENTS {
        used.remove(own);
    }
    // The parser reads the real sources: the camera chain of the tests is among them.
    assert!(used.contains_key("h264parse") && used.contains_key("avdec_h264"), "elements found: {:?}", used.keys());

    let mut problems = Vec::new();
    for (element, files) in &used {
        let files: Vec<&str> = files.iter().map(String::as_str).collect();
        let Some(factory) = gst::ElementFactory::find(element) else {
            problems.push(format!("{element} (used in {}): no such element here; add the Debian package that provides it to scripts/debian-packages.txt", files.join(", ")));
            continue;
        };
        let plugin = factory.plugin().and_then(|p| p.filename());
        let Some(file) = plugin else {
            problems.push(format!("{element} (used in {}): its plugin has no file", files.join(", ")));
            continue;
        };
        // dpkg knows files by their real path (/usr/lib, not the merged /lib).
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        match owning_package(&file.display().to_string()) {
            Ok(package) if listed.contains(&package) => println!("{element:<16} {package}"),
            Ok(package) => problems.push(format!(
                "{element} (used in {}) comes from {package}, which scripts/debian-packages.txt does not list",
                files.join(", ")
            )),
            Err(why) => problems.push(format!("{element}: {why}")),
        }
    }
    assert!(problems.is_empty(), "set-up misses what the project uses:\n{}", problems.join("\n"));
}
