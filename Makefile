# The two quickstart commands: `make run` and `make test`.
# torch is pinned here and only here; override e.g. `make test TORCH_SPEC="torch==2.5.1"`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= test,recbole,text,llm,community,plot
# what `make run` needs beyond the core: the embedded ml-100k comes with the recbole wheel, whose
# files are all `make run` reads, so it is installed without its dependencies there (ray,
# tensorboard, plotly, ...: ~30 s of a cold install); `make setup` installs them in full
CORE_FILES_ONLY ?= recbole==1.2.1
RUN_ARGS ?= train lightgcn --dataset ml-100k
BIN := $(VENV)/bin

.PHONY: setup setup-core run test bench clean mutation gpu-check

# `make run` needs only the core packages; `make test` adds the extras (llama-cpp-python among
# them builds from source, minutes), so the first `make run` does not wait for them.
setup-core: $(VENV)/.installed-core

# --no-compile: pip byte-compiles every file it installs (torch's ~19 s of a ~30 s install here),
# while one run imports a fraction of them; `make setup` compiles the whole venv for the tests.
# pip is upgraded only where it predates editable installs from pyproject.toml (21.3).
$(VENV)/.installed-core: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import pip, sys; sys.exit(tuple(map(int, pip.__version__.split('.')[:2])) < (22, 0))" \
		|| $(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile "$(TORCH_SPEC)"
	echo "$(TORCH_SPEC)" > $(VENV)/torch-constraint.txt
	$(BIN)/python -m pip install -q --no-compile -c $(VENV)/torch-constraint.txt --no-deps "$(CORE_FILES_ONLY)"
	$(BIN)/python -m pip install -q --no-compile -c $(VENV)/torch-constraint.txt -e .
	touch $@

setup: $(VENV)/.installed

$(VENV)/.installed: $(VENV)/.installed-core
	$(BIN)/python -m pip install -q -c $(VENV)/torch-constraint.txt -e ".[$(EXTRAS)]"
	# byte-compile what setup-core left uncompiled (the tests start many interpreters, and
	# PYTHONDONTWRITEBYTECODE, set on some machines, keeps imports from caching it); a file
	# that does not compile (vendored Python 2 samples) is not an error here
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" > /dev/null || true
	touch $@

run: setup-core
	$(BIN)/graphcl $(RUN_ARGS)

test: setup
	$(BIN)/python -m pytest

# Mutation testing, outside CI: mutmut on a copy of the repository under /tmp/graphcl-mutation
# (one mutant at a time); report in experiments/results/mutation.md.
# e.g. `make mutation MUTATION_ARGS="--groups sparse,losses"`; groups in experiments/mutation/modules.toml.
MUTATION_ARGS ?=
mutation: setup
	@$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/python -m pip install -q -c $(VENV)/torch-constraint.txt -e ".[mutation]"
	$(BIN)/python experiments/mutation/run.py $(MUTATION_ARGS)

# On a machine with CUDA: the CUDA tests, torchrun (1 GPU) = single process, and GPU seconds per
# epoch of LightGCN, LightGCL, GRACE and SimGCL, in at most ~8 minutes; refuses without CUDA.
# e.g. `make gpu-check GPU_CHECK_ARGS="--data-root ../shared/data"`; writes experiments/results/gpu_check.md.
GPU_CHECK_ARGS ?=
gpu-check: setup
	$(BIN)/python experiments/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
