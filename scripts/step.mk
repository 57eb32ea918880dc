# Shared by every step's Makefile, which sets BINARY and includes this file, so that
# the guide's words work as written:
#
#   cd step3_mount_namespace && make && sudo ./container
#
# `make` builds that step's binary in the one top-level CMake build (../build), makes
# ./container a symlink to it, and builds the default rootfs if there is none.
# `make clean` removes the link (the build itself stays; scripts/ manage it).

ifndef BINARY
$(error set BINARY before including step.mk)
endif

MC_TOP    := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BUILD_DIR ?= ../build
JOBS      ?= $(shell nproc)

.PHONY: all container rootfs clean

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

clean:
	rm -f container
