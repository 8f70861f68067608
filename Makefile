# posebatch: the two commands are `make demo` and `make test`; both install what is missing.
# POSEBATCH_CACHE=<folder with models/ and media/> reuses local copies instead of the registries.

# GStreamer's per-user plugin folder (it follows XDG_DATA_HOME, as GStreamer does).
PLUGIN_DIR ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/gstreamer-1.0/plugins
DATA_DIR   := $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/posebatch
# Where cargo builds: CARGO_TARGET_DIR, a cargo config's build.target-dir, else target/. Passed
# on (absolute) to the scripts, which look for the build there.
TARGET_DIR := $(shell cargo metadata --format-version 1 --no-deps --offline 2>/dev/null \
                | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
export CARGO_TARGET_DIR := $(or $(TARGET_DIR),$(abspath $(or $(CARGO_TARGET_DIR),target)))
RELEASE    := $(CARGO_TARGET_DIR)/release
LIB        := $(RELEASE)/libgstposebatch.so
PYTHON_VENV := .venv

.PHONY: all setup build install demo mosaic embed-c test bench soak compare variants bundle venv reference doctor gpu-check clean

all: build

## Installs system packages, ONNX Runtime, the default model and the four videos (if missing).
## GPU=1: the GPU ONNX Runtime and the CUDA/cuDNN libraries too.
setup:
	@bash scripts/setup.sh $(if $(GPU),--gpu)

build: setup
	cargo build --release --lib --examples

## Installs the plugin for this user so plain gst-launch-1.0 finds it.
install: build
	install -d $(PLUGIN_DIR)
	install -m 644 $(LIB) $(PLUGIN_DIR)/
	@echo "installed $(PLUGIN_DIR)/libgstposebatch.so"

## The four-camera demo on real video: poses into out/cam0N.ndjson, a summary on screen,
## then the mosaic (out/demo.mp4, out/demo.png).
demo: install
	$(RELEASE)/examples/demo --out out
	bash pipelines/mosaic.sh

## The four cameras with their skeletons drawn, tiled 2x2: out/demo.mp4 and out/demo.png.
mosaic: install
	bash pipelines/mosaic.sh

## The C embedding example (GStreamer only): $(CARGO_TARGET_DIR)/embed-c.
embed-c: setup
	mkdir -p $(CARGO_TARGET_DIR)
	cc -O2 -Wall -o $(CARGO_TARGET_DIR)/embed-c examples/embed.c $$(pkg-config --cflags --libs gstreamer-1.0 gstreamer-app-1.0)

## Every test: unit, property, element, accuracy, bad input, gst-launch and Python.
test: setup
	cargo build --release --lib --examples
	cargo test --release -- --test-threads=2

## The benchmark with its defaults: four live synthetic 1080p streams.
bench: build
	$(RELEASE)/examples/benchmark --synthetic $(BENCH_ARGS)

## An hour (SOAK_MINUTES) of four live camera streams with pad churn and pauses: out/soak/
## soak.csv and soak.png; fails on RSS growth, rising latency or a bus error.
soak: build
	bash scripts/soak.sh

## Each way to spend less per frame (input-shape, precision, input size) on the cameras and
## on synthetic 1080p: frames/s, speed-up and accuracy against fp32 square.
variants: build venv
	$(PYTHON_VENV)/bin/python scripts/variants.py

## A relocatable folder + tarball for an offline GPU host (BUNDLE_ORT=cpu for a CPU one).
bundle: build
	bash scripts/bundle.sh

## A Python virtualenv with ONNX Runtime, numpy and OpenCV (for compare and reference).
venv:
	test -x $(PYTHON_VENV)/bin/python || /usr/bin/python3 -m venv --system-site-packages $(PYTHON_VENV)
	$(PYTHON_VENV)/bin/pip install -q onnxruntime==1.31.1 numpy opencv-python-headless onnx

## The usual Python way and posebatch on the same four videos, and the ratios.
compare: build venv
	bash scripts/compare.sh

## Regenerates tests/data/reference_poses.json with the independent Python reference.
reference: setup venv
	$(PYTHON_VENV)/bin/python scripts/reference_poses.py $(DATA_DIR)/media/pose2sim-multiperson \
		$(DATA_DIR)/models/yolo11n-pose.onnx tests/data/reference_poses.json
	$(PYTHON_VENV)/bin/python scripts/make_test_models.py tests/data/identity.onnx

## One line per prerequisite, ok or missing, with where it looked (builds nothing).
doctor:
	@bash scripts/doctor.sh

## Packs what a GPU host needs for the GPU check into parts under 60 MB (scripts/gpu-check.sh).
gpu-check: build
	bash scripts/gpu-check.sh pack

clean:
	cargo clean
	rm -rf out
