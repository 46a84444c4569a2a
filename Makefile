# Shortcuts for the scripts in scripts/ (the scripts are the source of truth).
# `make demo ARGS="--store postgres --wire json"` passes options to scripts/demo.
.PHONY: demo check-demo test

demo:
	scripts/demo $(ARGS)

check-demo:
	scripts/check-demo

test:
	scripts/test
