# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PLUGINS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
DEMO_OUT ?= out/demo

.PHONY: venv install dev test demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel "Cython>=3.0" "numpy>=1.26"

venv: $(BIN)/python

# Runtime install: the core (kernels compiled in place) with the window (the [gui] extra: PyQt5), and the
# first-party plugins.
install: venv
	$(BIN)/pip install -q --no-build-isolation -e ".[gui]" $(addprefix -e ,$(PLUGINS))

# Developer install: adds the test tools, the [train] extra (torch, CPU wheel) and the [bench] peers.
dev: venv
	$(BIN)/pip install -q --no-build-isolation -e ".[gui,dev,train,bench]" $(addprefix -e ,$(PLUGINS))

test: dev
	$(BIN)/ruff check xnorvision tests plugins scripts
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q tests $(PLUGINS)

# The faces pipeline on the bundled demo video: a window when there is a display, else annotated video + JSONL.
DEMO_VIDEO := assets/demo_faces.mp4
demo: install
	$(BIN)/xnorvision doctor
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(BIN)/xnorvision run --source $(DEMO_VIDEO) --plugin faces; \
	else \
		mkdir -p $(DEMO_OUT) && \
		$(BIN)/xnorvision run --source $(DEMO_VIDEO) --plugin faces --headless \
			--save $(DEMO_OUT)/faces.mp4 --save-json $(DEMO_OUT)/faces.jsonl && \
		echo "no display: annotated video in $(DEMO_OUT)/faces.mp4, detections in $(DEMO_OUT)/faces.jsonl"; \
	fi

clean:
	rm -rf build $(VENV) xnorvision/*.so xnorvision/_*.c

# aarch64 build and tests under qemu in a cached Debian root (needs root: debootstrap, chroot). README "ARM".
.PHONY: test-arm64
test-arm64: install
	XNV_HOST_PYTHON=$(abspath $(BIN))/python scripts/arm64/test.sh

# Every results table in README.md, docs/ and the model cards: run the commands (idle machine, 10 to
# 20 minutes), keep their JSON in docs/results/, rebuild the tables from it. DATA: ../shared/data layout.
DATA ?= ../shared/data
RESULTS := docs/results
YUNET = $(DATA)/teachers/face_detection_yunet_2026may.onnx
.PHONY: measure measure-runtime measure-faces tables
measure: measure-runtime measure-faces

# the kernels and the reference networks against their peers
measure-runtime: dev
	mkdir -p $(RESULTS)
	$(BIN)/xnorvision bench kernels --json $(RESULTS)/kernels.json
	for net in resnet18 vgg-small; do for t in 1 2; do \
		$(BIN)/xnorvision bench model --reference $$net --threads $$t --seconds 6 --float-storage int8 --profile \
			--json $(RESULTS)/model-$$net-t$$t.json || exit 1; \
	done; done
	$(MAKE) tables

# the faces plugin: its proposal net against the peers, the detector against YuNet, the pipeline's profile
measure-faces: dev
	mkdir -p $(RESULTS)
	for t in 1 2; do \
		$(BIN)/xnorvision bench model faces-proposal --height 320 --width 416 --threads $$t --seconds 6 --profile \
			--json $(RESULTS)/model-faces-proposal-t$$t.json || exit 1; \
	done
	$(BIN)/xnorvision eval faces --data $(DATA)/faces/wider/val.txt --root $(DATA)/faces --threads 2 \
		--sweep long_side=320,416,480 --baseline yunet@320:$(YUNET) --baseline yunet@416:$(YUNET) \
		--baseline yunet@480:$(YUNET) --baseline yunet:$(YUNET) --corrupt gray,jpeg30,blur \
		--json $(RESULTS)/faces-val.json --plot plugins/xnorvision-faces/speed_accuracy_val.png \
		--pr-plot plugins/xnorvision-faces/precision_recall_val.png
	$(BIN)/xnorvision eval faces --data $(DATA)/faces/wider/train.txt --root $(DATA)/faces --split tune \
		--threads 2 --sweep long_side=320,416 --profile --json $(RESULTS)/faces-profile-tune.json
	$(BIN)/xnorvision eval faces --data $(DATA)/faces/wider/train.txt --root $(DATA)/faces --split tune \
		--threads 2 --sweep proposals=16,24,32,48,64 --baseline yunet@416:$(YUNET) \
		--json $(RESULTS)/faces-proposals-tune.json
	$(MAKE) tables

tables:
	$(BIN)/xnorvision tables README.md docs/*.md plugins/*/MODEL_CARD.md
