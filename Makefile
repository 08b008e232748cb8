# Two entry points for a fresh machine: `make demo` (train the default model, then sample)
# and `make test` (the test suite). Both create .venv and install the checkout into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN ?= runs/tiny

.PHONY: demo test check-wheel gpu-check bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,plot,fast]'
	touch $@

# A second `make demo` resumes the finished run (nothing to do) instead of refusing to
# overwrite it.
demo: $(VENV)/.installed
	$(BIN)/minigrad train --preset tiny --out $(RUN) $$(test -f $(RUN)/last.npz && echo --resume)
	$(BIN)/minigrad generate --checkpoint $(RUN) --prompt "ROMEO:" --max-new-tokens 300 --seed 1

test: $(VENV)/.installed
	$(BIN)/python -m pytest -q

# The packaging check that .ci/run runs after the tests: build the sdist and wheel, install the
# wheel into a fresh venv outside the checkout and train from it there (about a minute).
check-wheel: $(VENV)/.installed
	$(BIN)/python .ci/check-wheel

# The GPU check (benchmarks/gpu_check/): the cuda tests, GPU benchmarks against PyTorch and a
# short training run, at most 8 minutes, everything under $OUT (else runs/gpu-check). Plain
# python3 from PATH, no venv: the GPU machine runs the checkout as it is. Rehearsal without a
# GPU: make gpu-check GPU_CHECK_ARGS="--standin --quick"
gpu-check:
	python3 -m benchmarks.gpu_check $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
