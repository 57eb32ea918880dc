# Shared by every step's Makefile, which sets BINARY and includes this file, so that
# the guide's words work as written:
#
#   cd step3_mount_namespace && make && sudo ./container
#
# `make` builds that step's binary in the one top-level CMake build (../build), makes
# ./container a symlink to it, and builds the default rootfs if there is none.
# `make clean` removes the link (the build itself stays; scripts/ manage it).
#
# The exercise (steps 1-6): `make exercise` writes a copy of the step's source with the code
# this step adds replaced by TODO comments (scripts/make-exercise.sh; your copy is never
# overwritten); write the TODOs, then `make check` builds your copy and runs this step's tests
# against it (as root: it asks sudo when you are not).

ifndef BINARY
$(error set BINARY before including step.mk)
endif

MC_TOP    := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BUILD_DIR ?= ../build
JOBS      ?= $(shell nproc)

STEP      := $(shell basename "$(CURDIR)" | sed -n 's/^step\([0-9]\)_.*/\1/p')
SOURCE    := $(BINARY).cpp
EXERCISE  := $(BINARY).exercise.cpp
# Root runs the tests directly; anyone else through sudo.
AS_ROOT   := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: all container rootfs clean exercise check

all: container rootfs

# Always ask CMake: it knows what is out of date. (env -u: the CMake build runs its
# own make, which should not inherit this one's flags and print "Entering directory".)
container:
	@test -f $(BUILD_DIR)/CMakeCache.txt || \
	  cmake -S $(MC_TOP) -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL cmake --build $(BUILD_DIR) --target $(BINARY) -j$(JOBS)
	ln -sfn $(BUILD_DIR)/bin/$(BINARY) container
	@echo "./container -> $(BUILD_DIR)/bin/$(BINARY); run it with: sudo ./container"

rootfs:
	@test -e $(MC_TOP)/rootfs/bin/sh || $(MC_TOP)/scripts/make-rootfs.sh
	@test -c $(MC_TOP)/rootfs/dev/null || \
	  echo "note: rootfs/dev has no device nodes yet; add them with:" \
	       "sudo $(MC_TOP)/scripts/make-rootfs.sh --devices-only"

exercise:
	@if [ -e $(EXERCISE) ]; then \
	  echo "$(EXERCISE) is already there (your work): remove it to start over"; exit 1; fi
	$(MC_TOP)/scripts/make-exercise.sh . $(EXERCISE)
	@# CMake adds the BINARY_exercise target when it sees the file.
	@test ! -f $(BUILD_DIR)/CMakeCache.txt || cmake $(BUILD_DIR) >/dev/null

check: rootfs
	@test -e $(EXERCISE) || { echo "no $(EXERCISE) yet: run make exercise first"; exit 1; }
	@test -f $(BUILD_DIR)/CMakeCache.txt || \
	  cmake -S $(MC_TOP) -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL cmake --build $(BUILD_DIR) -j$(JOBS) \
	  --target $(BINARY)_exercise steps_step$(STEP)_test steps_all_steps_test
	@# The tests run the step's binary; MC_EXERCISE_STEP makes them run yours instead.
	$(AS_ROOT) env MC_EXERCISE_STEP=$(STEP) ctest --test-dir $(BUILD_DIR) --output-on-failure \
	  -R '^steps\.(Step$(STEP)\.|.*EveryStep.*/step$(STEP)$$)'

clean:
	rm -f container
