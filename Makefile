# bandbridge — `make demo` runs the main job on the bundled sample, `make test` runs the tests.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BB     := $(VENV)/bin/bandbridge
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
EXTRAS ?= dev,onnx,report,demo

.PHONY: install test demo clean

install: $(STAMP)

# torch==2.13.0 first: it is the local CPU build; an open `torch` requirement installed first
# would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[$(EXTRAS)]"
	rm -f $(VENV)/.installed-*
	touch $@

test: install
	$(PY) -m pytest -q

# A short real training run on the bundled NAIP sample (train on 2009/2012, validate on 2018),
# printing validation L1/PSNR/SSIM before and after.
demo: install
	$(BB) train --preset rgb2nir-wgangp-cpu --data data/sample --runs runs/demo \
	  --set train.max_epochs=6 --set data.samples_per_epoch=128 --set data.batch_size=4

clean:
	rm -rf runs/demo .pytest_cache
